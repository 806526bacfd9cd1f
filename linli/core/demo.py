"""The demo district: a fictional 临溪区 (370198) with streets, towns, communities, villages, grids and staff.

``build(scale)`` writes it in one transaction (a crash leaves nothing behind); ``linli demo`` and the
``demo_district`` command call it and print the logins. Everything is fictional: the district code is valid
in form but unassigned, names come from Faker zh_CN and small word lists, and the same seed gives the same
district.

Scales
    ``SCALES["demo"]``: 2 街道 + 2 镇, 20 communities and villages, 150 grids — for trying Linli out.
    ``SCALES["district"]``: 6 街道 + 6 镇, 300 communities and villages, 3,000 grids — for benchmarks.
    A ``Scale`` carries the core counts and an ``extra`` mapping for later apps' own parameters (people per
    house, devices per grid…); an app reads ``scale.extra.get("houses_per_grid", 12)`` or keeps its own table
    keyed by ``scale.name``.

Geometry
    A jittered, gently warped lattice of points covers the district (WGS-84, around 117.0–117.25 E,
    36.55–36.72 N, in Shandong). Every region is a rectangular block of lattice cells, and its boundary is
    traced along the lattice points around the block. Children split their parent's block exactly, so
    neighbours share the very same vertices: streets tile the district, communities their street and grids
    their community, with no gap and no overlap, while the shapes look irregular on a map.

Codes (GB/T 10114 habits)
    街道 001–099 and 镇 101–199 under the district; 社区 001–199 under a 街道 and 村 200–399 under a 镇;
    grids are the community's code plus 001, 002…

Accounts (one password for all, ``DEMO_PASSWORD``; ``is_demo`` set; no forced change)
    ``admin`` district administrator (two-factor pre-enrolled; ``linli totp-now admin`` prints the code),
    ``auditor`` and ``police`` at the district; per street or town number s (1…): ``street{s}`` and
    ``police{s}``; per community or village c of it (1…): ``community{s}-{c}``, ``property{s}-{c}``,
    ``service{s}-{c}``; per grid g of it (1…): ``grid{s}-{c}-{g}``; and residents ``resident1``…

Extension points for later apps (register them in the app's ``AppConfig.ready``)
    ``EXTENSIONS``: callables ``(district: Region, scale: Scale, rng: random.Random)`` run, in order, inside
    the same transaction after the regions and accounts exist. Each gets its own RNG seeded from the demo seed
    and its own name, so adding one does not change another's data. It may return lines (a string or a list
    of strings) to print under the logins, e.g. "建筑 Buildings: 1,200".
    ``RESET_HOOKS``: callables ``(district_code: str)`` that delete the app's rows in the demo district;
    ``--reset`` runs them in reverse order before the core deletes regions, so protected foreign keys do not
    block it.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyotp
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from faker import Faker
from shapely.geometry import Polygon

from .audit import AuditAction, record
from .models import Region, Role, User, UserScope
from .regions import Level

DISTRICT_CODE = "370198"
DISTRICT_NAME = "临溪区"
DEMO_PASSWORD = "Linli-Demo-2026"
DEFAULT_SEED = 2026
URL = "http://127.0.0.1:8000/"
BOUNDS = (117.0, 36.55, 117.25, 36.72)  # lon/lat box the district is drawn in (WGS-84)
GRID_CELLS = 2  # a grid is at least 2 × 2 lattice cells, so even the smallest has a jagged outline


@dataclass(frozen=True)
class Scale:
    """How big a demo district is; ``extra`` holds later apps' own parameters."""

    name: str
    streets: int
    towns: int
    communities: int
    grids: int
    residents: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return self.streets + self.towns


SCALES: dict[str, Scale] = {
    "demo": Scale("demo", streets=2, towns=2, communities=20, grids=150, residents=5),
    "district": Scale("district", streets=6, towns=6, communities=300, grids=3000, residents=20),
}

Extension = Callable[[Region, Scale, random.Random], "str | Iterable[str] | None"]
EXTENSIONS: list[Extension] = []
RESET_HOOKS: list[Callable[[str], None]] = []

