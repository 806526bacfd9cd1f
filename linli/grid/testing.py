"""Factories for grid tests: square grids on the test tree, a department, people in every role, photos."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from django.core.files.uploadedfile import SimpleUploadedFile

from linli.core.models import Region, Role, User
from linli.core.testing import TREE, make_user

from . import services
from .models import Category, Department, Event, Source

# Each test grid is a 0.01° square; the squares of one community touch, so there are shared edges to test.
ORIGIN_LON, ORIGIN_LAT, SIDE = 117.00, 36.60, 0.01
GRID_CODES = sorted(code for code in TREE if len(code) == 15)


def square(index: int) -> dict:
    x0 = ORIGIN_LON + index * SIDE
    y0 = ORIGIN_LAT
    ring = [[x0, y0], [x0 + SIDE, y0], [x0 + SIDE, y0 + SIDE], [x0, y0 + SIDE], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def centre_of(grid_code: str) -> tuple[float, float]:
    index = GRID_CODES.index(grid_code)
    return ORIGIN_LON + index * SIDE + SIDE / 2, ORIGIN_LAT + SIDE / 2


def draw_grids() -> None:
    """Give the test tree's grids side-by-side square boundaries, west to east in code order."""
    for index, code in enumerate(GRID_CODES):
        Region.objects.filter(code=code).update(boundary=square(index))
    from .locate import forget_index

    forget_index()


def photo(name: str = "photo.png") -> SimpleUploadedFile:
    """A real 2×2 PNG, built here so the tests carry no binary files."""
    raw = b"".join(b"\x00" + b"\x30\x90\x30" * 2 for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return SimpleUploadedFile(name, png, content_type="image/png")


def category(code: str = "06010") -> Category:
    return Category.objects.get(code=code)


@dataclass
class Cast:
    """Everyone around one grid: its worker, supervisors, a handler, a department, residents, outsiders."""

    grid: str
    grid_worker: User
    other_grid_worker: User
    community_worker: User
    other_community_worker: User
    street_officer: User
    district_admin: User
    handler: User
    department: Department
    department_member: User
    reporter: User
    other_resident: User
    auditor: User
    police: User

    def everyone(self) -> dict[str, User]:
        return {name: value for name, value in vars(self).items() if isinstance(value, User)}


def cast(grid: str = "370198001001001") -> Cast:
    community, street, district = grid[:12], grid[:9], grid[:6]
    sibling = next(code for code in GRID_CODES if code != grid and code.startswith(community))
    other_community = next(code[:12] for code in GRID_CODES if not code.startswith(community))
    department = Department.objects.create(code="ENV", name="环卫所", region_id=district)
    member = make_user(Role.PROPERTY_MANAGER, community, username="dept-member")
    department.members.add(member)
    return Cast(
        grid=grid,
        grid_worker=make_user(Role.GRID_WORKER, grid, username="gridworker"),
        other_grid_worker=make_user(Role.GRID_WORKER, sibling, username="other-gridworker"),
        community_worker=make_user(Role.COMMUNITY_WORKER, community, username="community"),
        other_community_worker=make_user(Role.COMMUNITY_WORKER, other_community, username="other-community"),
        street_officer=make_user(Role.STREET_OFFICER, street, username="street"),
        district_admin=make_user(Role.DISTRICT_ADMIN, district, username="district"),
        handler=make_user(Role.SERVICE_PROVIDER, community, username="handler"),
        department=department,
        department_member=member,
        reporter=make_user(Role.RESIDENT, username="reporter"),
        other_resident=make_user(Role.RESIDENT, username="other-resident"),
        auditor=make_user(Role.AUDITOR, district, username="auditor"),
        police=make_user(Role.POLICE_LIAISON, district, username="police"),
    )


def resident_report(people: Cast, **fields) -> Event:
    lon, lat = centre_of(people.grid)
    values = dict(
        category=category(),
        title="楼下垃圾堆积",
        source=Source.RESIDENT,
        lon=lon,
        lat=lat,
        reporter=people.reporter,
    )
    values.update(fields)
    return services.report(**values).event
