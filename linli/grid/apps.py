from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GridConfig(AppConfig):
    name = "linli.grid"
    label = "grid"
    verbose_name = _("Grid governance: events and their closed loop")

    def ready(self):
        from linli.core import worker

        from . import (
            locate,  # noqa: F401  (connects the signals that refresh the grid index)
            services,
        )

        worker.register("grid.tick", 60, services.tick)

        from linli.core import context_processors

        from . import views

        # ready() can run twice (tests, autoreload); register once.
        for hook in (views.console_module, views.notices_module):
            if hook not in context_processors.MODULE_HOOKS:
                context_processors.MODULE_HOOKS.append(hook)
