import pytest

from linli.exchange import services
from linli.grid.testing import cast, draw_grids

STREET = "370198001"  # 东街道: the first two communities and three grids
OTHER_STREET = "370198002"  # 西街道: one village grid


@pytest.fixture
def people(regions):
    """The test tree with square grids, and everyone around the first grid (as in the grid app's tests)."""
    draw_grids()
    return cast()


@pytest.fixture
def open311_client(people):
    """An Open311 client (a FixMyStreet install, say) serving the first street; ``.key`` is its API key."""
    return services.create_client(name="随手拍", kind="open311", region_code=STREET)


@pytest.fixture
def other_client(people):
    """An Open311 client of the other street."""
    return services.create_client(name="西街道随手拍", kind="open311", region_code=OTHER_STREET)


@pytest.fixture
def hotline(people):
    """The 12345 hotline for the whole district."""
    return services.create_client(name="12345热线", kind="hotline", region_code="370198")
