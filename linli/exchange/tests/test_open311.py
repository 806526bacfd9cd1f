"""Open311 GeoReport v2 conformance: every endpoint in XML and JSON, errors, FixMyStreet's request shapes."""

import json
from datetime import timedelta

import pytest

from linli.core import clock
from linli.exchange import services
from linli.exchange.models import Submission
from linli.grid import services as grid
from linli.grid.models import Event, Source, State
from linli.grid.testing import category, centre_of, resident_report

from .support import both, close, validate, xml_to_json

BASE = "/open311/v2/"
pytestmark = pytest.mark.django_db


def post(client, fmt, key, **fields):
    data = {"api_key": key, **fields}
    return client.post(f"{BASE}requests.{fmt}", data)


def point(grid_code="370198001001001"):
    lon, lat = centre_of(grid_code)
    return {"lat": str(lat), "long": str(lon)}


def error_of(response, fmt):
    """The error list of a response, checked against the schema, from either format."""
    expected = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}[fmt]
    assert response["Content-Type"] == expected
    data = xml_to_json(response.content) if fmt == "xml" else json.loads(response.content)
    validate(data, "errors")
    return data


# --- Discovery, services, definitions -----------------------------------------------------------------------


def test_discovery_in_both_formats(client, people):
    data = both(client, f"{BASE}discovery", "discovery")
    (endpoint,) = data["endpoints"]
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert data["changeset"].endswith("+08:00")


def test_services_are_the_public_minor_categories_grouped_by_major_class(client, people):
    data = both(client, f"{BASE}services", "services")
    by_code = {service["service_code"]: service for service in data}
    assert by_code["06010"]["service_name"] == "暴露垃圾"
    assert by_code["06010"]["group"] == "市容环境类"
    assert by_code["06010"]["metadata"] is True
    assert "IOT01" not in by_code and "06" not in by_code, "device alarms and major classes are not services"
    assert "private" in by_code["SG0402"]["keywords"], "FixMyStreet must keep noise reports off its map"
    assert by_code["06010"]["keywords"] is None


def test_service_definition_lists_its_questions(client, people):
    data = both(client, f"{BASE}services/SG0402", "service_definition")
    assert data["service_code"] == "SG0402"
    questions = {a["code"]: a for a in data["attributes"]}
    assert questions["noise_source"]["datatype"] == "singlevaluelist"
    assert questions["noise_source"]["required"] is True
    assert {v["key"] for v in questions["noise_source"]["values"]} >= {"neighbour", "construction"}
    assert questions["noise_time"]["datatype"] == "multivaluelist"
    assert questions["fixmystreet_id"]["automated"] == "server_set"
    assert [a["order"] for a in data["attributes"]] == list(range(1, len(data["attributes"]) + 1))


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_unknown_service_code_is_404(client, people, fmt):
    response = client.get(f"{BASE}services/NOPE.{fmt}")
    assert response.status_code == 404
    assert error_of(response, fmt)[0]["code"] == 404
    assert "NOPE" in error_of(response, fmt)[0]["description"]


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_unknown_jurisdiction_is_404_and_an_empty_one_is_absent(client, people, fmt):
    response = client.get(f"{BASE}services.{fmt}", {"jurisdiction_id": "elsewhere.example"})
    assert response.status_code == 404
    assert "elsewhere.example" in error_of(response, fmt)[0]["description"]
    assert client.get(f"{BASE}services.{fmt}", {"jurisdiction_id": ""}).status_code == 200
    assert client.get(f"{BASE}services.{fmt}", {"jurisdiction_id": "370198"}).status_code == 200


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_tokens_are_never_issued_so_any_token_is_404(client, people, fmt):
    response = client.get(f"{BASE}tokens/abc123.{fmt}")
    assert response.status_code == 404
    assert error_of(response, fmt)[0]["code"] == 404


def test_other_formats_are_not_served(client, people):
    assert client.get(f"{BASE}services.html").status_code == 404