ROLE_ZH = {
    Role.DISTRICT_ADMIN: "区管理员",
    Role.AUDITOR: "审计员",
    Role.POLICE_LIAISON: "公安联络员",
    Role.STREET_OFFICER: "街道/镇工作人员",
    Role.COMMUNITY_WORKER: "社区/村工作人员",
    Role.PROPERTY_MANAGER: "物业管理员",
    Role.SERVICE_PROVIDER: "服务商",
    Role.GRID_WORKER: "网格员",
    Role.RESIDENT: "居民",
}

STREET_STEMS = [
    "临溪",
    "龙泉",
    "文昌",
    "丰泽",
    "柳园",
    "石门",
    "青阳",
    "凤鸣",
    "云山",
    "桃源",
    "兴隆",
    "长乐",
    "泉湖",
    "玉屏",
    "白鹤",
    "金沙",
    "望岳",
    "清河",
    "鹊山",
    "黄台",
]
COMMUNITY_FIRST = "和新春兴安福锦华康泰永嘉明润瑞祥东西南北幸翠青阳"
COMMUNITY_SECOND = "平华苑园城河湖山泉林桥府庭湾苑里坊门"
VILLAGE_SUFFIXES = ["家村", "庄村", "家庄村", "家洼村", "官庄村", "集村", "楼村", "家岭村"]


class DemoError(Exception):
    """The demo cannot be built as asked (a name it needs is taken by a real account, …)."""


# --- plan: what to build -------------------------------------------------------------------------------


