from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Alarm, Device, Downlink


class DeviceSerializer(serializers.ModelSerializer):
    profile = serializers.CharField(source="profile.name", read_only=True)
    kind = serializers.CharField(source="profile.kind", read_only=True)
    online = serializers.BooleanField(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "name",
            "label",
            "profile",
            "kind",
            "region_code",
            "house",
            "facility",
            "is_gateway",
            "gateway",
            "lon",
            "lat",
            "last_activity",
            "connected",
            "online",
        ]


class DeviceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    label = serializers.CharField(max_length=100, required=False, default="")
    profile = serializers.CharField(help_text="The device profile's name")
    region = serializers.CharField(
        help_text="A community (12 digits) or grid (15 digits) code inside your scope"
    )
    access_token = serializers.CharField(
        required=False, help_text="20–64 characters without spaces or '/'; generated when left out"
    )
    is_gateway = serializers.BooleanField(required=False, default=False)
    lon = serializers.FloatField(required=False, allow_null=True, min_value=73, max_value=136)
    lat = serializers.FloatField(required=False, allow_null=True, min_value=3, max_value=54)

    def validate_profile(self, value):
        from ..models import DeviceProfile

        profile = DeviceProfile.objects.filter(name=value).first()
        if profile is None:
            raise serializers.ValidationError("No device profile has this name.")
        return profile

    def validate_region(self, value):
        from linli.core.models import Region

        region = Region.objects.visible_to(self.context["request"].user).filter(code=value).first()
        if region is None or len(value) not in (12, 15):
            raise serializers.ValidationError("Give a community or grid code inside your scope.")
        return region

    def validate_name(self, value):
        if Device.objects.filter(name=value).exists():
            raise serializers.ValidationError("A device with this name exists already.")
        return value

    def validate_access_token(self, value):
        from ..pipeline import valid_token

        if not valid_token(value):
            raise serializers.ValidationError("A token has 20 to 64 characters, without spaces or slashes.")
        if Device.objects.filter(access_token=value).exists():
            raise serializers.ValidationError("This token is used by another device.")
        return value


class ProvisionedDeviceSerializer(serializers.ModelSerializer):
    profile = serializers.CharField(source="profile.name", read_only=True)

    class Meta:
        model = Device
        fields = ["id", "name", "label", "profile", "region_code", "access_token", "is_gateway", "lon", "lat"]
        read_only_fields = fields


class LatestValueSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    value = serializers.JSONField()
    ts = serializers.IntegerField(help_text="Epoch milliseconds")


class DeviceDetailSerializer(DeviceSerializer):
    latest = serializers.SerializerMethodField()

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "latest"]

    @extend_schema_field(LatestValueSerializer(many=True))
    def get_latest(self, device):
        from .. import services

        return [{k: v for k, v in row.items() if k != "at"} for row in services.latest_values(device)]


class AlarmSerializer(serializers.ModelSerializer):
    device_name = serializers.CharField(source="device.name", read_only=True)
    status = serializers.CharField(
        read_only=True, help_text="ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK or CLEARED_ACK"
    )

    class Meta:
        model = Alarm
        fields = [
            "id",
            "device",
            "device_name",
            "region_code",
            "type",
            "severity",
            "status",
            "cleared",
            "acknowledged",
            "start_ts",
            "end_ts",
            "ack_ts",
            "clear_ts",
            "occurrences",
            "details",
        ]
        read_only_fields = fields


class CommandSerializer(serializers.ModelSerializer):
    class Meta:
        model = Downlink
        fields = [
            "id",
            "device",
            "kind",
            "payload",
            "rpc_id",
            "status",
            "response",
            "created_at",
            "expires_at",
            "delivered_at",
            "responded_at",
            "group",
        ]
        read_only_fields = fields


class RpcRequestSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=64)
    params = serializers.JSONField(required=False, default=dict)
    oneway = serializers.BooleanField(required=False, default=False)
    timeout = serializers.IntegerField(
        required=False, default=120, min_value=1, max_value=86400, help_text="Seconds before it times out"
    )


class EnergyReportSerializer(serializers.Serializer):
    lights = serializers.IntegerField()
    lit_hours = serializers.FloatField(help_text="Hours the schedule has the lights on at any level")
    full_kwh = serializers.FloatField(help_text="Every light at rated power for every lit hour")
    actual_kwh = serializers.FloatField(help_text="From the lights' energy counters or power samples")
    saved_kwh = serializers.FloatField()
    saved_percent = serializers.FloatField()
    metered = serializers.IntegerField(help_text="Lights whose use came from their own data")


LIGHT_ACTION_CHOICES = [("on", "on"), ("off", "off"), ("dim", "dim")]


class LightCommandSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=LIGHT_ACTION_CHOICES)
    level = serializers.IntegerField(required=False, min_value=0, max_value=100, allow_null=True)


@extend_schema_field(OpenApiTypes.OBJECT)
class SeriesField(serializers.JSONField):
    pass
