"""Registry actions: registering people and places, tagging, finding, and unmasking personal data.

Pages, the API, the Excel import and the demo generator all call these, so validation, scope checks and audit
happen once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.core import clock
from linli.core.audit import record
from linli.core.identifiers import parse_credit_code, parse_mobile, parse_plate, parse_resident_id
from linli.core.models import Region, Role, User
from linli.core.pii.masking import PUBLIC, STAFF, mask
from linli.core.scope import code_within

from .models import (
    Building,
    Consent,
    House,
    LegalBasis,
    Organisation,
    Person,
    PersonTag,
    Residency,
    Tag,
    Unit,
    Vehicle,
)

# Government staff see the staff masks; third parties working for the community see the stricter public ones.
THIRD_PARTY_ROLES = {Role.PROPERTY_MANAGER, Role.SERVICE_PROVIDER}
# Who may unmask a personal field (always with a typed reason, always audited).
UNMASK_ROLES = {
    Role.DISTRICT_ADMIN,
    Role.STREET_OFFICER,
    Role.COMMUNITY_WORKER,
    Role.GRID_WORKER,
    Role.POLICE_LIAISON,
}
# Which personal fields exist per model, and how each is masked.
MASKED_FIELDS = {
    Person: {"name": "name", "id_number": "id_number", "phone": "phone", "contact_phone": "phone"},
    Organisation: {"contact_phone": "phone"},
}
MIN_REASON_LENGTH = 4

# A sensitive tag may be kept on a statutory basis only for the registers the government keeps by law;
# the others need the person's separate consent (PIPL arts. 13, 28-29; reference/standards.md §2.1, PI-03).
TAG_RULES: dict[str, set[str]] = {
    Tag.ELDERLY_ALONE: {LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT},
    Tag.AGED_80: {LegalBasis.STATUTORY_DUTY},
    Tag.DISABLED: {LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT},
    Tag.VETERAN: {LegalBasis.STATUTORY_DUTY},
    Tag.DIBAO: {LegalBasis.STATUTORY_DUTY},
    Tag.TEKUN: {LegalBasis.STATUTORY_DUTY},
    Tag.PARTY_MEMBER: {LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT},
    Tag.MINOR: {LegalBasis.STATUTORY_DUTY},
    Tag.NEEDS_CARE: {LegalBasis.SEPARATE_CONSENT, LegalBasis.STATUTORY_DUTY},
}


def mask_view(user: User) -> str:
    return PUBLIC if user.role in THIRD_PARTY_ROLES else STAFF


def masked(user: User, obj, field: str) -> str:
    """A personal field of ``obj`` as ``user`` may see it by default."""
    kind = MASKED_FIELDS[type(obj)][field]
    return mask(kind, getattr(obj, field), mask_view(user)) or ""


def _check_region(user: User | None, region: Region) -> None:
    if user is not None and not code_within(region.code, user.scope_codes):
        raise PermissionDenied(_("Region %(code)s is outside your scope.") % {"code": region.code})


# --- Places ---


def ensure_building(
    region: Region, estate: str, name: str, *, address: str = "", by: User | None = None, **fields
):
    """The building of this name in the region, created when new."""
    _check_region(by, region)
    building, _created = Building.objects.get_or_create(
        region=region,
        estate=estate.strip(),
        name=name.strip(),
        defaults={"address": address or f"{estate}{name}", "region_code": region.code, **fields},
    )
    return building


def register_house(
    building: Building, unit_name: str, number: str, *, by: User | None = None, **fields
) -> tuple[House, bool]:
    """Create or update the house ``number`` in ``unit_name`` of ``building``; returns (house, created)."""
    _check_region(by, building.region)
    unit, _created = Unit.objects.get_or_create(building=building, name=(unit_name or "").strip())
    address = f"{building.address}{unit.name}{number}"
    house, created = House.objects.update_or_create(
        unit=unit,
        number=number.strip(),
        defaults={"building": building, "region": building.region, "address": address, **fields},
    )
    return house, created


# --- People ---


@dataclass
class PersonInput:
    name: str
    id_number: str
    region: Region
    phone: str = ""
    ethnicity: str = "汉族"
    residence_type: str = Person.ResidenceType.REGISTERED
    contact_name: str = ""
    contact_phone: str = ""
    note: str = ""


def clean_person(data: PersonInput) -> dict:
    """Validate and normalise a person's fields; raises ValidationError naming each bad field."""
    errors: dict[str, list] = {}
    values: dict = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = [_("The name is required.")]
    values["name"] = name
    try:
        resident_id = parse_resident_id(data.id_number)
    except ValidationError as exc:
        errors["id_number"] = exc.messages
    else:
        values.update(id_number=resident_id.number, sex=resident_id.sex, birth_date=resident_id.birth_date)
    for field in ("phone", "contact_phone"):
        raw = getattr(data, field)
        if raw not in (None, ""):
            try:
                values[field] = parse_mobile(raw).number
            except ValidationError as exc:
                errors[field] = exc.messages
        else:
            values[field] = ""
    if data.residence_type not in Person.ResidenceType.values:
        errors["residence_type"] = [_("Unknown residence type “%(value)s”.") % {"value": data.residence_type}]
    if errors:
        raise ValidationError(errors)
    values.update(
        region=data.region,
        ethnicity=(data.ethnicity or "").strip(),
        residence_type=data.residence_type,
        contact_name=(data.contact_name or "").strip(),
        note=(data.note or "").strip(),
    )
    return values


