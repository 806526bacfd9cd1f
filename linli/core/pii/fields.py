"""Model fields that keep personal data encrypted at rest and searchable by exact value.

Declare the encrypted value, and next to it a blind index when staff must find a record by it::

    class Person(models.Model):
        id_number = EncryptedCharField(_("ID number"), max_length=18)
        id_number_index = BlindIndexField(source="id_number", normalise=normalise_id_number)

    Person.objects.filter(id_number__blind="370103199001011238")   # exact match through the index

The column holds only ``v1:<algorithm>:<key id>:<base64>``; Python code sees plaintext. Encrypted fields
refuse every lookup except ``isnull`` (a comparison with ciphertext would silently match nothing) and offer
``blind``, which needs a BlindIndexField on the same model. The index is filled on every ``save()`` and
``bulk_create()``; ``save(update_fields=...)`` naming the encrypted field must name its index too (it raises
otherwise), and ``QuerySet.update``/``bulk_update`` bypass it: set both through ``save()``.
Empty strings are stored as they are: emptiness is not a secret, and blank form fields keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.core import checks
from django.core.exceptions import FieldError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.lookups import In, IsNull
from django.db.models.signals import pre_save

from . import crypto


class EncryptedFieldMixin:
    """Stores ciphertext, returns plaintext. ``associated_data`` defaults to ``<table>.<column>``."""

    def __init__(self, *args: Any, associated_data: str | None = None, **kwargs: Any) -> None:
        self._associated_data = associated_data
        for forbidden in ("unique", "db_index", "primary_key"):
            if kwargs.get(forbidden):
                raise TypeError(f"An encrypted field cannot be {forbidden}: index it with a BlindIndexField.")
        super().__init__(*args, **kwargs)

    @property
    def associated_data(self) -> str:
        field = cast(models.Field, self)  # the mixin is only ever used with a Field
        return self._associated_data or f"{field.model._meta.db_table}.{field.column}"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self._associated_data:
            kwargs["associated_data"] = self._associated_data
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        # Ciphertext is longer than the plaintext; text costs nothing extra on either database.
        return "TextField"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value, associated_data=self.associated_data)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value), associated_data=self.associated_data)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "blind":
            return BlindLookup
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted: only '__isnull' and '__blind' lookups are "
            f"possible (add a BlindIndexField for exact search), not '__{lookup_name}'."
        )

    def get_transform(self, lookup_name):
        return None


class EncryptedCharField(EncryptedFieldMixin, models.TextField):
    """A short encrypted string; ``max_length`` limits the plaintext, the column is text."""

    def __init__(self, *args: Any, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, max_length=max_length, **kwargs)
        if max_length is not None:
            self.validators.append(MaxLengthValidator(max_length))

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.CharField, "widget": forms.TextInput, **kwargs})


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    """Encrypted free text (notes, addresses)."""


class BlindIndexField(models.CharField):
    """A keyed HMAC of another encrypted field's normalised value, computed on save, for exact search."""

    def __init__(
        self,
        *args: Any,
        source: str,
        normalise: Callable[[str], str] | None = None,
        bits: int = crypto.DEFAULT_INDEX_BITS,
        context: str | None = None,
        **kwargs: Any,
    ) -> None:
        if bits % 8 or not 32 <= bits <= 256:
            raise ValueError("bits must be a multiple of 8 between 32 and 256")
        self.source, self.normalise, self.bits, self._context = source, normalise, bits, context
        kwargs.setdefault("max_length", bits // 4)
        kwargs.setdefault("db_index", not kwargs.get("unique", False))
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        # The normaliser and context change index values, not the schema; migrations need only the source.
        kwargs["source"] = self.source
        if self.bits != crypto.DEFAULT_INDEX_BITS:
            kwargs["bits"] = self.bits
        for default in ("editable", "blank"):
            kwargs.pop(default, None)
        return name, path, args, kwargs

    @property
    def source_field(self) -> EncryptedFieldMixin:
        return cast(EncryptedFieldMixin, self.model._meta.get_field(self.source))

    @property
    def context(self) -> str:
        """What the HMAC is bound to, so one phone number gives unlinkable indexes in different tables."""
        return self._context or self.source_field.associated_data

    def indexes_for(self, value: str) -> list[str]:
        """The index values a search for ``value`` must match (one per blind-index key)."""
        return crypto.blind_indexes(value, context=self.context, normalise=self.normalise, bits=self.bits)

    def compute(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return self.indexes_for(str(value))[0]

    def pre_save(self, model_instance, add):
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        if not cls._meta.abstract:
            pre_save.connect(
                _require_index_in_update_fields, sender=cls, weak=False, dispatch_uid=(cls, name)
            )

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        try:
            source = self.model._meta.get_field(self.source)
        except Exception:
            source = None
        if not isinstance(source, EncryptedFieldMixin):
            errors.append(
                checks.Error(
                    f"BlindIndexField source {self.source!r} is not an encrypted field of this model.",
                    obj=self,
                    id="linli_pii.E001",
                )
            )
        return errors


def _require_index_in_update_fields(sender, instance, update_fields=None, **kwargs):
    """Refuse ``save(update_fields=[source])`` without the index: it would leave a stale index."""
    if not update_fields:
        return
    for field in sender._meta.concrete_fields:
        if (
            isinstance(field, BlindIndexField)
            and field.source in update_fields
            and field.name not in update_fields
        ):
            raise ValueError(
                f"save(update_fields=...) names {field.source!r}: add its index {field.name!r} too."
            )


def blind_index_field_for(model: type[models.Model], source: str) -> BlindIndexField:
    """The BlindIndexField of ``model`` that indexes ``source``."""
    for field in model._meta.concrete_fields:
        if isinstance(field, BlindIndexField) and field.source == source:
            return field
    raise FieldError(f"{model.__name__}.{source} has no BlindIndexField: it cannot be searched by value.")


class BlindLookup(In):
    """``encrypted__blind=value``: an ``IN`` on the index column over the value's index under each key."""

    lookup_name = "blind"

    def __init__(self, lhs, rhs):
        target = getattr(lhs, "target", None)
        if target is None or not isinstance(target, EncryptedFieldMixin):
            raise FieldError("'__blind' works on an encrypted model field only.")
        index = blind_index_field_for(target.model, target.name)
        super().__init__(index.get_col(lhs.alias), index.indexes_for(str(rhs)))


def encrypted_fields(model: type[models.Model]) -> list[EncryptedFieldMixin]:
    """The encrypted fields in ``model``'s own table (not those of multi-table parents)."""
    return [f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedFieldMixin)]


def blind_index_fields(model: type[models.Model]) -> list[BlindIndexField]:
    return [f for f in model._meta.local_concrete_fields if isinstance(f, BlindIndexField)]
