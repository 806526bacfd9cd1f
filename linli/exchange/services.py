"""Exchange with other systems: client keys, what a client may see, case intake, the public view of a case.

Open311, the hotline and city-centre API and the admin call these functions; none of them touches grid
models directly. Events are created only through ``linli.grid.services.report``, which is idempotent on the
upstream system and id, and which finds the grid from the point.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from linli.core import clock
from linli.core.audit import AuditAction, record
from linli.core.models import Region
from linli.core.pii.logfilter import scrub
from linli.core.pii.masking import PUBLIC, mask
from linli.core.regions import Level
from linli.core.scope import code_within
from linli.grid import services as grid
from linli.grid.locate import locate_grid
from linli.grid.models import OPEN_STATES, Category, Event, Source, State, Transition

from .models import ApiClient, CategoryMapping, ClientKind, RequestType, Submission

KEY_TAG = "lx"
# The audit actions this app added to linli.core.audit.AuditAction, named here so that this app's message
# catalogue (which makemessages builds from this app's files only) keeps their Chinese labels.
AUDIT_LABELS = [
    gettext_noop("API client created"),
    gettext_noop("API client key replaced"),
    gettext_noop("API client revoked"),
    gettext_noop("API client changed"),
]
CLOSED_STATES = frozenset({State.CLOSED, State.EVALUATED, State.CANCELLED})
SOURCE_OF_KIND = {
    ClientKind.OPEN311: Source.OPEN311,
    ClientKind.HOTLINE: Source.HOTLINE,
    ClientKind.CITY_CENTRE: Source.CITY_CENTRE,
}
# Steps whose notes are meant for the people outside: what was decided and done. The report itself (the
# reporter's words), ratings, requests for approval and escalations stay inside.
PUBLIC_ACTIONS = frozenset(
    {
        "verify",
        "cancel",
        "register",
        "dispatch",
        "accept",
        "report_done",
        "inspect_ok",
        "inspect_fail",
        "self_handle",
        "approve_self",
        "reopen",
        "resume",
        "merge",
        "approve_suspension",
        "approve_extension",
    }
)


# --- Keys and clients -------------------------------------------------------------------------------------


def hash_key(key: str) -> str:
    # The key holds 256 random bits: a plain SHA-256 cannot be reversed or guessed, and needs no pepper.
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def default_system(kind: str, name: str) -> str:
    if kind == ClientKind.HOTLINE:
        return "12345"
    if kind == ClientKind.CITY_CENTRE:
        return "city-centre"
    return ("open311-" + slugify(name))[:30].strip("-") or "open311"


@dataclass
class NewClient:
    client: ApiClient
    key: str  # shown once; only its hash is kept


def create_client(
    *,
    name: str,
    kind: str,
    region_code: str,
    system: str = "",
    jurisdiction_id: str = "",
    push_url: str = "",
    push_all: bool = False,
    fallback_grid: str | None = None,
    default_category: Category | None = None,
    by=None,
    actor_name: str = "",
    request=None,
) -> NewClient:
    """Register a client and issue its key (returned once, stored hashed). Audited."""
    if by is not None and not code_within(region_code, by.scope_codes):
        raise ValidationError(
            {"region": _("The region %(code)s is outside your scope.") % {"code": region_code}}
        )
    if kind not in ClientKind.values:
        raise ValidationError({"kind": _("Unknown kind %(value)r.") % {"value": kind}})
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise ValidationError({"region": _("There is no region %(code)s.") % {"code": region_code}})
    key, prefix = _new_key()
    client = ApiClient(
        name=name.strip(),
        kind=kind,
        system=system or default_system(kind, name),
        region=region,
        jurisdiction_id=jurisdiction_id.strip(),
        push_url=push_url,
        push_all=push_all,
        fallback_grid_id=fallback_grid or None,
        default_category=default_category,
        key_prefix=prefix,
        key_hash=hash_key(key),
        created_at=clock.now(),
    )
    client.full_clean(exclude=["key_prefix", "key_hash"])
    with transaction.atomic():
        client.save()
        record(
            AuditAction.EXCHANGE_CLIENT_CREATED,
            actor=by,
            actor_name=actor_name,
            request=request,
            target=client,
            region_code=client.region_code,
            name=client.name,
            kind=client.kind,
            key_prefix=prefix,
        )
    return NewClient(client, key)


def rotate_key(client: ApiClient, *, by=None, actor_name: str = "", request=None) -> str:
    """A new key for the client; the old one stops working at once. Audited as a revocation and creation."""
    key, prefix = _new_key()
    with transaction.atomic():
        old_prefix = client.key_prefix
        client.key_prefix, client.key_hash = prefix, hash_key(key)
        client.save(update_fields=["key_prefix", "key_hash"])
        record(
            AuditAction.EXCHANGE_KEY_ROTATED,
            actor=by,
            actor_name=actor_name,
            request=request,
            target=client,
            region_code=client.region_code,
            old_key_prefix=old_prefix,
            key_prefix=prefix,
        )
    return key


def revoke_client(client: ApiClient, *, by=None, actor_name: str = "", request=None) -> None:
    """Switch a client off for good: its key answers 403 from now on. Audited."""
    if not client.active:
        return
    with transaction.atomic():
        client.active = False
        client.revoked_at = clock.now()
        client.save(update_fields=["active", "revoked_at"])
        record(
            AuditAction.EXCHANGE_CLIENT_REVOKED,
            actor=by,
            actor_name=actor_name,
            request=request,
            target=client,
            region_code=client.region_code,
            name=client.name,
            key_prefix=client.key_prefix,
        )


def change_client(client: ApiClient, changed: list[str], *, by=None, request=None) -> None:
    """Save edits made in the admin; a change of region, push target or fallback is audited."""
    if by is not None and not code_within(client.region_code or client.region_id, by.scope_codes):
        raise ValidationError(
            {"region": _("The region %(code)s is outside your scope.") % {"code": client.region_id}}
        )
    with transaction.atomic():
        client.save()
        if changed:
            record(
                AuditAction.EXCHANGE_CLIENT_CHANGED,
                actor=by,
                request=request,
                target=client,
                region_code=client.region_code,
                fields=sorted(changed),
            )


def authenticate(key: str | None, kinds: tuple[str, ...] | None = None) -> ApiClient | None:
    """The active client holding this key (of one of ``kinds``), or None."""
    if not key:
        return None
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_TAG:
        return None
    client = ApiClient.objects.filter(key_prefix=parts[1], active=True).select_related("region").first()
    if client is None or not hmac.compare_digest(client.key_hash, hash_key(key.strip())):
        return None
    if kinds is not None and client.kind not in kinds:
        return None
    now = clock.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)  # at most one write a minute
    return client


# --- What a client (or the public) may see -----------------------------------------------------------------


class Principal:
    """Stands for a client (or the public) in the region-scope rule, which is written for users.

    ``Event.objects.visible_to(principal)`` then applies the same prefix rule as for any staff member whose
    scope is the client's region, so an exchange client never sees past it.
    """

    is_authenticated = True
    is_resident = False
    role = ""
    pk = None

    def __init__(self, scope_codes: list[str], active: bool = True):
        self.scope_codes = scope_codes
        self.is_active = active


def private_codes() -> list[str]:
    """Category codes (major or minor) whose events are never listed publicly: disputes, public security."""
    value = getattr(settings, "LINLI_OPEN311_PRIVATE_CATEGORIES", "SG01,SG04")
    return [code.strip() for code in value.split(",") if code.strip()]


def is_private(category: Category) -> bool:
    codes = private_codes()
    return category.code in codes or (category.parent is not None and category.parent.code in codes)


def public_q() -> Q:
    """Events anyone may read: in categories residents may report, not private ones, not device alarms."""
    codes = private_codes()
    return (
        Q(category__public=True)
        & ~Q(category__code__in=codes)
        & ~Q(category__parent__code__in=codes)
        & ~Q(source=Source.IOT)
    )


def jurisdictions() -> dict[str, str]:
    """Known Open311 jurisdiction ids and the region each covers."""
    known = {
        code: code for code in Region.objects.filter(level=Level.DISTRICT).values_list("code", flat=True)
    }
    configured = getattr(settings, "LINLI_OPEN311_JURISDICTIONS", {}) or {}
    known.update(configured)
    for jid, region_code in (
        ApiClient.objects.filter(active=True)
        .exclude(jurisdiction_id="")
        .values_list("jurisdiction_id", "region_code")
    ):
        known.setdefault(jid, region_code[:6])
    return known


def readable_events(client: ApiClient | None, region_code: str | None = None) -> QuerySet:
    """The events a client (None: the public) may read, optionally inside one region (a jurisdiction)."""
    if client is None:
        scope = [region_code] if region_code else list(known_districts())
        return Event.objects.visible_to(Principal(scope)).filter(public_q())
    rows = Event.objects.visible_to(Principal([client.region_code], client.active), region_code=region_code)
    return rows.filter(public_q() | Q(exchange_submission__client__system=client.system))


def known_districts() -> list[str]:
    return list(Region.objects.filter(level=Level.DISTRICT).values_list("code", flat=True))


# --- The public face of a case -----------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3}[- ]?\d{7,8})(?!\d)")


def public_text(text: str, event: Event | None = None) -> str:
    """Text fit for people outside: ID and phone numbers, email addresses and the reporter's name masked."""
    if not text:
        return ""
    text = scrub(text)
    text = _EMAIL.sub(lambda m: mask("email", m.group(0), PUBLIC) or "", text)
    text = _LANDLINE.sub(lambda m: mask("phone", m.group(1), PUBLIC) or "", text)
    if event is not None and event.reporter_name and len(event.reporter_name) >= 2:
        text = text.replace(event.reporter_name, mask("name", event.reporter_name, PUBLIC) or "")
    return text


