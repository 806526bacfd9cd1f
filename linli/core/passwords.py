"""Password policy: at least 8 characters (Django's validator), three of four character classes, no name."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and other characters the password uses."""
    return sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's, with an error message of our own.

    Django 5.2 reworded its message and its Chinese catalog still has the old wording, so the error would
    appear in English on a Chinese page.
    """

    def get_error_message(self):
        message = _("The password is too short: it must have at least %(n)d characters.")
        return message % {"n": self.min_length}


class CharacterClassValidator:
    def __init__(self, required_classes: int = 3):
        self.required_classes = required_classes

    def validate(self, password, user=None):
        if character_classes(password) < self.required_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self):
        return _(
            "The password must use at least %(n)d of: lower-case letters, upper-case letters, digits, "
            "symbols."
        ) % {"n": self.required_classes}


class NotUsernameValidator:
    def validate(self, password, user=None):
        username = getattr(user, "username", "") or ""
        if username and username.lower() in password.lower():
            raise ValidationError(self.get_help_text(), code="password_contains_username")

    def get_help_text(self):
        return _("The password may not contain the username.")
