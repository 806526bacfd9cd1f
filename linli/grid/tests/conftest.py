import pytest

from linli.grid.testing import cast, draw_grids


@pytest.fixture
def people(regions):
    """The test tree with square grids, and everyone around the first grid."""
    draw_grids()
    return cast()
