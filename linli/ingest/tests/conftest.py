"""Fixtures for the ingest tests: the real device gateway and broker-mode worker (in a thread, on the real
seam and a real database), a real Mosquitto started on a free loopback port with our generated configuration,
and devices with tokens."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from linli.core.testing import build_region_tree
from linli.iot import pipeline, rules, storage
from linli.iot.models import Kind
from linli.iot.testing import make_device, make_profile, make_rule

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
REGION = "370198001001"


@pytest.fixture(autouse=True)
def _fresh_iot_caches():
    rules.engine.reset()
    storage.forget_partitions()
    pipeline._activity_written.clear()
    pipeline._profile_cache.clear()
    yield
    rules.engine.reset()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Devices:
    """A thermometer, a second device, a gateway; tokens 20+ characters as ThingsBoard's."""

    def __init__(self):
        build_region_tree()
        self.profile = make_profile(
            Kind.TEMPERATURE_HUMIDITY,
            keys=[{"key": "temperature", "unit": "°C"}, {"key": "humidity", "unit": "%"}],
        )
        make_rule(self.profile, alarm_type="high_temperature", key="temperature", op=">", value=60)
        self.device = make_device(REGION, self.profile, name="thermo-1", access_token="THERMO1-token-0000001")
        self.other = make_device(REGION, self.profile, name="thermo-2", access_token="THERMO2-token-0000002")
        gateway_profile = make_profile(Kind.GATEWAY, keys=[])
        self.gateway = make_device(
            REGION, gateway_profile, name="gw-1", access_token="GATEWAY1-token-000001", is_gateway=True
        )


@pytest.fixture
def devices(transactional_db):
    return Devices()


class ThreadService:
    """Runs an asyncio service (gateway or worker) in a background thread with its own event loop."""

    def __init__(self, factory):
        self.factory = factory  # async fn(front) -> object with start()/stop()
        self.loop = None
        self.service = None
        self.front = None
        self._stop = None
        self._ready = threading.Event()
        self._error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            asyncio.run(self._main())
        except Exception as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self):
        from linli.ingest.front import Front

        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.front = Front(max_delay=0.01)
        try:
            self.service = await self.factory(self.front)
            self._ready.set()
            await self._stop.wait()
            await self.service.stop()
        finally:
            self.front.close()

    def start(self):
        self.thread.start()
        assert self._ready.wait(30), "service did not start"
        if self._error:
            raise self._error
        return self

    def stop(self):
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


@pytest.fixture
def gateway(devices):
    from linli.ingest.gateway import DeviceGateway

    async def factory(front):
        service = DeviceGateway(front, "127.0.0.1", 0)
        await service.start()
        return service

    running = ThreadService(factory).start()
    yield running.service
    running.stop()


class Mosquitto:
    """A Mosquitto of our own, on a free loopback port, with the configuration `linli ingest` writes."""

    def __init__(self, directory: Path, tokens: list[str]):
        from linli.ingest.mosquitto import write_config

        self.port = free_port()
        # run as ourselves: as root Mosquitto would switch to "mosquitto", who cannot read pytest's tmp dirs
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.config = write_config(directory, tokens, port=self.port, user=user)
        self.log = directory / "mosquitto.log"
        self.process = None
        self.started: list = []  # every process this broker ran (a restarted one too), all stopped at the end

    def start(self):
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", self.config["conf"]], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT
        )
        self.started.append(self.process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.log.read_text()}")

    def stop(self):
        for process in self.started:
            if process.poll() is None:
                process.terminate()  # SIGTERM: Mosquitto saves its persistence file on the way out
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)

    @property
    def url(self) -> str:
        return self.config["url"]


@pytest.fixture
def mosquitto(devices, tmp_path):
    tokens = [d.access_token for d in (devices.device, devices.other, devices.gateway)]
    broker = Mosquitto(tmp_path / "mosquitto", tokens).start()
    yield broker
    broker.stop()


def start_worker(mosquitto, **options) -> ThreadService:
    """A broker-mode worker in a thread of its own (options as `BrokerWorker` takes them)."""
    from linli.ingest.broker import BrokerWorker

    async def factory(front):
        service = BrokerWorker(front, mosquitto.url, downlink=True, **options)
        await service.start()
        return service

    return ThreadService(factory).start()


@pytest.fixture
def worker(mosquitto):
    running = start_worker(mosquitto)
    yield running.service
    running.stop()


@pytest.fixture
def two_workers(mosquitto):
    """Partitions 0/2 and 1/2: thermo-2 falls in the first, thermo-1 and the gateway in the second."""
    running = [start_worker(mosquitto, partition=(i, 2)) for i in range(2)]
    yield [r.service for r in running]
    for r in running:
        r.stop()


def wait_for(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll until check() is truthy (the service works in other threads); return its last value."""
    from django.db import OperationalError

    def attempt():
        try:
            return check()
        except OperationalError:  # SQLite's shared in-memory test database: "table is locked" by a writer
            return None

    deadline = time.monotonic() + timeout
    value = attempt()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = attempt()
    return value


_CREATE_DEVICE = """
import os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
django.setup()
from linli.core.testing import build_region_tree
from linli.iot.testing import make_device, make_profile
build_region_tree()
profile = make_profile()
for n, token in enumerate(sys.argv[2:]):
    make_device(sys.argv[1], profile, name=f"worker-db-device-{n}", access_token=token)
"""


class WorkerDatabase:
    """The database a `linli ingest` subprocess writes to: this test's own on PostgreSQL; on SQLite (whose
    test database lives in this process's memory) a migrated file with the same device token."""

    def __init__(self, tmp_path: Path, *devices):
        from django.db import connection

        self.env = dict(os.environ)
        self.devices = devices
        settings = connection.settings_dict
        if connection.vendor == "postgresql":
            user = settings.get("USER") or "postgres"
            host = settings.get("HOST") or "127.0.0.1"
            port = settings.get("PORT") or 5432
            self.env["DATABASE_URL"] = f"postgres://{user}@{host}:{port}/{settings['NAME']}"
            self.path = None
        else:
            self.path = tmp_path / "worker.sqlite3"
            self.env["DATABASE_URL"] = f"sqlite:///{self.path}"
            python = sys.executable
            subprocess.run(
                [python, "-m", "linli.cli", "migrate"], env=self.env, check=True, capture_output=True
            )
            subprocess.run(
                [python, "-c", _CREATE_DEVICE, devices[0].region_id, *(d.access_token for d in devices)],
                env=self.env,
                check=True,
            )

    def values(self, device=None) -> list[float]:
        """The values stored for a device (the first one if not said)."""
        device = device or self.devices[0]
        if self.path is None:
            from linli.iot.models import Telemetry

            return list(Telemetry.objects.filter(device=device).values_list("num", flat=True))
        with sqlite3.connect(self.path, timeout=10) as db:
            rows = db.execute(
                "SELECT t.num FROM iot_telemetry t JOIN iot_device d ON d.id = t.device_id"
                " WHERE d.access_token = ?",
                [device.access_token],
            )
            return [row[0] for row in rows]
