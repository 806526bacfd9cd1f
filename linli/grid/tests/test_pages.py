"""The grid pages per role: the queue and its filters, the map, event detail with its step forms and
approvals, the grid worker's phone pages, residents' reports, notices and the scoped photo view."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from linli.core import clock
from linli.core.models import Role
from linli.core.testing import make_user
from linli.grid import queries, services
from linli.grid.models import Category, Event, Evidence, Notification, Request, Source, State
from linli.grid.testing import category, centre_of, photo, resident_report

pytestmark = pytest.mark.django_db

SIBLING_GRID = "370198001001002"
OTHER_STREET_GRID = "370198002001001"


def staff_event(people, grid=None, **fields) -> Event:
    """An event a grid worker found on patrol (starts REPORTED, assigned to the reporter)."""
    grid = grid or people.grid
    lon, lat = centre_of(grid)
    values = dict(
        category=category(), title="井盖缺失", source=Source.GRID_WORKER, lon=lon, lat=lat, reporter=None
    )
    values.update(fields)
    return services.report(**values).event


def numbers(response) -> list[str]:
    return re.findall(r'data-testid="queue-row" data-number="(\d+)"', response.content.decode())


def text(response) -> str:
    return response.content.decode()


def dispatched(people, **fields) -> Event:
    """A resident's report taken through verify, register and dispatch to the handler."""
    event = resident_report(people, **fields)
    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    services.take_step(event, "dispatch", people.community_worker, assignee=people.handler)
    event.refresh_from_db()
    return event


# --- Queue -------------------------------------------------------------------------------------------------


def test_queue_shows_the_events_of_the_scope_with_their_light(client, people):
    home = resident_report(people, title="楼道堆物")
    other = staff_event(people, grid=OTHER_STREET_GRID, title="别处的事")
    client.force_login(people.community_worker)
    response = client.get(reverse("grid:queue"))
    assert response.status_code == 200
    assert numbers(response) == [home.number]
    body = text(response)
    assert "楼道堆物" in body and other.title not in body
    assert 'data-light="green"' in body
    # A district user sees both.
    client.force_login(people.district_admin)
    assert set(numbers(client.get(reverse("grid:queue")))) == {home.number, other.number}


def test_queue_light_turns_yellow_and_red_and_filters_by_it(client, people):
    green = resident_report(people, title="绿")
    yellow = resident_report(people, title="黄")
    red = resident_report(people, title="红")
    now = clock.now()
    Event.objects.filter(pk=yellow.pk).update(
        warn_at=now - timedelta(minutes=5), due_at=now + timedelta(hours=1)
    )
    Event.objects.filter(pk=red.pk).update(warn_at=now - timedelta(hours=3), due_at=now - timedelta(hours=1))
    client.force_login(people.street_officer)
    body = text(client.get(reverse("grid:queue")))
    # Soonest due first: the overdue one leads.
    assert numbers(client.get(reverse("grid:queue")))[0] == red.number
    assert body.count('data-light="red"') == 1 and body.count('data-light="yellow"') == 1
    assert numbers(client.get(reverse("grid:queue"), {"status": "overdue"})) == [red.number]
    assert numbers(client.get(reverse("grid:queue"), {"status": "yellow"})) == [yellow.number]
    assert green.number in numbers(client.get(reverse("grid:queue"), {"status": "open"}))


