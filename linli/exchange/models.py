"""Integration clients and what they exchanged with us: Open311 apps, the 12345 hotline, the city centre.

Events themselves live in the grid app and are created only through ``linli.grid.services.report``; this app
keeps what the grid does not need to know: which client sent a case and with which upstream fields, the
category codes a client speaks, and the outbox of status changes pushed back to a client.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from linli.core import clock
from linli.core.models import Region
from linli.core.scope import ScopedQuerySet
from linli.grid.models import Category, Event, Transition


class ClientKind(models.TextChoices):
    OPEN311 = "open311", _("Open311 GeoReport v2 client")
    HOTLINE = "hotline", _("12345 government service hotline")
    CITY_CENTRE = "city_centre", _("City operations centre (城运中心)")


class ApiClient(models.Model):
    """A system that files and reads cases with an API key, inside one region."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ClientKind.choices)
    system = models.SlugField(
        _("upstream system"),
        max_length=30,
        help_text=_(
            "Name of the system this client speaks for. The same upstream case id from the same system is "
            "always one event, whichever key sends it."
        ),
    )
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("region code"), max_length=15, editable=False, db_index=True)
    jurisdiction_id = models.CharField(
        _("Open311 jurisdiction id"),
        max_length=100,
        blank=True,
        help_text=_("Empty: the district code of the region."),
    )
    fallback_grid = models.ForeignKey(
        Region,
        verbose_name=_("fallback grid (属地兜底)"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "The grid that receives this client's cases sent without a usable point (not pinpointed, or an "
            "address only). Empty: the client's own region if it is a grid, else the grid at its centre."
        ),
    )
    key_prefix = models.CharField(_("key prefix"), max_length=16, unique=True, editable=False)
    key_hash = models.CharField(_("key hash (SHA-256)"), max_length=64, editable=False)
    active = models.BooleanField(_("active"), default=True)
    push_url = models.URLField(
        _("push URL"),
        blank=True,
        help_text=_("Where status changes are posted; empty: they are only recorded (and can be pulled)."),
    )
    push_all = models.BooleanField(
        _("push every case of the region"),
        default=False,
        help_text=_("Off: only the cases this client sent. On: every case in its region (case reporting)."),
    )
    default_category = models.ForeignKey(
        Category,
        verbose_name=_("default category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("For cases that come without a category code."),
    )
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.region_code = self.region_id
        super().save(*args, **kwargs)

    def clean(self):
        if (
            self.fallback_grid_id
            and self.region_id
            and (len(self.fallback_grid_id) != 15 or not self.fallback_grid_id.startswith(self.region_id))
        ):
            raise ValidationError({"fallback_grid": _("Choose a grid inside the client's region.")})
        if self.default_category_id and (
            self.default_category.parent_id is None or not self.default_category.active
        ):
            raise ValidationError({"default_category": _("Choose an active minor category.")})

    @property
    def jurisdiction(self) -> str:
        return self.jurisdiction_id or self.region_code[:6]


class CategoryMapping(models.Model):
    """A category code as one upstream system writes it, and our minor category it means."""

    system = models.SlugField(_("upstream system"), max_length=30)
    external_code = models.CharField(_("their code"), max_length=40)
    external_name = models.CharField(_("their name"), max_length=100, blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("our category"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("category mapping")
        verbose_name_plural = _("category mappings")
        ordering = ["system", "external_code"]
        constraints = [
            models.UniqueConstraint(fields=["system", "external_code"], name="exchange_mapping_unique")
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.external_code} → {self.category.code}"

    def clean(self):
        if self.category_id and self.category.parent_id is None:
            raise ValidationError({"category": _("Map to a minor category, not a major class.")})


class PublicStatus(models.TextChoices):
    """Open311's two statuses: closed for closed, evaluated and cancelled cases; open for the rest."""

    OPEN = "open", _("Open (not yet closed)")
    CLOSED = "closed", _("Closed, evaluated or cancelled")


class RequestType(models.TextChoices):
    """The five classes of 12345 requests (国办发〔2020〕53号)."""

    CONSULTATION = "consultation", _("Consultation (咨询)")
    HELP = "help", _("Request for help (求助)")
    COMPLAINT = "complaint", _("Complaint (投诉)")
    REPORT = "report", _("Report of wrongdoing (举报)")
    SUGGESTION = "suggestion", _("Suggestion (建议)")


class Submission(models.Model):
    """One case a client sent us, with what the client gave that the event does not hold."""

    client = models.ForeignKey(
        ApiClient, verbose_name=_("client"), on_delete=models.PROTECT, related_name="submissions"
    )
    event = models.OneToOneField(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="exchange_submission"
    )
    region_code = models.CharField(_("region code"), max_length=15, editable=False)
    upstream_id = models.CharField(_("upstream id"), max_length=64, blank=True)
    request_type = models.CharField(_("request type"), max_length=12, choices=RequestType.choices, blank=True)
    external_category = models.CharField(_("their category code"), max_length=40, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    media_url = models.URLField(_("media URL"), max_length=1000, blank=True)
    upstream_due_at = models.DateTimeField(_("due upstream"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=clock.now)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("received case")
        verbose_name_plural = _("received cases")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.client} {self.upstream_id or self.event_id}"


class OutboundPush(models.Model):
    """One status change to send to one client (the outbox); ``update_id`` is stable, so resends are safe."""

    class Operation(models.TextChoices):
        CREATE = "create", _("Create")
        UPDATE = "update", _("Update")
        CLOSE = "close", _("Close the case")

    client = models.ForeignKey(
        ApiClient, verbose_name=_("client"), on_delete=models.CASCADE, related_name="pushes"
    )
    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="+")
    transition = models.ForeignKey(
        Transition, verbose_name=_("step"), on_delete=models.CASCADE, related_name="+"
    )
    update_id = models.CharField(_("update id"), max_length=40, unique=True)
    operation = models.CharField(_("operation"), max_length=8, choices=Operation.choices)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=clock.now)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("outbound status change")
        verbose_name_plural = _("outbound status changes")
        ordering = ["id"]
        indexes = [models.Index(fields=["delivered_at", "next_attempt_at"], name="exchange_push_due")]
        constraints = [
            models.UniqueConstraint(fields=["client", "transition"], name="exchange_push_once_per_step")
        ]

    def __str__(self) -> str:
        return f"{self.update_id} {self.operation}"
