"""Status changes going back to the hotline and the city centre: the outbox, its delivery, the pull API."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from linli.core import clock
from linli.exchange import outbound, services
from linli.exchange.models import OutboundPush
from linli.grid import services as grid
from linli.grid.models import Event
from linli.grid.testing import centre_of, resident_report

from .conftest import STREET
from .support import close
from .test_intake import URL, api, case

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP server on the loopback that plays the city centre: it records what it is sent."""

    def __init__(self, failures: int = 0):
        self.received: list[tuple[dict, dict]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures:
                    receiver.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), json.loads(body), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cases"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_hotline_case_reports_each_step_back_once(hotline, people):
    api(hotline.key).post(URL, case(), format="json")
    event = Event.objects.get()
    assert not OutboundPush.objects.exists(), "the hotline knows it sent the case; no 'create' back to it"
    close(event, people, note="已清理，联系人13912345678")
    grid.take_step(event, "evaluate", people.community_worker, rating=5)
    rows = list(OutboundPush.objects.order_by("id"))
    steps = [row.payload["case"]["action"] for row in rows]
    assert steps == ["verify", "register", "dispatch", "accept", "report_done", "inspect_ok", "evaluate"]
    assert [row.operation for row in rows][-2:] == ["close", "update"]
    payload = rows[-2].payload
    assert payload["case"]["grid_code"] == "370198001001001" and payload["case"]["category_code"] == "06010"
    assert payload["case"]["upstream_id"] == "12345-20261129-0001" and payload["case"]["status"] == "closed"
    assert payload["updated_datetime"].endswith("+08:00")
    assert rows[4].payload["case"]["note"] == "已清理，联系人139****5678"
    assert rows[-1].payload["case"]["satisfaction"] == 5
    assert len({row.update_id for row in rows}) == len(rows)


def test_a_not_pinpointed_case_moved_to_its_real_grid_tells_the_new_grid_code(hotline, people):
    api(hotline.key).post(URL, case(lon=None, lat=None, grid_code="370198001001001"), format="json")
    event = Event.objects.get()
    grid.take_step(event, "relocate", people.community_worker, note="实际在二网格", grid="370198001001002")
    (push,) = OutboundPush.objects.all()
    assert push.payload["case"]["action"] == "relocate"
    assert push.payload["case"]["grid_code"] == "370198001001002"
    assert api(hotline.key).get(f"{URL}12345-20261129-0001/").data["grid_code"] == "370198001001002"


def test_steps_without_news_are_not_pushed(hotline, people):
    api(hotline.key).post(URL, case(), format="json")
    event = Event.objects.get()
    grid.take_step(event, "verify", people.grid_worker)
    grid.take_step(event, "escalate", people.community_worker)
    assert [row.payload["case"]["action"] for row in OutboundPush.objects.all()] == ["verify"]


def test_a_city_centre_reporting_every_case_hears_of_new_ones_in_its_region_only(people):
    city = services.create_client(name="区城运中心", kind="city_centre", region_code=STREET, push_all=True)
    inside = resident_report(people)
    lon, lat = centre_of("370198002001001")
    outside = resident_report(people, lon=lon, lat=lat)
    rows = OutboundPush.objects.filter(client=city.client)
    assert [(row.event_id, row.operation) for row in rows] == [(inside.pk, "create")]
    assert rows[0].payload["case"]["upstream_id"] == "", "not the city's own case"
    assert not OutboundPush.objects.filter(event=outside).exists()


def test_recorded_changes_are_delivered_and_can_be_pulled(hotline, people):
    api(hotline.key).post(URL, case(), format="json")
    close(Event.objects.get(), people)
    result = outbound.deliver()
    assert result.delivered == 6 and result.failed == 0
    assert not OutboundPush.objects.filter(delivered_at__isnull=True).exists()
    assert outbound.deliver().delivered == 0, "delivered once"
    first = api(hotline.key).get("/api/v1/exchange/updates/", {"limit": 4})
    assert first.status_code == 200 and len(first.data) == 4
    rest = api(hotline.key).get("/api/v1/exchange/updates/", {"after": first.data[-1]["id"]})
    assert [row["operation"] for row in rest.data] == ["update", "close"]
    other = services.create_client(name="其他热线", kind="hotline", region_code="370198002", system="12345-b")
    assert api(other.key).get("/api/v1/exchange/updates/").data == []


def test_http_push_is_signed_with_the_clients_key(people):
    with Receiver() as city:
        issued = services.create_client(
            name="城运中心", kind="city_centre", region_code="370198", push_url=city.url, push_all=True
        )
        event = resident_report(people)
        grid.take_step(event, "verify", people.grid_worker)
        assert outbound.deliver().delivered == 2
    (h1, first, body1), (h2, second, _body2) = city.received
    assert first["operation"] == "create" and second["case"]["state"] == "reported"
    assert h1["X-Linli-Update-Id"] == first["update_id"]
    secret = hashlib.sha256(issued.key.encode()).hexdigest().encode()
    assert h1["X-Linli-Signature"] == "sha256=" + hmac.new(secret, body1, hashlib.sha256).hexdigest()


def test_a_failed_push_is_retried_later_and_keeps_the_order(people, monkeypatch):
    with Receiver(failures=1) as city:
        services.create_client(
            name="城运中心", kind="city_centre", region_code="370198", push_url=city.url, push_all=True
        )
        event = resident_report(people)
        grid.take_step(event, "verify", people.grid_worker)
        result = outbound.deliver()
        assert (result.delivered, result.failed, result.waiting) == (0, 1, 1)
        failed = OutboundPush.objects.order_by("id").first()
        assert failed.attempts == 1 and failed.last_error == "HTTP 503"
        assert outbound.deliver().delivered == 0, "not before its next attempt"
        later = clock.now() + timedelta(minutes=3)
        result = outbound.deliver(now=later)
        assert result.delivered == 2
    assert [payload["operation"] for _h, payload, _b in city.received] == ["create", "update"]


def test_an_unreachable_push_url_fails_cleanly(people):
    services.create_client(
        name="城运中心",
        kind="city_centre",
        region_code="370198",
        push_url="http://127.0.0.1:9/",
        push_all=True,
    )
    resident_report(people)
    result = outbound.deliver()
    assert result.failed == 1
    assert OutboundPush.objects.get().last_error


def test_the_updates_api_needs_an_intake_key(open311_client):
    assert APIClient().get("/api/v1/exchange/updates/").status_code == 401
    assert api(open311_client.key).get("/api/v1/exchange/updates/").status_code == 403
