"""Devices, their time series, attributes, alarms and commands (the IoT hub).

Semantics follow ThingsBoard where devices and integrators expect them (access tokens, client/shared
attributes, RPC ids, alarm status = active/cleared × acknowledged), so its SDKs and habits carry over.
Time stamps of readings are epoch milliseconds (``ts``), as on the wire.
"""

from __future__ import annotations

import builtins

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.core import clock
from linli.core.scope import ScopedQuerySet
from linli.registry.models import Building, Facility, House, Regional


class Kind(models.TextChoices):
    TEMPERATURE_HUMIDITY = "temperature_humidity", _("Temperature and humidity sensor")
    SMOKE = "smoke", _("Smoke detector")
    WATER_LEAK = "water_leak", _("Water leak sensor")
    GAS_DETECTOR = "gas_detector", _("Combustible gas detector")
    WATER_METER = "water_meter", _("Water meter")
    ELECTRICITY_METER = "electricity_meter", _("Electricity meter")
    GAS_METER = "gas_meter", _("Gas meter")
    HEAT_METER = "heat_meter", _("Heat meter")
    ELEVATOR = "elevator", _("Elevator monitor")
    EV_CHARGER = "ev_charger", _("EV charging pile")
    STREET_LIGHT = "street_light", _("Street light")
    DOOR_CONTROLLER = "door_controller", _("Door or gate controller")
    SOS_BUTTON = "sos_button", _("SOS button")
    CAMERA = "camera", _("Camera")
    ENVIRONMENT = "environment", _("Environment station")
    GATEWAY = "gateway", _("Gateway")
    OTHER = "other", _("Other")


class DeviceProfile(models.Model):
    """What a kind of device reports, how often, when it counts as offline, and its alarm rules.

    ``keys`` is a list of ``{"key": "temperature", "label": "温度", "unit": "°C"}``. Profiles are shared by
    all regions (like ThingsBoard's tenant-level profiles); devices carry the region.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices, default=Kind.OTHER)
    description = models.CharField(_("description"), max_length=200, blank=True)
    keys = models.JSONField(_("telemetry keys"), default=list, blank=True)
    reporting_period_s = models.PositiveIntegerField(_("reporting period (s)"), default=60)
    offline_timeout_s = models.PositiveIntegerField(_("offline after (s) without activity"), default=600)
    # Self-provisioning (ThingsBoard's provisionDeviceKey / provisionDeviceSecret); blank = disabled.
    provision_key = models.CharField(_("provision key"), max_length=64, blank=True, db_index=True)
    provision_secret = models.CharField(_("provision secret"), max_length=64, blank=True)
    provision_region = models.ForeignKey(
        "core.Region",
        verbose_name=_("region of self-provisioned devices"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    rated_power_w = models.FloatField(_("rated power (W)"), null=True, blank=True)

    class Meta:
        verbose_name = _("device profile")
        verbose_name_plural = _("device profiles")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def unit_of(self, key: str) -> str:
        for item in self.keys or []:
            if item.get("key") == key:
                return item.get("unit", "")
        return ""

    def label_of(self, key: str) -> str:
        for item in self.keys or []:
            if item.get("key") == key:
                return item.get("label") or key
        return key


class Device(Regional):
    name = models.CharField(_("name"), max_length=100, unique=True)
    label = models.CharField(_("label"), max_length=100, blank=True)
    profile = models.ForeignKey(
        DeviceProfile, on_delete=models.PROTECT, related_name="devices", verbose_name=_("profile")
    )
    access_token = models.CharField(_("access token"), max_length=64, unique=True)
    # Where the device is, in the registry. No database constraint: the registry's rows can be removed by
    # its own bulk reset without knowing about devices (the ORM still sets these to NULL when a row is
    # deleted, and pages and the API tolerate a stale reference).
    building = models.ForeignKey(
        Building,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
        verbose_name=_("building"),
    )
    house = models.ForeignKey(
        House,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
        verbose_name=_("house"),
    )
    facility = models.ForeignKey(
        Facility,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
        verbose_name=_("facility"),
    )
    is_gateway = models.BooleanField(_("gateway"), default=False)
    gateway = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        verbose_name=_("parent gateway"),
    )
    lon = models.FloatField(_("longitude"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    last_activity = models.DateTimeField(_("last activity"), null=True, blank=True)
    connected = models.BooleanField(_("session connected"), default=False)
    is_demo = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label or self.name

    @property
    def online(self) -> bool:
        """Computed: activity within the profile's offline timeout (an open session alone is not enough)."""
        if self.last_activity is None:
            return False
        age = (clock.now() - self.last_activity).total_seconds()
        return age <= self.profile.offline_timeout_s


