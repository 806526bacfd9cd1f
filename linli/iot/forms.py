"""Forms of the IoT console pages."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import AlarmRule, Device, DeviceProfile, Severity


class Styled:
    """Bootstrap's classes on every input (like ``linli.core.forms.ConsoleForm``, for model forms too)."""

    small = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        size = " form-select-sm" if self.small else ""
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select" + size
            else:
                css = "form-control" + (" form-control-sm" if self.small else "")
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def add_error(self, field, error):
        super().add_error(field, error)
        names = error.error_dict if hasattr(error, "error_dict") else [field]
        for name in names:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", "").split():
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class DeviceFilterForm(Styled, forms.Form):
    small = True
    q = forms.CharField(required=False, label=_("Search"))
    profile = forms.ModelChoiceField(DeviceProfile.objects.all(), required=False, label=_("Profile"))
    state = forms.ChoiceField(
        required=False,
        label=_("State"),
        choices=[
            ("", _("All")),
            ("online", _("Online")),
            ("offline", _("Offline")),
            ("alarm", _("With an active alarm")),
            ("never", _("Never reported")),
        ],
    )


class DeviceForm(Styled, forms.ModelForm):
    class Meta:
        model = Device
        fields = ["name", "label", "profile", "region", "is_gateway", "lon", "lat"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        from linli.core.models import Region

        self.fields["region"].queryset = Region.objects.visible_to(user).filter(
            level__in=["community", "grid"]
        )


class RuleForm(Styled, forms.ModelForm):
    value = forms.CharField(
        required=False,
        label=_("Value"),
        help_text=_("A number (60), true/false, or text. Thresholds and rates compare with it."),
    )

    class Meta:
        model = AlarmRule
        fields = [
            "alarm_type",
            "kind",
            "key",
            "op",
            "value",
            "duration_s",
            "period_s",
            "clear_value",
            "min_clear_s",
            "severity",
            "grid_category",
            "enabled",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.value is not None:
            self.initial["value"] = json.dumps(self.instance.value, ensure_ascii=False).strip('"')

    def clean_value(self):
        text = (self.cleaned_data.get("value") or "").strip()
        if text == "":
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in (AlarmRule.RuleKind.THRESHOLD, AlarmRule.RuleKind.RATE):
            if not data.get("key"):
                self.add_error("key", _("Name the key this rule watches."))
            if data.get("value") is None:
                self.add_error("value", _("Give the value to compare with."))
            if kind == AlarmRule.RuleKind.RATE and not isinstance(data.get("value"), int | float):
                self.add_error("value", _("A rate is compared with a number (change per minute)."))
            if not data.get("op"):
                self.add_error("op", _("Choose a comparison."))
        if kind in (AlarmRule.RuleKind.NO_DATA, AlarmRule.RuleKind.NO_CHANGE) and not data.get("period_s"):
            self.add_error("period_s", _("Give the period in seconds (e.g. 43200 for 12 hours)."))
        if kind == AlarmRule.RuleKind.NO_CHANGE and not data.get("key"):
            self.add_error("key", _("Name the cumulative reading (e.g. water)."))
        return data


class ProfileForm(Styled, forms.ModelForm):
    keys_text = forms.CharField(
        required=False,
        label=_("Telemetry keys"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line: key, label, unit — e.g. temperature, 温度, °C"),
    )

    class Meta:
        model = DeviceProfile
        fields = [
            "name",
            "kind",
            "description",
            "reporting_period_s",
            "offline_timeout_s",
            "rated_power_w",
            "provision_key",
            "provision_secret",
            "provision_region",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["keys_text"] = "\n".join(
            ", ".join([k.get("key", ""), k.get("label", ""), k.get("unit", "")]).rstrip(", ")
            for k in self.instance.keys or []
        )

    def clean_keys_text(self):
        keys = []
        for line in (self.cleaned_data.get("keys_text") or "").splitlines():
            parts = [p.strip() for p in line.replace("，", ",").split(",")]
            if not parts[0]:
                continue
            if len(parts[0]) > 64:
                raise ValidationError(_("A key has at most 64 characters."))
            keys.append(
                {
                    "key": parts[0],
                    "label": parts[1] if len(parts) > 1 else "",
                    "unit": parts[2] if len(parts) > 2 else "",
                }
            )
        return keys

    def save(self, commit=True):
        self.instance.keys = self.cleaned_data["keys_text"]
        return super().save(commit)


class LightCommandForm(Styled, forms.Form):
    action = forms.ChoiceField(
        choices=[("on", _("On")), ("off", _("Off")), ("dim", _("Dim to level"))], label=_("Command")
    )
    level = forms.IntegerField(required=False, min_value=0, max_value=100, label=_("Level (%)"))

    def clean(self):
        data = super().clean()
        if data.get("action") == "dim" and data.get("level") is None:
            self.add_error("level", _("Give the level from 0 to 100."))
        return data


class RpcForm(Styled, forms.Form):
    method = forms.CharField(max_length=64, label=_("Method"))
    params = forms.CharField(required=False, label=_("Parameters (JSON)"), initial="{}")
    oneway = forms.BooleanField(required=False, label=_("One-way (no answer expected)"))

    def clean_params(self):
        text = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError(_("Not valid JSON.")) from None


class ScheduleForm(Styled, forms.Form):
    entries = forms.CharField(
        label=_("Schedule"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One line per change: time and level, e.g. 18:30 100 / 23:00 50 / 06:00 0"),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    def clean_entries(self):
        entries = []
        for line in self.cleaned_data["entries"].splitlines():
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValidationError(_("Write each line as a time and a level, e.g. 18:30 100."))
            entries.append({"time": parts[0], "level": parts[1]})
        try:
            return services.validate_entries(entries)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ImportForm(Styled, forms.Form):
    file = forms.FileField(label=_("Excel (.xlsx) or CSV file"))


class AlarmFilterForm(Styled, forms.Form):
    small = True
    status = forms.ChoiceField(
        required=False,
        label=_("Status"),
        choices=[
            ("active", _("Active")),
            ("unack", _("Active, not acknowledged")),
            ("cleared", _("Cleared")),
            ("all", _("All")),
        ],
    )
    severity = forms.ChoiceField(
        required=False, label=_("Severity"), choices=[("", _("All")), *Severity.choices]
    )
