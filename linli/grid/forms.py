"""Forms of the grid pages. They only parse input; who may do what and what a step needs is services.py's."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.core.forms import ConsoleForm

from .models import Evidence, Source, State, Urgency
from .queries import STATUS_CHOICES

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS = 6

# What phone cameras and browsers hand us; anything else is refused before it is stored.
SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


def photo_type(head: bytes) -> str | None:
    """The image type a file's first bytes announce, or None when it is no photo we accept."""
    for magic, kind in SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heif"):
        return "image/heic"
    return None


def check_photos(files) -> list:
    """Refuse anything that is not a photo of a sensible size, in words a user can act on."""
    files = [f for f in files if f]
    if len(files) > MAX_PHOTOS:
        raise ValidationError(_("Attach at most %(n)s photos.") % {"n": MAX_PHOTOS})
    for upload in files:
        if upload.size > MAX_PHOTO_BYTES:
            raise ValidationError(
                _("%(name)s is larger than 10 MB; take the photo at a lower resolution.")
                % {"name": upload.name}
            )
        head = upload.read(16)
        upload.seek(0)
        if photo_type(head) is None:
            raise ValidationError(
                _("%(name)s is not a photo (JPEG, PNG, WebP or HEIC).") % {"name": upload.name}
            )
    return files


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotoField(forms.FileField):
    """Several photos from one input: the camera on a phone, the file picker on a desktop."""

    def __init__(self, *args, capture=True, **kwargs):
        attrs = {"accept": "image/*", "multiple": True}
        if capture:
            attrs["capture"] = "environment"
        kwargs.setdefault("widget", MultiplePhotoInput(attrs=attrs))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        files = data if isinstance(data, list | tuple) else [data]
        return check_photos([single(f, initial) for f in files if f])


class LocationMixin(forms.Form):
    """A point from the browser's geolocation; hidden, filled by the page's script."""

    lon = forms.FloatField(required=False, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, widget=forms.HiddenInput)
    accuracy = forms.FloatField(required=False, widget=forms.HiddenInput)


def category_choices(categories) -> list:
    """Minor categories grouped under their major class, for a <select> with optgroups."""
    groups: dict[str, list] = {}
    for cat in categories:
        groups.setdefault(cat.parent.name, []).append((cat.pk, cat.name))
    return [("", "—")] + [(major, minors) for major, minors in groups.items()]


