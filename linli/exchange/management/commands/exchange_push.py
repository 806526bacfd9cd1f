"""``linli manage exchange_push [--every SECONDS]``: deliver recorded status changes to their clients."""

import time

from django.core.management.base import BaseCommand

from linli.exchange.outbound import deliver


class Command(BaseCommand):
    help = "Send due status changes to hotline and city-centre clients (once, or every N seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds until stopped")

    def handle(self, *args, every=0, **options):
        while True:
            result = deliver()
            if result.delivered or result.failed or not every:
                self.stdout.write(
                    f"delivered {result.delivered}, failed {result.failed}, waiting {result.waiting}"
                )
            if not every:
                return
            time.sleep(every)
