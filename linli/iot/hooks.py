"""Extension points of the IoT hub for other apps.

``ALARM_SINKS``: callables ``sink(alarm)`` called once for each newly created alarm, after its transaction
has committed (never for updates or clears). The grid app registers one from its ``AppConfig.ready()`` to open
a grid event of the rule's ``grid_category`` (``alarm.rule.grid_category``, blank = no event). A sink that
raises is logged and skipped: it never undoes the alarm or stops the other sinks.
"""

from collections.abc import Callable

ALARM_SINKS: list[Callable] = []