def test_queue_filters(client, people):
    a = resident_report(people, title="垃圾满溢")
    b = staff_event(people, title="井盖缺失", reporter=people.grid_worker)
    c = staff_event(people, grid=SIBLING_GRID, title="路灯不亮", urgency="urgent")
    other_category = (
        Category.objects.filter(parent__isnull=False, active=True).exclude(pk=a.category_id).first()
    )
    Event.objects.filter(pk=c.pk).update(category=other_category)
    Event.objects.filter(pk=b.pk).update(
        department=people.department, created_at=clock.now() - timedelta(days=10)
    )
    client.force_login(people.community_worker)
    queue = reverse("grid:queue")
    assert numbers(client.get(queue, {"source": "resident"})) == [a.number]
    assert numbers(client.get(queue, {"urgency": "urgent"})) == [c.number]
    assert numbers(client.get(queue, {"category": other_category.pk})) == [c.number]
    # A major class takes in its minor classes.
    assert c.number in numbers(client.get(queue, {"category": other_category.parent_id}))
    assert numbers(client.get(queue, {"q": "井盖"})) == [b.number]
    assert numbers(client.get(queue, {"q": a.number})) == [a.number]
    assert numbers(client.get(queue, {"region": SIBLING_GRID})) == [c.number]
    assert numbers(client.get(queue, {"department": people.department.pk})) == [b.number]
    # The grid's worker has the resident's report (routed to them) and their own find.
    assert set(numbers(client.get(queue, {"assignee": people.grid_worker.pk}))) == {a.number, b.number}
    today = clock.now().date()
    since = client.get(queue, {"since": (today - timedelta(days=1)).isoformat()})
    assert set(numbers(since)) == {a.number, c.number}
    until = client.get(queue, {"until": (today - timedelta(days=5)).isoformat()})
    assert numbers(until) == [b.number]
    services.take_step(a, "cancel", people.grid_worker, note="不属实")
    assert a.number not in numbers(client.get(queue))
    assert numbers(client.get(queue, {"status": "closed"})) == [a.number]
    assert numbers(client.get(queue, {"state": "cancelled"})) == [a.number]


def test_queue_region_outside_the_scope_falls_back_to_the_own(client, people):
    mine = resident_report(people)
    staff_event(people, grid=OTHER_STREET_GRID)
    client.force_login(people.community_worker)
    assert numbers(client.get(reverse("grid:queue"), {"region": OTHER_STREET_GRID})) == [mine.number]
    assert numbers(client.get(reverse("grid:queue"), {"region": "370198001001x"})) == [mine.number]


def test_queue_pages_and_counts(client, people):
    for i in range(27):
        staff_event(people, title=f"事件{i}")
    client.force_login(people.community_worker)
    first = client.get(reverse("grid:queue"))
    assert len(numbers(first)) == 25
    assert 'data-testid="next-page"' in text(first)
    # With more pages, the total is fetched after the rows are shown.
    assert 'data-testid="result-count-pending"' in text(first)
    count = client.get(reverse("grid:queue_count"))
    assert "27" in re.search(r'data-testid="result-count">([^<]*)<', text(count)).group(1)
    second = client.get(reverse("grid:queue"), {"page": 2})
    assert len(numbers(second)) == 2
    assert not set(numbers(first)) & set(numbers(second))
    # On the last page it is known without counting.
    assert "27" in re.search(r'data-testid="result-count">([^<]*)<', text(second)).group(1)
    assert len(numbers(client.get(reverse("grid:queue"), {"page": "x"}))) == 25


