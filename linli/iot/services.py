"""Business rules of the IoT hub: provisioning, commands, schedules, state sweeps."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Max

from linli.core import clock

from .models import Device, Downlink

RPC_TIMEOUT = timedelta(minutes=2)


def _notify_downlink(downlink_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify('linli_downlink', %s)", [str(downlink_id)])


def send_rpc(
    device: Device, method: str, params, *, user=None, group=None, oneway: bool = False, timeout=RPC_TIMEOUT
):
    """Queue an RPC command for a device; the ingest service delivers it (status: queued → delivered → …)."""
    with transaction.atomic():
        # Per-device RPC ids, like ThingsBoard's request ids; the row lock keeps two senders apart.
        Device.objects.select_for_update().filter(pk=device.pk).exists()
        last = Downlink.objects.filter(device=device).aggregate(m=Max("rpc_id"))["m"] or 0
        payload = {"method": method, "params": params}
        if oneway:
            payload["oneway"] = True
        command = Downlink.objects.create(
            device=device,
            region_code=device.region_code,
            kind=Downlink.Kind.RPC,
            payload=payload,
            rpc_id=last + 1,
            expires_at=clock.now() + timeout,
            created_by=user,
            group=group,
        )
        _notify_downlink(command.pk)
    return command
