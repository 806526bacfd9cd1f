"""``linli manage exchange_client create|list|revoke|rotate``: API clients from the command line.

The key is printed once, on creation or rotation; only its hash is stored. Every act is audited under the
name given with --by (a district administrator) or as the command line.
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from linli.core.models import Role, User
from linli.exchange import services
from linli.exchange.models import ApiClient, ClientKind
from linli.grid.models import Category

CLI = "command line"


class Command(BaseCommand):
    help = "Create, list, revoke or re-key exchange clients (Open311, 12345 hotline, city centre)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="register a client and print its key once")
        create.add_argument("--name", required=True)
        create.add_argument("--kind", required=True, choices=ClientKind.values)
        create.add_argument("--region", required=True, help="region code the client serves (6–15 digits)")
        create.add_argument("--system", default="", help="upstream system name (default from the kind)")
        create.add_argument("--jurisdiction", default="", help="Open311 jurisdiction_id (default: district)")
        create.add_argument("--push-url", default="", help="where status changes are posted")
        create.add_argument("--push-all", action="store_true", help="push every case of the region")
        create.add_argument("--fallback-grid", default=None, help="15-digit grid for cases without a point")
        create.add_argument("--default-category", default=None, help="category code for cases without one")
        actions.add_parser("list", help="list clients (never their keys)")
        for name, text in (("revoke", "switch a client off"), ("rotate", "issue a new key, print it once")):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("client", help="client name or id")
        for sub in actions.choices.values():
            sub.add_argument("--by", default="", help="username of the district administrator acting")

    def handle(self, *args, action, by="", **options):
        actor = self._actor(by)
        who = {"by": actor, "actor_name": "" if actor else CLI}
        if action == "list":
            for client in ApiClient.objects.order_by("name"):
                state = "active" if client.active else "revoked"
                self.stdout.write(
                    f"{client.pk}\t{client.name}\t{client.kind}\t{client.system}\t{client.region_code}\t"
                    f"{client.jurisdiction}\tlx_{client.key_prefix}_…\t{state}"
                )
            return
        if action == "create":
            category = None
            if options["default_category"]:
                category = Category.objects.filter(code=options["default_category"]).first()
                if category is None:
                    raise CommandError(f"No category {options['default_category']}.")
            try:
                issued = services.create_client(
                    name=options["name"],
                    kind=options["kind"],
                    region_code=options["region"],
                    system=options["system"],
                    jurisdiction_id=options["jurisdiction"],
                    push_url=options["push_url"],
                    push_all=options["push_all"],
                    fallback_grid=options["fallback_grid"],
                    default_category=category,
                    **who,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            self._print_key(issued.client, issued.key)
            return
        client = self._client(options["client"])
        if action == "revoke":
            services.revoke_client(client, **who)
            self.stdout.write(f"Revoked {client.name}: its key no longer works.")
        else:
            self._print_key(client, services.rotate_key(client, **who))

    def _print_key(self, client, key):
        self.stdout.write(f"Client {client.pk} {client.name} ({client.kind}, region {client.region_code}).")
        self.stdout.write("API key (shown only now; Linli keeps its hash):")
        self.stdout.write(key)

    def _client(self, ref: str) -> ApiClient:
        client = ApiClient.objects.filter(name=ref).first()
        if client is None and ref.isdigit():
            client = ApiClient.objects.filter(pk=int(ref)).first()
        if client is None:
            raise CommandError(f"No client {ref!r}.")
        return client

    def _actor(self, username: str):
        if not username:
            return None
        user = User.objects.filter(username=username, role=Role.DISTRICT_ADMIN, is_active=True).first()
        if user is None:
            raise CommandError(f"{username!r} is not an active district administrator.")
        return user
