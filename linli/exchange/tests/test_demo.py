"""The demo's exchange clients: keys printed once and working; ``--reset`` removes them."""

import random
import re

import pytest
from django.test import Client

from linli.core.models import Region
from linli.exchange.demo import delete_exchange, demo_extension
from linli.exchange.models import ApiClient

pytestmark = pytest.mark.django_db


def test_demo_clients_work_and_reset_removes_them(people):
    lines = demo_extension(Region.objects.get(code="370198"), None, random.Random(1))
    (open311_key,) = re.findall(r"api_key=(\S+)", lines[0])
    (hotline_key,) = re.findall(r"X-Api-Key: (\S+)", lines[1])
    assert Client().get("/open311/v2/requests.json", {"api_key": open311_key}).status_code == 200
    assert Client(HTTP_X_API_KEY=hotline_key).get("/api/v1/exchange/updates/").status_code == 200
    assert ApiClient.objects.get(kind="open311").fallback_grid_id == "370198001001001"
    delete_exchange("370198")
    assert not ApiClient.objects.exists()
