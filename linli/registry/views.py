"""Console pages of the register: lists, details, forms, and unmasking one field with a reason.

Every queryset comes from ``visible_to`` (other regions answer 404); every change goes through services.py;
personal fields are masked with ``services.masked`` before they reach a template.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from linli.core.context_processors import switchable_regions
from linli.core.models import Region
from linli.core.pii.masking import mask

from . import forms, services
from .models import (
    Building,
    Consent,
    Facility,
    House,
    Household,
    Organisation,
    Person,
    PersonTag,
    Residency,
    Tag,
    Vehicle,
)

PAGE_ROWS = 25
FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "id_number": gettext_lazy("ID number"),
    "phone": gettext_lazy("Mobile phone"),
    "contact_phone": gettext_lazy("Emergency contact phone"),
}


def console_module(user):
    """The registry's entry in the console navigation (see core.context_processors.MODULE_HOOKS)."""
    if not services.can_read(user):
        return None
    return {
        "name": gettext_lazy("Registry"),
        "url": reverse("registry:people"),
        "key": "registry",
        "icon": "people",
    }


def _reader(request):
    if not services.can_read(request.user):
        raise Http404
    return request.user


def _editor(request):
    user = _reader(request)
    if not services.can_edit(user):
        raise PermissionDenied(_("Your role may not change the register."))
    return user


def _list_region(request) -> str | None:
    """The region a list is narrowed to: the one asked for, else the console's working region."""
    return request.GET.get("region") or request.region_code


def _page(request, queryset):
    return Paginator(queryset, PAGE_ROWS).get_page(request.GET.get("page"))


def _list_context(request, region_code):
    current = Region.objects.filter(code=region_code).first() if region_code else None
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "filter_regions": switchable_regions(request.user, current),
        "filter_region": region_code,
        "query_string": query.urlencode(),
        "can_edit": services.can_edit(request.user),
    }


def _apply_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- People ---


def _person_row(user, person):
    return {
        "obj": person,
        "name": services.masked(user, person, "name"),
        "id_number": services.masked(user, person, "id_number"),
        "phone": services.masked(user, person, "phone"),
    }


@login_required
def person_list_view(request):
    user = _reader(request)
    region_code = _list_region(request)
    source = request.POST if request.method == "POST" else request.GET
    filters = forms.PersonFilterForm(source or None)
    filters.is_valid()
    values = getattr(filters, "cleaned_data", {})
    q = values.get("q", "")
    shown_query = q
    if request.method == "POST":
        # The search form posts, so that an exact ID number or phone never lands in a URL (browser history,
        # access logs, Referer); a name or address fragment is sent back as an ordinary, shareable GET.
        if not services.identifier_kind(q):
            query = {k: v for k, v in values.items() if v}
            if request.POST.get("region"):
                query["region"] = request.POST["region"]
            return redirect(f"{reverse('registry:people')}?{urlencode(query)}")
        shown_query = mask(services.identifier_kind(q), q.strip(), services.mask_view(user))
    elif services.identifier_kind(q):
        q = shown_query = ""  # identifiers are searched only by POST
    people = services.find_people(user, q, region_code=region_code)
    if values.get("tag"):
        people = services.in_group(people, user, values["tag"])
    if values.get("residence_type"):
        people = people.filter(residence_type=values["residence_type"])
    page = _page(request, people.order_by("-pk"))
    rows = [_person_row(user, person) for person in page]
    context = _list_context(request, region_code)
    context.update(filters=filters, page=page, rows=rows, shown_query=shown_query)
    return render(request, "registry/person_list.html", context)


