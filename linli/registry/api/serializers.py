"""Serializers of the register. Personal fields are written in plaintext and always read back masked."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from linli.core.models import Region
from linli.core.pii.masking import mask

from .. import services
from ..models import (
    Building,
    Facility,
    House,
    Household,
    LegalBasis,
    Organisation,
    Person,
    Residency,
    Tag,
    Vehicle,
)

UNMASK_HINT = "Use POST /api/v1/people/{id}/unmask/ with a reason to see the plaintext (audited)."


class MaskedField(serializers.Field):
    """A personal field: plaintext in, masked for the caller's role out (PUBLIC masks for third parties)."""

    def __init__(self, field: str, **kwargs):
        self.personal_field = field
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, obj):
        return services.masked(self.context["request"].user, obj, self.personal_field)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(self.error_messages["invalid"])
        return {self.personal_field: data}

    default_error_messages = {"invalid": "Enter text."}


@extend_schema_field({"type": "string", "example": "张**"})
class MaskedNameField(MaskedField):
    pass


@extend_schema_field({"type": "string", "example": "370***********1238"})
class MaskedIdNumberField(MaskedField):
    pass


@extend_schema_field({"type": "string", "example": "138****8000"})
class MaskedPhoneField(MaskedField):
    pass


@extend_schema_field({"type": "string", "example": "鲁A·D12345"})
class PlateField(serializers.CharField):
    """Staff see plates in full (parking needs them); third parties see 2 serial characters hidden."""

    def to_representation(self, value):
        return mask("plate", value, services.mask_view(self.context["request"].user))


def _masked_help(example: str, public: str | None = None) -> str:
    public_note = f" (third-party roles see {public})" if public else ""
    return f"Masked, e.g. {example}{public_note}; written in plaintext. {UNMASK_HINT}"


