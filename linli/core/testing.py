"""Small factories for tests of every app: a region tree with two of everything, and users at each level."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model

from .models import STAFF_ROLES, Region, Role, User, UserScope

PASSWORD = "Linli-test-2026"

# district → 2 streets → communities → grids; enough to test one branch against its siblings and cousins.
TREE = {
    "370198": "测试区",
    "370198001": "东街道",
    "370198002": "西街道",
    "370198001001": "东一社区",
    "370198001002": "东二社区",
    "370198002001": "西一村",
    "370198001001001": "东一社区第一网格",
    "370198001001002": "东一社区第二网格",
    "370198001002001": "东二社区第一网格",
    "370198002001001": "西一村第一网格",
}
LEVELS = {6: "district", 9: "street", 12: "community", 15: "grid"}


def build_region_tree(tree: dict[str, str] = TREE) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    for code in sorted(tree, key=len):
        regions[code] = Region.objects.create(
            code=code, name=tree[code], level=LEVELS[len(code)], parent=regions.get(code[:-3])
        )
    return regions


def make_user(role: str | Role, *scope_codes: str, username: str | None = None, **fields) -> User:
    """A ready-to-use account (no forced password change, no two-factor unless asked)."""
    role = Role(role)
    username = username or f"{role.value}-{'-'.join(scope_codes) or 'self'}"
    user = User(username=username, role=role, is_staff=role == Role.DISTRICT_ADMIN, **fields)
    user.set_password(PASSWORD)
    user.save()
    UserScope.objects.bulk_create(UserScope(user=user, region_id=code) for code in scope_codes)
    return user


# --- Generated scope tests ---------------------------------------------------------------------------------
#
# Like NetBox's view and API test-case mixins: an app declares each scoped surface once, and gets the
# cross-scope tests for every staff role at every level, for residents and for district users, through the API
# (session and token) and the pages. In an app's tests:
#
#     SURFACES = [ScopedSurface("event", make=make_event, api_detail=..., page_detail=..., api_list=...)]
#     TestEventScope = scope_test_class(SURFACES)

# The scope a user at each level is given, and the nearest region outside it (the sibling grid, the sibling
# community's grid, the other street's grid): "another region" is checked as close to home as it gets.
SCOPE_AT_LEVEL = {"street": "370198001", "community": "370198001001", "grid": "370198001001001"}
OTHER_REGION_AT_LEVEL = {
    "street": "370198002001001",
    "community": "370198001002001",
    "grid": "370198001001002",
}
HOME_REGION = "370198001001001"  # inside every scope of SCOPE_AT_LEVEL
DISTRICT = "370198"


@dataclass(frozen=True)
class ScopedSurface:
    """One kind of object as users reach it, declared once for the generated scope tests.

    ``make(code)`` builds an object that lies in region ``code`` (a grid code); ``marker(obj)`` is text that
    appears in a list response when the object is listed. The URL builders take the object and may be None
    where a surface has no such page. ``roles`` may use the surface at all; others get ``api_denied`` from
    the API and ``page_denied`` from pages. ``make_owned(resident)`` builds an object owned by a resident;
    without it, residents are treated as any role outside ``roles``.
    """

    name: str
    make: Callable[[str], Model]
    marker: Callable[[Model], str]
    api_detail: Callable[[Model], str] | None = None
    api_list: str | None = None
    api_search: Callable[[Model], str] | None = None
    page_detail: Callable[[Model], str] | None = None
    page_list: str | None = None
    roles: tuple[str, ...] = tuple(STAFF_ROLES)
    make_owned: Callable[[User], Model] | None = None
    api_denied: int = 403
    page_denied: int = 404

    def __str__(self) -> str:
        return self.name


def _channels(surface: ScopedSurface) -> list[str]:
    channels = []
    if surface.api_detail:
        channels += ["api-detail", "token-detail"]
    if surface.api_list:
        channels += ["api-list"]
    if surface.api_search:
        channels += ["api-search"]
    if surface.page_detail:
        channels += ["page-detail"]
    if surface.page_list:
        channels += ["page-list"]
    return channels


def _get(client, surface: ScopedSurface, channel: str, obj: Model | None, user: User):
    """Request one surface for one object as ``user``; session or token as the channel says."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    if channel.startswith("token"):
        api = APIClient()
        token, _created = Token.objects.get_or_create(user=user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client = api
    else:
        client.force_login(user)
    url = {
        "api-detail": lambda: surface.api_detail(obj),
        "token-detail": lambda: surface.api_detail(obj),
        "api-list": lambda: surface.api_list,
        "api-search": lambda: surface.api_search(obj),
        "page-detail": lambda: surface.page_detail(obj),
        "page-list": lambda: surface.page_list,
    }[channel]()
    return client.get(url, HTTP_ACCEPT="application/json" if "page" not in channel else "text/html")


def _shows(response, surface: ScopedSurface, channel: str, obj: Model) -> bool:
    """Whether the response hands the object out: 200 for a detail, the object's marker in a list."""
    if channel.endswith("detail"):
        assert response.status_code in (200, 404), f"{channel}: unexpected {response.status_code}"
        return response.status_code == 200
    assert response.status_code == 200, f"{channel}: unexpected {response.status_code}"
    return surface.marker(obj) in response.content.decode()


def _denied_status(surface: ScopedSurface, channel: str) -> int:
    return surface.page_denied if channel.startswith("page") else surface.api_denied


def scope_test_class(surfaces: list[ScopedSurface]) -> type:
    """A test class with the cross-scope tests of these surfaces, parametrised by role, level and channel."""
    import pytest

    levels = list(SCOPE_AT_LEVEL)
    allowed = [
        pytest.param(s, role, level, ch, id=f"{s}-{role}-{level}-{ch}")
        for s in surfaces
        for role in s.roles
        for level in levels
        for ch in _channels(s)
    ]
    denied = [
        pytest.param(s, role, ch, id=f"{s}-{role}-{ch}")
        for s in surfaces
        for role in STAFF_ROLES
        if role not in s.roles
        for ch in _channels(s)
    ]
    district = [
        pytest.param(s, role, ch, id=f"{s}-{role}-{ch}")
        for s in surfaces
        for role in s.roles
        for ch in _channels(s)
    ]
    residents = [pytest.param(s, ch, id=f"{s}-{ch}") for s in surfaces for ch in _channels(s)]

    @pytest.mark.usefixtures("regions")
    class ScopeTests:
        @pytest.mark.parametrize("surface, role, level, channel", allowed)
        def test_other_region_answers_404(self, client, surface, role, level, channel):
            user = make_user(role, SCOPE_AT_LEVEL[level])
            home, other = surface.make(HOME_REGION), surface.make(OTHER_REGION_AT_LEVEL[level])
            assert _shows(_get(client, surface, channel, home, user), surface, channel, home), (
                f"a {role} at {level} level cannot reach a {surface} in its own scope"
            )
            response = _get(client, surface, channel, other, user)
            if channel.endswith("detail"):
                assert response.status_code == 404, (
                    f"{surface} of another region answered {response.status_code}"
                )
            else:
                assert not _shows(response, surface, channel, other), f"{surface} of another region is listed"

        @pytest.mark.parametrize("surface, role, channel", denied)
        def test_role_without_access_is_refused(self, client, surface, role, channel):
            user = make_user(role, DISTRICT)
            obj = surface.make(HOME_REGION)
            response = _get(client, surface, channel, obj, user)
            assert response.status_code == _denied_status(surface, channel)

        @pytest.mark.parametrize("surface, role, channel", district)
        def test_district_user_sees_every_region(self, client, surface, role, channel):
            user = make_user(role, DISTRICT)
            for code in (HOME_REGION, *OTHER_REGION_AT_LEVEL.values()):
                obj = surface.make(code)
                assert _shows(_get(client, surface, channel, obj, user), surface, channel, obj), (
                    f"a district {role} cannot reach the {surface} of {code}"
                )

        @pytest.mark.parametrize("surface, channel", residents)
        def test_resident_sees_only_their_own(self, client, surface, channel):
            resident = make_user(Role.RESIDENT, username="resident-a")
            regional = surface.make(HOME_REGION)
            if surface.make_owned is None:
                response = _get(client, surface, channel, regional, resident)
                assert response.status_code == _denied_status(surface, channel)
                return
            own = surface.make_owned(resident)
            others = [surface.make_owned(make_user(Role.RESIDENT, username="resident-b")), regional]
            assert _shows(_get(client, surface, channel, own, resident), surface, channel, own)
            for other in others:
                response = _get(client, surface, channel, other, resident)
                if channel.endswith("detail"):
                    assert response.status_code == 404
                else:
                    assert not _shows(response, surface, channel, other)

    return ScopeTests
