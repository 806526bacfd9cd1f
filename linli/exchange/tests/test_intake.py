"""Cases from the 12345 hotline and the city operations centre: once only, classified, mapped, scoped."""

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from linli.exchange import services
from linli.exchange.models import CategoryMapping, RequestType, Submission
from linli.grid.models import Event, Source, State
from linli.grid.testing import category, centre_of

from .support import close

URL = "/api/v1/exchange/cases/"


def api(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_X_API_KEY=key)
    return client


def case(upstream_id="12345-20261129-0001", grid_code="370198001001001", **fields):
    lon, lat = centre_of(grid_code)
    values = {
        "upstream_id": upstream_id,
        "request_type": "投诉",
        "category_code": "06010",
        "title": "小区门口垃圾堆积三天",
        "description": "市民来电反映小区门口垃圾无人清理",
        "lon": lon,
        "lat": lat,
        "requester_name": "王先生",
        "requester_phone": "13800138000",
        "due_at": "2026-12-16T18:00:00+08:00",
        "grid_code": grid_code,
    }
    values.update(fields)
    return values


@pytest.mark.django_db
def test_the_same_case_twice_is_one_event(hotline):
    first = api(hotline.key).post(URL, case(), format="json")
    assert first.status_code == 201, first.content
    again = api(hotline.key).post(URL, case(title="changed"), format="json")
    assert again.status_code == 200
    assert again.data["number"] == first.data["number"] and again.data["created"] is False
    assert Event.objects.count() == 1
    event = Event.objects.get()
    assert event.source == Source.HOTLINE and event.upstream_system == "12345"
    assert event.reporter_phone == "13800138000"
    submission = Submission.objects.get()
    assert submission.request_type == RequestType.COMPLAINT
    assert submission.upstream_due_at is not None
    body = first.content.decode()
    assert "13800138000" not in body and "王先生" not in body, "the requester is never shown back"
    assert first.data["grid_code"] == "370198001001001"
    assert first.data["status"] == "open" and first.data["state"] == State.VERIFYING
    assert first.data["reported_at"].endswith("+08:00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "word, kind",
    [
        ("咨询", "consultation"),
        ("求助", "help"),
        ("举报", "report"),
        ("建议批评", "suggestion"),
        ("complaint", "complaint"),
    ],
)
def test_the_five_hotline_classes(hotline, word, kind):
    response = api(hotline.key).post(URL, case(upstream_id=f"c-{kind}", request_type=word), format="json")
    assert response.status_code == 201, response.content
    assert response.data["request_type"] == kind


@pytest.mark.django_db
def test_the_hotline_must_classify_its_cases(hotline):
    response = api(hotline.key).post(URL, case(request_type=""), format="json")
    assert response.status_code == 400 and "request_type" in response.data
    response = api(hotline.key).post(URL, case(request_type="闲聊"), format="json")
    assert response.status_code == 400 and "request_type" in response.data


@pytest.mark.django_db
def test_city_category_codes_are_mapped(people):
    city = services.create_client(name="市城运中心", kind="city_centre", region_code="370198")
    CategoryMapping.objects.create(system="city-centre", external_code="0102030", category=category("06013"))
    response = api(city.key).post(
        URL, case(category_code="0102030", request_type="", upstream_id="CITY-1"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.data["category_code"] == "06013"
    assert Event.objects.get().source == Source.CITY_CENTRE
    unknown = api(city.key).post(URL, case(category_code="7777", upstream_id="CITY-2"), format="json")
    assert unknown.status_code == 400 and "category_code" in unknown.data


@pytest.mark.django_db
def test_a_case_without_category_takes_the_clients_default(people):
    city = services.create_client(
        name="城运", kind="city_centre", region_code="370198", default_category=category("09009")
    )
    response = api(city.key).post(URL, case(category_code="", upstream_id="CITY-3"), format="json")
    assert response.status_code == 201, response.content
    assert response.data["category_code"] == "09009"


@pytest.mark.django_db
def test_a_grid_code_places_a_case_without_a_point(hotline):
    response = api(hotline.key).post(
        URL, case(lon=None, lat=None, grid_code="370198002001001", address="西一村村委会"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.data["grid_code"] == "370198002001001"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields, named",
    [
        ({"requester_phone": "0531-1234"}, "requester_phone"),
        ({"title": ""}, "title"),
        ({"lon": 117.0}, "lat"),
        ({"lon": 100.0, "lat": 30.0}, "lat"),
        ({"urgency": "whenever"}, "urgency"),
    ],
)
def test_bad_cases_are_400_naming_the_field(hotline, fields, named):
    values = case()
    values.update(fields)
    if fields.get("lon") == 117.0:
        values.pop("lat")
    response = api(hotline.key).post(URL, values, format="json")
    assert response.status_code == 400, response.content
    assert named in response.data
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_keys_are_checked(hotline, open311_client):
    assert api(None).post(URL, case(), format="json").status_code == 401
    assert api("lx_000000000000_nope").post(URL, case(), format="json").status_code == 401
    assert api(open311_client.key).post(URL, case(), format="json").status_code == 403
    services.revoke_client(hotline.client, actor_name="test")
    assert api(hotline.key).post(URL, case(), format="json").status_code == 401


@pytest.mark.django_db
def test_status_by_upstream_id_with_public_steps(hotline, people):
    api(hotline.key).post(URL, case(), format="json")
    close(Event.objects.get(), people, note="已清理，请联系13912345678回访")
    response = api(hotline.key).get(f"{URL}12345-20261129-0001/")
    assert response.status_code == 200
    assert response.data["status"] == "closed" and response.data["department"] == "环卫所"
    assert [step["action"] for step in response.data["steps"]] == [
        "verify",
        "register",
        "dispatch",
        "accept",
        "report_done",
        "inspect_ok",
    ]
    assert response.data["status_notes"] == "已清理，请联系139****5678回访"
    assert api(hotline.key).get(f"{URL}no-such-case/").status_code == 404


@pytest.mark.django_db
def test_a_street_client_cannot_file_or_read_in_another_street(people):
    east = services.create_client(name="东街道热线", kind="hotline", region_code="370198001", system="12345")
    west = services.create_client(name="西街道热线", kind="hotline", region_code="370198002", system="12345")
    refused = api(west.key).post(URL, case(upstream_id="X-1"), format="json")
    assert refused.status_code == 400 and "region" in refused.data
    assert api(east.key).post(URL, case(upstream_id="X-1"), format="json").status_code == 201
    assert api(west.key).get(f"{URL}X-1/").status_code == 404
    conflict = api(west.key).post(URL, case(upstream_id="X-1", grid_code="370198002001001"), format="json")
    assert conflict.status_code == 409, "one upstream case is one event; another street may not take it"
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_at_once_make_one_event(regions):
    """The hotline resends while the first delivery is still being written: one event, both answered."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers are a PostgreSQL matter; SQLite serialises them by design")
    from linli.grid.testing import draw_grids

    draw_grids()
    hotline = services.create_client(name="12345", kind="hotline", region_code="370198")
    barrier = threading.Barrier(2)
    answers = []

    def deliver():
        try:
            barrier.wait(timeout=10)
            answers.append(api(hotline.key).post(URL, case(upstream_id="RACE-1"), format="json"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(response.status_code for response in answers) == [200, 201], [r.content for r in answers]
    assert answers[0].data["number"] == answers[1].data["number"]
    assert Event.objects.filter(upstream_id="RACE-1").count() == 1
    assert Submission.objects.count() == 1
