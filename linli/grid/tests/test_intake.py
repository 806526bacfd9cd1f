"""Intake: the grid found from the point, one event per upstream case, nearby repeats suggested to merge."""

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from linli.core.models import Region
from linli.grid import services
from linli.grid.locate import forget_index, locate_grid
from linli.grid.models import Event, Source, State
from linli.grid.testing import GRID_CODES, ORIGIN_LAT, ORIGIN_LON, SIDE, category, centre_of, resident_report

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.django_db
def test_a_point_inside_each_grid_finds_that_grid(people):
    for code in GRID_CODES:
        assert locate_grid(*centre_of(code)) == code


@pytest.mark.django_db
def test_points_on_edges_and_corners_belong_to_the_lower_code(people):
    edge_x = ORIGIN_LON + SIDE  # the edge the first two squares share
    assert locate_grid(edge_x, ORIGIN_LAT + SIDE / 2) == GRID_CODES[0]
    assert locate_grid(edge_x, ORIGIN_LAT) == GRID_CODES[0]  # a corner of both
    assert locate_grid(ORIGIN_LON, ORIGIN_LAT + SIDE / 3) == GRID_CODES[0]  # an outer edge
    last_outer = ORIGIN_LON + len(GRID_CODES) * SIDE
    assert locate_grid(last_outer, ORIGIN_LAT + SIDE / 2) == GRID_CODES[-1]


@pytest.mark.django_db
def test_points_outside_every_grid(people):
    assert locate_grid(ORIGIN_LON - 0.0001, ORIGIN_LAT + SIDE / 2) is None
    assert locate_grid(ORIGIN_LON + SIDE / 2, ORIGIN_LAT + SIDE + 0.0001) is None
    assert locate_grid(ORIGIN_LON + len(GRID_CODES) * SIDE + 0.0001, ORIGIN_LAT) is None
    with pytest.raises(ValidationError) as refused:
        services.report(
            category=category(),
            title="x",
            source=Source.RESIDENT,
            lon=ORIGIN_LON - 1,
            lat=ORIGIN_LAT,
            reporter=people.reporter,
        )
    assert "outside every grid" in refused.value.message_dict["lon"][0]
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_a_changed_boundary_is_used_at_once(people):
    lon, lat = ORIGIN_LON - SIDE / 2, ORIGIN_LAT + SIDE / 2
    assert locate_grid(lon, lat) is None
    grid = Region.objects.get(code=GRID_CODES[-1])
    ring = [
        [lon - 0.001, lat - 0.001],
        [lon + 0.001, lat - 0.001],
        [lon + 0.001, lat + 0.001],
        [lon, lat + 0.001],
    ]
    grid.boundary = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    grid.save()
    assert locate_grid(lon, lat) == GRID_CODES[-1]
    forget_index()


@pytest.mark.django_db
def test_bad_input_names_the_field(people):
    cases = [
        (dict(lon="east", lat=36.6), "lon"),
        (dict(lon=200, lat=36.6), "lon"),
        (dict(lon=117.0, lat=float("nan")), "lat"),
        (dict(title=""), "title"),
        (dict(reporter_phone="12345"), "reporter_phone"),
        (dict(urgency="whenever"), "urgency"),
        (dict(category=category("06")), "category"),
        (dict(lon=None, lat=None), "location"),
        (dict(lon=None, lat=None, region_code="370198001001"), "region"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as refused:
            resident_report(people, **fields)
        assert field in refused.value.message_dict, (fields, refused.value.message_dict)
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_a_grid_code_without_a_point_is_enough(people):
    event = resident_report(people, lon=None, lat=None, region_code=GRID_CODES[2])
    assert event.region_code == GRID_CODES[2]


@pytest.mark.django_db
def test_the_same_upstream_case_twice_is_one_event(people):
    first = resident_report(people, source=Source.HOTLINE, upstream_system="12345", upstream_id="GD2026-0001")
    again = services.report(
        category=category(),
        title="重复推送",
        source=Source.HOTLINE,
        lon=centre_of(people.grid)[0],
        lat=centre_of(people.grid)[1],
        upstream_system="12345",
        upstream_id="GD2026-0001",
    )
    assert not again.created and again.event.pk == first.pk
    other_system = resident_report(
        people, source=Source.CITY_CENTRE, upstream_system="city", upstream_id="GD2026-0001"
    )
    assert other_system.pk != first.pk
    assert Event.objects.count() == 2
    assert first.state == State.VERIFYING  # a hotline case is checked on the spot first


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_upstream_case_make_one_event(people):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs concurrent transactions")
    lon, lat = centre_of(people.grid)
    results, errors = [], []
    barrier = threading.Barrier(6)

    def deliver():
        try:
            barrier.wait()
            results.append(
                services.report(
                    category=category(),
                    title="推送",
                    source=Source.CITY_CENTRE,
                    lon=lon,
                    lat=lat,
                    upstream_system="city",
                    upstream_id="C-77",
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Event.objects.filter(upstream_id="C-77").count() == 1
    assert sum(r.created for r in results) == 1
    assert len({r.event.pk for r in results}) == 1


@pytest.mark.django_db
def test_a_nearby_report_of_the_same_kind_is_suggested_for_merging(people, at):
    at.set(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))
    lon, lat = centre_of(people.grid)
    first = resident_report(people, lon=lon, lat=lat)
    at.advance(hours=2)
    near = services.report(
        category=category(),
        title="又一处垃圾",
        source=Source.RESIDENT,
        lon=lon + 0.0003,
        lat=lat,  # ≈ 27 m
        reporter=people.other_resident,
    )
    assert [e.pk for e in near.duplicates] == [first.pk]
    far = services.report(
        category=category(),
        title="远处垃圾",
        source=Source.RESIDENT,
        lon=lon + 0.002,
        lat=lat,  # ≈ 180 m
        reporter=people.other_resident,
    )
    assert far.duplicates == []
    other_kind = services.report(
        category=category("09011"),
        title="单车",
        source=Source.RESIDENT,
        lon=lon,
        lat=lat,
        reporter=people.reporter,
    )
    assert other_kind.duplicates == []
    at.advance(hours=73)
    late = services.report(
        category=category(),
        title="三天后",
        source=Source.RESIDENT,
        lon=lon,
        lat=lat,
        reporter=people.reporter,
    )
    assert late.duplicates == [], "outside the 72-hour window"
    assert people.grid_worker.pk in set(
        near.event.__class__.objects.filter(pk=near.event.pk).values_list("assignee", flat=True)
    )
    from linli.grid.models import Notification

    assert Notification.objects.filter(event=near.event, kind="duplicate", user=people.grid_worker).exists()


@pytest.mark.django_db
def test_nul_characters_never_reach_the_database(people):
    event = resident_report(people, title="垃圾\x00堆", description="a\x00b")
    assert event.title == "垃圾堆" and event.description == "ab"
    from linli.grid.services import take_step

    take_step(event, "verify", people.grid_worker, note="属\x00实")
    assert event.history.get(action="verify").note == "属实"
