"""Which grid a point lies in: an R-tree (shapely's STRtree) over every grid polygon, kept in memory.

Built once per process from the regions' GeoJSON boundaries and rebuilt when a region is saved here, or after
``REFRESH_SECONDS`` so that boundaries edited by another process are picked up. A point on the edge two grids
share belongs to the one with the lower code, so the answer never depends on the tree's order.
"""

from __future__ import annotations

import threading
import time

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from shapely import STRtree
from shapely.geometry import Point, shape

from linli.core.models import Region
from linli.core.regions import Level as RegionLevel

REFRESH_SECONDS = 300


class GridIndex:
    def __init__(self, regions: list[tuple[str, dict]]):
        self.codes = [code for code, _ in regions]
        self.tree = STRtree([shape(boundary) for _, boundary in regions])

    def locate(self, lon: float, lat: float) -> str | None:
        hits = self.tree.query(Point(lon, lat), predicate="covered_by")
        if len(hits) == 0:
            return None
        return min(self.codes[i] for i in hits)


_lock = threading.Lock()
_index: GridIndex | None = None
_built_at = 0.0


def grid_index() -> GridIndex:
    global _index, _built_at
    with _lock:
        if _index is None or time.monotonic() - _built_at > REFRESH_SECONDS:
            rows = Region.objects.filter(level=RegionLevel.GRID, boundary__isnull=False).values_list(
                "code", "boundary"
            )
            _index = GridIndex(sorted(rows))
            _built_at = time.monotonic()
        return _index


def locate_grid(lon: float, lat: float) -> str | None:
    """The code of the grid covering this WGS-84 point, or None outside every grid."""
    return grid_index().locate(lon, lat)


def forget_index() -> None:
    global _index
    with _lock:
        _index = None


@receiver(post_save, sender=Region)
@receiver(post_delete, sender=Region)
def _region_changed(sender, instance, **kwargs):
    if instance.level == RegionLevel.GRID:
        forget_index()