class Telemetry(models.Model):
    """One data point. On PostgreSQL a table partitioned by month of ``ts`` (see migration 0002)."""

    pk = models.CompositePrimaryKey("device_id", "key", "ts")
    # No database constraint or extra index: the primary key starts with device_id, and a constraint would be
    # checked on every one of thousands of inserts per second (devices' data is removed by services instead).
    device = models.ForeignKey(
        Device,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        verbose_name=_("device"),
    )
    key = models.CharField(_("key"), max_length=64)
    ts = models.BigIntegerField(_("time (epoch ms)"))
    num = models.FloatField(null=True)
    str = models.TextField(null=True)  # noqa: DJ001 - NULL means "not a string value"
    bool = models.BooleanField(null=True)

    class Meta:
        verbose_name = _("data point")
        verbose_name_plural = _("data points")

    def __str__(self) -> builtins.str:
        return f"{self.device_id} {self.key}@{self.ts}"

    @property
    def value(self):
        if self.num is not None:
            return self.num
        if self.bool is not None:
            return self.bool
        return self.str


class LatestValue(models.Model):
    """The newest value per device and key, for fast pages and for rebuilding rule state."""

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="latest", verbose_name=_("device")
    )
    key = models.CharField(_("key"), max_length=64)
    ts = models.BigIntegerField(_("time (epoch ms)"))
    # When the value last differed from the one before: "a cumulative meter did not increase" reads this.
    changed_ts = models.BigIntegerField(_("value changed (epoch ms)"))
    num = models.FloatField(null=True)
    str = models.TextField(null=True)  # noqa: DJ001 - NULL means "not a string value"
    bool = models.BooleanField(null=True)

    class Meta:
        verbose_name = _("latest value")
        verbose_name_plural = _("latest values")
        constraints = [models.UniqueConstraint(fields=["device", "key"], name="iot_latest_unique")]

    def __str__(self) -> builtins.str:
        return f"{self.device_id} {self.key}"

    @property
    def value(self):
        if self.num is not None:
            return self.num
        if self.bool is not None:
            return self.bool
        return self.str


