"""A grid worker takes an event from report to close on a phone-sized window (390×844), in a real browser.

The worker reports what they found with a photo and the phone's location, a community worker registers and
dispatches it back to them from a desktop console, the worker accepts it and reports it done with an after
photo, the community worker inspects it, and the worker sees it closed. Driven through Playwright on Debian's
Chromium against pytest-django's live server (fixtures in the root conftest.py).
"""

import importlib
import re
from pathlib import Path

import pytest
from django.db.models.signals import post_migrate
from django.utils import translation
from playwright.sync_api import Page, expect

from linli.core.testing import PASSWORD
from linli.grid.models import Event, Evidence, State
from linli.grid.testing import category, centre_of, photo

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("totp_off", "seeded_categories")]

SHOTS = Path("/tmp/linli-shots")


def _seed_categories(**kwargs):
    from django.apps import apps

    if not apps.get_model("grid", "Category").objects.exists():
        importlib.import_module("linli.grid.migrations.0002_seed_categories").seed(apps, None)


@pytest.fixture
def seeded_categories(transactional_db):
    """The categories migration 0002 seeds. Live-server tests run after the others (pytest-django orders them
    so) and each ends with a flush, which takes the seeded rows with it: put them back now, and after every
    later flush (it sends post_migrate), so the transactional tests that follow still find them."""
    _seed_categories()
    post_migrate.connect(_seed_categories, weak=False, dispatch_uid="grid-browser-tests-seed-categories")


def log_in(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def png(name: str) -> dict:
    return {"name": name, "mimeType": "image/png", "buffer": photo(name).read()}


def label(choice) -> str:
    """A label as the Chinese console shows it, whatever the translation says."""
    with translation.override("zh-hans"):
        return str(choice.label)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"


def test_grid_worker_takes_an_event_from_report_to_close_on_a_phone(phone_page, page, people):
    phone, desk = phone_page, page
    lon, lat = centre_of(people.grid)
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})

    # The grid worker logs in on the phone and opens their tasks from the navigation.
    log_in(phone, people.grid_worker.username)
    phone.get_by_test_id("nav-toggle").click()
    phone.get_by_test_id("module-grid").click()
    expect(phone).to_have_url(re.compile(r"/grid/m/$"))
    expect(phone.get_by_test_id("no-tasks")).to_be_visible()

    # Report: category, title, a photo from the camera, the location from the phone.
    phone.get_by_test_id("report-link").click()
    form = phone.get_by_test_id("report-form")
    form.locator("select[name=category]").select_option(str(category().pk))
    form.locator("input[name=title]").fill("人行道井盖缺失")
    photos = form.locator("input[name=photos]")
    assert photos.get_attribute("accept") == "image/*" and photos.get_attribute("capture") == "environment"
    photos.set_input_files([png("found.png")])
    form.locator("textarea[name=description]").fill("幸福路12号门口，有行人绊倒的危险")
    expect(phone.get_by_test_id("location-status")).to_have_attribute("data-state", "found")
    expect(phone.get_by_test_id("location-status")).to_contain_text("±8 m")
    no_sideways_scroll(phone)
    shot(phone, "grid-phone-report")
    phone.get_by_test_id("report-submit").click()

    # The phone shows the new event: reported, with its photo and the place it was found.
    event = Event.objects.get(title="人行道井盖缺失")
    expect(phone).to_have_url(re.compile(rf"/grid/m/events/{event.pk}/$"))
    expect(phone.get_by_test_id("event-number")).to_have_text(event.number)
    expect(phone.get_by_test_id("state")).to_have_text(label(State.REPORTED))
    expect(phone.get_by_test_id("photo")).to_have_count(1)
    assert phone.get_by_test_id("photo").evaluate("img => img.naturalWidth") == 2  # served, and a real image
    assert (event.region_code, round(event.lon, 5), round(event.lat, 5)) == (
        people.grid,
        round(lon, 5),
        round(lat, 5),
    )

    # The community worker registers it and dispatches it to the grid worker, from the desktop console.
    log_in(desk, people.community_worker.username)
    desk.goto("/grid/")
    row = desk.get_by_test_id("queue-row")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("light")).to_have_attribute("data-light", "green")
    shot(desk, "grid-desk-queue")
    desk.get_by_test_id("queue-table").get_by_text(event.number).click()
    desk.get_by_test_id("action-register").click()
    desk.get_by_test_id("step-submit").click()
    expect(desk.get_by_test_id("state")).to_have_text(label(State.REGISTERED))
    desk.get_by_test_id("action-dispatch").click()
    desk.locator("select[name=assignee]").select_option(str(people.grid_worker.pk))
    desk.locator("textarea[name=note]").fill("请尽快处置")
    desk.get_by_test_id("step-submit").click()
    expect(desk.get_by_test_id("state")).to_have_text(label(State.DISPATCHED))

    # Back on the phone: the task is assigned, with its light; the bell counts the notice.
    phone.goto("/grid/m/")
    task = phone.get_by_test_id("my-tasks").get_by_test_id("task")
    expect(task).to_have_count(1)
    expect(task).to_contain_text("人行道井盖缺失")
    expect(task.get_by_test_id("light")).to_have_attribute("data-light", "green")
    # The notice of the report was read when its page opened; the dispatch's is new.
    expect(phone.get_by_test_id("unread")).to_have_text("1")
    shot(phone, "grid-phone-tasks")
    task.click()

    # Accept, then report it done with an after photo; the page refuses it without the photo first.
    phone.get_by_test_id("action-accept").click()
    phone.get_by_test_id("step-submit").click()
    expect(phone.get_by_test_id("state")).to_have_text(label(State.IN_PROGRESS))
    phone.get_by_test_id("action-report_done").click()
    phone.locator("textarea[name=note]").fill("已更换新井盖")
    phone.get_by_test_id("step-submit").click()
    expect(phone.locator("input[name=photos_after].is-invalid")).to_be_visible()
    expect(phone.locator(".invalid-feedback")).not_to_have_count(0)
    event.refresh_from_db()
    assert event.state == State.IN_PROGRESS
    phone.locator("input[name=photos_after]").set_input_files([png("after.png")])
    phone.locator("textarea[name=note]").fill("已更换新井盖")
    no_sideways_scroll(phone)
    shot(phone, "grid-phone-report-done")
    phone.get_by_test_id("step-submit").click()
    expect(phone.get_by_test_id("state")).to_have_text(label(State.HANDLED))
    # The worker who did the work does not inspect it.
    expect(phone.get_by_test_id("action-inspect_ok")).to_have_count(0)

    # The community worker inspects and closes it.
    desk.goto(f"/grid/events/{event.pk}/")
    shot(desk, "grid-desk-detail")
    desk.get_by_test_id("action-inspect_ok").click()
    desk.locator("textarea[name=note]").fill("现场核查，已修复")
    desk.get_by_test_id("step-submit").click()
    expect(desk.get_by_test_id("state")).to_have_text(label(State.CLOSED))
    desk.get_by_test_id("tab-map").click()
    expect(desk.get_by_test_id("grid-shape")).to_have_count(2)  # the community's two grids
    shot(desk, "grid-desk-map")

    # The worker sees it closed, with every step of the way in the timeline.
    phone.reload()
    expect(phone.get_by_test_id("state")).to_have_text(label(State.CLOSED))
    steps = phone.get_by_test_id("timeline-step")
    expect(steps).to_have_count(6)
    actions = steps.evaluate_all("steps => steps.map(s => s.dataset.action)")
    assert actions == ["report", "register", "dispatch", "accept", "report_done", "inspect_ok"]
    expect(phone.get_by_test_id("timeline")).to_contain_text("已更换新井盖")
    expect(phone.get_by_test_id("timeline")).to_contain_text("现场核查，已修复")
    expect(phone.get_by_test_id("photo")).to_have_count(2)
    expect(phone.get_by_test_id("actions")).to_have_count(0)
    no_sideways_scroll(phone)
    shot(phone, "grid-phone-closed")
    event.refresh_from_db()
    assert event.state == State.CLOSED and event.closed_on_time is True
    assert set(Evidence.objects.filter(event=event).values_list("kind", flat=True)) == {"report", "after"}


