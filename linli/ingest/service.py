"""Running the ingest service: `linli ingest` (device gateway or broker-mode worker), `linli simulate`, and
the embedded mode that `linli demo` starts in a background thread (gateway + simulator, no other service)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import threading

from .front import Front

log = logging.getLogger("linli.ingest")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def _front_options() -> dict:
    from django.db import connection

    env = os.environ
    # SQLite has one writer at a time anyway; on PostgreSQL two writers overlap their commits
    writers = 2 if connection.vendor == "postgresql" else 1
    return {
        "writers": int(env.get("LINLI_INGEST_WRITERS", writers)),
        "max_batch": int(env.get("LINLI_INGEST_BATCH", 5000)),
        "max_delay": float(env.get("LINLI_INGEST_BATCH_MS", 50)) / 1000,
        "max_pending": int(env.get("LINLI_INGEST_MAX_PENDING", 50_000)),
    }


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # ~15% less CPU per message than the default loop (measured: 24.5 vs 28 µs)

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # Django and the app's modules are loaded: keep them out of every garbage collection from now on, and
    # collect the young generation less often (a message allocates a few short-lived objects).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def gateway_main(
    host: str, port: int, ready=None, stop: asyncio.Event | None = None, reuse_port: bool = False
) -> None:
    from .gateway import DeviceGateway
    from .shared import SharedSessions

    front = Front(**_front_options())
    gateway = DeviceGateway(front, host, port, reuse_port=reuse_port)
    gateway.shared = SharedSessions.from_environment(gateway.taken_over)
    await gateway.start()
    print(f"Linli device gateway: mqtt://{host}:{gateway.port} (MQTT 3.1.1 and 5)", flush=True)
    if ready is not None:
        ready(gateway)
    try:
        await (stop.wait() if stop is not None else _until_signalled())
    finally:
        await gateway.stop()
        front.close()


async def broker_main(
    url: str, worker_id: str | None, downlink: bool, partition: tuple[int, int], shared: bool
) -> None:
    from .broker import BrokerWorker

    front = Front(**_front_options())
    worker = BrokerWorker(front, url, worker_id, downlink=downlink, partition=partition, shared=shared)
    await worker.start()
    print(
        f"Linli ingest worker {worker.client_id} reading {worker.config['host']}:{worker.config['port']}"
        f" (partition {partition[0]}/{partition[1]})",
        flush=True,
    )
    try:
        await _until_signalled()
    finally:
        await worker.stop()
        front.close()


def run_gateway(host: str, port: int, *, processes: int = 1, reuse_port: bool = False) -> None:
    if processes > 1:
        command = [sys.executable, "-m", "linli.cli", "ingest", "--host", host, "--port", str(port)]
        supervise([[*command, "--reuse-port"]] * processes, "gateway")
        return
    _install_uvloop()
    asyncio.run(gateway_main(host, port, reuse_port=reuse_port))


def supervise(commands: list[list[str]], role: str) -> None:
    """Run one process per command; start again any that dies, stop all on a signal.

    One Python process is bound by its interpreter lock to about one core, so N processes use N cores. Each
    device's messages go to one process (gateways: the kernel spreads connections over processes listening
    with SO_REUSEPORT, and a device's messages arrive on its one connection; broker workers: partitions), so
    each device's rule state stays in one process.
    """
    import subprocess
    import time

    stopping = False
    processes = len(commands)
    children: list = [None] * processes

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for child in children:
            if child is not None and child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = [0.0] * processes
    while not stopping:
        for i, child in enumerate(children):
            if child is None or child.poll() is not None:
                if child is not None:
                    log.error("%s process %d (pid %d) ended with %s; starting it again", role, i, child.pid,
                              child.returncode)  # fmt: skip
                    time.sleep(max(0.0, 1.0 - (time.monotonic() - started[i])))  # not in a tight loop
                started[i] = time.monotonic()
                children[i] = subprocess.Popen(commands[i])
        time.sleep(0.5)
    for child in children:
        if child is not None:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()


def run_broker(
    url: str,
    worker_id: str | None,
    downlink: bool,
    *,
    partition: tuple[int, int] = (0, 1),
    processes: int = 1,
    shared: bool = False,
) -> None:
    if processes > 1:  # one worker per partition, 0/N … N-1/N, on this host (or N members of the share)
        command = [sys.executable, "-m", "linli.cli", "ingest", "--broker", url]
        command += ["--no-downlink"] * (not downlink)
        if shared:  # members of one share; one of them publishes downlink
            each = [
                ["--shared", "--worker-id", str(i)] + ["--no-downlink"] * (i > 0) for i in range(processes)
            ]
        else:
            each = [["--partition", f"{i}/{processes}"] for i in range(processes)]
        supervise([[*command, *options] for options in each], "ingest worker")
        return
    _install_uvloop()
    asyncio.run(broker_main(url, worker_id, downlink, partition, shared))


def end_sessions(url: str, client_ids: list[str]) -> None:
    from .broker import end_sessions

    asyncio.run(end_sessions(url, client_ids))
    for client_id in client_ids:
        print(f"Ended the session {client_id} and the messages queued in it.")


def mosquitto_config(out: str, host: str, port: int) -> None:
    from linli.iot import pipeline

    from .mosquitto import write_config

    tokens = [device.token for device in pipeline.list_devices()]
    result = write_config(out, tokens, host=host, port=port)
    print(f"Wrote {result['conf']} ({result['devices']} devices).")
    if result["skipped"]:
        print(f"Skipped {len(result['skipped'])} tokens that cannot be MQTT usernames/topic levels.")
    print(f"Start it:   mosquitto -c {result['conf']}")
    print(f"Then:       linli ingest --broker '{result['url']}'")


def simulate(
    host: str, port: int, *, broker: bool, devices: int | None, interval: float | None, duration: float | None
) -> None:
    from linli.iot import pipeline

    from .simulator import Simulator

    refs = pipeline.list_devices(limit=devices)
    if not refs:
        print("No devices: run `linli demo --no-serve` first.", file=sys.stderr)
        return

    async def main():
        sim = Simulator(refs, host, port, broker=broker, interval=interval)
        print(f"Simulating {len(sim.devices)} devices against {host}:{port} (Ctrl+C stops)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        stats = await sim.run(duration, stop)
        print(stats)

    asyncio.run(main())


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        try:
            probe.bind((host, preferred))
            return preferred
        except OSError:
            probe.bind((host, 0))
            return probe.getsockname()[1]


class Embedded:
    """The device gateway and the simulator in a background thread of the web process (`linli demo`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, simulate: bool = True, interval=None):
        self.host = host
        self.port = free_port(port, host)
        self.simulate = simulate
        self.interval = interval
        self.thread = None
        self.loop = None
        self.stop_event = None
        self.gateway = None
        self.simulator = None
        self._ready = threading.Event()

    def start(self) -> Embedded:
        self.thread = threading.Thread(target=self._run, name="linli-ingest", daemon=True)
        self.thread.start()
        self._ready.wait(30)
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from .simulator import Simulator

        self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()

        def ready(gateway):
            self.gateway = gateway
            self._ready.set()

        tasks = [asyncio.create_task(gateway_main(self.host, self.port, ready, self.stop_event))]
        if self.simulate:
            await asyncio.wait_for(asyncio.to_thread(self._ready.wait, 30), 31)
            from linli.iot import pipeline

            # a district-scale demo has 100,000+ devices: the demo simulates a few hundred of them
            limit = int(os.environ.get("LINLI_SIMULATE_DEVICES", 500))
            devices = await asyncio.to_thread(pipeline.list_devices, limit)
            self.simulator = Simulator(devices, self.host, self.port, interval=self.interval)
            tasks.append(asyncio.create_task(self.simulator.run(None, self.stop_event)))
        await asyncio.gather(*tasks)

    def stop(self) -> None:
        if self.loop is not None and self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.thread is not None:
            self.thread.join(30)
