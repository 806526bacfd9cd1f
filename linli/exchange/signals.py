"""Hooks into the grid app without changing it: every new step of an event may be news for a client."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from linli.grid.models import Transition

from . import outbound


@receiver(post_save, sender=Transition, dispatch_uid="exchange_enqueue_transition")
def _transition_saved(sender, instance: Transition, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        outbound.enqueue(instance)
