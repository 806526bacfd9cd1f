"""Importing houses, people with residency, and organisations from Excel; exporting the user's scope.

``import_workbook`` is the one synchronous entry point (pages, API, CLI and tests call it; ``run_job``
wraps it for the background worker). It works in three steps:

1. read and check every row in Python (``services.clean_person`` and friends, so the rules are the register's
   own); duplicates inside the file and rows outside the user's scope are errors of their row;
2. inside one transaction, per batch of ``BATCH_SIZE`` rows, look up what exists with one query per table
   (houses by estate/building/unit/room, people by blind index, organisations by credit code) and decide
   create / update / unchanged; unknown houses and people registered outside the scope are row errors;
3. unless there are errors and the caller did not ask to keep valid rows, write the batches with
   ``bulk_create``/``bulk_update`` (which encrypt, and fill the blind indexes) and audit the import once.

Any exception inside step 2 or 3 rolls the whole file back, so a crash leaves nothing written. Error messages
never echo an identifier unmasked; only the error sheet (the uploader's own rows) holds them, encrypted.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl.utils.datetime import from_excel

from linli.core import clock
from linli.core.audit import record
from linli.core.models import Region, User
from linli.core.pii.bulk import FieldSealer
from linli.core.pii.fields import BlindIndexField, EncryptedFieldMixin
from linli.core.pii.masking import mask
from linli.core.scope import code_within

from . import excel, services
from .models import (
    Building,
    House,
    ImportJob,
    LegalBasis,
    Organisation,
    Person,
    PersonTag,
    Residency,
    Unit,
)

log = logging.getLogger("linli.registry.imports")

BATCH_SIZE = 2000
SHOWN_ERRORS = 200  # errors kept on the job for the page; the error sheet has them all
Progress = Callable[[str, int, int], None]


@dataclass
class RowError:
    row: int
    header: str
    letter: str
    message: str

    def __str__(self) -> str:
        if self.header:
            return _("Row %(row)d, column %(letter)s (%(header)s): %(message)s") % {
                "row": self.row,
                "letter": self.letter or "-",
                "header": self.header,
                "message": self.message,
            }
        return _("Row %(row)d: %(message)s") % {"row": self.row, "message": self.message}

    def as_dict(self) -> dict:
        return {"row": self.row, "header": self.header, "letter": self.letter, "message": self.message}


@dataclass
class ImportResult:
    kind: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    problem: str = ""  # the whole file was refused (headers, size, not Excel …)
    written: bool = False
    error_sheet: bytes | None = None

    @property
    def error_rows(self) -> int:
        return len({error.row for error in self.errors})


@dataclass
class Row:
    number: int
    cells: tuple
    values: dict = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column key, message)
    action: str = ""  # create, update or unchanged, once planned
    plan: dict = field(default_factory=dict)

    def fail(self, key: str, message: str) -> None:
        self.errors.append((key, message))


class Importer:
    """What one kind of workbook needs: how to check a row, plan a batch and write it."""

    kind: str

    def __init__(self, *, user: User | None, region: Region, positions: dict[str, int]) -> None:
        self.user, self.region, self.positions = user, region, positions
        self.regions: dict[str, Region] = {region.code: region}

    # -- helpers for rows --

    def text(self, row: Row, key: str) -> str:
        position = self.positions.get(key)
        return excel.cell_text(row.cells[position]) if position is not None else ""

    def raw(self, row: Row, key: str):
        position = self.positions.get(key)
        return row.cells[position] if position is not None else None

    def has(self, key: str) -> bool:
        return key in self.positions

    def region_code(self, row: Row) -> str:
        code = self.text(row, "region") or self.region.code
        if not code.isdigit() or len(code) not in (6, 9, 12, 15):
            row.fail(
                "region", _("“%(value)s” is not a region code (6, 9, 12 or 15 digits).") % {"value": code}
            )
        elif self.user is not None and not code_within(code, self.user.scope_codes):
            row.fail("region", _("Region %(code)s is outside your scope.") % {"code": code})
        return code

    def load_regions(self, rows: list[Row]) -> None:
        """Resolve the region codes of a batch (one query); an unknown code is an error of its row."""
        wanted = {row.values["region_code"] for row in rows} - set(self.regions)
        if wanted:
            self.regions.update((r.code, r) for r in Region.objects.filter(code__in=wanted))
        for row in rows:
            if row.values["region_code"] not in self.regions:
                row.fail(
                    "region",
                    _("There is no region with code %(code)s.") % {"code": row.values["region_code"]},
                )

    def choice(self, row: Row, key: str, choices: dict[str, str], default: str | None) -> str | None:
        text = self.text(row, key)
        if not text:
            return default
        value = excel.choice(choices, text)
        if value is None:
            row.fail(
                key,
                _("“%(value)s” is not one of: %(words)s.") % {"value": text, "words": "、".join(choices)},
            )
        return value

    # -- the three steps --

    def clean(self, row: Row) -> None:
        raise NotImplementedError

    def key(self, row: Row) -> tuple:
        """What identifies the record of a row; two rows with one key in a file are an error."""
        raise NotImplementedError

    def duplicate_message(self, row: Row, first: int) -> tuple[str, str]:
        return "", _("This row repeats row %(row)d.") % {"row": first}

    def plan(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def write(self, rows: list[Row]) -> None:
        raise NotImplementedError


# --- Houses ------------------------------------------------------------------------------------------------


class HouseImporter(Importer):
    kind = ImportJob.Kind.HOUSES

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buildings: dict[tuple, Building] = {}
        self.units: dict[tuple, Unit] = {}

    def clean(self, row: Row) -> None:
        values = row.values
        values["region_code"] = self.region_code(row)
        values["estate"] = self.text(row, "estate")
        values["building"] = self.text(row, "building")
        values["unit"] = self.text(row, "unit")
        values["room"] = self.text(row, "room")
        values["address"] = self.text(row, "address")
        for key in ("building", "room"):
            if not values[key]:
                row.fail(key, _("This column is required; fill it in."))
        values["area"] = parse_area(row, self.raw(row, "area"))
        values["use"] = self.choice(row, "use", excel.HOUSE_USES, None)

    def key(self, row: Row) -> tuple:
        v = row.values
        return (v["region_code"], v["estate"], v["building"], v["unit"], v["room"])

    def plan(self, rows: list[Row]) -> None:
        self.load_regions(rows)
        rows = [row for row in rows if not row.errors]
        names = {row.values["building"] for row in rows}
        codes = {row.values["region_code"] for row in rows}
        for building in Building.objects.filter(region_id__in=codes, name__in=names):
            self.buildings[(building.region_id, building.estate, building.name)] = building
        building_ids = [b.pk for b in self.buildings.values() if b.pk]
        for unit in Unit.objects.filter(building_id__in=building_ids):
            self.units[(unit.building_id, unit.name)] = unit
        unit_ids = {self.units[k].pk for k in self.units}
        rooms = {row.values["room"] for row in rows}
        houses = {
            (house.unit_id, house.number): house
            for house in House.objects.filter(unit_id__in=unit_ids, number__in=rooms)
        }
        for row in rows:
            v = row.values
            building = self.buildings.get((v["region_code"], v["estate"], v["building"]))
            unit = self.units.get((building.pk, v["unit"])) if building else None
            house = houses.get((unit.pk, v["room"])) if unit else None
            row.plan["house"] = house
            if house is None:
                row.action = "create"
                continue
            changes = {}
            if v["area"] is not None and house.area != v["area"]:
                changes["area"] = v["area"]
            if v["use"] and house.use != v["use"]:
                changes["use"] = v["use"]
            row.plan["changes"] = changes
            row.action = "update" if changes else "unchanged"

    def write(self, rows: list[Row]) -> None:
        new_buildings: dict[tuple, Building] = {}
        for row in rows:
            v = row.values
            key = (v["region_code"], v["estate"], v["building"])
            if row.action == "create" and key not in self.buildings and key not in new_buildings:
                region = self.regions[v["region_code"]]
                new_buildings[key] = Building(
                    region=region,
                    region_code=region.code,
                    estate=v["estate"],
                    name=v["building"],
                    address=v["address"] or f"{v['estate']}{v['building']}",
                )
        Building.objects.bulk_create(new_buildings.values(), batch_size=BATCH_SIZE)
        self.buildings.update(new_buildings)
        new_units: dict[tuple, Unit] = {}
        for row in rows:
            if row.action != "create":
                continue
            v = row.values
            building = self.buildings[(v["region_code"], v["estate"], v["building"])]
            key = (building.pk, v["unit"])
            if key not in self.units and key not in new_units:
                new_units[key] = Unit(building=building, name=v["unit"])
        Unit.objects.bulk_create(new_units.values(), batch_size=BATCH_SIZE)
        self.units.update(new_units)
        creates, updates = [], []
        for row in rows:
            v = row.values
            if row.action == "create":
                building = self.buildings[(v["region_code"], v["estate"], v["building"])]
                unit = self.units[(building.pk, v["unit"])]
                creates.append(
                    House(
                        region_id=building.region_id,
                        region_code=building.region_id,
                        building=building,
                        unit=unit,
                        number=v["room"],
                        address=f"{building.address}{unit.name}{v['room']}",
                        area=v["area"],
                        use=v["use"] or House.Use.SELF_OCCUPIED,
                    )
                )
            elif row.action == "update":
                house = row.plan["house"]
                for name, value in row.plan["changes"].items():
                    setattr(house, name, value)
                updates.append(house)
        House.objects.bulk_create(creates, batch_size=BATCH_SIZE)
        if updates:
            House.objects.bulk_update(updates, ["area", "use"], batch_size=BATCH_SIZE)


def parse_area(row: Row, value) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        area = Decimal(str(value).strip().removesuffix("㎡").removesuffix("m²")).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        row.fail("area", _("“%(value)s” is not a number of square metres.") % {"value": value})
        return None
    if not 0 < area < 100000:
        row.fail("area", _("The floor area must be more than 0 and less than 100,000 m²."))
        return None
    return area


# --- People with residency ---------------------------------------------------------------------------------

# Person fields an import may set, with the column that carries each (None: derived from the ID number).
PERSON_FIELDS = {
    "name": "name",
    "id_number": "id_number",
    "sex": None,
    "birth_date": None,
    "phone": "phone",
    "ethnicity": "ethnicity",
    "residence_type": "residence_type",
    "region": "region",
    "contact_name": "contact_name",
    "contact_phone": "contact_phone",
}
HOUSE_KEYS = ("estate", "building", "unit", "room")


class PeopleImporter(Importer):
    kind = ImportJob.Kind.PEOPLE

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.index_field = Person._meta.get_field("id_number_index")
        # Which person fields this file sets: a column left out of the file leaves the stored value alone.
        self.fields = [
            name
            for name, column in PERSON_FIELDS.items()
            if column is None or column == "region" or self.has(column)
        ]

    def clean(self, row: Row) -> None:
        values = row.values
        values["region_code"] = self.region_code(row)
        data = services.PersonInput(
            name=self.text(row, "name"),
            id_number=self.raw(row, "id_number"),
            region=self.region,  # replaced by the row's region once regions are loaded
            phone=self.raw(row, "phone") or "",
            ethnicity=self.text(row, "ethnicity") or "汉族",
            residence_type=self.choice(row, "residence_type", excel.RESIDENCE_TYPES, "registered") or "",
            contact_name=self.text(row, "contact_name"),
            contact_phone=self.raw(row, "contact_phone") or "",
        )
        try:
            person = self.clean_person(data)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                if name == "residence_type" and any(k == "residence_type" for k, _m in row.errors):
                    continue
                for message in messages:
                    row.fail(name, message)
        else:
            values["person"] = person
        house = {key: self.text(row, key) for key in HOUSE_KEYS}
        values["house_key"] = tuple(house.values()) if any(house.values()) else None
        if values["house_key"]:
            for key in ("building", "room"):
                if not house[key]:
                    row.fail(key, _("A house needs its building and room number; fill it in."))
            values["relation"] = self.choice(row, "relation", excel.RELATIONS, None)
            if values["relation"] is None and not self.text(row, "relation"):
                row.fail("relation", _("Say how the person is related to the house."))
        values["start"] = parse_date(row, "start", self.raw(row, "start"))
        tags = []
        for word in split_words(self.text(row, "tags")):
            tag = excel.choice(excel.TAGS, word)
            if tag is None:
                row.fail(
                    "tags",
                    _("“%(value)s” is not one of: %(words)s.")
                    % {"value": word, "words": "、".join(excel.TAGS)},
                )
            elif tag not in tags:
                tags.append(tag)
        values["tags"] = tags

    def clean_person(self, data: services.PersonInput) -> dict:
        """The register's own checks of a person (a seam for tests that inject a crash)."""
        return services.clean_person(data)

    def key(self, row: Row) -> tuple:
        return (row.values["person"]["id_number"],) if "person" in row.values else (row.number,)

    def duplicate_message(self, row: Row, first: int) -> tuple[str, str]:
        number = row.values["person"]["id_number"]
        return "id_number", _("ID number %(value)s is also on row %(row)d; each person may appear once.") % {
            "value": mask("id_number", number),
            "row": first,
        }

    def plan(self, rows: list[Row]) -> None:
        self.load_regions(rows)
        rows = [row for row in rows if not row.errors]
        sealer = FieldSealer()  # one keyring look-up for the batch, not one per ID number
        by_index: dict[str, Row] = {}
        for row in rows:
            row.values["person"]["region"] = self.regions[row.values["region_code"]]
            for index in sealer.blind_indexes(row.values["person"]["id_number"], self.index_field):
                by_index[index] = row
        existing = Person.objects.filter(id_number_index__in=list(by_index))
        for person in existing:
            by_index[person.id_number_index].plan["person"] = person
        self.resolve_houses(rows)
        people = [row.plan["person"].pk for row in rows if row.plan.get("person")]
        residencies = {
            (r.person_id, r.house_id): r for r in Residency.objects.filter(person_id__in=people, end=None)
        }
        tags = set(PersonTag.objects.filter(person_id__in=people).values_list("person_id", "tag"))
        for row in rows:
            if row.errors:
                continue
            person = row.plan.get("person")
            values = row.values["person"]
            house = row.plan.get("house")
            if person is None:
                row.action = "create"
                continue
            if self.user is not None and not code_within(person.region_code, self.user.scope_codes):
                row.fail(
                    "id_number",
                    _("This ID number is already registered outside your scope; ask the district office."),
                )
                continue
            changes = [name for name in self.fields if _differs(person, name, values[name])]
            row.plan["changes"] = changes
            changed = bool(changes)
            if house is not None:
                residency = residencies.get((person.pk, house.pk))
                row.plan["residency"] = residency
                start = row.values["start"]
                if residency is None:
                    changed = True
                elif residency.relation != row.values["relation"] or (start and residency.start != start):
                    changed = True
                    row.plan["residency_changed"] = True
            new_tags = [tag for tag in row.values["tags"] if (person.pk, tag) not in tags]
            row.plan["new_tags"] = new_tags
            row.action = "update" if changed or new_tags else "unchanged"

    def resolve_houses(self, rows: list[Row]) -> None:
        """Find each row's house with one query for the batch; unknown or ambiguous houses are row errors."""
        keyed = [row for row in rows if row.values["house_key"]]
        if not keyed:
            return
        houses = House.objects.filter(
            number__in={row.values["house_key"][3] for row in keyed},
            building__name__in={row.values["house_key"][1] for row in keyed},
        )
        if self.user is not None:
            houses = houses.visible_to(self.user)
        found = defaultdict(list)
        for house in houses.select_related("building", "unit").only(
            "id", "region_id", "region_code", "number", "building__estate", "building__name", "unit__name"
        ):
            found[(house.building.estate, house.building.name, house.unit.name, house.number)].append(house)
        for row in keyed:
            candidates = found.get(row.values["house_key"], [])
            if len(candidates) > 1:
                code = row.values["region_code"]
                candidates = [h for h in candidates if h.region_code.startswith(code)] or candidates
            if not candidates:
                row.fail(
                    "room",
                    _(
                        "There is no house %(house)s in your scope; check the estate, building, unit and "
                        "room, or import the house first."
                    )
                    % {"house": "".join(row.values["house_key"])},
                )
            elif len(candidates) > 1:
                row.fail(
                    "region",
                    _("Several houses %(house)s are in your scope; give the grid's region code.")
                    % {"house": "".join(row.values["house_key"])},
                )
            else:
                row.plan["house"] = candidates[0]

    def build_person(self, values: dict) -> Person:
        region = values["region"]
        return Person(**values, region_code=region.code)

    def write(self, rows: list[Row]) -> None:
        now = clock.now()
        sealer = FieldSealer()
        creates = []
        for row in rows:
            if row.action == "create":
                row.plan["person"] = self.build_person(row.values["person"])
                creates.append(row.plan["person"])
        insert(Person, creates, sealer)
        updates = []
        for row in rows:
            if row.action == "update" and row.plan["changes"]:
                person = row.plan["person"]
                for name in row.plan["changes"]:
                    setattr(person, name, row.values["person"][name])
                person.region_code = person.region_id
                person.updated_at = now
                updates.append(person)
        if updates:
            # bulk_update encrypts but skips the blind indexes' pre_save: compute them here.
            index_fields = [Person._meta.get_field(name) for name in ("id_number_index", "phone_index")]
            for person in updates:
                for index_field in index_fields:
                    value = getattr(person, index_field.source)
                    setattr(person, index_field.attname, sealer.blind_index(str(value or ""), index_field))
            fields = sorted(
                {name for person in updates for name in self.fields}
                | {"region_code", "updated_at", "id_number_index", "phone_index"}
            )
            Person.objects.bulk_update(updates, fields, batch_size=BATCH_SIZE)
        new_residencies, changed_residencies, new_tags = [], [], []
        for row in rows:
            person, house = row.plan.get("person"), row.plan.get("house")
            if row.action not in ("create", "update"):
                continue
            if house is not None:
                residency = row.plan.get("residency")
                if residency is None:
                    new_residencies.append(
                        Residency(
                            person_id=person.pk,
                            house_id=house.pk,
                            relation=row.values["relation"],
                            start=row.values["start"],
                            region_id=house.region_id,
                            region_code=house.region_code,
                        )
                    )
                elif row.plan.get("residency_changed"):
                    residency.relation = row.values["relation"]
                    residency.start = row.values["start"] or residency.start
                    changed_residencies.append(residency)
            tags = row.values["tags"] if row.action == "create" else row.plan.get("new_tags", [])
            for tag in tags:
                new_tags.append(
                    PersonTag(
                        person_id=person.pk,
                        tag=tag,
                        basis=LegalBasis.STATUTORY_DUTY,
                        basis_reference=str(services.STATUTORY_REFERENCES.get(tag, "")),
                        region_id=person.region_id,
                        region_code=person.region_id,
                    )
                )
        insert(Residency, new_residencies, sealer)
        if changed_residencies:
            Residency.objects.bulk_update(changed_residencies, ["relation", "start"], batch_size=BATCH_SIZE)
        insert(PersonTag, new_tags, sealer)


