"""The staff console in a real browser: logging in, the Chinese console, switching region inside the scope.

Driven through Playwright on Debian's Chromium against pytest-django's live server (fixtures in conftest.py).
"""

import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from linli.core import clock
from linli.core.audit import AuditAction, AuditLog
from linli.core.models import Role
from linli.core.testing import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("totp_off")]

SHOTS = Path("/tmp/linli-shots")

COMMUNITY = "370198001001"  # 东一社区, with grids …001 and …002
OWN_GRIDS = ["370198001001001", "370198001001002"]
# The nearest regions outside a community worker's scope: the street and district above, a sibling
# community's grid, and a grid of the other street.
OUTSIDE = ["370198", "370198001", "370198001002", "370198001002001", "370198002001001"]


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_test_id("login-submit").click()


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def option_values(page: Page) -> list[str]:
    options = page.get_by_test_id("region-select").locator("option")
    return options.evaluate_all("(options) => options.map((option) => option.value)")


def test_community_worker_switches_region_within_scope_only(page, regions, user_factory):
    worker = user_factory(Role.COMMUNITY_WORKER, COMMUNITY, username="lixh", display_name="李晓红")
    user_factory(Role.GRID_WORKER, OWN_GRIDS[1], username="wangjg", display_name="王建国")
    user_factory(Role.COMMUNITY_WORKER, "370198001002", username="outsider", display_name="赵外")

    log_in(page, worker.username)

    # The console, in Chinese, opens on the worker's community.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_test_id("module-home")).to_have_text("概览")
    expect(page.get_by_test_id("region-name")).to_have_text("东一社区")
    expect(page.get_by_test_id("region-facts")).to_contain_text("社区/村")
    expect(page.get_by_test_id("user-menu")).to_contain_text("李晓红")
    children = page.get_by_test_id("children-table")
    expect(children.locator("thead")).to_contain_text("名称")
    expect(children.locator("tbody tr")).to_have_count(2)
    expect(children).to_contain_text("东一社区第一网格")
    expect(children).to_contain_text("网格")
    expect(page.get_by_test_id("staff-table")).to_contain_text("社区工作者")
    expect(page.get_by_test_id("staff-table")).not_to_contain_text("赵外")
    # The ancestors above the scope are named but not linked (their pages would answer 404).
    breadcrumb = page.get_by_test_id("breadcrumb")
    expect(breadcrumb).to_have_text(re.compile(r"测试区\s*东街道\s*东一社区"))
    expect(breadcrumb.locator("a")).to_have_count(0)
    screenshot(page, "console-desktop")

    # The switcher offers the community and its grids, and nothing outside the scope.
    select = page.get_by_test_id("region-select")
    assert option_values(page) == [COMMUNITY, *OWN_GRIDS]
    expect(select).to_have_value(COMMUNITY)
    expect(select.locator("option")).to_have_text(
        [re.compile(r"东一社区$"), re.compile("第一网格"), re.compile("第二网格")]
    )

    select.select_option(OWN_GRIDS[1])
    page.get_by_test_id("region-switch-submit").click()
    expect(page.get_by_test_id("region-name")).to_have_text("东一社区第二网格")
    expect(page.get_by_test_id("region-select")).to_have_value(OWN_GRIDS[1])
    expect(page.get_by_test_id("breadcrumb").get_by_role("link", name="东一社区")).to_have_attribute(
        "href", f"/regions/{COMMUNITY}/"
    )
    expect(page.get_by_test_id("staff-table")).to_contain_text("王建国")
    expect(page.get_by_test_id("staff-table")).to_contain_text("网格员")

    # A code forged into the select is refused with 404, and the working region stays the grid.
    for code in OUTSIDE:
        page.get_by_test_id("region-select").evaluate("(s, code) => s.add(new Option('伪造', code))", code)
        page.get_by_test_id("region-select").select_option(code)
        with page.expect_response(lambda response: response.url.endswith("/region/switch/")) as answer:
            page.get_by_test_id("region-switch-submit").click()
        assert answer.value.status == 404, f"switching to {code} answered {answer.value.status}"
        expect(page.get_by_test_id("not-found")).to_contain_text("页面不存在")
        page.goto("/")
        expect(page.get_by_test_id("region-name")).to_have_text("东一社区第二网格")
        expect(page.get_by_test_id("region-select")).to_have_value(OWN_GRIDS[1])

    # Nor does a region page outside the scope open.
    assert page.goto("/regions/370198001002001/").status == 404
    switched_to = set(
        AuditLog.objects.filter(action=AuditAction.REGION_SWITCHED, actor=worker).values_list(
            "region_code", flat=True
        )
    )
    assert switched_to == {OWN_GRIDS[1]}


