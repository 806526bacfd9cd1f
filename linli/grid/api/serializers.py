"""Serializers of the grid API. They shape answers and parse input; every rule lives in ``services``.

The reporter's name and phone are masked for staff (third-party roles get the stricter public mask) and never
shown at all when the report was anonymous; residents see masked staff names in the timeline.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from linli.core.models import Role, User
from linli.core.pii.masking import PUBLIC, STAFF, mask
from linli.core.regions import Level

from .. import services
from ..models import (
    Category,
    Department,
    Event,
    Evidence,
    Notification,
    Request,
    TimeLimit,
    Transition,
    Urgency,
)

THIRD_PARTY_ROLES = {Role.PROPERTY_MANAGER, Role.SERVICE_PROVIDER}
LIGHTS = [("green", "green"), ("yellow", "yellow (due soon)"), ("red", "red (overdue)")]
STEP_ACTIONS = sorted(services.ACTIONS)  # named GridActionEnum in the schema (settings)
PHOTO_KINDS = [Evidence.Kind.BEFORE, Evidence.Kind.AFTER, Evidence.Kind.INSPECTION]


def mask_view(user: User) -> str:
    return PUBLIC if user.role in THIRD_PARTY_ROLES else STAFF


def person_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.display_name or user.get_full_name() or user.username


# --- Reference data -----------------------------------------------------------------------------------------


class TimeLimitSerializer(serializers.ModelSerializer):
    class Meta:
        model = TimeLimit
        fields = ["stage", "urgency", "amount", "unit"]


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The major class; null for one.")
    department = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The department cases of this category are dispatched to by default."
    )
    time_limits = TimeLimitSerializer(many=True, read_only=True)
    escalation_ladder = serializers.ListField(
        source="ladder",
        child=serializers.ChoiceField(choices=Level.choices),
        read_only=True,
        help_text="Levels an overdue case climbs, lowest first.",
    )

    class Meta:
        model = Category
        fields = [
            "id",
            "code",
            "name",
            "name_en",
            "parent",
            "kind",
            "code_scheme",
            "filing_condition",
            "closing_condition",
            "department",
            "time_limits",
            "escalation_ladder",
            "escalate_after_hours",
            "duplicate_radius_m",
            "duplicate_window_hours",
            "public",
            "active",
        ]
        read_only_fields = fields


class DepartmentSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region_code", read_only=True)
    members = serializers.SerializerMethodField(help_text="Accounts that may accept and handle its cases.")

    class Meta:
        model = Department
        fields = ["id", "code", "name", "region", "members"]

    def get_members(self, department) -> list[dict]:
        return [{"id": u.pk, "name": person_name(u)} for u in department.members.all() if u.is_active]


# --- Events -------------------------------------------------------------------------------------------------


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BriefCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "code", "name", "name_en"]


class BriefDepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name"]


class EventSerializer(serializers.ModelSerializer):
    """An event as a queue shows it: what, where, where it stands, whose it is and how its clock runs."""

    category = BriefCategorySerializer(read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    grid = serializers.CharField(source="region_code", read_only=True, help_text="The 15-digit grid code.")
    grid_name = serializers.CharField(source="region.name", read_only=True)
    assignee = serializers.SerializerMethodField()
    department = BriefDepartmentSerializer(read_only=True, allow_null=True)
    light = serializers.SerializerMethodField(
        help_text="green, yellow (due soon), red (overdue); empty when no clock runs (closed, suspended)."
    )
    url = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = [
            "id",
            "number",
            "title",
            "category",
            "urgency",
            "state",
            "state_label",
            "source",
            "grid",
            "grid_name",
            "lon",
            "lat",
            "address",
            "assignee",
            "department",
            "escalation_level",
            "stage",
            "due_at",
            "warn_at",
            "handle_due_at",
            "light",
            "rework_count",
            "extension_count",
            "satisfaction",
            "created_at",
            "updated_at",
            "closed_at",
            "closed_on_time",
            "url",
        ]
        # Events change only through steps; read-only fields also keep the schema the same on every database
        # (a writable small integer would carry the backend's own range).
        read_only_fields = fields

    @extend_schema_field(AccountRefSerializer(allow_null=True))
    def get_assignee(self, event):
        if event.assignee is None:
            return None
        name = person_name(event.assignee)
        if self.context["request"].user.is_resident:
            name = mask("name", name)
        return {"id": event.assignee_id, "name": name}

    @extend_schema_field(serializers.ChoiceField(choices=LIGHTS, allow_blank=True))
    def get_light(self, event) -> str:
        return event.light(self.context.get("now"))

    def get_url(self, event) -> str:
        return reverse("grid-api:event-detail", kwargs={"pk": event.pk})


class PhotoSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The photo itself, for callers who may see the event.")

    class Meta:
        model = Evidence
        fields = ["id", "kind", "uploaded_at", "url"]

    def get_url(self, photo) -> str:
        return reverse("grid-api:event-photo", kwargs={"pk": photo.event_id, "photo": photo.pk})


class TransitionSerializer(serializers.ModelSerializer):
    """One step of the timeline: who, when, what, from which state to which, why, where, with which photos."""

    actor = serializers.SerializerMethodField()
    action_label = serializers.SerializerMethodField()
    photos = PhotoSerializer(source="evidence", many=True, read_only=True)

    class Meta:
        model = Transition
        fields = [
            "id",
            "action",
            "action_label",
            "from_state",
            "to_state",
            "actor",
            "at",
            "note",
            "lon",
            "lat",
            "on_time",
            "photos",
        ]

    def get_actor(self, step) -> str:
        # Residents see staff names masked (张**): enough to recognise the worker, not to look them up.
        if self.context["request"].user.is_resident and step.actor_id != self.context["request"].user.pk:
            return mask("name", step.actor_name) or ""
        return step.actor_name

    def get_action_label(self, step) -> str:
        return step_label(step.action)


def step_label(action: str) -> str:
    if action in services.ACTIONS:
        return services.action_label(action)
    return str(STEP_LABELS.get(action, action))


# Steps recorded by intake and approvals, which are not buttons of ``services.ACTIONS``.
STEP_LABELS = {
    "report": "Reported",
    "approve_return": "Return approved",
    "deny_return": "Return denied",
    "approve_extension": "Extension approved",
    "deny_extension": "Extension denied",
    "approve_suspension": "Suspension approved",
    "deny_suspension": "Suspension denied",
}


class ActionSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=STEP_ACTIONS)
    label = serializers.CharField()
    note_required = serializers.BooleanField()
    photos_required = serializers.ListField(child=serializers.ChoiceField(choices=PHOTO_KINDS))
    style = serializers.CharField(help_text="A Bootstrap button style, for clients that draw buttons.")


class RequestSerializer(serializers.ModelSerializer):
    """A request waiting for (or given) a supervisor's decision: return, extension or suspension."""

    event = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = Request
        fields = [
            "id",
            "event",
            "kind",
            "reason",
            "extra_hours",
            "requested_by",
            "requested_at",
            "decision",
            "decided_by",
            "decided_at",
            "decision_note",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "number": {"type": "string"},
                "title": {"type": "string"},
                "state": {"type": "string"},
                "url": {"type": "string"},
            },
        }
    )
    def get_event(self, request):
        event = request.event
        return {
            "id": event.pk,
            "number": event.number,
            "title": event.title,
            "state": event.state,
            "url": reverse("grid-api:event-detail", kwargs={"pk": event.pk}),
        }

    def get_requested_by(self, request) -> str:
        return person_name(request.requested_by)

    def get_decided_by(self, request) -> str:
        return person_name(request.decided_by)


class ReporterSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Masked, e.g. 张**; empty when anonymous.")
    phone = serializers.CharField(help_text="Masked, e.g. 138****8000; empty when anonymous.")
    anonymous = serializers.BooleanField()
    is_resident_account = serializers.BooleanField(help_text="Reported from a resident's own account.")


class EventDetailSerializer(EventSerializer):
    """One event with its timeline, photos, the steps the caller may take now and waiting requests."""

    description = serializers.CharField(read_only=True)
    reporter = serializers.SerializerMethodField()
    upstream = serializers.SerializerMethodField()
    duplicate_of = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(help_text="The steps the caller may take now.")
    pending_requests = serializers.SerializerMethodField()

    class Meta(EventSerializer.Meta):
        fields = [
            *EventSerializer.Meta.fields,
            "description",
            "reporter",
            "upstream",
            "duplicate_of",
            "timeline",
            "actions",
            "pending_requests",
        ]
        read_only_fields = fields

    @extend_schema_field(ReporterSerializer)
    def get_reporter(self, event):
        user = self.context["request"].user
        name = event.reporter_name or person_name(event.reporter)
        phone = event.reporter_phone
        if user.is_resident:
            # Their own report (no other is visible to them): masked all the same, like every other surface.
            view = STAFF
        else:
            view = mask_view(user)
        if event.anonymous:
            name = phone = ""
        return {
            "name": mask("name", name, view) or "",
            "phone": mask("phone", phone, view) or "",
            "anonymous": event.anonymous,
            "is_resident_account": event.reporter_id is not None and event.reporter.is_resident,
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"system": {"type": "string"}, "id": {"type": "string"}},
        }
    )
    def get_upstream(self, event):
        if not event.upstream_id:
            return None
        return {"system": event.upstream_system, "id": event.upstream_id}

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"id": {"type": "integer"}, "number": {"type": "string"}},
        }
    )
    def get_duplicate_of(self, event):
        if event.duplicate_of_id is None:
            return None
        return {"id": event.duplicate_of_id, "number": event.duplicate_of.number}

    @extend_schema_field(TransitionSerializer(many=True))
    def get_timeline(self, event):
        steps = event.history.select_related(None).prefetch_related("evidence").order_by("at", "id")
        return TransitionSerializer(steps, many=True, context=self.context).data

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, event):
        return [
            {
                "name": a.name,
                "label": services.action_label(a.name),
                "note_required": a.note_required,
                "photos_required": list(a.photos_required),
                "style": a.style,
            }
            for a in services.allowed_actions(event, self.context["request"].user)
        ]

    @extend_schema_field(RequestSerializer(many=True))
    def get_pending_requests(self, event):
        if self.context["request"].user.is_resident:
            return []
        return RequestSerializer(services.pending_requests(event), many=True, context=self.context).data


