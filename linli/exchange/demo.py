"""``linli demo``: an Open311 client for the first street and the 12345 hotline, keys printed once."""

from __future__ import annotations

import random

from linli.core.models import Region

from . import services
from .models import ApiClient, OutboundPush, Submission

OPEN311_NAME = "演示 Open311 随手拍"
HOTLINE_NAME = "演示 12345 热线"


def demo_extension(district: Region, scale, rng: random.Random) -> list[str]:
    street = Region.objects.filter(parent=district).order_by("code").first()
    if street is None:
        return []
    grid = Region.objects.filter(code__startswith=street.code, level="grid").order_by("code").first()
    open311 = services.create_client(
        name=OPEN311_NAME,
        kind="open311",
        region_code=street.code,
        fallback_grid=grid.code if grid else None,
        actor_name="linli demo",
    )
    hotline = services.create_client(
        name=HOTLINE_NAME, kind="hotline", region_code=district.code, actor_name="linli demo"
    )
    return [
        f"Open311 ({street.name} {street.code}) /open311/v2/  api_key={open311.key}",
        f"12345 热线 hotline /api/v1/exchange/cases/  X-Api-Key: {hotline.key}",
        "  (密钥只显示这一次 / keys are shown only now; see docs/open311.md, docs/exchange.md)",
    ]


def delete_exchange(district_code: str) -> None:
    """``--reset`` hook: the demo district's clients and what they exchanged."""
    clients = ApiClient.objects.filter(region_code__startswith=district_code)
    OutboundPush.objects.filter(client__in=clients).delete()
    Submission.objects.filter(client__in=clients).delete()
    clients.delete()
