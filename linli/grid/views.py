"""Pages of the grid events: the console queue and map, event detail with its steps, the grid worker's phone
pages, residents' reports, notices and scoped photos.

Pages collect input, call services.py (report, take_step, decide) and show what it refuses next to the field
it names. Every event is found through ``visible_to``/``get_visible``: another region's event answers 404,
and a resident reaches only the events they reported.
"""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from linli.core import clock
from linli.core.context_processors import switchable_regions
from linli.core.models import Region, Role, User
from linli.core.pii.masking import mask

from . import forms, queries, services
from .models import Event, Evidence, Request, Source, State, Transition

# Labels of history steps that are not buttons (the buttons' own labels come from services.ACTIONS).
STEP_LABELS = {
    "report": gettext_lazy("Reported"),
    "approve_return": gettext_lazy("Return approved"),
    "deny_return": gettext_lazy("Return denied"),
    "approve_extension": gettext_lazy("Extension approved"),
    "deny_extension": gettext_lazy("Extension denied"),
    "approve_suspension": gettext_lazy("Suspension approved"),
    "deny_suspension": gettext_lazy("Suspension denied"),
}
# What a resident is told of each step; steps not listed here are internal and left out of their timeline.
PUBLIC_STEPS = {
    "report": gettext_lazy("You reported it"),
    "verify": gettext_lazy("Checked on site"),
    "register": gettext_lazy("Accepted as a case"),
    "dispatch": gettext_lazy("Passed to the people who will fix it"),
    "accept": gettext_lazy("Work has started"),
    "report_done": gettext_lazy("Reported as fixed"),
    "inspect_ok": gettext_lazy("Checked and closed"),
    "inspect_fail": gettext_lazy("Not fixed yet: sent back for more work"),
    "self_handle": gettext_lazy("Fixed on the spot"),
    "approve_self": gettext_lazy("Checked and closed"),
    "evaluate": gettext_lazy("You rated the result"),
    "reopen": gettext_lazy("Reopened"),
    "cancel": gettext_lazy("Not taken up"),
    "merge": gettext_lazy("Joined with an earlier report of the same problem"),
    "approve_suspension": gettext_lazy("Waiting for conditions to allow the work"),
    "resume": gettext_lazy("Work has resumed"),
    "approve_extension": gettext_lazy("More time was granted"),
}
# Notes a resident may read: why their report was not taken up or joined with another, and their own words.
PUBLIC_NOTES = {"report", "cancel", "merge", "evaluate"}
# Photos a resident may see: their own and the result.
PUBLIC_PHOTOS = {Evidence.Kind.REPORT, Evidence.Kind.AFTER}


MORE_FILTERS = ("category", "source", "urgency", "since", "until", "assignee", "department")


def step_label(action: str) -> str:
    if action in STEP_LABELS:
        return str(STEP_LABELS[action])
    if action in services.ACTIONS:
        return services.action_label(action)
    return action


def console_module(user):
    """The grid's entry in the console navigation; grid workers land on their phone pages."""
    if user.is_resident or not user.scope_codes:
        return None
    url = reverse("grid:tasks") if user.role == Role.GRID_WORKER else reverse("grid:queue")
    return {"name": gettext_lazy("Grid events"), "url": url, "key": "grid", "icon": "grid-3x3-gap"}


def notices_module(user):
    """A bell in the navigation while the user has unread notices."""
    unread = queries.unread_count(user)
    if not unread:
        return None
    name = _("Notices (%(n)s)") % {"n": unread}
    return {"name": name, "url": reverse("grid:notifications"), "key": "grid-notices", "icon": "bell"}


# --- Helpers ------------------------------------------------------------------------------------------------


def _staff(request) -> User:
    if request.user.is_resident:
        raise Http404
    return request.user


