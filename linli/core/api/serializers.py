from rest_framework import serializers

from ..audit import AuditLog
from ..models import Region, User


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent_id", read_only=True, allow_null=True)

    class Meta:
        model = Region
        fields = ["code", "name", "level", "parent", "boundary", "centre_lon", "centre_lat"]


class UserSerializer(serializers.ModelSerializer):
    scopes = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "role", "scopes", "is_active", "last_login"]

    def get_scopes(self, user) -> list[str]:
        return user.scope_codes


class MeSerializer(UserSerializer):
    totp_enrolled = serializers.BooleanField(source="totp_confirmed", read_only=True)

    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["totp_enrolled"]


class AuditLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditLog
        fields = [
            "id",
            "at",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "region_code",
            "ip",
            "detail",
        ]