def _person_context(request, person, *, revealed=None, unmask_form=None, tag_form=None):
    user = request.user
    fields = []
    for field, label in FIELD_LABELS.items():
        fields.append(
            {
                "field": field,
                "label": label,
                "masked": services.masked(user, person, field) or "—",
                "value": (revealed or {}).get(field),
                "form": unmask_form
                if unmask_form is not None and unmask_form.data.get("field") == field
                else None,
                "empty": not getattr(person, field),
            }
        )
    view = services.mask_view(user)
    residencies = (
        Residency.objects.visible_to(user)
        .filter(person=person)
        .select_related("house")
        .order_by("end", "-start")
    )
    return {
        "person": person,
        "fields": fields,
        "can_unmask": services.can_unmask(user),
        "can_edit": services.can_edit(user),
        "residencies": [
            {
                "obj": r,
                "address": r.house.address if view == "staff" else mask("address", r.house.address, view),
            }
            for r in residencies
        ],
        "tags": PersonTag.objects.visible_to(user).filter(person=person).select_related("consent"),
        "tag_form": tag_form if tag_form is not None else forms.TagForm(),
        "households": Household.objects.visible_to(user).filter(members=person).select_related("house"),
        "vehicles": Vehicle.objects.visible_to(user).filter(owner=person),
    }


@login_required
def person_detail_view(request, pk):
    user = _reader(request)
    person = Person.objects.get_visible(user, pk=pk)
    return render(request, "registry/person_detail.html", _person_context(request, person))


@login_required
@require_POST
@never_cache
def person_unmask_view(request, pk):
    """Show one personal field in plaintext, once, to a user allowed to, who gave a reason; audited."""
    user = _reader(request)
    person = Person.objects.get_visible(user, pk=pk)
    if not services.can_unmask(user):
        raise PermissionDenied(_("Your role may not see unmasked personal data."))
    form = forms.UnmaskForm(request.POST)
    revealed = {}
    if form.is_valid():
        field = form.cleaned_data["field"]
        try:
            revealed[field] = services.unmask(
                user, person, field, form.cleaned_data["reason"], request=request
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
    status = 200 if revealed else 400
    if request.headers.get("HX-Request"):
        field = request.POST.get("field")
        if field not in FIELD_LABELS:
            raise Http404
        context = _person_context(request, person, revealed=revealed, unmask_form=None if revealed else form)
        item = next(f for f in context["fields"] if f["field"] == field)
        # htmx swaps only 2xx answers by default; the form with its error is the answer to show.
        return render(
            request,
            "registry/_personal_field.html",
            {"f": item, "person": person, "can_unmask": True},
            status=200,
        )
    context = _person_context(request, person, revealed=revealed, unmask_form=None if revealed else form)
    return render(request, "registry/person_detail.html", context, status=status)


@login_required
@require_POST
def person_tag_view(request, pk):
    """Put the person in a special group; a consent basis records the consent first, in one transaction."""
    user = _editor(request)
    person = Person.objects.get_visible(user, pk=pk)
    form = forms.TagForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                consent = None
                if data["basis"] in services.CONSENT_BASES and data["consent_given"]:
                    consent = services.record_consent(
                        person,
                        data["purpose"] or Tag(data["tag"]).label,
                        basis=data["basis"],
                        notice_version=data["notice_version"],
                        by=user,
                        request=request,
                    )
                services.tag_person(
                    person,
                    data["tag"],
                    data["basis"],
                    detail=data["detail"].strip(),
                    basis_reference=data["basis_reference"].strip(),
                    consent=consent,
                    by=user,
                    request=request,
                )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The person was added to the group."))
            return redirect("registry:person_detail", pk=person.pk)
    context = _person_context(request, person, tag_form=form)
    return render(request, "registry/person_detail.html", context, status=400)


@login_required
@require_POST
def person_untag_view(request, pk, tag):
    user = _editor(request)
    person = Person.objects.get_visible(user, pk=pk)
    if tag not in Tag.values:
        raise Http404
    if services.untag_person(person, tag, by=user, request=request):
        messages.success(request, _("The person was removed from the group."))
    return redirect("registry:person_detail", pk=person.pk)


@login_required
@require_POST
def consent_withdraw_view(request, pk, consent_pk):
    user = _editor(request)
    person = Person.objects.get_visible(user, pk=pk)
    try:
        consent = Consent.objects.get(pk=consent_pk, person=person)
    except Consent.DoesNotExist:
        raise Http404 from None
    services.withdraw_consent(consent, by=user, request=request)
    messages.success(request, _("The consent was withdrawn; the groups kept on it were removed."))
    return redirect("registry:person_detail", pk=person.pk)


@login_required
def person_create_view(request):
    user = _editor(request)
    form = forms.PersonForm(request.POST or None, user=user, initial={"region": request.region_code})
    if request.method == "POST" and form.is_valid():
        try:
            person, created = services.register_person(form.person_input(), by=user, request=request)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, _("The person was registered.") if created else _("The person was updated.")
            )
            return redirect("registry:person_detail", pk=person.pk)
    return render(request, "registry/form.html", {"form": form, "title": _("Register a person")})


