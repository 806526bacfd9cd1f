"""The grid demo at a larger scale: events only in a sample of grids (kept apart from test_demo.py, whose
module-wide demo district would otherwise be the one found)."""

from linli.core import demo
from linli.grid.models import Event


def test_a_larger_scale_gets_events_only_in_a_sample_of_grids(db, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    scale = demo.Scale(
        "sampled",
        streets=1,
        towns=1,
        communities=4,
        grids=24,
        residents=2,
        extra={"grid_sample_grids": 5, "grid_events_per_grid": 3, "registry_houses_per_grid": 1},
    )
    demo.build(scale)
    grids = sorted(set(Event.objects.values_list("region_code", flat=True)))
    assert len(grids) == 5 and Event.objects.count() >= 15
