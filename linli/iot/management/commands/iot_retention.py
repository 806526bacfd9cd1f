"""``linli manage iot_retention [--months N]``: remove time-series data older than the retention."""

from django.core.management.base import BaseCommand

from linli.iot import storage


class Command(BaseCommand):
    help = (
        "Delete data points older than N whole months (default LINLI_IOT_RETENTION_MONTHS, 12). PostgreSQL: "
        "old monthly partitions are detached CONCURRENTLY and dropped, without stopping ingestion; SQLite: "
        "deleted in small batches."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--months", type=int, default=None, help="keep this many whole months before this one"
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per DELETE on SQLite")

    def handle(self, *args, months=None, batch_size=5000, **options):
        if months is not None and months < 1:
            self.stderr.write("--months must be at least 1")
            return
        result = storage.retention(months=months, batch_size=batch_size)
        storage.ensure_partitions()
        if result.dropped_partitions:
            self.stdout.write(f"dropped partitions: {', '.join(result.dropped_partitions)}")
        if result.deleted_rows:
            self.stdout.write(f"deleted rows: {result.deleted_rows}")
        if not result.dropped_partitions and not result.deleted_rows:
            self.stdout.write("nothing older than the retention")
