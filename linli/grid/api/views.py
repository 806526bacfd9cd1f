"""REST API v1 of grid governance: categories, departments, events and their loop, approvals, notices.

Every event query starts from ``visible_events`` (the scope rule plus what was handed to the caller), so an
event outside it answers 404. Steps, reports and decisions call ``linli.grid.services``; its refusals map to
400 with field errors (``StepRefused``) and 403 (``PermissionDenied``, the role may not take the step).
"""

from __future__ import annotations

import mimetypes

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from linli.core import clock
from linli.core.api.permissions import IsActiveAccount, IsStaff
from linli.core.models import Role, User
from linli.core.scope import code_within

from .. import services
from ..models import (
    OPEN_STATES,
    Category,
    Department,
    Event,
    Evidence,
    Notification,
    Request,
    Source,
    State,
    Urgency,
)
from . import serializers as s

MAX_PHOTOS = 9
MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Magic numbers of the photo formats phones produce; anything else (SVG, HTML, PDF...) is refused.
PHOTO_SIGNATURES = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftypheic", "image/heic"),
    (4, b"ftypheix", "image/heic"),
    (4, b"ftypmif1", "image/heif"),
)

REFUSALS = {
    400: OpenApiResponse(description="Refused: the body says why, field by field (StepRefused)."),
    403: OpenApiResponse(description="Your role may not do this (on this event)."),
    404: OpenApiResponse(description="No such event, or outside your scope."),
}


class Pages(LimitOffsetPagination):
    max_limit = 500  # a street's queue holds thousands; a client pages through it


# --- Who sees what ------------------------------------------------------------------------------------------


# The scope rule for events (scope, plus cases handed to the caller or their department) and the departments
# a supervisor may dispatch to are the services' own, shared with the pages and Open311.
visible_events = services.visible_events
dispatchable_departments = services.dispatchable_departments


def _refusal(call, *args, **kwargs):
    """Run a service call; its refusals become DRF's 400 (field → messages) and 403."""
    try:
        return call(*args, **kwargs)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc) or None) from None
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise serializers.ValidationError(detail) from None


def checked_photos(files, field: str) -> list:
    """Photos, checked by their first bytes (not the name the client gives); at most MAX_PHOTOS a kind."""
    if len(files) > MAX_PHOTOS:
        raise serializers.ValidationError({field: [_("At most %(n)s photos.") % {"n": MAX_PHOTOS}]})
    for upload in files:
        if upload.size > MAX_PHOTO_BYTES:
            raise serializers.ValidationError({field: [_("A photo may be at most 10 MB.")]})
        head = upload.read(16)
        upload.seek(0)
        if not any(head[offset : offset + len(magic)] == magic for offset, magic, _type in PHOTO_SIGNATURES):
            raise serializers.ValidationError(
                {field: [_("%(name)s is not a JPEG, PNG, WebP or HEIC photo.") % {"name": upload.name}]}
            )
    return list(files)


# --- Reference data -----------------------------------------------------------------------------------------


class CategoryFilter(filters.FilterSet):
    major = filters.BooleanFilter(field_name="parent", lookup_expr="isnull", label="Only major classes")

    class Meta:
        model = Category
        fields = ["parent", "kind", "active", "public", "major"]


@extend_schema_view(
    list=extend_schema(
        description="Event categories with their conditions, time limits and escalation ladder. Staff see "
        "all; residents see the active public minor categories they may report under. Administrators edit "
        "them in the admin."
    )
)
class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Category.objects.none()  # for the schema; get_queryset answers
    serializer_class = s.CategorySerializer
    permission_classes = [IsActiveAccount]
    filterset_class = CategoryFilter
    pagination_class = None

    def get_queryset(self):
        rows = Category.objects.select_related("parent").prefetch_related("time_limits").order_by("code")
        if self.request.user.is_resident:
            rows = rows.filter(public=True, active=True, parent__isnull=False)
        return rows


@extend_schema_view(
    list=extend_schema(
        description="Departments cases can be dispatched to: those of your region and of the regions "
        "above it."
    )
)
class DepartmentViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Department.objects.none()
    serializer_class = s.DepartmentSerializer
    permission_classes = [IsStaff]
    pagination_class = None

    def get_queryset(self):
        return dispatchable_departments(self.request.user).prefetch_related("members").order_by("code")


# --- Events -------------------------------------------------------------------------------------------------


class EventFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=State.choices, help_text="Repeat for several states.")
    open = filters.BooleanFilter(method="filter_open", label="Only open (or only finished) events")
    light = filters.ChoiceFilter(choices=s.LIGHTS, method="filter_light", label="Clock light now")
    overdue = filters.BooleanFilter(method="filter_overdue", label="Open and past its due time")
    category = filters.NumberFilter(
        method="filter_category", label="A category id (a major class: all of it)"
    )
    source = filters.MultipleChoiceFilter(choices=Source.choices)
    urgency = filters.ChoiceFilter(choices=Urgency.choices)
    region = filters.CharFilter(method="filter_region", label="A region code inside your scope (prefix)")
    assignee = filters.CharFilter(method="filter_assignee", label="`me`, or an account id")
    department = filters.NumberFilter(field_name="department_id")
    reported_after = filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    reported_before = filters.DateFilter(field_name="created_at", lookup_expr="date__lte")
    q = filters.CharFilter(method="filter_text", label="The number, or part of the title or address")
    ordering = filters.OrderingFilter(fields=["created_at", "due_at", "updated_at", "number"])

    class Meta:
        model = Event
        fields: list[str] = []

    def filter_open(self, rows, name, value):
        return rows.filter(state__in=OPEN_STATES) if value else rows.exclude(state__in=OPEN_STATES)

    def filter_light(self, rows, name, value):
        now = clock.now()
        if value == "red":
            return rows.filter(due_at__lt=now)
        if value == "yellow":
            return rows.filter(warn_at__lte=now, due_at__gte=now)
        return rows.filter(due_at__gte=now).filter(Q(warn_at__gt=now) | Q(warn_at__isnull=True))

    def filter_overdue(self, rows, name, value):
        overdue = Q(state__in=OPEN_STATES, due_at__lt=clock.now())
        return rows.filter(overdue) if value else rows.exclude(overdue)

    def filter_category(self, rows, name, value):
        return rows.filter(Q(category_id=value) | Q(category__parent_id=value))

    def filter_region(self, rows, name, value):
        user = self.request.user
        if not user.is_resident and not code_within(value, user.scope_codes):
            return rows.none()
        return rows.filter(region_code__startswith=value)

    def filter_assignee(self, rows, name, value):
        if value == "me":
            return rows.filter(assignee=self.request.user)
        if not value.isdigit():
            raise serializers.ValidationError({"assignee": ["Give `me` or an account id."]})
        return rows.filter(assignee_id=int(value))

    def filter_text(self, rows, name, value):
        value = value.strip()
        return rows.filter(Q(number=value) | Q(title__contains=value) | Q(address__contains=value))


MASK_NOTE = (
    "The reporter's name and phone are masked (张**, 138****8000; property managers and service providers "
    "see the stricter public mask) and empty when the report was anonymous."
)


