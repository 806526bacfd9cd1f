"""``linli audit verify``: check the audit log's hash chain; ``audit purge``: the retention job by hand."""

from django.core.management.base import BaseCommand, CommandError

from linli.core.audit import RETENTION_DAYS, purge_audit_older_than, verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain (verify) or delete records past the retention period (purge)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help="walk the hash chain and report the first broken row")
        verify.add_argument(
            "--from",
            dest="from_seq",
            type=int,
            metavar="SEQ",
            help="start at this sequence number, trusting its link to the row before",
        )
        purge = actions.add_parser(
            "purge", help=f"delete the oldest records (never younger than {RETENTION_DAYS} days)"
        )
        purge.add_argument("--older-than-days", type=int, required=True, metavar="DAYS")

    def handle(self, *args, action, **options):
        if action == "purge":
            try:
                purged = purge_audit_older_than(options["older_than_days"], actor_name="linli audit purge")
            except ValueError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"Purged {purged} audit records.")
            return
        report = verify_chain(from_seq=options["from_seq"])
        if report.broken is not None:
            broken = report.broken
            raise CommandError(
                f"Audit chain broken at seq {broken.seq} (id {broken.id}): {broken.message}. "
                f"{report.checked} records before it are intact."
            )
        rate = report.checked / report.seconds if report.seconds else 0
        self.stdout.write(
            f"Audit chain intact: {report.checked} records verified in {report.seconds:.2f} s "
            f"({rate:,.0f}/s); head seq {report.head_seq}, hash {report.head_hash or '-'}."
        )