class Attribute(models.Model):
    class Scope(models.TextChoices):
        CLIENT = "client", _("Client (reported by the device)")
        SHARED = "shared", _("Shared (set by the server, pushed to the device)")
        SERVER = "server", _("Server (never sent to the device)")

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="attributes", verbose_name=_("device")
    )
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    key = models.CharField(_("key"), max_length=64)
    value = models.JSONField(_("value"), null=True)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        constraints = [
            models.UniqueConstraint(fields=["device", "scope", "key"], name="iot_attribute_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Severity(models.TextChoices):
    CRITICAL = "critical", _("Critical")
    MAJOR = "major", pgettext_lazy("alarm severity", "Major")
    MINOR = "minor", _("Minor")
    WARNING = "warning", _("Warning")
    INDETERMINATE = "indeterminate", _("Indeterminate")


SEVERITY_RANK = {
    Severity.CRITICAL: 5,
    Severity.MAJOR: 4,
    Severity.MINOR: 3,
    Severity.WARNING: 2,
    Severity.INDETERMINATE: 1,
}


# Names of the alarm types the demo and common profiles use; any other type is shown as written.
ALARM_TYPE_LABELS = {
    "high_temperature": _("High temperature"),
    "fast_temperature_rise": _("Temperature rising fast"),
    "low_battery": _("Low battery"),
    "offline": _("Offline"),
    "smoke": _("Smoke"),
    "water_leak": _("Water leak"),
    "combustible_gas": _("Combustible gas"),
    "no_water_use": _("No water use"),
    "no_data": _("No data"),
    "overload": _("Overload"),
    "elevator_trapped": _("Person trapped in a lift"),
    "elevator_fault": _("Lift fault"),
    "charger_overheat": _("Charger overheating"),
    "lamp_fault": _("Lamp fault"),
    "door_forced": _("Door forced open"),
    "sos": _("SOS call"),
    "air_pollution": _("Air pollution"),
    "noise": _("Noise"),
}


class AlarmRule(models.Model):
    """One rule of a profile, edited on a page (no code): see docs/iot.md for each kind."""

    class RuleKind(models.TextChoices):
        THRESHOLD = "threshold", _("Threshold (with optional duration)")
        RATE = "rate", _("Rate of change per minute")
        NO_DATA = "no_data", _("No data for a period")
        NO_CHANGE = "no_change", _("No change (cumulative reading did not increase) for a period")
        OFFLINE = "offline", _("Offline")

    class Op(models.TextChoices):
        GT = ">", ">"
        GE = ">=", "≥"
        LT = "<", "<"
        LE = "<=", "≤"
        EQ = "==", "="
        NE = "!=", "≠"

    profile = models.ForeignKey(
        DeviceProfile, on_delete=models.CASCADE, related_name="rules", verbose_name=_("profile")
    )
    alarm_type = models.CharField(_("alarm type"), max_length=64)
    kind = models.CharField(_("kind"), max_length=10, choices=RuleKind.choices)
    key = models.CharField(_("key"), max_length=64, blank=True)
    op = models.CharField(_("comparison"), max_length=2, choices=Op.choices, default=Op.GT, blank=True)
    value = models.JSONField(_("value"), null=True, blank=True)
    duration_s = models.PositiveIntegerField(_("for at least (s)"), default=0)
    period_s = models.PositiveIntegerField(_("period (s)"), default=0)
    clear_value = models.FloatField(_("clear only past (hysteresis)"), null=True, blank=True)
    min_clear_s = models.PositiveIntegerField(_("clear only after normal for (s)"), default=0)
    severity = models.CharField(
        _("severity"), max_length=15, choices=Severity.choices, default=Severity.MAJOR
    )
    grid_category = models.CharField(_("open a grid event of category"), max_length=50, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("alarm rule")
        verbose_name_plural = _("alarm rules")
        ordering = ["profile", "alarm_type", "id"]

    def __str__(self) -> str:
        return f"{self.profile}: {self.alarm_type}"


class Alarm(models.Model):
    """An alarm of a device; at most one uncleared per (device, type), kept so by a partial unique index."""

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="alarms", verbose_name=_("device")
    )
    region_code = models.CharField(_("region code"), max_length=15, db_index=True, editable=False)
    type = models.CharField(_("type"), max_length=64)
    severity = models.CharField(_("severity"), max_length=15, choices=Severity.choices)
    rule = models.ForeignKey(
        AlarmRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("rule")
    )
    cleared = models.BooleanField(_("cleared"), default=False)
    acknowledged = models.BooleanField(_("acknowledged"), default=False)
    start_ts = models.DateTimeField(_("started"))
    end_ts = models.DateTimeField(_("last seen"))
    ack_ts = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    clear_ts = models.DateTimeField(_("cleared at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("alarm")
        verbose_name_plural = _("alarms")
        ordering = ["-start_ts"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "type"], condition=Q(cleared=False), name="iot_alarm_one_active"
            )
        ]
        indexes = [
            models.Index(fields=["cleared", "-start_ts"], name="iot_alarm_queue"),
            models.Index(fields=["clear_ts"], name="iot_alarm_clear_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.type} @ {self.device_id}"

    @property
    def type_label(self) -> str:
        return str(ALARM_TYPE_LABELS.get(self.type, self.type))

    @property
    def status(self) -> str:
        """ThingsBoard's status: ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK or CLEARED_ACK."""
        return f"{'CLEARED' if self.cleared else 'ACTIVE'}_{'ACK' if self.acknowledged else 'UNACK'}"


class Notification(models.Model):
    """Who should hear of an alarm: a feed per user (the grid workers of the device's grid, and so on)."""

    alarm = models.ForeignKey(Alarm, on_delete=models.CASCADE, related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"
    owner_field = "user"

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["alarm", "user"], name="iot_notification_unique")]

    def __str__(self) -> str:
        return f"{self.alarm_id} → {self.user_id}"


class Downlink(models.Model):
    """A server→device message (RPC command or shared-attribute update) and its delivery status."""

    class Kind(models.TextChoices):
        RPC = "rpc", _("RPC command")
        ATTRIBUTES = "attributes", _("Shared attributes")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DELIVERED = "delivered", _("Delivered")
        SUCCESSFUL = "successful", _("Successful")
        TIMEOUT = "timeout", _("Timed out")
        FAILED = "failed", _("Failed")

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="downlinks", verbose_name=_("device")
    )
    region_code = models.CharField(max_length=15, db_index=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    payload = models.JSONField(_("payload"))
    rpc_id = models.PositiveIntegerField(_("RPC id"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    response = models.JSONField(_("response"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    group = models.ForeignKey(
        "LightingGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="commands"
    )

    objects = ScopedQuerySet.as_manager()
    scope_field = "region_code"

    class Meta:
        verbose_name = _("command")
        verbose_name_plural = _("commands")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "id"], name="iot_downlink_pending")]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "rpc_id"], condition=Q(rpc_id__isnull=False), name="iot_downlink_rpc_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} → {self.device_id}"


class LightingGroup(Regional):
    """Street lights switched together, with a daily schedule of levels."""

    name = models.CharField(_("name"), max_length=100)
    devices = models.ManyToManyField(
        Device, related_name="lighting_groups", verbose_name=_("lights"), blank=True
    )

    class Meta:
        verbose_name = _("lighting group")
        verbose_name_plural = _("lighting groups")
        constraints = [models.UniqueConstraint(fields=["region", "name"], name="iot_lightinggroup_unique")]

    def __str__(self) -> str:
        return self.name


class LightingSchedule(models.Model):
    """A daily schedule: ``entries`` = [{"time": "18:30", "level": 100}, {"time": "23:00", "level": 50}, …].

    Each entry sets the level (0 = off, 100 = full) from its time until the next entry, in local time.
    """

    group = models.OneToOneField(LightingGroup, on_delete=models.CASCADE, related_name="schedule")
    entries = models.JSONField(_("entries"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_applied = models.DateTimeField(_("last applied"), null=True, blank=True)
    last_level = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("lighting schedule")
        verbose_name_plural = _("lighting schedules")

    def __str__(self) -> str:
        return str(self.group)


class RejectCounter(models.Model):
    """Messages the ingest service refused (bad payload, unknown token, forbidden topic), per hour."""

    reason = models.CharField(max_length=64)
    hour = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("rejected messages")
        verbose_name_plural = _("rejected messages")
        constraints = [models.UniqueConstraint(fields=["reason", "hour"], name="iot_rejectcounter_unique")]

    def __str__(self) -> str:
        return f"{self.reason} {self.hour}: {self.count}"
