from django import forms
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput)


class TotpForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        max_length=8,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(label=_("Current password"), widget=forms.PasswordInput)
    new_password = forms.CharField(
        label=_("New password"), widget=forms.PasswordInput, help_text=" ".join(password_validators_help_texts())
    )
    new_password_again = forms.CharField(label=_("New password again"), widget=forms.PasswordInput)

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_old_password(self):
        if not self.user.check_password(self.cleaned_data["old_password"]):
            raise forms.ValidationError(_("The current password is not right."))
        return self.cleaned_data["old_password"]

    def clean(self):
        data = super().clean()
        new, again = data.get("new_password"), data.get("new_password_again")
        if new and again and new != again:
            self.add_error("new_password_again", _("The two new passwords differ."))
        elif new:
            if new == data.get("old_password"):
                self.add_error("new_password", _("The new password must differ from the current one."))
            else:
                try:
                    validate_password(new, self.user)
                except forms.ValidationError as exc:
                    self.add_error("new_password", exc)
        return data


class RegionSwitchForm(forms.Form):
    code = forms.CharField(max_length=15)
