"""Core data: the region tree, accounts with roles and scopes, and the audit log."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .pii.fields import EncryptedCharField
from .regions import PARENT_LEVEL, Level, validate_region_code
from .scope import ScopedQuerySet, ScopedUserManager


class Region(models.Model):
    """A district, street/town, community/village or grid, identified by its code."""

    code = models.CharField(_("code"), max_length=15, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    boundary = models.JSONField(_("boundary (GeoJSON polygon, WGS-84)"), null=True, blank=True)
    centre_lon = models.FloatField(_("centre longitude"), null=True, blank=True)
    centre_lat = models.FloatField(_("centre latitude"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_field = "code"

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        errors = {}
        try:
            level = validate_region_code(self.code, self.level or None, self.parent_id)
        except ValidationError as exc:
            errors["code"] = exc.messages
        else:
            self.level = level
            if self.parent is not None and self.parent.level != PARENT_LEVEL.get(level):
                errors["parent"] = [
                    _("The parent of a %(level)s must be a %(parent)s.")
                    % {"level": Level(level).label, "parent": Level(PARENT_LEVEL[level]).label}
                ]
        if (self.centre_lon is None) != (self.centre_lat is None):
            errors["centre_lon"] = [_("Give both the longitude and the latitude of the centre, or neither.")]
        if self.centre_lon is not None and not (73 <= self.centre_lon <= 136 and 3 <= self.centre_lat <= 54):
            errors["centre_lon"] = [
                _("The centre (%(lon)s, %(lat)s) lies outside China.")
                % {"lon": self.centre_lon, "lat": self.centre_lat}
            ]
        if self.boundary is not None:
            from .geo import boundary_error

            if message := boundary_error(self.boundary):
                errors["boundary"] = [message]
        if errors:
            raise ValidationError(errors)

    @property
    def path(self) -> list["Region"]:
        """This region and its ancestors, district first."""
        codes = [self.code[:n] for n in range(6, len(self.code) + 1, 3)]
        by_code = Region.objects.in_bulk(codes)
        return [by_code[c] for c in codes if c in by_code]


class Role(models.TextChoices):
    DISTRICT_ADMIN = "district_admin", _("District administrator")
    STREET_OFFICER = "street_officer", _("Street officer")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    GRID_WORKER = "grid_worker", _("Grid worker")
    PROPERTY_MANAGER = "property_manager", _("Property manager")
    SERVICE_PROVIDER = "service_provider", _("Service provider")
    POLICE_LIAISON = "police_liaison", _("Police liaison")
    AUDITOR = "auditor", _("Auditor")
    RESIDENT = "resident", _("Resident")


STAFF_ROLES = [r for r in Role if r != Role.RESIDENT]


class User(AbstractUser):
    """Someone who logs in: a staff member with a role and region scopes, or a resident."""

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.RESIDENT)
    display_name = models.CharField(_("display name"), max_length=50, blank=True)
    must_change_password = models.BooleanField(_("must change password at next login"), default=False)
    failed_logins = models.PositiveSmallIntegerField(_("failed logins in a row"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    # Encrypted like any personal identifier: whoever reads the database must not get the second factor.
    totp_secret = EncryptedCharField(_("TOTP secret"), max_length=64, blank=True)
    totp_confirmed = models.BooleanField(_("two-factor enrolled"), default=False)
    is_demo = models.BooleanField(_("demo account"), default=False)

    objects = ScopedUserManager()
    scope_field = "scopes__region__code"
    owner_field = "pk"

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def is_resident(self) -> bool:
        return self.role == Role.RESIDENT

    @property
    def scope_codes(self) -> list[str]:
        """The region codes this user may see, shortest first; cached on the instance."""
        if not hasattr(self, "_scope_codes"):
            self._scope_codes = sorted(
                self.scopes.values_list("region_id", flat=True), key=lambda code: (len(code), code)
            )
        return self._scope_codes


class UserScope(models.Model):
    """One region a staff user may see, with everything below it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="scopes", verbose_name=_("user"))
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+", verbose_name=_("region"))

    class Meta:
        verbose_name = _("scope")
        verbose_name_plural = _("scopes")
        constraints = [models.UniqueConstraint(fields=["user", "region"], name="core_userscope_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.region_id}"


from .audit import AuditLog  # noqa: E402,F401  (registered with the core app)
from .workcalendar import CalendarDay, WorkingPeriod  # noqa: E402,F401  (registered with the core app)