# --- POST requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_post_files_an_event_in_the_grid_of_the_point(client, open311_client, people, fmt):
    response = post(
        client,
        fmt,
        open311_client.key,
        service_code="06010",
        description="小区东门垃圾堆积\n已经三天没人清理",
        first_name="小明",
        last_name="李",
        phone="138-0013-8000",
        email="li@example.com",
        account_id="fms-user-7",
        **point(),
    )
    assert response.status_code == 201, response.content.decode()
    data = xml_to_json(response.content) if fmt == "xml" else json.loads(response.content)
    validate(data, "post_response")
    number = data[0]["service_request_id"]
    assert data[0]["account_id"] == "fms-user-7"
    event = Event.objects.get(number=number)
    assert event.region_code == "370198001001001"
    assert event.source == Source.OPEN311
    assert event.state == State.VERIFYING, "reports from outside are checked on site first"
    assert event.title == "小区东门垃圾堆积"
    assert event.reporter_name == "李小明" and event.reporter_phone == "13800138000"
    assert Submission.objects.get(event=event).client == open311_client.client


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_bad_or_missing_api_key_is_403(client, open311_client, fmt):
    for key in ("lx_000000000000_wrong", ""):
        response = post(client, fmt, key, service_code="06010", **point())
        assert response.status_code == 403
        assert error_of(response, fmt)[0]["code"] == 403
    assert not Event.objects.exists()


def test_a_hotline_key_is_not_an_open311_key(client, hotline):
    assert post(client, "json", hotline.key, service_code="06010", **point()).status_code == 403


def test_a_revoked_key_is_403(client, open311_client):
    services.revoke_client(open311_client.client, actor_name="test")
    assert post(client, "json", open311_client.key, service_code="06010", **point()).status_code == 403


@pytest.mark.parametrize("fmt", ["xml", "json"])
@pytest.mark.parametrize(
    "fields, named",
    [
        ({"lat": "36.605", "long": "117.005"}, "service_code"),
        ({"service_code": "06010"}, "address_string"),
        ({"service_code": "06010", "lat": "36.605"}, "long"),
        ({"service_code": "06010", "long": "117.005"}, "lat"),
        ({"service_code": "06010", "lat": "north", "long": "117.005"}, "lat"),
        ({"service_code": "06010", "phone": "12345", "lat": "36.605", "long": "117.005"}, "phone"),
        ({"service_code": "06010", "email": "nobody", "lat": "36.605", "long": "117.005"}, "email"),
        (
            {"service_code": "06010", "description": "长" * 4001, "lat": "36.605", "long": "117.005"},
            "description",
        ),
        ({"service_code": "SG0402", "lat": "36.605", "long": "117.005"}, "attribute[noise_source]"),
        (
            {"service_code": "SG0402", "attribute[noise_source]": "dog", "lat": "36.605", "long": "117.005"},
            "attribute[noise_source]",
        ),
        ({"service_code": "06010", "lat": "36.0", "long": "117.0"}, "lat"),
    ],
)
def test_a_missing_or_bad_field_is_400_naming_it(client, open311_client, fmt, fields, named):
    response = post(client, fmt, open311_client.key, **fields)
    assert response.status_code == 400, response.content.decode()
    problems = error_of(response, fmt)
    assert any(named in problem["description"] for problem in problems), problems
    assert all(problem["code"] == 400 for problem in problems)
    assert not Event.objects.exists()


def test_post_of_an_unknown_service_code_is_404(client, open311_client):
    response = post(client, "xml", open311_client.key, service_code="99999", **point())
    assert response.status_code == 404
    assert error_of(response, "xml")[0]["code"] == 404


def test_fixmystreet_shaped_post_with_multivalue_attributes(client, open311_client, people):
    """The form FixMyStreet's Open311.pm sends: its own attributes, title, photos, names split in two."""
    data = {
        "api_key": open311_client.key,
        "jurisdiction_id": "370198",
        "service_code": "06010",
        "description": "Rubbish dumped by the gate\n\nView report: https://fms.example/report/4711",
        "first_name": "Ann",
        "last_name": "Smith",
        "email": "ann@example.com",
        "phone": "+86 139 0013 9000",
        "attribute[fixmystreet_id]": "4711",
        "attribute[report_title]": "Rubbish by the gate",
        "attribute[closest_address]": "经十路 100 号附近",
        "attribute[waste_kind][]": ["household", "bulky"],
        "media_url": ["https://fms.example/photo/4711.0.jpeg", "https://fms.example/photo/4711.1.jpeg"],
        **point("370198001001002"),
    }
    response = client.post(f"{BASE}requests.xml", data)
    assert response.status_code == 201, response.content.decode()
    number = xml_to_json(response.content)[0]["service_request_id"]
    event = Event.objects.get(number=number)
    assert event.region_code == "370198001001002"
    assert event.title == "Rubbish by the gate"
    assert event.upstream_id == "4711" and event.upstream_system == open311_client.client.system
    assert "生活垃圾" in event.description or "Household rubbish" in event.description
    submission = event.exchange_submission
    assert submission.attributes["waste_kind"] == ["household", "bulky"]
    assert submission.media_url == "https://fms.example/photo/4711.0.jpeg"
    assert len(submission.attributes["media_urls"]) == 2
    assert event.reporter_name == "Ann Smith" and event.reporter_phone == "13900139000"

    again = client.post(f"{BASE}requests.xml", data)
    assert again.status_code == 200, "FixMyStreet resending after a timeout must not make a second event"
    assert xml_to_json(again.content)[0]["service_request_id"] == number
    assert Event.objects.count() == 1


