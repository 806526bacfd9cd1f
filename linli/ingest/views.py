"""ThingsBoard's HTTP device API: `/api/v1/{token}/telemetry|attributes|rpc|claim` and `/api/v1/provision`.

Status codes as ThingsBoard's: 200 done, 400 bad payload, 401 unknown token, 408 long poll timed out. Payloads
are parsed by the same functions as MQTT (payloads.py); storage goes through the seam (one store_telemetry
call per request: HTTP devices report rarely, MQTT is the way for high rates). The long polls are async views,
so a waiting device holds no worker thread.
"""

from __future__ import annotations

import asyncio
import os
import time

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from . import payloads
from .front import FORBIDDEN_TOPIC, MALFORMED, UNKNOWN_TOKEN, Limits, now_ms
from .mosquitto import WORKER_USER
from .payloads import PayloadError

MAX_BODY = 65536
MAX_POLL_MS = 60_000
DEFAULT_POLL_MS = 20_000
POLL_INTERVAL = 0.25
LIMITS = Limits()


def _seam():
    from linli.iot import pipeline

    return pipeline


def _rejected(reason: str, status: int, message: str) -> HttpResponse:
    _seam().record_rejected(reason, 1)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _device(token: str):
    return _seam().authenticate(token)


def _body(request):
    if len(request.body) > MAX_BODY:
        raise PayloadError("payload too large")
    return payloads.loads(request.body or b"{}")


def _method_not_allowed() -> HttpResponse:
    return HttpResponse(status=405)


@csrf_exempt
def telemetry(request, token: str):
    if request.method != "POST":
        return _method_not_allowed()
    device = _device(token)
    if device is None:
        return _rejected(UNKNOWN_TOKEN, 401, "Invalid access token")
    try:
        entries = payloads.telemetry(_body(request), now_ms())
    except PayloadError as exc:
        return _rejected(MALFORMED, 400, str(exc))
    seam = _seam()
    if entries:  # the SDK's connect() posts {} to test the token: 200, nothing stored
        seam.store_telemetry([seam.Reading(device.id, ts, values) for ts, values in entries])
    return HttpResponse(status=200)


def _keys(request, camel: str, snake: str) -> list[str] | None:
    # ThingsBoard documents clientKeys=a,b; the SDK's TBHTTPDevice sends client_keys=a&client_keys=b
    values = request.GET.getlist(camel) + request.GET.getlist(snake)
    if not values:
        return None
    return [key.strip() for value in values for key in value.split(",") if key.strip()]


@csrf_exempt
def attributes(request, token: str):
    device = _device(token)
    if device is None:
        return _rejected(UNKNOWN_TOKEN, 401, "Invalid access token")
    seam = _seam()
    if request.method == "POST":
        try:
            values = payloads.attributes(_body(request))
        except PayloadError as exc:
            return _rejected(MALFORMED, 400, str(exc))
        seam.store_client_attributes(device.id, values)
        return HttpResponse(status=200)
    if request.method == "GET":
        client_keys = _keys(request, "clientKeys", "client_keys")
        shared_keys = _keys(request, "sharedKeys", "shared_keys")
        found = seam.get_attributes(device.id, client_keys, shared_keys)
        return JsonResponse({k: v for k, v in found.items() if v})
    return _method_not_allowed()


def _timeout_ms(request) -> int:
    try:
        value = int(request.GET.get("timeout", DEFAULT_POLL_MS))
    except ValueError:
        value = DEFAULT_POLL_MS
    return max(0, min(value, MAX_POLL_MS))


async def _poll(device_id: int, kind: str, timeout_ms: int):
    """Wait for the device's oldest queued downlink of `kind`; mark it delivered and return it (or None)."""
    seam = _seam()
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        waiting = await sync_to_async(seam.pending_downlink)(0, 100, device_id=device_id)
        for downlink in waiting:
            if downlink.kind == kind:
                await sync_to_async(seam.downlink_delivered)(downlink.id)
                return downlink
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_INTERVAL)


@csrf_exempt
async def attribute_updates(request, token: str):
    if request.method != "GET":
        return _method_not_allowed()
    device = await sync_to_async(_device)(token)
    if device is None:
        return await sync_to_async(_rejected)(UNKNOWN_TOKEN, 401, "Invalid access token")
    downlink = await _poll(device.id, "attributes", _timeout_ms(request))
    if downlink is None:
        return HttpResponse(status=408)
    return JsonResponse(downlink.payload)


