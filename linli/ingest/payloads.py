"""ThingsBoard device API payloads: parse what devices and gateways send, build what they expect back.

Pure functions, no I/O: the MQTT device gateway, the broker-mode worker and the HTTP device API share them, so
the three ways in accept exactly the same payloads.
"""

from __future__ import annotations

import math

import orjson

# ThingsBoard accepts timestamps in milliseconds; anything outside years 2000..2100 is a device bug.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
MAX_KEYS = 1000
MAX_KEY_LENGTH = 255


class PayloadError(ValueError):
    """The payload is not valid JSON of the shape the topic expects (counted as `malformed`, never stored)."""


def loads(payload: bytes | str):
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc}") from None


def dumps(value) -> bytes:
    return orjson.dumps(value)


def _values(raw) -> dict:
    if not isinstance(raw, dict):
        raise PayloadError("telemetry values must be a JSON object")
    if len(raw) > MAX_KEYS:
        raise PayloadError(f"more than {MAX_KEYS} keys in one message")
    values = {}
    for key, value in raw.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise PayloadError("a telemetry key is empty or longer than 255 characters")
        if value is None:
            continue  # ThingsBoard ignores null values
        if isinstance(value, float) and not math.isfinite(value):
            raise PayloadError(f"{key}: not a finite number")
        if isinstance(value, dict | list):
            value = orjson.dumps(value).decode()  # ThingsBoard stores JSON values as JSON text
        values[key] = value
    return values


def _entry(item, now_ms: int) -> tuple[int, dict]:
    if not isinstance(item, dict):
        raise PayloadError("telemetry must be a JSON object or an array of objects")
    if "ts" in item and "values" in item:
        ts = item["ts"]
        if isinstance(ts, bool) or not isinstance(ts, int | float):
            raise PayloadError("ts must be milliseconds since the epoch")
        ts = int(ts)
        if not MIN_TS_MS <= ts <= MAX_TS_MS:
            raise PayloadError("ts is not a plausible time in milliseconds")
        return ts, _values(item["values"])
    return now_ms, _values(item)


def telemetry(data, now_ms: int) -> list[tuple[int, dict]]:
    """`{"k":v}`, `{"ts":…,"values":{…}}` or an array of either → [(ts_ms, values)], empty entries dropped."""
    items = data if isinstance(data, list) else [data]
    entries = []
    for item in items:
        ts, values = _entry(item, now_ms)
        if values:
            entries.append((ts, values))
    return entries


def attributes(data) -> dict:
    """Client attributes: a flat JSON object (values may be JSON objects, kept as they are)."""
    if not isinstance(data, dict):
        raise PayloadError("attributes must be a JSON object")
    for key in data:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise PayloadError("an attribute key is empty or longer than 255 characters")
    return data


def _key_list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [key.strip() for key in value.split(",") if key.strip()]
    if isinstance(value, list) and all(isinstance(key, str) for key in value):
        return value
    raise PayloadError("attribute keys must be a comma-separated string or an array of strings")


def attribute_request(data) -> tuple[list[str] | None, list[str] | None]:
    """`{"clientKeys":"a,b","sharedKeys":"c"}` → (client keys, shared keys); None means all of that scope."""
    if not isinstance(data, dict):
        raise PayloadError("an attribute request must be a JSON object")
    return _key_list(data.get("clientKeys")), _key_list(data.get("sharedKeys"))


def rpc_request(data) -> tuple[str, object]:
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        raise PayloadError('an RPC request must be {"method": …, "params": …}')
    return data["method"], data.get("params")


# --- gateway API ------------------------------------------------------------------------------------------


def gateway_device(data) -> tuple[str, str | None]:
    """`{"device":"Meter-1","type":"water_meter"}` (connect/disconnect) → (name, type)."""
    if not isinstance(data, dict) or not isinstance(data.get("device"), str) or not data["device"]:
        raise PayloadError('expected {"device": "<name>"}')
    device_type = data.get("type")
    return data["device"], device_type if isinstance(device_type, str) else None


def gateway_telemetry(data, now_ms: int) -> dict[str, list[tuple[int, dict]]]:
    """`{"Meter-1":[{"ts":…,"values":{…}}], "Meter-2":{…}}` → {name: entries}."""
    if not isinstance(data, dict):
        raise PayloadError("gateway telemetry must be a JSON object keyed by device name")
    return {name: telemetry(items, now_ms) for name, items in data.items() if name}


def gateway_attributes(data) -> dict[str, dict]:
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PayloadError("gateway attributes must be {device name: {attributes}}")
    return {name: attributes(values) for name, values in data.items() if name}


def gateway_attribute_request(data) -> dict:
    """Both the documented form `{"id","device","client":bool,"key"|"keys"}` and the anchors' alternative
    `{"id","device","client":[…],"shared":[…]}` → {"id", "device", "client_keys", "shared_keys", "single"}."""
    if not isinstance(data, dict) or not isinstance(data.get("device"), str):
        raise PayloadError("a gateway attribute request needs a device")
    request_id = data.get("id")
    client, shared = data.get("client"), data.get("shared")
    if isinstance(client, list) or isinstance(shared, list):
        client_keys, shared_keys = _key_list(client) or [], _key_list(shared) or []
        single = None
    else:
        if "key" in data:
            keys, single = _key_list([data["key"]]), data["key"]
        else:
            keys, single = _key_list(data.get("keys")) or [], None
        client_keys, shared_keys = (keys, []) if client else ([], keys)
    return {
        "id": request_id,
        "device": data["device"],
        "client_keys": client_keys,
        "shared_keys": shared_keys,
        "single": single,
    }


def gateway_attribute_response(request: dict, found: dict) -> dict:
    """ThingsBoard answers a single `key` with `value` and a `keys` list with `values`."""
    merged = {**found.get("client", {}), **found.get("shared", {})}
    response = {"id": request["id"], "device": request["device"]}
    if request["single"] is not None:
        response["value"] = merged.get(request["single"])
    else:
        response["values"] = merged
    return response


def gateway_rpc_reply(data) -> tuple[str, int, object]:
    """`{"device":"D","id":5,"data":{…}}` → (device name, rpc id, response)."""
    if not isinstance(data, dict) or not isinstance(data.get("device"), str):
        raise PayloadError("a gateway RPC reply needs a device")
    try:
        rpc_id = int(data.get("id"))
    except (TypeError, ValueError):
        raise PayloadError("a gateway RPC reply needs a numeric id") from None
    return data["device"], rpc_id, data.get("data")


def provision_request(data) -> tuple[str, str, str | None, dict]:
    if not isinstance(data, dict):
        raise PayloadError("a provision request must be a JSON object")
    key, secret = data.get("provisionDeviceKey"), data.get("provisionDeviceSecret")
    if not isinstance(key, str) or not isinstance(secret, str):
        raise PayloadError("provisionDeviceKey and provisionDeviceSecret are required")
    name = data.get("deviceName")
    credentials = {
        k: data[k]
        for k in ("credentialsType", "token", "username", "password", "clientId", "hash")
        if k in data
    }
    return key, secret, name if isinstance(name, str) else None, credentials
