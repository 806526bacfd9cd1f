"""IoT alarms that open grid events: the grid side of ``linli.iot.hooks.ALARM_SINKS``.

An alarm rule names a grid category (``rule.grid_category``, a category code such as IOT01 烟感告警). Each new
alarm of such a rule becomes one event, with the alarm's id as its upstream id, so an alarm delivered twice is
still one event. The event is placed by the device's point, else its building's, else the device's own grid.
"""

from __future__ import annotations

import logging

from . import services
from .models import Category, Source, Urgency

log = logging.getLogger(__name__)

URGENT_SEVERITIES = {"critical", "major"}


def _place(device) -> tuple[float | None, float | None, str | None]:
    for holder in (device, getattr(device, "building", None), getattr(device, "house", None)):
        if holder is not None and getattr(holder, "lon", None) is not None and getattr(holder, "lat", None):
            return holder.lon, holder.lat, None
    code = device.region_code if len(device.region_code or "") == 15 else None
    return None, None, code


def open_event_for_alarm(alarm) -> services.Intake | None:
    """Open (or find) the grid event for a new alarm; None when its rule maps to no category."""
    rule = getattr(alarm, "rule", None)
    code = getattr(rule, "grid_category", "") if rule is not None else ""
    if not code:
        return None
    category = Category.objects.filter(code=code, active=True, parent__isnull=False).first()
    if category is None:
        log.warning("alarm %s: rule maps to unknown grid category %r; no event opened", alarm.pk, code)
        return None
    device = alarm.device
    lon, lat, grid_code = _place(device)
    if lon is None and grid_code is None:
        log.warning("alarm %s: device %s has no point and no grid; no event opened", alarm.pk, device.pk)
        return None
    severity = str(getattr(alarm, "severity", "")).lower()
    return services.report(
        category=category,
        title=f"{category.name}：{device.name}"[:100],
        description=f"{alarm.type} ({severity}) {getattr(alarm, 'details', '') or ''}"[:4000],
        source=Source.IOT,
        lon=lon,
        lat=lat,
        region_code=grid_code,
        urgency=Urgency.URGENT if severity in URGENT_SEVERITIES else Urgency.NORMAL,
        upstream_system="iot",
        upstream_id=str(alarm.pk),
    )
