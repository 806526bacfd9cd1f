"""Registry API: changes through the services, DRF-shaped errors, masks per role, unmask, search."""

import pytest
from rest_framework.test import APIClient

from linli.core.audit import AuditLog
from linli.core.models import Role
from linli.registry import testing as t
from linli.registry.models import House, Organisation, Person, Residency, Vehicle

GRID = "370198001001001"
COMMUNITY = "370198001001"


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def worker(regions, user_factory):
    return user_factory(Role.GRID_WORKER, GRID, username="grid-worker")


@pytest.fixture
def person(regions):
    return t.make_person(GRID, name="张三丰", id_number=t.ID_NUMBER, phone=t.PHONE)


def test_grid_worker_registers_a_person_and_gets_it_back_masked(worker):
    body = {"region": GRID, "name": "张三丰", "id_number": t.ID_NUMBER, "phone": t.PHONE}
    response = api(worker).post("/api/v1/people/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["name"], data["id_number"], data["phone"]) == ("张**", t.STAFF_MASKED_ID, t.MASKED_PHONE)
    assert (data["sex"], data["birth_date"]) == ("M", "1990-01-01")
    assert t.ID_NUMBER not in response.content.decode() and t.PHONE not in response.content.decode()
    assert Person.objects.get().id_number == t.ID_NUMBER
    assert AuditLog.objects.filter(action="person_registered", actor=worker).exists()


def test_validation_errors_name_the_field_and_do_not_echo_the_id(worker):
    body = {"region": GRID, "name": "张三丰", "id_number": t.ID_NUMBER, "phone": "1380013800x"}
    response = api(worker).post("/api/v1/people/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"phone"}
    assert t.ID_NUMBER not in response.content.decode()
    bad_id = t.ID_NUMBER[:-1] + "4"
    response = api(worker).post("/api/v1/people/", {**body, "id_number": bad_id, "phone": ""}, format="json")
    assert set(response.json()) == {"id_number"}
    assert bad_id not in response.content.decode()
    response = api(worker).post("/api/v1/people/", {"region": "370198002001001"}, format="json")
    assert {"region", "name", "id_number"} <= set(response.json())
    assert not Person.objects.exists()


def test_a_person_is_changed_through_the_service(worker, person):
    response = api(worker).patch(f"/api/v1/people/{person.pk}/", {"phone": "13900139000"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "139****9000"
    person.refresh_from_db()
    assert (person.phone, person.id_number) == ("13900139000", t.ID_NUMBER)


@pytest.mark.parametrize(
    "role, expected_id",
    [(Role.GRID_WORKER, t.STAFF_MASKED_ID), (Role.PROPERTY_MANAGER, t.PUBLIC_MASKED_ID)],
)
def test_masks_follow_the_role_in_list_and_detail(regions, user_factory, person, role, expected_id):
    client = api(user_factory(role, COMMUNITY))
    for url in ("/api/v1/people/", f"/api/v1/people/{person.pk}/"):
        response = client.get(url)
        text = response.content.decode()
        assert expected_id in text
        assert t.ID_NUMBER not in text and t.PHONE not in text


def test_search_by_exact_id_phone_and_name(worker, person):
    t.make_person(GRID, name="李四")
    client = api(worker)
    for query in (t.ID_NUMBER, t.PHONE, "张三"):
        results = client.get("/api/v1/people/", {"q": query}).json()["results"]
        assert [row["id"] for row in results] == [person.pk], query
    assert client.get("/api/v1/people/", {"q": t.ID_NUMBER[:-1] + "4"}).json()["count"] == 0


def test_unmask_needs_permission_and_reason_and_is_audited(worker, person, user_factory):
    client = api(worker)
    url = f"/api/v1/people/{person.pk}/unmask/"
    assert client.post(url, {"field": "phone"}, format="json").status_code == 400
    assert client.post(url, {"field": "phone", "reason": "看"}, format="json").status_code == 400
    assert client.post(url, {"field": "sex", "reason": "回访核实"}, format="json").status_code == 400
    response = client.post(url, {"field": "phone", "reason": "回访核实"}, format="json")
    assert response.json() == {"field": "phone", "value": t.PHONE}
    assert response["Cache-Control"] == "no-store"
    entry = AuditLog.objects.get(action="unmasked")
    assert (entry.actor, entry.detail["field"], entry.detail["reason"]) == (worker, "phone", "回访核实")
    manager = user_factory(Role.PROPERTY_MANAGER, COMMUNITY)
    assert api(manager).post(url, {"field": "phone", "reason": "回访核实"}, format="json").status_code == 403
    assert AuditLog.objects.filter(action="unmasked").count() == 1


def test_third_parties_read_but_do_not_write(regions, user_factory):
    manager = user_factory(Role.PROPERTY_MANAGER, COMMUNITY)
    body = {"region": GRID, "name": "张三丰", "id_number": t.ID_NUMBER}
    assert api(manager).post("/api/v1/people/", body, format="json").status_code == 403


def test_house_building_residency_and_household_through_the_api(worker, person):
    client = api(worker)
    building = client.post(
        "/api/v1/buildings/", {"region": GRID, "estate": "青园小区", "name": "3号楼"}, format="json"
    )
    assert building.status_code == 201, building.content
    house = client.post(
        "/api/v1/houses/",
        {
            "building": building.json()["id"],
            "unit": "2单元",
            "number": "501",
            "area": "88.50",
            "use": "rented",
        },
        format="json",
    )
    assert house.status_code == 201, house.content
    assert house.json()["address"] == "青园小区3号楼2单元501"
    house_id = house.json()["id"]
    moved = client.post(
        "/api/v1/residencies/", {"person": person.pk, "house": house_id, "relation": "tenant"}, format="json"
    )
    assert moved.status_code == 201, moved.content
    people = client.get("/api/v1/residencies/", {"house": house_id}).json()["results"]
    assert [(row["person"], row["person_name"]) for row in people] == [(person.pk, "张**")]
    ended = client.patch(f"/api/v1/residencies/{moved.json()['id']}/", {"end": "2030-01-01"}, format="json")
    assert ended.status_code == 200 and Residency.objects.get().end is not None
    household = client.post("/api/v1/households/", {"house": house_id, "head": person.pk}, format="json")
    assert household.status_code == 201, household.content
    assert household.json()["members"][0]["name"] == "张**"
    assert House.objects.get().use == "rented"


def test_organisation_facility_and_vehicle_through_the_api(worker, person):
    client = api(worker)
    org = client.post(
        "/api/v1/organisations/",
        {
            "region": GRID,
            "name": "青园物业",
            "credit_code": "91350100M000100Y43",
            "kind": "property",
            "contact_phone": t.PHONE,
        },
        format="json",
    )
    assert org.status_code == 201, org.content
    assert org.json()["contact_phone"] == t.MASKED_PHONE
    bad = client.post(
        "/api/v1/organisations/",
        {"region": GRID, "name": "x", "credit_code": "91350100M000100Y44", "kind": "shop"},
        format="json",
    )
    assert bad.status_code == 400 and "credit_code" in bad.json()
    facility = client.post(
        "/api/v1/facilities/",
        {"region": GRID, "kind": "路灯", "code": "LD-1", "state": "damaged"},
        format="json",
    )
    assert facility.status_code == 201, facility.content
    vehicle = client.post(
        "/api/v1/vehicles/", {"region": GRID, "plate": "鲁A·D12345", "owner": person.pk}, format="json"
    )
    assert vehicle.status_code == 201, vehicle.content
    assert Vehicle.objects.get().kind == Vehicle.Kind.NEW_ENERGY
    bad_plate = client.post("/api/v1/vehicles/", {"region": GRID, "plate": "ABC"}, format="json")
    assert bad_plate.status_code == 400 and "plate" in bad_plate.json()
    renamed = client.patch(
        f"/api/v1/organisations/{org.json()['id']}/", {"name": "青园物业公司"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert Organisation.objects.get().name == "青园物业公司"


def test_third_parties_see_plates_partly_hidden(regions, user_factory, person):
    t.make_vehicle(GRID, owner=person)
    plate = Vehicle.objects.get().plate
    staff = api(user_factory(Role.GRID_WORKER, GRID)).get("/api/v1/vehicles/").json()["results"][0]
    public = api(user_factory(Role.SERVICE_PROVIDER, GRID)).get("/api/v1/vehicles/").json()["results"][0]
    assert staff["plate"] == plate
    assert public["plate"] != plate and "*" in public["plate"]


def test_schema_describes_the_masking(db):
    from linli.core.tests.test_api import generate_schema

    schema = generate_schema()
    assert "example: 370***********1238" in schema
    assert "/api/v1/people/{id}/unmask/:" in schema
    assert "use POST /api/v1/people/{id}/unmask/ with a reason".lower() in schema.lower()