@transaction.atomic
def register_person(data: PersonInput, *, by: User | None = None, request=None) -> tuple[Person, bool]:
    """Create the person, or update the one with the same ID number (found by blind index)."""
    _check_region(by, data.region)
    values = clean_person(data)
    person = Person.objects.filter(id_number__blind=values["id_number"]).first()
    created = person is None
    if person is None:
        person = Person(**values)
    else:
        if by is not None and not code_within(person.region_code, by.scope_codes):
            # Someone registered elsewhere: do not reveal or overwrite them, ask the district to move them.
            raise ValidationError(
                {
                    "id_number": _(
                        "This ID number is already registered outside your scope; ask the district office."
                    )
                }
            )
        for field, value in values.items():
            setattr(person, field, value)
    person.save()
    if by is not None:
        record(
            "person_registered" if created else "person_updated",
            actor=by,
            request=request,
            target=person,
            region_code=person.region_code,
        )
    return person, created


@transaction.atomic
def move_in(
    person: Person, house: House, relation: str, *, start: date | None = None, by: User | None = None
):
    """Record that a person lives in (or owns) a house from a date; an existing current tie is kept."""
    _check_region(by, house.region)
    if relation not in Residency.Relation.values:
        raise ValidationError({"relation": _("Unknown relation “%(value)s”.") % {"value": relation}})
    residency, _created = Residency.objects.get_or_create(
        person=person,
        house=house,
        end=None,
        defaults={"relation": relation, "start": start, "region": house.region},
    )
    if residency.relation != relation:
        residency.relation = relation
        residency.save(update_fields=["relation"])
    return residency


def move_out(residency: Residency, *, end: date | None = None, by: User | None = None) -> Residency:
    _check_region(by, residency.region)
    residency.end = end or clock.now().date()
    if residency.start and residency.end < residency.start:
        raise ValidationError({"end": _("The move-out date is before the move-in date.")})
    residency.save(update_fields=["end"])
    return residency


@transaction.atomic
def tag_person(
    person: Person,
    tag: str,
    basis: str,
    *,
    detail: str = "",
    basis_reference: str = "",
    consent: Consent | None = None,
    by: User | None = None,
    request=None,
) -> PersonTag:
    """Put a person in a special group, on a basis the law allows for that group."""
    tag = Tag(tag)
    if basis not in TAG_RULES[tag]:
        raise ValidationError(
            {
                "basis": _("“%(tag)s” cannot be kept on the basis “%(basis)s”.")
                % {"tag": tag.label, "basis": LegalBasis(basis).label}
            }
        )
    if basis in (LegalBasis.CONSENT, LegalBasis.SEPARATE_CONSENT):
        if consent is None or consent.person_id != person.pk or consent.withdrawn_at is not None:
            raise ValidationError({"consent": _("This group needs the person’s separate consent on record.")})
    elif not basis_reference:
        basis_reference = str(STATUTORY_REFERENCES.get(tag, ""))
    person_tag, _created = PersonTag.objects.update_or_create(
        person=person,
        tag=tag,
        defaults={
            "basis": basis,
            "detail": detail,
            "basis_reference": basis_reference,
            "consent": consent,
            "region": person.region,
        },
    )
    if by is not None:
        record(
            "person_tagged", actor=by, request=request, target=person, region_code=person.region_code, tag=tag
        )
    return person_tag


