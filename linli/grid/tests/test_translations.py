import re

from django.utils import translation

from linli.grid import services
from linli.grid.models import Source, State, Urgency

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_step_name_reads_in_chinese():
    # The labels of services.ACTIONS are translated at run time, so makemessages cannot see them: the
    # catalogue keeps them by hand and this test notices when one is missing.
    with translation.override("zh-hans"):
        untranslated = [name for name in services.ACTIONS if not HAN.search(services.action_label(name))]
    assert untranslated == []


def test_states_sources_and_urgencies_read_in_chinese():
    with translation.override("zh-hans"):
        labels = [str(choice.label) for enum in (State, Source, Urgency) for choice in enum]
    assert [label for label in labels if not HAN.search(label)] == []
    with translation.override("zh-hans"):
        assert (State.REGISTERED.label, State.CLOSED.label, Source.GRID_WORKER.label) == (
            "已立案",
            "已结案",
            "网格员巡查",
        )
