"""`linli simulate`: the demo district's devices reporting realistic values, with occasional faults.

Each device connects with its access token (to the device gateway, or to a broker in broker mode where the
topics carry the token) and reports its profile's keys every reporting period, with jitter. Faults, each at
a small rate: a spike (a value far out of range, which the alarm rules should catch), a missed report, and a
device going offline for a few periods before it comes back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time

from . import codec, payloads
from .broker import device_topic
from .client import MqttClient

log = logging.getLogger("linli.simulate")

# Kind → keys reported when a profile lists none.
DEFAULT_KEYS = {
    "temperature_humidity": ("temperature", "humidity"),
    "smoke": ("smoke", "battery"),
    "water_leak": ("leak", "battery"),
    "gas_detector": ("gas_ppm",),
    "water_meter": ("water_m3",),
    "electricity_meter": ("energy_kwh", "power_w"),
    "gas_meter": ("gas_m3",),
    "heat_meter": ("heat_gj", "supply_temp"),
    "elevator": ("floor", "running", "door_open"),
    "ev_charger": ("power_kw", "charging"),
    "street_light": ("on", "power_w"),
    "door_controller": ("open",),
    "sos_button": ("pressed", "battery"),
    "camera": ("online",),
    "environment": ("pm25", "noise_db", "temperature"),
}


class Model:
    """Values of one device over time: smooth daily curves, counters that only grow, rare events."""

    def __init__(self, keys, rng: random.Random):
        self.keys = tuple(keys) or ("value",)
        self.rng = rng
        self.phase = rng.random() * math.tau
        self.counters: dict[str, float] = {}

    def value(self, key: str, t: float, spike: bool):
        rng, k = self.rng, key.lower()
        day = math.sin(t / 86400 * math.tau + self.phase)
        if spike:
            if "temp" in k:
                return round(70 + rng.random() * 20, 1)
            if k in ("smoke", "leak", "pressed", "open", "door_open"):
                return 1
            if "gas" in k and "ppm" in k:
                return round(1200 + rng.random() * 800)
            if "pm25" in k:
                return round(300 + rng.random() * 200)
        if k.endswith(("_m3", "_kwh", "_gj")):
            step = {"_m3": 0.002, "_kwh": 0.05, "_gj": 0.001}[k[k.rindex("_") :]]
            self.counters[k] = self.counters.get(k, rng.random() * 500) + step * (1 + day) * rng.random()
            return round(self.counters[k], 3)
        if "temp" in k:
            base = 60.0 if "supply" in k else 22.0
            return round(base + 4 * day + rng.gauss(0, 0.3), 1)
        if "humid" in k:
            return round(50 - 10 * day + rng.gauss(0, 1), 1)
        if "battery" in k:
            return round(90 + rng.random() * 10)
        if "ppm" in k:
            return round(abs(rng.gauss(20, 5)))
        if "pm25" in k:
            return round(abs(rng.gauss(35, 10)))
        if "noise" in k:
            return round(45 + 10 * day + rng.gauss(0, 2), 1)
        if "power_w" in k:
            return round(max(0.0, 80 + 60 * day + rng.gauss(0, 5)), 1)
        if "power_kw" in k:
            return round(max(0.0, rng.gauss(7, 0.5)), 2)
        if k == "floor":
            return rng.randint(1, 18)
        if k in ("on", "online", "running", "charging"):
            return rng.random() < 0.9
        if k in ("smoke", "leak", "pressed", "open", "door_open"):
            return 0
        return round(rng.gauss(50, 10), 2)

    def sample(self, t: float, spike_key: str | None) -> dict:
        return {key: self.value(key, t, key == spike_key) for key in self.keys}


class Simulator:
    def __init__(
        self,
        devices,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        broker: bool = False,
        interval: float | None = None,
        spike_rate: float = 0.002,
        miss_rate: float = 0.01,
        offline_rate: float = 0.0005,
        seed: int | None = None,
        version: int = codec.MQTT5,
    ):
        self.devices = [d for d in devices if not d.is_gateway]
        self.host, self.port, self.broker = host, port, broker
        self.interval = interval
        self.spike_rate, self.miss_rate, self.offline_rate = spike_rate, miss_rate, offline_rate
        self.rng = random.Random(seed)
        self.version = version
        self.sent = 0
        self.acked = 0
        self.spikes = 0
        self.missed = 0
        self.offline = 0
        self.errors = 0

    async def _device(self, device, period: float, stop: asyncio.Event) -> None:
        rng = random.Random(self.rng.random())
        model = Model(
            getattr(device, "keys", ()) or DEFAULT_KEYS.get(getattr(device, "profile_kind", ""), ()), rng
        )
        topic = (
            device_topic(device.token, "v1/devices/me/telemetry")
            if self.broker
            else "v1/devices/me/telemetry"
        )
        password = device.token if self.broker else None
        await asyncio.sleep(rng.random() * period)  # spread the devices over the period
        client = None
        while not stop.is_set():
            try:
                if client is None or client.closed.done():
                    client = await MqttClient.connect(
                        self.host, self.port, device.token, password, version=self.version, keepalive=120
                    )
                if rng.random() < self.offline_rate:
                    self.offline += 1
                    await client.disconnect()
                    client = None
                    await _sleep(stop, period * rng.randint(3, 10))
                    continue
                if rng.random() < self.miss_rate:
                    self.missed += 1
                else:
                    spike = None
                    if rng.random() < self.spike_rate:
                        spike = rng.choice(model.keys)
                        self.spikes += 1
                    values = model.sample(time.time(), spike)
                    future = await client.publish(
                        topic, payloads.dumps({"ts": int(time.time() * 1000), "values": values})
                    )
                    self.sent += 1
                    future.add_done_callback(self._acked)
            except (TimeoutError, OSError, ConnectionError) as exc:
                self.errors += 1
                log.debug("%s: %r", device.name, exc)
                client = None
            await _sleep(stop, period * (0.9 + 0.2 * rng.random()))
        if client is not None:
            await client.disconnect()

    def _acked(self, future) -> None:
        if not future.cancelled() and future.exception() is None:
            self.acked += 1

    async def run(self, duration: float | None = None, stop: asyncio.Event | None = None) -> dict:
        stop = stop or asyncio.Event()
        tasks = []
        for device in self.devices:
            period = self.interval or float(getattr(device, "reporting_period_s", 0) or 60)
            tasks.append(asyncio.create_task(self._device(device, period, stop)))
        if duration is not None:
            await _sleep(stop, duration)
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats()

    def stats(self) -> dict:
        return {
            "devices": len(self.devices),
            "sent": self.sent,
            "acked": self.acked,
            "spikes": self.spikes,
            "missed": self.missed,
            "offline": self.offline,
            "errors": self.errors,
        }


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
