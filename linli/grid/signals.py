"""``step_recorded``: sent once for every step of the loop (including the report itself and escalations),
inside the step's transaction and after the event row is saved, with ``event`` and ``transition``.

A receiver that writes (an outbox for the city centre, a dashboard counter) commits or rolls back with the
step. A receiver must not take long or call outside services: queue that work instead.
"""

from django.dispatch import Signal

step_recorded = Signal()
