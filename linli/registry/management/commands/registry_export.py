"""``linli manage registry_export KIND OUT.xlsx --user NAME [--region CODE]``: a masked, audited export."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from linli.core.models import User
from linli.core.scope import code_within
from linli.registry import exports
from linli.registry.models import ImportJob


class Command(BaseCommand):
    help = "Export the scope of an account as Excel, masked as that account sees it; audited."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ImportJob.Kind.values)
        parser.add_argument("out", type=Path)
        parser.add_argument("--user", required=True, help="the account whose scope and masking apply")
        parser.add_argument("--region", help="one region inside that scope")

    def handle(self, *args, kind, out, user, region, **options):
        account = User.objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"There is no account {user}.")
        if region and not code_within(region, account.scope_codes):
            raise CommandError(f"Region {region} is outside the scope of {user}.")
        out.write_bytes(exports.export_workbook(account, kind, region_code=region))
        self.stdout.write(f"Export written to {out}")
