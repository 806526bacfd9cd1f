"""REST API v1: session and token authentication, role-based access, the OpenAPI schema and its docs page."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from linli.core.models import STAFF_ROLES, Role
from linli.core.testing import make_user

OPENAPI_FILE = Path(settings.BASE_DIR).parent / "docs" / "openapi.yaml"
STAFF_AT = {role: "370198" if role == Role.DISTRICT_ADMIN else "370198001" for role in STAFF_ROLES}


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


# --- Authentication -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [session_client, token_client], ids=["session", "token"])
def test_me_answers_with_role_and_scopes(regions, auth):
    user = make_user(Role.COMMUNITY_WORKER, "370198001001", "370198002001", username="liming")
    body = auth(user).get("/api/v1/me/").json()
    assert body["username"] == "liming"
    assert body["role"] == "community_worker"
    assert body["scopes"] == ["370198001001", "370198002001"]
    assert body["totp_enrolled"] is False


def test_anonymous_and_bad_tokens_are_refused(regions):
    assert APIClient().get("/api/v1/me/").status_code in (401, 403)
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert bad.get("/api/v1/regions/").status_code in (401, 403)


def test_a_deactivated_account_loses_its_token(regions):
    user = make_user(Role.STREET_OFFICER, "370198001")
    client = token_client(user)
    assert client.get("/api/v1/regions/").status_code == 200
    user.is_active = False
    user.save()
    assert client.get("/api/v1/regions/").status_code in (401, 403)


def test_a_token_does_not_skip_the_first_login_password_change(regions):
    user = make_user(Role.STREET_OFFICER, "370198001", must_change_password=True)
    assert token_client(user).get("/api/v1/me/").status_code == 403


# --- Role-based access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_only_auditors_and_district_admins_read_the_audit_log(regions, role):
    client = token_client(make_user(role, STAFF_AT[role]))
    expected = 200 if role in (Role.AUDITOR, Role.DISTRICT_ADMIN) else 403
    assert client.get("/api/v1/audit/").status_code == expected


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_staff_role_reads_regions_and_itself(regions, role):
    client = session_client(make_user(role, STAFF_AT[role]))
    regions_listed = [r["code"] for r in client.get("/api/v1/regions/").json()["results"]]
    assert regions_listed and all(code.startswith(STAFF_AT[role]) for code in regions_listed)
    assert client.get("/api/v1/me/").json()["role"] == role


def test_residents_get_403_on_regions_and_audit_but_see_themselves(regions):
    resident = make_user(Role.RESIDENT, username="zhangsan")
    for client in (session_client(resident), token_client(resident)):
        assert client.get("/api/v1/regions/").status_code == 403
        assert client.get("/api/v1/regions/370198/").status_code == 403
        assert client.get("/api/v1/audit/").status_code == 403
        assert client.get("/api/v1/me/").json()["username"] == "zhangsan"
        assert [u["username"] for u in client.get("/api/v1/users/").json()["results"]] == ["zhangsan"]


def test_the_api_is_read_only(regions):
    client = token_client(make_user(Role.DISTRICT_ADMIN, "370198"))
    assert client.post("/api/v1/regions/", {"code": "370198003", "name": "新街道"}).status_code == 405
    assert client.delete("/api/v1/regions/370198001/").status_code == 405
    assert client.patch("/api/v1/users/1/", {"role": "auditor"}).status_code == 405


def test_region_filters_stay_inside_the_scope(regions):
    client = token_client(make_user(Role.STREET_OFFICER, "370198001"))
    listed = client.get("/api/v1/regions/?level=grid").json()["results"]
    assert [r["code"] for r in listed] == ["370198001001001", "370198001001002", "370198001002001"]
    assert client.get("/api/v1/regions/?within=370198002").json()["results"] == []
    assert client.get("/api/v1/regions/?parent=370198002").json()["results"] == []


# --- OpenAPI schema and docs --------------------------------------------------------------------------------


def generate_schema() -> str:
    """The schema as `linli manage spectacular` writes it (default language); any warning fails."""
    out = StringIO()
    with translation.override(settings.LANGUAGE_CODE):
        call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return out.getvalue()


def test_schema_generates_without_errors_or_warnings(db):
    schema = generate_schema()
    assert schema.startswith("openapi: 3")
    paths = ["/api/v1/regions/", "/api/v1/regions/{code}/", "/api/v1/users/", "/api/v1/audit/", "/api/v1/me/"]
    for path in paths:
        assert f"  {path}:" in schema, path
    assert "tokenAuth" in schema and "cookieAuth" in schema


def test_committed_schema_is_up_to_date(db):
    how = "regenerate it with `.venv/bin/linli manage spectacular --file docs/openapi.yaml` and commit it"
    assert OPENAPI_FILE.exists(), f"docs/openapi.yaml is missing: {how}"
    committed = OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == generate_schema(), f"docs/openapi.yaml is out of date: {how}"


def test_docs_page_uses_only_local_assets(db, client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the docs page must not load anything from a CDN"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    static_prefix = "/" + settings.STATIC_URL.lstrip("/")
    for asset in assets:
        assert finders.find(asset.removeprefix(static_prefix)), f"{asset} is not a static file"
    assert "/api/v1/schema/" in html
    assert client.get("/api/v1/schema/").status_code == 200
