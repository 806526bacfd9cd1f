"""The region-scope rule: the mechanism itself, and the core's surfaces declared for the generated tests."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from linli.core import services
from linli.core.audit import AuditLog, record
from linli.core.models import Region, Role, User
from linli.core.testing import ScopedSurface, make_user, scope_test_class

# --- The core's scoped surfaces: one line each; the tests below are generated from them. ----------


def _audit_entry(code: str) -> AuditLog:
    return record("test_event", actor_name=f"marker-{code}", region_code=code)


SURFACES = [
    ScopedSurface(
        "region",
        make=lambda code: Region.objects.get(code=code),
        marker=lambda region: f'"{region.code}"',
        api_detail=lambda region: f"/api/v1/regions/{region.code}/",
        api_list="/api/v1/regions/?limit=1000",
        api_search=lambda region: f"/api/v1/regions/?within={region.code}",
        page_detail=lambda region: f"/regions/{region.code}/",
    ),
    ScopedSurface(
        "user",
        make=lambda code: make_user(Role.GRID_WORKER, code, username=f"worker-{code}"),
        marker=lambda user: f'"{user.username}"',
        api_detail=lambda user: f"/api/v1/users/{user.pk}/",
        api_list="/api/v1/users/?limit=1000",
        api_search=lambda user: f"/api/v1/users/?role={user.role}",
        make_owned=lambda resident: resident,
    ),
    ScopedSurface(
        "audit",
        make=_audit_entry,
        marker=lambda entry: entry.actor_name,
        api_detail=lambda entry: f"/api/v1/audit/{entry.pk}/",
        api_list="/api/v1/audit/?limit=1000",
        api_search=lambda entry: f"/api/v1/audit/?actor_name={entry.actor_name}",
        page_list="/audit/",
        roles=(Role.AUDITOR, Role.DISTRICT_ADMIN),
    ),
]

TestCoreScope = scope_test_class(SURFACES)


# --- The mechanism --------------------------------------------------------------------------------


def test_scope_is_a_code_prefix(regions):
    officer = make_user(Role.STREET_OFFICER, "370198001")
    codes = set(Region.objects.visible_to(officer).values_list("code", flat=True))
    assert codes == {code for code in regions if code.startswith("370198001")}


def test_several_scopes_add_up_and_list_each_row_once(regions):
    worker = make_user(Role.COMMUNITY_WORKER, "370198001002", "370198002001")
    colleague = make_user(Role.GRID_WORKER, "370198001002001", "370198002001001", username="colleague")
    assert set(Region.objects.visible_to(worker).values_list("code", flat=True)) == {
        "370198001002",
        "370198001002001",
        "370198002001",
        "370198002001001",
    }
    # The colleague has a scope in each of the worker's regions; the to-many join must not list them twice.
    assert list(User.objects.visible_to(worker).filter(username="colleague")) == [colleague]


def test_narrowing_to_a_region_outside_the_scope_gives_nothing(regions):
    worker = make_user(Role.COMMUNITY_WORKER, "370198001001")
    assert Region.objects.visible_to(worker, "370198001001001").count() == 1
    assert not Region.objects.visible_to(worker, "370198002").exists()
    # A wider region than the scope is outside it too: narrowing must not widen.
    assert not Region.objects.visible_to(worker, "370198001").exists()


@pytest.mark.parametrize("who", ["anonymous", "inactive", "no scope", "resident"])
def test_nobody_without_a_scope_sees_regional_rows(regions, who):
    user = {
        "anonymous": lambda: AnonymousUser(),
        "inactive": lambda: make_user(Role.DISTRICT_ADMIN, "370198", is_active=False),
        "no scope": lambda: make_user(Role.STREET_OFFICER),
        "resident": lambda: make_user(Role.RESIDENT),
    }[who]()
    record("test_event", region_code="370198001")
    assert not Region.objects.visible_to(user).exists()
    assert not AuditLog.objects.visible_to(user).exists()


def test_get_visible_answers_404_for_other_regions_and_nonsense(regions):
    worker = make_user(Role.GRID_WORKER, "370198001001001")
    assert Region.objects.get_visible(worker, code="370198001001001").code == "370198001001001"
    for lookup in ({"code": "370198001001002"}, {"code": "370198"}):
        with pytest.raises(Http404):
            Region.objects.get_visible(worker, **lookup)
    with pytest.raises(Http404):
        User.objects.get_visible(worker, pk="not-a-number")


def test_choosing_a_region_outside_the_scope_is_404(regions, client):
    worker = make_user(Role.COMMUNITY_WORKER, "370198001001")
    assert services.choose_region(worker, "370198001001002").code == "370198001001002"
    with pytest.raises(Http404):
        services.choose_region(worker, "370198001002")
    client.force_login(worker)
    assert client.post("/region/switch/", {"code": "370198002001"}).status_code == 404
    response = client.post("/region/switch/", {"code": "370198001001002"})
    assert response.status_code == 302
    assert client.session["linli_region"] == "370198001001002"
    switched = AuditLog.objects.filter(action="region_switched").get()
    assert (switched.actor, switched.region_code) == (worker, "370198001001002")