class ScopedRegionField(serializers.SlugRelatedField):
    """A community or grid code inside the caller's scope."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "code")
        kwargs.setdefault("help_text", "Code of a region (community or grid) inside your scope.")
        super().__init__(**kwargs)

    def get_queryset(self):
        return Region.objects.visible_to(self.context["request"].user)


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A related record the caller may see; others answer as if they did not exist."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.visible_to(self.context["request"].user)


class RegistrySerializer(serializers.ModelSerializer):
    region = ScopedRegionField()
    display_url = serializers.SerializerMethodField(help_text="The record's page in the staff console.")
    console_view = ""

    def get_display_url(self, obj) -> str:
        return reverse(self.console_view[0], kwargs={**self.console_view[1], "pk": obj.pk})


class PersonSerializer(RegistrySerializer):
    console_view = ("registry:person_detail", {})
    name = MaskedNameField("name", help_text=_masked_help("张**"))
    id_number = MaskedIdNumberField(
        "id_number", help_text=_masked_help("370***********1238", "3****************8")
    )
    phone = MaskedPhoneField("phone", required=False, help_text=_masked_help("138****8000"))
    contact_phone = MaskedPhoneField("contact_phone", required=False, help_text=_masked_help("138****8000"))
    age = serializers.IntegerField(read_only=True)
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="tag")

    class Meta:
        model = Person
        fields = [
            "id",
            "region",
            "name",
            "id_number",
            "sex",
            "birth_date",
            "age",
            "phone",
            "ethnicity",
            "residence_type",
            "contact_name",
            "contact_phone",
            "note",
            "tags",
            "updated_at",
            "display_url",
        ]
        read_only_fields = ["sex", "birth_date", "updated_at"]


class PersonTagSerializer(serializers.Serializer):
    """A special-group tag to add (write) or as kept (read); a consent basis needs ``consent_purpose``."""

    tag = serializers.ChoiceField(choices=Tag.choices)
    basis = serializers.ChoiceField(
        choices=[LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT],
        help_text="statutory_duty for the registers kept by law, separate_consent for the optional groups.",
    )
    detail = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    basis_reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    consent_purpose = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="For a consent basis: the purpose the person consented to (recorded and audited).",
    )
    notice_version = serializers.CharField(
        max_length=20, required=False, allow_blank=True, write_only=True, default=""
    )
    consent = serializers.IntegerField(
        source="consent_id",
        read_only=True,
        allow_null=True,
        help_text="The consent the tag rests on, if any.",
    )


class UnmaskSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=list(services.MASKED_FIELDS[Person]))
    reason = serializers.CharField(
        min_length=services.MIN_REASON_LENGTH, max_length=200, help_text="Why you need to see it (audited)."
    )


class UnmaskedSerializer(serializers.Serializer):
    field = serializers.CharField()
    value = serializers.CharField(help_text="The plaintext, shown once; the request is in the audit log.")


class BuildingSerializer(RegistrySerializer):
    console_view = ("registry:houses", {})

    def get_display_url(self, obj) -> str:
        return f"{reverse('registry:houses')}?q={obj.estate}{obj.name}"

    class Meta:
        model = Building
        fields = ["id", "region", "estate", "name", "address", "kind", "floors", "lon", "lat", "display_url"]
        extra_kwargs = {"address": {"required": False}}
        validators: list = []


class HouseSerializer(RegistrySerializer):
    region = ScopedRegionField(read_only=True)
    console_view = ("registry:house_detail", {})
    building = ScopedRelatedField(Building)
    unit = serializers.CharField(source="unit.name", allow_blank=True, required=False, default="")

    class Meta:
        model = House
        validators: list = []
        fields = [
            "id",
            "region",
            "building",
            "unit",
            "number",
            "address",
            "area",
            "use",
            "lon",
            "lat",
            "display_url",
        ]
        read_only_fields = ["address", "region"]


class ResidencySerializer(RegistrySerializer):
    region = ScopedRegionField(read_only=True)
    console_view = ("registry:house_detail", {})
    person = ScopedRelatedField(Person)
    house = ScopedRelatedField(House)
    person_name = MaskedNameField("name", source="person", read_only=True, help_text=_masked_help("张**"))

    def get_display_url(self, obj) -> str:
        return reverse("registry:house_detail", kwargs={"pk": obj.house_id}) + f"#residency-{obj.pk}"

    class Meta:
        model = Residency
        validators: list = []
        fields = ["id", "region", "person", "person_name", "house", "relation", "start", "end", "display_url"]
        read_only_fields = ["region"]


class HouseholdMemberSerializer(serializers.Serializer):
    person = serializers.IntegerField(source="person_id")
    name = MaskedNameField("name", source="person", read_only=True, help_text=_masked_help("张**"))
    relation_to_head = serializers.CharField()


class HouseholdSerializer(RegistrySerializer):
    region = ScopedRegionField(read_only=True)
    console_view = ("registry:household_detail", {})
    house = ScopedRelatedField(House)
    head = ScopedRelatedField(Person)
    members = HouseholdMemberSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Household
        validators: list = []
        fields = ["id", "region", "number", "house", "head", "members", "display_url"]
        read_only_fields = ["region"]


class OrganisationSerializer(RegistrySerializer):
    console_view = ("registry:kind_detail", {"kind": "organisations"})
    contact_phone = MaskedPhoneField("contact_phone", required=False, help_text=_masked_help("138****8000"))
    house = ScopedRelatedField(House, required=False, allow_null=True)

    class Meta:
        model = Organisation
        fields = [
            "id",
            "region",
            "name",
            "credit_code",
            "kind",
            "house",
            "address",
            "contact_name",
            "contact_phone",
            "lon",
            "lat",
            "display_url",
        ]
        # Uniqueness is the service's rule (an upsert by credit code), not the serializer's.
        extra_kwargs = {"credit_code": {"validators": []}}


class FacilitySerializer(RegistrySerializer):
    console_view = ("registry:kind_detail", {"kind": "facilities"})

    class Meta:
        model = Facility
        fields = ["id", "region", "kind", "code", "name", "state", "lon", "lat", "display_url"]
        extra_kwargs = {"code": {"validators": []}}


class VehicleSerializer(RegistrySerializer):
    console_view = ("registry:kind_detail", {"kind": "vehicles"})
    plate = PlateField(
        max_length=12, help_text="Staff see it in full; third-party roles see e.g. 鲁A·D1**45."
    )
    owner = ScopedRelatedField(Person, required=False, allow_null=True)

    class Meta:
        model = Vehicle
        fields = ["id", "region", "plate", "kind", "owner", "display_url"]
