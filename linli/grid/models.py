"""Grid events (网格事件) and their closed loop: categories, departments, events, the transition history.

The history (``Transition``) is the record everything else is computed from: figures, timelines and the
Open311 status. Each transition copies the event's region code, department and the facts the figures need (on
time, handling duration), so a year of figures is one aggregate over one indexed table, not a replay.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.core import clock
from linli.core.models import Region
from linli.core.pii.fields import EncryptedCharField
from linli.core.regions import Level
from linli.core.scope import ScopedQuerySet
from linli.core.workcalendar import TimeUnit


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")
    MAJOR = "major", _("Major")


class Stage(models.TextChoices):
    """The stages that carry a time limit (时限), each started by entering a state."""

    VERIFY = "verify", _("Verification (核实)")
    REGISTER = "register", _("Registration (立案)")
    DISPATCH = "dispatch", _("Dispatch (派遣)")
    ACCEPT = "accept", _("Acceptance (签收)")
    HANDLE = "handle", _("Handling (处置)")
    INSPECT = "inspect", _("Inspection (核查)")


LEVEL_CODE_LENGTH = {Level.GRID: 15, Level.COMMUNITY: 12, Level.STREET: 9, Level.DISTRICT: 6}


class Department(models.Model):
    """A handling unit (专业部门 / 职能部门) that cases are dispatched to, with its people."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    region = models.ForeignKey(Region, verbose_name=_("region"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("region code"), max_length=15, db_index=True, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("members"), related_name="departments", blank=True
    )

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.region_code = self.region_id
        super().save(*args, **kwargs)


