"""Registry console pages: forms through the services, field errors, navigation, and a browser run."""

import pytest
from playwright.sync_api import expect

from linli.core.audit import AuditLog
from linli.core.models import Role
from linli.core.testing import PASSWORD
from linli.registry import testing as t
from linli.registry.models import Facility, House, Organisation, Vehicle

GRID = "370198001001001"


def test_registry_module_is_in_the_navigation_for_readers_only(regions, user_factory, client):
    client.force_login(user_factory(Role.GRID_WORKER, GRID))
    assert 'data-testid="module-registry"' in client.get("/").content.decode()
    client.force_login(user_factory(Role.AUDITOR, GRID))
    assert 'data-testid="module-registry"' not in client.get("/").content.decode()
    assert client.get("/registry/").status_code == 404


def test_forms_create_records_and_name_bad_fields(regions, user_factory, client):
    client.force_login(user_factory(Role.COMMUNITY_WORKER, "370198001001"))
    bad = {"region": GRID, "name": "", "id_number": "123", "residence_type": "registered"}
    response = client.post("/registry/people/new/", bad)
    assert response.status_code == 200 and "is-invalid" in response.content.decode()
    house = {"region": GRID, "estate": "青园小区", "building": "3号楼", "unit": "2单元", "number": "501"}
    assert client.post("/registry/houses/new/", {**house, "use": "rented"}).status_code == 302
    assert House.objects.get().address == "青园小区3号楼2单元501"
    org = {"region": GRID, "name": "青园物业", "credit_code": "91350100M000100Y43", "kind": "property"}
    assert client.post("/registry/organisations/new/", org).status_code == 302
    assert Organisation.objects.exists()
    facility = {"region": GRID, "kind": "路灯", "code": "LD-9", "state": "normal"}
    assert client.post("/registry/facilities/new/", facility).status_code == 302
    assert Facility.objects.exists()
    person = t.make_person(GRID)
    vehicle = {"region": GRID, "plate": "鲁A12345", "kind": "car", "owner_id_number": person.id_number}
    assert client.post("/registry/vehicles/new/", vehicle).status_code == 302
    assert Vehicle.objects.get().owner == person
    house_pk = House.objects.get().pk
    moved = {"id_number": person.id_number, "relation": "tenant"}
    assert client.post(f"/registry/houses/{house_pk}/move-in/", moved).status_code == 302
    assert "house-current" in client.get(f"/registry/houses/{house_pk}/").content.decode()
    changed = {"region": GRID, "name": "王大明", "residence_type": "floating"}
    assert client.post(f"/registry/people/{person.pk}/edit/", changed).status_code == 302
    person.refresh_from_db()
    assert person.name == "王大明" and person.id_number  # the empty ID box kept the stored number


def test_readers_cannot_post_changes(regions, user_factory, client):
    client.force_login(user_factory(Role.PROPERTY_MANAGER, GRID))
    assert client.post("/registry/people/new/", {"region": GRID}).status_code == 403


@pytest.mark.browser
@pytest.mark.usefixtures("totp_off")
def test_community_worker_finds_a_person_by_id_on_a_phone_and_unmasks_the_phone(
    phone_page, regions, user_factory
):
    page = phone_page
    worker = user_factory(Role.COMMUNITY_WORKER, "370198001001", username="lixh", display_name="李晓红")
    t.make_person(GRID, name="张三丰", id_number=t.ID_NUMBER, phone=t.PHONE)
    t.make_person(GRID, name="李四")
    page.goto("/login/")
    page.get_by_label("用户名").fill(worker.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.goto("/registry/")
    page.get_by_test_id("search-box").fill(t.ID_NUMBER)
    page.get_by_test_id("search-submit").click()
    expect(page.get_by_test_id("person-link")).to_have_count(1)
    assert t.ID_NUMBER not in page.url
    expect(page.get_by_test_id("person-table")).to_contain_text(t.STAFF_MASKED_ID)
    page.get_by_test_id("person-link").click()
    expect(page.get_by_test_id("value-phone")).to_have_text(t.MASKED_PHONE)
    expect(page.get_by_test_id("value-id_number")).to_have_text(t.STAFF_MASKED_ID)
    assert t.PHONE not in page.content() and t.ID_NUMBER not in page.content()
    page.get_by_test_id("unmask-phone").click()
    page.get_by_test_id("unmask-reason-phone").fill("回访核实联系方式")
    page.get_by_test_id("unmask-submit-phone").click()
    expect(page.get_by_test_id("value-phone")).to_have_text(t.PHONE)
    expect(page.get_by_test_id("value-id_number")).to_have_text(t.STAFF_MASKED_ID)
    entry = AuditLog.objects.get(action="unmasked")
    assert (entry.actor, entry.detail["field"], entry.detail["reason"]) == (
        worker,
        "phone",
        "回访核实联系方式",
    )
    page.reload()
    expect(page.get_by_test_id("value-phone")).to_have_text(t.MASKED_PHONE)
