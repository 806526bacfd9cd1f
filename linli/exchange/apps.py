from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "linli.exchange"
    label = "exchange"
    verbose_name = _("Exchange: Open311, the 12345 hotline and the city operations centre")

    def ready(self):
        from linli.core import demo as core_demo

        from . import demo, signals  # noqa: F401  (signals: pushes grid steps into the outbox)

        # ready() can run twice (tests, autoreload); register once.
        if demo.demo_extension not in core_demo.EXTENSIONS:
            core_demo.EXTENSIONS.append(demo.demo_extension)
        if demo.delete_exchange not in core_demo.RESET_HOOKS:
            core_demo.RESET_HOOKS.append(demo.delete_exchange)
