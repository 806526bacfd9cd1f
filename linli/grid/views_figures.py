"""The figures page (绩效) and its Excel export: period, grouping and denominator pickers over figures.py.

Scope: the figures are computed from ``Transition.objects.visible_to(user)`` (figures.compute); a region asked
for outside the user's scope answers 404, like every other scoped page. Residents never see the page.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from linli.core.audit import AuditAction, record
from linli.core.context_processors import switchable_regions
from linli.core.models import Region
from linli.core.scope import code_within

from . import figures

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def console_module(user):
    """The figures' entry in the console navigation (core.context_processors.MODULE_HOOKS)."""
    if not figures.can_view(user):
        return None
    return {
        "name": gettext_lazy("Grid figures"),
        "url": reverse("grid_figures:figures"),
        "key": "grid_figures",
        "icon": "bar-chart",
    }


def _flag(request, name: str, default: bool) -> bool:
    if name not in request.GET and "base" not in request.GET:
        return default  # first visit: the configured defaults; after that, an unticked box is "no"
    return request.GET.get(name) in ("1", "on", "true")


def _choices(request):
    """Period, grouping, region and options from the query string, checked against the user's scope."""
    user = request.user
    if not figures.can_view(user):
        raise Http404
    groupings = figures.groupings_for(user)
    allowed = [value for value, _label in groupings]
    grouping = request.GET.get("grouping") or (
        figures.Grouping.STREET if figures.Grouping.STREET in allowed else allowed[0]
    )
    errors = {}
    if grouping not in allowed:
        errors["grouping"] = _("Choose one of the groupings offered.")
        grouping = allowed[0]
    region_code = request.GET.get("region") or None
    if region_code and not code_within(region_code, user.scope_codes):
        raise Http404
    text = request.GET.get("period") or ""
    try:
        period = figures.Period.parse(text) if text else figures.Period.this_year()
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        period = figures.Period.this_year()
    default = figures.Options.default()
    try:
        options = figures.Options(
            base=request.GET.get("base") or default.base,
            exclude_suspended=_flag(request, "exclude_suspended", default.exclude_suspended),
            exclude_cancelled=_flag(request, "exclude_cancelled", default.exclude_cancelled),
            on_time_over=request.GET.get("on_time_over") or default.on_time_over,
            rework_over=request.GET.get("rework_over") or default.rework_over,
        ).checked()
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        options = default
    return grouping, groupings, region_code, period, options, errors


def _labels(grouping, groupings, region_code, user):
    grouping_label = str(dict(groupings)[grouping])
    region = Region.objects.filter(code=region_code).first() if region_code else None
    if region is None and len(user.scope_codes) == 1:
        region = Region.objects.filter(code=user.scope_codes[0]).first()
    return grouping_label, (region.name if region else _("your region"))


def _cell(value, is_rate: bool) -> str:
    if value is None:
        return "—"
    if is_rate:
        return f"{value * 100:.1f} %"
    if isinstance(value, float):
        return f"{value:.1f}"
    return f"{value:,}"


@login_required
@never_cache
def figures_view(request):
    grouping, groupings, region_code, period, options, errors = _choices(request)
    result = figures.compute(request.user, period, grouping, options, region_code=region_code)
    grouping_label, region_label = _labels(grouping, groupings, region_code, request.user)
    columns = [
        (key, zh, label, definition, key in figures.RATES) for key, zh, label, definition in figures.COLUMNS
    ]
    table = [
        (row, [_cell(figures.value(row, key), is_rate) for key, _zh, _l, _d, is_rate in columns])
        for row in [*result.rows, result.total]
    ]
    current = Region.objects.filter(code=request.region_code).first() if request.region_code else None
    return render(
        request,
        "grid/figures.html",
        {
            "figures": result,
            "columns": columns,
            "table": table,
            "groupings": groupings,
            "grouping": grouping,
            "grouping_label": grouping_label,
            "region_label": region_label,
            "regions": switchable_regions(request.user, current),
            "region": region_code or "",
            "period_text": request.GET.get("period") or period.label,
            "options": options,
            "bases": figures.Base.choices,
            "on_time_over": figures.ON_TIME_OVER,
            "rework_over": figures.REWORK_OVER,
            "formulas": result.formulas(),
            "errors": errors,
            "export_query": request.GET.urlencode(),
        },
    )


@login_required
@never_cache
def figures_export_view(request):
    grouping, groupings, region_code, period, options, errors = _choices(request)
    if errors:
        return HttpResponse("\n".join(str(v) for v in errors.values()), status=400, content_type="text/plain")
    user = request.user
    result = figures.compute(user, period, grouping, options, region_code=region_code)
    grouping_label, region_label = _labels(grouping, groupings, region_code, user)
    data = figures.workbook(result, grouping_label=grouping_label, region_label=region_label)
    record(
        AuditAction.GRID_FIGURES_EXPORTED,
        actor=user,
        request=request,
        region_code=region_code or (user.scope_codes[0] if user.scope_codes else None),
        period=period.label,
        grouping=grouping,
        rows=len(result.rows),
        options={
            "base": options.base,
            "exclude_suspended": options.exclude_suspended,
            "exclude_cancelled": options.exclude_cancelled,
            "on_time_over": options.on_time_over,
            "rework_over": options.rework_over,
        },
    )
    name = f"linli-grid-figures-{region_code or 'scope'}-{period.label.replace('~', '_')}-{grouping}.xlsx"
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{name}"
    response["Cache-Control"] = "no-store"
    return response
