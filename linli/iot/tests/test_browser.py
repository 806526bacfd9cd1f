"""The IoT console in a real browser: the device chart of recent telemetry, and acknowledging an alarm."""

import pytest
from playwright.sync_api import expect

from linli.core.tests.test_browser import log_in, screenshot
from linli.iot import pipeline
from linli.iot.models import Alarm
from linli.iot.pipeline import Reading
from linli.iot.testing import make_device, make_rule, now_ms

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("totp_off")]

GRID = "370198001001001"


@pytest.fixture
def hot_device(regions):
    device = make_device(GRID, label="3号楼配电间温感")
    make_rule(device.profile, value=60, severity="critical")
    start = now_ms() - 3_600_000
    readings = [Reading(device.pk, start + i * 60_000, {"temperature": 20 + i * 0.1}) for i in range(59)]
    readings.append(Reading(device.pk, now_ms() - 1000, {"temperature": 66.5}))
    pipeline.store_telemetry(readings)
    return device


def test_device_chart_shows_recent_telemetry(page, user_factory, hot_device):
    user_factory("community_worker", "370198001001", username="wangli")
    log_in(page, "wangli")
    page.goto(f"/iot/devices/{hot_device.pk}/")
    expect(page.get_by_test_id("device-title")).to_contain_text(hot_device.name)
    chart = page.get_by_test_id("telemetry-chart")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart).to_have_attribute("data-points", "60")
    assert chart.locator("canvas").count() >= 1  # ECharts drew it
    expect(page.get_by_test_id("chart-empty")).to_be_hidden()
    # A shorter range still shows the newest readings.
    page.locator("#chart-hours").select_option("1")
    expect(chart).to_have_attribute("data-series", "1")
    expect(page.get_by_test_id("latest-table")).to_contain_text("66.5")
    screenshot(page, "iot-device-detail")


def test_acknowledging_and_clearing_an_alarm_in_the_queue(page, user_factory, hot_device):
    user_factory("grid_worker", GRID, username="zhaomin")
    log_in(page, "zhaomin")
    page.goto("/iot/alarms/")
    row = page.get_by_test_id("alarm-row").filter(has_text=hot_device.label)
    expect(row).to_have_attribute("data-status", "ACTIVE_UNACK")
    screenshot(page, "iot-alarm-queue")
    row.get_by_test_id("alarm-ack").click()
    row = page.get_by_test_id("alarm-row").filter(has_text=hot_device.label)
    expect(row).to_have_attribute("data-status", "ACTIVE_ACK")  # swapped in place by htmx
    expect(row.get_by_test_id("alarm-ack")).to_have_count(0)
    alarm = Alarm.objects.get(device=hot_device)
    assert alarm.acknowledged and alarm.acknowledged_by.username == "zhaomin"
    row.get_by_test_id("alarm-clear").click()
    expect(page.get_by_test_id("alarm-row").filter(has_text=hot_device.label)).to_have_attribute(
        "data-status", "CLEARED_ACK"
    )
    page.reload()
    expect(page.get_by_test_id("alarm-empty")).to_be_visible()
