"""The configuration admin: district administrators only, scoped querysets, audited role and scope changes."""

import pytest
from django.test import Client

from linli.core.audit import AuditAction, AuditLog
from linli.core.models import Region, Role, User, UserScope
from linli.core.testing import PASSWORD


@pytest.fixture
def admin_client(regions, user_factory):
    admin = user_factory("district_admin", "370198", username="boss")
    client = Client()
    client.force_login(admin)
    client.user = admin
    return client


def management_form(prefix: str, total: int, initial: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def change_post(user: User, **changes) -> dict:
    """The user change form as the browser would send it, with the scopes it has now."""
    scopes = list(user.scopes.order_by("pk"))
    data = {
        "display_name": user.display_name,
        "role": user.role,
        "is_active": "on",
        **management_form("scopes", len(scopes), len(scopes)),
    }
    for n, scope in enumerate(scopes):
        data |= {
            f"scopes-{n}-id": str(scope.pk),
            f"scopes-{n}-user": str(user.pk),
            f"scopes-{n}-region": scope.region_id,
        }
    data.update(changes)
    return data


def test_district_admin_opens_the_index_and_the_region_list(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    page = response.content.decode()
    for url in (
        "/admin/core/region/",
        "/admin/core/user/",
        "/admin/core/userscope/",
        "/admin/core/auditlog/",
    ):
        assert url in page
    response = admin_client.get("/admin/core/region/")
    assert response.status_code == 200
    assert "东一社区第一网格" in response.content.decode()


@pytest.mark.parametrize(
    "role, scope", [("street_officer", "370198001"), ("auditor", "370198"), ("resident", None)]
)
def test_other_roles_are_sent_away_from_the_admin(regions, user_factory, role, scope):
    client = Client()
    client.force_login(user_factory(role, *([scope] if scope else [])))
    for url in ("/admin/", "/admin/core/region/", "/admin/core/auditlog/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), url
    assert client.get("/admin/login/?next=/admin/").status_code == 403


def test_an_inactive_district_admin_is_not_let_in(regions, user_factory):
    admin = user_factory("district_admin", "370198")
    client = Client()
    client.force_login(admin)
    User.objects.filter(pk=admin.pk).update(is_active=False)
    response = client.get("/admin/core/region/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_the_admin_login_page_sends_everyone_to_linlis_login_with_two_factor(regions, user_factory):
    user_factory("district_admin", "370198", username="boss")
    client = Client()
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response.url)
    assert response.status_code == 302 and response.url == "/login/?next=%2Fadmin%2F"
    # Posting the password to the admin's own login must not sign anyone in past the second factor.
    client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert client.get("/admin/").status_code == 302
    assert "_auth_user_id" not in client.session


def test_region_list_shows_only_the_admins_own_district(admin_client):
    Region.objects.create(code="370102", name="另一个区", level="district")
    page = admin_client.get("/admin/core/region/?q=").content.decode()
    assert "另一个区" not in page
    assert admin_client.get("/admin/core/region/370102/change/").status_code == 302  # "not found", sent home


def test_role_change_in_the_admin_goes_through_the_service_and_is_audited(admin_client, user_factory):
    worker = user_factory("grid_worker", "370198001001001", username="wang")
    response = admin_client.post(
        f"/admin/core/user/{worker.pk}/change/", change_post(worker, role="community_worker")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    worker.refresh_from_db()
    assert worker.role == Role.COMMUNITY_WORKER
    entry = AuditLog.objects.get(action=AuditAction.ROLE_CHANGED, target_id=str(worker.pk))
    assert entry.actor == admin_client.user
    assert entry.detail == {"old": "grid_worker", "new": "community_worker"}


def test_scope_change_in_the_admin_is_audited(admin_client, user_factory):
    worker = user_factory("community_worker", "370198001001", username="li")
    data = change_post(worker, **management_form("scopes", 2, 1))
    data |= {"scopes-1-user": str(worker.pk), "scopes-1-region": "370198001002"}
    response = admin_client.post(f"/admin/core/user/{worker.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(UserScope.objects.filter(user=worker).values_list("region_id", flat=True)) == [
        "370198001001",
        "370198001002",
    ]
    entry = AuditLog.objects.get(action=AuditAction.SCOPE_CHANGED, target_id=str(worker.pk))
    assert entry.detail["new"] == ["370198001001", "370198001002"]


def test_removing_a_staff_accounts_last_scope_is_refused(admin_client, user_factory):
    worker = user_factory("community_worker", "370198001001", username="li")
    data = change_post(worker, **{"scopes-0-DELETE": "on"})
    response = admin_client.post(f"/admin/core/user/{worker.pk}/change/", data)
    assert response.status_code == 200  # the form again, with the error
    assert worker.scope_codes == ["370198001001"]
    assert not AuditLog.objects.filter(action=AuditAction.SCOPE_CHANGED).exists()


def test_creating_a_user_in_the_admin_uses_the_service(admin_client):
    data = {
        "username": "zhao",
        "display_name": "赵敏",
        "role": "street_officer",
        "password1": "Qingshan-2026",
        "password2": "Qingshan-2026",
        **management_form("scopes", 1, 0),
        "scopes-0-region": "370198002",
    }
    response = admin_client.post("/admin/core/user/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="zhao")
    assert user.role == Role.STREET_OFFICER and user.scope_codes == ["370198002"]
    assert user.must_change_password  # an administrator's new account changes its password at first login
    assert user.check_password("Qingshan-2026")
    entry = AuditLog.objects.get(action=AuditAction.USER_CREATED, target_id=str(user.pk))
    assert entry.actor == admin_client.user


def test_a_weak_password_is_refused_with_the_form(admin_client):
    data = {
        "username": "qian",
        "role": "street_officer",
        "password1": "password",
        "password2": "password",
        **management_form("scopes", 1, 0),
        "scopes-0-region": "370198002",
    }
    response = admin_client.post("/admin/core/user/add/", data)
    assert response.status_code == 200
    assert not User.objects.filter(username="qian").exists()


def test_an_admin_cannot_change_their_own_role_here(admin_client):
    admin = admin_client.user
    admin_client.post(f"/admin/core/user/{admin.pk}/change/", change_post(admin, role="auditor"))
    admin.refresh_from_db()
    assert admin.role == Role.DISTRICT_ADMIN


def test_the_audit_log_is_read_only_in_the_admin(admin_client):
    entry = AuditLog.objects.create(action="login", actor_name="someone", region_code="370198")
    assert admin_client.get("/admin/core/auditlog/").status_code == 200
    assert admin_client.get(f"/admin/core/auditlog/{entry.pk}/change/").status_code == 200  # view only
    assert admin_client.get("/admin/core/auditlog/add/").status_code == 403
    assert admin_client.post(f"/admin/core/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(f"/admin/core/auditlog/{entry.pk}/change/", {"action": "edited"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.action == "login"


def test_accounts_are_deactivated_not_deleted(admin_client, user_factory):
    worker = user_factory("grid_worker", "370198001001001")
    assert admin_client.post(f"/admin/core/user/{worker.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=worker.pk).exists()


def test_region_autocomplete_offers_only_regions_in_scope(regions, user_factory):
    Region.objects.create(code="370102", name="另一个区", level="district")
    street_admin = user_factory("district_admin", "370198002", username="west")  # an admin of one street only
    client = Client()
    client.force_login(street_admin)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "core", "model_name": "userscope", "field_name": "region", "term": ""},
    )
    assert response.status_code == 200
    codes = {item["id"] for item in response.json()["results"]}
    assert codes == {"370198002", "370198002001", "370198002001001"}


def test_adding_a_scope_on_its_own_page_is_audited(admin_client, user_factory):
    worker = user_factory("grid_worker", "370198001001001", username="sun")
    response = admin_client.post(
        "/admin/core/userscope/add/", {"user": str(worker.pk), "region": "370198001001002"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert sorted(worker.scopes.values_list("region_id", flat=True)) == ["370198001001001", "370198001001002"]
    entry = AuditLog.objects.get(action=AuditAction.SCOPE_CHANGED, target_id=str(worker.pk))
    assert entry.actor == admin_client.user


def test_adding_a_region_in_the_admin_takes_its_parent_from_the_code(admin_client):
    response = admin_client.post(
        "/admin/core/region/add/", {"code": "370198001002002", "name": "东二社区第二网格"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    grid = Region.objects.get(code="370198001002002")
    assert grid.level == "grid" and grid.parent_id == "370198001002"
    response = admin_client.post("/admin/core/region/add/", {"code": "370198009001", "name": "无上级社区"})
    assert response.status_code == 200  # the form again: street 370198009 does not exist
    assert not Region.objects.filter(code="370198009001").exists()
