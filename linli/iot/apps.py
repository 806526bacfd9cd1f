from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IotConfig(AppConfig):
    name = "linli.iot"
    label = "iot"
    verbose_name = _("IoT hub: devices, telemetry, alarms and commands")

    def ready(self):
        from linli.core import context_processors
        from linli.core import demo as core_demo

        from . import demo, views

        # ready() can run twice (tests, autoreload); register once.
        if demo.demo_extension not in core_demo.EXTENSIONS:
            core_demo.EXTENSIONS.append(demo.demo_extension)
        if demo.delete_iot not in core_demo.RESET_HOOKS:
            # Reset hooks run in reverse order: appended after the registry's, ours runs first (devices point
            # at houses and facilities).
            core_demo.RESET_HOOKS.append(demo.delete_iot)
        if views.console_module not in context_processors.MODULE_HOOKS:
            context_processors.MODULE_HOOKS.append(views.console_module)
        self._register_jobs()

    @staticmethod
    def _register_jobs():
        """The periodic jobs, on the core worker where there is one (``linli.core.worker``)."""
        try:
            from linli.core import worker
        except ImportError:  # a core without the worker: ``linli manage iot_sweep --every 60`` instead
            return
        from . import services, storage

        worker.register("iot.sweep", 60, services.sweep)
        worker.register("iot.retention", 6 * 3600, storage.retention)