def test_not_pinpointed_report_goes_to_the_clients_fallback_grid(client, open311_client, people):
    open311_client.client.fallback_grid_id = "370198001002001"
    open311_client.client.save()
    response = post(
        client,
        "xml",
        open311_client.key,
        service_code="07001",
        description="到处是小广告",
        address_id="#NOTPINPOINTED#",
        **{"attribute[easting]": "540315", "attribute[northing]": "168935"},
    )
    assert response.status_code == 201, response.content.decode()
    event = Event.objects.get(number=xml_to_json(response.content)[0]["service_request_id"])
    assert event.region_code == "370198001002001"
    assert event.lon is None
    assert event.exchange_submission.attributes["not_pinpointed"] is True
    assert "address_id" not in event.exchange_submission.attributes, "#NOTPINPOINTED# is not an address id"


def test_not_pinpointed_without_a_fallback_grid_is_400(client, open311_client, people):
    response = post(client, "json", open311_client.key, service_code="07001", address_id="#NOTPINPOINTED#")
    assert response.status_code == 400
    assert "lat" in error_of(response, "json")[0]["description"]


def test_a_grid_clients_address_only_report_stays_in_its_grid(client, people):
    grid_client = services.create_client(name="网格微信群", kind="open311", region_code="370198001001002")
    response = post(
        client, "json", grid_client.key, service_code="09009", address_string="3号楼门口", description="堵路"
    )
    assert response.status_code == 201, response.content.decode()
    event = Event.objects.get(number=json.loads(response.content)[0]["service_request_id"])
    assert event.region_code == "370198001001002" and event.address == "3号楼门口"


# --- GET requests -------------------------------------------------------------------------------------------


def test_requests_list_in_both_formats_with_status_mapping(client, people):
    open_event = resident_report(people, title="路灯不亮", category=category("01037"))
    closed_event = resident_report(people, title="垃圾")
    close(closed_event, people, note="已清理。联系人电话 13912345678")
    data = both(client, f"{BASE}requests", "requests")
    by_id = {row["service_request_id"]: row for row in data}
    assert by_id[open_event.number]["status"] == "open"
    closed = by_id[closed_event.number]
    assert closed["status"] == "closed"
    assert closed["agency_responsible"] == "环卫所"
    assert closed["status_notes"] == "已清理。联系人电话 139****5678", "phone numbers in notes are masked"
    assert closed["requested_datetime"].endswith("+08:00")
    closed_event.refresh_from_db()
    assert closed["updated_datetime"] == services.local_iso(closed_event.closed_at)
    assert closed["expected_datetime"] == services.local_iso(closed_event.handle_due_at)


def test_requests_never_show_the_reporter(client, people):
    event = resident_report(
        people,
        reporter_name="王建国",
        reporter_phone="13800138000",
        description="王建国反映：门口垃圾没人管，电话13800138000，邮箱wjg@example.com",
    )
    for fmt in ("xml", "json"):
        body = client.get(f"{BASE}requests/{event.number}.{fmt}").content.decode()
        assert "王建国" not in body and "13800138000" not in body and "wjg@example.com" not in body
        assert "王**" in body and "138****8000" in body


def test_control_characters_never_break_the_xml(client, people):
    event = resident_report(people, description="垃圾\x0b堆积\x08在门口\x1f")
    data = both(client, f"{BASE}requests/{event.number}", "requests")
    assert data[0]["description"] == "垃圾堆积在门口"


def test_control_characters_are_dropped_on_the_way_in(client, open311_client):
    response = post(
        client, "json", open311_client.key, service_code="06010", description="门口\x00垃圾\x0b", **point()
    )
    assert response.status_code == 201
    assert Event.objects.get().description == "门口垃圾"


