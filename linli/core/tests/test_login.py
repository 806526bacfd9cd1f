"""Login security: password policy, lockout, idle timeout, two-factor, first-login password change."""

from datetime import timedelta

import pyotp
import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from rest_framework.authtoken.models import Token

from linli.core import clock, services
from linli.core.audit import AuditLog
from linli.core.models import Role, User
from linli.core.testing import PASSWORD, make_user

GENERIC = "Login failed: wrong username or password, or the account is locked for a while. Try again later."


@pytest.fixture(autouse=True)
def english(client):
    """Chinese is the default; English is what the language switch (its cookie) asks for."""
    client.cookies["django_language"] = "en"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def move_clock(monkeypatch):
    """Move linli.core.clock.now forward by some minutes (cumulatively)."""
    offset = timedelta()

    def move(minutes: float) -> None:
        nonlocal offset
        offset += timedelta(minutes=minutes)
        monkeypatch.setattr(clock, "now", lambda: timezone.now() + offset)

    return move


def log_in(client, username, password=PASSWORD, **extra):
    return client.post("/login/", {"username": username, "password": password}, **extra)


def actions(**filters) -> list[str]:
    return list(AuditLog.objects.filter(**filters).order_by("at", "id").values_list("action", flat=True))


# --- Password policy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, why",
    [
        ("Ab1!xyz", "at least 8 characters"),
        ("abcdefghij", "at least 3 of"),
        ("abcdefgh12", "at least 3 of"),
        ("ABCDEFGH!!", "at least 3 of"),
        ("Zhangwei-2026", "may not contain the username"),
        ("ZHANGWEI2026x", "may not contain the username"),
    ],
)
def test_password_policy_refuses_weak_passwords(db, password, why):
    user = User(username="zhangwei")
    with pytest.raises(ValidationError) as caught:
        validate_password(password, user)
    assert why in " ".join(caught.value.messages)


@pytest.mark.parametrize("password", ["Hkxqpzm7", "abcdefg1!", "ABCDEFG1!", "Wang-Li 2026", "社区Worker7"])
def test_password_policy_accepts_three_of_four_classes(db, password):
    validate_password(password, User(username="zhangwei"))


def test_create_user_applies_the_policy(regions):
    with pytest.raises(ValidationError):
        services.create_user("liming", "password", Role.GRID_WORKER, ["370198001001001"])
    assert not User.objects.filter(username="liming").exists()


# --- Lockout ------------------------------------------------------------------------------------------------


def test_five_failures_lock_the_account_for_fifteen_minutes(regions, move_clock):
    user = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    for _ in range(4):
        assert services.check_password_login("liming", "Wrong-pass-1").user is None
    assert services.check_password_login("liming", PASSWORD).user == user  # four failures do not lock
    for _ in range(5):
        assert services.check_password_login("liming", "Wrong-pass-1").user is None
    user.refresh_from_db()
    assert services.is_locked(user)
    assert actions(action="locked_out", actor=user) == ["locked_out"]
    assert services.check_password_login("liming", PASSWORD).user is None  # right password, still locked
    move_clock(14)
    assert services.check_password_login("liming", PASSWORD).user is None
    move_clock(1.1)
    assert services.check_password_login("liming", PASSWORD).user == user
    reasons = [e.detail.get("reason") for e in AuditLog.objects.filter(actor=user, action="login_failed")]
    assert reasons.count("wrong password") == 9 and reasons.count("locked") == 2


def test_login_page_gives_one_message_for_every_failure(regions, client):
    make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    for _ in range(5):
        log_in(client, "liming", "Wrong-pass-1")
    unknown = log_in(client, "nobody", "Wrong-pass-1")
    make_user(Role.GRID_WORKER, "370198001001002", username="wangfang")
    wrong = log_in(client, "wangfang", "Wrong-pass-1")
    locked = log_in(client, "liming", PASSWORD)
    for response in (unknown, wrong, locked):
        assert response.status_code == 200  # the form again, not logged in
        assert GENERIC in response.content.decode()
        assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action="login_failed", actor_name="nobody", actor=None).exists()