@login_required
def person_edit_view(request, pk):
    user = _editor(request)
    person = Person.objects.get_visible(user, pk=pk)
    initial = {
        "region": person.region_id,
        "name": person.name,
        "ethnicity": person.ethnicity,
        "residence_type": person.residence_type,
        "contact_name": person.contact_name,
        "note": person.note,
    }
    form = forms.PersonForm(request.POST or None, user=user, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_person(person, form.person_input(person), by=user, request=request)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The person was updated."))
            return redirect("registry:person_detail", pk=person.pk)
    title = _("Edit %(name)s") % {"name": services.masked(user, person, "name")}
    masked = {f: services.masked(user, person, f) for f in ("id_number", "phone", "contact_phone")}
    return render(request, "registry/form.html", {"form": form, "title": title, "masked": masked})


# --- Houses ---


@login_required
def house_list_view(request):
    user = _reader(request)
    region_code = _list_region(request)
    houses = House.objects.visible_to(user, region_code).select_related("building")
    q = request.GET.get("q", "").strip()
    if q:
        houses = houses.filter(address__contains=q)
    use = request.GET.get("use", "")
    if use in House.Use.values:
        houses = houses.filter(use=use)
    page = _page(request, houses.order_by("address", "pk"))
    context = _list_context(request, region_code)
    context.update(page=page, q=q, use=use, uses=House.Use.choices)
    return render(request, "registry/house_list.html", context)


@login_required
def house_detail_view(request, pk):
    user = _reader(request)
    house = House.objects.get_visible(user, pk=pk)
    form = forms.MoveInForm()
    return render(request, "registry/house_detail.html", _house_context(request, house, form))


def _house_context(request, house, form, household_form=None):
    user = request.user
    can_edit = services.can_edit(user)
    if can_edit and household_form is None:
        household_form = forms.HouseholdForm(residents=_current_residents(user, house))
    residencies = (
        Residency.objects.visible_to(user)
        .filter(house=house)
        .select_related("person")
        .order_by("end", "-start")
    )
    return {
        "house": house,
        "current": [_person_row(user, r.person) | {"residency": r} for r in residencies if r.end is None],
        "past": [_person_row(user, r.person) | {"residency": r} for r in residencies if r.end is not None],
        "households": Household.objects.visible_to(user).filter(house=house),
        "organisations": Organisation.objects.visible_to(user).filter(house=house),
        "move_in_form": form,
        "household_form": household_form,
        "can_edit": can_edit,
    }


@login_required
def house_create_view(request):
    user = _editor(request)
    form = forms.HouseForm(request.POST or None, user=user, initial={"region": request.region_code})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            building = services.ensure_building(data["region"], data["estate"], data["building"], by=user)
            extra = {k: data[k] for k in ("area", "use", "lon", "lat")}
            house, _created = services.register_house(
                building, data["unit"], data["number"], by=user, **extra
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The house was saved."))
            return redirect("registry:house_detail", pk=house.pk)
    return render(request, "registry/form.html", {"form": form, "title": _("Register a house")})


@login_required
def house_edit_view(request, pk):
    user = _editor(request)
    house = House.objects.get_visible(user, pk=pk)
    initial = {"area": house.area, "use": house.use, "lon": house.lon, "lat": house.lat}
    form = forms.HouseEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_record(house, by=user, request=request, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The house was saved."))
            return redirect("registry:house_detail", pk=house.pk)
    return render(request, "registry/form.html", {"form": form, "title": house.address})


@login_required
@require_POST
def house_move_in_view(request, pk):
    user = _editor(request)
    house = House.objects.get_visible(user, pk=pk)
    form = forms.MoveInForm(request.POST)
    if form.is_valid():
        person = services.find_people(user, form.cleaned_data["id_number"]).first()
        if person is None or len(form.cleaned_data["id_number"].strip()) < 15:
            form.add_error("id_number", _("No person with this ID number is registered in your scope."))
        else:
            try:
                services.move_in(
                    person, house, form.cleaned_data["relation"], start=form.cleaned_data["start"], by=user
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("The residency was recorded."))
                return redirect("registry:house_detail", pk=house.pk)
    return render(request, "registry/house_detail.html", _house_context(request, house, form), status=400)


@login_required
@require_POST
def residency_end_view(request, pk):
    user = _editor(request)
    residency = Residency.objects.get_visible(user, pk=pk)
    try:
        services.move_out(residency, by=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("registry:house_detail", pk=residency.house_id)


# --- Households ---


@login_required
def household_list_view(request):
    user = _reader(request)
    region_code = _list_region(request)
    households = Household.objects.visible_to(user, region_code).select_related("house", "head")
    page = _page(request, households.order_by("-pk"))
    rows = [{"obj": h, "head": services.masked(user, h.head, "name")} for h in page]
    context = _list_context(request, region_code)
    context.update(page=page, rows=rows)
    return render(request, "registry/household_list.html", context)


def _current_residents(user, house, *, exclude=()):
    """(pk, masked name) of the people living in a house now, for choosing a head or a member."""
    people = (
        Person.objects.visible_to(user)
        .filter(residencies__house=house, residencies__end=None)
        .exclude(pk__in=list(exclude))
        .distinct()
        .order_by("pk")
    )
    return [(p.pk, services.masked(user, p, "name")) for p in people]


def _household_context(request, household, member_form=None):
    user = request.user
    members = household.memberships.select_related("person").order_by("pk")
    rows = [_person_row(user, m.person) | {"relation": m.relation_to_head} for m in members]
    can_edit = services.can_edit(user)
    if can_edit and member_form is None:
        residents = _current_residents(user, household.house, exclude=[m.person_id for m in members])
        member_form = forms.MemberForm(residents=residents)
    return {"household": household, "rows": rows, "can_edit": can_edit, "member_form": member_form}


@login_required
def household_detail_view(request, pk):
    user = _reader(request)
    household = Household.objects.get_visible(user, pk=pk)
    return render(request, "registry/household_detail.html", _household_context(request, household))


@login_required
@require_POST
def household_create_view(request, pk):
    """Create a household in the house ``pk``, headed by one of the people living there now."""
    user = _editor(request)
    house = House.objects.get_visible(user, pk=pk)
    form = forms.HouseholdForm(request.POST, residents=_current_residents(user, house))
    if form.is_valid():
        head = Person.objects.get_visible(user, pk=form.cleaned_data["head"])
        try:
            household = services.create_household(
                house, head, number=form.cleaned_data["number"], by=user, request=request
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The household was created."))
            return redirect("registry:household_detail", pk=household.pk)
    context = _house_context(request, house, forms.MoveInForm(), household_form=form)
    return render(request, "registry/house_detail.html", context, status=400)


@login_required
@require_POST
def household_member_add_view(request, pk):
    user = _editor(request)
    household = Household.objects.get_visible(user, pk=pk)
    members = household.memberships.values_list("person_id", flat=True)
    residents = _current_residents(user, household.house, exclude=members)
    form = forms.MemberForm(request.POST, residents=residents)
    if form.is_valid():
        person = Person.objects.get_visible(user, pk=form.cleaned_data["person"])
        try:
            services.add_household_member(
                household, person, form.cleaned_data["relation_to_head"], by=user, request=request
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("The member was added."))
            return redirect("registry:household_detail", pk=household.pk)
    context = _household_context(request, household, member_form=form)
    return render(request, "registry/household_detail.html", context, status=400)


@login_required
@require_POST
def household_member_remove_view(request, pk, person_pk):
    user = _editor(request)
    household = Household.objects.get_visible(user, pk=pk)
    if not household.memberships.filter(person_id=person_pk).exists():
        raise Http404
    person = Person.objects.get_visible(user, pk=person_pk)
    try:
        services.remove_household_member(household, person, by=user, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The member was removed."))
    return redirect("registry:household_detail", pk=household.pk)


# --- Organisations, facilities, vehicles: one list, detail and form each, declared below ---


class Kind:
    """How the console shows one simple kind of record."""

    def __init__(self, model, key, title, columns, form, search, fields, filter_field=None):
        self.model, self.key, self.title, self.columns = model, key, title, columns
        self.form, self.search, self.fields, self.filter_field = form, search, fields, filter_field


def _org_cells(user, org):
    return [
        org.name,
        org.credit_code,
        org.get_kind_display(),
        services.masked(user, org, "contact_phone") or "—",
    ]


def _facility_cells(user, facility):
    return [facility.kind, facility.code, facility.name or "—", facility.get_state_display()]


def _vehicle_cells(user, vehicle):
    owner = services.masked(user, vehicle.owner, "name") if vehicle.owner_id else "—"
    return [mask("plate", vehicle.plate, services.mask_view(user)), vehicle.get_kind_display(), owner]


KINDS = {
    "organisations": Kind(
        Organisation,
        "organisations",
        gettext_lazy("Organisations"),
        (
            [
                gettext_lazy("Name"),
                gettext_lazy("Credit code"),
                gettext_lazy("Kind"),
                gettext_lazy("Contact phone"),
            ],
            _org_cells,
        ),
        forms.OrganisationForm,
        lambda q: Q(name__contains=q) | Q(credit_code=q.upper()),
        ["region", "name", "credit_code", "kind", "address", "contact_name", "contact_phone"],
        ("kind", Organisation.Kind.choices),
    ),
    "facilities": Kind(
        Facility,
        "facilities",
        gettext_lazy("Public facilities"),
        (
            [
                gettext_lazy("Component kind"),
                gettext_lazy("Code"),
                gettext_lazy("Name"),
                gettext_lazy("State"),
            ],
            _facility_cells,
        ),
        forms.FacilityForm,
        lambda q: Q(code__contains=q) | Q(kind__contains=q) | Q(name__contains=q),
        ["region", "kind", "code", "name", "state", "lon", "lat"],
        ("state", Facility.State.choices),
    ),
    "vehicles": Kind(
        Vehicle,
        "vehicles",
        gettext_lazy("Vehicles"),
        ([gettext_lazy("Plate"), gettext_lazy("Kind"), gettext_lazy("Owner")], _vehicle_cells),
        forms.VehicleForm,
        lambda q: Q(plate__contains=q.upper().replace("·", "")),
        ["region", "plate", "kind"],
        ("kind", Vehicle.Kind.choices),
    ),
}


def _spec(kind: str) -> Kind:
    if kind not in KINDS:
        raise Http404
    return KINDS[kind]


@login_required
def kind_list_view(request, kind):
    user = _reader(request)
    spec = _spec(kind)
    region_code = _list_region(request)
    rows = spec.model.objects.visible_to(user, region_code)
    q = request.GET.get("q", "").strip()
    if q:
        rows = rows.filter(spec.search(q))
    field, choices = spec.filter_field
    chosen = request.GET.get(field, "")
    if chosen in dict(choices):
        rows = rows.filter(**{field: chosen})
    page = _page(request, rows.order_by("-pk"))
    headers, cells = spec.columns
    context = _list_context(request, region_code)
    context.update(
        spec=spec,
        page=page,
        headers=headers,
        rows=[{"obj": obj, "cells": cells(user, obj)} for obj in page],
        q=q,
        filter_name=field,
        filter_choices=choices,
        filter_value=chosen,
    )
    return render(request, "registry/kind_list.html", context)


@login_required
def kind_detail_view(request, kind, pk):
    user = _reader(request)
    spec = _spec(kind)
    obj = spec.model.objects.get_visible(user, pk=pk)
    headers, cells = spec.columns
    facts = list(zip(headers, cells(user, obj), strict=True))
    facts.append((_("Region"), f"{obj.region.name} ({obj.region_code})"))
    if isinstance(obj, Organisation):
        facts += [(_("Address"), obj.address or "—"), (_("Contact"), obj.contact_name or "—")]
    if getattr(obj, "lon", None) is not None:
        facts.append((_("Location"), f"{obj.lon:.6f}, {obj.lat:.6f}"))
    context = {"spec": spec, "obj": obj, "facts": facts, "can_edit": services.can_edit(user)}
    return render(request, "registry/kind_detail.html", context)


def _save_kind(spec, obj, data, user, request):
    if spec.model is Organisation:
        fields = {k: data[k] for k in ("address", "contact_name", "contact_phone")}
        if obj is None:
            return services.register_organisation(
                data["region"], data["name"], data["credit_code"], data["kind"], by=user, **fields
            )[0]
        if not fields["contact_phone"]:
            fields.pop("contact_phone")  # empty keeps the stored number
        keep = {k: data[k] for k in ("region", "name", "credit_code", "kind")}
        return services.update_record(obj, by=user, request=request, **keep, **fields)
    if spec.model is Facility:
        fields = {k: data[k] for k in ("name", "state", "lon", "lat")}
        if obj is None:
            return services.register_facility(data["region"], data["kind"], data["code"], by=user, **fields)[
                0
            ]
        return services.update_record(
            obj,
            by=user,
            request=request,
            **fields,
            region=data["region"],
            kind=data["kind"],
            code=data["code"],
        )
    owner = None
    if data.get("owner_id_number"):
        owner = services.find_people(user, data["owner_id_number"]).first()
        if owner is None or len(data["owner_id_number"].strip()) < 15:
            raise ValidationError(
                {"owner_id_number": _("No person with this ID number is registered in your scope.")}
            )
    if obj is None:
        return services.register_vehicle(
            data["region"], data["plate"], owner=owner, by=user, kind=data["kind"]
        )[0]
    return services.update_record(
        obj,
        by=user,
        request=request,
        region=data["region"],
        plate=data["plate"],
        kind=data["kind"],
        owner=owner or obj.owner,
    )


@login_required
def kind_form_view(request, kind, pk=None):
    user = _editor(request)
    spec = _spec(kind)
    obj = spec.model.objects.get_visible(user, pk=pk) if pk is not None else None
    kwargs = {"user": user}
    if obj is None:
        initial = {"region": request.region_code}
    else:
        initial = {name: getattr(obj, name, None) for name in spec.fields if name != "contact_phone"}
        initial["region"] = obj.region_id
        if spec.model is Organisation:
            kwargs["editing"] = True
    form = spec.form(request.POST or None, initial=initial, **kwargs)
    if request.method == "POST" and form.is_valid():
        try:
            obj = _save_kind(spec, obj, form.cleaned_data, user, request)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("registry:kind_detail", kind=kind, pk=obj.pk)
    title = str(obj) if obj is not None else spec.title
    return render(request, "registry/form.html", {"form": form, "title": title})


# Building rows are created with houses; the model is imported for the API and admin.
__all__ = ["Building", "Tag"]
