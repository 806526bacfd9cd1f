"""Console pages for special-group tags (with consent and its withdrawal) and for households."""

import pytest

from linli.core.audit import AuditLog
from linli.core.models import Role
from linli.registry import services
from linli.registry import testing as t
from linli.registry.models import Consent, HouseholdMember, LegalBasis, PersonTag, Residency, Tag

GRID = "370198001001001"
OTHER_GRID = "370198002001001"


@pytest.fixture
def worker(regions, user_factory, client):
    user = user_factory(Role.COMMUNITY_WORKER, "370198001001")
    client.force_login(user)
    return user


@pytest.fixture
def person(regions):
    return t.make_person(GRID)


def _tag(client, person, **data):
    return client.post(f"/registry/people/{person.pk}/tags/", data)


def test_a_statutory_register_is_tagged_from_the_person_page(worker, person, client):
    page = client.get(f"/registry/people/{person.pk}/").content.decode()
    assert 'data-testid="tag-form"' in page
    response = _tag(
        client,
        person,
        tag=Tag.DISABLED,
        basis=LegalBasis.STATUTORY_DUTY,
        detail="肢体二级",
        basis_reference="残疾证 37010319900101123842",
    )
    assert response.status_code == 302
    tag = PersonTag.objects.get(person=person)
    assert (tag.tag, tag.basis, tag.detail, tag.consent) == (Tag.DISABLED, "statutory_duty", "肢体二级", None)
    assert AuditLog.objects.filter(action="person_tagged", actor=worker).exists()
    assert 'data-testid="tag-disabled"' in client.get(f"/registry/people/{person.pk}/").content.decode()


def test_a_consent_basis_needs_the_consent_recorded(worker, person, client):
    refused = _tag(client, person, tag=Tag.NEEDS_CARE, basis=LegalBasis.SEPARATE_CONSENT)
    assert refused.status_code == 400
    assert 'data-testid="form-error"' in refused.content.decode()
    assert not PersonTag.objects.exists() and not Consent.objects.exists()
    # A register kept by law cannot be put on consent instead; the consent given is not kept either.
    wrong = _tag(client, person, tag=Tag.AGED_80, basis=LegalBasis.SEPARATE_CONSENT, consent_given="on")
    assert wrong.status_code == 400 and not Consent.objects.exists()
    accepted = _tag(
        client,
        person,
        tag=Tag.NEEDS_CARE,
        basis=LegalBasis.SEPARATE_CONSENT,
        consent_given="on",
        purpose="关爱走访",
        notice_version="v2",
    )
    assert accepted.status_code == 302
    tag = PersonTag.objects.get(person=person)
    assert tag.consent.purpose == "关爱走访" and tag.consent.notice_version == "v2"
    assert tag.consent.recorded_by == worker and tag.consent.withdrawn_at is None
    assert AuditLog.objects.filter(action="consent_recorded").exists()


def test_withdrawing_consent_removes_the_tags_resting_on_it(worker, person, client):
    consent = services.record_consent(person, "关爱走访", notice_version="v1", by=worker)
    services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent, by=worker)
    services.tag_person(person, Tag.VETERAN, LegalBasis.STATUTORY_DUTY, by=worker)
    assert (
        'data-testid="withdraw-needs_care"' in client.get(f"/registry/people/{person.pk}/").content.decode()
    )
    response = client.post(f"/registry/people/{person.pk}/consents/{consent.pk}/withdraw/")
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert list(PersonTag.objects.values_list("tag", flat=True)) == [Tag.VETERAN]
    entry = AuditLog.objects.get(action="consent_withdrawn")
    assert entry.actor == worker and entry.detail["tags_removed"] == [Tag.NEEDS_CARE]
    # A withdrawn consent cannot carry a tag again.
    with pytest.raises(services.ValidationError):
        services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent)


def test_a_tag_is_removed(worker, person, client):
    services.tag_person(person, Tag.VETERAN, LegalBasis.STATUTORY_DUTY)
    assert client.post(f"/registry/people/{person.pk}/tags/veteran/remove/").status_code == 302
    assert not PersonTag.objects.exists()
    assert AuditLog.objects.filter(action="person_untagged", actor=worker).exists()
    assert client.post(f"/registry/people/{person.pk}/tags/nonsense/remove/").status_code == 404


def test_households_are_created_and_members_added_and_removed(worker, client):
    house = t.make_house(GRID)
    head, spouse, lodger = (t.make_person(GRID) for _ in range(3))
    for p in (head, spouse):
        services.move_in(p, house, Residency.Relation.OWNER)
    elsewhere = t.make_person(GRID)  # registered, but not living in this house
    page = client.get(f"/registry/houses/{house.pk}/").content.decode()
    assert 'data-testid="household-form"' in page
    refused = client.post(f"/registry/houses/{house.pk}/households/new/", {"head": elsewhere.pk})
    assert refused.status_code == 400 and not house.households.exists()
    created = client.post(f"/registry/houses/{house.pk}/households/new/", {"head": head.pk, "number": "H1"})
    assert created.status_code == 302
    household = house.households.get()
    assert household.head == head and household.number == "H1"
    assert AuditLog.objects.filter(action="household_created", actor=worker).exists()

    url = f"/registry/households/{household.pk}/members/"
    assert client.post(url, {"person": lodger.pk}).status_code == 400  # not living there
    assert client.post(url, {"person": spouse.pk, "relation_to_head": "配偶"}).status_code == 302
    member = HouseholdMember.objects.get(household=household, person=spouse)
    assert member.relation_to_head == "配偶"
    assert AuditLog.objects.filter(action="household_member_added").exists()
    assert (
        'data-testid="member-remove"' in client.get(f"/registry/households/{household.pk}/").content.decode()
    )

    assert client.post(f"{url}{spouse.pk}/remove/").status_code == 302
    assert not HouseholdMember.objects.filter(household=household, person=spouse).exists()
    assert AuditLog.objects.filter(action="household_member_removed").exists()
    # The head stays; someone who is not a member is not found.
    client.post(f"{url}{head.pk}/remove/")
    assert HouseholdMember.objects.filter(household=household, person=head).exists()
    assert client.post(f"{url}{lodger.pk}/remove/").status_code == 404


