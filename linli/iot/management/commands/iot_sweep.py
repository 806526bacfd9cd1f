"""``linli manage iot_sweep [--every SECONDS]``: what happens because time passes (run it every minute)."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from linli.iot import services


class Command(BaseCommand):
    help = (
        "Raise offline, no-data and no-use alarms, time out unanswered commands, apply lighting schedules "
        "and create the next months' partitions. Once, or in a loop with --every."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds (0 = run once)")

    def handle(self, *args, every=0, **options):
        while True:
            close_old_connections()
            counts = services.sweep()
            self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
            if not every:
                return
            time.sleep(every)
