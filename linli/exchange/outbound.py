"""Status changes pushed back to the hotline and the city operations centre (城运中心).

No public specification of a district 城运中心 interface exists (anchors_grid.md §1.6: CJ/T 545-2021 and the
national exchange API were not found). So the push sits behind a small interface, ``CaseSink``, with two
reference implementations:

- ``RecordingSink``: keeps the change in the outbox table and the log; the client pulls it from
  ``/api/v1/exchange/updates/``. The default, and what a client without a push URL gets.
- ``HttpSink``: posts the change as JSON to the client's push URL, signed with an HMAC of the body.

A real city adapter implements ``CaseSink`` and is named in ``LINLI_EXCHANGE_SINK``.

Every step of the grid loop (a ``Transition``, announced by ``linli.grid.signals.step_recorded``) that a
client should hear about becomes one ``OutboundPush`` row in the same transaction as the step (a
transactional outbox), with a stable ``update_id``: a resend after a timeout is recognised by the receiver,
as FixMyStreet does with its ``update_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import Q
from django.utils.module_loading import import_string

from linli.core import clock
from linli.grid.models import Event, State, Transition

from .models import ApiClient, ClientKind, OutboundPush
from .services import CLOSED_STATES, PUBLIC_ACTIONS, local_iso, open311_status, public_text

log = logging.getLogger("linli.exchange")

PUSH_KINDS = (ClientKind.HOTLINE, ClientKind.CITY_CENTRE)
MAX_BACKOFF = timedelta(hours=1)


class PushFailed(Exception):
    """The receiver did not take the change; it is tried again later."""


class CaseSink(Protocol):
    def push(self, client: ApiClient, change: OutboundPush) -> None:
        """Deliver one change or raise PushFailed. Must be safe to call twice with the same update_id."""


class RecordingSink:
    """The local reference: the outbox row is the record; clients pull it. Nothing leaves the machine."""

    def push(self, client: ApiClient, change: OutboundPush) -> None:
        log.info(
            "exchange push recorded client=%s update=%s op=%s", client.pk, change.update_id, change.operation
        )


def signature(client: ApiClient, body: bytes) -> str:
    """HMAC-SHA256 of the body under the SHA-256 of the client's API key (which the receiver holds)."""
    return hmac.new(client.key_hash.encode(), body, hashlib.sha256).hexdigest()


