"""The demo district: tree, codes, tiling polygons, accounts that log in, idempotence and the scale hook."""

import re
import time
from io import StringIO
from itertools import combinations

import pytest
from django.core.management import call_command
from django.test import Client
from shapely.geometry import Point, shape
from shapely.ops import unary_union

from linli.core import demo
from linli.core.audit import AuditLog
from linli.core.models import Region, Role, User, UserScope
from linli.core.regions import validate_region_code

# Shared vertices make the tiling exact; this only absorbs floating-point noise in shapely's union (deg²).
AREA_TOLERANCE = 1e-12


@pytest.fixture
def built(db, monkeypatch):
    """The demo district built by the command, with what it printed. Only the core part: every app tests
    its own extension, and building them all for each of these tests would take minutes."""
    monkeypatch.setattr(demo, "EXTENSIONS", [])
    out = StringIO()
    call_command("demo_district", stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"Password of every demo account:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def children_of(code: str) -> list[Region]:
    return list(Region.objects.filter(parent_id=code).order_by("code"))


def test_demo_builds_four_streets_twenty_communities_and_about_150_grids(built):
    district = Region.objects.get(code="370198")
    assert district.name == "临溪区" and district.level == "district"
    streets = children_of("370198")
    assert [s.code[-3:] for s in streets] == ["001", "002", "101", "102"]
    assert [s.name[-2:] for s in streets[:2]] == ["街道", "街道"]
    assert [s.name[-1] for s in streets[2:]] == ["镇", "镇"]
    assert Region.objects.filter(level="community").count() == 20
    assert 140 <= Region.objects.filter(level="grid").count() <= 160
    assert "2 街道 streets + 2 镇 towns, 20 社区/村 communities/villages, 150 网格 grids" in built


def test_codes_are_valid_extend_their_parent_and_follow_the_street_town_ranges(built):
    for region in Region.objects.all():
        assert validate_region_code(region.code, region.level, region.parent_id) == region.level
        region.clean()  # the model's own checks: parent level, centre in China, boundary a valid polygon
    for community in Region.objects.filter(level="community"):
        segment = int(community.code[9:])
        if community.parent.code[6] == "0":  # under a 街道: 社区 001–199
            assert 1 <= segment <= 199 and community.name.endswith("社区")
        else:  # under a 镇: 村 200–399
            assert 200 <= segment <= 399 and community.name.endswith("村")
    for grid in Region.objects.filter(level="grid"):
        assert grid.name.startswith(grid.parent.name) and grid.name.endswith("网格")


def assert_tiles(parent: Region, children: list[Region]) -> None:
    whole = shape(parent.boundary)
    parts = [shape(child.boundary) for child in children]
    assert all(part.is_valid for part in parts)
    assert unary_union(parts).symmetric_difference(whole).area < AREA_TOLERANCE, parent.code
    assert abs(sum(part.area for part in parts) - whole.area) < AREA_TOLERANCE, parent.code
    for a, b in combinations(parts, 2):
        assert a.intersection(b).area < AREA_TOLERANCE, parent.code


def test_polygons_tile_exactly_at_every_level(built):
    by_parent: dict[str, list[Region]] = {}
    regions = list(Region.objects.all())
    for region in regions:
        if region.parent_id:
            by_parent.setdefault(region.parent_id, []).append(region)
    parents = {r.code: r for r in regions}
    assert len(by_parent) == 1 + 4 + 20  # the district, every street/town and every community has children
    for code, children in by_parent.items():
        assert_tiles(parents[code], children)


def test_every_region_has_its_centre_inside_and_lies_in_shandong(built):
    for region in Region.objects.all():
        polygon = shape(region.boundary)
        assert polygon.contains(Point(region.centre_lon, region.centre_lat)), region.code
        minx, miny, maxx, maxy = polygon.bounds
        assert 117.0 <= minx and maxx <= 117.25 and 36.55 <= miny and maxy <= 36.72


def test_shapes_are_not_all_alike(built):
    areas = [shape(g.boundary).area for g in Region.objects.filter(level="grid")]
    assert max(areas) > 1.5 * min(areas)
    assert any(len(g.boundary["coordinates"][0]) > 5 for g in Region.objects.filter(level="grid"))


def test_every_role_has_an_account_at_every_level_it_works_at(built):
    def scopes(role):
        return set(
            UserScope.objects.filter(user__role=role, user__is_demo=True).values_list("region_id", flat=True)
        )

    everything = {
        level: set(Region.objects.filter(level=level).values_list("code", flat=True))
        for level in ("district", "street", "community", "grid")
    }
    assert scopes(Role.DISTRICT_ADMIN) == everything["district"]
    assert scopes(Role.AUDITOR) == everything["district"]
    assert scopes(Role.POLICE_LIAISON) == everything["district"] | everything["street"]
    assert scopes(Role.STREET_OFFICER) == everything["street"]
    assert scopes(Role.COMMUNITY_WORKER) == everything["community"]
    assert scopes(Role.PROPERTY_MANAGER) == everything["community"]
    assert scopes(Role.SERVICE_PROVIDER) == everything["community"]
    assert scopes(Role.GRID_WORKER) == everything["grid"]
    assert User.objects.filter(role=Role.RESIDENT, is_demo=True, scopes__isnull=True).count() >= 3
    assert not User.objects.filter(is_demo=False).exists()
    assert not User.objects.filter(is_demo=True, must_change_password=True).exists()
    assert all(u.display_name for u in User.objects.filter(is_demo=True))


def test_usernames_follow_the_printed_pattern(built):
    assert User.objects.get(username="street3").scope_codes == ["370198101"]  # the first 镇
    assert User.objects.get(username="community3-1").scope_codes == ["370198101200"]  # its first 村
    assert User.objects.get(username="grid1-2-3").scope_codes == ["370198001002003"]
    assert User.objects.get(username="police2").scope_codes == ["370198002"]
    for username in (
        "admin",
        "auditor",
        "police",
        "street1",
        "police1",
        "community1-1",
        "property1-1",
        "service1-1",
        "grid1-1-1",
        "resident1",
    ):
        assert re.search(rf"^{re.escape(username)}\s", built, re.MULTILINE), username


@pytest.mark.parametrize(
    "username",
    [
        "auditor",
        "police",
        "street1",
        "police4",
        "community1-1",
        "property2-1",
        "service3-1",
        "grid1-1-1",
        "grid4-1-1",
        "resident1",
    ],
)
def test_printed_password_logs_each_role_in(built, username):
    response = Client().post("/login/", {"username": username, "password": printed_password(built)})
    assert response.status_code == 302 and response.url == "/"


def test_district_admin_logs_in_with_password_then_the_printed_totp_secret(built):
    import pyotp

    client = Client()
    response = client.post("/login/", {"username": "admin", "password": printed_password(built)})
    assert response.status_code == 302 and response.url == "/login/totp/"
    secret = re.search(r"secret ([A-Z2-7]{32})", built).group(1)
    assert secret == User.objects.get(username="admin").totp_secret
    response = client.post("/login/totp/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.url == "/"
    assert "linli totp-now admin" in built


def test_totp_now_prints_the_admins_current_code(built):
    import pyotp

    out = StringIO()
    call_command("totp_now", "admin", stdout=out)
    assert pyotp.TOTP(User.objects.get(username="admin").totp_secret).verify(
        out.getvalue().strip(), valid_window=1
    )


def test_building_again_without_reset_changes_nothing(built):
    def snapshot():
        return (
            list(Region.objects.values_list("code", "name", "boundary", "centre_lon", "centre_lat")),
            list(
                User.objects.order_by("pk").values_list("pk", "username", "password", "totp_secret", "role")
            ),
            list(UserScope.objects.order_by("pk").values_list("pk", "user_id", "region_id")),
            AuditLog.objects.count(),
        )

    before = snapshot()
    out = StringIO()
    call_command("demo_district", stdout=out)
    assert snapshot() == before
    assert "already there" in out.getvalue()
    assert printed_password(out.getvalue()) == printed_password(built)
    assert User.objects.get(username="admin").totp_secret in out.getvalue()


def test_reset_rebuilds_the_same_district_from_the_same_seed(built):
    regions = list(Region.objects.values_list("code", "name", "boundary"))
    people = dict(User.objects.values_list("username", "display_name"))
    call_command("demo_district", reset=True, stdout=StringIO())
    assert list(Region.objects.values_list("code", "name", "boundary")) == regions
    assert dict(User.objects.values_list("username", "display_name")) == people


def test_reset_keeps_accounts_the_audit_log_names_and_they_still_work(built):
    Client().post("/login/", {"username": "street1", "password": printed_password(built)})
    street1 = User.objects.get(username="street1")
    assert AuditLog.objects.filter(actor=street1).exists()
    call_command("demo_district", reset=True, stdout=StringIO())
    assert User.objects.get(username="street1").pk == street1.pk
    assert User.objects.get(username="street1").scope_codes == ["370198001"]


def test_a_crash_leaves_nothing_half_written(db, monkeypatch):
    def broken_extension(district, scale, rng):
        raise RuntimeError("an app's demo data failed")

    monkeypatch.setattr(demo, "EXTENSIONS", [broken_extension])
    with pytest.raises(RuntimeError):
        demo.build("demo")
    assert not Region.objects.exists() and not User.objects.exists() and not AuditLog.objects.exists()


def test_extensions_get_the_district_scale_and_a_seeded_rng_and_may_print(db, monkeypatch):
    seen = []

    def houses(district, scale, rng):
        seen.append((district.code, scale.name, rng.random()))
        return f"房屋 Houses: {Region.objects.filter(level='grid').count() * 10}"

    monkeypatch.setattr(demo, "EXTENSIONS", [houses])
    out = StringIO()
    call_command("demo_district", stdout=out)
    call_command("demo_district", reset=True, stdout=StringIO())
    assert seen[0][:2] == ("370198", "demo") and seen[0] == seen[1]  # same seed, same random numbers
    assert "房屋 Houses: 1500" in out.getvalue()


def test_a_real_account_named_like_a_demo_one_stops_the_build(db):
    from django.core.management.base import CommandError

    from linli.core.testing import make_user

    Region.objects.create(code="370101", name="别的区", level="district")
    make_user("district_admin", "370101", username="admin")
    with pytest.raises(CommandError, match="admin"):
        call_command("demo_district", stdout=StringIO())
    assert not Region.objects.filter(code="370198").exists()


SMALL = demo.Scale("small", streets=2, towns=1, communities=9, grids=60, residents=2)


def test_a_smaller_parameterised_scale_builds_and_tiles(db):
    demo.build(SMALL)
    assert Region.objects.filter(level="street").count() == 3
    assert Region.objects.filter(level="community").count() == 9
    assert Region.objects.filter(level="grid").count() == 60
    district = Region.objects.get(code="370198")
    assert_tiles(district, children_of("370198"))
    for community in Region.objects.filter(level="community"):
        assert_tiles(community, children_of(community.code))


def test_district_scale_builds_about_3000_grids_quickly(db, monkeypatch):
    # The regions and accounts only: apps' district-scale data (a million people) is timed by bench/.
    monkeypatch.setattr(demo, "EXTENSIONS", [])
    started = time.monotonic()
    demo.build("district")
    elapsed = time.monotonic() - started
    assert Region.objects.filter(level="street").count() == 12
    assert Region.objects.filter(level="community").count() == 300
    assert Region.objects.filter(level="grid").count() == 3000
    assert User.objects.filter(role=Role.GRID_WORKER).count() == 3000
    assert elapsed < 30, f"--scale district took {elapsed:.1f} s"
    # Spot-check the tiling of one street and of its communities at this size.
    street = Region.objects.get(code="370198101")
    assert_tiles(street, children_of(street.code))
    for community in children_of(street.code)[:5]:
        assert_tiles(community, children_of(community.code))