def insert(model, objects: list, sealer: FieldSealer) -> None:
    """Insert new ``objects`` as ``bulk_create`` does; on PostgreSQL with ``COPY`` (several times faster).

    The COPY path takes the primary keys from the table's own sequence first (one query, safe beside other
    writers), then writes every concrete field: encrypted fields sealed by ``FieldSealer`` with the field's
    own associated data, blind indexes computed as ``BlindIndexField.pre_save`` does (and set on the object),
    ``auto_now`` dates filled by the field. The rows are those ``bulk_create`` would write; the tests decrypt
    them through the ORM and find them by blind index.
    """
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
        return
    meta = model._meta
    fields = meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
    getters = []
    for model_field in fields:
        if isinstance(model_field, EncryptedFieldMixin):
            getters.append(_sealed(model_field, sealer))
        elif isinstance(model_field, BlindIndexField):
            getters.append(_indexed(model_field, sealer))
        elif getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
            getters.append(lambda obj, f=model_field: f.pre_save(obj, True))
        else:
            getters.append(lambda obj, name=model_field.attname: getattr(obj, name))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([get(obj) for get in getters])
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


def _sealed(model_field, sealer: FieldSealer):
    name, associated_data = model_field.attname, model_field.associated_data

    def get(obj):
        value = getattr(obj, name)
        return value if value is None or value == "" else sealer.encrypt(str(value), associated_data)

    return get