@dataclass
class Node:
    """A region being planned: its code, name, children and, once placed, its lattice block."""

    code: str
    name: str
    level: str
    ordinal: tuple[int, ...] = ()
    children: list[Node] = field(default_factory=list)
    need: tuple[int, int] = (0, 0)  # smallest block (columns, rows) that fits the children
    bands: list[list[Node]] = field(default_factory=list)
    block: tuple[int, int, int, int] = (0, 0, 0, 0)  # i0, j0, i1, j1 in lattice indices

    def walk(self) -> Iterable[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def split(total: int, parts: int, rng: random.Random, minimum: int = 0) -> list[int]:
    """``parts`` integers ≥ ``minimum`` summing to ``total``, randomly uneven (largest remainder)."""
    spare = total - parts * minimum
    if spare < 0:
        raise ValueError(f"cannot split {total} into {parts} parts of at least {minimum}")
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    shares = [spare * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(parts), key=lambda k: shares[k] - counts[k], reverse=True)
    for k in by_remainder[: spare - sum(counts)]:
        counts[k] += 1
    return [minimum + c for c in counts]


class Namer:
    """Plausible, unique, seeded names for streets, towns, communities, villages and people."""

    def __init__(self, seed: int):
        self.rng = random.Random(f"{seed}:names")
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.used: set[str] = set()

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise DemoError("ran out of distinct demo names")

    def street(self, town: bool) -> str:
        suffix = "镇" if town else "街道"
        return self._unique(lambda: self.rng.choice(STREET_STEMS) + suffix)

    def community(self) -> str:
        return self._unique(
            lambda: self.rng.choice(COMMUNITY_FIRST) + self.rng.choice(COMMUNITY_SECOND) + "社区"
        )

    def village(self) -> str:
        return self._unique(lambda: self.fake.last_name() + self.rng.choice(VILLAGE_SUFFIXES))

    def person(self) -> str:
        return self.fake.name()


def plan_regions(scale: Scale, seed: int) -> Node:
    """The region tree of a scale, named and coded, before any geometry."""
    rng = random.Random(f"{seed}:tree")
    namer = Namer(seed)
    district = Node(DISTRICT_CODE, DISTRICT_NAME, Level.DISTRICT)
    per_unit = split(
        scale.communities, scale.units, rng, minimum=max(2, scale.communities // scale.units // 2)
    )
    per_community = split(
        scale.grids, scale.communities, rng, minimum=max(3, scale.grids // scale.communities // 2)
    )
    community_index = 0
    for s in range(1, scale.units + 1):
        town = s > scale.streets
        code = f"{DISTRICT_CODE}{(100 + s - scale.streets) if town else s:03d}"
        unit = Node(code, namer.street(town), Level.STREET, (s,))
        district.children.append(unit)
        for c in range(1, per_unit[s - 1] + 1):
            name = namer.village() if town else namer.community()
            community = Node(f"{code}{(199 + c) if town else c:03d}", name, Level.COMMUNITY, (s, c))
            unit.children.append(community)
            for g in range(1, per_community[community_index] + 1):
                community.children.append(
                    Node(f"{community.code}{g:03d}", f"{name}第{g}网格", Level.GRID, (s, c, g))
                )
            community_index += 1
    return district


# --- geometry: blocks of a warped lattice --------------------------------------------------------------


def measure(node: Node) -> tuple[int, int]:
    """Bottom-up: arrange children in bands (rows) and record the smallest block that holds them."""
    if not node.children:
        node.need = (GRID_CELLS, GRID_CELLS)
        return node.need
    for child in node.children:
        measure(child)
    n = len(node.children)
    band_count = max(1, round(math.sqrt(n)))
    sizes = [n // band_count + (1 if k < n % band_count else 0) for k in range(band_count)]
    start = 0
    node.bands = []
    for size in sizes:
        node.bands.append(node.children[start : start + size])
        start += size
    width = max(sum(c.need[0] for c in band) for band in node.bands)
    height = sum(max(c.need[1] for c in band) for band in node.bands)
    node.need = (width, height)
    return node.need


def place(node: Node, block: tuple[int, int, int, int], rng: random.Random) -> None:
    """Top-down: give each child a block inside its parent's, sharing out the spare cells at random."""
    node.block = block
    if not node.children:
        return
    i0, j0, i1, j1 = block
    band_needs = [max(c.need[1] for c in band) for band in node.bands]
    extra_rows = split((j1 - j0) - sum(band_needs), len(node.bands), rng)
    j = j0
    for band, need, extra in zip(node.bands, band_needs, extra_rows, strict=True):
        height = need + extra
        extra_cols = split((i1 - i0) - sum(c.need[0] for c in band), len(band), rng)
        i = i0
        for child, more in zip(band, extra_cols, strict=True):
            width = child.need[0] + more
            place(child, (i, j, i + width, j + height), rng)
            i += width
        j += height


class Lattice:
    """Lattice points (i, j) → (lon, lat): a regular grid, sheared by sine waves, each point jittered."""

    def __init__(self, columns: int, rows: int, rng: random.Random, bounds=BOUNDS):
        self.columns, self.rows = columns, rows
        west, south, east, north = bounds
        jitter = 0.15
        # A shear of amplitude a and wavelength λ has slope 2πa/λ; at a = 0.05λ that is 0.31 < 1, so together
        # with the jitter no cell folds over its neighbour and every block stays a simple polygon.
        wave_x, wave_y = max(4.0, rows / 1.3), max(4.0, columns / 1.3)
        amp_x, amp_y = 0.05 * wave_x, 0.05 * wave_y
        margin_x, margin_y = amp_x + jitter, amp_y + jitter
        dx = (east - west) / (columns + 2 * margin_x)
        dy = (north - south) / (rows + 2 * margin_y)
        phase_x, phase_y = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
        shift_x = [amp_x * math.sin(2 * math.pi * j / wave_x + phase_x) for j in range(rows + 1)]
        shift_y = [amp_y * math.sin(2 * math.pi * i / wave_y + phase_y) for i in range(columns + 1)]
        self.points = [
            [
                (
                    round(west + (margin_x + i + shift_x[j] + rng.uniform(-jitter, jitter)) * dx, 6),
                    round(south + (margin_y + j + shift_y[i] + rng.uniform(-jitter, jitter)) * dy, 6),
                )
                for j in range(rows + 1)
            ]
            for i in range(columns + 1)
        ]

    def ring(self, block: tuple[int, int, int, int]) -> list[tuple[float, float]]:
        """The block's outline, counter-clockwise (RFC 7946), closed, through every lattice point on it."""
        i0, j0, i1, j1 = block
        p = self.points
        ring = [p[i][j0] for i in range(i0, i1)]
        ring += [p[i1][j] for j in range(j0, j1)]
        ring += [p[i][j1] for i in range(i1, i0, -1)]
        ring += [p[i0][j] for j in range(j1, j0, -1)]
        ring.append(ring[0])
        return ring


def draw(district: Node, seed: int) -> Lattice:
    """Lay the tree out on a lattice sized to fit it, with some slack so sizes vary."""
    rng = random.Random(f"{seed}:geometry")
    columns, rows = measure(district)
    # Square-ish overall, plus a fifth of slack shared out at random.
    side = max(columns, rows)
    columns, rows = math.ceil(side * 1.2), math.ceil(side * 1.2)
    place(district, (0, 0, columns, rows), rng)
    return Lattice(columns, rows, rng)


def polygon_and_centre(lattice: Lattice, block) -> tuple[dict, tuple[float, float]]:
    ring = lattice.ring(block)
    shape = Polygon(ring)
    centre = shape.centroid
    if not shape.contains(centre):
        centre = shape.representative_point()
    geojson = {"type": "Polygon", "coordinates": [[list(point) for point in ring]]}
    return geojson, (round(centre.x, 6), round(centre.y, 6))


# --- accounts ------------------------------------------------------------------------------------------


@dataclass
class Account:
    username: str
    role: str
    scope: str | None  # region code, None for residents
    display_name: str = ""


def plan_accounts(district: Node, scale: Scale, seed: int) -> list[Account]:
    """Every demo account: each staff role at each level it works at, and a few residents."""
    fake = Faker("zh_CN")
    fake.seed_instance(f"{seed}:people")
    accounts = [
        Account("admin", Role.DISTRICT_ADMIN, district.code),
        Account("auditor", Role.AUDITOR, district.code),
        Account("police", Role.POLICE_LIAISON, district.code),
    ]
    for unit in district.children:
        (s,) = unit.ordinal
        accounts += [
            Account(f"street{s}", Role.STREET_OFFICER, unit.code),
            Account(f"police{s}", Role.POLICE_LIAISON, unit.code),
        ]
        for community in unit.children:
            suffix = "-".join(map(str, community.ordinal))
            accounts += [
                Account(f"community{suffix}", Role.COMMUNITY_WORKER, community.code),
                Account(f"property{suffix}", Role.PROPERTY_MANAGER, community.code),
                Account(f"service{suffix}", Role.SERVICE_PROVIDER, community.code),
            ]
            accounts += [
                Account(f"grid{'-'.join(map(str, grid.ordinal))}", Role.GRID_WORKER, grid.code)
                for grid in community.children
            ]
    accounts += [Account(f"resident{n}", Role.RESIDENT, None) for n in range(1, scale.residents + 1)]
    for account in accounts:
        account.display_name = fake.name()
    return accounts


# --- building ------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What the demo district holds, for printing."""

    created: bool
    scale_name: str
    counts: dict[str, int]
    totp_secret: str
    extension_lines: list[str] = field(default_factory=list)


def exists() -> bool:
    return Region.objects.filter(code=DISTRICT_CODE).exists()


def _is_demo_district() -> bool:
    return User.objects.filter(username="admin", is_demo=True, scopes__region_id=DISTRICT_CODE).exists()


def current() -> DemoResult:
    """The demo district as it stands in the database."""
    admin = User.objects.filter(username="admin", is_demo=True).first()
    counts = region_counts()
    scale_name = "district" if counts["grid"] > SCALES["demo"].grids * 2 else "demo"
    return DemoResult(False, scale_name, counts, admin.totp_secret if admin else "")


def region_counts() -> dict[str, int]:
    regions = Region.objects.filter(code__startswith=DISTRICT_CODE)
    counts = {level: regions.filter(level=level).count() for level in Level.values}
    counts["accounts"] = User.objects.filter(is_demo=True).count()
    return counts


def build(scale: Scale | str = "demo", *, reset: bool = False, seed: int = DEFAULT_SEED) -> DemoResult:
    """Build the demo district, or leave an existing one alone unless ``reset``; one transaction."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    with transaction.atomic():
        if exists():
            if not _is_demo_district():
                raise DemoError(
                    f"Region {DISTRICT_CODE} exists but the demo did not make it (no demo account “admin”). "
                    f"区划 {DISTRICT_CODE} 已存在且不是演示数据；如确要覆盖，请加 --reset。"
                )
            if not reset:
                return current()
            delete_demo()
        return _build(scale, seed)


def delete_demo() -> None:
    """Remove the demo district: later apps' rows first, then scopes, unused demo accounts and regions.

    Demo accounts that appear in the audit log are kept (the log is append-only and refers to them); the new
    build reuses them by name.
    """
    for hook in reversed(RESET_HOOKS):
        hook(DISTRICT_CODE)
    from .audit import AuditLog

    UserScope.objects.filter(region__code__startswith=DISTRICT_CODE).delete()
    in_log = AuditLog.objects.filter(actor__isnull=False).values("actor_id")
    User.objects.filter(is_demo=True).exclude(pk__in=in_log).delete()
    for level in (Level.GRID, Level.COMMUNITY, Level.STREET, Level.DISTRICT):
        Region.objects.filter(code__startswith=DISTRICT_CODE, level=level).delete()


def _build(scale: Scale, seed: int) -> DemoResult:
    tree = plan_regions(scale, seed)
    lattice = draw(tree, seed)
    regions = []
    for node in tree.walk():
        boundary, centre = polygon_and_centre(lattice, node.block)
        region = Region(
            code=node.code,
            name=node.name,
            level=node.level,
            parent_id=node.code[:-3] if len(node.code) > 6 else None,
            boundary=boundary,
            centre_lon=centre[0],
            centre_lat=centre[1],
        )
        regions.append(region)
    regions.sort(key=lambda r: len(r.code))
    Region.objects.bulk_create(regions, batch_size=500)

    accounts = plan_accounts(tree, scale, seed)
    totp_secret = pyotp.random_base32()
    _create_accounts(accounts, totp_secret)
    district = Region.objects.get(code=DISTRICT_CODE)
    record(
        AuditAction.DEMO_BUILT,
        actor_name="linli demo",
        region_code=DISTRICT_CODE,
        scale=scale.name,
        accounts=len(accounts),
        grids=scale.grids,
    )

    lines: list[str] = []
    for extension in EXTENSIONS:
        name = f"{extension.__module__}.{getattr(extension, '__qualname__', repr(extension))}"
        output = extension(district, scale, random.Random(f"{seed}:{name}"))
        if isinstance(output, str):
            lines.append(output)
        elif output is not None:
            lines.extend(output)
    return DemoResult(True, scale.name, region_counts(), totp_secret, lines)


def _create_accounts(accounts: list[Account], totp_secret: str) -> None:
    # One PBKDF2 hash for all: hashing thousands of accounts one by one would take minutes.
    probe = User(username="")
    for account in accounts:
        probe.username = account.username
        try:
            validate_password(DEMO_PASSWORD, probe)
        except ValidationError as exc:  # pragma: no cover - guards a change of DEMO_PASSWORD or the policy
            raise DemoError(
                f"The demo password fails the policy for {account.username}: {exc.messages}"
            ) from exc
    password = make_password(DEMO_PASSWORD)
    names = [a.username for a in accounts]
    existing = {u.username.lower(): u for u in User.objects.filter(username__in=names)}
    clashes = sorted(u.username for u in existing.values() if not u.is_demo)
    if clashes:
        raise DemoError(
            f"These names are taken by real accounts, so the demo cannot use them: {', '.join(clashes)}."
            f" 以下用户名已被正式账号占用：{', '.join(clashes)}"
        )
    new, kept = [], []
    for account in accounts:
        user = existing.get(account.username.lower()) or User(username=account.username)
        user.role = account.role
        user.display_name = account.display_name
        user.password = password
        user.is_demo = True
        user.is_active = True
        user.is_staff = account.role == Role.DISTRICT_ADMIN
        user.must_change_password = False
        user.failed_logins = 0
        user.locked_until = None
        user.totp_secret = totp_secret if account.role == Role.DISTRICT_ADMIN else ""
        user.totp_confirmed = account.role == Role.DISTRICT_ADMIN
        (kept if user.pk else new).append(user)
    User.objects.bulk_create(new, batch_size=1000)
    User.objects.bulk_update(
        kept,
        [
            "role",
            "display_name",
            "password",
            "is_demo",
            "is_active",
            "is_staff",
            "must_change_password",
            "failed_logins",
            "locked_until",
            "totp_secret",
            "totp_confirmed",
        ],
        batch_size=1000,
    )
    by_name = {u.username: u for u in new + kept}
    UserScope.objects.bulk_create(
        [UserScope(user=by_name[a.username], region_id=a.scope) for a in accounts if a.scope], batch_size=1000
    )
    # Demo accounts of an earlier, larger build that the log still names: kept, but they no longer log in.
    User.objects.filter(is_demo=True).exclude(username__in=names).update(is_active=False)


# --- printing ------------------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def login_table(result: DemoResult) -> str:
    """The bilingual text ``linli demo`` prints: one login per role, the pattern of the rest, two-factor."""
    regions = {
        r.code: r
        for r in Region.objects.filter(
            code__startswith=DISTRICT_CODE, level__in=[Level.DISTRICT, Level.STREET]
        ).only("code", "name")
    }
    first_street = min(c for c in regions if len(c) == 9)
    first_town = min((c for c in regions if len(c) == 9 and c[6] == "1"), default=first_street)
    first_community = Region.objects.filter(parent_id=first_street).order_by("code").first()
    first_grid = Region.objects.filter(parent_id=first_community.code).order_by("code").first()
    streets = sum(1 for c in regions if len(c) == 9 and c[6] == "0")
    towns = sum(1 for c in regions if len(c) == 9 and c[6] == "1")
    units = streets + towns
    units_sorted = sorted(c for c in regions if len(c) == 9)
    last_community = Region.objects.filter(parent_id=units_sorted[-1]).order_by("code")
    last_grid = Region.objects.filter(parent_id=last_community.last().code).order_by("code").last()
    example = (
        f"grid{len(units_sorted)}-{last_community.count()}-{int(last_grid.code[-3:])} = {last_grid.name}"
    )
    rows = [
        ("admin", Role.DISTRICT_ADMIN, regions[DISTRICT_CODE]),
        ("auditor", Role.AUDITOR, regions[DISTRICT_CODE]),
        ("police", Role.POLICE_LIAISON, regions[DISTRICT_CODE]),
        ("street1", Role.STREET_OFFICER, regions[first_street]),
        ("police1", Role.POLICE_LIAISON, regions[first_street]),
        ("community1-1", Role.COMMUNITY_WORKER, first_community),
        ("property1-1", Role.PROPERTY_MANAGER, first_community),
        ("service1-1", Role.SERVICE_PROVIDER, first_community),
        ("grid1-1-1", Role.GRID_WORKER, first_grid),
        ("resident1", Role.RESIDENT, None),
    ]
    c = result.counts
    header = ("用户名 username", "角色 role", "区域 region")
    with translation.override("en"):
        table = [
            (u, f"{ROLE_ZH[role]} {role.label}", f"{r.name} {r.code}" if r else "—") for u, role, r in rows
        ]
    widths = [max(_width(row[k]) for row in [header, *table]) + 2 for k in range(3)]
    verb = "已生成 / built" if result.created else "已存在，未改动 / already there, left as it is"
    out = [
        "",
        f"演示区 {DISTRICT_NAME} ({DISTRICT_CODE}) {verb}: {streets} 街道 streets + {towns} 镇 towns, "
        f"{c['community']} 社区/村 communities/villages, {c['grid']} 网格 grids, "
        f"{c['accounts']} 账号 accounts.",
        "",
        f"打开 Open  {URL}",
        f"所有演示账号的口令 / Password of every demo account:  {DEMO_PASSWORD}",
        "",
        "".join(_pad(h, w) for h, w in zip(header, widths, strict=True)).rstrip(),
        "  ".join("-" * (w - 2) for w in widths),
        *("".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table),
        "",
        "其他账号（同一口令）/ Other accounts (same password):",
        f"  street1 … street{units}, police1 … police{units}    每个街道/镇 per street or town "
        f"(1–{streets} 街道 streets, {streets + 1}–{units} 镇 towns, e.g. street{streets + 1} = "
        f"{regions[first_town].name})",
        "  community<s>-<c>, property<s>-<c>, service<s>-<c>    第 s 个街道/镇的第 c 个社区/村 "
        "community or village c of street or town s",
        f"  grid<s>-<c>-<g>    该社区/村的第 g 个网格 grid g of that community (grid1-1-1 … {example})",
        f"  resident1 … resident{User.objects.filter(is_demo=True, role=Role.RESIDENT).count()}",
        "",
        "区管理员需双因素认证 / The district administrator uses two-factor authentication:",
        f"  密钥 secret {result.totp_secret}  (添加到任一验证器 App / add it to any authenticator app)",
        "  或运行 or run:  .venv/bin/linli totp-now admin",
    ]
    if result.extension_lines:
        out += ["", *result.extension_lines]
    if not result.created:
        out += [
            "",
            f"规模 scale: {result.scale_name}. "
            "重新生成 To rebuild: linli demo --reset [--scale demo|district]",
        ]
    return "\n".join(out) + "\n"
