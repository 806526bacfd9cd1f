"""Console forms of the register. They only parse input; the rules live in services.py."""

from django import forms
from django.utils.translation import gettext_lazy as _

from linli.core.forms import ConsoleForm
from linli.core.models import Region

from . import services
from .models import Facility, House, LegalBasis, Organisation, Person, Residency, Tag, Vehicle

KEEP_HELP = _("Leave empty to keep the current value (shown masked above).")


def region_choices(user):
    """Communities and grids in the user's scope, where records are kept."""
    regions = (
        Region.objects.visible_to(user)
        .filter(level__in=["community", "grid"])
        .only("code", "name")
        .order_by("code")
    )
    return [(r.code, f"{r.name} ({r.code})") for r in regions]


class RegionalForm(ConsoleForm):
    region = forms.ChoiceField(label=_("Region"))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].choices = region_choices(user)
        self.order_fields(["region"])

    def clean_region(self):
        return Region.objects.get(code=self.cleaned_data["region"])


class PersonForm(RegionalForm):
    name = forms.CharField(label=_("Name"), max_length=50)
    id_number = forms.CharField(
        label=_("ID number"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    ethnicity = forms.CharField(label=_("Ethnicity"), max_length=20, required=False, initial="汉族")
    residence_type = forms.ChoiceField(label=_("Residence type"), choices=Person.ResidenceType.choices)
    contact_name = forms.CharField(label=_("Emergency contact"), max_length=50, required=False)
    contact_phone = forms.CharField(
        label=_("Emergency contact phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            # The stored identifiers are never put back into the page; an empty box keeps them.
            for name in ("id_number", "phone", "contact_phone"):
                self.fields[name].required = False
                self.fields[name].help_text = KEEP_HELP

    def person_input(self, person: Person | None = None) -> services.PersonInput:
        data = dict(self.cleaned_data)
        if person is not None:
            for name in ("id_number", "phone", "contact_phone"):
                if not data.get(name):
                    data[name] = getattr(person, name)
        return services.PersonInput(**data)


class HouseForm(RegionalForm):
    estate = forms.CharField(label=_("Estate or village group"), max_length=100, required=False)
    building = forms.CharField(label=_("Building"), max_length=50)
    unit = forms.CharField(label=_("Unit"), max_length=20, required=False)
    number = forms.CharField(label=_("Room number"), max_length=20)
    area = forms.DecimalField(
        label=_("Floor area (m²)"), max_digits=8, decimal_places=2, required=False, min_value=0
    )
    use = forms.ChoiceField(label=_("Use"), choices=House.Use.choices)
    lon = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)


class HouseEditForm(ConsoleForm):
    area = forms.DecimalField(
        label=_("Floor area (m²)"), max_digits=8, decimal_places=2, required=False, min_value=0
    )
    use = forms.ChoiceField(label=_("Use"), choices=House.Use.choices)
    lon = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)


class OrganisationForm(RegionalForm):
    name = forms.CharField(label=_("Name"), max_length=100)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=24)
    kind = forms.ChoiceField(label=_("Kind"), choices=Organisation.Kind.choices)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    contact_name = forms.CharField(label=_("Contact"), max_length=50, required=False)
    contact_phone = forms.CharField(
        label=_("Contact phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["contact_phone"].help_text = KEEP_HELP


class FacilityForm(RegionalForm):
    kind = forms.CharField(label=_("Component kind"), max_length=50)
    code = forms.CharField(label=_("Component code"), max_length=30)
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    state = forms.ChoiceField(label=_("State"), choices=Facility.State.choices)
    lon = forms.FloatField(label=_("Longitude"), required=False, min_value=-180, max_value=180)
    lat = forms.FloatField(label=_("Latitude"), required=False, min_value=-90, max_value=90)


class VehicleForm(RegionalForm):
    plate = forms.CharField(label=_("Plate"), max_length=12)
    kind = forms.ChoiceField(label=_("Kind"), choices=Vehicle.Kind.choices)
    owner_id_number = forms.CharField(
        label=_("Owner’s ID number"),
        max_length=20,
        required=False,
        help_text=_("Optional: the exact ID number of an owner registered in your scope."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class MoveInForm(ConsoleForm):
    id_number = forms.CharField(
        label=_("ID number of the person"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    relation = forms.ChoiceField(label=_("Relation"), choices=Residency.Relation.choices)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class UnmaskForm(ConsoleForm):
    field = forms.ChoiceField(label=_("Field"), choices=[(f, f) for f in services.MASKED_FIELDS[Person]])
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        min_length=services.MIN_REASON_LENGTH,
        error_messages={
            "required": _("Say why you need to see this."),
            "min_length": _("Say why you need to see this (at least %(limit_value)d characters)."),
        },
    )


class PersonFilterForm(forms.Form):
    """The people list's filters; every value is optional and checked against the user's scope in the view."""

    q = forms.CharField(required=False, max_length=100)
    tag = forms.ChoiceField(required=False, choices=[("", _("All groups")), *Tag.choices])
    residence_type = forms.ChoiceField(
        required=False, choices=[("", _("All residence types")), *Person.ResidenceType.choices]
    )


class TagForm(ConsoleForm):
    """Put a person in a special group; a consent basis records the person's consent with it."""

    tag = forms.ChoiceField(label=_("Group"), choices=Tag.choices)
    basis = forms.ChoiceField(
        label=_("Legal basis"),
        choices=[(b, LegalBasis(b).label) for b in (LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT)],
    )
    detail = forms.CharField(
        label=_("Detail (e.g. disability type and grade)"), max_length=100, required=False
    )
    basis_reference = forms.CharField(
        label=_("Basis reference (law, register or certificate)"), max_length=200, required=False
    )
    consent_given = forms.BooleanField(
        label=_("The person gave separate consent for this purpose"), required=False
    )
    purpose = forms.CharField(label=_("Purpose consented to"), max_length=50, required=False)
    notice_version = forms.CharField(label=_("Notice version shown"), max_length=20, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consent_given"].widget.attrs["class"] = "form-check-input"


class HouseholdForm(ConsoleForm):
    """A household in a house: the head is one of the people living there now."""

    head = forms.TypedChoiceField(label=_("Head of household"), coerce=int)
    number = forms.CharField(label=_("Household number"), max_length=30, required=False)

    def __init__(self, *args, residents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["head"].choices = list(residents)


class MemberForm(ConsoleForm):
    """Add one of the people living in the household's house to it."""

    person = forms.TypedChoiceField(label=_("Person"), coerce=int)
    relation_to_head = forms.CharField(label=_("Relation to head"), max_length=20, required=False)

    def __init__(self, *args, residents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = list(residents)
