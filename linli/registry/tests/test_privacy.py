"""Personal data: no plaintext in the database or logs, masked on pages, unmasked with a reason, audited."""

import logging

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from linli.core.audit import AuditLog
from linli.core.models import Role
from linli.registry import services
from linli.registry import testing as t
from linli.registry.models import Person

GRID = "370198001001001"
OTHER_ID = "11010519491231002X"
OTHER_PHONE = "13912345678"


def text_columns() -> list[tuple[str, str]]:
    """(table, column) of every text-like column of every table, read from the database's own catalogue."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() "
                "AND data_type IN ('character varying', 'text', 'character', 'jsonb', 'json')"
            )
            return list(cursor.fetchall())
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        columns = []
        for (table,) in cursor.fetchall():
            cursor.execute(f'PRAGMA table_info("{table}")')
            columns += [
                (table, row[1])
                for row in cursor.fetchall()
                if "CHAR" in row[2].upper() or "TEXT" in row[2].upper() or row[2] == ""
            ]
        return columns


def find_in_database(*needles: str) -> list[str]:
    hits = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            for needle in needles:
                cursor.execute(
                    f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE %s', [f"%{needle}%"]
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column} holds {needle[:3]}…")
    return hits


def test_no_plaintext_id_or_phone_anywhere_in_the_database(regions, user_factory, client):
    worker = user_factory(Role.GRID_WORKER, GRID)
    # Through the services, the API and the pages; with a search and an unmask on the way.
    t.make_person(GRID, name="张三丰", id_number=t.ID_NUMBER, phone=t.PHONE, contact_phone=OTHER_PHONE)
    api = APIClient()
    api.force_login(worker)
    other = {"region": GRID, "name": "李四", "id_number": OTHER_ID, "phone": "13700001111"}
    assert api.post("/api/v1/people/", other, format="json").status_code == 201
    client.force_login(worker)
    form = {"region": GRID, "name": "王五", "id_number": t.id_number(777), "phone": "13600002222"}
    response = client.post("/registry/people/new/", {**form, "residence_type": "registered"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert client.post("/registry/", {"q": t.ID_NUMBER}).status_code == 200
    assert api.get("/api/v1/people/", {"q": OTHER_ID}).json()["count"] == 1
    person = Person.objects.get(id_number__blind=t.ID_NUMBER)
    services.unmask(worker, person, "phone", "回访核实")
    assert Person.objects.count() == 3
    assert len(text_columns()) > 20
    secrets = [t.ID_NUMBER, t.PHONE, OTHER_ID, OTHER_PHONE, "13700001111", t.id_number(777), "13600002222"]
    assert find_in_database(*secrets) == []


def test_no_plaintext_in_logs_while_creating_searching_and_failing(regions, user_factory, client, caplog):
    caplog.set_level(logging.DEBUG)
    worker = user_factory(Role.GRID_WORKER, GRID)
    api = APIClient()
    api.force_login(worker)
    body = {"region": GRID, "name": "张三丰", "id_number": t.ID_NUMBER, "phone": t.PHONE}
    assert api.post("/api/v1/people/", body, format="json").status_code == 201
    api.get("/api/v1/people/", {"q": t.ID_NUMBER})
    api.get("/api/v1/people/", {"q": t.PHONE})
    client.force_login(worker)
    client.post("/registry/", {"q": t.ID_NUMBER})
    failing = {**body, "id_number": OTHER_ID, "phone": "1380013800x"}
    response = api.post("/api/v1/people/", failing, format="json")
    assert response.status_code == 400 and OTHER_ID not in response.content.decode()
    page = client.post("/registry/people/new/", {**failing, "residence_type": "registered"})
    # The form gives the typed number back in its box for correction, but no error message repeats it.
    assert page.status_code == 200 and page.content.decode().count(OTHER_ID) == 1
    assert caplog.records, "nothing was logged: the test would prove nothing"
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {getattr(r, 'exc_text', '') or ''}" for r in caplog.records
    )
    for secret in (t.ID_NUMBER, t.PHONE, OTHER_ID):
        assert secret not in logged


@pytest.mark.parametrize(
    "role, shown",
    [
        (Role.GRID_WORKER, t.STAFF_MASKED_ID),
        (Role.COMMUNITY_WORKER, t.STAFF_MASKED_ID),
        (Role.PROPERTY_MANAGER, t.PUBLIC_MASKED_ID),
        (Role.SERVICE_PROVIDER, t.PUBLIC_MASKED_ID),
    ],
)
def test_pages_show_masks_for_the_role_and_never_the_plaintext(regions, user_factory, client, role, shown):
    person = t.make_person(GRID, name="张三丰", id_number=t.ID_NUMBER, phone=t.PHONE)
    services.move_in(person, t.make_house(GRID), "owner")
    client.force_login(user_factory(role, GRID))
    for url in (
        "/registry/",
        f"/registry/people/{person.pk}/",
        f"/registry/houses/{person.residencies.get().house_id}/",
    ):
        html = client.get(url).content.decode()
        assert shown in html, url
        assert t.ID_NUMBER not in html and t.PHONE not in html and "张三丰" not in html, url
    detail = client.get(f"/registry/people/{person.pk}/").content.decode()
    assert ('data-testid="unmask-phone"' in detail) == (role in services.UNMASK_ROLES)


def test_unmask_on_the_page_needs_permission_and_a_reason_and_is_audited(regions, user_factory, client):
    person = t.make_person(GRID, name="张三丰", id_number=t.ID_NUMBER, phone=t.PHONE)
    url = f"/registry/people/{person.pk}/unmask/"
    client.force_login(user_factory(Role.PROPERTY_MANAGER, GRID))
    assert client.post(url, {"field": "id_number", "reason": "伪造的请求"}).status_code == 403
    worker = user_factory(Role.GRID_WORKER, GRID)
    client.force_login(worker)
    short = client.post(url, {"field": "id_number", "reason": "看"})
    assert short.status_code == 400 and t.ID_NUMBER not in short.content.decode()
    assert not AuditLog.objects.filter(action="unmasked").exists()
    shown = client.post(url, {"field": "id_number", "reason": "核对户籍信息"}, HTTP_HX_REQUEST="true")
    assert t.ID_NUMBER in shown.content.decode() and shown["Cache-Control"].startswith("max-age=0")
    entry = AuditLog.objects.get(action="unmasked")
    assert (entry.actor, entry.detail["field"], entry.detail["reason"]) == (
        worker,
        "id_number",
        "核对户籍信息",
    )
    # Shown once: the next visit to the page is masked again.
    assert t.ID_NUMBER not in client.get(f"/registry/people/{person.pk}/").content.decode()
    call_command("audit", "verify")
    outsider = user_factory(Role.GRID_WORKER, "370198002001001")
    client.force_login(outsider)
    assert client.post(url, {"field": "id_number", "reason": "核对户籍信息"}).status_code == 404
