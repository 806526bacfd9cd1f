"""``seed_calendar``: public holidays and 调休 make-up working days from the chinese-calendar package."""

from django.core.management.base import BaseCommand, CommandError

from linli.core import workcalendar
from linli.core.audit import AuditAction, record


class Command(BaseCommand):
    help = (
        "Seed the working calendar from the chinese-calendar package: every year it covers, or one year. "
        "Days an administrator entered or changed are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, action="append", help="only this year (may be repeated)")

    def handle(self, *args, year=None, **options):
        covered = workcalendar.package_years()
        version = workcalendar.package_version()
        span = f"{covered.start}–{covered.stop - 1}"
        years = year or list(covered)
        self.stdout.write(f"chinese-calendar {version}: 覆盖 covers {span}")
        results, unknown = [], []
        for wanted in years:
            try:
                result = workcalendar.seed_year(wanted)
            except workcalendar.YearNotCovered:
                unknown.append(wanted)
                self.stderr.write(
                    self.style.WARNING(
                        f"{wanted}: chinese-calendar {version} 不含该年的节假日安排，"
                        "请在配置后台按国务院办公厅通知手工录入。 "
                        f"The package (covers {span}) does not know {wanted}: enter that year's holidays "
                        "and make-up working days by hand in the admin (docs/working-calendar.md)."
                    )
                )
                continue
            results.append(result)
            line = (
                f"{result.year}: 节假日 {result.holidays} holidays, 调休上班 {result.workdays} make-up days"
            )
            if result.kept:
                line += f", 保留管理员录入 kept {result.kept} set by an administrator"
            if result.removed:
                line += f", 删除 removed {result.removed} no longer listed"
            self.stdout.write(line)
        if results:
            record(
                AuditAction.CALENDAR_SEEDED,
                actor_name="seed_calendar",
                package=f"chinese-calendar {version}",
                years=[result.year for result in results],
            )
        if unknown and not results:
            raise CommandError(f"No year seeded: {', '.join(map(str, unknown))} not covered ({span}).")
