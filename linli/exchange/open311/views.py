"""Open311 GeoReport v2 at /open311/v2/: discovery, services, service definitions, requests, tokens, updates.

Plain Django views: the spec's documents are small and its two formats come from one renderer
(``render.py``). Parameters are read as the spec says: an empty parameter is an absent one; dates are W3C
with a time zone; errors are 400 (missing or bad parameter, naming it), 403 (bad or missing api_key) and 404
(unknown jurisdiction, service code, request or token), with the body in the request's format.

Reading is public, as the spec intends, but only what is safe to publish (see ``services.public_q`` and
docs/open311.md): no reporter's name, phone or email, notes masked, private categories and device alarms
left out. A client's key narrows reading to its region and adds the cases it sent itself.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db.models import Prefetch
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from linli.core import clock
from linli.core.identifiers import parse_mobile
from linli.core.pii.masking import PUBLIC, mask
from linli.grid.models import Category, Event, Transition

from .. import services
from ..models import ApiClient, ClientKind
from ..services import CaseIn, IntakeConflict, Place
from . import attributes as attrs
from .render import FORMATS, Many, clean_text, errors, respond

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this interface last changed in a way clients should notice (discovery's changeset).
CHANGESET = "2026-11-29T00:00:00+08:00"
MAX_SPAN = timedelta(days=90)
MAX_ROWS = 1000
NOT_PINPOINTED = "#NOTPINPOINTED#"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


class Open311Error(Exception):
    def __init__(self, status: int, *problems: tuple[int, str]):
        super().__init__(problems)
        self.status = status
        self.problems = problems


def missing(name: str) -> Open311Error:
    return Open311Error(400, (400, _("%(name)s is required and was not provided.") % {"name": name}))


def bad(name: str, message: str) -> Open311Error:
    return Open311Error(400, (400, f"{name}: {message}"))


def not_found(message: str) -> Open311Error:
    return Open311Error(404, (404, message))


def endpoint(*methods: str):
    """A GeoReport view: allowed methods, CSRF off (clients are other servers), errors in the asked format."""

    def wrap(view):
        @csrf_exempt
        @functools.wraps(view)
        def inner(request, fmt: str, **kwargs):
            if request.method not in methods:
                response = errors(
                    fmt, 405, (405, _("Method %(m)s is not allowed here.") % {"m": request.method})
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, fmt, **kwargs)
            except Open311Error as exc:
                return errors(fmt, exc.status, *exc.problems)
            except IntakeConflict:
                return errors(
                    fmt, 400, (400, _("This id was already filed as a request outside your region."))
                )
            except ValidationError as exc:
                items = exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]
                problems = [(400, f"{name}: {msgs[0]}" if name else msgs[0]) for name, msgs in items]
                return errors(fmt, 400, *problems)

        return inner

    return wrap


# --- Parameters ---------------------------------------------------------------------------------------------


def param(request, name: str) -> str | None:
    """A parameter's value; empty counts as absent (the spec's meaning of "optional")."""
    source = request.POST if request.method == "POST" else request.GET
    value = source.get(name)
    if value is None:
        return None
    value = clean_text(value).strip()
    return value or None


def client_of(request, *, required: bool) -> ApiClient | None:
    """The Open311 client of the api_key; 403 for a wrong key, or a missing one where a key is needed."""
    key = param(request, "api_key")
    public = getattr(settings, "LINLI_OPEN311_PUBLIC_READS", True)
    if key is None and not required and public:
        return None
    client = services.authenticate(key, kinds=(ClientKind.OPEN311,))
    if client is None:
        raise Open311Error(403, (403, _("Invalid api_key received -- can't proceed with this request.")))
    return client


def jurisdiction_of(request, client: ApiClient | None) -> str | None:
    """The region of the jurisdiction_id asked for (None when absent); 404 when we do not serve it."""
    jid = param(request, "jurisdiction_id")
    if jid is None:
        return None
    region = services.jurisdictions().get(jid)
    if region is None or (
        client is not None
        and not (client.region_code.startswith(region) or region.startswith(client.region_code))
    ):
        raise not_found(_("jurisdiction_id %(id)s is not served here.") % {"id": jid})
    if client is not None and len(region) < len(client.region_code):
        return None  # the client's own region is narrower already
    return region


def w3c(name: str, value: str) -> datetime:
    """A W3C datetime with a time zone; a bare date is that day's start in China (UTC+8)."""
    day = parse_date(value) if len(value) == 10 else None
    if day is not None:
        return timezone.make_aware(datetime.combine(day, time.min))
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise bad(name, _("%(value)r is not a W3C date or datetime.") % {"value": value})
    if moment.tzinfo is None:
        raise bad(
            name,
            _("%(value)r has no time zone; add Z or an offset such as +08:00.") % {"value": value},
        )
    return moment


