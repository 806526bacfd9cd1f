"""Ingest benchmark → docs/benchmarks/ingest.md (PostgreSQL, alarm rules on, load generator on this machine).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/linli_ingest .venv/bin/python bench/ingest.py \
        [--duration 300] [--rate 6000] [--devices 10000] [--runs gateway,broker,ceiling,scale]

Runs, each against a freshly emptied time-series table:
  gateway   devices → `linli ingest` (device gateway) at a fixed offered rate, QoS 1, for --duration seconds
  broker    devices → Mosquitto (our generated config) → `linli ingest --broker` worker, same load
  ceiling   unthrottled for a short while: Mosquitto → a bare subscriber that only counts and acks, versus
            Mosquitto → our worker, versus our device gateway (our throughput as a ratio of the bare one)
  scale     unthrottled, 1,000 / 10,000 devices (one connection each) and 100,000 devices behind 1,000 gateway
            connections (the fd limit here is 20,000): throughput and the service's memory
Every message is `{"ts":…,"values":{"temperature":…,"humidity":…,"seq":…}}` (3 data points). A few messages per
second carry temperature 85 on a device that has not alarmed yet; the rule `temperature > 60` must raise an
alarm, and the time from publish to the alarm row being visible is measured by polling the alarm table.
No loss: PUBACKs == sent, and rows in iot_telemetry == 3 × sent at the end of each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
REGION = "370198001001"
ALARM_TYPE = "bench_high_temperature"


def token(n: int) -> str:
    return f"BENCH-{n:014d}"  # 20 characters


def child_name(n: int) -> str:
    return f"bench-child-{n:06d}"


# --- load generator (a subprocess) --------------------------------------------------------------------------


async def loadgen(args) -> dict:
    from linli.ingest import codec
    from linli.ingest.client import MqttClient

    first, count = args.first, args.count
    broker = args.mode == "broker"
    gateway_children = args.children
    clients: list = []
    topics: list = []
    sem = asyncio.Semaphore(200)

    async def open_one(n):
        async with sem:
            for attempt in range(5):
                try:
                    client = await MqttClient.connect(
                        args.host,
                        args.port,
                        token(n),
                        token(n) if broker else None,
                        version=codec.MQTT311 if args.v311 else codec.MQTT5,
                        max_inflight=args.inflight,
                        keepalive=300,
                    )
                    return n, client
                except (OSError, ConnectionError, asyncio.TimeoutError):
                    await asyncio.sleep(0.5 * (attempt + 1))
            raise RuntimeError(f"device {n} could not connect")

    opened = await asyncio.gather(*(open_one(n) for n in range(first, first + count)))
    for n, client in opened:
        clients.append(client)
        if gateway_children:
            topics.append(f"v1/gateway/{token(n)}/telemetry" if broker else "v1/gateway/telemetry")
        else:
            topics.append(f"v1/devices/{token(n)}/telemetry" if broker else "v1/devices/me/telemetry")
    ready = time.time()
    start_at = args.start_at or ready
    await asyncio.sleep(max(0.0, start_at - time.time()))
    per_second: dict[int, int] = {}
    alarms: list = []
    sent = 0
    failed = 0
    seq = 0
    rng = random.Random(first)
    alarm_devices = list(range(first, first + count))
    rng.shuffle(alarm_devices)
    index_of = {n: i for i, (n, _) in enumerate(opened)}
    t0 = time.time()
    end = t0 + args.duration
    tick = 0.01
    per_tick = args.rate * tick if args.rate else None
    alarm_every = (1.0 / args.alarm_rate) if args.alarm_rate else None
    next_alarm = t0 + 1.0
    credit = 0.0
    last_tick = t0
    base_ts = int(t0 * 1000) - 60_000
    cursor = 0

    def on_ack(future):
        if future.cancelled() or future.exception() is not None:
            return
        if future.result().reason:
            nonlocal failed
            failed += 1
            return
        second = int(time.time() - t0)  # counted when the PUBACK arrives, i.e. when the message is durable
        per_second[second] = per_second.get(second, 0) + 1

    while True:
        now = time.time()
        if now >= end:
            break
        if per_tick is not None:
            credit += args.rate * (
                now - last_tick
            )  # by elapsed time: sleep overshoot must not lower the rate
            last_tick = now
            batch = int(credit)
            credit -= batch
        else:
            batch = 200
        for _ in range(batch):
            i = cursor
            cursor = (cursor + 1) % len(clients)
            client = clients[i]
            if client.slots.locked():
                continue  # this connection has its window full: the next one sends
            temperature = 20.0 + (seq % 50) / 10
            if alarm_every and now >= next_alarm and alarm_devices:
                n = alarm_devices.pop()
                i = index_of[n]
                client = clients[i]
                temperature = 85.0
                alarms.append((n, time.time()))
                next_alarm += alarm_every
            seq += 1
            ts = base_ts + seq  # unique per (device, key): a lost or duplicated row shows in the count
            values = f'{{"temperature":{temperature},"humidity":{40 + seq % 20},"seq":{seq}}}'
            if gateway_children:
                n = first + i
                child = (n - args.first_all) * gateway_children + seq % gateway_children
                payload = f'{{"{child_name(child)}":[{{"ts":{ts},"values":{values}}}]}}'
            else:
                payload = f'{{"ts":{ts},"values":{values}}}'
            try:
                future = await client.publish(topics[i], payload.encode(), 1)
            except ConnectionError:
                continue
            sent += 1
            future.add_done_callback(on_ack)
        if per_tick is not None:
            await asyncio.sleep(max(0.0, tick - (time.time() - now)))
        else:
            await asyncio.sleep(0)
    publish_end = time.time()
    for client in clients:
        try:
            await client.drain(120)
        except (asyncio.TimeoutError, ConnectionError):
            pass
    acked = sum(per_second.values())
    for client in clients:
        try:
            await client.disconnect()
        except Exception:  # noqa: BLE001
            pass
    return {
        "sent": sent,
        "acked": acked,
        "failed": failed,
        "per_second": per_second,
        "alarms": alarms,
        "t0": t0,
        "publish_s": publish_end - t0,
        "drained_s": time.time() - t0,
        "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
    }


def loadgen_main(args) -> None:
    with __import__("contextlib").suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    result = asyncio.run(loadgen(args))
    print(json.dumps(result))


# --- bare subscriber (a subprocess): counts and acknowledges, nothing else ----------------------------------


async def bare_subscriber(args) -> None:
    from linli.ingest import codec
    from linli.ingest.client import MqttClient

    counts: dict[int, int] = {}
    t0 = time.time()

    def on_message(topic, payload):
        second = int(time.time() - t0)
        counts[second] = counts.get(second, 0) + 1

    client = await MqttClient.connect(
        args.host, args.port, args.user, args.password, client_id="bare-subscriber", on_message=on_message
    )
    await client.subscribe([("v1/devices/+/telemetry", 1)])
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(json.dumps({"per_second": counts, "t0": t0}), flush=True)
    del codec


# --- orchestration ------------------------------------------------------------------------------------------


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linli.settings")
    import django

    django.setup()


def prepare(devices: int, children: int = 0) -> None:
    """Bench devices (and gateway children) exist; a profile with the alarm rule; time series emptied."""
    from django.core.management import call_command
    from django.db import connection

    from linli.core.models import Region
    from linli.core.testing import build_region_tree
    from linli.iot.models import AlarmRule, Device, DeviceProfile, Kind

    call_command("migrate", interactive=False, verbosity=0)
    if not Region.objects.filter(code=REGION).exists():
        build_region_tree()
    profile, _ = DeviceProfile.objects.get_or_create(
        name="bench-thermo",
        defaults={
            "kind": Kind.TEMPERATURE_HUMIDITY,
            "keys": [{"key": "temperature"}, {"key": "humidity"}, {"key": "seq"}],
        },
    )
    AlarmRule.objects.get_or_create(
        profile=profile,
        alarm_type=ALARM_TYPE,
        defaults={"kind": AlarmRule.RuleKind.THRESHOLD, "key": "temperature", "op": ">", "value": 60},
    )
    existing = set(Device.objects.filter(name__startswith="bench-").values_list("name", flat=True))
    new = [
        Device(
            name=f"bench-{n:06d}",
            profile=profile,
            region_id=REGION,
            access_token=token(n),
            is_gateway=bool(children),
        )
        for n in range(devices)
        if f"bench-{n:06d}" not in existing
    ]
    Device.objects.bulk_create(new, batch_size=5000)
    if children:
        Device.objects.filter(name__startswith="bench-0", name__regex=r"^bench-[0-9]{6}$").update(
            is_gateway=True
        )
        gateways = dict(Device.objects.filter(name__regex=r"^bench-[0-9]{6}$").values_list("name", "pk"))
        kids = []
        for n in range(devices * children):
            name = child_name(n)
            if name not in existing:
                kids.append(
                    Device(
                        name=name,
                        profile=profile,
                        region_id=REGION,
                        access_token=f"BENCHCHILD-{n:010d}",
                        gateway_id=gateways[f"bench-{n // children:06d}"],
                    )
                )
        Device.objects.bulk_create(kids, batch_size=5000)
    else:
        Device.objects.filter(name__regex=r"^bench-[0-9]{6}$").update(is_gateway=False)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE iot_telemetry")
        cursor.execute("DELETE FROM iot_latestvalue")
        cursor.execute("DELETE FROM iot_alarm WHERE type = %s", [ALARM_TYPE])
    connection.close()


def row_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM iot_telemetry")
        return cursor.fetchone()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def family(pid: int) -> list[int]:
    """A process and its descendants (the gateway's supervisor and its processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        todo.extend(int(c) for c in children)
    return found


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def cpu_by_role(service_pids) -> dict[str, float]:
    """CPU seconds used so far by every process on the machine, by role (where the 2 cores go)."""
    roles: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm == "mosquitto":
            role = "Mosquitto"
        elif pid in service_pids:
            role = "ingest service"
        elif comm.startswith("postgres"):
            role = "PostgreSQL"
        elif b"--loadgen" in cmdline or b"--bare" in cmdline:
            role = "load generator" if b"--loadgen" in cmdline else "bare subscriber"
        else:
            role = "other"
        roles[role] = roles.get(role, 0.0) + cpu_s(pid)
    return roles


class Sampler(threading.Thread):
    """Once a second: the service's memory, the machine's load; every 50 ms: new alarm rows (first seen)."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.stop = threading.Event()
        self.rss: list[float] = []
        self.load: list[float] = []
        self.alarm_seen: dict[int, float] = {}
        self.cpu: list[tuple[float, dict]] = []  # (time, cpu_by_role) once a second

    def run(self):
        from django.db import connection

        last = 0.0
        with connection.cursor() as cursor:
            while not self.stop.is_set():
                cursor.execute(
                    "SELECT d.name FROM iot_alarm a JOIN iot_device d ON d.id = a.device_id WHERE a.type = %s",
                    [ALARM_TYPE],
                )
                now = time.time()
                for (name,) in cursor.fetchall():
                    n = int(name.split("-")[-1])
                    self.alarm_seen.setdefault(n, now)
                if now - last >= 1.0:
                    last = now
                    self.cpu.append((now, cpu_by_role(self.pids)))
                    self.rss.append(sum(rss_mb(pid) for pid in self.pids))
                    self.load.append(os.getloadavg()[0])
                time.sleep(0.05)
        connection.close()


def run_loadgens(host, port, devices, *, rate, duration, mode, processes, alarm_rate, inflight, children=0):
    start_at = time.time() + max(5.0, devices / 2000)
    procs = []
    share = devices // processes
    for p in range(processes):
        first = p * share
        count = share if p < processes - 1 else devices - first
        cmd = [
            PYTHON, __file__, "--loadgen", "--host", host, "--port", str(port), "--first", str(first),
            "--count", str(count), "--rate", str(rate / processes if rate else 0), "--duration", str(duration),
            "--mode", mode, "--alarm-rate", str(alarm_rate / processes), "--inflight", str(inflight),
            "--start-at", str(start_at), "--children", str(children),
        ]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=duration + 600)
        if proc.returncode:
            raise RuntimeError(f"load generator failed: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def cores_by_role(cpu: list[tuple[float, dict]], start: float, end: float) -> dict[str, float]:
    """Cores used on average by each role between two times (the steady part of a run)."""
    inside = [(t, roles) for t, roles in cpu if start <= t <= end]
    if len(inside) < 2:
        return {}
    (t0, first), (t1, last) = inside[0], inside[-1]
    return {role: round((last[role] - first.get(role, 0.0)) / (t1 - t0), 2) for role in last}


def summarise(results, alarm_seen, duration):
    sent = sum(r["sent"] for r in results)
    acked = sum(r["acked"] for r in results)
    failed = sum(r["failed"] for r in results)
    per_second: dict[int, int] = {}
    for r in results:
        for second, count in r["per_second"].items():
            per_second[int(second)] = per_second.get(int(second), 0) + count
    # sustained: every full 10-second window inside the publishing period
    windows = []
    for start in range(0, int(duration) - 9, 10):
        windows.append(sum(per_second.get(s, 0) for s in range(start, start + 10)) / 10)
    latencies = []
    alarms = [tuple(a) for r in results for a in r["alarms"]]
    for n, published in alarms:
        seen = alarm_seen.get(n)
        if seen is not None:
            latencies.append(max(0.0, seen - published))
    latencies.sort()

    def pct(values, q):
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    return {
        "sent": sent,
        "acked": acked,
        "failed": failed,
        "acks_per_second": [per_second.get(s, 0) for s in range(int(duration) + 5)],
        "rate": sum(per_second.get(s, 0) for s in range(int(duration))) / duration if duration else 0,
        "window_min": min(windows) if windows else 0,
        "window_median": statistics.median(windows) if windows else 0,
        "alarms_sent": len(alarms),
        "alarms_seen": len(latencies),
        "alarm_p50": pct(latencies, 0.5),
        "alarm_p99": pct(latencies, 0.99),
        "alarm_max": latencies[-1] if latencies else float("nan"),
        "loadgen_cpu_s": sum(r["cpu_s"] for r in results),
    }


def start_service(cmd, env, port, log_path):
    # the service's log (a stats line every 5 s) goes to a file: a pipe nobody reads would block it
    env = {**env, "LINLI_INGEST_STATS_S": "5"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"))
    wait_port(port) if port else None
    return proc


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_mosquitto(devices: int, workdir: Path, children: int = 0):
    import pwd

    from linli.ingest.mosquitto import write_config

    port = free_port()
    tokens = [token(n) for n in range(devices)]
    config = write_config(
        workdir, tokens, port=port, user=pwd.getpwuid(os.geteuid()).pw_name, persistence=False
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", config["conf"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port)
    return proc, port, config


def measure(label, service_pids_fn, loadgen_kwargs, duration, expect_rows_per_msg=3, extra=None):
    """One run: sampler on, load generators, then wait for the rows; returns the summary."""
    sampler = Sampler(service_pids_fn())
    sampler.start()
    service_cpu0 = sum(cpu_s(p) for p in sampler.pids)
    t0 = time.time()
    results = run_loadgens(duration=duration, **loadgen_kwargs)
    summary = summarise(results, sampler.alarm_seen, duration)
    # every message sent is stored exactly once (a message stored whose PUBACK had not arrived when the load
    # generator stopped is not lost); and no acknowledged message is missing
    expected = summary["sent"] * expect_rows_per_msg
    deadline = time.time() + 300
    rows = row_count()
    while rows < expected and time.time() < deadline:
        time.sleep(0.5)
        rows = row_count()
    # durable throughput: all rows committed, from the first publish (in broker mode the device's PUBACK comes
    # from Mosquitto, so only the rows tell when the pipeline has caught up)
    publish_start = min(r["t0"] for r in results)
    summary["durable_rate"] = rows / expect_rows_per_msg / (time.time() - publish_start)
    time.sleep(1.0)
    summary["alarm_seen_late"] = sum(1 for r in results for n, _ in r["alarms"] if n in sampler.alarm_seen)
    # the steady part: from 10 s after the first publish to 2 s before the load generators stop
    summary["cores"] = cores_by_role(sampler.cpu, publish_start + 10, publish_start + duration - 2)
    sampler.stop.set()
    sampler.join(5)
    summary.update(
        label=label,
        rows=rows,
        expected_rows=expected,
        rss_max=max(sampler.rss) if sampler.rss else 0,
        load_avg=statistics.mean(sampler.load) if sampler.load else 0,
        service_cpu_s=sum(cpu_s(p) for p in sampler.pids) - service_cpu0,
        wall_s=time.time() - t0,
        **(extra or {}),
    )
    print(json.dumps(summary), flush=True)
    return summary


# PostgreSQL settings for a write-heavy load (docs/operations.md): checkpoints by time rather than every
# gigabyte of WAL, and full-page images compressed. All reloadable; `--tune-postgres` sets them for the run and
# puts them back afterwards.
TUNING = {"max_wal_size": "8GB", "checkpoint_timeout": "15min", "wal_compression": "on"}


def tune_postgres(on: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name, value in TUNING.items():
            if on:
                cursor.execute(f"ALTER SYSTEM SET {name} = %s", [value])
            else:
                cursor.execute(f"ALTER SYSTEM RESET {name}")
        cursor.execute("SELECT pg_reload_conf()")
        if on:
            cursor.execute("CHECKPOINT")  # start the run with a fresh checkpoint cycle
    connection.close()


def bench(args) -> list[dict]:
    setup_django()
    if args.tune_postgres:
        tune_postgres(True)
    env = dict(os.environ)
    runs = args.runs.split(",")
    out = []
    work = Path(tempfile.mkdtemp(prefix="linli-bench-"))
    base = dict(host="127.0.0.1", processes=args.processes, inflight=args.inflight)

    def gateway_run(label, devices, rate, duration, alarm_rate, children=0, processes=args.gateway_processes):
        prepare(devices, children)
        port = free_port()
        command = [PYTHON, "-m", "linli.cli", "ingest", "--port", str(port), "--processes", str(processes)]
        service = start_service(command, env, port, work / f"{label}.log")
        time.sleep(2 if processes > 1 else 0)  # every process listening
        try:
            return measure(
                label,
                lambda: family(service.pid),
                dict(
                    base,
                    port=port,
                    devices=devices,
                    rate=rate,
                    mode="gateway",
                    alarm_rate=alarm_rate,
                    children=children,
                    # a gateway speaks for many devices: as many messages in flight as 10 devices have, so
                    # 1,000 gateways have the same 20,000 outstanding as 10,000 devices
                    inflight=base["inflight"] * (10 if children else 1),
                ),
                duration,
                extra={
                    "mode": "device gateway" + (f" ({processes} processes)" if processes > 1 else ""),
                    "devices": devices * (children or 1),
                    "connections": devices,
                    "processes": processes,
                },
            )
        finally:
            stop(service)

    def broker_run(label, devices, rate, duration, alarm_rate, workers=args.broker_workers):
        prepare(devices)
        mosq, port, config = start_mosquitto(devices, work / label)
        services = [
            start_service(
                [PYTHON, "-m", "linli.cli", "ingest", "--broker", config["url"], "--partition", f"{w}/{workers}"],
                env,
                None,
                work / f"{label}-{w}.log",
            )
            for w in range(workers)
        ]
        time.sleep(3)
        try:
            return measure(
                label,
                lambda: [s.pid for s in services] + [mosq.pid],
                dict(base, port=port, devices=devices, rate=rate, mode="broker", alarm_rate=alarm_rate),
                duration,
                extra={"mode": f"broker ({workers} worker{'s, partitioned' if workers > 1 else ''})", "devices": devices, "connections": devices},
            )
        finally:
            for s in services:
                stop(s)
            stop(mosq)

    def bare_run(label, devices, duration):
        mosq, port, config = start_mosquitto(devices, work / label)
        sub = subprocess.Popen(
            [
                PYTHON,
                __file__,
                "--bare",
                "--port",
                str(port),
                "--user",
                config["user"],
                "--password",
                config["password"],
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sub.stdout.readline().strip() == "ready"
        try:
            results = run_loadgens(
                port=port, devices=devices, rate=0, duration=duration, mode="broker", alarm_rate=0, **base
            )
        finally:
            sub.send_signal(signal.SIGTERM)
            counts = json.loads(sub.stdout.read().strip().splitlines()[-1])
            stop(mosq)
        sent = sum(r["sent"] for r in results)
        delivered = sum(counts["per_second"].values())
        summary = {
            "label": label,
            "mode": "Mosquitto → bare subscriber",
            "devices": devices,
            "sent": sent,
            "acked": sum(r["acked"] for r in results),
            "delivered": delivered,
            "rate": delivered / duration,
            "rss_max": 0,
            "load_avg": os.getloadavg()[0],
        }
        print(json.dumps(summary), flush=True)
        return summary

    try:
        if "gateway" in runs:
            out.append(
                gateway_run("gateway-sustained", args.devices, args.rate, args.duration, args.alarm_rate)
            )
        if "broker" in runs:
            out.append(
                broker_run("broker-sustained", args.devices, args.rate, args.broker_duration, args.alarm_rate)
            )
        if "ceiling" in runs:
            d = args.ceiling_duration
            out.append(bare_run("ceiling-bare", args.devices, d))
            out.append(broker_run("ceiling-broker", args.devices, 0, d, 2))
            out.append(gateway_run("ceiling-gateway", args.devices, 0, d, 2))
        if "scale" in runs:
            d = args.ceiling_duration
            out.append(gateway_run("scale-1k", 1000, 0, d, 2))
            out.append(gateway_run("scale-10k", 10000, 0, d, 2))
            out.append(gateway_run("scale-100k", 1000, 0, d * 2, 0, children=100))
    finally:
        (work / "results.json").write_text(json.dumps(out, indent=1))
        if args.tune_postgres:
            tune_postgres(False)
    return out


def report(results: list[dict], args) -> str:
    by = {r["label"]: r for r in results}
    lines = [
        "# Ingestion benchmark",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `bench/ingest.py` on this machine: "
        f"{os.cpu_count()} cores shared by PostgreSQL, Mosquitto, the ingest service, the load generator "
        f"({args.processes} processes, our asyncio MQTT client) and other work; the load average during each run "
        "is in the tables. PostgreSQL with the alarm rule `temperature > 60` on every device. QoS 1, every "
        'message `{"ts","values":{temperature, humidity, seq}}` = 3 data points; PUBACK only after commit. '
        + (
            f"PostgreSQL settings for the run (`--tune-postgres`): {', '.join(f'{k} = {v}' for k, v in TUNING.items())}."
            if args.tune_postgres
            else "PostgreSQL as installed."
        ),
        "",
        "## Sustained load",
        "",
        "| run | devices | offered | PUBACKs/s (avg) | worst 10 s window | median 10 s window | durable msg/s | sent "
        "| acked | rows (= 3 × sent?) | alarm latency p50 / p99 / max, s (seen in run / by the end / sent) "
        "| RSS max | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # "-earlier" rows: runs of the same kind kept from an earlier invocation (merged results files)
    sustained = [r for r in results if r["label"].startswith(("gateway-sustained", "broker-sustained"))]
    for r in sorted(sustained, key=lambda r: not r["label"].startswith("gateway")):
        label = r["label"]
        dur = r.get("duration") or (args.duration if label.startswith("gateway") else args.broker_duration)
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['mode']}, {dur:.0f} s{note} | {r['devices']:,} | {args.rate:,}/s | {r['rate']:,.0f} | "
            f"{r['window_min']:,.0f} | {r['window_median']:,.0f} | {r['durable_rate']:,.0f} | {r['sent']:,} | "
            f"{r['acked']:,} | "
            f"{r['rows']:,} ({'yes' if r['rows'] == r['expected_rows'] else 'NO'}) | "
            f"{r['alarm_p50']:.2f} / {r['alarm_p99']:.2f} / {r['alarm_max']:.2f} "
            f"({r['alarms_seen']}/{r['alarm_seen_late']}/{r['alarms_sent']}) | "
            f"{r['rss_max']:.0f} MB | {r['load_avg']:.1f} |"
        )
    with_cores = [r for r in results if r.get("cores")]
    if with_cores:
        roles = ["ingest service", "PostgreSQL", "load generator", "Mosquitto", "bare subscriber", "other"]
        lines += [
            "",
            "## Where the two cores went (steady part of each run: cores used on average)",
            "",
            "| run | " + " | ".join(roles) + " | total |",
            "|---" * (len(roles) + 2) + "|",
        ]
        for r in with_cores:
            cores = r["cores"]
            lines.append(
                f"| {r['label']} ({r['mode']}) | "
                + " | ".join(f"{cores.get(role, 0):.2f}" for role in roles)
                + f" | {sum(cores.values()):.2f} |"
            )
    if "ceiling-bare" in by:
        bare = by["ceiling-bare"]
        lines += [
            "",
            "## Ceiling: unthrottled, against a bare Mosquitto subscriber",
            "",
            f"{args.devices:,} devices, load generator unthrottled for {args.ceiling_duration:.0f} s.",
            "",
            "| path | msg/s | ratio to bare | rows ok | load avg |",
            "|---|---|---|---|---|",
            f"| Mosquitto → bare subscriber (counts, acks) | {bare['rate']:,.0f} | 1.00 | – | {bare['load_avg']:.1f} |",
        ]
        for label in ("ceiling-broker", "ceiling-gateway"):
            r = by.get(label)
            if r:
                ok = (
                    "yes" if r["rows"] == r["expected_rows"] else f"NO ({r['rows']:,}/{r['expected_rows']:,})"
                )
                # broker mode: the device's PUBACK comes from the broker, so only the rows tell the rate
                rate = r["durable_rate"] if label == "ceiling-broker" else r["rate"]
                lines.append(
                    f"| {r['mode']} → PostgreSQL | {rate:,.0f} | {rate / bare['rate']:.2f} | {ok} | "
                    f"{r['load_avg']:.1f} |"
                )
    scale = [by[k] for k in ("scale-1k", "scale-10k", "scale-100k") if k in by]
    if scale:
        lines += [
            "",
            "## Devices: 1,000 → 100,000 (device gateway, unthrottled)",
            "",
            "| devices | connections | msg/s | rows ok | service RSS max | load avg |",
            "|---|---|---|---|---|---|",
        ]
        for r in scale:
            ok = "yes" if r["rows"] == r["expected_rows"] else f"NO ({r['rows']:,}/{r['expected_rows']:,})"
            lines.append(
                f"| {r['devices']:,} | {r['connections']:,} | {r['rate']:,.0f} | {ok} | {r['rss_max']:.0f} MB | "
                f"{r['load_avg']:.1f} |"
            )
    return "\n".join(lines) + "\n"


STORE_START, STORE_END = "<!-- iot_store:start -->", "<!-- iot_store:end -->"


def merge(text: str, old: str) -> str:
    """Keep the hand-written reading of the numbers and the storage section that bench/iot_store.py writes
    (each between its markers) after ours."""
    for name in ("notes", "iot_store"):
        start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start_marker in old and end_marker in old:
            start = old.index(start_marker)
            block = old[start : old.index(end_marker, start) + len(end_marker)]
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loadgen", action="store_true")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--first-all", type=int, default=0)
    parser.add_argument("--count", type=int)
    parser.add_argument("--rate", type=float, default=6000)
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--broker-duration", type=float, default=120)
    parser.add_argument("--ceiling-duration", type=float, default=30)
    parser.add_argument("--mode", default="gateway")
    parser.add_argument("--alarm-rate", type=float, default=10)
    # a real device sending every few seconds has at most one message in flight; 2 per connection keeps the
    # total outstanding (20,000 at 10,000 devices) bounded, so an overloaded server shows as a lower rate
    parser.add_argument("--inflight", type=int, default=2)
    parser.add_argument("--start-at", type=float, default=0)
    parser.add_argument("--children", type=int, default=0)
    parser.add_argument("--v311", action="store_true")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--gateway-processes", type=int, default=1, help="`linli ingest --processes`")
    parser.add_argument("--broker-workers", type=int, default=1, help="`linli ingest --broker` workers")
    parser.add_argument("--tune-postgres", action="store_true", help=f"ALTER SYSTEM {TUNING} for the run")
    parser.add_argument("--earlier", help="a results.json whose runs are added to the report")
    parser.add_argument("--runs", default="gateway,broker,ceiling,scale")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks/ingest.md"))
    parser.add_argument("--report-from", help="write the report from a results.json of an earlier run")
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args)
        return
    if args.bare:
        asyncio.run(bare_subscriber(args))
        return
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("set DATABASE_URL to a PostgreSQL database of your own (the run empties iot_telemetry)")
    if args.report_from:
        results = json.loads(Path(args.report_from).read_text())
    else:
        results = bench(args)
    if args.earlier:
        results += json.loads(Path(args.earlier).read_text())
    path = Path(args.out)
    old = path.read_text() if path.exists() else ""
    text = merge(report(results, args), old)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
