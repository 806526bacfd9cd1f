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
    Facility,
    House,
    Household,
    HouseholdMember,
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
# Who may read the register at all (auditors read the audit log, not the people in it), and who may change it.
READ_ROLES = UNMASK_ROLES | THIRD_PARTY_ROLES
EDIT_ROLES = {Role.DISTRICT_ADMIN, Role.STREET_OFFICER, Role.COMMUNITY_WORKER, Role.GRID_WORKER}

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


def can_read(user) -> bool:
    """Whether this account may open the register (staff of a reading role, never residents)."""
    return bool(user and user.is_authenticated and user.is_active and user.role in READ_ROLES)


def can_edit(user) -> bool:
    return can_read(user) and user.role in EDIT_ROLES


def can_unmask(user) -> bool:
    return can_read(user) and user.role in UNMASK_ROLES


def _masked_error(exc: ValidationError, kind: str) -> list[str]:
    """The messages of a validator's error with the echoed value masked, so that errors never leak it."""
    messages = []
    for error in exc.error_list:
        params = dict(error.params or {})
        if params.get("value"):
            params["value"] = mask(kind, str(params["value"])) or ""
        messages.append(str(error.message % params) if params else str(error.message))
    return messages


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
        errors["id_number"] = _masked_error(exc, "id_number")
    else:
        values.update(id_number=resident_id.number, sex=resident_id.sex, birth_date=resident_id.birth_date)
    for field in ("phone", "contact_phone"):
        raw = getattr(data, field)
        if raw not in (None, ""):
            try:
                values[field] = parse_mobile(raw).number
            except ValidationError as exc:
                errors[field] = _masked_error(exc, "phone")
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
    _check_region(by, person.region)
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


@transaction.atomic
def untag_person(person: Person, tag: str, *, by: User | None = None, request=None) -> bool:
    """Take a person out of a special group; returns whether they were in it."""
    _check_region(by, person.region)
    deleted, _rows = PersonTag.objects.filter(person=person, tag=tag).delete()
    if deleted and by is not None:
        record(
            "person_untagged",
            actor=by,
            request=request,
            target=person,
            region_code=person.region_code,
            tag=tag,
        )
    return bool(deleted)


CONSENT_BASES = (LegalBasis.CONSENT, LegalBasis.SEPARATE_CONSENT)


@transaction.atomic
def record_consent(
    person: Person,
    purpose: str,
    *,
    basis: str = LegalBasis.SEPARATE_CONSENT,
    notice_version: str = "",
    by: User | None = None,
    request=None,
) -> Consent:
    """Record that the person consented to one purpose, after seeing a version of the notice; audited."""
    _check_region(by, person.region)
    purpose = (purpose or "").strip()
    if not purpose:
        raise ValidationError({"purpose": _("Say what the person consented to.")})
    if basis not in CONSENT_BASES:
        raise ValidationError({"basis": _("A consent must rest on a consent basis.")})
    consent = Consent.objects.create(
        person=person,
        purpose=purpose,
        basis=basis,
        notice_version=(notice_version or "").strip(),
        granted_at=clock.now(),
        recorded_by=by if by is not None and by.pk else None,
    )
    if by is not None:
        record(
            "consent_recorded",
            actor=by,
            request=request,
            target=person,
            region_code=person.region_code,
            consent=consent.pk,
            purpose=purpose,
        )
    return consent


@transaction.atomic
def withdraw_consent(consent: Consent, *, by: User | None = None, request=None) -> list[str]:
    """Record the withdrawal of a consent and stop the processing resting on it (PIPL art. 15).

    The tags kept on this consent are removed; returns them.
    """
    person = consent.person
    _check_region(by, person.region)
    if consent.withdrawn_at is None:
        consent.withdrawn_at = clock.now()
        consent.save(update_fields=["withdrawn_at"])
    tags = list(PersonTag.objects.filter(consent=consent).values_list("tag", flat=True))
    PersonTag.objects.filter(consent=consent).delete()
    if by is not None:
        record(
            "consent_withdrawn",
            actor=by,
            request=request,
            target=person,
            region_code=person.region_code,
            consent=consent.pk,
            purpose=consent.purpose,
            tags_removed=tags,
        )
    return tags


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
    code = clean_organisation(name, credit_code, kind, fields)
    return Organisation.objects.update_or_create(
        credit_code=code, defaults={"region": region, "name": name.strip(), "kind": kind, **fields}
    )


