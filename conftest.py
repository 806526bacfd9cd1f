"""Fixtures shared by every app's tests."""

import pytest
from django.conf import settings as django_settings

from linli.core.testing import build_region_tree, make_user


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness tests nothing of ours; the policy and lockout are what we test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def regions(db):
    """The small test tree (see linli.core.testing.TREE), by code."""
    return build_region_tree()


@pytest.fixture
def user_factory(db):
    return make_user


@pytest.fixture
def totp_off(settings):
    """No role needs two-factor (most tests log in with a password only)."""
    settings.LINLI_TOTP_REQUIRED_ROLES = []


def pytest_report_header(config):
    return f"database: {django_settings.DATABASES['default']['ENGINE']} {django_settings.DATABASES['default']['NAME']}"