def test_queue_count_is_capped(people, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    for i in range(5):
        staff_event(people, title=f"事件{i}")
    # One page holds them all: the total is exact and costs no count.
    page = queries.queue_page(people.community_worker, queries.QueueFilters(), count=True)
    assert page.count == 5 and not page.count_capped
    monkeypatch.setattr(queries, "PAGE_ROWS", 2)
    page = queries.queue_page(people.community_worker, queries.QueueFilters(), count=True)
    assert len(page.rows) == 2 and page.has_next and page.count == 3 and page.count_capped
    assert queries.queue_count(people.community_worker, queries.QueueFilters()) == (3, True)


# --- Map ---------------------------------------------------------------------------------------------------


def test_map_colours_each_grid_by_open_and_overdue_events(client, people):
    for _ in range(3):
        resident_report(people)
    late = staff_event(people, grid=SIBLING_GRID)
    Event.objects.filter(pk=late.pk).update(due_at=clock.now() - timedelta(hours=2))
    staff_event(people, grid=OTHER_STREET_GRID)
    client.force_login(people.community_worker)
    response = client.get(reverse("grid:map"))
    assert response.status_code == 200
    shapes = re.findall(
        r'data-testid="grid-shape" data-code="(\d+)" data-open="(\d+)" '
        r'data-overdue="(\d+)" data-band="(\w+)"',
        text(response),
    )
    assert shapes == [(people.grid, "3", "0", "some"), (SIBLING_GRID, "1", "1", "overdue")]
    assert f"?region={people.grid}" in text(response)
    assert 'data-testid="map-legend"' in text(response)
    assert re.search(r'<svg class="grid-map" viewBox="0 0 1000 \d+"', text(response))


def test_map_of_a_district_has_every_grid_from_one_grouped_query(
    client, people, django_assert_max_num_queries
):
    client.force_login(people.district_admin)
    with django_assert_max_num_queries(16):
        response = client.get(reverse("grid:map"))
    assert text(response).count('data-testid="grid-shape"') == 4


def test_map_of_too_many_grids_shows_their_streets(client, people, monkeypatch):
    from linli.core.models import Region
    from linli.grid.testing import square

    monkeypatch.setattr(queries, "MAP_MAX_SHAPES", 3)
    resident_report(people)
    staff_event(people, grid=SIBLING_GRID)
    staff_event(people, grid=OTHER_STREET_GRID)
    client.force_login(people.district_admin)
    # Streets without boundaries: the grids are drawn after all.
    assert text(client.get(reverse("grid:map"))).count('data-testid="grid-shape"') == 4
    Region.objects.filter(code="370198001").update(boundary=square(0))
    Region.objects.filter(code="370198002").update(boundary=square(3))
    body = text(client.get(reverse("grid:map")))
    shapes = re.findall(r'href="([^"]+)" data-testid="grid-shape" data-code="(\d+)" data-open="(\d+)"', body)
    assert shapes == [
        (f"{reverse('grid:map')}?region=370198001", "370198001", "2"),
        (f"{reverse('grid:map')}?region=370198002", "370198002", "1"),
    ]
    assert 'data-testid="map-drilled"' in body
    # A street's own map shows its grids.
    body = text(client.get(reverse("grid:map"), {"region": "370198001"}))
    assert body.count('data-testid="grid-shape"') == 3


def test_map_without_boundaries_says_so(client, regions):
    officer = make_user(Role.STREET_OFFICER, "370198001")
    client.force_login(officer)
    assert 'data-testid="no-map"' in text(client.get(reverse("grid:map")))


def test_residents_have_no_map(client, people):
    client.force_login(people.reporter)
    assert client.get(reverse("grid:map")).status_code == 404


# --- Event detail ------------------------------------------------------------------------------------------


def test_detail_shows_timeline_clock_and_the_steps_this_user_may_take(client, people):
    event = resident_report(people, title="楼下垃圾", photos=[photo()])
    services.take_step(event, "verify", people.grid_worker, note="确有此事", lon=117.005, lat=36.605)
    client.force_login(people.community_worker)
    response = client.get(reverse("grid:event", args=[event.pk]))
    body = text(response)
    assert response.status_code == 200
    assert event.number in body and "楼下垃圾" in body
    assert re.findall(r'data-testid="timeline-step" data-action="(\w+)"', body) == ["report", "verify"]
    assert "确有此事" in body and "117.005000" in body
    assert "gridworker" in body  # the actor's name
    assert body.count('data-testid="photo"') == 1
    assert 'data-testid="clock"' in body
    assert re.search(r'data-testid="reporter">([^<]*)<', body).group(1) == "居民账号"
    actions = re.findall(r'data-testid="action-(\w+)"', body)
    assert actions == ["cancel", "relocate", "register", "escalate", "merge"]
    # The grid worker may not register.
    client.force_login(people.grid_worker)
    assert re.findall(
        r'data-testid="action-(\w+)"', text(client.get(reverse("grid:event", args=[event.pk])))
    ) == [
        "cancel",
        "relocate",
        "self_handle",
    ]


def test_a_hotline_callers_contact_is_masked(client, people):
    lon, lat = centre_of(people.grid)
    event = services.report(
        category=category(),
        title="噪音扰民",
        source=Source.HOTLINE,
        lon=lon,
        lat=lat,
        reporter_name="张三丰",
        reporter_phone="13812345678",
    ).event
    client.force_login(people.community_worker)
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert "张**" in body and "138****5678" in body
    assert "张三丰" not in body and "13812345678" not in body


def test_opening_an_event_marks_its_notices_read(client, people):
    event = staff_event(people)
    Notification.objects.create(user=people.community_worker, event=event, kind="overdue")
    client.force_login(people.community_worker)
    assert queries.unread_count(people.community_worker) == 1
    client.get(reverse("grid:event", args=[event.pk]))
    assert queries.unread_count(people.community_worker) == 0


def test_step_form_asks_what_the_step_needs(client, people):
    event = dispatched(people)
    client.force_login(people.handler)
    services.take_step(event, "accept", people.handler)
    form = text(client.get(reverse("grid:step", args=[event.pk, "report_done"])))
    assert 'name="photos_after"' in form and 'capture="environment"' in form and 'accept="image/*"' in form
    assert 'name="note"' in form and 'name="lon"' in form
    assert 'name="assignee"' not in form and 'name="rating"' not in form
    extension = text(client.get(reverse("grid:step", args=[event.pk, "request_extension"])))
    assert 'name="extra_hours"' in extension and 'name="photos_after"' not in extension


def test_refusals_show_next_to_the_field(client, people):
    event = dispatched(people)
    services.take_step(event, "accept", people.handler)
    client.force_login(people.handler)
    url = reverse("grid:step", args=[event.pk, "report_done"])
    response = client.post(url, {"note": ""})
    assert response.status_code == 400
    body = text(response)
    # The missing note is said under the note; the state has not moved.
    assert re.search(r'name="note"[^>]*is-invalid|is-invalid[^>]*name="note"', body)
    response = client.post(url, {"note": "已清理"})
    assert response.status_code == 400
    assert re.search(r'name="photos_after"[^>]*is-invalid|is-invalid[^>]*name="photos_after"', text(response))
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS
    # A file that is no photo is refused before it reaches services.
    response = client.post(
        url, {"note": "已清理", "photos_after": SimpleUploadedFile("a.jpg", b"not an image", "image/jpeg")}
    )
    assert response.status_code == 400 and "a.jpg" in text(response)
    response = client.post(url, {"note": "已清理", "photos_after": photo("after.png")})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.state == State.HANDLED
    assert Evidence.objects.get(event=event, kind="after")


def test_a_step_not_allowed_answers_403(client, people):
    event = resident_report(people)
    client.force_login(people.grid_worker)
    assert client.get(reverse("grid:step", args=[event.pk, "register"])).status_code == 403
    response = client.post(reverse("grid:step", args=[event.pk, "register"]), {"note": "x"})
    assert response.status_code in (400, 403)
    event.refresh_from_db()
    assert event.state == State.VERIFYING
    assert client.get(reverse("grid:step", args=[event.pk, "nonsense"])).status_code == 404


def test_dispatch_to_a_department_or_a_person(client, people):
    event = resident_report(people)
    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    client.force_login(people.community_worker)
    url = reverse("grid:step", args=[event.pk, "dispatch"])
    form = text(client.get(url))
    assert people.department.name in form and "handler" in form
    assert "other-community" not in form  # people outside the event's community are not offered
    response = client.post(url, {"department": people.department.pk})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.state == State.DISPATCHED and event.department == people.department
    # The department member sees it in "my tasks" and may accept it there.
    client.force_login(people.department_member)
    tasks = text(client.get(reverse("grid:tasks")))
    assert event.number in tasks


def test_dispatch_to_a_chosen_person(client, people):
    event = resident_report(people)
    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    client.force_login(people.community_worker)
    url = reverse("grid:step", args=[event.pk, "dispatch"])
    assert client.post(url, {"assignee": people.handler.pk, "note": "请处理"}).status_code == 302
    event.refresh_from_db()
    assert event.state == State.DISPATCHED and event.assignee == people.handler
    assert event.history.get(action="dispatch").note == "请处理"


def test_dispatch_to_someone_not_offered_is_refused(client, people):
    event = resident_report(people)
    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    client.force_login(people.community_worker)
    response = client.post(
        reverse("grid:step", args=[event.pk, "dispatch"]), {"assignee": people.other_community_worker.pk}
    )
    assert response.status_code == 400
    event.refresh_from_db()
    assert event.state == State.REGISTERED


def test_a_department_member_elsewhere_handles_a_case_handed_to_the_department(client, people):
    far = make_user(Role.PROPERTY_MANAGER, "370198002001", username="far-member")
    people.department.members.add(far)
    event = resident_report(people)
    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    client.force_login(people.community_worker)
    client.post(reverse("grid:step", args=[event.pk, "dispatch"]), {"department": people.department.pk})
    client.force_login(far)
    # Outside their scope, yet theirs to handle: in their tasks, openable, and accepted through the page.
    assert event.number in text(client.get(reverse("grid:tasks")))
    assert 'data-testid="action-accept"' in text(client.get(reverse("grid:event", args=[event.pk])))
    # An empty form (accepting needs nothing) is a valid form.
    assert client.post(reverse("grid:step", args=[event.pk, "accept"])).status_code == 302
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS and event.assignee == far
    # Not in the regional queue of their own community.
    assert event.number not in numbers(client.get(reverse("grid:queue")))


def test_relocate_moves_a_case_to_the_right_grid(client, people):
    event = resident_report(people)
    client.force_login(people.community_worker)
    url = reverse("grid:step", args=[event.pk, "relocate"])
    form = text(client.get(url))
    assert f'value="{SIBLING_GRID}"' in form and f'value="{OTHER_STREET_GRID}"' not in form
    response = client.post(url, {"grid": SIBLING_GRID})
    assert response.status_code == 400  # a reason is needed
    assert client.post(url, {"grid": SIBLING_GRID, "note": "地址在隔壁网格"}).status_code == 302
    event.refresh_from_db()
    assert event.region_code == SIBLING_GRID


def test_extension_request_is_approved_on_the_detail_page(client, people):
    event = dispatched(people)
    client.force_login(people.handler)
    response = client.post(
        reverse("grid:step", args=[event.pk, "request_extension"]), {"note": "材料未到", "extra_hours": "8"}
    )
    assert response.status_code == 302
    client.force_login(people.community_worker)
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert (
        'data-testid="request-extension"' in body and "材料未到" in body and 'data-testid="approve"' in body
    )
    pending = Request.objects.get(event=event)
    # Denying needs a reason, said next to the note.
    response = client.post(reverse("grid:decide", args=[pending.pk]), {"decision": "deny"})
    assert response.status_code == 400 and "is-invalid" in text(response)
    response = client.post(reverse("grid:decide", args=[pending.pk]), {"decision": "approve"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.decision == "approved"
    # The handler may not decide their own request; they are not shown the form either.
    client.force_login(people.handler)
    services.take_step(event, "request_return", people.handler, note="派错了")
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert 'data-testid="request-return"' in body and 'data-testid="decide-form"' not in body
    again = Request.objects.get(event=event, kind="return")
    response = client.post(reverse("grid:decide", args=[again.pk]), {"decision": "approve"})
    assert response.status_code == 403 and 'data-testid="form-error"' in text(response)
    again.refresh_from_db()
    assert again.decision == "pending"


def test_merge_offers_nearby_duplicates(client, people):
    first = resident_report(people, title="垃圾1")
    second = resident_report(people, title="垃圾2")
    client.force_login(people.community_worker)
    url = reverse("grid:step", args=[second.pk, "merge"])
    body = text(client.get(url))
    assert f'data-testid="merge-into-{first.number}"' in body
    response = client.post(url, {"into": "20990101000000"})
    assert response.status_code == 400 and "20990101000000" in text(response)
    response = client.post(url, {"into": first.number})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.state == State.CANCELLED and second.duplicate_of == first


def test_merge_into_an_event_of_another_region_is_not_found(client, people):
    event = resident_report(people)
    elsewhere = staff_event(people, grid=OTHER_STREET_GRID)
    client.force_login(people.community_worker)
    response = client.post(reverse("grid:step", args=[event.pk, "merge"]), {"into": elsewhere.number})
    assert response.status_code == 400
    event.refresh_from_db()
    assert event.state == State.VERIFYING


# --- Photos ------------------------------------------------------------------------------------------------


def test_photos_are_served_only_inside_the_scope(client, people):
    event = resident_report(people, photos=[photo()])
    evidence = Evidence.objects.get(event=event)
    url = reverse("grid:photo", args=[evidence.pk])
    client.force_login(people.grid_worker)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "private" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    client.force_login(people.other_grid_worker)
    assert client.get(url).status_code == 404
    client.force_login(people.other_resident)
    assert client.get(url).status_code == 404
    client.force_login(people.reporter)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302


def test_residents_see_their_report_and_result_photos_but_not_inspection_photos(client, people):
    event = dispatched(people)
    services.take_step(event, "accept", people.handler)
    services.take_step(event, "report_done", people.handler, note="好了", photos={"after": [photo()]})
    services.take_step(event, "inspect_ok", people.grid_worker, photos={"inspection": [photo()]})
    after = Evidence.objects.get(event=event, kind="after")
    inspection = Evidence.objects.get(event=event, kind="inspection")
    client.force_login(people.reporter)
    assert client.get(reverse("grid:photo", args=[after.pk])).status_code == 200
    assert client.get(reverse("grid:photo", args=[inspection.pk])).status_code == 404


# --- Phone pages -------------------------------------------------------------------------------------------


def test_grid_worker_lands_on_the_phone_pages(client, people):
    client.force_login(people.grid_worker)
    module = re.compile(r'href="([^"]+)"\s+data-testid="module-grid"')
    assert module.search(text(client.get(reverse("core:home")))).group(1) == reverse("grid:tasks")
    client.force_login(people.community_worker)
    assert module.search(text(client.get(reverse("core:home")))).group(1) == reverse("grid:queue")


def test_grid_worker_reports_with_photo_and_location(client, people):
    client.force_login(people.grid_worker)
    form = text(client.get(reverse("grid:report")))
    assert 'accept="image/*"' in form and 'capture="environment"' in form
    lon, lat = centre_of(people.grid)
    response = client.post(
        reverse("grid:report"),
        {
            "category": category().pk,
            "title": "井盖缺失",
            "description": "人行道上",
            "lon": lon,
            "lat": lat,
            "photos": [photo("a.png"), photo("b.png")],
            "urgency": "normal",
        },
    )
    event = Event.objects.get(title="井盖缺失")
    assert response.status_code == 302 and response["Location"] == reverse(
        "grid:phone_event", args=[event.pk]
    )
    assert event.source == Source.GRID_WORKER and event.state == State.REPORTED
    assert event.region_code == people.grid and event.assignee == people.grid_worker
    assert event.evidence.filter(kind="report").count() == 2
    # It is among the worker's tasks, with its light.
    tasks = text(client.get(reverse("grid:tasks")))
    assert event.number in tasks and 'data-light="green"' in tasks


def test_report_falls_back_to_a_chosen_grid_of_ones_own(client, people):
    client.force_login(people.grid_worker)
    form = text(client.get(reverse("grid:report")))
    assert f'value="{people.grid}"' in form and f'value="{SIBLING_GRID}"' not in form
    data = {"category": category().pk, "title": "乱堆放", "grid": people.grid, "urgency": "normal"}
    assert client.post(reverse("grid:report"), data).status_code == 302
    assert Event.objects.get(title="乱堆放").region_code == people.grid
    # Without location or grid, the page says where the problem is.
    response = client.post(
        reverse("grid:report"), {"category": category().pk, "title": "无处", "urgency": "normal"}
    )
    assert response.status_code == 400
    assert re.search(r'name="grid"[^>]*is-invalid|is-invalid[^>]*name="grid"', text(response))
    # A grid outside the worker's own is refused.
    response = client.post(
        reverse("grid:report"),
        {"category": category().pk, "title": "别处", "grid": SIBLING_GRID, "urgency": "normal"},
    )
    assert response.status_code == 400
    assert not Event.objects.filter(title__in=["无处", "别处"]).exists()


def test_phone_event_page_has_big_buttons(client, people):
    event = staff_event(people, reporter=people.grid_worker)
    client.force_login(people.grid_worker)
    body = text(client.get(reverse("grid:phone_event", args=[event.pk])))
    assert re.search(
        r'class="btn btn-[\w-]+ btn-lg" href="[^"]+\?m=1" data-testid="action-self_handle"', body
    )
    client.force_login(people.other_grid_worker)
    assert client.get(reverse("grid:phone_event", args=[event.pk])).status_code == 404


def test_self_handling_on_the_spot_needs_both_photos(client, people):
    event = staff_event(people, reporter=people.grid_worker)
    client.force_login(people.grid_worker)
    url = reverse("grid:step", args=[event.pk, "self_handle"]) + "?m=1"
    response = client.post(url, {"note": "已扶正", "photos_after": photo(), "m": "1"})
    assert response.status_code == 400
    assert re.search(
        r'name="photos_before"[^>]*is-invalid|is-invalid[^>]*name="photos_before"', text(response)
    )
    response = client.post(
        url, {"note": "已扶正", "photos_before": photo(), "photos_after": photo(), "m": "1"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "grid:phone_event", args=[event.pk]
    )
    event.refresh_from_db()
    assert event.state == State.SELF_HANDLED


# --- Residents ---------------------------------------------------------------------------------------------


def test_resident_reports_a_problem_in_a_public_category(client, people):
    hidden = Category.objects.filter(parent__isnull=False).exclude(pk=category().pk).first()
    Category.objects.filter(pk=hidden.pk).update(public=False)
    client.force_login(people.reporter)
    form = text(client.get(reverse("grid:resident_report")))
    assert f'value="{category().pk}"' in form and f'value="{hidden.pk}"' not in form
    assert 'name="urgency"' not in form
    lon, lat = centre_of(people.grid)
    response = client.post(
        reverse("grid:resident_report"),
        {"category": hidden.pk, "title": "想报非公开类", "lon": lon, "lat": lat},
    )
    assert response.status_code == 400
    response = client.post(
        reverse("grid:resident_report"),
        {"category": category().pk, "title": "楼下垃圾", "lon": lon, "lat": lat, "photos": photo()},
    )
    event = Event.objects.get(title="楼下垃圾")
    assert response.status_code == 302 and response["Location"] == reverse("grid:event", args=[event.pk])
    assert event.source == Source.RESIDENT and event.reporter == people.reporter
    assert event.state == State.VERIFYING
    # Their list shows it; /grid/ is their list too.
    for url in (reverse("grid:my_reports"), reverse("grid:queue")):
        assert event.number in text(client.get(url))


def test_resident_follows_without_staff_names_and_rates(client, people):
    event = dispatched(people, title="路灯坏了")
    services.take_step(event, "accept", people.handler)
    services.take_step(
        event, "report_done", people.handler, note="内部备注：换了灯泡", photos={"after": [photo()]}
    )
    client.force_login(people.reporter)
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert "路灯坏了" in body
    assert "handler" not in body and "community" not in body and "gridworker" not in body
    assert "内部备注" not in body
    assert body.count('data-testid="photo"') == 1  # the result photo
    assert 'data-testid="rate-form"' not in body  # not closed yet
    services.take_step(event, "inspect_ok", people.grid_worker)
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert 'data-testid="rate-form"' in body
    response = client.post(reverse("grid:step", args=[event.pk, "evaluate"]), {"rating": "4", "note": "挺快"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.state == State.EVALUATED and event.satisfaction == 4
    body = text(client.get(reverse("grid:event", args=[event.pk])))
    assert 'data-testid="my-rating"' in body and "挺快" in body


def test_rating_needs_a_rating(client, people):
    event = dispatched(people)
    services.take_step(event, "accept", people.handler)
    services.take_step(event, "report_done", people.handler, note="好", photos={"after": [photo()]})
    services.take_step(event, "inspect_ok", people.grid_worker)
    client.force_login(people.reporter)
    response = client.post(reverse("grid:step", args=[event.pk, "evaluate"]), {"note": "一般"})
    assert response.status_code == 400
    event.refresh_from_db()
    assert event.state == State.CLOSED


def test_residents_reach_only_their_own_reports(client, people):
    own = resident_report(people)
    client.force_login(people.other_resident)
    assert client.get(reverse("grid:event", args=[own.pk])).status_code == 404
    assert own.number not in text(client.get(reverse("grid:my_reports")))
    assert client.get(reverse("grid:tasks")).status_code == 404
    assert client.get(reverse("grid:report")).status_code == 302  # sent to the resident form


# --- Notices -----------------------------------------------------------------------------------------------


def test_notices_list_and_mark_read(client, people):
    event = dispatched(people)  # dispatch notifies the handler
    client.force_login(people.handler)
    home = text(client.get(reverse("core:home")))
    assert 'data-testid="module-grid-notices"' in home
    body = text(client.get(reverse("grid:notifications")))
    assert 'data-kind="assigned"' in body and event.number in body and 'data-read="0"' in body
    notice = Notification.objects.get(user=people.handler, kind="assigned")
    client.post(reverse("grid:notifications"), {"id": notice.pk})
    notice.refresh_from_db()
    assert notice.read_at is not None
    assert 'data-testid="module-grid-notices"' not in text(client.get(reverse("core:home")))
    # Someone else's notice cannot be marked.
    theirs = Notification.objects.create(user=people.community_worker, event=event, kind="overdue")
    client.post(reverse("grid:notifications"), {"id": theirs.pk})
    theirs.refresh_from_db()
    assert theirs.read_at is None
    Notification.objects.create(user=people.handler, event=event, kind="warning")
    Notification.objects.create(user=people.handler, event=event, kind="overdue")
    client.post(reverse("grid:notifications"))
    assert queries.unread_count(people.handler) == 0


@pytest.mark.django_db
def test_a_resident_finds_problem_reporting_on_the_home_page(client, people):
    client.force_login(people.reporter)
    home = client.get("/")
    assert home.status_code == 200
    assert 'href="/grid/my/"' in home.content.decode()