def clean_organisation(name: str, credit_code: str, kind: str, fields: dict) -> str:
    """Check an organisation's fields (normalising ``fields["contact_phone"]``); returns the credit code."""
    errors: dict[str, list] = {}
    code = ""
    if not (name or "").strip():
        errors["name"] = [_("The name is required.")]
    try:
        code = parse_credit_code(credit_code).code
    except ValidationError as exc:
        errors["credit_code"] = exc.messages
    if kind not in Organisation.Kind.values:
        errors["kind"] = [_("Unknown organisation kind “%(value)s”.") % {"value": kind}]
    if fields.get("contact_phone"):
        try:
            fields["contact_phone"] = parse_mobile(fields["contact_phone"]).number
        except ValidationError as exc:
            errors["contact_phone"] = _masked_error(exc, "phone")
    if errors:
        raise ValidationError(errors)
    return code


def register_vehicle(
    region: Region,
    plate: str,
    *,
    owner: Person | None = None,
    by: User | None = None,
    kind: str = Vehicle.Kind.CAR,
) -> tuple[Vehicle, bool]:
    _check_region(by, region)
    try:
        parsed = parse_plate(plate)
    except ValidationError as exc:
        raise ValidationError({"plate": exc.messages}) from None
    if kind not in Vehicle.Kind.values:
        raise ValidationError({"kind": _("Unknown vehicle kind “%(value)s”.") % {"value": kind}})
    if owner is not None and by is not None:
        Person.objects.get_visible(by, pk=owner.pk)
    if parsed.energy and parsed.energy != "none" and kind == Vehicle.Kind.CAR:
        kind = Vehicle.Kind.NEW_ENERGY
    return Vehicle.objects.update_or_create(
        plate=parsed.plate, defaults={"region": region, "owner": owner, "kind": kind}
    )


# --- Finding and unmasking ---


def identifier_kind(query: str) -> str | None:
    """Whether a search text is meant as an exact ID number or phone (so it must not travel in URLs)."""
    compact = (query or "").strip().replace(" ", "").replace("-", "")
    if len(compact) in (15, 18) and compact[:15].isdigit():
        return "id_number"
    if compact.lstrip("+").isdigit() and len(compact) >= 11:
        return "phone"
    return None


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


def in_group(people, user: User, tag: str):
    """Narrow a queryset of people to a special group, starting from the tags.

    Filtering people by a join to their tags makes PostgreSQL walk every person of a street first (320 ms at
    p95 for a street of a million-person district); starting from the tag index takes ~20 ms
    (docs/benchmarks/registry.md).
    """
    return people.filter(pk__in=PersonTag.objects.visible_to(user).filter(tag=tag).values("person_id"))


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


# --- Changing records (pages and API) ---


@transaction.atomic
def update_person(person: Person, data: PersonInput, *, by: User, request=None) -> Person:
    """Change a person's record; a new ID number must not belong to someone else."""
    _check_region(by, person.region)
    _check_region(by, data.region)
    values = clean_person(data)
    other = Person.objects.filter(id_number__blind=values["id_number"]).exclude(pk=person.pk)
    if other.exists():
        raise ValidationError({"id_number": _("Another person is already registered with this ID number.")})
    for field, value in values.items():
        setattr(person, field, value)
    person.save()
    record("person_updated", actor=by, request=request, target=person, region_code=person.region_code)
    return person


