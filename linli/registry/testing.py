"""Small factories for registry tests, here and in the apps above: people, places, things, households."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from linli.core.identifiers import resident_id_check_character
from linli.core.models import Region

from . import services
from .models import Building, Facility, House, Household, Organisation, Person, Residency, Vehicle

ID_NUMBER = "370103199001011238"  # reference/standards.md §3.1 worked example
PHONE = "13800138000"
STAFF_MASKED_ID = "370***********1238"
PUBLIC_MASKED_ID = "3****************8"
MASKED_PHONE = "138****8000"

_serial = itertools.count(1)


def id_number(serial: int) -> str:
    """A valid 18-digit resident ID number (济南市中区), distinct per serial."""
    born = date(1985, 6, 15) + timedelta(days=serial // 1000)
    first17 = f"370103{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + resident_id_check_character(first17)


def phone(serial: int) -> str:
    return f"139{serial:08d}"


def region(code: str) -> Region:
    return Region.objects.get(code=code)


def make_person(code: str, *, name: str = "王小明", **fields) -> Person:
    serial = next(_serial)
    values = {"id_number": id_number(serial), "phone": phone(serial), **fields}
    return services.register_person(services.PersonInput(name=name, region=region(code), **values))[0]


def make_building(code: str, name: str | None = None) -> Building:
    return services.ensure_building(region(code), "青园小区", name or f"{next(_serial)}号楼")


def make_house(code: str, number: str = "501", **fields) -> House:
    building = make_building(code)
    return services.register_house(building, "2单元", number, **fields)[0]


def make_residency(code: str, relation: str = Residency.Relation.OWNER) -> Residency:
    return services.move_in(make_person(code), make_house(code), relation, start=date(2020, 1, 1))


def make_household(code: str) -> Household:
    return services.create_household(make_house(code), make_person(code), number=f"H{next(_serial):05d}")


def make_organisation(code: str, **fields) -> Organisation:
    # Valid credit codes of the standards' worked examples would collide: vary the sequence part instead.
    from linli.core.identifiers import credit_code_check_character, organisation_code_check_character

    serial = next(_serial)
    body8 = f"{serial:08d}"
    org_code = body8 + organisation_code_check_character(body8)
    first17 = f"91370103{org_code}"
    credit_code = first17 + credit_code_check_character(first17)
    return services.register_organisation(
        region(code), f"测试企业{serial}", credit_code, Organisation.Kind.ENTERPRISE, **fields
    )[0]


def make_facility(code: str) -> Facility:
    return services.register_facility(region(code), "路灯", f"LD-{next(_serial):06d}")[0]


def make_vehicle(code: str, **fields) -> Vehicle:
    plate = f"鲁A{next(_serial) % 100000:05d}"
    return services.register_vehicle(region(code), plate, **fields)[0]
