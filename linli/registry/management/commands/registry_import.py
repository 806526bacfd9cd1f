"""``linli manage registry_import KIND FILE --region CODE [--keep-valid] [--user NAME] [--errors OUT]``."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from linli.core.models import Region, User
from linli.registry import imports
from linli.registry.models import ImportJob


class Command(BaseCommand):
    help = "Import houses, people with residency, or organisations from an Excel workbook (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ImportJob.Kind.values)
        parser.add_argument("file", type=Path)
        parser.add_argument("--region", required=True, help="region code for rows without one")
        parser.add_argument("--keep-valid", action="store_true", help="write the valid rows despite errors")
        parser.add_argument("--user", help="import as this account, inside its scope (default: no limit)")
        parser.add_argument("--errors", type=Path, help="write the error sheet here when rows fail")

    def handle(self, *args, kind, file, region, keep_valid, user, errors, **options):
        target = Region.objects.filter(code=region).first()
        if target is None:
            raise CommandError(f"There is no region with code {region}.")
        account = None
        if user:
            account = User.objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"There is no account {user}.")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        result = imports.import_workbook(
            data,
            kind,
            region=target,
            user=account,
            keep_valid=keep_valid,
            file_name=file.name,
            actor_name="linli manage registry_import" if account is None else "",
        )
        if result.problem:
            raise CommandError(result.problem)
        for error in result.errors[:50]:
            self.stderr.write(str(error))
        if len(result.errors) > 50:
            self.stderr.write(f"… {len(result.errors) - 50} more errors")
        if result.error_sheet and errors:
            errors.write_bytes(result.error_sheet)
            self.stderr.write(f"Error sheet written to {errors}")
        summary = (
            f"{result.total} rows: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {result.error_rows} with errors."
        )
        if not result.written:
            raise CommandError(f"{summary} Nothing was written.")
        self.stdout.write(summary)