def _indexed(model_field, sealer: FieldSealer):
    source, name = model_field.source, model_field.attname

    def get(obj):
        value = getattr(obj, source)
        index = None if value is None or value == "" else sealer.blind_index(str(value), model_field)
        setattr(obj, name, index)
        return index

    return get


def _differs(person: Person, name: str, value) -> bool:
    if name == "region":  # compare keys: reading person.region would cost a query per row
        return person.region_id != value.code
    return getattr(person, name) != value


def split_words(text: str) -> list[str]:
    for separator in ("，", ",", "；", ";", "/", " "):
        text = text.replace(separator, "、")
    return [word.strip() for word in text.split("、") if word.strip()]


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")


def parse_date(row: Row, key: str, value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and 1 <= value < 100000:
        return from_excel(value).date()
    text = excel.cell_text(value)
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    row.fail(key, _("“%(value)s” is not a date; write it as 2020-01-31.") % {"value": text})
    return None


# --- Organisations -----------------------------------------------------------------------------------------

ORGANISATION_FIELDS = ("name", "kind", "region", "address", "contact_name", "contact_phone")


class OrganisationImporter(Importer):
    kind = ImportJob.Kind.ORGANISATIONS

    def clean(self, row: Row) -> None:
        values = row.values
        values["region_code"] = self.region_code(row)
        kind_text = self.text(row, "kind")
        kind = excel.choice(excel.ORGANISATION_KINDS, kind_text) or kind_text
        fields = {"contact_phone": self.raw(row, "contact_phone") or ""}
        try:
            values["credit_code"] = services.clean_organisation(
                self.text(row, "name"), self.raw(row, "credit_code"), kind, fields
            )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                for message in messages:
                    if name == "kind":
                        message = _("“%(value)s” is not one of: %(words)s.") % {
                            "value": kind_text,
                            "words": "、".join(excel.ORGANISATION_KINDS),
                        }
                    row.fail(name, message)
        values.update(
            name=self.text(row, "name"),
            kind=kind,
            address=self.text(row, "address"),
            contact_name=self.text(row, "contact_name"),
            contact_phone=fields["contact_phone"],
        )

    def key(self, row: Row) -> tuple:
        return (row.values.get("credit_code") or row.number,)

    def duplicate_message(self, row: Row, first: int) -> tuple[str, str]:
        return "credit_code", _(
            "This credit code is also on row %(row)d; each organisation may appear once."
        ) % {"row": first}

    def fields_of(self, row: Row) -> dict:
        v = row.values
        values = {"name": v["name"], "kind": v["kind"], "region": self.regions[v["region_code"]]}
        for name in ("address", "contact_name", "contact_phone"):
            if self.has(name):
                values[name] = v[name]
        return values

    def plan(self, rows: list[Row]) -> None:
        self.load_regions(rows)
        rows = [row for row in rows if not row.errors]
        existing = {
            o.credit_code: o
            for o in Organisation.objects.filter(credit_code__in=[row.values["credit_code"] for row in rows])
        }
        for row in rows:
            organisation = existing.get(row.values["credit_code"])
            row.plan["organisation"] = organisation
            if organisation is None:
                row.action = "create"
                continue
            if self.user is not None and not code_within(organisation.region_code, self.user.scope_codes):
                row.fail(
                    "credit_code",
                    _("This credit code is already registered outside your scope; ask the district office."),
                )
                continue
            changes = {k: v for k, v in self.fields_of(row).items() if getattr(organisation, k) != v}
            row.plan["changes"] = changes
            row.action = "update" if changes else "unchanged"

    def write(self, rows: list[Row]) -> None:
        creates, updates = [], []
        for row in rows:
            if row.action == "create":
                values = self.fields_of(row)
                creates.append(
                    Organisation(
                        credit_code=row.values["credit_code"], region_code=values["region"].code, **values
                    )
                )
            elif row.action == "update":
                organisation = row.plan["organisation"]
                for name, value in row.plan["changes"].items():
                    setattr(organisation, name, value)
                organisation.region_code = organisation.region_id
                updates.append(organisation)
        Organisation.objects.bulk_create(creates, batch_size=BATCH_SIZE)
        if updates:
            fields = sorted({name for row in rows for name in row.plan.get("changes", {})} | {"region_code"})
            Organisation.objects.bulk_update(updates, fields, batch_size=BATCH_SIZE)


IMPORTERS: dict[str, type[Importer]] = {
    ImportJob.Kind.HOUSES: HouseImporter,
    ImportJob.Kind.PEOPLE: PeopleImporter,
    ImportJob.Kind.ORGANISATIONS: OrganisationImporter,
}


# --- The one entry point ------------------------------------------------------------------------------------


def _batches(rows: list[Row], size: int) -> Iterable[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


_gc_lock = threading.Lock()
_gc_users = 0
_gc_threshold: tuple[int, ...] = ()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while an import builds its 100,000s of small objects.

    The first generation is collected every 700 allocations by default; an import's rows, values and model
    objects trigger that thousands of times, each pass walking young objects that are all still alive (about
    10% of an import). The threshold goes back when the last running import ends; nothing else changes.
    """
    global _gc_users, _gc_threshold
    with _gc_lock:
        if _gc_users == 0:
            _gc_threshold = gc.get_threshold()
            gc.set_threshold(max(_gc_threshold[0], 50_000), *_gc_threshold[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_threshold)


@_fewer_collections()
def import_workbook(
    data: bytes,
    kind: str,
    *,
    region: Region,
    user: User | None = None,
    keep_valid: bool = False,
    file_name: str = "",
    actor_name: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """Check and import one workbook of ``kind`` into ``region`` (the default for rows without a region code).

    Everything is written in one transaction; with errors, nothing is written unless ``keep_valid``.
    """
    result = ImportResult(kind=kind)
    progress = progress or (lambda phase, done, total: None)
    if user is not None and not code_within(region.code, user.scope_codes):
        result.problem = _("Region %(code)s is outside your scope.") % {"code": region.code}
        return result
    try:
        sheet = excel.read_workbook(data, kind)
    except excel.WorkbookError as exc:
        result.problem = str(exc)
        return result
    importer = IMPORTERS[kind](user=user, region=region, positions=sheet.positions)
    rows: list[Row] = []
    try:
        for number, cells in sheet.rows:
            row = Row(number, cells)
            importer.clean(row)
            rows.append(row)
            if len(rows) % 5000 == 0:
                progress("checking", len(rows), 0)
    except excel.WorkbookError as exc:
        result.problem = str(exc)
        return result
    finally:
        sheet.close()
    result.total = len(rows)
    if not rows:
        result.problem = _("The file has a header row but no data rows; fill in the rows from row 2 on.")
        return result
    progress("checking", len(rows), len(rows))
    first_row: dict[tuple, int] = {}
    for row in rows:
        if row.errors:
            continue
        key = importer.key(row)
        if key in first_row:
            row.fail(*importer.duplicate_message(row, first_row[key]))
        else:
            first_row[key] = row.number
    with transaction.atomic():
        for batch in _batches([row for row in rows if not row.errors], BATCH_SIZE):
            importer.plan(batch)
        result.errors = _row_errors(rows, sheet)
        good = [row for row in rows if not row.errors]
        if not result.errors or keep_valid:
            done = 0
            for batch in _batches(good, BATCH_SIZE):
                importer.write(batch)
                done += len(batch)
                progress("writing", done, len(good))
            result.written = True
            counts = defaultdict(int)
            for row in good:
                counts[row.action] += 1
            result.created, result.updated, result.unchanged = (
                counts["create"],
                counts["update"],
                counts["unchanged"],
            )
            record(
                "registry_import",
                actor=user,
                actor_name=actor_name,
                region_code=region.code,
                kind=kind,
                file=file_name[:100],
                rows=result.total,
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
                rows_with_errors=result.error_rows,
                keep_valid=keep_valid,
            )
    if result.errors:
        result.error_sheet = excel.error_workbook(
            sheet.headers,
            (
                (
                    row.cells,
                    [str(m) for _k, m in row.errors],
                    {sheet.positions.get(k, -1) for k, _m in row.errors},
                )
                for row in rows
            ),
        )
    return result


def _row_errors(rows: list[Row], sheet: excel.Sheet) -> list[RowError]:
    headers = {column.key: column.header for columns in excel.COLUMNS.values() for column in columns}
    errors = []
    for row in rows:
        for key, message in row.errors:
            position = sheet.positions.get(key)
            errors.append(
                RowError(
                    row=row.number,
                    header=headers.get(key, "") if key else "",
                    letter=excel.column_letter(position) if position is not None else "",
                    message=str(message),
                )
            )
    return errors


# --- Jobs: the embedded worker -----------------------------------------------------------------------------
#
# In the embedded mode an upload is imported by a thread of the web process; its progress lives in memory
# (the import's own transaction would hide progress written to the database until the end). The worker issue
# replaces this with the task queue; ``run_job`` stays the unit of work.

_progress: dict[int, tuple[str, int, int]] = {}
_progress_lock = threading.Lock()


def job_progress(job: ImportJob) -> dict:
    """Where a job is: phase, rows done and rows in the phase (from memory while it runs)."""
    with _progress_lock:
        phase, done, total = _progress.get(job.pk, ("", job.processed, job.total))
    if job.finished:
        phase, done, total = "finished", job.total, job.total
    percent = int(done * 100 / total) if total else 0
    return {"phase": phase, "done": done, "total": total, "percent": percent}


def start_job(job: ImportJob, data: bytes) -> None:
    """Import in the background (a thread), or at once when LINLI_IMPORT_IN_BACKGROUND is off (tests)."""
    language = translation.get_language()
    if getattr(settings, "LINLI_IMPORT_IN_BACKGROUND", True):
        thread = threading.Thread(
            target=_run_in_thread, args=(job.pk, data, language), name=f"import-{job.pk}", daemon=True
        )
        thread.start()
    else:
        run_job(job.pk, data)


def _run_in_thread(job_id: int, data: bytes, language: str | None) -> None:
    close_old_connections()
    try:
        with translation.override(language):
            run_job(job_id, data)
    finally:
        connection.close()


def run_job(job_id: int, data: bytes) -> ImportJob:
    """Import the workbook of a job and record the outcome on it; never raises."""
    job = ImportJob.objects.select_related("region", "created_by").get(pk=job_id)
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])

    def progress(phase: str, done: int, total: int) -> None:
        with _progress_lock:
            _progress[job_id] = (phase, done, total)

    try:
        result = import_workbook(
            data,
            job.kind,
            region=job.region,
            user=job.created_by,
            keep_valid=job.keep_valid,
            file_name=job.file_name,
            progress=progress,
        )
    except Exception:
        # The traceback goes to the log (whose filter masks identifiers); the person sees a plain sentence.
        log.exception("import job %s failed", job_id)
        job.status = ImportJob.Status.FAILED
        job.message = _("The import stopped because of an internal error; nothing was written. Try again.")
    else:
        job.total, job.processed = result.total, result.total
        job.created, job.updated, job.unchanged = result.created, result.updated, result.unchanged
        job.error_count = result.error_rows
        job.errors = [error.as_dict() for error in result.errors[:SHOWN_ERRORS]]
        job.message = result.problem
        if result.error_sheet:
            import base64

            job.error_sheet = base64.b64encode(result.error_sheet).decode("ascii")
        job.status = ImportJob.Status.SUCCEEDED if result.written else ImportJob.Status.REJECTED
    job.finished_at = timezone.now()
    job.save()
    with _progress_lock:
        _progress.pop(job_id, None)
    return job


def error_sheet_bytes(job: ImportJob) -> bytes:
    import base64

    return base64.b64decode(job.error_sheet) if job.error_sheet else b""