def _apply_errors(form, exc: ValidationError, aliases: dict | None = None) -> None:
    """Put each refusal next to the field it names (or the form's field for it); the rest above the form."""
    aliases = aliases or {}
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            name = aliases.get(name, name)
            target = name if name in form.fields else None
            if name in ("lon", "lat", "location", "region") and "grid" in form.fields:
                target = "grid"
            form.add_error(target, errors)
    else:
        form.add_error(None, exc.messages)


def _departments(user: User):
    """Departments the user may dispatch to (and filter by): in their scope, and those above it."""
    return services.dispatchable_departments(user).order_by("code")


def _staff_near(user: User, code: str):
    """Active staff the user may see who work in the event's community (dispatch targets, queue filter)."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True, scopes__region__code__startswith=code[:12])
        .exclude(role=Role.RESIDENT)
        .distinct()
        .order_by("role", "username")
    )


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _timeline(event: Event, *, public: bool, viewer: User):
    """The history with its photos; for a resident only the public steps, without staff names."""
    steps = (
        Transition.objects.filter(event=event)
        .prefetch_related(Prefetch("evidence", queryset=Evidence.objects.order_by("pk")))
        .order_by("at", "pk")
    )
    rows = []
    for step in steps:
        photos = list(step.evidence.all())
        if public:
            if step.action not in PUBLIC_STEPS:
                continue
            photos = [p for p in photos if p.kind in PUBLIC_PHOTOS]
            own = step.actor_id == viewer.pk
            rows.append(
                {
                    "step": step,
                    "label": PUBLIC_STEPS[step.action],
                    "actor": _("You") if own else "",
                    "note": step.note if (own or step.action in PUBLIC_NOTES) else "",
                    "photos": photos,
                }
            )
        else:
            rows.append(
                {
                    "step": step,
                    "label": step_label(step.action),
                    "actor": step.actor_name or _("the system"),
                    "note": step.note,
                    "photos": photos,
                }
            )
    return rows


def _event_context(request, event: Event, *, phone=False, decision_forms=None):
    user = request.user
    now = clock.now()
    actions = services.allowed_actions(event, user)
    pending = services.pending_requests(event)
    decision_forms = decision_forms or {}
    requests = [
        {
            "obj": r,
            "can_decide": services.is_supervisor(user, event) and r.requested_by_id != user.pk,
            "form": decision_forms.get(r.pk) or forms.DecisionForm(prefix=f"r{r.pk}"),
        }
        for r in pending
    ]
    photos = list(Evidence.objects.filter(event=event, transition__isnull=True).order_by("pk"))
    return {
        "reporter": _reporter(event),
        "event": event,
        "light": event.light(now),
        "now": now,
        "actions": actions,
        "requests": requests,
        "timeline": _timeline(event, public=False, viewer=user),
        "loose_photos": photos,
        "phone": phone,
        "duplicate_of": event.duplicate_of
        if event.duplicate_of_id and services.visible_events(user).filter(pk=event.duplicate_of_id).exists()
        else None,
    }


def _reporter(event: Event) -> dict:
    """Who reported it, masked as the staff view of personal data says (the full contact is not needed)."""
    if event.anonymous:
        return {"name": _("Anonymous"), "phone": ""}
    if event.reporter_id:
        person = event.reporter
        if person.is_resident:
            name = mask("name", person.display_name) if person.display_name else _("Resident account")
        else:
            name = person.display_name or person.username
        return {"name": name, "phone": ""}
    return {
        "name": mask("name", event.reporter_name) or "—",
        "phone": mask("phone", event.reporter_phone) or "",
    }


def _visible_event(request, pk) -> Event:
    """The event if the user may see it (their scope, or handed to them or their department), else 404."""
    return services.get_visible_event(request.user, pk=pk)


# --- Console: queue, map, event detail ----------------------------------------------------------------------


def _queue_filters(request, user):
    region = request.GET.get("region") or request.region_code
    if region and not queries.in_scope(user, region):
        region = request.region_code
    filter_form = forms.QueueFilterForm(
        request.GET or None,
        categories=queries.staff_categories(),
        assignees=_staff_near(user, region)[:300] if region and len(region) >= 12 else [],
        departments=_departments(user),
    )
    values = filter_form.values()
    return region, filter_form, values, queries.QueueFilters(region=region, **values)


@login_required
def queue_count_view(request):
    """The queue's total, fetched by the page after its rows are shown (htmx), counted up to a cap."""
    user = _staff(request)
    _region, _form, _values, filters = _queue_filters(request, user)
    count, capped = queries.queue_count(user, filters)
    return render(request, "grid/_queue_count.html", {"count": count, "capped": capped})


