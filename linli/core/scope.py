"""The one place that decides which rows a user may see: the region-scope rule.

Every model holding regional or personal data uses ``ScopedQuerySet`` and names the field that carries its
region code (``scope_field``) and, if residents own rows of it, the path to the owning user (``owner_field``).
Views, API, exports, search and dashboards all call ``visible_to(user)``; none decides scope by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import UserManager
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q
from django.http import Http404

if TYPE_CHECKING:
    from .models import User


def code_within(code: str, scope_codes: list[str]) -> bool:
    """Whether a region code lies inside (or is) one of the scope codes."""
    return any(code.startswith(scope) for scope in scope_codes)


class ScopedQuerySet(models.QuerySet):
    def visible_to(self, user: User, region_code: str | None = None) -> ScopedQuerySet:
        """Rows this user may see, optionally narrowed to one region inside their scope."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_resident:
            owner_field = getattr(self.model, "owner_field", None)
            return self.filter(**{owner_field: user.pk}) if owner_field else self.none()
        scope_codes = user.scope_codes
        if region_code is not None:
            if not code_within(region_code, scope_codes):
                return self.none()
            scope_codes = [region_code]
        if not scope_codes:
            return self.none()
        scope_field: str = self.model.scope_field  # type: ignore[attr-defined]
        field = f"{scope_field}__startswith"
        condition = Q()
        for code in scope_codes:
            condition |= Q(**{field: code})
        rows = self.filter(condition)
        # Scoping through a to-many relation can repeat a row once per matching scope.
        return rows.distinct() if "__" in scope_field else rows

    def get_visible(self, user: User, **lookup) -> models.Model:
        """One row the user may see, or 404: another region's object is answered as if it did not exist."""
        try:
            return self.visible_to(user).get(**lookup)
        except (ObjectDoesNotExist, ValueError, ValidationError) as exc:
            raise Http404 from exc


class ScopedUserManager(UserManager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    pass