def date_range(request) -> tuple[datetime, datetime]:
    """start_date and end_date: at most 90 days apart; the last 90 days when neither is given."""
    start, end = param(request, "start_date"), param(request, "end_date")
    start_at = w3c("start_date", start) if start else None
    end_at = w3c("end_date", end) if end else None
    if start_at is None and end_at is None:
        end_at = clock.now()
    if start_at is None:
        start_at = end_at - MAX_SPAN
    if end_at is None:
        end_at = start_at + MAX_SPAN
    if end_at < start_at:
        raise bad("end_date", _("end_date is before start_date."))
    if end_at - start_at > MAX_SPAN:
        raise bad("end_date", _("start_date and end_date may be at most 90 days apart."))
    return start_at, end_at


def comma_list(request, name: str) -> list[str]:
    value = param(request, name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def paging(request) -> tuple[int, int]:
    """The page and page_size extension (page_size at most 1000, the spec's limit)."""
    values = {}
    for name, default in (("page", 1), ("page_size", MAX_ROWS)):
        raw = param(request, name)
        try:
            values[name] = int(raw) if raw is not None else default
        except ValueError:
            raise bad(name, _("%(value)r is not a whole number.") % {"value": raw}) from None
        if values[name] < 1:
            raise bad(name, _("must be 1 or more."))
    return values["page"], min(values["page_size"], MAX_ROWS)


# --- Services -----------------------------------------------------------------------------------------------


def service_categories():
    """The services: active minor categories residents may report."""
    return Category.objects.filter(parent__isnull=False, active=True, public=True).select_related("parent")


def localised(category: Category) -> str:
    english = (translation.get_language() or "").startswith("en")
    return category.name_en if english and category.name_en else category.name


def service_data(category: Category) -> dict:
    keywords = [k.strip() for k in category.keywords.split(",") if k.strip()]
    if services.is_private(category):
        keywords.append("private")  # FixMyStreet keeps reports of "private" services off its public pages
    return {
        "service_code": category.code,
        "service_name": localised(category),
        "description": category.filing_condition or localised(category),
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(keywords) or None,
        "group": localised(category.parent),
    }


@endpoint("GET")
def discovery(request, fmt):
    jurisdiction_of(request, None)
    base = request.build_absolute_uri("/open311/v2")
    return respond(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": getattr(settings, "LINLI_OPEN311_CONTACT", "")
            or _("Write to the district's grid management centre for help with this interface."),
            "key_service": getattr(settings, "LINLI_OPEN311_KEY_SERVICE", "")
            or _("API keys are issued by the district administrator (linli manage exchange_client create)."),
            "endpoints": Many(
                "endpoint",
                [
                    {
                        "specification": SPECIFICATION,
                        "url": base,
                        "changeset": CHANGESET,
                        "type": getattr(settings, "LINLI_OPEN311_ENDPOINT_TYPE", "production"),
                        "formats": Many("format", list(FORMATS.values())),
                    }
                ],
            ),
        },
    )


@endpoint("GET")
def service_list(request, fmt):
    client = client_of(request, required=False)
    jurisdiction_of(request, client)
    rows = [service_data(category) for category in service_categories()]
    return respond(fmt, "services", Many("service", rows))


@endpoint("GET")
def service_definition(request, fmt, code):
    client = client_of(request, required=False)
    jurisdiction_of(request, client)
    category = service_categories().filter(code=code).first()
    if category is None:
        raise not_found(_("service_code %(code)s is unknown.") % {"code": code})
    items = [attribute.as_data(order) for order, attribute in enumerate(attrs.attributes_for(category), 1)]
    return respond(
        fmt, "service_definition", {"service_code": category.code, "attributes": Many("attribute", items)}
    )


# --- Requests -----------------------------------------------------------------------------------------------