@login_required
def queue_view(request):
    if request.user.is_resident:
        return my_reports_view(request)
    user = request.user
    region, filter_form, values, filters = _queue_filters(request, user)
    current = Region.objects.filter(code=region).first() if region else None
    now = clock.now()
    page = queries.queue_page(user, filters, request.GET.get("page") or 1, now)
    query = request.GET.copy()
    query.pop("page", None)
    rows = [{"event": e, "light": e.light(now)} for e in page.rows]
    return render(
        request,
        "grid/queue.html",
        {
            "filters": filter_form,
            "more_filters": [filter_form[name] for name in MORE_FILTERS],
            "more_open": any(values.get(name) for name in MORE_FILTERS),
            "status": values.get("status", "open"),
            "page": page,
            "rows": rows,
            "filter_regions": switchable_regions(user, current),
            "filter_region": region,
            "current": current,
            "query_string": query.urlencode(),
            "is_grid_worker": user.role == Role.GRID_WORKER,
            "unread": queries.unread_count(user),
        },
    )


def _map_svg(grid_map, queue_url: str, map_url: str) -> str:
    """The shapes as SVG markup, built here: a template loop over 3,000 grids costs more than the query."""
    counts = _("%(open)s open, %(overdue)s overdue")
    parts = []
    for shape in grid_map.shapes:
        tip = escape(f"{shape.name} · " + counts % {"open": shape.open, "overdue": shape.overdue})
        parts.append(
            f'<a href="{map_url if shape.drill else queue_url}?region={shape.code}" data-testid="grid-shape" '
            f'data-code="{shape.code}" '
            f'data-open="{shape.open}" data-overdue="{shape.overdue}" data-band="{shape.band}">'
            f'<path d="{shape.path}" fill="{shape.colour}"><title>{tip}</title></path></a>'
        )
    if len(grid_map.shapes) <= 30:
        # Few shapes: their names fit, with the open count under them.
        parts += [
            f'<text x="{s.label_x}" y="{s.label_y}" class="grid-map-label" text-anchor="middle">'
            f"{escape(s.name)}"
            + (f'<tspan x="{s.label_x}" dy="1.3em" class="grid-map-count">{s.open}</tspan>' if s.open else "")
            + "</text>"
            for s in grid_map.shapes
        ]
    elif len(grid_map.shapes) <= 120:
        parts += [
            f'<text x="{s.label_x}" y="{s.label_y}" class="grid-map-count" text-anchor="middle" '
            f'dominant-baseline="middle">{s.open}</text>'
            for s in grid_map.shapes
            if s.open
        ]
    return mark_safe("".join(parts))  # noqa: S308  (codes, numbers and colours are ours; names are escaped)


@login_required
def map_view(request):
    user = _staff(request)
    region = request.GET.get("region") or request.region_code
    if region and not queries.in_scope(user, region):
        region = request.region_code
    current = Region.objects.filter(code=region).first() if region else None
    grid_map = queries.grid_map(user, region)
    return render(
        request,
        "grid/map.html",
        {
            "map": grid_map,
            "shapes_svg": _map_svg(grid_map, reverse("grid:queue"), reverse("grid:map")),
            "bands": queries.BANDS,
            "filter_regions": switchable_regions(user, current),
            "filter_region": region,
            "current": current,
            "band_labels": {
                "none": _("No open events"),
                "few": _("1–2 open"),
                "some": _("3–9 open"),
                "many": _("10 or more open"),
                "overdue": _("Some overdue"),
            },
        },
    )


