from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "linli.registry"
    label = "registry"
    verbose_name = _("Registry: people, places, things and organisations")

    def ready(self):
        from linli.core import context_processors
        from linli.core import demo as core_demo

        from . import demo, views

        # ready() can run twice (tests, autoreload); register once.
        if demo.demo_extension not in core_demo.EXTENSIONS:
            core_demo.EXTENSIONS.append(demo.demo_extension)
        if demo.delete_registry not in core_demo.RESET_HOOKS:
            core_demo.RESET_HOOKS.append(demo.delete_registry)
        if views.console_module not in context_processors.MODULE_HOOKS:
            context_processors.MODULE_HOOKS.append(views.console_module)
