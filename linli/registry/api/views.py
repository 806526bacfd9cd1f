"""REST API v1 of the register: scoped, changed through services.py, personal data masked."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from linli.core.api.permissions import IsActiveAccount
from linli.core.api.scoping import ScopedViewMixin

from .. import services
from ..models import Building, Facility, House, Household, Organisation, Person, Residency, Tag, Vehicle
from . import serializers as s


class RegistryAccess(IsActiveAccount):
    """Reading roles may read; editing roles may also write. Residents and auditors are refused."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view) or not services.can_read(request.user):
            return False
        if request.method in SAFE_METHODS or getattr(view, "action", None) == "unmask":
            return True
        return services.can_edit(request.user)


def _service(call, *args, **kwargs):
    """Run a service action, turning its Django validation errors into DRF's format (field → messages)."""
    try:
        return call(*args, **kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise serializers.ValidationError(detail) from None


class WithinFilter(filters.FilterSet):
    within = filters.CharFilter(
        field_name="region_code", lookup_expr="startswith", label="Region code prefix (inside your scope)"
    )


class RegistryViewSet(
    ScopedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [RegistryAccess]

    def perform_create(self, serializer):
        serializer.instance = _service(self.create_record, dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = _service(
            self.update_record, serializer.instance, dict(serializer.validated_data)
        )

    def create_record(self, data):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def update_record(self, obj, data):
        return services.update_record(obj, by=self.request.user, request=self.request, **data)


# --- People ---


class PersonFilter(WithinFilter):
    q = filters.CharFilter(
        method="search",
        label="Exact ID number or mobile number (blind index), or part of a name or current address",
    )
    tag = filters.ChoiceFilter(method="in_group", choices=Tag.choices)

    class Meta:
        model = Person
        fields = ["residence_type", "tag", "within", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(pk__in=services.find_people(self.request.user, value).values("pk"))

    def in_group(self, queryset, name, value):
        return services.in_group(queryset, self.request.user, value)


MASKING = (
    "Personal fields (name, id_number, phone, contact_phone) are always masked for the caller's role: "
    "staff see e.g. 370***********1238 and 138****8000, third-party roles (property managers, service "
    "providers) 3****************8. Use /unmask/ with a reason to see one field in plaintext."
)


@extend_schema_view(
    list=extend_schema(description="People in your scope. " + MASKING),
    retrieve=extend_schema(description="One person. " + MASKING),
    create=extend_schema(
        description="Register a person, or update the one with the same ID number. Write plaintext; the "
        "answer is masked."
    ),
    update=extend_schema(description="Change a person. " + MASKING),
    partial_update=extend_schema(description="Change some fields of a person. " + MASKING),
)
class PersonViewSet(RegistryViewSet):
    queryset = Person.objects.order_by("-pk")
    serializer_class = s.PersonSerializer
    filterset_class = PersonFilter

    def get_queryset(self):
        return super().get_queryset().prefetch_related("tags")

    def create_record(self, data):
        return services.register_person(
            services.PersonInput(**data), by=self.request.user, request=self.request
        )[0]

    def update_record(self, person, data):
        current = {
            field: getattr(person, field)
            for field in ("name", "id_number", "region", "phone", "ethnicity", "residence_type")
            + ("contact_name", "contact_phone", "note")
        }
        data = services.PersonInput(**(current | data))
        return services.update_person(person, data, by=self.request.user, request=self.request)

    @extend_schema(
        request=s.UnmaskSerializer,
        responses=s.UnmaskedSerializer,
        description="The plaintext of one personal field, for roles allowed to unmask, with a reason of at "
        "least 4 characters. Each call writes an audit record (who, when, which field, why).",
        examples=[OpenApiExample("Unmask the phone", value={"field": "phone", "reason": "回访核实联系方式"})],
    )
    @action(detail=True, methods=["post"])
    def unmask(self, request, pk=None):
        person = self.get_object()
        if not services.can_unmask(request.user):
            raise PermissionDenied("Your role may not see unmasked personal data.")
        body = s.UnmaskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        field = body.validated_data["field"]
        value = _service(
            services.unmask, request.user, person, field, body.validated_data["reason"], request=request
        )
        response = Response({"field": field, "value": value})
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        request=s.PersonTagSerializer,
        responses={201: s.PersonTagSerializer},
        description="Put the person in a special group. Registers kept by law use statutory_duty; the "
        "optional groups may use separate_consent, and then consent_purpose (and notice_version) record the "
        "person's consent with the tag. A group refuses a basis the law does not allow for it. Audited.",
        examples=[
            OpenApiExample(
                "Needs care, on consent",
                value={"tag": "needs_care", "basis": "separate_consent", "consent_purpose": "关爱走访"},
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="tags")
    def add_tag(self, request, pk=None):
        person = self.get_object()
        body = s.PersonTagSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        person_tag = _service(self._tag, person, data)
        return Response(s.PersonTagSerializer(person_tag).data, status=201)

    @transaction.atomic
    def _tag(self, person, data):
        consent = None
        if data["basis"] in services.CONSENT_BASES and data.get("consent_purpose", "").strip():
            consent = services.record_consent(
                person,
                data["consent_purpose"],
                basis=data["basis"],
                notice_version=data.get("notice_version", ""),
                by=self.request.user,
                request=self.request,
            )
        return services.tag_person(
            person,
            data["tag"],
            data["basis"],
            detail=data.get("detail", "").strip(),
            basis_reference=data.get("basis_reference", "").strip(),
            consent=consent,
            by=self.request.user,
            request=self.request,
        )

    @extend_schema(
        request=None,
        responses={204: None},
        description="Take the person out of a special group (404 if they are not in it). Audited.",
    )
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<tag>[a-z0-9_]+)")
    def remove_tag(self, request, pk=None, tag=None):
        person = self.get_object()
        if tag not in Tag.values or not _service(
            services.untag_person, person, tag, by=request.user, request=request
        ):
            raise NotFound
        return Response(status=204)


# --- Places ---


class BuildingViewSet(RegistryViewSet):
    """Buildings in your scope."""

    queryset = Building.objects.order_by("region_code", "estate", "name")
    serializer_class = s.BuildingSerializer
    filterset_class = type(
        "BuildingFilter", (WithinFilter,), {"Meta": type("Meta", (), {"model": Building, "fields": ["kind"]})}
    )

    def create_record(self, data):
        return services.ensure_building(
            data.pop("region"), data.pop("estate", ""), data.pop("name"), by=self.request.user, **data
        )


class HouseFilter(WithinFilter):
    q = filters.CharFilter(field_name="address", lookup_expr="contains", label="Part of the address")

    class Meta:
        model = House
        fields = ["use", "building", "within", "q"]


@extend_schema_view(
    create=extend_schema(description="Register a house in a building (its unit is created when new)."),
)
class HouseViewSet(RegistryViewSet):
    """Houses in your scope; ``/residencies/?house=`` lists the people living there, now and before."""

    queryset = House.objects.order_by("address", "pk")
    serializer_class = s.HouseSerializer
    filterset_class = HouseFilter

    def get_queryset(self):
        return super().get_queryset().select_related("unit")

    def create_record(self, data):
        building = data.pop("building")
        unit = data.pop("unit", {}).get("name", "")
        return services.register_house(building, unit, data.pop("number"), by=self.request.user, **data)[0]

    def update_record(self, house, data):
        data.pop("unit", None)
        data.pop("building", None)
        data.pop("number", None)
        return services.update_record(house, by=self.request.user, request=self.request, **data)


class ResidencyFilter(WithinFilter):
    current = filters.BooleanFilter(field_name="end", lookup_expr="isnull", label="Only current residencies")

    class Meta:
        model = Residency
        fields = ["person", "house", "relation", "current", "within"]


@extend_schema_view(
    create=extend_schema(description="Record that a person lives in (or owns) a house from a date."),
    update=extend_schema(description="Record the move-out date (``end``); other fields are kept."),
    partial_update=extend_schema(description="Record the move-out date (``end``)."),
)
class ResidencyViewSet(RegistryViewSet):
    """Who lives in which house, with dates: ``?house=`` gives its people, ``?person=`` their houses."""

    queryset = Residency.objects.order_by("-pk")
    serializer_class = s.ResidencySerializer
    filterset_class = ResidencyFilter

    def get_queryset(self):
        return super().get_queryset().select_related("person")

    def create_record(self, data):
        return services.move_in(
            data["person"], data["house"], data["relation"], start=data.get("start"), by=self.request.user
        )

    def update_record(self, residency, data):
        return services.move_out(residency, end=data.get("end"), by=self.request.user)


class HouseholdViewSet(RegistryViewSet):
    """Households (户) in your scope, with their members (names masked)."""

    queryset = Household.objects.order_by("-pk")
    serializer_class = s.HouseholdSerializer
    filterset_fields = ["house", "head"]

    def get_queryset(self):
        return super().get_queryset().prefetch_related("memberships__person")

    def create_record(self, data):
        return services.create_household(
            data["house"],
            data["head"],
            number=data.get("number", ""),
            by=self.request.user,
            request=self.request,
        )

    def update_record(self, household, data):
        data.pop("house", None)
        return services.update_record(household, by=self.request.user, request=self.request, **data)


# --- Organisations and things ---


class OrganisationFilter(WithinFilter):
    q = filters.CharFilter(method="search", label="Part of the name, or the exact credit code")

    class Meta:
        model = Organisation
        fields = ["kind", "within", "q"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__contains=value) | Q(credit_code=value.strip().upper()))


class OrganisationViewSet(RegistryViewSet):
    """Organisations in your scope; the contact phone is masked."""

    queryset = Organisation.objects.order_by("name", "pk")
    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter

    def create_record(self, data):
        return services.register_organisation(
            data.pop("region"),
            data.pop("name"),
            data.pop("credit_code"),
            data.pop("kind"),
            by=self.request.user,
            **data,
        )[0]


class FacilityViewSet(RegistryViewSet):
    """Public facilities (components) in your scope."""

    queryset = Facility.objects.order_by("code")
    serializer_class = s.FacilitySerializer
    filterset_fields = ["kind", "state", "code"]

    def create_record(self, data):
        return services.register_facility(
            data.pop("region"), data.pop("kind"), data.pop("code"), by=self.request.user, **data
        )[0]


class VehicleViewSet(RegistryViewSet):
    """Vehicles in your scope; third-party roles see plates partly hidden."""

    queryset = Vehicle.objects.order_by("plate")
    serializer_class = s.VehicleSerializer
    filterset_fields = ["kind", "owner", "plate"]

    def create_record(self, data):
        return services.register_vehicle(
            data["region"],
            data["plate"],
            owner=data.get("owner"),
            kind=data.get("kind", Vehicle.Kind.CAR),
            by=self.request.user,
        )[0]