@login_required
def event_detail_view(request, pk):
    event = _visible_event(request, pk)
    queries.mark_read(request.user, event=event)
    if request.user.is_resident:
        return _resident_event(request, event)
    return render(request, "grid/event_detail.html", _event_context(request, event))


@login_required
def phone_event_view(request, pk):
    _staff(request)
    event = _visible_event(request, pk)
    queries.mark_read(request.user, event=event)
    return render(request, "grid/phone_event.html", _event_context(request, event, phone=True))


@login_required
def step_view(request, pk, action):
    """The small form of one step: GET shows it, POST takes the step through services.take_step."""
    if action not in services.ACTIONS:
        raise Http404
    user = request.user
    event = _visible_event(request, pk)
    spec = services.ACTIONS[action]
    phone = request.GET.get("m") == "1" or request.POST.get("m") == "1"
    if user.is_resident:
        back = reverse("grid:event", args=[event.pk])
    elif phone:
        back = reverse("grid:phone_event", args=[event.pk])
    else:
        back = reverse("grid:event", args=[event.pk])
    kwargs = {"action": action, "note_required": spec.note_required}
    if action == "dispatch":
        kwargs["assignees"] = list(_staff_near(user, event.region_code)[:300])
        kwargs["departments"] = list(_departments(user))
    if action == "register":
        kwargs["categories"] = list(queries.staff_categories())
    if action == "relocate":
        kwargs["grids"] = queries.relocation_grids(user, event)
    posted = request.method == "POST"
    form = forms.StepForm(request.POST if posted else None, request.FILES if posted else None, **kwargs)
    allowed = {a.name for a in services.allowed_actions(event, user)}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _take(request, event, action, form)
            except PermissionDenied as exc:
                form.add_error(None, str(exc) or _("You may not take this step."))
                status = 403
            except ValidationError as exc:
                _apply_errors(form, exc, {"photos": _photo_field_for(spec, form)})
                status = 400
            else:
                messages.success(request, _("Done: %(step)s.") % {"step": step_label(action)})
                return HttpResponseRedirect(back)
        else:
            status = 400
    elif action not in allowed:
        raise PermissionDenied(_("This step cannot be taken on this event now."))
    suggestions = []
    if action == "merge":
        found = services.find_duplicates(
            event.category, event.lon, event.lat, event.created_at, exclude=event.pk
        )
        visible = set(
            services.visible_events(user).filter(pk__in=[e.pk for e in found]).values_list("pk", flat=True)
        )
        suggestions = [e for e in found if e.pk in visible]
    return render(
        request,
        "grid/step.html",
        {
            "event": event,
            "spec": spec,
            "label": step_label(action),
            "form": form,
            "back": back,
            "phone": phone,
            "suggestions": suggestions,
            "photo_fields": [form[name] for name in forms.StepForm.PHOTO_KINDS if name in form.fields],
            "photos_required": {str(k) for k in spec.photos_required},
            "wants_location": "lon" in form.fields,
        },
        status=status,
    )


def _photo_field_for(spec, form) -> str:
    """The photo input a "needs a photo" refusal belongs next to: the first required kind left empty."""
    names = {kind: name for name, kind in forms.StepForm.PHOTO_KINDS.items()}
    for kind in spec.photos_required:
        name = names.get(kind)
        if name in form.fields and not form.cleaned_data.get(name):
            return name
    return "photos"