def test_a_property_manager_sees_no_forms_and_cannot_post(regions, user_factory, client):
    person = t.make_person(GRID)
    consent = services.record_consent(person, "关爱走访")
    services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent)
    household = t.make_household(GRID)
    resident = t.make_person(GRID)
    services.move_in(resident, household.house, Residency.Relation.TENANT)
    client.force_login(user_factory(Role.PROPERTY_MANAGER, GRID))
    page = client.get(f"/registry/people/{person.pk}/").content.decode()
    assert 'data-testid="tag-form"' not in page and "withdraw-" not in page
    assert (
        'data-testid="member-form"'
        not in client.get(f"/registry/households/{household.pk}/").content.decode()
    )
    posts = [
        (f"/registry/people/{person.pk}/tags/", {"tag": "veteran", "basis": "statutory_duty"}),
        (f"/registry/people/{person.pk}/tags/needs_care/remove/", {}),
        (f"/registry/people/{person.pk}/consents/{consent.pk}/withdraw/", {}),
        (f"/registry/houses/{household.house_id}/households/new/", {"head": resident.pk}),
        (f"/registry/households/{household.pk}/members/", {"person": resident.pk}),
        (f"/registry/households/{household.pk}/members/{household.head_id}/remove/", {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert list(PersonTag.objects.values_list("tag", flat=True)) == [Tag.NEEDS_CARE]
    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    assert household.house.households.count() == 1 and household.memberships.count() == 1


def test_people_and_households_outside_the_scope_answer_404(worker, client):
    person = t.make_person(OTHER_GRID)
    consent = services.record_consent(person, "关爱走访")
    services.tag_person(person, Tag.NEEDS_CARE, LegalBasis.SEPARATE_CONSENT, consent=consent)
    household = t.make_household(OTHER_GRID)
    own = t.make_person(GRID)
    mine = t.make_person(GRID)
    mine_consent = services.record_consent(mine, "关爱走访")
    posts = [
        (f"/registry/people/{person.pk}/tags/", {"tag": "veteran", "basis": "statutory_duty"}),
        (f"/registry/people/{person.pk}/tags/needs_care/remove/", {}),
        (f"/registry/people/{person.pk}/consents/{consent.pk}/withdraw/", {}),
        # Someone else's consent through a person in scope is not found either.
        (f"/registry/people/{mine.pk}/consents/{consent.pk}/withdraw/", {}),
        (f"/registry/houses/{household.house_id}/households/new/", {"head": household.head_id}),
        (f"/registry/households/{household.pk}/members/", {"person": own.pk}),
        (f"/registry/households/{household.pk}/members/{household.head_id}/remove/", {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert client.get(f"/registry/households/{household.pk}/").status_code == 404
    assert PersonTag.objects.filter(person=person).count() == 1 and not PersonTag.objects.filter(
        tag="veteran"
    )
    consent.refresh_from_db()
    mine_consent.refresh_from_db()
    assert consent.withdrawn_at is None and mine_consent.withdrawn_at is None
    assert household.memberships.count() == 1


def test_services_refuse_regions_outside_the_editors_scope(worker):
    person = t.make_person(OTHER_GRID)
    household = t.make_household(OTHER_GRID)
    with pytest.raises(services.PermissionDenied):
        services.untag_person(person, Tag.VETERAN, by=worker)
    with pytest.raises(services.PermissionDenied):
        services.record_consent(person, "关爱走访", by=worker)
    with pytest.raises(services.PermissionDenied):
        services.remove_household_member(household, household.head, by=worker)


def test_api_adds_and_removes_tags_within_the_scope(regions, user_factory):
    from rest_framework.test import APIClient

    editor, manager = APIClient(), APIClient()
    editor.force_login(user_factory(Role.GRID_WORKER, GRID))
    manager.force_login(user_factory(Role.PROPERTY_MANAGER, GRID))
    person, outsider = t.make_person(GRID), t.make_person(OTHER_GRID)
    url = f"/api/v1/people/{person.pk}/tags/"
    refused = editor.post(url, {"tag": "needs_care", "basis": "separate_consent"}, format="json")
    assert refused.status_code == 400 and "consent" in refused.json()
    body = {"tag": "needs_care", "basis": "separate_consent", "consent_purpose": "关爱走访"}
    response = editor.post(url, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["consent"] == Consent.objects.get(person=person).pk
    statutory = {"tag": "veteran", "basis": "statutory_duty"}
    assert editor.post(url, statutory, format="json").status_code == 201
    assert manager.post(url, statutory, format="json").status_code == 403
    assert manager.delete(f"{url}veteran/").status_code == 403
    assert editor.post(f"/api/v1/people/{outsider.pk}/tags/", statutory, format="json").status_code == 404
    assert editor.delete(f"{url}veteran/").status_code == 204
    assert editor.delete(f"{url}veteran/").status_code == 404
    assert list(PersonTag.objects.values_list("tag", flat=True)) == [Tag.NEEDS_CARE]
    assert AuditLog.objects.filter(action="person_untagged").count() == 1