@csrf_exempt
async def rpc(request, token: str):
    device = await sync_to_async(_device)(token)
    if device is None:
        return await sync_to_async(_rejected)(UNKNOWN_TOKEN, 401, "Invalid access token")
    if request.method == "GET":  # server-side RPC, long poll
        downlink = await _poll(device.id, "rpc", _timeout_ms(request))
        if downlink is None:
            return HttpResponse(status=408)
        return JsonResponse({"id": downlink.rpc_id, **downlink.payload})
    if request.method == "POST":  # client-side RPC
        try:
            method, params = payloads.rpc_request(_body(request))
        except PayloadError as exc:
            return await sync_to_async(_rejected)(MALFORMED, 400, str(exc))
        if method == "getSessionLimits":
            return JsonResponse(LIMITS.session_limits(device.is_gateway))
        answer = await sync_to_async(_seam().rpc_from_device)(device.id, method, params)
        if answer is None:
            return HttpResponse(status=408)
        return JsonResponse(answer, safe=False)
    return _method_not_allowed()


@csrf_exempt
def rpc_reply(request, token: str, rpc_id: int):
    if request.method != "POST":
        return _method_not_allowed()
    device = _device(token)
    if device is None:
        return _rejected(UNKNOWN_TOKEN, 401, "Invalid access token")
    try:
        response = _body(request)
    except PayloadError as exc:
        return _rejected(MALFORMED, 400, str(exc))
    _seam().rpc_response(device.id, rpc_id, response)
    return HttpResponse(status=200)


@csrf_exempt
def claim(request, token: str):
    if request.method != "POST":
        return _method_not_allowed()
    if _device(token) is None:
        return _rejected(UNKNOWN_TOKEN, 401, "Invalid access token")
    return HttpResponse(status=200)  # accepted; Linli places devices by staff, not by claiming


@csrf_exempt
def provision(request):
    if request.method != "POST":
        return _method_not_allowed()
    try:
        key, secret, name, credentials = payloads.provision_request(_body(request))
    except PayloadError as exc:
        return _rejected(MALFORMED, 400, str(exc))
    return JsonResponse(_seam().provision(key, secret, name, credentials or None))


# --- EMQX: HTTP authentication and authorisation for broker mode --------------------------------------------


def _emqx_request(request) -> dict:
    try:
        data = payloads.loads(request.body or b"{}")
    except PayloadError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return {
        k: data.get(k) or request.POST.get(k) or request.GET.get(k) for k in ("username", "password", "topic")
    }


def _worker_credentials_ok(username, password) -> bool:
    import hmac

    from django.conf import settings

    secret = getattr(settings, "LINLI_INGEST_BROKER_PASSWORD", "") or os.environ.get(
        "LINLI_BROKER_PASSWORD", ""
    )
    return bool(secret) and username == WORKER_USER and hmac.compare_digest(str(password or ""), secret)


@csrf_exempt
def emqx_authenticate(request):
    """EMQX 5 HTTP authenticator: devices log in with username = password = access token; the ingest workers
    with their own user. Answers `{"result": "allow" | "deny"}` (EMQX's documented response body)."""
    if request.method != "POST":
        return _method_not_allowed()
    data = _emqx_request(request)
    username, password = data["username"] or "", data["password"] or ""
    if _worker_credentials_ok(username, password):
        return JsonResponse({"result": "allow", "is_superuser": False})
    if username and password == username and _device(username) is not None:
        return JsonResponse({"result": "allow", "is_superuser": False})
    _seam().record_rejected(UNKNOWN_TOKEN, 1)
    return JsonResponse({"result": "deny"})


@csrf_exempt
def emqx_authorize(request):
    """EMQX 5 HTTP authoriser: a device may publish and subscribe only under its own token (the same rule as
    the Mosquitto ACL); the workers under `v1/`."""
    if request.method != "POST":
        return _method_not_allowed()
    data = _emqx_request(request)
    username, topic = data["username"] or "", data["topic"] or ""
    if username == WORKER_USER:
        allowed = topic.startswith(("v1/", "$share/linli/v1/"))
    else:
        allowed = bool(username) and topic.startswith((f"v1/devices/{username}/", f"v1/gateway/{username}/"))
    if not allowed:
        _seam().record_rejected(FORBIDDEN_TOPIC, 1)
    return JsonResponse({"result": "allow" if allowed else "deny"})