class Category(models.Model):
    """Two levels: a major class (parent is empty) and its minor classes, which events are filed under."""

    class Kind(models.TextChoices):
        SOCIAL = "social", _("Social governance")
        EVENT = "event", _("Urban-management event (事件)")
        COMPONENT = "component", _("Urban-management component (部件)")

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("major class"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.SOCIAL)
    code_scheme = models.CharField(_("code scheme"), max_length=30, blank=True)
    filing_condition = models.TextField(_("filing condition (立案条件)"), blank=True)
    closing_condition = models.TextField(_("closing condition (结案条件)"), blank=True)
    department = models.ForeignKey(
        Department,
        verbose_name=_("handling department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="categories",
    )
    escalation_ladder = models.JSONField(
        _("escalation ladder"),
        default=list,
        blank=True,
        help_text=_("Levels an overdue case climbs, e.g. grid, community, street, district."),
    )
    escalate_after_hours = models.PositiveIntegerField(
        _("escalate again after (working hours overdue)"), default=4, validators=[MaxValueValidator(1000)]
    )
    duplicate_radius_m = models.PositiveIntegerField(
        _("duplicate radius (m)"), default=50, validators=[MaxValueValidator(5000)]
    )
    duplicate_window_hours = models.PositiveIntegerField(
        _("duplicate window (hours)"), default=72, validators=[MaxValueValidator(24 * 365)]
    )
    public = models.BooleanField(_("residents may report it"), default=True)
    active = models.BooleanField(_("active"), default=True)
    keywords = models.CharField(_("keywords"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("event category")
        verbose_name_plural = _("event categories")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def ladder(self) -> list[str]:
        return self.escalation_ladder or [Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT]


class TimeLimit(models.Model):
    """How long one stage may take for one category and urgency, in working or natural units."""

    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="time_limits"
    )
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices)
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    amount = models.DecimalField(
        _("amount"),
        max_digits=6,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(9999)],
    )
    unit = models.CharField(
        pgettext_lazy("time limit", "unit"),
        max_length=14,
        choices=TimeUnit.choices,
        default=TimeUnit.WORKING_HOUR,
    )

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        constraints = [
            models.UniqueConstraint(fields=["category", "stage", "urgency"], name="grid_timelimit_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category.code} {self.stage} {self.urgency}: {self.amount} {self.unit}"


class State(models.TextChoices):
    VERIFYING = "verifying", _("Awaiting verification")
    REPORTED = "reported", _("Reported")
    REGISTERED = "registered", _("Registered")
    DISPATCHED = "dispatched", _("Dispatched")
    IN_PROGRESS = "in_progress", _("Being handled")
    SUSPENDED = "suspended", _("Suspended")
    HANDLED = "handled", _("Handled, awaiting inspection")
    SELF_HANDLED = "self_handled", _("Handled on the spot, awaiting approval")
    CLOSED = "closed", _("Closed")
    EVALUATED = "evaluated", _("Evaluated")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_STATES = [s for s in State if s not in (State.CLOSED, State.EVALUATED, State.CANCELLED)]


class Source(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    GRID_WORKER = "grid_worker", _("Grid worker on patrol")
    STAFF = "staff", _("Staff")
    IOT = "iot", _("IoT alarm")
    HOTLINE = "hotline", _("12345 hotline")
    CITY_CENTRE = "city_centre", _("City operations centre")
    OPEN311 = "open311", _("Open311 client")


class Event(models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True)
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), max_length=4000, blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="+"
    )
    urgency = models.CharField(_("urgency"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    state = models.CharField(_("state"), max_length=14, choices=State.choices, db_index=True)
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    upstream_system = models.CharField(_("upstream system"), max_length=30, blank=True)
    upstream_id = models.CharField(_("upstream id"), max_length=64, blank=True)

    # Where: the grid found from the point (or given), its code copied for the scope rule.
    region = models.ForeignKey(Region, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="+")
    region_code = models.CharField(_("region code"), max_length=15, editable=False)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=256, blank=True)

    # Who reported it: a resident's account, a staff member, or a name and phone from the hotline.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_events",
    )
    reporter_name = EncryptedCharField(_("reporter's name"), max_length=50, blank=True)
    reporter_phone = EncryptedCharField(_("reporter's phone"), max_length=20, blank=True)
    anonymous = models.BooleanField(_("reported anonymously"), default=False)

    # Who has it now.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_events",
    )
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    escalation_level = models.CharField(
        _("escalation level"), max_length=10, choices=Level.choices, blank=True
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    # The clock of the current stage. While suspended, ``due_at`` is empty and the working time left waits.
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices, blank=True)
    stage_started_at = models.DateTimeField(_("stage started at"), null=True, blank=True)
    warn_at = models.DateTimeField(_("warning at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    remaining_seconds = models.PositiveIntegerField(
        _("working seconds left when paused"), null=True, blank=True
    )
    warned = models.BooleanField(_("warning sent"), default=False)
    overdue_notified = models.BooleanField(_("overdue notice sent"), default=False)
    dispatched_at = models.DateTimeField(_("first dispatched at"), null=True, blank=True)
    handle_due_at = models.DateTimeField(_("handling due at"), null=True, blank=True)

    rework_count = models.PositiveSmallIntegerField(_("reworks"), default=0)
    extension_count = models.PositiveSmallIntegerField(_("extensions"), default=0)
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
    )
    satisfaction = models.PositiveSmallIntegerField(
        _("satisfaction (1–5)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_on_time = models.BooleanField(_("closed on time"), null=True, blank=True)
    created_at = models.DateTimeField(_("reported at"), default=clock.now)
    updated_at = models.DateTimeField(_("updated at"), default=clock.now)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"
    owner_field = "reporter"

    class Meta:
        verbose_name = _("grid event")
        verbose_name_plural = _("grid events")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["region_code", "state", "created_at"], name="grid_event_region_state"),
            models.Index(fields=["state", "due_at"], name="grid_event_due"),
            models.Index(fields=["category", "created_at"], name="grid_event_category_time"),
            models.Index(fields=["assignee", "state"], name="grid_event_assignee"),
            # The queue and the map read open events only: a small index that holds just those.
            models.Index(
                fields=["region_code", "due_at"],
                condition=models.Q(
                    state__in=[
                        "verifying",
                        "reported",
                        "registered",
                        "dispatched",
                        "in_progress",
                        "suspended",
                        "handled",
                        "self_handled",
                    ]
                ),
                name="grid_event_open_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["upstream_system", "upstream_id"],
                condition=~models.Q(upstream_id=""),
                name="grid_event_upstream_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    def save(self, *args, **kwargs):
        self.region_code = self.region_id
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def light(self, now=None) -> str:
        """green, yellow (warning before due) or red (overdue); empty when no clock runs."""
        if self.due_at is None:
            return ""
        now = now or clock.now()
        if now > self.due_at:
            return "red"
        if self.warn_at is not None and now >= self.warn_at:
            return "yellow"
        return "green"


class Transition(models.Model):
    """One step of the closed loop: who did what, when, where, from which state to which, and why."""

    event = models.ForeignKey(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="history"
    )
    action = models.CharField(_("action"), max_length=20)
    from_state = models.CharField(
        pgettext_lazy("state", "from"), max_length=14, choices=State.choices, blank=True
    )
    to_state = models.CharField(pgettext_lazy("state", "to"), max_length=14, choices=State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(_("actor's name"), max_length=150, blank=True)
    at = models.DateTimeField(_("at"), default=clock.now)
    note = models.TextField(_("note"), max_length=2000, blank=True)
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    # Copied from the event at the time of the step, for the figures.
    region_code = models.CharField(_("region code"), max_length=15)
    category_id_at = models.IntegerField(_("category"), null=True, blank=True)
    department_id_at = models.IntegerField(_("department"), null=True, blank=True)
    assignee_id_at = models.IntegerField(_("assignee"), null=True, blank=True)
    on_time = models.BooleanField(_("on time"), null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(_("handling time (s)"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("event step")
        verbose_name_plural = _("event steps")
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["action", "at", "region_code"], name="grid_transition_figures"),
            models.Index(fields=["event", "at"], name="grid_transition_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.action} {self.from_state}→{self.to_state}"


def evidence_path(instance: "Evidence", filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"grid/{instance.event_id}/{clock.now():%Y%m%d%H%M%S%f}.{suffix}"


class Evidence(models.Model):
    """A photo attached to a step. Served only through the event's scoped page, never as a public file."""

    class Kind(models.TextChoices):
        REPORT = "report", _("As reported")
        BEFORE = "before", _("Before handling")
        AFTER = "after", _("After handling")
        INSPECTION = "inspection", _("Inspection")

    event = models.ForeignKey(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="evidence"
    )
    transition = models.ForeignKey(
        Transition,
        verbose_name=_("step"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="evidence",
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    file = models.FileField(_("photo"), upload_to=evidence_path)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=clock.now)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")

    def __str__(self) -> str:
        return f"{self.event_id} {self.kind}"


class Request(models.Model):
    """An exception that waits for a supervisor: return of a mis-dispatch, extension, suspension (挂账)."""

    class Kind(models.TextChoices):
        RETURN = "return", _("Return (回退)")
        EXTENSION = "extension", _("Extension (延期)")
        SUSPENSION = "suspension", _("Suspension (挂账)")

    class Decision(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        DENIED = "denied", _("Denied")

    event = models.ForeignKey(
        Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="requests"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    reason = models.TextField(_("reason"), max_length=2000)
    extra_hours = models.DecimalField(
        _("extra working hours"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(9999)],
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=clock.now)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, default=Decision.PENDING, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), max_length=2000, blank=True)

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "kind"],
                condition=models.Q(decision="pending"),
                name="grid_request_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} {self.kind} {self.decision}"


class Notification(models.Model):
    """A message to one person about one event: assigned, warning, overdue, escalated, approval wanted."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Assigned to you")
        WARNING = "warning", _("Due soon")
        OVERDUE = "overdue", _("Overdue")
        ESCALATED = "escalated", _("Escalated to you")
        APPROVAL = "approval", _("Waiting for your approval")
        DECIDED = "decided", _("Your request was decided")
        DUPLICATE = "duplicate", _("Possible duplicate")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    created_at = models.DateTimeField(_("created at"), default=clock.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="grid_notification_unread")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.event_id}"
