"""Registry rules: identity from the ID number, upserts, lawful tags, finding and unmasking."""

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from linli.core.audit import AuditLog
from linli.core.models import Region, Role
from linli.registry import services
from linli.registry.models import Consent, LegalBasis, Person, Residency, Tag

GRID = "370198001001001"
OTHER_GRID = "370198002001001"
ID_NUMBER = "370103199001011238"  # reference/standards.md §3.1 worked example
PHONE = "13800138000"


def person_input(code=GRID, **overrides):
    values = {
        "name": "张三丰",
        "id_number": ID_NUMBER,
        "region": Region.objects.get(code=code),
        "phone": PHONE,
    }
    values.update(overrides)
    return services.PersonInput(**values)


@pytest.fixture
def person(regions):
    return services.register_person(person_input())[0]


@pytest.fixture
def house(regions):
    building = services.ensure_building(Region.objects.get(code=GRID), "青园小区", "3号楼")
    return services.register_house(building, "2单元", "501", area=88)[0]


def test_sex_and_birth_date_come_from_the_id_number(person):
    assert (person.sex, person.birth_date) == ("M", date(1990, 1, 1))
    assert str(person) == "张**"


def test_a_15_digit_id_is_stored_in_its_18_digit_form(regions):
    person, _ = services.register_person(person_input(id_number="370103900101123"))
    assert len(person.id_number) == 18 and person.id_number.startswith("37010319900101123")


def test_bad_fields_are_named_in_the_error(regions):
    with pytest.raises(ValidationError) as caught:
        services.register_person(person_input(id_number="370103199001011234", phone="12345", name=" "))
    assert set(caught.value.message_dict) == {"id_number", "phone", "name"}
    assert not Person.objects.exists()


def test_registering_the_same_id_again_updates_the_one_record(person, regions):
    again, created = services.register_person(person_input(name="张三", phone="+86 139-0013-9000"))
    assert not created and again.pk == person.pk
    assert Person.objects.count() == 1
    assert Person.objects.get().phone == "13900139000"


def test_staff_cannot_overwrite_a_person_registered_outside_their_scope(person, user_factory):
    worker = user_factory(Role.GRID_WORKER, OTHER_GRID)
    with pytest.raises(ValidationError) as caught:
        services.register_person(person_input(code=OTHER_GRID, name="李四"), by=worker)
    assert "id_number" in caught.value.message_dict
    assert Person.objects.get().name == "张三丰"


def test_staff_cannot_register_into_a_region_outside_their_scope(regions, user_factory):
    worker = user_factory(Role.GRID_WORKER, OTHER_GRID)
    with pytest.raises(PermissionDenied):
        services.register_person(person_input(), by=worker)


def test_residency_history_is_kept_and_dates_must_be_in_order(person, house):
    first = services.move_in(person, house, Residency.Relation.OWNER, start=date(2020, 5, 1))
    with pytest.raises(ValidationError):
        services.move_out(first, end=date(2019, 1, 1))
    services.move_out(first, end=date(2024, 1, 1))
    services.move_in(person, house, Residency.Relation.TENANT, start=date(2025, 3, 1))
    history = list(person.residencies.order_by("start").values_list("relation", "end"))
    assert history == [("owner", date(2024, 1, 1)), ("tenant", None)]


def test_statutory_registers_may_be_kept_without_consent(person):
    tag = services.tag_person(person, Tag.DIBAO, LegalBasis.STATUTORY_DUTY)
    assert tag.basis_reference  # the law or register it rests on is recorded


def test_optional_groups_need_a_live_separate_consent(person):
    with pytest.raises(ValidationError):
        services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT)
    consent = Consent.objects.create(
        person=person, purpose="care", basis=LegalBasis.SEPARATE_CONSENT, granted_at=timezone.now()
    )
    assert services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent)
    consent.withdrawn_at = timezone.now()
    consent.save()
    with pytest.raises(ValidationError):
        services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent)


def test_a_register_kept_by_law_cannot_rest_on_consent(person):
    consent = Consent.objects.create(
        person=person, purpose="x", basis=LegalBasis.SEPARATE_CONSENT, granted_at=timezone.now()
    )
    with pytest.raises(ValidationError):
        services.tag_person(person, Tag.AGED_80, LegalBasis.SEPARATE_CONSENT, consent=consent)


def test_people_are_found_by_exact_id_phone_or_name_within_scope(person, house, user_factory):
    services.move_in(person, house, Residency.Relation.OWNER)
    worker = user_factory(Role.GRID_WORKER, GRID)
    stranger = user_factory(Role.GRID_WORKER, OTHER_GRID)
    for query in (ID_NUMBER, ID_NUMBER.lower(), "+86 138 0013 8000", "三丰", "3号楼2单元"):
        assert list(services.find_people(worker, query)) == [person], query
        assert not services.find_people(stranger, query).exists(), query
    assert not services.find_people(worker, "370103199001011246").exists()


def test_masks_follow_the_role(person, user_factory):
    worker = user_factory(Role.GRID_WORKER, GRID)
    property_manager = user_factory(Role.PROPERTY_MANAGER, GRID)
    assert services.masked(worker, person, "id_number") == "370***********1238"
    assert services.masked(property_manager, person, "id_number") == "3****************8"
    assert services.masked(worker, person, "phone") == "138****8000"


def test_unmasking_needs_the_role_a_reason_and_the_scope_and_is_audited(person, user_factory):
    worker = user_factory(Role.GRID_WORKER, GRID)
    assert services.unmask(worker, person, "phone", "上门核实联系方式") == PHONE
    entry = AuditLog.objects.get(action="unmasked")
    assert (entry.actor, entry.detail["field"], entry.detail["reason"]) == (
        worker,
        "phone",
        "上门核实联系方式",
    )
    assert PHONE not in str(entry.detail)

    with pytest.raises(ValidationError):
        services.unmask(worker, person, "phone", "  ")
    with pytest.raises(PermissionDenied):
        services.unmask(user_factory(Role.PROPERTY_MANAGER, GRID), person, "phone", "催缴物业费")
    with pytest.raises(Http404):
        services.unmask(user_factory(Role.GRID_WORKER, OTHER_GRID), person, "phone", "上门核实联系方式")
    assert AuditLog.objects.filter(action="unmasked").count() == 1