def open311_status(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


# FixMyStreet's extended statuses (anchors_grid.md §2.4): 挂账 ≈ action scheduled, 作废 ≈ no further action.
EXTENDED_STATUS = {
    State.VERIFYING: "investigating",
    State.REPORTED: "investigating",
    State.REGISTERED: "action_scheduled",
    State.DISPATCHED: "action_scheduled",
    State.IN_PROGRESS: "in_progress",
    State.SUSPENDED: "action_scheduled",
    State.HANDLED: "in_progress",
    State.SELF_HANDLED: "fixed",
    State.CLOSED: "fixed",
    State.EVALUATED: "fixed",
    State.CANCELLED: "no_further_action",
}


def extended_status(transition: Transition) -> str:
    if transition.action == "merge":
        return "duplicate"
    if transition.action == "reopen":
        return "reopened"
    return EXTENDED_STATUS.get(transition.to_state, "open")


def public_steps(event: Event) -> list[Transition]:
    return [t for t in event.history.all() if t.action in PUBLIC_ACTIONS]


def status_note(event: Event) -> str:
    """The latest note of a public step, masked; empty when there is none."""
    for step in reversed(public_steps(event)):
        if step.note:
            return public_text(step.note, event)
    return ""


def agency_of(event: Event) -> str:
    department = event.department or event.category.department
    if department is not None:
        return department.name
    return event.region.name


def local_iso(moment: datetime | None) -> str | None:
    """W3C datetime with the +08:00 offset (never a naive time, never the epoch for "none")."""
    if moment is None:
        return None
    return timezone.localtime(moment).isoformat(timespec="seconds")


# --- Intake ------------------------------------------------------------------------------------------------


class IntakeConflict(Exception):
    """The upstream id is already an event this client may not see (another region)."""


@dataclass
class Place:
    lon: float | None = None
    lat: float | None = None
    grid_code: str | None = None
    address: str = ""
    pinpointed: bool = True


@dataclass
class CaseIn:
    """One case as a client sends it, already parsed by the protocol layer (Open311 form or JSON)."""

    category: Category
    title: str
    place: Place
    description: str = ""
    upstream_id: str = ""
    request_type: str = ""
    external_category: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""
    anonymous: bool = False
    urgency: str = "normal"
    attributes: dict = field(default_factory=dict)
    media_url: str = ""
    upstream_due_at: datetime | None = None


@dataclass
class Received:
    event: Event
    created: bool


def fallback_grid(client: ApiClient) -> str | None:
    """Where a case without a usable point goes: the 兜底 grid, the client's own grid, or its centre's."""
    if client.fallback_grid_id:
        return client.fallback_grid_id
    if len(client.region_code) == 15:
        return client.region_code
    region = client.region
    if region.centre_lon is not None:
        found = locate_grid(region.centre_lon, region.centre_lat)
        if found and found.startswith(client.region_code):
            return found
    return None


def place_case(client: ApiClient, place: Place) -> Place:
    """Find the grid of a case and check it lies in the client's region; ValidationError says what not."""
    if place.lon is not None and place.lat is not None:
        grid_code = locate_grid(place.lon, place.lat)
        if grid_code is None:
            raise ValidationError(
                {
                    "lat": _("The point (%(lon)s, %(lat)s) is not inside any grid of this district.")
                    % {"lon": place.lon, "lat": place.lat}
                }
            )
    elif place.grid_code:
        grid_code = place.grid_code
    else:
        grid_code = fallback_grid(client)
        if grid_code is None:
            raise ValidationError(
                {
                    "lat": _(
                        "The case has no point and this client has no fallback grid: send lat and long, or "
                        "ask the district to set the client's fallback grid."
                    )
                }
            )
    if not code_within(grid_code, [client.region_code]):
        raise ValidationError(
            {
                "region": _("The place lies in %(grid)s, outside this client's region %(region)s.")
                % {"grid": grid_code, "region": client.region_code}
            }
        )
    place.grid_code = grid_code
    return place


def resolve_category(client: ApiClient, code: str) -> Category | None:
    """Our minor category for a client's code: its system's mapping first, then our own code."""
    if not code:
        return client.default_category
    mapping = CategoryMapping.objects.filter(system=client.system, external_code=code).select_related(
        "category"
    )
    if (found := mapping.first()) is not None:
        return found.category
    return Category.objects.filter(code=code, parent__isnull=False).select_related("parent").first()


def existing_case(client: ApiClient, upstream_id: str) -> Event | None:
    """The event already made of this upstream case, if any; IntakeConflict if it is outside the client."""
    if not upstream_id:
        return None
    event = Event.objects.filter(upstream_system=client.system, upstream_id=upstream_id).first()
    if event is not None and not code_within(event.region_code, [client.region_code]):
        raise IntakeConflict(upstream_id)
    return event


def receive(client: ApiClient, case: CaseIn) -> Received:
    """File a client's case as a grid event, once: the same upstream id again returns the same event."""
    if (event := existing_case(client, case.upstream_id)) is not None:
        return Received(event, created=False)
    if not case.category.active or case.category.parent_id is None:
        raise ValidationError({"service_code": _("Choose an active minor category (not a major class).")})
    place = place_case(client, case.place)
    with transaction.atomic():
        intake = grid.report(
            category=case.category,
            title=case.title,
            source=SOURCE_OF_KIND[client.kind],
            description=case.description,
            lon=place.lon,
            lat=place.lat,
            address=place.address[:256],
            region_code=place.grid_code,
            reporter_name=case.reporter_name[:50],
            reporter_phone=case.reporter_phone,
            anonymous=case.anonymous,
            urgency=case.urgency,
            upstream_system=client.system,
            upstream_id=case.upstream_id,
        )
        if intake.created:
            Submission.objects.create(
                client=client,
                event=intake.event,
                region_code=intake.event.region_code,
                upstream_id=case.upstream_id,
                request_type=case.request_type,
                external_category=case.external_category[:40],
                attributes=case.attributes,
                media_url=case.media_url[:1000],
                upstream_due_at=case.upstream_due_at,
                received_at=intake.event.created_at,
            )
    if not intake.created and not code_within(intake.event.region_code, [client.region_code]):
        raise IntakeConflict(case.upstream_id)  # a concurrent delivery from another region won the race
    return Received(intake.event, intake.created)


REQUEST_TYPE_WORDS = {
    "咨询": RequestType.CONSULTATION,
    "求助": RequestType.HELP,
    "投诉": RequestType.COMPLAINT,
    "举报": RequestType.REPORT,
    "建议": RequestType.SUGGESTION,
}


def parse_request_type(value: str) -> str:
    """One of the five 12345 classes, given as our code or the Chinese word (建议批评 counts as 建议)."""
    value = (value or "").strip()
    if value in RequestType.values:
        return value
    for word, kind in REQUEST_TYPE_WORDS.items():
        if value.startswith(word):
            return kind
    raise ValidationError(
        {
            "request_type": _("Unknown request type %(value)r; use one of %(choices)s.")
            % {"value": value, "choices": ", ".join([*RequestType.values, *REQUEST_TYPE_WORDS])}
        }
    )


def open_states() -> list[str]:
    return list(OPEN_STATES)