def request_data(event: Event) -> dict:
    submission = getattr(event, "exchange_submission", None)
    return {
        "service_request_id": event.number,
        "status": services.open311_status(event.state),
        "status_notes": services.status_note(event) or None,
        "service_name": localised(event.category),
        "service_code": event.category.code,
        "description": services.public_text(event.description or event.title, event) or None,
        "agency_responsible": services.agency_of(event),
        "service_notice": None,
        "requested_datetime": services.local_iso(event.created_at),
        "updated_datetime": services.local_iso(event.closed_at if event.closed_at else event.updated_at),
        "expected_datetime": services.local_iso(event.handle_due_at),
        "address": mask("address", event.address, PUBLIC) or None,
        "address_id": None,
        "zipcode": None,
        "lat": round(event.lat, 6) if event.lat is not None else None,
        "long": round(event.lon, 6) if event.lon is not None else None,
        "media_url": (submission.media_url or None) if submission is not None else None,
    }


def with_details(rows):
    # Boundary polygons (big for a real district) and attributes are not shown, so not loaded.
    return (
        rows.select_related(
            "category__parent", "category__department", "department", "region", "exchange_submission"
        )
        .defer("region__boundary", "exchange_submission__attributes", "reporter_phone")
        .prefetch_related(
            Prefetch(
                "history",
                queryset=Transition.objects.filter(action__in=services.PUBLIC_ACTIONS)
                .only("id", "event_id", "action", "note", "at")
                .order_by("at", "id"),
            )
        )
    )


@endpoint("GET", "POST")
def requests(request, fmt):
    if request.method == "POST":
        return create_request(request, fmt)
    client = client_of(request, required=False)
    region = jurisdiction_of(request, client)
    rows = services.readable_events(client, region)
    ids = comma_list(request, "service_request_id")
    if ids:
        rows = rows.filter(number__in=ids[:MAX_ROWS])
    else:
        codes = comma_list(request, "service_code")
        if codes:
            known = set(
                Category.objects.filter(code__in=codes, parent__isnull=False).values_list("code", flat=True)
            )
            if unknown := [code for code in codes if code not in known]:
                raise not_found(_("service_code %(code)s is unknown.") % {"code": unknown[0]})
            rows = rows.filter(category__code__in=codes)
        start_at, end_at = date_range(request)
        rows = rows.filter(created_at__gte=start_at, created_at__lte=end_at)
        statuses = comma_list(request, "status")
        if bad_status := [s for s in statuses if s not in ("open", "closed")]:
            raise bad("status", _("%(value)r is neither open nor closed.") % {"value": bad_status[0]})
        if statuses and set(statuses) != {"open", "closed"}:
            open_states = services.open_states()
            rows = (
                rows.filter(state__in=open_states)
                if "open" in statuses
                else rows.exclude(state__in=open_states)
            )
    page, size = paging(request)
    rows = with_details(rows.order_by("-created_at", "-id"))[(page - 1) * size : page * size]
    return respond(fmt, "service_requests", Many("request", [request_data(event) for event in rows]))


@endpoint("GET")
def request_detail(request, fmt, number):
    client = client_of(request, required=False)
    region = jurisdiction_of(request, client)
    event = with_details(services.readable_events(client, region)).filter(number=number).first()
    if event is None:
        raise not_found(_("service_request_id %(id)s is unknown.") % {"id": number})
    return respond(fmt, "service_requests", Many("request", [request_data(event)]))


@endpoint("GET")
def token(request, fmt, token):
    client_of(request, required=False)
    jurisdiction_of(request, None)
    # Requests are created at once and answered with their service_request_id; no token is ever issued.
    raise not_found(_("token %(token)s is unknown.") % {"token": token})


def read_attributes(request) -> dict[str, list[str]]:
    given: dict[str, list[str]] = {}
    for name in request.POST:
        if match := _ATTRIBUTE.match(name):
            given.setdefault(match.group(1), []).extend(clean_text(v) for v in request.POST.getlist(name))
    return given


def reporter_name(first: str | None, last: str | None) -> str:
    first, last = first or "", last or ""
    chinese = any("\u4e00" <= char <= "\u9fff" for char in first + last)
    return (last + first if chinese else f"{first} {last}").strip()


