"""The configuration admin's site: for active district administrators only, who sign in through Linli's login.

Kept apart from ``admin.py`` because Django loads ``LinliAdminConfig`` before the models exist.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def is_district_admin(user) -> bool:
    """Whether this user may use the configuration admin."""
    return bool(user and user.is_authenticated and user.is_active and user.role == "district_admin")


class LinliAdminSite(admin.AdminSite):
    site_header = _("Linli configuration")
    site_title = _("Linli configuration")
    index_title = _("Configuration data")
    site_url = "/"

    def has_permission(self, request):
        return is_district_admin(request.user)

    def login(self, request, extra_context=None):
        # Django's own admin login would skip two-factor, lockout and the login audit: send people to ours.
        if request.user.is_authenticated:
            if self.has_permission(request):
                return redirect("admin:index")
            raise PermissionDenied(_("Only district administrators may use the configuration admin."))
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        return redirect(f"{reverse('core:login')}?{urlencode({REDIRECT_FIELD_NAME: target})}")

    def logout(self, request, extra_context=None):
        from .views import logout_view

        return logout_view(request)


class LinliAdminConfig(AdminConfig):
    default_site = "linli.core.admin_site.LinliAdminSite"
