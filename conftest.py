"""Fixtures shared by every app's tests."""

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from linli.core.testing import build_region_tree, make_user


@pytest.fixture(autouse=True, scope="session")
def _keys_outside_var(tmp_path_factory):
    """Tests get their own personal-data and audit keys, never the ones of the demo under var/."""
    keys = tmp_path_factory.mktemp("keys")
    with override_settings(LINLI_KEY_FILE=keys / "keys.json", LINLI_AUDIT_KEY_FILE=keys / "audit_key"):
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness tests nothing of ours; the policy and lockout are what we test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_working_calendar():
    """Calendar edits roll back with the test's transaction; the in-memory calendar must not outlive them."""
    from linli.core import workcalendar

    workcalendar.clear_cache()
    yield
    workcalendar.clear_cache()


@pytest.fixture
def regions(db):
    """The small test tree (see linli.core.testing.TREE), by code."""
    return build_region_tree()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path_factory):
    """Uploaded files (event photos) go to a temporary folder, never into var/."""
    settings.MEDIA_ROOT = tmp_path_factory.getbasetemp() / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def user_factory(db):
    return make_user


@pytest.fixture
def totp_off(settings):
    """No role needs two-factor (most tests log in with a password only)."""
    settings.LINLI_TOTP_REQUIRED_ROLES = []


def pytest_configure(config):
    # Tests keep their cache in memory: a file cache would outlive the test database it describes.
    django_settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }


def pytest_report_header(config):
    database = django_settings.DATABASES["default"]
    return f"database: {database['ENGINE']} {database['NAME']}"


# --- Browser fixtures (Playwright driving Debian's Chromium) -----------------------------------------------
#
# Browser tests use pytest-django's ``live_server`` and one of the pages below. Chromium is Debian's package,
# never a downloaded build; without it the browser tests fail (a skipped browser test would hide a broken UI).

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP_VIEWPORT = {"width": 1366, "height": 900}
PHONE_VIEWPORT = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    import os
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Browser tests need Debian's Chromium at {CHROMIUM}: run `apt-get install chromium`.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; Django would refuse ORM calls from the
    # test body (and the live server's setup) without this.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _browser_page(browser, live_server, **context_options):
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai", **context_options
    )
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server):
    """A desktop-sized page in a fresh browser context (own cookies), whose base URL is the live server."""
    context, tab = _browser_page(browser, live_server, viewport=DESKTOP_VIEWPORT)
    yield tab
    context.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A page the size of a common phone (390×844, touch), as grid workers use the console."""
    context, tab = _browser_page(
        browser, live_server, viewport=PHONE_VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    yield tab
    context.close()
