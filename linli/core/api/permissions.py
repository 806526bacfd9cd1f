from rest_framework.permissions import BasePermission

from ..models import Role


class IsActiveAccount(BasePermission):
    """Logged in, active, and not waiting for a first-login password change."""

    message = "Authentication required, and a first-login password must be changed in the console first."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and not user.must_change_password)


class HasRole(IsActiveAccount):
    roles: tuple[str, ...] = ()

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.role in self.roles


class CanReadAudit(HasRole):
    roles = (Role.AUDITOR, Role.DISTRICT_ADMIN)


class IsStaff(HasRole):
    roles = tuple(r for r in Role if r != Role.RESIDENT)
