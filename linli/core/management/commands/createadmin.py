import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from linli.core import services
from linli.core.models import Region, Role


class Command(BaseCommand):
    help = "Create a district administrator (two-factor enrolment follows at first login)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--district", required=True)
        parser.add_argument("--district-name", default="")
        parser.add_argument("--password")

    def handle(self, *args, username, district, district_name="", password=None, **options):
        try:
            if not Region.objects.filter(code=district).exists():
                services.create_region(district, district_name or district)
            password = password or getpass.getpass("Password: ")
            user = services.create_user(
                username, password, Role.DISTRICT_ADMIN, [district], must_change_password=False
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        message = f"Created district administrator {user.username} for {district}."
        self.stdout.write(self.style.SUCCESS(message))