def test_resident_reports_follows_and_rates_on_a_phone(phone_page, people):
    phone = phone_page
    lon, lat = centre_of(people.grid)
    phone.context.grant_permissions(["geolocation"])
    phone.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 20})
    log_in(phone, people.reporter.username)
    phone.goto("/grid/my/")
    expect(phone.get_by_test_id("no-reports")).to_be_visible()
    phone.get_by_test_id("resident-report-link").click()
    form = phone.get_by_test_id("report-form")
    form.locator("select[name=category]").select_option(str(category().pk))
    form.locator("input[name=title]").fill("楼下垃圾三天没人收")
    form.locator("input[name=photos]").set_input_files([png("rubbish.png")])
    expect(phone.get_by_test_id("location-status")).to_have_attribute("data-state", "found")
    shot(phone, "grid-resident-report")
    phone.get_by_test_id("report-submit").click()
    event = Event.objects.get(title="楼下垃圾三天没人收")
    expect(phone.get_by_test_id("event-number")).to_have_text(event.number)
    expect(phone.get_by_test_id("state")).to_have_text(label(State.VERIFYING))

    # The staff take it through the loop (their pages are tested above).
    from linli.grid import services

    services.take_step(event, "verify", people.grid_worker)
    services.take_step(event, "register", people.community_worker)
    services.take_step(event, "dispatch", people.community_worker, assignee=people.handler)
    services.take_step(event, "accept", people.handler)
    services.take_step(
        event, "report_done", people.handler, note="内部：已通知物业", photos={"after": [photo()]}
    )
    services.take_step(event, "inspect_ok", people.grid_worker)

    phone.goto("/grid/my/")
    report = phone.get_by_test_id("my-report")
    expect(report).to_have_count(1)
    expect(report.get_by_test_id("state")).to_have_text(label(State.CLOSED))
    report.click()
    timeline = phone.get_by_test_id("timeline")
    expect(phone.get_by_test_id("timeline-step")).to_have_count(7)
    expect(timeline).not_to_contain_text("内部")
    expect(timeline).not_to_contain_text(people.handler.username)
    expect(phone.get_by_test_id("photo")).to_have_count(2)  # the resident's own and the result
    phone.get_by_test_id("rate-form").get_by_text("5", exact=True).click()
    phone.locator("textarea[name=note]").fill("处理很快，谢谢")
    no_sideways_scroll(phone)
    shot(phone, "grid-resident-rate")
    phone.get_by_test_id("rate-submit").click()
    expect(phone.get_by_test_id("state")).to_have_text(label(State.EVALUATED))
    expect(phone.get_by_test_id("my-rating")).to_contain_text("5")
    expect(phone.get_by_test_id("rate-form")).to_have_count(0)
    event.refresh_from_db()
    assert event.satisfaction == 5
