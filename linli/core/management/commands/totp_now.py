import pyotp
from django.core.management.base import BaseCommand, CommandError

from linli.core import clock
from linli.core.models import User


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo account (refused for every real account)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username, is_demo=True).first()
        if user is None or not user.totp_secret:
            raise CommandError(f"{username} is not a demo account with two-factor authentication.")
        self.stdout.write(pyotp.TOTP(user.totp_secret).at(clock.now()))
