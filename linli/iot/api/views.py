"""REST API v1 of the IoT hub: devices, time series, alarms (acknowledge, clear), commands; scoped."""

from datetime import timedelta

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response

from linli.core import clock
from linli.core.api.permissions import IsActiveAccount
from linli.core.api.scoping import ScopedViewMixin

from .. import services
from ..models import Alarm, Device, Downlink, LightingGroup
from . import serializers as s


class IotAccess(IsActiveAccount):
    """Reading roles read; operating roles also acknowledge, clear and send commands."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view) or not services.can_read(request.user):
            return False
        return request.method in SAFE_METHODS or services.can_operate(request.user)


class DeviceFilter(filters.FilterSet):
    within = filters.CharFilter(
        field_name="region_code", lookup_expr="startswith", label="Region code prefix"
    )
    profile = filters.CharFilter(field_name="profile__name", label="Profile name")
    kind = filters.CharFilter(field_name="profile__kind", label="Profile kind")
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = Device
        fields = ["within", "profile", "kind", "q", "is_gateway"]


class DeviceViewSet(
    ScopedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Device.objects.order_by("name")
    permission_classes = [IotAccess]
    filterset_class = DeviceFilter

    @extend_schema(
        request=s.DeviceCreateSerializer,
        responses={201: s.ProvisionedDeviceSerializer},
        description="Provision a device (district administrators, street officers, community workers): the "
        "answer carries its access token.",
    )
    def create(self, request):
        if not services.can_provision(request.user):
            raise PermissionDenied
        body = s.DeviceCreateSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if not data.get("access_token"):
            data.pop("access_token", None)
        device = services.create_device(request.user, **data)
        return Response(s.ProvisionedDeviceSerializer(device).data, status=201)

    def get_queryset(self):
        return super().get_queryset().select_related("profile")

    def get_serializer_class(self):
        return s.DeviceDetailSerializer if self.action == "retrieve" else s.DeviceSerializer

    @extend_schema(
        description="Time series of the device in ThingsBoard's format: `{key: [{ts, value}, …]}`, oldest "
        "first; at most `limit` points per key (the newest of the range). Times are epoch milliseconds.",
        parameters=[
            OpenApiParameter("keys", str, description="Comma-separated keys (default: every key with data)"),
            OpenApiParameter("startTs", int, description="From (epoch ms; default 24 hours ago)"),
            OpenApiParameter("endTs", int, description="Until, exclusive (epoch ms; default now)"),
            OpenApiParameter("limit", int, description="Points per key, at most 10000 (default 1000)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "Two keys", value={"temperature": [{"ts": 1764400000000, "value": 21.5}], "humidity": []}
            )
        ],
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="telemetry",
        url_name="telemetry",
        filterset_class=None,
        pagination_class=None,
    )
    def telemetry(self, request, pk=None):
        device = self.get_object()
        now_ms = services.now_ms()
        try:
            end = int(request.query_params.get("endTs") or now_ms)
            start = int(request.query_params.get("startTs") or end - 86_400_000)
            limit = int(request.query_params.get("limit") or 1000)
        except ValueError:
            raise serializers.ValidationError(
                {"detail": "startTs, endTs and limit are whole numbers."}
            ) from None
        keys = [k for k in (request.query_params.get("keys") or "").split(",") if k]
        return Response(services.series(device, keys or None, start, end, limit))

    @extend_schema(request=s.RpcRequestSerializer, responses={201: s.CommandSerializer}, filters=False)
    @action(detail=True, methods=["post"], url_path="rpc", url_name="rpc", filterset_class=None)
    def rpc(self, request, pk=None):
        """Send an RPC command to the device; follow its status at /iot/commands/{id}/."""
        device = self.get_object()
        body = s.RpcRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        command = services.send_rpc(
            device,
            body.validated_data["method"],
            body.validated_data["params"],
            user=request.user,
            oneway=body.validated_data["oneway"],
            timeout=timedelta(seconds=body.validated_data["timeout"]),
        )
        return Response(s.CommandSerializer(command).data, status=201)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: s.CommandSerializer},
        filters=False,
        description="Set shared attributes of the device (`{key: value, …}`) and push them to it; the answer "
        "is the push with its delivery status.",
    )
    @action(detail=True, methods=["post"], url_path="shared-attributes", url_name="shared-attributes")
    def shared_attributes(self, request, pk=None):
        device = self.get_object()
        values = request.data
        if not isinstance(values, dict) or not values or any(not k or len(k) > 64 for k in values):
            raise serializers.ValidationError(
                {"detail": "Send an object of attributes, keys of 1–64 characters."}
            )
        push = services.set_shared_attributes(device, dict(values), user=request.user)
        return Response(s.CommandSerializer(push).data, status=201)

    @extend_schema(responses={200: s.CommandSerializer(many=True)}, filters=False)
    @action(
        detail=True,
        methods=["get"],
        url_path="commands",
        url_name="commands",
        filterset_class=None,
        pagination_class=None,
    )
    def commands(self, request, pk=None):
        """The device's last 100 commands with their delivery status."""
        device = self.get_object()
        rows = Downlink.objects.filter(device=device).order_by("-pk")[:100]
        return Response(s.CommandSerializer(rows, many=True).data)


