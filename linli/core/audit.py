"""The audit log: who did what to whom, when and from where. Append-only.

Every security-relevant action (logins, lockouts, role and scope changes, later unmasking and exports) calls
``record``; nothing updates or deletes a row, and the database refuses it too (triggers in migration 0002).
"""

from __future__ import annotations

import logging

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .scope import ScopedQuerySet

log = logging.getLogger("linli.audit")


class AuditAction(models.TextChoices):
    LOGIN = "login", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Login failed")
    LOCKED_OUT = "locked_out", _("Account locked")
    LOGOUT = "logout", _("Logged out")
    IDLE_TIMEOUT = "idle_timeout", _("Session ended after inactivity")
    TOTP_ENROLLED = "totp_enrolled", _("Two-factor enrolled")
    TOTP_FAILED = "totp_failed", _("Two-factor code rejected")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    USER_CREATED = "user_created", _("Account created")
    ROLE_CHANGED = "role_changed", _("Role changed")
    SCOPE_CHANGED = "scope_changed", _("Scope changed")
    DEMO_BUILT = "demo_district_built", _("Demo district built")
    REGION_SWITCHED = "region_switched", _("Region switched")


class AppendOnlyQuerySet(ScopedQuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditLog(models.Model):
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        "core.User",
        verbose_name=_("actor"),
        null=True,
        blank=True,
        # An account named in the log cannot be deleted (deactivate it instead): the log never changes.
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target_type = models.CharField(_("target type"), max_length=60, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    region_code = models.CharField(_("region code"), max_length=15, blank=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        app_label = "core"
        verbose_name = _("audit record")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record(
    action: str,
    *,
    actor=None,
    actor_name: str = "",
    request=None,
    target=None,
    region_code: str | None = None,
    **detail,
) -> AuditLog:
    """Write one audit row. The region defaults to the actor's widest scope, so auditors there see it."""
    if region_code is None:
        scoped = actor is not None and actor.scope_codes
        region_code = actor.scope_codes[0] if scoped else default_region_code()
    entry = AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor_name or (actor.username if actor is not None else ""),
        action=action,
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        region_code=region_code,
        ip=client_ip(request),
        detail=detail,
    )
    log.info("audit %s actor=%s target=%s:%s", action, entry.actor_name, entry.target_type, entry.target_id)
    return entry


def default_region_code() -> str:
    """Where events without a scoped actor (say a failed login for an unknown name) go: the first district."""
    from .models import Region

    return Region.objects.filter(parent=None).order_by("code").values_list("code", flat=True).first() or ""