def test_one_request_in_both_formats_and_unknown_is_404(client, people):
    event = resident_report(people)
    data = both(client, f"{BASE}requests/{event.number}", "requests")
    assert [row["service_request_id"] for row in data] == [event.number]
    for fmt in ("xml", "json"):
        response = client.get(f"{BASE}requests/0000.{fmt}")
        assert response.status_code == 404
        assert error_of(response, fmt)[0]["code"] == 404


def test_private_categories_and_device_alarms_are_not_public(client, people, open311_client):
    noise = resident_report(people, category=category("SG0402"), title="楼上装修噪音")
    alarm = resident_report(people, category=category("06013"), title="路面塌陷", source=Source.IOT)
    public = resident_report(people)
    listed = {row["service_request_id"] for row in both(client, f"{BASE}requests", "requests")}
    assert listed == {public.number}
    assert client.get(f"{BASE}requests/{noise.number}.json").status_code == 404
    assert client.get(f"{BASE}requests/{alarm.number}.json").status_code == 404


def test_the_client_that_filed_a_private_case_can_read_it_back(client, open311_client, people):
    response = post(
        client,
        "json",
        open311_client.key,
        service_code="SG0402",
        description="楼上装修",
        **{"attribute[noise_source]": "neighbour", "attribute[noise_time][]": ["night", "evening"]},
        **point(),
    )
    number = json.loads(response.content)[0]["service_request_id"]
    assert Event.objects.get(number=number).exchange_submission.attributes["noise_time"] == [
        "night",
        "evening",
    ]
    assert client.get(f"{BASE}requests/{number}.json").status_code == 404, "not public"
    data = both(client, f"{BASE}requests/{number}", "requests", api_key=open311_client.key)
    assert data[0]["service_code"] == "SG0402"


def test_a_client_of_one_street_cannot_file_or_read_in_another(client, open311_client, other_client, people):
    response = post(client, "json", other_client.key, service_code="06010", **point("370198001001001"))
    assert response.status_code == 400
    assert "370198002" in error_of(response, "json")[0]["description"]
    mine = json.loads(post(client, "json", open311_client.key, service_code="06010", **point()).content)
    number = mine[0]["service_request_id"]
    assert client.get(f"{BASE}requests/{number}.json", {"api_key": other_client.key}).status_code == 404
    listed = both(client, f"{BASE}requests", "requests", api_key=other_client.key)
    assert number not in {row["service_request_id"] for row in listed}
    theirs = post(client, "json", other_client.key, service_code="06010", **point("370198002001001"))
    assert theirs.status_code == 201
    assert client.get(f"{BASE}requests/{number}.json", {"api_key": open311_client.key}).status_code == 200


def test_request_ids_override_the_other_filters(client, people):
    first, second, third = (resident_report(people, title=f"垃圾{i}") for i in range(3))
    data = both(
        client,
        f"{BASE}requests",
        "requests",
        service_request_id=f"{first.number},{third.number}",
        start_date="2020-01-01T00:00:00Z",
        end_date="2026-12-31T00:00:00Z",
    )
    assert {row["service_request_id"] for row in data} == {first.number, third.number}


def test_requests_filter_by_code_and_status(client, people):
    light = resident_report(people, category=category("01037"), title="路灯")
    rubbish = resident_report(people)
    close(rubbish, people)
    assert [
        r["service_request_id"] for r in both(client, f"{BASE}requests", "requests", service_code="01037")
    ] == [light.number]
    closed = both(client, f"{BASE}requests", "requests", status="closed")
    assert [r["service_request_id"] for r in closed] == [rubbish.number]
    both_states = both(client, f"{BASE}requests", "requests", status="open,closed")
    assert len(both_states) == 2
    response = client.get(f"{BASE}requests.json", {"service_code": "01037,NOPE"})
    assert response.status_code == 404
    assert client.get(f"{BASE}requests.json", {"status": "pending"}).status_code == 400


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_date_span_over_90_days_is_400(client, people, fmt):
    response = client.get(
        f"{BASE}requests.{fmt}",
        {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-04-02T00:00:00+08:00"},
    )
    assert response.status_code == 400
    assert "90" in error_of(response, fmt)[0]["description"]


def test_dates_need_a_time_zone(client, people):
    response = client.get(f"{BASE}requests.json", {"start_date": "2026-11-01T00:00:00"})
    assert response.status_code == 400
    assert "start_date" in error_of(response, "json")[0]["description"]
    response = client.get(f"{BASE}requests.json", {"end_date": "yesterday"})
    assert response.status_code == 400
    assert "end_date" in error_of(response, "json")[0]["description"]


def test_a_bare_date_is_the_start_of_that_day_in_china(client, people):
    event = resident_report(people)
    day = services.local_iso(event.created_at)[:10]
    listed = both(client, f"{BASE}requests", "requests", start_date=day)
    assert [row["service_request_id"] for row in listed] == [event.number]
    assert both(client, f"{BASE}requests", "requests", end_date=day) == []


def test_default_window_is_the_last_90_days(client, people, monkeypatch):
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now - timedelta(days=120))
    old = resident_report(people, title="旧事")
    monkeypatch.setattr(clock, "now", lambda: now)
    new = resident_report(people, title="新事")
    listed = {row["service_request_id"] for row in both(client, f"{BASE}requests", "requests")}
    assert listed == {new.number}
    start = (now - timedelta(days=125)).isoformat()
    listed = both(client, f"{BASE}requests", "requests", start_date=start)
    assert {row["service_request_id"] for row in listed} == {old.number}


