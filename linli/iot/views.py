"""Console pages of the IoT hub, under /iot/: devices, alarms, rules, commands, lighting, provisioning.

Every queryset comes from ``visible_to`` (other regions answer 404); every change goes through services.py.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from linli.core import clock
from linli.core.context_processors import switchable_regions
from linli.core.models import Region
from linli.registry.excel import XLSX_CONTENT_TYPE

from . import forms, services
from .models import (
    Alarm,
    AlarmRule,
    Device,
    DeviceProfile,
    Downlink,
    Kind,
    LightingGroup,
    LightingSchedule,
    Notification,
    RejectCounter,
)

PAGE_ROWS = 25


def console_module(user):
    """The IoT hub's entry in the console navigation (see core.context_processors.MODULE_HOOKS)."""
    if not services.can_read(user):
        return None
    return {"name": gettext_lazy("IoT"), "url": reverse("iot:devices"), "key": "iot", "icon": "broadcast"}


def _reader(request):
    if not services.can_read(request.user):
        raise Http404
    return request.user


def _operator(request):
    user = _reader(request)
    if not services.can_operate(user):
        raise PermissionDenied(_("Your role may not operate devices."))
    return user


def _provisioner(request):
    user = _reader(request)
    if not services.can_provision(user):
        raise PermissionDenied(_("Your role may not add devices."))
    return user


def _configurer(request):
    user = _reader(request)
    if not services.can_configure(user):
        raise PermissionDenied(_("Only district administrators change device profiles and rules."))
    return user


def _page(request, queryset):
    return Paginator(queryset, PAGE_ROWS).get_page(request.GET.get("page"))


def _region_context(request, region_code):
    current = Region.objects.filter(code=region_code).first() if region_code else None
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "filter_regions": switchable_regions(request.user, current),
        "filter_region": region_code,
        "query_string": query.urlencode(),
        "can_operate": services.can_operate(request.user),
        "can_provision": services.can_provision(request.user),
        "can_configure": services.can_configure(request.user),
    }


# --- Devices ---


@login_required
def device_list_view(request):
    user = _reader(request)
    region_code = request.GET.get("region") or request.region_code
    filters = forms.DeviceFilterForm(request.GET or None)
    filters.is_valid()
    values = getattr(filters, "cleaned_data", {})
    devices = Device.objects.visible_to(user, region_code=region_code).select_related("profile")
    if q := values.get("q"):
        devices = devices.filter(Q(name__icontains=q) | Q(label__icontains=q))
    if values.get("profile"):
        devices = devices.filter(profile=values["profile"])
    active = Alarm.objects.filter(device=OuterRef("pk"), cleared=False)
    devices = devices.annotate(alarmed=Exists(active))
    if values.get("state") == "online":
        devices = devices.filter(services.online_condition())
    elif values.get("state") == "offline":
        devices = devices.exclude(services.online_condition())
    elif values.get("state") == "alarm":
        devices = devices.filter(alarmed=True)
    elif values.get("state") == "never":
        devices = devices.filter(last_activity=None)
    rejected: dict[str, int] = {}
    if services.can_configure(user):  # the ingest service's refusals are not regional: administrators only
        since = clock.now() - timedelta(hours=24)
        for reason, count in RejectCounter.objects.filter(hour__gte=since).values_list("reason", "count"):
            rejected[reason] = rejected.get(reason, 0) + count
    context = {
        "page": _page(request, devices.order_by("name")),
        "filters": filters,
        "rejected": sorted(rejected.items()),
        **_region_context(request, region_code),
    }
    return render(request, "iot/device_list.html", context)


@login_required
def device_detail_view(request, pk):
    user = _reader(request)
    device = Device.objects.get_visible(user, pk=pk)
    rpc_form = forms.RpcForm()
    light_form = forms.LightCommandForm()
    context = {
        "device": device,
        "latest": services.latest_values(device),
        "alarms": Alarm.objects.filter(device=device).order_by("cleared", "-start_ts")[:20],
        "commands": Downlink.objects.filter(device=device).order_by("-pk")[:20],
        "attributes": device.attributes.order_by("scope", "key"),
        "is_light": device.profile.kind == Kind.STREET_LIGHT,
        "rpc_form": rpc_form,
        "light_form": light_form,
        "chart_keys": [k["key"] for k in device.profile.keys or []][:6],
        "show_token": services.can_provision(user),
        **_region_context(request, device.region_code),
    }
    return render(request, "iot/device_detail.html", context)


@login_required
def device_commands_view(request, pk):
    """The recent commands of a device with their delivery status (refreshed by htmx on the detail page)."""
    user = _reader(request)
    device = Device.objects.get_visible(user, pk=pk)
    commands = Downlink.objects.filter(device=device).order_by("-pk")[:20]
    return render(request, "iot/_commands.html", {"commands": commands, "device": device})