def test_lockout_is_released_on_the_page_after_fifteen_minutes(regions, client, move_clock):
    user = make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    for _ in range(5):
        log_in(client, "liming", "Wrong-pass-1")
    assert log_in(client, "liming", PASSWORD).status_code == 200
    move_clock(16)
    response = log_in(client, "liming", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert int(client.session["_auth_user_id"]) == user.pk
    assert actions(actor=user) == ["login_failed"] * 5 + ["locked_out", "login_failed", "login"]
    login = AuditLog.objects.get(actor=user, action="login")
    assert login.ip == "127.0.0.1" and login.region_code == "370198001001001"


# --- Idle timeout -------------------------------------------------------------------------------------------


def test_staff_page_session_ends_after_thirty_idle_minutes(regions, client, move_clock):
    user = make_user(Role.COMMUNITY_WORKER, "370198001001", username="liming")
    assert log_in(client, "liming").status_code == 302
    move_clock(29)
    assert client.get("/regions/370198001001/").status_code == 200  # activity restarts the clock
    move_clock(29)
    assert client.get("/regions/370198001001/").status_code == 200
    move_clock(31)
    response = client.get("/regions/370198001001/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fregions%2F370198001001%2F"
    assert "_auth_user_id" not in client.session
    assert actions(actor=user)[-1] == "idle_timeout"


def test_a_session_never_used_after_login_expires_too(regions, client, move_clock):
    make_user(Role.COMMUNITY_WORKER, "370198001001", username="liming")
    log_in(client, "liming")
    move_clock(31)
    assert client.get("/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_staff_api_session_ends_after_thirty_idle_minutes(regions, client, move_clock):
    make_user(Role.STREET_OFFICER, "370198001", username="liming")
    log_in(client, "liming")
    assert client.get("/api/v1/me/").json()["username"] == "liming"
    move_clock(31)
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.get("/api/v1/regions/").status_code in (401, 403)


def test_residents_stay_logged_in_longer(regions, client, move_clock):
    make_user(Role.RESIDENT, username="zhangsan")
    log_in(client, "zhangsan")
    move_clock(60)
    assert client.get("/api/v1/me/").status_code == 200


# --- Two-factor ---------------------------------------------------------------------------------------------


def test_district_admin_must_enrol_two_factor_with_a_qr_code(regions, client, settings):
    assert "district_admin" in settings.LINLI_TOTP_REQUIRED_ROLES  # the default
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    response = log_in(client, "admin")
    assert response["Location"] == "/login/totp/enrol/"
    assert client.get("/api/v1/me/").status_code in (401, 403)  # not logged in before the second factor
    page = client.get("/login/totp/enrol/")
    admin.refresh_from_db()
    assert page.status_code == 200 and "<svg" in page.content.decode()
    assert admin.totp_secret in page.content.decode()  # for typing in when the camera cannot scan
    totp = pyotp.TOTP(admin.totp_secret)
    wrong = client.post("/login/totp/enrol/", {"code": str((int(totp.now()) + 1) % 1000000).zfill(6)})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    admin.refresh_from_db()
    assert admin.failed_logins == 1 and not admin.totp_confirmed
    response = client.post("/login/totp/enrol/", {"code": totp.now()})
    assert response.status_code == 302
    assert client.get("/api/v1/me/").json()["totp_enrolled"] is True
    assert actions(actor=admin) == ["totp_failed", "login_failed", "totp_enrolled", "login"]


def test_enrolled_two_factor_is_asked_at_every_login_and_not_shown_again(regions, client):
    admin = make_user(
        Role.DISTRICT_ADMIN,
        "370198",
        username="admin",
        totp_secret=pyotp.random_base32(),
        totp_confirmed=True,
    )
    assert log_in(client, "admin")["Location"] == "/login/totp/"
    # Someone with only the password must not be able to read the secret from the enrolment page.
    enrol = client.get("/login/totp/enrol/")
    assert enrol.status_code in (302, 403) and admin.totp_secret not in enrol.content.decode()
    with pytest.raises(PermissionDenied):
        services.start_totp_enrolment(admin)
    response = client.post("/login/totp/", {"code": pyotp.TOTP(admin.totp_secret).now()})
    assert response.status_code == 302 and int(client.session["_auth_user_id"]) == admin.pk


def test_wrong_codes_count_towards_the_lockout_even_between_password_entries(regions, client):
    worker = make_user(
        Role.STREET_OFFICER,
        "370198001",
        username="liming",
        totp_secret=pyotp.random_base32(),
        totp_confirmed=True,
    )
    totp = pyotp.TOTP(worker.totp_secret)
    wrong = str((int(totp.now()) + 500000) % 1000000).zfill(6)
    for _ in range(5):
        # Entering the right password again must not wipe the count of wrong codes.
        assert log_in(client, "liming")["Location"] == "/login/totp/"
        assert client.post("/login/totp/", {"code": wrong}).status_code == 200
    worker.refresh_from_db()
    assert services.is_locked(worker)
    assert actions(actor=worker).count("totp_failed") == 5
    assert actions(actor=worker)[-1] == "locked_out"
    assert log_in(client, "liming").status_code == 200  # locked: the form again
    assert not services.verify_totp(worker, totp.now())  # the right code does not open a locked account


def test_two_factor_is_optional_for_roles_not_listed(regions, client, settings):
    settings.LINLI_TOTP_REQUIRED_ROLES = ["district_admin", "auditor"]
    make_user(Role.AUDITOR, "370198", username="auditor")
    make_user(Role.GRID_WORKER, "370198001001001", username="liming")
    assert log_in(client, "auditor")["Location"] == "/login/totp/enrol/"
    client.logout()
    assert log_in(client, "liming")["Location"] == "/"


def test_a_pending_secret_does_not_pass_as_a_second_factor(regions):
    user = make_user(Role.STREET_OFFICER, "370198001", username="liming")
    secret = services.start_totp_enrolment(user)
    assert services.start_totp_enrolment(user) == secret  # the page shown again keeps the same secret
    assert not services.verify_totp(user, pyotp.TOTP(secret).now())  # a login code needs a confirmed secret
    assert services.verify_totp(user, pyotp.TOTP(secret).now(), enrol=True)


# --- First-login password change ----------------------------------------------------------------------------


def test_account_created_by_an_admin_must_change_its_password_first(regions, client):
    admin = make_user(Role.DISTRICT_ADMIN, "370198", username="admin")
    worker = services.create_user("liming", "Start-pass-1", Role.GRID_WORKER, ["370198001001001"], by=admin)
    assert worker.must_change_password
    created = AuditLog.objects.get(action="user_created")
    assert (created.actor, created.target_id) == (admin, str(worker.pk))
    assert created.region_code == "370198001001001"

    assert log_in(client, "liming", "Start-pass-1")["Location"] == "/"
    for path in ("/", "/regions/370198001001001/", "/audit/"):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/password/"), path
    assert client.get("/api/v1/me/").status_code == 403
    token = Token.objects.create(user=worker)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 403

    weak = client.post(
        "/password/",
        {"old_password": "Start-pass-1", "new_password": "liming123", "new_password_again": "liming123"},
    )
    assert weak.status_code == 200
    worker.refresh_from_db()
    assert worker.must_change_password
    response = client.post(
        "/password/",
        {
            "old_password": "Start-pass-1",
            "new_password": "Grid-Work-2026",
            "new_password_again": "Grid-Work-2026",
        },
    )
    assert response.status_code == 302
    worker.refresh_from_db()
    assert not worker.must_change_password and worker.check_password("Grid-Work-2026")
    assert client.get("/api/v1/me/").status_code == 200  # the session survived the change
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert actions(actor=worker) == ["login", "password_changed"]


def test_accounts_from_the_command_line_need_no_change(regions):
    user = services.create_user("liming", "Start-pass-1", Role.GRID_WORKER, ["370198001001001"])
    assert not user.must_change_password


def test_console_is_chinese_whatever_the_browser_asks_until_english_is_chosen(db):
    from django.test import Client

    browser_in_english = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "用户名" in browser_in_english.get("/login/").content.decode()
    browser_in_english.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    page = browser_in_english.get("/login/").content.decode()
    assert "Username" in page and "用户名" not in page


def test_two_factor_secrets_are_encrypted_at_rest(regions):
    from django.db import connection

    user = make_user(Role.DISTRICT_ADMIN, "370198", username="zhaolei", totp_confirmed=True)
    user.totp_secret = pyotp.random_base32()
    user.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT totp_secret FROM core_user WHERE id = %s", [user.pk])
        stored = cursor.fetchone()[0]
    assert user.totp_secret not in stored and stored.startswith("v1:")
    user.refresh_from_db()
    assert pyotp.TOTP(user.totp_secret).now().isdigit()