def test_paging_extension(client, people):
    numbers = [resident_report(people, title=f"垃圾{i}").number for i in range(5)]
    page1 = both(client, f"{BASE}requests", "requests", page_size="2")
    page3 = both(client, f"{BASE}requests", "requests", page_size="2", page="3")
    assert len(page1) == 2 and len(page3) == 1
    assert page1[0]["service_request_id"] == numbers[-1], "newest first"


def test_reads_can_require_a_key(client, people, settings, open311_client):
    settings.LINLI_OPEN311_PUBLIC_READS = False
    assert client.get(f"{BASE}requests.json").status_code == 403
    assert client.get(f"{BASE}requests.json", {"api_key": open311_client.key}).status_code == 200


# --- Updates ------------------------------------------------------------------------------------------------


def test_service_request_updates_in_both_formats(client, people, open311_client):
    event = resident_report(people)
    close(event, people)
    data = both(client, f"{BASE}servicerequestupdates", "updates", api_key=open311_client.key)
    mine = [row for row in data if row["service_request_id"] == event.number]
    steps = list(event.history.filter(action__in=services.PUBLIC_ACTIONS).order_by("at", "id"))
    assert [row["update_id"] for row in mine] == [str(step.pk) for step in steps]
    assert mine[0]["status"] == "investigating" and mine[-1]["status"] == "fixed"
    assert mine[-1]["external_status_code"] == "closed"
    assert all(row["updated_datetime"].endswith("+08:00") for row in mine)
    again = both(client, f"{BASE}servicerequestupdates", "updates", api_key=open311_client.key)
    assert again == data, "update ids are stable, so FixMyStreet de-duplicates a second poll"


def test_cancelled_case_reads_as_closed_with_its_reason(client, people):
    event = resident_report(people)
    grid.take_step(event, "cancel", people.grid_worker, note="现场无此问题")
    (row,) = both(client, f"{BASE}requests/{event.number}", "requests")
    assert row["status"] == "closed" and row["status_notes"] == "现场无此问题"


def test_jurisdiction_aliases_and_a_clients_own_jurisdiction(
    client, people, settings, open311_client, other_client
):
    settings.LINLI_OPEN311_JURISDICTIONS = {"dongjie.example.gov.cn": "370198001"}
    east = resident_report(people)
    lon, lat = centre_of("370198002001001")
    west = resident_report(people, lon=lon, lat=lat)
    listed = both(client, f"{BASE}requests", "requests", jurisdiction_id="dongjie.example.gov.cn")
    assert [row["service_request_id"] for row in listed] == [east.number]
    assert {r["service_request_id"] for r in both(client, f"{BASE}requests", "requests")} == {
        east.number,
        west.number,
    }
    response = client.get(
        f"{BASE}requests.json", {"api_key": other_client.key, "jurisdiction_id": "dongjie.example.gov.cn"}
    )
    assert response.status_code == 404, (
        "a west-street client has no business in the east street's jurisdiction"
    )
    response = post(
        client,
        "json",
        open311_client.key,
        service_code="06010",
        jurisdiction_id="dongjie.example.gov.cn",
        **point(),
    )
    assert response.status_code == 201


def test_posting_updates_is_not_offered(client, open311_client):
    response = client.post(f"{BASE}servicerequestupdates.xml", {"api_key": open311_client.key})
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert error_of(response, "xml")[0]["code"] == 405