STATUTORY_REFERENCES = {
    Tag.AGED_80: gettext_lazy("Elderly rights law; old-age allowance register"),
    Tag.DISABLED: gettext_lazy("Disabled persons protection law; disability certificate register"),
    Tag.VETERAN: gettext_lazy("Veterans support law; veteran register"),
    Tag.DIBAO: gettext_lazy("Social assistance measures; minimum living allowance register"),
    Tag.TEKUN: gettext_lazy("Social assistance measures; extreme poverty support register"),
    Tag.MINOR: gettext_lazy("Minors protection law"),
    Tag.ELDERLY_ALONE: gettext_lazy("Elderly rights law; home visits to elderly living alone"),
    Tag.PARTY_MEMBER: gettext_lazy("Party organisation register"),
    Tag.NEEDS_CARE: gettext_lazy("Community care duties"),
}


# --- Organisations and things ---


def register_organisation(
    region: Region, name: str, credit_code: str, kind: str, *, by: User | None = None, **fields
) -> tuple[Organisation, bool]:
    _check_region(by, region)
    code = parse_credit_code(credit_code).code
    if fields.get("contact_phone"):
        fields["contact_phone"] = parse_mobile(fields["contact_phone"]).number
    return Organisation.objects.update_or_create(
        credit_code=code, defaults={"region": region, "name": name.strip(), "kind": kind, **fields}
    )


def register_vehicle(
    region: Region,
    plate: str,
    *,
    owner: Person | None = None,
    by: User | None = None,
    kind: str = Vehicle.Kind.CAR,
) -> tuple[Vehicle, bool]:
    _check_region(by, region)
    parsed = parse_plate(plate)
    if parsed.energy and parsed.energy != "none" and kind == Vehicle.Kind.CAR:
        kind = Vehicle.Kind.NEW_ENERGY
    return Vehicle.objects.update_or_create(
        plate=parsed.plate, defaults={"region": region, "owner": owner, "kind": kind}
    )


# --- Finding and unmasking ---


def find_people(user: User, query: str, *, region_code: str | None = None):
    """People in scope matching an exact ID number or phone (blind index), or a name or address fragment."""
    people = Person.objects.visible_to(user, region_code)
    query = (query or "").strip()
    if not query:
        return people
    compact = query.replace(" ", "").replace("-", "")
    if len(compact) in (15, 18) and compact[:17].isdigit():
        try:
            return people.filter(id_number__blind=parse_resident_id(compact).number)
        except ValidationError:
            return people.none()
    if compact.lstrip("+").isdigit() and len(compact) >= 11:
        try:
            return people.filter(phone__blind=parse_mobile(compact).number)
        except ValidationError:
            return people.none()
    by_address = (
        Residency.objects.visible_to(user, region_code)
        .filter(house__address__contains=query, end=None)
        .values("person_id")
    )
    from django.db.models import Q

    return people.filter(Q(name__contains=query) | Q(pk__in=by_address))


def unmask(user: User, obj, field: str, reason: str, *, request=None) -> str:
    """The plaintext of one personal field, for a user allowed to see it, with a reason; audited."""
    if field not in MASKED_FIELDS.get(type(obj), {}):
        raise ValidationError(
            {"field": _("“%(field)s” is not a personal field of this record.") % {"field": field}}
        )
    if user.role not in UNMASK_ROLES:
        raise PermissionDenied(_("Your role may not see unmasked personal data."))
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError(
            {
                "reason": _("Say why you need to see this (at least %(n)d characters).")
                % {"n": MIN_REASON_LENGTH}
            }
        )
    type(obj).objects.get_visible(user, pk=obj.pk)  # 404 outside the scope, before anything is revealed
    record(
        "unmasked",
        actor=user,
        request=request,
        target=obj,
        region_code=obj.region_code,
        field=field,
        reason=reason,
    )
    return getattr(obj, field)