class AlarmFilter(filters.FilterSet):
    within = filters.CharFilter(
        field_name="region_code", lookup_expr="startswith", label="Region code prefix"
    )
    status = filters.ChoiceFilter(
        method="by_status",
        choices=[
            (v, v)
            for v in ("ACTIVE", "ACTIVE_UNACK", "ACTIVE_ACK", "CLEARED", "CLEARED_UNACK", "CLEARED_ACK")
        ],
    )

    class Meta:
        model = Alarm
        fields = ["within", "status", "severity", "type", "device"]

    def by_status(self, queryset, name, value):
        cleared, _, ack = value.partition("_")
        queryset = queryset.filter(cleared=cleared == "CLEARED")
        if ack:
            queryset = queryset.filter(acknowledged=ack == "ACK")
        return queryset


class AlarmViewSet(
    ScopedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Alarm.objects.order_by("-start_ts")
    serializer_class = s.AlarmSerializer
    permission_classes = [IotAccess]
    filterset_class = AlarmFilter

    def get_queryset(self):
        return super().get_queryset().select_related("device")

    @extend_schema(request=None, responses={200: s.AlarmSerializer})
    @action(detail=True, methods=["post"], url_path="ack", url_name="ack")
    def ack(self, request, pk=None):
        alarm = self.get_object()
        services.acknowledge_alarm(alarm, request.user)
        alarm.refresh_from_db()
        return Response(s.AlarmSerializer(alarm).data)

    @extend_schema(request=None, responses={200: s.AlarmSerializer})
    @action(detail=True, methods=["post"], url_path="clear", url_name="clear")
    def clear(self, request, pk=None):
        alarm = self.get_object()
        services.clear_alarm(alarm, request.user)
        alarm.refresh_from_db()
        return Response(s.AlarmSerializer(alarm).data)


class CommandViewSet(
    ScopedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Commands (RPC and shared-attribute pushes) with delivery status: queued → delivered → successful, or
    timeout / failed."""

    queryset = Downlink.objects.order_by("-pk")
    serializer_class = s.CommandSerializer
    permission_classes = [IotAccess]
    filterset_fields = ["device", "status", "kind", "group"]


class LightingGroupViewSet(ScopedViewMixin, viewsets.GenericViewSet):
    queryset = LightingGroup.objects.order_by("name")
    permission_classes = [IotAccess]
    serializer_class = s.LightCommandSerializer

    @extend_schema(
        request=s.LightCommandSerializer, responses={201: s.CommandSerializer(many=True)}, filters=False
    )
    @action(detail=True, methods=["post"], url_path="command", url_name="command")
    def command(self, request, pk=None):
        """Switch every light of the group on or off, or dim it to a level (0–100)."""
        group = self.get_object()
        body = s.LightCommandSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["action"] == "dim" and body.validated_data.get("level") is None:
            raise serializers.ValidationError({"level": "Give the level from 0 to 100."})
        if not services.can_operate(request.user):
            raise PermissionDenied
        sent = services.command_group(
            group, body.validated_data["action"], body.validated_data.get("level"), user=request.user
        )
        return Response(s.CommandSerializer(sent, many=True).data, status=201)

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description="The last N days (1–366, default 7)")],
        responses={200: s.EnergyReportSerializer},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="energy", url_name="energy")
    def energy(self, request, pk=None):
        """Energy saved by the group's schedule versus full power over the last days."""
        group = self.get_object()
        try:
            days = min(max(int(request.query_params.get("days") or 7), 1), 366)
        except ValueError:
            raise serializers.ValidationError({"days": "A whole number of days."}) from None
        end = clock.now()
        report = services.energy_saved(group, end - timedelta(days=days), end)
        return Response(s.EnergyReportSerializer(report).data)
