"""``demo_district``: build the fictional demo district 临溪区 (``linli.core.demo``) and print its logins."""

from django.core.management.base import BaseCommand, CommandError

from linli.core import demo


class Command(BaseCommand):
    help = "Build the demo district (or leave an existing one alone) and print one login per role."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            choices=sorted(demo.SCALES),
            default="demo",
            help="demo: 4 streets/towns, ~150 grids; district: ~12 streets/towns, ~3,000 grids",
        )
        parser.add_argument(
            "--reset", action="store_true", help="delete the demo district first and build it anew"
        )
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED, help="same seed, same district")

    def handle(self, *args, scale="demo", reset=False, seed=demo.DEFAULT_SEED, **options):
        try:
            result = demo.build(scale, reset=reset, seed=seed)
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(demo.login_table(result))
        if not result.created and scale != result.scale_name:
            self.stdout.write(
                self.style.WARNING(
                    f"要求的规模 {scale} 与现有的 {result.scale_name} 不同；加 --reset 重新生成。 "
                    f"The district was built at scale {result.scale_name}; "
                    f"add --reset to rebuild it at {scale}."
                )
            )