@login_required
@require_POST
def device_command_view(request, pk):
    user = _operator(request)
    device = Device.objects.get_visible(user, pk=pk)
    if "action" in request.POST:
        form = forms.LightCommandForm(request.POST)
        if form.is_valid():
            method, params = services.light_command(
                form.cleaned_data["action"], form.cleaned_data.get("level")
            )
            services.send_rpc(device, method, params, user=user)
            messages.success(request, _("Command queued; its delivery status is shown below."))
        else:
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    else:
        form = forms.RpcForm(request.POST)
        if form.is_valid():
            services.send_rpc(
                device,
                form.cleaned_data["method"],
                form.cleaned_data["params"],
                user=user,
                oneway=form.cleaned_data["oneway"],
            )
            messages.success(request, _("Command queued; its delivery status is shown below."))
        else:
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    return redirect(reverse("iot:device_detail", args=[device.pk]) + "#commands")


@login_required
@require_POST
def device_token_view(request, pk):
    user = _provisioner(request)
    device = Device.objects.get_visible(user, pk=pk)
    services.regenerate_token(device, user)
    messages.success(request, _("A new access token was generated; the device must be given it."))
    return redirect("iot:device_detail", pk=device.pk)


@login_required
def device_create_view(request):
    user = _provisioner(request)
    form = forms.DeviceForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items()}
        device = services.create_device(user, **data)
        messages.success(request, _("Device added. Give it its access token."))
        return redirect("iot:device_detail", pk=device.pk)
    return render(
        request, "iot/form.html", {"form": form, "title": _("Add a device"), **_region_context(request, None)}
    )


# --- Alarms ---


@login_required
def alarm_list_view(request):
    user = _reader(request)
    region_code = request.GET.get("region") or request.region_code
    filters = forms.AlarmFilterForm(request.GET or None)
    filters.is_valid()
    values = getattr(filters, "cleaned_data", {})
    alarms = Alarm.objects.visible_to(user, region_code=region_code).select_related(
        "device", "device__profile"
    )
    status = values.get("status") or "active"
    if status == "active":
        alarms = alarms.filter(cleared=False)
    elif status == "unack":
        alarms = alarms.filter(cleared=False, acknowledged=False)
    elif status == "cleared":
        alarms = alarms.filter(cleared=True)
    if values.get("severity"):
        alarms = alarms.filter(severity=values["severity"])
    mine = Notification.objects.filter(user=user, read_at=None).count() if not user.is_resident else 0
    context = {
        "page": _page(request, alarms.order_by("cleared", "acknowledged", "-start_ts")),
        "filters": filters,
        "status": status,
        "unread": mine,
        **_region_context(request, region_code),
    }
    return render(request, "iot/alarm_list.html", context)


def _alarm_response(request, alarm):
    """After an action: the alarm's row again for htmx, else back to where the user was."""
    if request.headers.get("HX-Request"):
        alarm.refresh_from_db()
        return render(
            request,
            "iot/_alarm_row.html",
            {"alarm": alarm, "can_operate": services.can_operate(request.user), "with_device": True},
        )
    return redirect(request.POST.get("next") or reverse("iot:alarms"))


@login_required
@require_POST
def alarm_ack_view(request, pk):
    user = _operator(request)
    alarm = Alarm.objects.get_visible(user, pk=pk)
    services.acknowledge_alarm(alarm, user)
    return _alarm_response(request, alarm)


@login_required
@require_POST
def alarm_clear_view(request, pk):
    user = _operator(request)
    alarm = Alarm.objects.get_visible(user, pk=pk)
    services.clear_alarm(alarm, user)
    return _alarm_response(request, alarm)


@login_required
def notification_list_view(request):
    user = _reader(request)
    rows = Notification.objects.filter(user=user).select_related("alarm", "alarm__device")
    page = _page(request, rows)
    unread = [n.pk for n in page if n.read_at is None]
    Notification.objects.filter(pk__in=unread).update(read_at=clock.now())
    return render(request, "iot/notification_list.html", {"page": page, "unread": set(unread)})


# --- Profiles and rules ---


@login_required
def profile_list_view(request):
    _reader(request)
    profiles = DeviceProfile.objects.annotate(
        device_count=Count("devices", distinct=True), rule_count=Count("rules", distinct=True)
    ).order_by("name")
    return render(request, "iot/profile_list.html", {"profiles": profiles, **_region_context(request, None)})


@login_required
def profile_detail_view(request, pk):
    _reader(request)
    profile = get_object_or_404(DeviceProfile, pk=pk)
    form = forms.RuleForm(initial={"severity": "major", "op": ">", "kind": "threshold"})
    return render(
        request,
        "iot/profile_detail.html",
        {
            "profile": profile,
            "rules": profile.rules.order_by("alarm_type", "pk"),
            "form": form,
            **_region_context(request, None),
        },
    )


