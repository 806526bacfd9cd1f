"""The worker: periodic jobs (time limits and escalation, device offline sweeps, retention) in one loop.

Apps register jobs from ``AppConfig.ready()``. In the embedded mode ``linli serve`` and ``linli demo`` run the
loop in a background thread of the web process, so nothing else needs starting; in the scaled mode run
``linli worker`` (one or more: every job claims its rows with conditional updates, so two workers never send
the same notice twice) and start the web with ``--no-worker``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every_seconds: float
    run: Callable[[], object]
    next_at: float = 0.0


JOBS: list[Job] = []


def register(name: str, every_seconds: float, run: Callable[[], object]) -> None:
    """Add a periodic job once (``ready()`` may run twice)."""
    if not any(job.name == name for job in JOBS):
        JOBS.append(Job(name, every_seconds, run))


def run_due_jobs(now: float | None = None) -> list[str]:
    """Run every job whose time has come; a failing job is logged and retried at its next turn."""
    now = time.monotonic() if now is None else now
    ran = []
    for job in JOBS:
        if now < job.next_at:
            continue
        job.next_at = now + job.every_seconds
        close_old_connections()
        try:
            job.run()
            ran.append(job.name)
        except Exception:
            log.exception("worker job %s failed", job.name)
        finally:
            close_old_connections()
    return ran


def run_forever(stop: threading.Event, poll_seconds: float = 1.0) -> None:
    log.info("worker started with jobs: %s", ", ".join(job.name for job in JOBS))
    while not stop.is_set():
        run_due_jobs()
        stop.wait(poll_seconds)


def start_in_background() -> threading.Event:
    """The embedded worker: a daemon thread in this process. Set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(stop,), name="linli-worker", daemon=True).start()
    return stop
