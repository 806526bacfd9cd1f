from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .models import Region, Role


def console(request):
    """The console's navigation and region switcher, for every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_resident:
        return {}
    modules = [
        {"name": _("Overview"), "url": reverse("core:home"), "key": "home"},
        {"name": _("API"), "url": reverse("api-docs"), "key": "api"},
    ]
    if user.role in (Role.AUDITOR, Role.DISTRICT_ADMIN):
        modules.insert(1, {"name": _("Audit log"), "url": reverse("core:audit"), "key": "audit"})
    if user.role == Role.DISTRICT_ADMIN:
        modules.append({"name": _("Configuration"), "url": reverse("admin:index"), "key": "admin"})
    current = Region.objects.filter(code=request.region_code).first() if request.region_code else None
    return {
        "console_modules": modules,
        "current_region": current,
        "switchable_regions": switchable_regions(user, current),
    }


def switchable_regions(user, current):
    """Every street and community in scope, and the grids of the community being worked in.

    Listing every grid of a district (thousands at full scale) would make the switcher useless.
    """
    visible = Region.objects.visible_to(user).only("code", "name", "level")
    nearby = Q(level__in=["district", "street", "community"])
    if current is not None and len(current.code) >= 12:
        nearby |= Q(level="grid", code__startswith=current.code[:12])
    elif len(user.scope_codes) and all(len(code) >= 12 for code in user.scope_codes):
        nearby |= Q(level="grid")
    return list(visible.filter(nearby).order_by("code"))