def test_on_a_phone_the_navigation_collapses_and_the_switcher_is_reachable(phone_page, regions, user_factory):
    page = phone_page
    worker = user_factory(Role.GRID_WORKER, *OWN_GRIDS, username="zhangwei", display_name="张伟")
    log_in(page, worker.username)

    expect(page.get_by_test_id("region-name")).to_have_text("东一社区第一网格")
    toggle = page.get_by_test_id("nav-toggle")
    expect(toggle).to_be_visible()
    expect(page.get_by_test_id("module-nav")).to_be_hidden()
    expect(page.get_by_test_id("region-select")).to_be_hidden()
    # The working region stays in view in the collapsed bar.
    expect(page.get_by_test_id("current-region-compact")).to_contain_text("东一社区第一网格")
    # Nothing is wider than the screen: tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "console-phone")

    toggle.click()
    expect(page.locator("#console-nav")).to_have_class(re.compile(r"\bshow\b"))  # opened, not still sliding
    select = page.get_by_test_id("region-select")
    expect(select).to_be_visible()
    expect(page.get_by_test_id("module-home")).to_be_visible()
    assert option_values(page) == OWN_GRIDS
    box = select.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "console-phone-menu")

    select.select_option(OWN_GRIDS[1])
    page.get_by_test_id("region-switch-submit").click()
    expect(page.get_by_test_id("region-name")).to_have_text("东一社区第二网格")
    expect(page.get_by_test_id("current-region-compact")).to_contain_text("东一社区第二网格")
    expect(page.get_by_test_id("module-nav")).to_be_hidden()


def test_login_failure_is_generic_and_the_console_switches_to_english(page, regions, user_factory):
    worker = user_factory(Role.COMMUNITY_WORKER, COMMUNITY, username="lixh")

    log_in(page, "lixh", "not-the-password")
    expect(page.get_by_test_id("form-error")).to_contain_text("登录失败")
    log_in(page, "nobody", "not-the-password")
    expect(page.get_by_test_id("form-error")).to_contain_text("登录失败")

    log_in(page, worker.username)
    expect(page.get_by_test_id("module-home")).to_have_text("概览")
    page.get_by_test_id("language-switch").get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("module-home")).to_have_text("Overview")
    expect(page.get_by_test_id("region-facts")).to_contain_text("Community / village")

    page.get_by_test_id("user-menu").get_by_role("button").click()
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_role("heading")).to_have_text("Log in to Linli")


def test_district_admin_enrols_two_factor_at_first_login(page, regions, user_factory, settings):
    settings.LINLI_TOTP_REQUIRED_ROLES = [Role.DISTRICT_ADMIN]
    user_factory(Role.DISTRICT_ADMIN, "370198", username="zhouadmin", display_name="周管理")

    log_in(page, "zhouadmin")
    expect(page.get_by_role("heading")).to_have_text("双因素认证")
    expect(page.get_by_test_id("totp-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").get_attribute("data-secret")
    assert secret
    # The key for typing by hand is shown in groups of four.
    expect(page.get_by_test_id("totp-secret")).to_contain_text(f"{secret[:4]} {secret[4:8]}")

    page.get_by_label("六位验证码").fill("000000")
    page.get_by_role("button", name="确认并登录").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("验证码不正确")

    page.get_by_label("六位验证码").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="确认并登录").click()
    expect(page.get_by_test_id("messages")).to_contain_text("您的账号已启用双因素认证")
    expect(page.get_by_test_id("region-name")).to_have_text("测试区")
    expect(page.get_by_test_id("module-nav")).to_contain_text("审计日志")


def test_temporary_password_must_be_changed_before_the_console_opens(page, regions, user_factory):
    user_factory(Role.STREET_OFFICER, "370198001", username="liujie", must_change_password=True)

    log_in(page, "liujie")
    expect(page.get_by_test_id("must-change-password")).to_be_visible()
    page.goto("/")
    expect(page.get_by_test_id("password-form")).to_be_visible()

    page.get_by_label("当前密码").fill(PASSWORD)
    page.get_by_label("新密码", exact=True).fill("short")
    page.get_by_label("再次输入新密码").fill("short")
    page.get_by_role("button", name="修改密码").click()
    expect(page.locator(".invalid-feedback").first).to_have_text("密码太短：至少需要 8 个字符。")

    page.get_by_label("当前密码").fill(PASSWORD)
    page.get_by_label("新密码", exact=True).fill("Jiedao-2026-new")
    page.get_by_label("再次输入新密码").fill("Jiedao-2026-new")
    page.get_by_role("button", name="修改密码").click()
    expect(page.get_by_test_id("messages")).to_contain_text("密码已修改")
    expect(page.get_by_test_id("region-name")).to_have_text("东街道")


def test_idle_staff_are_sent_to_the_login_page_with_a_notice(page, regions, user_factory, monkeypatch):
    user_factory(Role.COMMUNITY_WORKER, COMMUNITY, username="lixh")
    log_in(page, "lixh")
    page.get_by_test_id("children-table").get_by_role("link", name="东一社区第二网格").click()
    expect(page.get_by_test_id("region-name")).to_have_text("东一社区第二网格")

    later = timezone.now() + timedelta(minutes=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("messages")).to_have_text(re.compile("由于长时间未操作，您已退出登录。"))

    # Logging in again returns to the page that was open.
    page.get_by_label("用户名").fill("lixh")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("region-name")).to_have_text("东一社区第二网格")