class HttpSink:
    """Posts the change as JSON to the client's push URL; any 2xx answer counts as delivered."""

    timeout = 10

    def push(self, client: ApiClient, change: OutboundPush) -> None:
        body = json.dumps(change.payload, ensure_ascii=False).encode()
        request = urllib.request.Request(
            client.push_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Linli-Update-Id": change.update_id,
                "X-Linli-Signature": f"sha256={signature(client, body)}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (admin-set URL)
                if not 200 <= response.status < 300:
                    raise PushFailed(f"HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            raise PushFailed(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise PushFailed(str(getattr(exc, "reason", exc))[:200]) from None


def sink_for(client: ApiClient) -> CaseSink:
    configured = getattr(settings, "LINLI_EXCHANGE_SINK", "")
    if configured:
        return import_string(configured)()
    return HttpSink() if client.push_url else RecordingSink()


# --- Filling the outbox -------------------------------------------------------------------------------------


def pushed(transition: Transition) -> bool:
    """Whether a step is news for the hotline or the city: the report, a change of state, a new due time, a
    new grid."""
    return (
        transition.action == "report"
        or transition.from_state != transition.to_state
        or transition.action in ("approve_extension", "relocate")
    )


def operation_of(transition: Transition) -> str:
    if transition.action == "report":
        return OutboundPush.Operation.CREATE
    if transition.to_state in CLOSED_STATES and transition.from_state not in CLOSED_STATES:
        return OutboundPush.Operation.CLOSE
    return OutboundPush.Operation.UPDATE


def receivers(event_id: int, region_code: str) -> list[ApiClient]:
    """The hotline and city clients that hear about an event: the one that sent it, and those reporting
    every case of a region that holds it."""
    codes = [region_code[:n] for n in (6, 9, 12, 15)]
    sender = Q(submissions__event_id=event_id)
    everything = Q(push_all=True, region_code__in=codes)
    return list(ApiClient.objects.filter(sender | everything, active=True, kind__in=PUSH_KINDS).distinct())


def payload(client: ApiClient, event: Event, transition: Transition, operation: str) -> dict:
    submission = getattr(event, "exchange_submission", None)
    own = submission is not None and submission.client.system == client.system
    note = transition.note if transition.action in PUBLIC_ACTIONS else ""
    return {
        "update_id": update_id(client, transition),
        "operation": operation,
        "updated_datetime": local_iso(transition.at),
        "case": {
            "number": event.number,
            "upstream_system": client.system if own else "",
            "upstream_id": event.upstream_id if own else "",
            "grid_code": event.region_code,
            "category_code": event.category.code,
            "category_name": event.category.name,
            "major_code": event.category.parent.code if event.category.parent_id else "",
            "title": public_text(event.title, event),
            "state": transition.to_state,
            "status": open311_status(transition.to_state),
            "action": transition.action,
            "note": public_text(note, event),
            "department": event.department.name if event.department_id else "",
            "lon": event.lon,
            "lat": event.lat,
            "reported_datetime": local_iso(event.created_at),
            "expected_datetime": local_iso(event.handle_due_at),
            "closed_datetime": local_iso(event.closed_at) if transition.to_state in CLOSED_STATES else None,
            "on_time": transition.on_time,
            "satisfaction": event.satisfaction if transition.to_state == State.EVALUATED else None,
        },
    }


def update_id(client: ApiClient, transition: Transition) -> str:
    return f"{client.pk}-{transition.pk}"


def enqueue(transition: Transition, event: Event) -> list[OutboundPush]:
    """Put a step into the outbox of every client that hears about its event (called in the step's
    transaction, so the outbox holds a step exactly when the step happened)."""
    if not pushed(transition):
        return []
    clients = receivers(transition.event_id, transition.region_code)
    if not clients:
        return []
    rows = []
    for client in clients:
        operation = operation_of(transition)
        rows.append(
            OutboundPush(
                client=client,
                event=event,
                transition=transition,
                update_id=update_id(client, transition),
                operation=operation,
                payload=payload(client, event, transition, operation),
                created_at=transition.at,
                next_attempt_at=transition.at,
            )
        )
    return OutboundPush.objects.bulk_create(rows, ignore_conflicts=True)


# --- Delivering it ------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    delivered: int = 0
    failed: int = 0
    waiting: int = 0


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** min(attempts, 10)), MAX_BACKOFF)


def deliver(now: datetime | None = None, limit: int = 500) -> Delivery:
    """Send what is due, oldest first; a change waits while an earlier one of the same event is undelivered,
    so receivers see each case's steps in order."""
    now = now or clock.now()
    result = Delivery()
    blocked: set[tuple[int, int]] = set()
    due = (
        OutboundPush.objects.filter(delivered_at__isnull=True).select_related("client").order_by("id")[:limit]
    )
    for change in due:
        key = (change.client_id, change.event_id)
        if key in blocked or change.next_attempt_at > now or not change.client.active:
            blocked.add(key)
            result.waiting += 1
            continue
        try:
            sink_for(change.client).push(change.client, change)
        except PushFailed as exc:
            change.attempts += 1
            change.last_error = str(exc)[:500]
            change.next_attempt_at = now + backoff(change.attempts)
            change.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            log.warning(
                "exchange push failed client=%s update=%s: %s", change.client_id, change.update_id, exc
            )
            blocked.add(key)
            result.failed += 1
            continue
        change.attempts += 1
        change.delivered_at = now
        change.last_error = ""
        change.save(update_fields=["attempts", "delivered_at", "last_error"])
        result.delivered += 1
    return result
