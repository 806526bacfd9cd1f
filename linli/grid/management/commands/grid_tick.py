from django.core.management.base import BaseCommand

from linli.grid import services


class Command(BaseCommand):
    help = (
        "Send due-soon and overdue notices and escalate overdue cases once (the worker does it every minute)."
    )

    def handle(self, *args, **options):
        report = services.tick()
        self.stdout.write(f"warned {report.warned}, overdue {report.overdue}, escalated {report.escalated}")