def create_request(request, fmt):
    client = client_of(request, required=True)
    jurisdiction_of(request, client)
    code = param(request, "service_code")
    if code is None:
        raise missing("service_code")
    category = service_categories().filter(code=code).first()
    if category is None:
        raise not_found(_("service_code %(code)s is unknown.") % {"code": code})

    lat, lon = param(request, "lat"), param(request, "long")
    address_string, address_id = param(request, "address_string"), param(request, "address_id")
    pinpointed = address_id != NOT_PINPOINTED
    if lat is None and lon is None and address_string is None and address_id is None:
        raise Open311Error(
            400, (400, _("lat and long, address_string or address_id is required and was not provided."))
        )
    if (lat is None) != (lon is None):
        raise missing("long" if lon is None else "lat")
    place = Place(address=address_string or "", pinpointed=pinpointed and lat is not None)
    if lat is not None:
        try:
            place.lat, place.lon = float(lat), float(lon)
        except ValueError:
            raise bad("lat", _("lat and long must be decimal degrees (WGS-84).")) from None

    description = clean_text(request.POST.get("description") or "").strip()
    if len(description) > 4000:
        raise bad("description", _("The description is longer than 4000 characters."))
    problems = []
    if (email := param(request, "email")) is not None:
        try:
            validate_email(email)
        except ValidationError:
            problems.append((400, f"email: {_('%(value)r is not an email address.') % {'value': email}}"))
    phone = param(request, "phone")
    if phone is not None:
        try:
            phone = parse_mobile(phone).number
        except ValidationError as exc:
            problems.append((400, f"phone: {exc.messages[0]}"))
    media = [url.strip() for url in request.POST.getlist("media_url") if url.strip()]
    for url in media:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            problems.append((400, f"media_url: {_('%(value)r is not a web address.') % {'value': url}}"))
    answers = attrs.read_answers(category, read_attributes(request))
    problems += [(400, f"{name}: {message}") for name, message in answers.problems.items()]
    if problems:
        raise Open311Error(400, *problems)

    values = answers.values
    if media[1:]:
        values["media_urls"] = media
    if address_id is not None and pinpointed:
        values["address_id"] = address_id
    if not place.pinpointed:
        values["not_pinpointed"] = True
    title = (
        values.get("title") or values.get("report_title") or description.split("\n")[0] or localised(category)
    )
    text = "\n\n".join(part for part in (description, attrs.describe(category, values)) if part)
    if not place.pinpointed and lat is None:
        place.address = place.address or str(values.get("closest_address") or "")
        text = "\n\n".join(filter(None, [text, _("Location not pinpointed by the reporter.")]))
    upstream = values.get("fixmystreet_id") or ""
    received = services.receive(
        client,
        CaseIn(
            category=category,
            title=str(title)[:100],
            place=place,
            description=text[:4000],
            upstream_id=str(upstream)[:64],
            reporter_name=reporter_name(param(request, "first_name"), param(request, "last_name")),
            reporter_phone=phone or "",
            attributes=values,
            media_url=media[0] if media else "",
        ),
    )
    notice = _("Received as %(number)s; a grid worker checks it on site first.") % {
        "number": received.event.number
    }
    item = {
        "service_request_id": received.event.number,
        "service_notice": notice,
        "account_id": param(request, "account_id"),
    }
    return respond(fmt, "service_requests", Many("request", [item]), status=201 if received.created else 200)


# --- Updates (mySociety's extension) ------------------------------------------------------------------------


def update_data(step: Transition) -> dict:
    event = step.event
    note = services.public_text(step.note, event)
    return {
        "update_id": str(step.pk),
        "service_request_id": event.number,
        "status": services.extended_status(step),
        "description": note or str(step.get_to_state_display()),
        "updated_datetime": services.local_iso(step.at),
        "media_url": None,
        "external_status_code": step.to_state,
    }


@endpoint("GET")
def request_updates(request, fmt):
    client = client_of(request, required=False)
    region = jurisdiction_of(request, client)
    start_at, end_at = date_range(request)
    readable = services.readable_events(client, region)
    steps = (
        Transition.objects.filter(
            event__in=readable.values("pk"),
            action__in=services.PUBLIC_ACTIONS,
            at__gte=start_at,
            at__lte=end_at,
        )
        .select_related("event")
        .order_by("at", "id")
    )
    page, size = paging(request)
    rows = [update_data(step) for step in steps[(page - 1) * size : page * size]]
    return respond(fmt, "service_requests_updates", Many("request_update", rows))