@extend_schema_view(
    list=extend_schema(
        description="Events you may see: your scope's, and those dispatched to you or your department; "
        "residents see their own reports. Paginated (?limit=&offset=)."
    ),
    retrieve=extend_schema(
        description="One event with its timeline (every step with actor, time, note, place and photos), the "
        "steps you may take now (`actions`) and requests waiting for a decision. " + MASK_NOTE,
        responses={200: s.EventDetailSerializer, 404: REFUSALS[404]},
    ),
)
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Event.objects.none()
    pagination_class = Pages
    permission_classes = [IsActiveAccount]
    filterset_class = EventFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        rows = visible_events(self.request.user).select_related(
            "category", "assignee", "department", "region"
        )
        if self.action == "retrieve":
            rows = rows.select_related("reporter", "duplicate_of")
        return rows.order_by("-created_at", "-pk")

    def get_serializer_class(self):
        return s.EventDetailSerializer if self.action == "retrieve" else s.EventSerializer

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": clock.now()}

    def _detail(self, event, status_code=status.HTTP_200_OK):
        event = self.get_queryset().select_related("reporter", "duplicate_of").get(pk=event.pk)
        return Response(
            s.EventDetailSerializer(event, context=self.get_serializer_context()).data, status_code
        )

    @extend_schema(
        request={"multipart/form-data": s.ReportSerializer, "application/json": s.ReportSerializer},
        responses={201: s.IntakeSerializer, 400: REFUSALS[400], 403: REFUSALS[403]},
        description="Report an event. The source follows from your role (resident, grid worker on patrol, "
        "staff), never from the body. Give a point (the grid is found from it) or, staff only, a grid code. "
        "Residents may use only public categories and report as themselves; staff may only report inside "
        "their scope and may enter the name and phone of someone who called. Photos as multipart `photos`. "
        "The answer lists open events of the same category nearby (`duplicates`), to merge.",
        examples=[
            OpenApiExample(
                "A grid worker on patrol",
                value={"category": 7, "title": "小区门口垃圾成堆", "lon": 117.105, "lat": 36.651},
                request_only=True,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        user = request.user
        if user.role == Role.AUDITOR:
            raise PermissionDenied(_("Auditors read; they do not report events."))
        body = s.ReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        category = Category.objects.filter(pk=data["category"]).first()
        if category is None or (user.is_resident and not category.public):
            raise serializers.ValidationError({"category": [_("Choose one of the categories offered.")]})
        photos = checked_photos(data["photos"], "photos")
        grid = data["grid"]
        if user.is_resident:
            source = Source.RESIDENT
            grid = ""  # residents give a point; a bare grid code would let them file anywhere
            reporter_name, reporter_phone = s.person_name(user), ""
        else:
            source = Source.GRID_WORKER if user.role == Role.GRID_WORKER else Source.STAFF
            reporter_name, reporter_phone = data["reporter_name"], data["reporter_phone"]
        intake = _refusal(
            services.report,
            category=category,
            title=data["title"],
            source=source,
            description=data["description"],
            lon=data["lon"],
            lat=data["lat"],
            address=data["address"],
            region_code=grid or None,
            reporter=user,
            reporter_name=reporter_name,
            reporter_phone=reporter_phone,
            anonymous=data["anonymous"] if user.is_resident else False,
            # Residents describe; the supervisor who registers the case judges how urgent it is.
            urgency=Urgency.NORMAL if user.is_resident else data["urgency"],
            photos=photos,
            # Staff file only inside their own region: an event they could not see afterwards helps nobody.
            within=None if user.is_resident else user.scope_codes,
        )
        context = self.get_serializer_context()
        event = visible_events(user).select_related("category", "region", "reporter").get(pk=intake.event.pk)
        duplicates = [d for d in intake.duplicates if not user.is_resident]
        answer = {
            "created": intake.created,
            "event": s.EventDetailSerializer(event, context=context).data,
            "duplicates": s.EventSerializer(duplicates, many=True, context=context).data,
        }
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"multipart/form-data": s.StepSerializer, "application/json": s.StepSerializer},
        responses={200: s.EventDetailSerializer, **REFUSALS},
        description="Take one step of the loop (see the event's `actions` for the steps you may take now and "
        "what each needs: a note, photos `before`/`after`/`inspection` as multipart files). Approval steps "
        "(request_return, request_extension, request_suspension) create a request that a supervisor decides "
        "with POST /api/v1/grid/requests/{id}/decision/. The answer is the event after the step.",
        examples=[
            OpenApiExample("Dispatch to a department", value={"action": "dispatch", "department": 3}),
            OpenApiExample("Rate it", value={"action": "evaluate", "rating": 5, "note": "很及时"}),
            OpenApiExample(
                "Ask for 8 more working hours",
                value={"action": "request_extension", "extra_hours": "8", "note": "等配件"},
            ),
        ],
    )
    @action(detail=True, methods=["post"], url_path="steps")
    def steps(self, request, pk=None):
        event = self.get_object()
        body = s.StepSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request.user
        photos = {kind: checked_photos(data[kind], kind) for kind in s.PHOTO_KINDS if data[kind]}
        assignee = department = into = category = None
        if data["assignee"] is not None:
            assignee = User.objects.visible_to(user).filter(pk=data["assignee"]).first()
            if assignee is None:
                raise serializers.ValidationError({"assignee": [_("No such person in your area.")]})
        if data["department"] is not None:
            department = dispatchable_departments(user).filter(pk=data["department"]).first()
            if department is None:
                raise serializers.ValidationError({"department": [_("No such department for your area.")]})
        if data["into"] is not None:
            into = visible_events(user).filter(pk=data["into"]).first()
            if into is None:
                raise serializers.ValidationError({"into": [_("No such event in your area.")]})
        if data["category"] is not None:
            category = Category.objects.filter(pk=data["category"]).first()
            if category is None:
                raise serializers.ValidationError({"category": [_("No such category.")]})
        _refusal(
            services.take_step,
            event,
            data["action"],
            user,
            note=data["note"],
            photos=photos,
            lon=data["lon"],
            lat=data["lat"],
            assignee=assignee,
            department=department,
            rating=data["rating"],
            extra_hours=data["extra_hours"],
            into=into,
            urgency=data["urgency"] or None,
            category=category,
            grid=data["grid"] or None,
        )
        if not visible_events(user).filter(pk=event.pk).exists():
            # Relocated to a grid outside the caller's scope: answer the event without the details they lost.
            event.refresh_from_db()
            return Response(s.EventSerializer(event, context=self.get_serializer_context()).data)
        return self._detail(event)

    @extend_schema(
        responses={200: s.EventSerializer(many=True), 403: REFUSALS[403], 404: REFUSALS[404]},
        description="Open events of the same category within the category's radius and time window, that "
        "you may see: candidates to merge this one into (step `merge` with `into`). Staff only.",
    )
    @action(detail=True, methods=["get"], permission_classes=[IsStaff])
    def duplicates(self, request, pk=None):
        event = self.get_object()
        found = services.find_duplicates(
            event.category, event.lon, event.lat, event.created_at, exclude=event.pk
        )
        visible = set(
            visible_events(request.user).filter(pk__in=[e.pk for e in found]).values_list("pk", flat=True)
        )
        rows = [e for e in found if e.pk in visible]
        return Response(s.EventSerializer(rows, many=True, context=self.get_serializer_context()).data)

    @extend_schema(
        responses={(200, "image/*"): OpenApiTypes.BINARY, 404: REFUSALS[404]},
        description="One photo of the event, for whoever may see the event (never a public file).",
    )
    @action(detail=True, methods=["get"], url_path=r"photos/(?P<photo>[0-9]+)", url_name="photo")
    def photo(self, request, pk=None, photo=None):
        event = self.get_object()
        evidence = Evidence.objects.filter(event=event, pk=photo).first()
        if evidence is None:
            raise Http404
        try:
            handle = evidence.file.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        content_type = mimetypes.guess_type(evidence.file.name)[0] or "application/octet-stream"
        response = FileResponse(handle, content_type=content_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = "inline"
        return response


# --- Approvals ----------------------------------------------------------------------------------------------


class RequestFilter(filters.FilterSet):
    decision = filters.ChoiceFilter(
        choices=Request.Decision.choices, label="pending (the default for the list), approved, denied"
    )
    kind = filters.ChoiceFilter(choices=Request.Kind.choices)
    event = filters.NumberFilter(field_name="event_id")

    class Meta:
        model = Request
        fields: list[str] = []


@extend_schema_view(
    list=extend_schema(
        description="Requests on events you may see (pending unless ?decision= says otherwise): return of a "
        "mis-dispatch (回退), extension (延期), suspension (挂账)."
    )
)
class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Request.objects.none()
    serializer_class = s.RequestSerializer
    pagination_class = Pages
    permission_classes = [IsStaff]
    filterset_class = RequestFilter

    def get_queryset(self):
        events = visible_events(self.request.user).values("pk")
        rows = Request.objects.filter(event_id__in=events)
        if self.action == "list" and not self.request.query_params.get("decision"):
            rows = rows.filter(decision=Request.Decision.PENDING)  # the approver's in-tray
        return rows.select_related("event", "requested_by", "decided_by").order_by("requested_at", "pk")

    @extend_schema(
        request=s.DecisionSerializer,
        responses={200: s.RequestSerializer, **REFUSALS},
        description="Approve or deny a waiting request (supervisors of the event's region; not the person "
        "who asked). Approval carries it out: the case goes back for re-dispatch, gets a new due time, or is "
        "suspended with its clock paused. Denying needs a note.",
        examples=[OpenApiExample("Deny", value={"approve": False, "note": "配件已到，按期完成"})],
    )
    @action(detail=True, methods=["post"])
    def decision(self, request, pk=None):
        waiting = self.get_object()
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _refusal(
            services.decide,
            waiting,
            request.user,
            approve=body.validated_data["approve"],
            note=body.validated_data["note"],
        )
        waiting.refresh_from_db()
        return Response(s.RequestSerializer(waiting, context=self.get_serializer_context()).data)


# --- Notifications ------------------------------------------------------------------------------------------


class NotificationFilter(filters.FilterSet):
    unread = filters.BooleanFilter(field_name="read_at", lookup_expr="isnull", label="Only unread")
    kind = filters.ChoiceFilter(choices=Notification.Kind.choices)

    class Meta:
        model = Notification
        fields: list[str] = []


class ReadCountSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


@extend_schema_view(list=extend_schema(description="Your own notices, newest first (?unread=true)."))
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Notification.objects.none()
    serializer_class = s.NotificationSerializer
    pagination_class = Pages
    permission_classes = [IsActiveAccount]
    filterset_class = NotificationFilter

    def get_queryset(self):
        return (
            Notification.objects.filter(user=self.request.user)
            .select_related("event")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(
        request=None,
        responses={200: s.NotificationSerializer, 404: REFUSALS[404]},
        description="Mark one of your notices read.",
        operation_id="grid_notifications_read",
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notice = self.get_queryset().filter(pk=pk).first()
        if notice is None:
            raise Http404
        if notice.read_at is None:
            notice.read_at = clock.now()
            notice.save(update_fields=["read_at"])
        return Response(s.NotificationSerializer(notice, context=self.get_serializer_context()).data)

    @extend_schema(
        request=None,
        responses={200: ReadCountSerializer},
        description="Mark all your notices read.",
        operation_id="grid_notifications_read_all",
    )
    @action(detail=False, methods=["post"], url_path="read")
    def read_all(self, request):
        marked = self.get_queryset().filter(read_at__isnull=True).update(read_at=clock.now())
        return Response({"marked": marked})
