from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .models import Region, Role

# The page layout for each kind of visitor; pages extend ``base_template`` so one page serves all of them.
PLAIN_LAYOUT = "plain_base.html"
CONSOLE_LAYOUT = "console_base.html"
RESIDENT_LAYOUT = "resident_base.html"

# Pages that belong to the overview module although their URL does not start with its own.
OVERVIEW_VIEWS = {"core:home", "core:region_detail"}

# Apps above the core add their console modules from AppConfig.ready(): ``hook(user)`` returns a module dict
# (name, url, key, icon) or None when the user may not use it. They appear after the overview, in this order.
MODULE_HOOKS: list = []

# The same for residents' home page: ``hook(user)`` returns a service card (name, url, icon, description).
RESIDENT_HOOKS: list = []


def console(request):
    """The console's navigation and region switcher, for every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"base_template": PLAIN_LAYOUT}
    if user.is_resident:
        services = [card for hook in RESIDENT_HOOKS if (card := hook(user)) is not None]
        return {"base_template": RESIDENT_LAYOUT, "resident_services": services}
    modules = [
        {"name": _("Overview"), "url": reverse("core:home"), "key": "home", "icon": "diagram-3"},
        {"name": _("API"), "url": reverse("api-docs"), "key": "api", "icon": "braces"},
    ]
    for position, hook in enumerate(MODULE_HOOKS, start=1):
        if (module := hook(user)) is not None:
            modules.insert(position, module)
    if user.role in (Role.AUDITOR, Role.DISTRICT_ADMIN):
        modules.insert(
            1, {"name": _("Audit log"), "url": reverse("core:audit"), "key": "audit", "icon": "journal-text"}
        )
    if user.role == Role.DISTRICT_ADMIN:
        modules.append(
            {"name": _("Configuration"), "url": reverse("admin:index"), "key": "admin", "icon": "gear"}
        )
    match = getattr(request, "resolver_match", None)
    view_name = match.view_name if match else ""
    for module in modules:
        if module["key"] == "home":
            module["active"] = view_name in OVERVIEW_VIEWS
        else:
            module["active"] = request.path.startswith(module["url"])
    region_code = getattr(request, "region_code", None)
    current = Region.objects.filter(code=region_code).first() if region_code else None
    # After switching, a region's own page would still show the old region: go to the overview instead.
    switch_next = reverse("core:home") if view_name == "core:region_detail" else request.get_full_path()
    return {
        "base_template": CONSOLE_LAYOUT,
        "console_modules": modules,
        "current_region": current,
        "switchable_regions": switchable_regions(user, current),
        "switch_next": switch_next,
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
    regions = list(visible.filter(nearby).order_by("code"))
    for region in regions:
        # Depth under the district (0 for a district, 3 for a grid), to indent the list like the tree.
        region.depth = len(region.code) // 3 - 2
    return regions
