from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class GridConfig(AppConfig):
    name = "linli.grid"
    label = "grid"
    verbose_name = _("Grid governance: events and their closed loop")

    def ready(self):
        from linli.core import context_processors, worker
        from linli.core import demo as core_demo

        from . import (
            demo,
            figures,
            locate,  # noqa: F401  (connects the signals that refresh the grid index)
            seed,
            services,
            views,
            views_figures,
        )

        post_migrate.connect(seed.reseed_after_flush, dispatch_uid="grid-reseed-categories")
        # ready() can run twice (tests, autoreload): every registration below is made once.
        worker.register("grid.tick", 60, services.tick)
        worker.register("grid.figures_warm", 3600, figures.warm)
        for hook in (views.console_module, views_figures.console_module, views.notices_module):
            if hook not in context_processors.MODULE_HOOKS:
                context_processors.MODULE_HOOKS.append(hook)
        if views.resident_card not in context_processors.RESIDENT_HOOKS:
            context_processors.RESIDENT_HOOKS.append(views.resident_card)
        if demo.demo_extension not in core_demo.EXTENSIONS:
            core_demo.EXTENSIONS.append(demo.demo_extension)
        if demo.delete_grid not in core_demo.RESET_HOOKS:
            core_demo.RESET_HOOKS.append(demo.delete_grid)

        if apps.is_installed("linli.iot"):
            from linli.iot import hooks

            from . import alarms

            if alarms.open_event_for_alarm not in hooks.ALARM_SINKS:
                hooks.ALARM_SINKS.append(alarms.open_event_for_alarm)