@transaction.atomic
def update_record(obj, *, by: User, request=None, **fields):
    """Change fields of a place, organisation, facility or vehicle inside the editor's scope; audited."""
    _check_region(by, obj.region)
    if "region" in fields:
        _check_region(by, fields["region"])
    if isinstance(obj, Organisation):
        code = clean_organisation(
            fields.get("name", obj.name),
            fields.get("credit_code", obj.credit_code),
            fields.get("kind", obj.kind),
            fields,
        )
        fields["credit_code"] = code
        if Organisation.objects.filter(credit_code=code).exclude(pk=obj.pk).exists():
            raise ValidationError({"credit_code": _("Another organisation has this credit code.")})
    if isinstance(obj, Vehicle) and "plate" in fields:
        try:
            fields["plate"] = parse_plate(fields["plate"]).plate
        except ValidationError as exc:
            raise ValidationError({"plate": exc.messages}) from None
    for field, value in fields.items():
        setattr(obj, field, value)
    obj.full_clean(exclude=["region_code"])
    obj.save()
    record(
        f"{obj._meta.model_name}_updated", actor=by, request=request, target=obj, region_code=obj.region_code
    )
    return obj


def register_facility(
    region: Region, kind: str, code: str, *, by: User | None = None, **fields
) -> tuple[Facility, bool]:
    """Create or update the public facility with this component code."""
    _check_region(by, region)
    errors = {}
    if not (kind or "").strip():
        errors["kind"] = [_("The component kind is required.")]
    if not (code or "").strip():
        errors["code"] = [_("The component code is required.")]
    state = fields.get("state", Facility.State.NORMAL)
    if state not in Facility.State.values:
        errors["state"] = [_("Unknown state “%(value)s”.") % {"value": state}]
    if errors:
        raise ValidationError(errors)
    existing = Facility.objects.filter(code=code.strip()).first()
    if existing is not None and by is not None and not code_within(existing.region_code, by.scope_codes):
        raise ValidationError({"code": _("This component code is already registered outside your scope.")})
    return Facility.objects.update_or_create(
        code=code.strip(), defaults={"region": region, "kind": kind.strip(), **fields}
    )


@transaction.atomic
def create_household(
    house: House, head: Person, *, number: str = "", by: User | None = None, request=None
) -> Household:
    """A household in a house, with its head as the first member."""
    _check_region(by, house.region)
    if by is not None:
        Person.objects.get_visible(by, pk=head.pk)
    household = Household.objects.create(number=number.strip(), house=house, head=head, region=house.region)
    HouseholdMember.objects.create(household=household, person=head, relation_to_head=str(_("Self")))
    if by is not None:
        record(
            "household_created", actor=by, request=request, target=household, region_code=house.region_code
        )
    return household


def add_household_member(
    household: Household,
    person: Person,
    relation_to_head: str = "",
    *,
    by: User | None = None,
    request=None,
) -> HouseholdMember:
    _check_region(by, household.region)
    if by is not None:
        Person.objects.get_visible(by, pk=person.pk)
    member, _created = HouseholdMember.objects.update_or_create(
        household=household, person=person, defaults={"relation_to_head": relation_to_head.strip()}
    )
    if by is not None:
        record(
            "household_member_added",
            actor=by,
            request=request,
            target=household,
            region_code=household.region_code,
            person=person.pk,
        )
    return member


@transaction.atomic
def remove_household_member(
    household: Household, person: Person, *, by: User | None = None, request=None
) -> bool:
    """Take a person out of a household; the head stays (choose another household or head first)."""
    _check_region(by, household.region)
    if person.pk == household.head_id:
        raise ValidationError({"person": _("The head of the household cannot be removed from it.")})
    deleted, _rows = HouseholdMember.objects.filter(household=household, person=person).delete()
    if deleted and by is not None:
        record(
            "household_member_removed",
            actor=by,
            request=request,
            target=household,
            region_code=household.region_code,
            person=person.pk,
        )
    return bool(deleted)
