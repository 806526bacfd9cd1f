"""``linli manage registry_template KIND OUT.xlsx``: write the empty import template of a kind."""

from pathlib import Path

from django.core.management.base import BaseCommand

from linli.registry import excel
from linli.registry.models import ImportJob


class Command(BaseCommand):
    help = "Write the Excel template (headers, an example row and a notes sheet) for an import kind."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ImportJob.Kind.values)
        parser.add_argument("out", type=Path)

    def handle(self, *args, kind, out, **options):
        out.write_bytes(excel.template_workbook(kind))
        self.stdout.write(f"Template written to {out}")
