from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "linli.exchange"
    label = "exchange"
    verbose_name = _("Exchange: Open311, the 12345 hotline and the city operations centre")

    def ready(self):
        from . import signals  # noqa: F401  (pushes grid steps into the outbox)
