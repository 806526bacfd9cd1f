"""The registry's demo data: valid identifiers, places inside their grids, tags on their legal basis, no
plaintext at rest, and a fast path whose ciphertexts and blind indexes are the ORM's own."""

import random
import re
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from shapely.geometry import Point, shape

from linli.core import demo
from linli.core.identifiers import (
    parse_credit_code,
    parse_mobile,
    parse_plate,
    parse_resident_id,
    resident_id_check_character,
)
from linli.core.models import Region, User
from linli.registry import demo as registry_demo
from linli.registry import services
from linli.registry.models import (
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

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z+/])[0-9]{17}[0-9X](?![0-9A-Za-z+/=])")
MOBILE = re.compile(r"(?<![0-9A-Za-z+/])1[3-9][0-9]{9}(?![0-9A-Za-z+/=])")
REGISTRY_MODELS = [Building, Unit, House, Person, Consent, Residency, Household, HouseholdMember, PersonTag]
REGISTRY_MODELS += [Organisation, Facility, Vehicle]
# A small district whose registry has about 2,000 people, built by the same fast path as --scale district.
SMALL = demo.Scale(
    "small", streets=2, towns=1, communities=9, grids=60, residents=2, extra={"registry_houses_per_grid": 10}
)


@pytest.fixture(scope="module")
def built(django_db_setup, django_db_blocker):
    """The demo district with its registry, built once for the module and rolled back after it."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            out = StringIO()
            call_command("demo_district", stdout=out)
            yield out.getvalue()
            transaction.set_rollback(True)


def test_the_registry_builds_with_the_demo_and_says_what_it_made(db, built):
    assert registry_demo.demo_extension in demo.EXTENSIONS
    assert registry_demo.delete_registry in demo.RESET_HOOKS
    people = Person.objects.count()
    assert 2000 <= people <= 6000
    assert f"登记 Registry: {people:,} 人 people" in built
    for model in REGISTRY_MODELS:
        assert model.objects.exists(), model.__name__
    # Every grid has houses and people; every household has its head among its members.
    grids = set(Region.objects.filter(level="grid").values_list("code", flat=True))
    assert set(House.objects.values_list("region_code", flat=True)) == grids
    assert set(Person.objects.values_list("region_code", flat=True)) == grids
    heads = set(Household.objects.values_list("id", "head_id"))
    assert heads <= set(HouseholdMember.objects.values_list("household_id", "person_id"))


def test_every_identifier_passes_our_validators(db, built):
    for person in Person.objects.all():
        parsed = parse_resident_id(person.id_number)
        assert parsed.number == person.id_number and not parsed.warnings
        assert (parsed.sex, parsed.birth_date) == (person.sex, person.birth_date)
        assert parsed.area_code.startswith("37")
        if person.phone:
            assert parse_mobile(person.phone).number == person.phone
    codes = [parse_credit_code(code) for code in Organisation.objects.values_list("credit_code", flat=True)]
    assert all(not code.warnings for code in codes)
    assert {"N", "9", "5", "1", "Y"} <= {code.registration_authority for code in codes}
    collectives = Organisation.objects.filter(kind="collective")
    assert collectives.exists()
    for organisation in collectives:
        assert organisation.credit_code.startswith("N2") and organisation.region_code[9] in "23"  # villages
    plates = [parse_plate(plate) for plate in Vehicle.objects.values_list("plate", flat=True)]
    assert all(p.plate.startswith("鲁A") for p in plates)
    energies = Counter(p.energy for p in plates)
    assert energies[None] > energies.total() / 2 > 0 and len(energies) == 3
    for vehicle in Vehicle.objects.filter(kind="new_energy"):
        assert parse_plate(vehicle.plate).energy is not None


def test_places_lie_inside_their_grid(db, built):
    polygons = {r.code: shape(r.boundary) for r in Region.objects.filter(level="grid")}
    for model in (Building, House, Organisation, Facility):
        for code, lon, lat in model.objects.values_list("region_code", "lon", "lat"):
            assert polygons[code].covers(Point(lon, lat)), (model.__name__, code, lon, lat)
    for house in House.objects.select_related("building", "unit"):
        assert house.building.region_code == house.region_code == house.region_id
        assert house.unit.building_id == house.building_id
        assert house.address.startswith(house.building.address)


def test_residencies_point_to_houses_in_their_own_region_with_dates_in_order(db, built):
    for residency in Residency.objects.select_related("house"):
        assert residency.region_code == residency.house.region_code
        assert residency.end is None or residency.end >= residency.start
    assert Residency.objects.filter(end__isnull=False).exists()  # some history
    assert set(Residency.objects.values_list("relation", flat=True)) == {"owner", "family", "tenant"}
    current = set(Residency.objects.filter(end=None).values_list("person_id", "house_id"))
    for household_id, house_id, person_id in HouseholdMember.objects.values_list(
        "household_id", "household__house_id", "person_id"
    ):
        assert (person_id, house_id) in current, household_id
    assert not Person.objects.filter(residencies=None).exists()


def test_tags_follow_the_tag_rules_and_the_facts_they_state(db, built):
    tags = list(PersonTag.objects.select_related("person", "consent"))
    counts = Counter(t.tag for t in tags)
    assert set(counts) == set(Tag.values)
    for tag in tags:
        assert tag.basis in services.TAG_RULES[tag.tag]
        assert tag.region_code == tag.person.region_code
        if tag.basis in (LegalBasis.CONSENT, LegalBasis.SEPARATE_CONSENT):
            assert tag.consent.person_id == tag.person_id and tag.consent.withdrawn_at is None
            assert tag.consent.basis == tag.basis
        else:
            assert tag.consent is None and tag.basis_reference
        age = tag.person.age
        assert {
            Tag.MINOR: age < 18,
            Tag.AGED_80: age >= 80,
            Tag.ELDERLY_ALONE: age >= 60,
            Tag.TEKUN: age >= 60,
        }.get(tag.tag, True), (tag.tag, age)
        if tag.tag == Tag.DISABLED:
            assert re.fullmatch(r"(肢体|听力|视力|精神|智力|多重|言语)残疾 [一二三四]级", tag.detail)
    people = Person.objects.count()
    minors = sum(1 for p in Person.objects.all() if p.age < 18)
    assert counts[Tag.MINOR] == minors
    assert 0.1 < minors / people < 0.3
    assert 0.03 < counts[Tag.PARTY_MEMBER] / people < 0.12
    assert counts[Tag.TEKUN] < counts[Tag.DIBAO]


def test_no_plaintext_id_number_or_phone_in_any_registry_column(db, built):
    plaintexts = set()
    for person in Person.objects.all():
        plaintexts |= {person.id_number, person.phone, person.contact_phone}
    plaintexts |= set(Organisation.objects.values_list("contact_phone", flat=True))
    plaintexts.discard("")
    assert len(plaintexts) > 1000
    with connection.cursor() as cursor:
        for model in REGISTRY_MODELS:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            for row in cursor.fetchall():
                for cell in row:
                    if isinstance(cell, str):
                        found = set(ID_NUMBER.findall(cell)) | set(MOBILE.findall(cell))
                        assert not found & plaintexts, (model.__name__, cell)


def test_people_are_found_by_id_number_and_phone_through_the_blind_index(db, built):
    admin = User.objects.get(username="admin")
    community = User.objects.get(username="community1-1")
    rng = random.Random(7)
    people = list(Person.objects.all())
    for person in rng.sample(people, 25):
        assert list(Person.objects.filter(id_number__blind=person.id_number)) == [person]
        assert list(services.find_people(admin, person.id_number)) == [person]
        if person.phone:
            assert person in Person.objects.filter(phone__blind=person.phone)
        visible = list(services.find_people(community, person.id_number))
        assert visible == ([person] if person.region_code.startswith(community.scope_codes[0]) else [])


def test_the_fast_path_writes_what_the_orm_would(db, settings):
    sealer = registry_demo.FieldSealer()
    id_field = Person._meta.get_field("id_number")
    index_field = Person._meta.get_field("id_number_index")
    phone_index = Person._meta.get_field("phone_index")
    number = "37010219900307123" + resident_id_check_character("37010219900307123")
    assert sealer.blind_index(number, index_field) == index_field.compute(number)
    assert sealer.blind_index("13912345678", phone_index) == phone_index.compute("13912345678")
    assert sealer.blind_index("", phone_index) is None is phone_index.compute("")
    token = sealer.encrypt(number, id_field.associated_data)
    assert id_field.from_db_value(token, None, connection) == number
    # A person saved through the ORM gets the very index the fast path computes.
    region = Region.objects.create(code="370101", name="别的区", level="district")
    saved = Person(region=region, name="测试", id_number=number, sex="M", birth_date="1990-03-07")
    saved.phone = "13912345678"
    saved.save()
    assert saved.id_number_index == sealer.blind_index(number, index_field)
    assert saved.phone_index == sealer.blind_index("13912345678", phone_index)


def test_the_fast_path_under_the_national_algorithms(db, settings):
    settings.LINLI_PII_CIPHER = "sm4-gcm"
    settings.LINLI_BLIND_INDEX = "hmac-sm3"
    sealer = registry_demo.FieldSealer()
    field = Person._meta.get_field("phone")
    token = sealer.encrypt("13912345678", field.associated_data)
    assert token.startswith("v1:sm4-gcm:")
    assert field.from_db_value(token, None, connection) == "13912345678"
    index = Person._meta.get_field("phone_index")
    assert sealer.blind_index("13912345678", index) == index.compute("13912345678")


def test_a_small_district_through_the_fast_path_decrypts_and_is_found(db):
    result = demo.build(SMALL, reset=True)  # reset: the module's demo district may be there
    assert any(line.startswith("登记 Registry:") for line in result.extension_lines)
    people = Person.objects.count()
    assert 1500 <= people <= 2800, people
    sample = random.Random(3).sample(list(Person.objects.all()), 50)
    for person in sample:
        parse_resident_id(person.id_number)
        assert Person.objects.get(id_number__blind=person.id_number.lower()) == person
    # Sequences moved past the written keys: the ORM can add rows afterwards.
    house = House.objects.first()
    extra, _ = services.register_person(
        services.PersonInput(name="新居民", id_number="11010519491231002X", region=house.region)
    )
    assert extra.pk > max(p.pk for p in sample)
    assert services.move_in(extra, house, "family").pk > 0


def test_reset_deletes_the_registry_and_the_same_seed_builds_the_same_people(db):
    demo.build(SMALL, reset=True)
    names = sorted(Person.objects.values_list("name", flat=True))
    ids = sorted(p.id_number for p in Person.objects.all())
    demo.build(SMALL, reset=True)
    assert sorted(Person.objects.values_list("name", flat=True)) == names
    assert sorted(p.id_number for p in Person.objects.all()) == ids
    registry_demo.delete_registry(demo.DISTRICT_CODE)
    for model in REGISTRY_MODELS:
        assert not model.objects.exists(), model.__name__


def test_a_failure_after_the_registry_leaves_nothing_written(db, monkeypatch):
    def broken(district, scale, rng):
        raise RuntimeError("a later app failed")

    before = {model: model.objects.count() for model in REGISTRY_MODELS}
    monkeypatch.setattr(demo, "EXTENSIONS", [registry_demo.demo_extension, broken])
    with pytest.raises(RuntimeError):
        demo.build(SMALL, reset=True)
    assert {model: model.objects.count() for model in REGISTRY_MODELS} == before