@login_required
def profile_form_view(request, pk=None):
    user = _configurer(request)
    profile = get_object_or_404(DeviceProfile, pk=pk) if pk else None
    form = forms.ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        profile = form.save()
        from . import pipeline

        pipeline._profile_cache.pop(profile.pk, None)
        from linli.core import audit

        audit.record("iot.profile.saved", actor=user, target=profile)
        return redirect("iot:profile_detail", pk=profile.pk)
    title = _("Edit profile") if profile else _("New device profile")
    return render(request, "iot/form.html", {"form": form, "title": title, **_region_context(request, None)})


@login_required
def rule_form_view(request, profile_pk, pk=None):
    user = _configurer(request)
    profile = get_object_or_404(DeviceProfile, pk=profile_pk)
    rule = get_object_or_404(AlarmRule, pk=pk, profile=profile) if pk else AlarmRule(profile=profile)
    form = forms.RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        services.save_rule(form.save(commit=False), user)
        messages.success(request, _("Rule saved; devices use it within a few seconds."))
        return redirect("iot:profile_detail", pk=profile.pk)
    title = _("Edit rule") if pk else _("New rule")
    return render(
        request,
        "iot/form.html",
        {"form": form, "title": f"{profile} · {title}", **_region_context(request, None)},
    )


@login_required
@require_POST
def rule_delete_view(request, profile_pk, pk):
    user = _configurer(request)
    rule = get_object_or_404(AlarmRule, pk=pk, profile_id=profile_pk)
    services.delete_rule(rule, user)
    messages.success(request, _("Rule deleted."))
    return redirect("iot:profile_detail", pk=profile_pk)


# --- Provisioning ---


@login_required
def import_view(request):
    user = _provisioner(request)
    form = forms.ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = services.import_devices(upload.read(), upload.name, user)
        if result.ok:
            request.session["iot_imported"] = [d.pk for d in result.created][:10_000]
            messages.success(
                request,
                _("%(n)d devices were created. Download their access tokens below.")
                % {"n": len(result.created)},
            )
    context = {
        "form": form,
        "result": result,
        "profiles": DeviceProfile.objects.order_by("name"),
        **_region_context(request, None),
    }
    return render(request, "iot/import.html", context)


@login_required
def import_template_view(request):
    _provisioner(request)
    response = HttpResponse(services.import_template(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="devices-template.xlsx"'
    return response


@login_required
def import_tokens_view(request):
    user = _provisioner(request)
    ids = request.session.get("iot_imported") or []
    devices = list(Device.objects.visible_to(user).filter(pk__in=ids).order_by("name"))
    response = HttpResponse(services.credentials_workbook(devices), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="device-tokens.xlsx"'
    return response


# --- Street lighting ---


@login_required
def lighting_list_view(request):
    user = _reader(request)
    region_code = request.GET.get("region") or request.region_code
    groups = (
        LightingGroup.objects.visible_to(user, region_code=region_code)
        .annotate(light_count=Count("devices"))
        .select_related("schedule")
        .order_by("region_code", "name")
    )
    return render(
        request,
        "iot/lighting_list.html",
        {"page": _page(request, groups), **_region_context(request, region_code)},
    )


@login_required
def lighting_detail_view(request, pk):
    user = _reader(request)
    group = LightingGroup.objects.get_visible(user, pk=pk)
    schedule = LightingSchedule.objects.filter(group=group).first()
    initial = {
        "entries": "\n".join(f"{e['time']} {e['level']}" for e in schedule.entries) if schedule else "",
        "enabled": schedule.enabled if schedule else True,
    }
    schedule_form = forms.ScheduleForm(initial=initial)
    command_form = forms.LightCommandForm()
    if request.method == "POST":
        _operator(request)
        if request.POST.get("form") == "schedule":
            schedule_form = forms.ScheduleForm(request.POST)
            if schedule_form.is_valid():
                services.save_schedule(
                    group, schedule_form.cleaned_data["entries"], schedule_form.cleaned_data["enabled"], user
                )
                messages.success(request, _("Schedule saved."))
                return redirect("iot:lighting_detail", pk=group.pk)
        else:
            command_form = forms.LightCommandForm(request.POST)
            if command_form.is_valid():
                sent = services.command_group(
                    group,
                    command_form.cleaned_data["action"],
                    command_form.cleaned_data.get("level"),
                    user=user,
                )
                messages.success(request, _("Command queued for %(n)d lights.") % {"n": len(sent)})
                return redirect("iot:lighting_detail", pk=group.pk)
    end = clock.now()
    energy = services.energy_saved(group, end - timedelta(days=7), end)
    commands = Downlink.objects.filter(group=group).select_related("device").order_by("-pk")[:50]
    context = {
        "group": group,
        "schedule": schedule,
        "schedule_form": schedule_form,
        "command_form": command_form,
        "energy": energy,
        "commands": commands,
        "delivery": services.delivery_summary(c.status for c in commands),
        "lights": group.devices.order_by("name"),
        **_region_context(request, group.region_code),
    }
    return render(request, "iot/lighting_detail.html", context)