# --- Input --------------------------------------------------------------------------------------------------


class ReportSerializer(serializers.Serializer):
    """A new event. The source follows from the caller's role: residents report as residents, grid workers as
    grid workers on patrol, other staff as staff."""

    category = serializers.IntegerField(help_text="A minor category (residents: one marked public).")
    title = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.NORMAL)
    lon = serializers.FloatField(required=False, allow_null=True, default=None, help_text="WGS-84.")
    lat = serializers.FloatField(required=False, allow_null=True, default=None, help_text="WGS-84.")
    grid = serializers.CharField(
        max_length=15,
        required=False,
        allow_blank=True,
        default="",
        help_text="The 15-digit grid code, when there is no point (staff only; the point wins).",
    )
    address = serializers.CharField(max_length=256, required=False, allow_blank=True, default="")
    reporter_name = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text="Staff entering a case for someone (e.g. a phone call); residents report as themselves.",
    )
    reporter_phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    anonymous = serializers.BooleanField(required=False, default=False)
    photos = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text="Photos as reported (multipart/form-data; JPEG, PNG, WebP or HEIC).",
    )


class IntakeSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    event = EventDetailSerializer()
    duplicates = EventSerializer(many=True, help_text="Open events of the same category nearby: merge?")


class StepSerializer(serializers.Serializer):
    """One step of the loop. What a step needs is in each event's ``actions``; other fields are ignored."""

    action = serializers.ChoiceField(choices=STEP_ACTIONS)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    assignee = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="dispatch: a person (account id)."
    )
    department = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="dispatch: a department id."
    )
    rating = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="evaluate: 1 (very unsatisfied) to 5."
    )
    extra_hours = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="request_extension: working hours asked for.",
    )
    into = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="merge: the id of the event this duplicates."
    )
    urgency = serializers.ChoiceField(
        choices=Urgency.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="register: change it.",
    )
    category = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="register: refile under this minor category."
    )
    grid = serializers.CharField(
        max_length=15,
        required=False,
        allow_blank=True,
        default="",
        help_text="relocate: the 15-digit code of the grid the case really is in (or give lon/lat).",
    )
    lon = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Where the step was taken (relocate: the new point).",
    )
    lat = serializers.FloatField(required=False, allow_null=True, default=None)
    before = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, help_text="Photos before handling."
    )
    after = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, help_text="Photos after handling."
    )
    inspection = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, help_text="Photos of the inspection."
    )


class DecisionSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Required when denying."
    )


class NotificationSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    event = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "kind_label", "event", "created_at", "read_at"]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "number": {"type": "string"},
                "title": {"type": "string"},
                "url": {"type": "string"},
            },
        }
    )
    def get_event(self, notification):
        event = notification.event
        return {
            "id": event.pk,
            "number": event.number,
            "title": event.title,
            "url": reverse("grid-api:event-detail", kwargs={"pk": event.pk}),
        }