def _take(request, event, action, form):
    data = form.cleaned_data
    extra = {}
    if "assignee" in form.fields and data.get("assignee"):
        extra["assignee"] = _staff_near(request.user, event.region_code).filter(pk=data["assignee"]).first()
        if extra["assignee"] is None:
            raise ValidationError({"assignee": _("Choose a person from the list.")})
    if "department" in form.fields and data.get("department"):
        extra["department"] = _departments(request.user).filter(pk=data["department"]).first()
        if extra["department"] is None:
            raise ValidationError({"department": _("Choose a department from the list.")})
    if "category" in form.fields and data.get("category"):
        extra["category"] = queries.staff_categories().filter(pk=data["category"]).first()
    if "grid" in form.fields:
        extra["grid"] = data.get("grid") or None
    if "urgency" in form.fields and data.get("urgency"):
        extra["urgency"] = data["urgency"]
    if "rating" in form.fields:
        extra["rating"] = data.get("rating")
    if "extra_hours" in form.fields:
        extra["extra_hours"] = data.get("extra_hours")
    if "into" in form.fields:
        number = (data.get("into") or "").strip()
        into = services.visible_events(request.user).filter(number=number).first() if number else None
        if number and into is None:
            raise ValidationError({"into": _("No event numbered %(n)s in your regions.") % {"n": number}})
        extra["into"] = into
    services.take_step(
        event,
        action,
        request.user,
        note=data.get("note", ""),
        photos=form.photos(),
        lon=data.get("lon"),
        lat=data.get("lat"),
        **extra,
    )


@login_required
@require_POST
def decide_view(request, pk):
    user = _staff(request)
    try:
        pending = Request.objects.get(pk=pk)
    except Request.DoesNotExist:
        raise Http404 from None
    event = _visible_event(request, pending.event_id)
    form = forms.DecisionForm(request.POST, prefix=f"r{pending.pk}")
    approve = request.POST.get("decision") == "approve"
    phone = request.POST.get("m") == "1"
    back = reverse("grid:phone_event" if phone else "grid:event", args=[event.pk])
    status = 400
    if form.is_valid():
        try:
            services.decide(pending, user, approve=approve, note=form.cleaned_data["note"])
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
            status = 403
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Request approved.") if approve else _("Request denied."))
            return redirect(back)
    context = _event_context(request, event, phone=phone, decision_forms={pending.pk: form})
    template = "grid/phone_event.html" if phone else "grid/event_detail.html"
    return render(request, template, context, status=status)


@login_required
def photo_view(request, pk):
    """A photo of an event the user may see; never a public media URL."""
    try:
        evidence = Evidence.objects.get(pk=pk)
    except Evidence.DoesNotExist:
        raise Http404 from None
    event = services.get_visible_event(request.user, pk=evidence.event_id)
    if request.user.is_resident and evidence.kind not in PUBLIC_PHOTOS:
        raise Http404
    try:
        handle = evidence.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    head = handle.read(16)
    handle.seek(0)
    kind = forms.photo_type(head) or mimetypes.guess_type(evidence.file.name)[0] or "application/octet-stream"
    if not kind.startswith("image/") or kind == "image/svg+xml":
        kind = "application/octet-stream"
    response = FileResponse(handle, content_type=kind)
    response["Content-Disposition"] = f'inline; filename="{event.number}-{evidence.pk}"'
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


# --- Grid worker's phone pages ------------------------------------------------------------------------------


@login_required
def tasks_view(request):
    user = _staff(request)
    now = clock.now()
    mine = list(queries.my_tasks(user)[:100])
    seen = {e.pk for e in mine}
    grid = [e for e in queries.grid_tasks(user)[:100] if e.pk not in seen]
    return render(
        request,
        "grid/phone_tasks.html",
        {
            "mine": [{"event": e, "light": e.light(now)} for e in mine],
            "grid": [{"event": e, "light": e.light(now)} for e in grid],
            "unread": queries.unread_count(user),
        },
    )


