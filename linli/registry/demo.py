"""Registry demo data: houses, people, households, tags, organisations, facilities and vehicles per grid.

Registered as a ``linli.core.demo`` extension (see ``RegistryConfig.ready``), so ``linli demo`` builds it
inside the demo's one transaction, and ``--reset`` deletes it first (``delete_registry``).

Sizes
    ``demo``: about 8 houses and 25 people per grid, some 3,800 people in the 150 grids, built in a second.
    ``district``: about 100 houses and 330 people per grid, some 1,000,000 people in 300,000 houses across
    the 3,000 grids, for the benchmarks (``bench/registry.py``). ``Scale.extra["registry_houses_per_grid"]``
    overrides the houses per grid (the benchmark uses 10 for its 100,000-person step).

The fast path
    Rows are generated in plain Python, a community at a time, with their primary keys assigned here, so no
    row is read back. Personal fields are sealed by ``FieldSealer``: the same ciphertext format, key, cipher
    and associated data as ``EncryptedCharField``, and the same blind indexes as ``BlindIndexField.compute``
    (the tests check both against the ORM). On PostgreSQL each table of a batch is written with ``COPY``; on
    SQLite with ``executemany``. Constraints and indexes stay in place; the sequences are moved past the new
    keys at the end. Everything runs inside the demo's transaction, so a failure leaves nothing written.
    One process is enough: the million-person district takes a few minutes (``docs/benchmarks/registry.md``),
    about half of it PostgreSQL's own work on the other core, so worker processes would only compete with it.

Everything is fictional: ID numbers have valid form and check character with Shandong (mostly Jinan) area
codes, mobile numbers are random, credit codes and plates are well-formed and checksum-valid.
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from django.core.management.color import no_style
from django.db import connection, models
from django.utils import timezone
from faker.providers.person.zh_CN import Provider as ZhNames
from shapely.geometry import Point, Polygon
from shapely.prepared import prep

from linli.core import clock
from linli.core.demo import Scale
from linli.core.identifiers import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_character,
    organisation_code_check_character,
    resident_id_check_character,
)
from linli.core.models import Region
from linli.core.pii.bulk import FieldSealer
from linli.core.regions import Level

from .models import (
    Building,
    Consent,
    Facility,
    House,
    Household,
    HouseholdMember,
    LegalBasis,
    Organisation,
    Person,
    PersonTag,
    Residency,
    Tag,
    Unit,
    Vehicle,
)
from .services import STATUTORY_REFERENCES

HOUSES_PER_GRID = {"demo": 8, "district": 100}
CONSENT_NOTICE = "2026-01"

# Every table the generator writes, in foreign-key order, with the columns (attnames) of its rows.
COLUMNS: dict[type[models.Model], tuple[str, ...]] = {
    Building: ("id", "region_id", "region_code", "lon", "lat", "estate", "name", "address", "kind", "floors"),
    Unit: ("id", "building_id", "name"),
    House: (
        "id",
        "region_id",
        "region_code",
        "lon",
        "lat",
        "building_id",
        "unit_id",
        "number",
        "address",
        "area",
        "use",
    ),
    Person: (
        "id",
        "region_id",
        "region_code",
        "name",
        "id_number",
        "id_number_index",
        "sex",
        "birth_date",
        "phone",
        "phone_index",
        "ethnicity",
        "residence_type",
        "contact_name",
        "contact_phone",
        "note",
        "updated_at",
    ),
    Consent: ("id", "person_id", "purpose", "basis", "notice_version", "granted_at", "withdrawn_at"),
    Residency: ("id", "region_id", "region_code", "person_id", "house_id", "relation", "start", "end"),
    Household: ("id", "region_id", "region_code", "number", "house_id", "head_id"),
    HouseholdMember: ("id", "household_id", "person_id", "relation_to_head"),
    PersonTag: (
        "id",
        "region_id",
        "region_code",
        "person_id",
        "tag",
        "detail",
        "basis",
        "basis_reference",
        "consent_id",
        "since",
    ),
    Organisation: (
        "id",
        "region_id",
        "region_code",
        "lon",
        "lat",
        "name",
        "credit_code",
        "kind",
        "house_id",
        "address",
        "contact_name",
        "contact_phone",
    ),
    Facility: ("id", "region_id", "region_code", "lon", "lat", "kind", "code", "name", "state"),
    Vehicle: ("id", "region_id", "region_code", "plate", "owner_id", "kind"),
}
MODELS = list(COLUMNS)

# Area codes on the ID numbers: Jinan's districts and counties (with 370181 章丘市 and 370125 济阳县 as they
# were before 2016–2018, which old cards still carry), other Shandong cities for people who moved here.
JINAN_AREAS = ["370102", "370103", "370104", "370105", "370112", "370113", "370114", "370115", "370116"]
JINAN_AREAS += ["370117", "370124", "370126", "370181", "370125"]
SHANDONG_AREAS = ["370202", "370203", "370211", "370212", "370281", "370302", "370303", "370402", "370502"]
SHANDONG_AREAS += ["370602", "370702", "370781", "370811", "370902", "371002", "371102", "371302", "371402"]
SHANDONG_AREAS += ["371502", "371602", "371702", "371721"]
MOBILE_PREFIXES = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155"]
MOBILE_PREFIXES += ["156", "157", "158", "159", "166", "176", "177", "178", "180", "182", "185", "186"]
MOBILE_PREFIXES += ["187", "188", "189", "191", "195", "198", "199"]

ESTATE_FIRST = "锦华福康泰嘉和明润瑞祥翠丰馨雅怡悦盛景鑫汇"
ESTATE_SECOND = "苑园城府庭居湾里轩阁"
ESTATE_SUFFIXES = ["小区", "花园", "家园", "", "", "新村"]
ROADS = ["经十路", "工业北路", "华山路", "花园路", "二环东路", "解放东路", "文化西路", "历山路", "和平路"]
ROADS += ["山大路", "洪家楼南路", "全福街", "七里河路", "凤鸣路", "龙泉大街", "青阳路", "石门街"]
SHOP_TRADES = ["便利店", "超市", "水果店", "理发店", "药店", "早餐店", "五金店", "洗衣店", "面馆", "快递驿站"]
SHOP_TRADES += ["母婴店", "眼镜店", "粮油店", "家电维修部", "花店"]
COMPANY_TRADES = ["商贸", "科技", "建筑工程", "物流", "餐饮管理", "家政服务", "信息技术", "装饰工程", "食品"]
DISABILITY_TYPES = [
    ("肢体", 50),
    ("听力", 15),
    ("视力", 12),
    ("精神", 9),
    ("智力", 8),
    ("多重", 5),
    ("言语", 1),
]
DISABILITY_GRADES = [("一级", 10), ("二级", 20), ("三级", 30), ("四级", 40)]
# Urban-management components (城市部件): kind, class code (major + minor), share.
FACILITY_KINDS = [
    ("上水井盖", "0101", 14),
    ("污水井盖", "0102", 14),
    ("雨水井盖", "0103", 14),
    ("路灯", "0401", 18),
    ("消防栓", "0109", 6),
    ("垃圾箱", "0301", 12),
    ("公交站亭", "0210", 3),
    ("健身设施", "0504", 5),
    ("治安监控", "0115", 8),
    ("停车场", "0221", 2),
    ("充电桩", "0120", 4),
]
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
URBAN_SIZES = [(1, 8), (2, 18), (3, 30), (4, 22), (5, 13), (6, 9)]
VILLAGE_SIZES = [(1, 6), (2, 12), (3, 20), (4, 26), (5, 20), (6, 16)]


def houses_per_grid(scale: Scale) -> int:
    """How many houses the registry puts in each grid at this scale."""
    return int(scale.extra.get("registry_houses_per_grid", HOUSES_PER_GRID.get(scale.name, 8)))


class Weighted:
    """A fast weighted choice from (value, weight) pairs."""

    def __init__(self, pairs: Iterable[tuple[object, float]]):
        pairs = list(pairs)
        self.values = [v for v, _w in pairs]
        self.cumulative = list(accumulate(w for _v, w in pairs))
        self.total = self.cumulative[-1]

    def __call__(self, rng: random.Random):
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


SURNAMES = Weighted(ZhNames.last_names.items())


def _table_writer():
    """A function (model, rows) appending rows to a table: COPY on PostgreSQL, executemany elsewhere."""
    quote = connection.ops.quote_name
    statements = {}
    for model, attnames in COLUMNS.items():
        columns = ", ".join(quote(model._meta.get_field(a).column) for a in attnames)
        table = quote(model._meta.db_table)
        if connection.vendor == "postgresql":
            statements[model] = f"COPY {table} ({columns}) FROM STDIN"
        else:
            statements[model] = (
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(attnames))})"
            )

    if connection.vendor == "postgresql":

        def write(model, rows):
            if rows:
                with connection.cursor() as cursor, cursor.cursor.copy(statements[model]) as copy:
                    for row in rows:
                        copy.write_row(row)

    else:
        ops = connection.ops

        def adapt(value):
            if isinstance(value, datetime):
                return ops.adapt_datetimefield_value(value)
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, Decimal):
                return str(value)
            return value

        def write(model, rows):
            if rows:
                with connection.cursor() as cursor:
                    cursor.executemany(statements[model], [tuple(map(adapt, row)) for row in rows])

    return write


@dataclass
class Counts:
    values: dict = field(default_factory=lambda: dict.fromkeys(MODELS, 0))

    def add(self, batch: dict) -> None:
        for model, rows in batch.items():
            self.values[model] += len(rows)

    def __getitem__(self, model) -> int:
        return self.values[model]


@dataclass
class Member:
    """A person being generated, before sealing."""

    pk: int
    name: str
    sex: str
    birth: date
    relation_to_head: str


class RegistryGenerator:
    """Generates the registry rows of a set of grids, batch by batch, with primary keys assigned up front."""

    def __init__(self, seed: int, houses_per_grid: int, today: date | None = None):
        self.seed = seed
        self.houses_per_grid = houses_per_grid
        self.today = today or timezone.localdate(clock.now())
        self.now = clock.now()
        self.sealer = FieldSealer()
        self.next_id = {
            model: (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1 for model in MODELS
        }
        self.id_numbers: set[str] = set()
        self.plates: set[str] = set(Vehicle.objects.values_list("plate", flat=True))
        self.credit_codes: set[str] = set(Organisation.objects.values_list("credit_code", flat=True))
        self.facility_seq: dict[str, int] = {}
        self.person_ad = {
            name: Person._meta.get_field(name).associated_data
            for name in ("id_number", "phone", "contact_phone")
        }
        self.organisation_ad = Organisation._meta.get_field("contact_phone").associated_data
        self.id_index = Person._meta.get_field("id_number_index")
        self.phone_index = Person._meta.get_field("phone_index")

    # --- small helpers ---

    def _id(self, model) -> int:
        pk = self.next_id[model]
        self.next_id[model] = pk + 1
        return pk

    def _point(self, rng, shape, prepared, bounds) -> tuple[float, float]:
        west, south, east, north = bounds
        for _ in range(1000):
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            if prepared.contains(Point(lon, lat)):
                return round(lon, 6), round(lat, 6)
        point = shape.representative_point()
        return round(point.x, 6), round(point.y, 6)

    def _name(self, rng, sex: str, surname: str | None = None) -> str:
        given = ZhNames.first_names_male if sex == "M" else ZhNames.first_names_female
        name = rng.choice(given)
        if len(name) == 1 and rng.random() < 0.55:
            name += rng.choice(given)
        return (surname or SURNAMES(rng)) + name

    def _mobile(self, rng) -> str:
        return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"

    def _birth(self, rng, age: int) -> date:
        year = self.today.year - max(0, min(age, 100))
        try:
            latest = self.today.replace(year=year)
        except ValueError:  # 29 February
            latest = self.today.replace(year=year, day=28)
        return latest - timedelta(days=rng.randrange(365))

    def _id_number(self, rng, birth: date, sex: str, floating: bool) -> str:
        pool = SHANDONG_AREAS if floating else JINAN_AREAS
        for _ in range(100):
            sequence = rng.randrange(100) * 10 + rng.randrange(5) * 2 + (1 if sex == "M" else 0)
            first17 = f"{rng.choice(pool)}{birth:%Y%m%d}{sequence:03d}"
            number = first17 + resident_id_check_character(first17)
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number
        raise RuntimeError("could not find a free demo ID number")  # pragma: no cover

    def _plate(self, rng, new_energy: bool) -> str:
        for _ in range(1000):
            if new_energy:
                plate = "鲁A" + rng.choice("DDDF") + rng.choice(PLATE_LETTERS + "0123456789")
                plate += f"{rng.randrange(10000):04d}"
            else:
                plate = "鲁A" + "".join(
                    rng.choice(PLATE_LETTERS) if rng.random() < 0.2 else rng.choice("0123456789")
                    for _ in range(5)
                )
            if plate not in self.plates:
                self.plates.add(plate)
                return plate
        raise RuntimeError("could not find a free demo plate")  # pragma: no cover

    def _credit_code(self, rng, prefix: str) -> str:
        for _ in range(1000):
            body = "MA" + "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(6))
            organisation = body + organisation_code_check_character(body)
            first17 = f"{prefix}370198{organisation}"
            code = first17 + credit_code_check_character(first17)
            if code not in self.credit_codes:
                self.credit_codes.add(code)
                return code
        raise RuntimeError("could not find a free demo credit code")  # pragma: no cover

    # --- one community at a time ---

    def community(self, community: Region, street: Region, grids: Sequence[Region]) -> dict:
        """The rows of one community's grids, by model."""
        rows: dict = {model: [] for model in MODELS}
        village = community.code[9] in "23"  # 村 200–399 under a 镇
        for position, grid in enumerate(grids):
            rng = random.Random(f"{self.seed}:{grid.code}")
            self._grid(rng, rows, grid, community, street, village, first=position == 0)
        return rows

    def _grid(self, rng, rows, grid: Region, community: Region, street: Region, village: bool, first: bool):
        shape = Polygon(grid.boundary["coordinates"][0])
        prepared, bounds = prep(shape), shape.bounds
        code = grid.code
        target = max(1, round(self.houses_per_grid * rng.uniform(0.8, 1.2)))
        houses: list[tuple[int, str, tuple[float, float], str]] = []  # (pk, use, location, address)
        estates: list[str] = []

        def building(estate, name, kind, floors, where=None):
            pk = self._id(Building)
            lon, lat = where or self._point(rng, shape, prepared, bounds)
            address = f"{community.name}{estate}{name}"
            rows[Building].append((pk, code, code, lon, lat, estate, name, address, kind, floors))
            return pk, (lon, lat), address

        def unit(building_pk, name):
            pk = self._id(Unit)
            rows[Unit].append((pk, building_pk, name))
            return pk

        def house(building_pk, unit_pk, number, address, where, use, area):
            pk = self._id(House)
            rows[House].append((pk, code, code, *where, building_pk, unit_pk, number, address, area, use))
            houses.append((pk, use, where, address))

        if village:
            group = int(code[-3:])
            estate = f"{group}组"
            for k in range(1, target + 1):
                b_pk, where, address = building(
                    estate, f"{k}号", Building.Kind.VILLAGE_HOUSE, rng.choice([1, 2])
                )
                use = rng.choices(["self_occupied", "vacant", "rented"], [87, 8, 5])[0]
                area = Decimal(f"{rng.uniform(80, 220):.2f}")
                house(b_pk, unit(b_pk, ""), "1", address, where, use, area)
        else:
            remaining = target
            if (target >= 12 and rng.random() < 0.4) or (first and target >= 4):
                road = rng.choice(ROADS)
                shops = min(rng.randint(2, 6), max(1, remaining // 4))
                b_pk, where, address = building(
                    f"{road}沿街商铺", f"{rng.randint(1, 300)}号", Building.Kind.COMMERCIAL, 2
                )
                u_pk = unit(b_pk, "")
                for s in range(1, shops + 1):
                    area = Decimal(f"{rng.uniform(25, 150):.2f}")
                    house(b_pk, u_pk, f"1{s:02d}", f"{address}1{s:02d}", where, "commercial", area)
                remaining -= shops
            while remaining > 0:
                for _ in range(100):
                    estate = rng.choice(ESTATE_FIRST) + rng.choice(ESTATE_FIRST) + rng.choice(ESTATE_SECOND)
                    estate += rng.choice(ESTATE_SUFFIXES)
                    if estate not in estates:
                        break
                estates.append(estate)
                count = min(rng.randint(3, 8), remaining)
                if remaining > count * 48:
                    quotas = [rng.randint(18, 48) for _ in range(count)]
                else:
                    quotas = [remaining // count + (1 if k < remaining % count else 0) for k in range(count)]
                for number, quota in enumerate(quotas, start=1):
                    units = 1 if quota <= 12 else 2 if quota <= 30 else 3
                    floors = math.ceil(quota / (units * 2))
                    b_pk, where, address = building(
                        estate, f"{number}号楼", Building.Kind.RESIDENTIAL, floors
                    )
                    made = 0
                    for u in range(1, units + 1):
                        u_pk = unit(b_pk, f"{u}单元")
                        for floor in range(1, floors + 1):
                            for room in (1, 2):
                                if made == quota:
                                    break
                                made += 1
                                use = rng.choices(["self_occupied", "rented", "vacant"], [77, 16, 7])[0]
                                area = Decimal(f"{min(200, max(35, rng.gauss(92, 22))):.2f}")
                                number_text = f"{floor}{room:02d}"
                                house(
                                    b_pk,
                                    u_pk,
                                    number_text,
                                    f"{address}{u}单元{number_text}",
                                    where,
                                    use,
                                    area,
                                )
                remaining -= sum(quotas)

        self._people(rng, rows, code, houses, village)
        self._organisations(
            rng, rows, grid, community, street, houses, estates, village, first, shape, prepared, bounds
        )
        self._facilities(rng, rows, code, shape, prepared, bounds)

    # --- people, residencies, households, tags, vehicles ---

    def _family(self, rng, size: int, village: bool) -> list[tuple[str, int, str]]:
        """(relation to head, age, sex) of a household's members."""
        if size == 1:
            elderly = rng.random() < (0.5 if village else 0.4)
            age = rng.randint(60, 96) if elderly else rng.randint(20, 59)
            return [("本人", age, "F" if rng.random() < (0.6 if elderly else 0.45) else "M")]
        head_age = int(rng.triangular(24, 88, 46))
        head_sex = "M" if rng.random() < 0.7 else "F"
        members = [("本人", head_age, head_sex)]
        single_parent = size == 2 and rng.random() < 0.2
        if not single_parent:
            spouse_age = max(20, head_age + rng.randint(-6, 4) * (1 if head_sex == "M" else -1))
            members.append(("配偶", spouse_age, "F" if head_sex == "M" else "M"))
        if size >= 5 and head_age <= 58:
            for parent in range(min(2, size - len(members) - 1)):
                members.append(
                    (
                        "父亲" if parent == 0 else "母亲",
                        min(100, head_age + rng.randint(24, 32)),
                        "MF"[parent],
                    )
                )
        while len(members) < size:
            age = head_age - rng.randint(22, 38)
            if age < 0:
                age = rng.randint(0, max(0, head_age - 18))
            sex = "M" if rng.random() < 0.52 else "F"
            if age >= 20 and head_age >= 60 and len(members) >= 3 and rng.random() < 0.5:
                members.append(("孙子" if sex == "M" else "孙女", rng.randint(0, 16), sex))
            else:
                members.append(("子" if sex == "M" else "女", age, sex))
        return members

    def _person(self, rng, rows, code, relation, age, sex, surname, residence_type) -> Member:
        pk = self._id(Person)
        birth = self._birth(rng, age)
        name = self._name(rng, sex, surname)
        id_number = self._id_number(rng, birth, sex, residence_type != "registered")
        phone = self._mobile(rng) if 14 <= age <= 85 or rng.random() < 0.3 and age > 85 else ""
        seal, index = self.sealer.encrypt, self.sealer.blind_index
        ethnicity = "汉族" if rng.random() < 0.993 else rng.choice(["回族", "回族", "满族", "蒙古族"])
        rows[Person].append(
            (
                pk,
                code,
                code,
                name,
                seal(id_number, self.person_ad["id_number"]),
                index(id_number, self.id_index),
                sex,
                birth,
                seal(phone, self.person_ad["phone"]),
                index(phone, self.phone_index),
                ethnicity,
                residence_type,
                "",
                "",
                "",
                self.now,
            )
        )
        return Member(pk, name, sex, birth, relation)

    def _age(self, birth: date) -> int:
        t = self.today
        return t.year - birth.year - ((t.month, t.day) < (birth.month, birth.day))

    def _people(self, rng, rows, code, houses, village):
        sizes = Weighted(VILLAGE_SIZES if village else URBAN_SIZES)
        owners: list[int] = []
        household_seq = 0
        for house_pk, use, _where, _address in houses:
            if use == "commercial":
                continue
            if use == "vacant":
                if owners and rng.random() < 0.6:
                    self._residency(rng, rows, code, rng.choice(owners), house_pk, "owner", None)
                continue
            tenants = use == "rented"
            if tenants:
                size = rng.choices([1, 2, 3, 4], [20, 35, 30, 15])[0]
                residence_type = "floating" if rng.random() < 0.7 else "separated"
                family = [
                    ("本人" if k == 0 else "同住", rng.randint(19, 55), rng.choice("MF")) for k in range(size)
                ]
                if owners:
                    self._residency(rng, rows, code, rng.choice(owners), house_pk, "owner", None)
            else:
                size = sizes(rng)
                roll = rng.random()
                residence_type = "registered" if roll < 0.85 else "separated" if roll < 0.95 else "floating"
                family = self._family(rng, size, village)
            head_surname = SURNAMES(rng)
            members: list[Member] = []
            for relation, age, sex in family:
                shares_surname = relation in ("本人", "子", "女", "孙子", "孙女", "父亲") and not tenants
                members.append(
                    self._person(
                        rng,
                        rows,
                        code,
                        relation,
                        age,
                        sex,
                        head_surname if shares_surname else None,
                        residence_type,
                    )
                )
            moved_in = self.today - timedelta(days=rng.randint(60, 25 * 365))
            for member in members:
                relation = "tenant" if tenants else "owner" if member.relation_to_head == "本人" else "family"
                start = max(moved_in, member.birth)
                self._residency(rng, rows, code, member.pk, house_pk, relation, start)
                if rng.random() < 0.08 and len(houses) > 1 and start > member.birth + timedelta(days=400):
                    other = rng.choice(houses)[0]
                    if other != house_pk:
                        past_start = max(member.birth, start - timedelta(days=rng.randint(365, 3650)))
                        past_end = start - timedelta(days=1)
                        rows[Residency].append(
                            (
                                self._id(Residency),
                                code,
                                code,
                                member.pk,
                                other,
                                "tenant",
                                past_start,
                                past_end,
                            )
                        )
            if not tenants:
                owners.append(members[0].pk)
            household_seq += 1
            household_pk = self._id(Household)
            rows[Household].append(
                (household_pk, code, code, f"{code}{household_seq:04d}", house_pk, members[0].pk)
            )
            for member in members:
                rows[HouseholdMember].append(
                    (self._id(HouseholdMember), household_pk, member.pk, member.relation_to_head)
                )
            self._tags(rng, rows, code, members, village, tenants)
            self._vehicle(rng, rows, code, members[0], village)

    def _residency(self, rng, rows, code, person_pk, house_pk, relation, start):
        if start is None:
            start = self.today - timedelta(days=rng.randint(365, 20 * 365))
        rows[Residency].append((self._id(Residency), code, code, person_pk, house_pk, relation, start, None))

    def _tag(self, rng, rows, code, member: Member, tag: str, basis: str, detail: str = ""):
        consent_pk = None
        reference = ""
        if basis == LegalBasis.SEPARATE_CONSENT:
            consent_pk = self._id(Consent)
            granted = self.now - timedelta(days=rng.randint(1, 900))
            rows[Consent].append((consent_pk, member.pk, f"tag:{tag}", basis, CONSENT_NOTICE, granted, None))
        else:
            reference = str(STATUTORY_REFERENCES.get(tag, ""))
        earliest = max(member.birth, self.today - timedelta(days=3650))
        since = earliest + timedelta(days=rng.randint(0, max(0, (self.today - earliest).days)))
        rows[PersonTag].append(
            (self._id(PersonTag), code, code, member.pk, tag, detail, basis, reference, consent_pk, since)
        )

    def _tags(self, rng, rows, code, members: list[Member], village: bool, tenants: bool):
        statutory, consent = LegalBasis.STATUTORY_DUTY, LegalBasis.SEPARATE_CONSENT
        dibao = not tenants and rng.random() < (0.035 if village else 0.02)
        for member in members:
            age = self._age(member.birth)
            if age < 18:
                self._tag(rng, rows, code, member, Tag.MINOR, statutory)
            if age >= 80:
                self._tag(rng, rows, code, member, Tag.AGED_80, statutory)
            alone = len(members) == 1 and age >= 60 and not tenants
            if alone:
                self._tag(
                    rng, rows, code, member, Tag.ELDERLY_ALONE, statutory if rng.random() < 0.85 else consent
                )
            disabled_chance = 0.01 if age < 18 else 0.02 if age < 60 else 0.05
            if rng.random() < disabled_chance:
                kind = Weighted(DISABILITY_TYPES)(rng)
                grade = Weighted(DISABILITY_GRADES)(rng)
                basis = statutory if rng.random() < 0.8 else consent
                self._tag(rng, rows, code, member, Tag.DISABLED, basis, f"{kind}残疾 {grade}")
            if (member.sex == "M" and age >= 35 and rng.random() < 0.09) or (
                member.sex == "F" and age >= 40 and rng.random() < 0.005
            ):
                self._tag(rng, rows, code, member, Tag.VETERAN, statutory)
            if alone and rng.random() < 0.06:
                self._tag(rng, rows, code, member, Tag.TEKUN, statutory)
            elif dibao:
                self._tag(rng, rows, code, member, Tag.DIBAO, statutory)
            if age >= 18 and rng.random() < 0.085:
                self._tag(
                    rng, rows, code, member, Tag.PARTY_MEMBER, statutory if rng.random() < 0.5 else consent
                )
            if (age >= 70 or age < 14) and rng.random() < 0.02:
                self._tag(rng, rows, code, member, Tag.NEEDS_CARE, consent)

    def _vehicle(self, rng, rows, code, head: Member, village: bool):
        if not 18 <= self._age(head.birth) <= 75 or rng.random() > (0.35 if village else 0.45):
            return
        roll = rng.random()
        if roll < 0.18:
            plate, kind = self._plate(rng, True), Vehicle.Kind.NEW_ENERGY
        else:
            plate = self._plate(rng, False)
            kind = Vehicle.Kind.TRUCK if village and roll > 0.95 else Vehicle.Kind.CAR
        rows[Vehicle].append((self._id(Vehicle), code, code, plate, head.pk, kind))

    # --- organisations and facilities ---

    def _organisation(self, rng, rows, code, where, name, prefix, kind, house_pk=None, address=""):
        contact = self._name(rng, rng.choice("MF"))
        phone = self.sealer.encrypt(self._mobile(rng), self.organisation_ad)
        rows[Organisation].append(
            (
                self._id(Organisation),
                code,
                code,
                *where,
                name,
                self._credit_code(rng, prefix),
                kind,
                house_pk,
                address,
                contact,
                phone,
            )
        )

    def _organisations(
        self, rng, rows, grid, community, street, houses, estates, village, first, shape, prepared, bounds
    ):
        code = grid.code
        point = lambda: self._point(rng, shape, prepared, bounds)  # noqa: E731
        K = Organisation.Kind
        place = community.name
        if first:
            if village:
                self._organisation(rng, rows, code, point(), f"{place}股份经济合作社", "N2", K.COLLECTIVE)
                self._organisation(rng, rows, code, point(), f"中共{place}支部委员会", "Y1", K.PARTY)
            else:
                self._organisation(rng, rows, code, point(), f"中共{place}委员会", "Y1", K.PARTY)
                self._organisation(rng, rows, code, point(), f"{place}卫生服务站", "12", K.PUBLIC)
                self._organisation(rng, rows, code, point(), f"{place}志愿服务协会", "51", K.SOCIAL)
        for house_pk, use, where, address in houses:
            if use == "commercial":
                trade = rng.choice(SHOP_TRADES)
                name = f"{street.name[:2]}{SURNAMES(rng)}记{trade}"
                self._organisation(rng, rows, code, where, name, "92", K.SHOP, house_pk, address)
        for estate in estates:
            if rng.random() < 0.3:
                name = f"济南{estate}物业服务有限公司"
                self._organisation(rng, rows, code, point(), name, "91", K.PROPERTY)
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            trade = rng.choice(COMPANY_TRADES)
            name = f"济南{rng.choice(ESTATE_FIRST)}{rng.choice(ESTATE_FIRST)}{trade}有限公司"
            if village and rng.random() < 0.5:
                name = f"{place}{rng.choice(['果蔬', '养殖', '农机', '苗木'])}专业合作社"
                self._organisation(rng, rows, code, point(), name, "93", K.ENTERPRISE)
            else:
                self._organisation(rng, rows, code, point(), name, "91", K.ENTERPRISE)

    def _facilities(self, rng, rows, code, shape, prepared, bounds):
        kinds = Weighted((k, w) for k in FACILITY_KINDS for w in [k[2]])
        for _ in range(rng.randint(6, 20)):
            kind, class_code, _share = kinds(rng)
            seq = self.facility_seq.get(class_code, 0) + 1
            self.facility_seq[class_code] = seq
            lon, lat = self._point(rng, shape, prepared, bounds)
            state = rng.choices(["normal", "damaged", "lost"], [96, 3.5, 0.5])[0]
            rows[Facility].append(
                (self._id(Facility), code, code, lon, lat, kind, f"370198{class_code}{seq:06d}", kind, state)
            )


def generate(district: Region, scale: Scale, rng: random.Random, *, progress=None) -> Counts:
    """Write the registry rows of every grid in ``district``; returns the counts by model."""
    generator = RegistryGenerator(rng.getrandbits(64), houses_per_grid(scale))
    write = _table_writer()
    counts = Counts()
    regions = Region.objects.filter(code__startswith=district.code).only(
        "code", "name", "level", "parent_id", "boundary"
    )
    by_code = {r.code: r for r in regions}
    grids_of: dict[str, list[Region]] = {}
    for region in by_code.values():
        if region.level == Level.GRID:
            grids_of.setdefault(region.parent_id, []).append(region)
    communities = sorted(c for c in grids_of)
    for done, community_code in enumerate(communities, start=1):
        community = by_code[community_code]
        grids = sorted(grids_of[community_code], key=lambda r: r.code)
        rows = generator.community(community, by_code[community.parent_id], grids)
        for model in MODELS:
            write(model, rows[model])
        counts.add(rows)
        if progress:
            progress(done, len(communities), counts)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), MODELS):
            cursor.execute(sql)
    return counts


def demo_extension(district: Region, scale: Scale, rng: random.Random) -> str:
    """``linli demo`` hook: build the registry of the demo district and say what it holds."""
    started = time.monotonic()
    c = generate(district, scale, rng)
    seconds = time.monotonic() - started
    return (
        f"登记 Registry: {c[Person]:,} 人 people, {c[Household]:,} 户 households, {c[House]:,} 房屋 houses "
        f"in {c[Building]:,} 楼栋 buildings, {c[PersonTag]:,} 标签 tags, {c[Organisation]:,} 组织 "
        f"organisations, {c[Facility]:,} 部件 facilities, {c[Vehicle]:,} 车辆 vehicles ({seconds:.1f} s)."
    )


def delete_registry(district_code: str) -> None:
    """``--reset`` hook: delete the registry rows of the demo district, dependants first, in plain SQL.

    The ORM's delete would load every row to cascade by hand, which takes minutes at a million people.
    """
    quote = connection.ops.quote_name
    like = f"{district_code}%"

    def table(model):
        return quote(model._meta.db_table)

    people = f"SELECT id FROM {table(Person)} WHERE region_code LIKE %s"
    households = f"SELECT id FROM {table(Household)} WHERE region_code LIKE %s"
    buildings = f"SELECT id FROM {table(Building)} WHERE region_code LIKE %s"
    statements = [
        (f"DELETE FROM {table(Vehicle)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Facility)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Organisation)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(PersonTag)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(HouseholdMember)} WHERE household_id IN ({households})", [like]),
        (f"DELETE FROM {table(Household)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Residency)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Consent)} WHERE person_id IN ({people})", [like]),
        (f"DELETE FROM {table(HouseholdMember)} WHERE person_id IN ({people})", [like]),
        (f"DELETE FROM {table(Residency)} WHERE person_id IN ({people})", [like]),
        (f"DELETE FROM {table(Person)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(House)} WHERE region_code LIKE %s", [like]),
        (f"DELETE FROM {table(Unit)} WHERE building_id IN ({buildings})", [like]),
        (f"DELETE FROM {table(Building)} WHERE region_code LIKE %s", [like]),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
