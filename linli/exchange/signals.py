"""Hooks into the grid app without changing it: every recorded step of an event may be news for a client."""

from django.dispatch import receiver

from linli.grid.signals import step_recorded

from . import outbound


@receiver(step_recorded, dispatch_uid="exchange_enqueue_step")
def _step_recorded(sender, event, transition, **kwargs):
    # Sent inside the step's transaction after the event row is saved: the outbox row commits with the step.
    outbound.enqueue(transition, event)
