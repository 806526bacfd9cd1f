"""REST API v1 for the core: regions, accounts and the audit log, each limited to the caller's scope."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, viewsets

from ..audit import AuditLog
from ..models import Region, User
from .permissions import CanReadAudit, IsStaff
from .scoping import ScopedViewMixin
from .serializers import AuditLogSerializer, MeSerializer, RegionSerializer, UserSerializer


class RegionFilter(filters.FilterSet):
    parent = filters.CharFilter(field_name="parent_id")
    within = filters.CharFilter(field_name="code", lookup_expr="startswith", label="Code prefix")

    class Meta:
        model = Region
        fields = ["level", "parent", "within"]


class RegionViewSet(ScopedViewMixin, viewsets.ReadOnlyModelViewSet):
    """Regions in the caller's scope: district, streets/towns, communities/villages and grids."""

    queryset = Region.objects.order_by("code")
    serializer_class = RegionSerializer
    permission_classes = [IsStaff]
    filterset_class = RegionFilter
    lookup_field = "code"


class UserViewSet(ScopedViewMixin, viewsets.ReadOnlyModelViewSet):
    """Accounts whose scope lies inside the caller's; a resident sees only their own."""

    queryset = User.objects.order_by("username")
    serializer_class = UserSerializer
    filterset_fields = ["role"]

    def get_queryset(self):
        return super().get_queryset().prefetch_related("scopes")


class AuditLogViewSet(ScopedViewMixin, viewsets.ReadOnlyModelViewSet):
    """The audit log of the caller's scope (auditors and district administrators)."""

    queryset = AuditLog.objects.order_by("-at", "-id")
    serializer_class = AuditLogSerializer
    permission_classes = [CanReadAudit]
    filterset_fields = ["action", "actor_name"]


class MeView(generics.RetrieveAPIView):
    """The calling account, with its role and scope codes."""

    serializer_class = MeSerializer

    @extend_schema(operation_id="me")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_object(self):
        return self.request.user