class ReportForm(LocationMixin, ConsoleForm):
    """A new event from a grid worker on patrol, a staff member or a resident."""

    category = forms.TypedChoiceField(label=_("Category"), coerce=int)
    title = forms.CharField(label=_("What is wrong"), max_length=100)
    description = forms.CharField(
        label=_("Details"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    photos = PhotoField(label=_("Photos"))
    grid = forms.ChoiceField(
        label=_("Grid"),
        required=False,
        help_text=_("Only needed when the location cannot be found."),
    )
    address = forms.CharField(label=_("Address or landmark"), max_length=256, required=False)
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.NORMAL)

    def __init__(self, *args, categories, grids, with_urgency=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.categories = {c.pk: c for c in categories}
        self.fields["category"].choices = category_choices(categories)
        choices: list = [("", "—")]
        by_parent: dict[str, list] = {}
        for grid in grids:
            parent = getattr(grid, "parent", None)
            if parent is not None and len(grids) > 30:
                by_parent.setdefault(parent.name, []).append((grid.code, grid.name))
            else:
                choices.append((grid.code, grid.name))
        choices += list(by_parent.items())
        self.fields["grid"].choices = choices
        if not with_urgency:
            del self.fields["urgency"]

    def clean_category(self):
        value = self.cleaned_data["category"]
        if value not in self.categories:
            raise ValidationError(_("Choose a category from the list."))
        return self.categories[value]


class StepForm(LocationMixin, ConsoleForm):
    """One step of the loop: asks exactly what the step needs (fields are removed for other steps)."""

    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    photos_before = PhotoField(label=_("Photo before handling"))
    photos_after = PhotoField(label=_("Photo after handling"))
    photos_inspection = PhotoField(label=_("Inspection photo"))
    assignee = forms.TypedChoiceField(label=_("Person"), required=False, coerce=int, empty_value=None)
    department = forms.TypedChoiceField(label=_("Department"), required=False, coerce=int, empty_value=None)
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
    )
    extra_hours = forms.DecimalField(
        label=_("Extra working hours"), required=False, min_value=0, max_digits=6, decimal_places=2
    )
    into = forms.CharField(
        label=_("Number of the event this one duplicates"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    urgency = forms.ChoiceField(label=_("Urgency"), required=False, choices=[("", "—")] + Urgency.choices)
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    grid = forms.ChoiceField(label=_("The grid it really is in"), required=False)

    # Which optional inputs each step asks for; the note is always offered.
    FIELDS = {
        "verify": {"location"},
        "cancel": set(),
        "register": {"urgency", "category"},
        "dispatch": {"assignee", "department"},
        "accept": {"location"},
        "report_done": {"photos_after", "location"},
        "inspect_ok": {"photos_inspection", "location"},
        "inspect_fail": {"photos_inspection", "location"},
        "self_handle": {"photos_before", "photos_after", "location"},
        "approve_self": set(),
        "evaluate": {"rating"},
        "reopen": set(),
        "request_return": set(),
        "request_extension": {"extra_hours"},
        "request_suspension": set(),
        "resume": set(),
        "escalate": set(),
        "merge": {"into"},
        "relocate": {"grid"},
    }
    PHOTO_KINDS = {
        "photos_before": Evidence.Kind.BEFORE,
        "photos_after": Evidence.Kind.AFTER,
        "photos_inspection": Evidence.Kind.INSPECTION,
    }
    OPTIONAL = {"note", "lon", "lat", "accuracy"}

    def __init__(
        self, *args, action, assignees=(), departments=(), categories=(), grids=(), note_required=False, **kw
    ):
        super().__init__(*args, **kw)
        self.action = action
        wanted = set(self.FIELDS.get(action, set()))
        if "location" in wanted:
            wanted |= {"lon", "lat", "accuracy"}
        for name in list(self.fields):
            if name not in wanted and name not in self.OPTIONAL:
                del self.fields[name]
            elif name in ("lon", "lat", "accuracy") and "location" not in wanted:
                del self.fields[name]
        if note_required:
            self.fields["note"].label = _("Reason or note (required)")
            self.fields["note"].widget.attrs["required"] = True
        if "assignee" in self.fields:
            self.fields["assignee"].choices = [("", _("— the grid's worker or the department —"))] + [
                (u.pk, f"{u.display_name or u.username} · {u.get_role_display()}") for u in assignees
            ]
        if "department" in self.fields:
            self.fields["department"].choices = [("", "—")] + [(d.pk, d.name) for d in departments]
        if "category" in self.fields:
            self.fields["category"].choices = [("", _("— keep the current category —"))] + [
                (major, minors) for major, minors in category_choices(categories)[1:]
            ]
        if "grid" in self.fields:
            self.fields["grid"].choices = [("", "—")] + [(g.code, f"{g.name} ({g.code})") for g in grids]
        if "rating" in self.fields:
            self.fields["rating"].widget.attrs["class"] = "form-check-input"
            self.fields["rating"].label = _("How satisfied are you? (5 = very satisfied)")

    def photos(self) -> dict[str, list]:
        return {
            kind: self.cleaned_data[name]
            for name, kind in self.PHOTO_KINDS.items()
            if name in self.fields and self.cleaned_data.get(name)
        }


class DecisionForm(ConsoleForm):
    note = forms.CharField(
        label=_("Decision note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class QueueFilterForm(forms.Form):
    """The queue's filters, read from the query string (a filtered queue is a link one can share)."""

    status = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[
            ("open", _("Open")),
            ("overdue", _("Overdue (red)")),
            ("yellow", _("Due soon (yellow)")),
            ("closed", _("Closed or cancelled")),
            ("all", _("All")),
        ],
    )
    state = forms.ChoiceField(label=_("State"), required=False, choices=[("", "—")] + State.choices)
    category = forms.TypedChoiceField(label=_("Category"), required=False, coerce=int, empty_value=None)
    source = forms.ChoiceField(label=_("Source"), required=False, choices=[("", "—")] + Source.choices)
    urgency = forms.ChoiceField(label=_("Urgency"), required=False, choices=[("", "—")] + Urgency.choices)
    since = forms.DateField(
        label=_("Reported from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=pgettext_lazy("period", "to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    assignee = forms.TypedChoiceField(label=_("Assignee"), required=False, coerce=int, empty_value=None)
    department = forms.TypedChoiceField(label=_("Department"), required=False, coerce=int, empty_value=None)
    q = forms.CharField(label=_("Number or title"), required=False, max_length=100)

    def __init__(self, *args, categories=(), assignees=(), departments=(), **kwargs):
        super().__init__(*args, **kwargs)
        major = {}
        for cat in categories:
            major.setdefault(cat.parent_id, (cat.parent.name, []))[1].append((cat.pk, f"· {cat.name}"))
        choices: list = [("", "—")]
        for parent_id, (name, minors) in major.items():
            choices.append((parent_id, name))
            choices.extend(minors)
        self.fields["category"].choices = choices
        self.fields["assignee"].choices = [("", "—")] + [
            (u.pk, u.display_name or u.username) for u in assignees
        ]
        self.fields["department"].choices = [("", "—")] + [(d.pk, d.name) for d in departments]
        for name, field in self.fields.items():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            size = "form-select-sm" if css == "form-select" else "form-control-sm"
            field.widget.attrs["class"] = f"{css} {size}"
            field.widget.attrs["id"] = f"filter-{name}"

    def values(self) -> dict:
        if not self.is_bound or not self.is_valid():
            data = getattr(self, "cleaned_data", {})
        else:
            data = self.cleaned_data
        values = {k: v for k, v in data.items() if v not in (None, "")}
        if values.get("status") not in STATUS_CHOICES:
            values["status"] = "open"
        return values
