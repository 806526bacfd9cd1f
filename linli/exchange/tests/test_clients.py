"""API clients: keys shown once and stored hashed, revocation and new keys, all audited; admin and command."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from linli.core.audit import AuditAction, AuditLog
from linli.core.testing import make_user
from linli.exchange import services
from linli.exchange.models import ApiClient
from linli.grid import services as grid
from linli.grid.models import Event
from linli.grid.testing import centre_of

pytestmark = pytest.mark.django_db
KEY = re.compile(r"lx_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def services_status(key: str) -> int:
    return Client().get("/open311/v2/requests.json", {"api_key": key}).status_code


def test_the_key_is_kept_only_as_a_hash(open311_client):
    client = ApiClient.objects.get()
    assert KEY.fullmatch(open311_client.key)
    assert open311_client.key not in str(ApiClient.objects.values().get())
    assert client.key_hash == services.hash_key(open311_client.key)
    assert services.authenticate(open311_client.key) == client
    assert services.authenticate(open311_client.key[:-1] + "x") is None
    created = AuditLog.objects.get(action=AuditAction.EXCHANGE_CLIENT_CREATED)
    assert created.region_code == "370198001" and open311_client.key not in str(created.detail)


def test_revoke_and_new_key_are_audited(open311_client):
    client = open311_client.client
    new_key = services.rotate_key(client, actor_name="test")
    assert services_status(open311_client.key) == 403 and services_status(new_key) == 200
    services.revoke_client(client, actor_name="test")
    assert services_status(new_key) == 403
    actions = list(AuditLog.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-3:] == [
        AuditAction.EXCHANGE_CLIENT_CREATED,
        AuditAction.EXCHANGE_KEY_ROTATED,
        AuditAction.EXCHANGE_CLIENT_REVOKED,
    ]


def test_the_command_prints_the_key_once(people):
    admin = make_user("district_admin", "370198", username="boss")
    out = StringIO()
    call_command(
        "exchange_client",
        "create",
        "--name=FixMyStreet 东街道",
        "--kind=open311",
        "--region=370198001",
        "--fallback-grid=370198001001001",
        "--by=boss",
        stdout=out,
    )
    (key,) = KEY.findall(out.getvalue())
    client = ApiClient.objects.get()
    assert client.system == "open311-fixmystreet" and client.fallback_grid_id == "370198001001001"
    assert services_status(key) == 200
    assert AuditLog.objects.get(action=AuditAction.EXCHANGE_CLIENT_CREATED).actor == admin
    listing = StringIO()
    call_command("exchange_client", "list", stdout=listing)
    assert key not in listing.getvalue() and f"lx_{client.key_prefix}_…" in listing.getvalue()
    out = StringIO()
    call_command("exchange_client", "rotate", str(client.pk), stdout=out)
    (new_key,) = KEY.findall(out.getvalue())
    assert services_status(key) == 403 and services_status(new_key) == 200
    call_command("exchange_client", "revoke", "FixMyStreet 东街道", stdout=StringIO())
    assert services_status(new_key) == 403


def test_the_command_refuses_what_is_wrong(people):
    with pytest.raises(CommandError, match="district administrator"):
        call_command(
            "exchange_client", "create", "--name=x", "--kind=hotline", "--region=370198", "--by=nobody"
        )
    with pytest.raises(CommandError, match="999999"):
        call_command("exchange_client", "create", "--name=x", "--kind=hotline", "--region=999999")
    with pytest.raises(CommandError, match="网格|grid"):
        call_command(
            "exchange_client",
            "create",
            "--name=x",
            "--kind=hotline",
            "--region=370198001",
            "--fallback-grid=370198002001001",
        )


@pytest.fixture
def admin_client(people):
    client = Client()
    client.force_login(people.district_admin)
    return client


def test_district_admin_creates_a_client_and_sees_the_key_once(admin_client, people):
    response = admin_client.post(
        "/admin/exchange/apiclient/add/",
        {"name": "12345 热线", "kind": "hotline", "system": "", "region": "370198001", "jurisdiction_id": ""},
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    (key,) = KEY.findall(response.content.decode())
    client = ApiClient.objects.get()
    assert client.system == "12345" and services.authenticate(key) == client
    assert key not in response.cookies.output(), "the key is never put into a cookie or message"
    change = admin_client.get(f"/admin/exchange/apiclient/{client.pk}/change/").content.decode()
    assert key not in change and client.key_prefix in change
    assert AuditLog.objects.get(action=AuditAction.EXCHANGE_CLIENT_CREATED).actor == people.district_admin


def test_admin_edits_are_audited(admin_client, open311_client):
    client = open311_client.client
    response = admin_client.post(
        f"/admin/exchange/apiclient/{client.pk}/change/",
        {
            "name": client.name,
            "region": "370198001",
            "jurisdiction_id": "",
            "push_url": "https://city.example/in",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    client.refresh_from_db()
    assert client.push_url == "https://city.example/in"
    changed = AuditLog.objects.get(action=AuditAction.EXCHANGE_CLIENT_CHANGED)
    assert changed.detail["fields"] == ["push_url"]


def test_admin_revokes_and_rekeys_with_actions(admin_client, open311_client):
    client = open311_client.client
    response = admin_client.post(
        "/admin/exchange/apiclient/", {"action": "new_key", "_selected_action": [client.pk]}
    )
    (new_key,) = KEY.findall(response.content.decode())
    assert services_status(new_key) == 200 and services_status(open311_client.key) == 403
    admin_client.post("/admin/exchange/apiclient/", {"action": "revoke", "_selected_action": [client.pk]})
    client.refresh_from_db()
    assert not client.active and services_status(new_key) == 403


def test_only_district_admins_reach_the_client_admin(people, open311_client):
    officer = Client()
    officer.force_login(people.street_officer)
    assert officer.get("/admin/exchange/apiclient/").status_code in (302, 403)


def test_admin_pages_of_the_exchange_open(admin_client, hotline, people):
    lon, lat = centre_of(people.grid)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=hotline.key)
    body = {
        "upstream_id": "A-1",
        "request_type": "求助",
        "category_code": "06010",
        "title": "t",
        "lon": lon,
        "lat": lat,
    }
    assert api.post("/api/v1/exchange/cases/", body, format="json").status_code == 201
    grid.take_step(Event.objects.get(), "verify", people.grid_worker)
    for url in (
        "/admin/exchange/apiclient/",
        "/admin/exchange/apiclient/add/",
        f"/admin/exchange/apiclient/{hotline.client.pk}/change/",
        "/admin/exchange/categorymapping/",
        "/admin/exchange/categorymapping/add/",
        "/admin/exchange/submission/",
        "/admin/exchange/outboundpush/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert hotline.key not in response.content.decode()
    assert "A-1" in admin_client.get("/admin/exchange/submission/").content.decode()
    assert f"{hotline.client.pk}-" in admin_client.get("/admin/exchange/outboundpush/").content.decode()
