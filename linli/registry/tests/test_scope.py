"""Scope isolation of every registry surface: list, detail, search by ID and house→people, for every role."""

from linli.core.models import Role
from linli.core.testing import ScopedSurface, scope_test_class
from linli.registry import services
from linli.registry import testing as t

READERS = tuple(sorted(services.READ_ROLES))


def _people_marker(person):
    return f"/registry/people/{person.pk}/"


SURFACES = [
    ScopedSurface(
        "person",
        make=lambda code: t.make_person(code),
        marker=_people_marker,
        api_detail=lambda p: f"/api/v1/people/{p.pk}/",
        api_list="/api/v1/people/?limit=1000",
        api_search=lambda p: f"/api/v1/people/?q={p.id_number}",
        page_detail=lambda p: f"/registry/people/{p.pk}/",
        page_list="/registry/",
        roles=READERS,
    ),
    ScopedSurface(
        "house",
        make=lambda code: t.make_house(code),
        marker=lambda h: f"/registry/houses/{h.pk}/",
        api_detail=lambda h: f"/api/v1/houses/{h.pk}/",
        api_list="/api/v1/houses/?limit=1000",
        api_search=lambda h: f"/api/v1/houses/?q={h.address}",
        page_detail=lambda h: f"/registry/houses/{h.pk}/",
        page_list="/registry/houses/",
        roles=READERS,
    ),
    ScopedSurface(
        # House → people: the residencies of one house, as the API lists them.
        "house-people",
        make=lambda code: t.make_residency(code),
        marker=lambda r: f'#residency-{r.pk}"',
        api_detail=lambda r: f"/api/v1/residencies/{r.pk}/",
        api_list="/api/v1/residencies/?limit=1000",
        api_search=lambda r: f"/api/v1/residencies/?house={r.house_id}",
        roles=READERS,
    ),
    ScopedSurface(
        "building",
        make=lambda code: t.make_building(code),
        marker=lambda b: f'"id":{b.pk},',
        api_detail=lambda b: f"/api/v1/buildings/{b.pk}/",
        api_list="/api/v1/buildings/?limit=1000",
        roles=READERS,
    ),
    ScopedSurface(
        "household",
        make=lambda code: t.make_household(code),
        marker=lambda h: f"/registry/households/{h.pk}/",
        api_detail=lambda h: f"/api/v1/households/{h.pk}/",
        api_list="/api/v1/households/?limit=1000",
        page_detail=lambda h: f"/registry/households/{h.pk}/",
        page_list="/registry/households/",
        roles=READERS,
    ),
    *[
        ScopedSurface(
            kind,
            make=make,
            marker=lambda obj, kind=kind: f"/registry/{kind}/{obj.pk}/",
            api_detail=lambda obj, kind=kind: f"/api/v1/{kind}/{obj.pk}/",
            api_list=f"/api/v1/{kind}/?limit=1000",
            page_detail=lambda obj, kind=kind: f"/registry/{kind}/{obj.pk}/",
            page_list=f"/registry/{kind}/",
            roles=READERS,
        )
        for kind, make in (
            ("organisations", t.make_organisation),
            ("facilities", t.make_facility),
            ("vehicles", t.make_vehicle),
        )
    ],
]

TestRegistryScope = scope_test_class(SURFACES)


def test_auditors_and_residents_have_no_registry(regions):
    assert Role.AUDITOR not in services.READ_ROLES and Role.RESIDENT not in services.READ_ROLES


def test_house_page_lists_only_residents_in_scope(regions, client, user_factory):
    """A house outside the scope, its residents and their records all answer 404 or nothing."""
    residency = t.make_residency("370198001001001")
    worker = user_factory(Role.GRID_WORKER, "370198001001002")
    client.force_login(worker)
    assert client.get(f"/registry/houses/{residency.house_id}/").status_code == 404
    assert client.get(f"/api/v1/residencies/?house={residency.house_id}").json()["count"] == 0
    assert client.get(f"/registry/people/{residency.person_id}/").status_code == 404