@login_required
def report_view(request):
    """A grid worker (or any staff member) reports what they found on patrol."""
    if request.user.is_resident:
        return redirect("grid:resident_report")
    user = request.user
    form = forms.ReportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        categories=list(queries.staff_categories()),
        grids=queries.own_grids(user),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        grid = data.get("grid") or None
        try:
            if grid and not queries.in_scope(user, grid):
                raise ValidationError({"grid": _("Choose one of your own grids.")})
            intake = services.report(
                within=user.scope_codes,
                category=data["category"],
                title=data["title"],
                description=data["description"],
                source=Source.GRID_WORKER if user.role == Role.GRID_WORKER else Source.STAFF,
                lon=data.get("lon"),
                lat=data.get("lat"),
                address=data.get("address", ""),
                region_code=grid,
                reporter=user,
                urgency=data.get("urgency") or "normal",
                photos=data["photos"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Event %(n)s reported.") % {"n": intake.event.number})
            if intake.duplicates:
                messages.warning(
                    request,
                    _("Possible duplicate of %(numbers)s: a supervisor may merge them.")
                    % {"numbers": ", ".join(e.number for e in intake.duplicates[:5])},
                )
            return redirect("grid:phone_event", pk=intake.event.pk)
    return render(
        request, "grid/report.html", {"form": form, "resident": False}, status=400 if form.errors else 200
    )


# --- Residents ----------------------------------------------------------------------------------------------


@login_required
def my_reports_view(request):
    user = request.user
    if not user.is_resident:
        return redirect("grid:queue")
    events = Event.objects.visible_to(user).select_related("category").order_by("-created_at", "-pk")[:100]
    return render(request, "grid/my_reports.html", {"events": events})


@login_required
def resident_report_view(request):
    user = request.user
    if not user.is_resident:
        return redirect("grid:report")
    form = forms.ReportForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        categories=list(queries.public_categories()),
        grids=queries.grids_for_residents(),
        with_urgency=False,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            intake = services.report(
                category=data["category"],
                title=data["title"],
                description=data["description"],
                source=Source.RESIDENT,
                lon=data.get("lon"),
                lat=data.get("lat"),
                address=data.get("address", ""),
                region_code=data.get("grid") or None,
                reporter=user,
                photos=data["photos"],
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(
                request, _("Thank you. Your report number is %(n)s.") % {"n": intake.event.number}
            )
            return redirect("grid:event", pk=intake.event.pk)
    return render(
        request, "grid/report.html", {"form": form, "resident": True}, status=400 if form.errors else 200
    )


def _resident_event(request, event):
    can_rate = any(a.name == "evaluate" for a in services.allowed_actions(event, request.user))
    return render(
        request,
        "grid/resident_event.html",
        {
            "event": event,
            "timeline": _timeline(event, public=True, viewer=request.user),
            "photos": Evidence.objects.filter(event=event, kind=Evidence.Kind.REPORT).order_by("pk"),
            "rate_form": forms.StepForm(action="evaluate") if can_rate else None,
            "closed": event.state in (State.CLOSED, State.EVALUATED),
        },
    )


# --- Notices ------------------------------------------------------------------------------------------------


@login_required
def notifications_view(request):
    user = request.user
    if request.method == "POST":
        ids = request.POST.getlist("id")
        count = queries.mark_read(user, ids=[int(i) for i in ids if i.isdigit()] if ids else None)
        messages.success(request, _("%(n)s notices marked as read.") % {"n": count})
        return redirect(_safe_next(request, reverse("grid:notifications")))
    rows = list(queries.notifications(user)[:200])
    return render(
        request,
        "grid/notifications.html",
        {"rows": rows, "unread": sum(1 for n in rows if n.read_at is None)},
    )


def resident_card(user):
    """The residents' home page card (core.context_processors.RESIDENT_HOOKS): report and follow problems."""
    return {
        "name": gettext_lazy("Report a problem"),
        "url": reverse("grid:my_reports"),
        "icon": "megaphone",
        "description": gettext_lazy(
            "Tell your grid worker about a problem nearby, follow it and rate the result."
        ),
    }
