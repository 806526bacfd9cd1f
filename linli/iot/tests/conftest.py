import pytest

from linli.iot import pipeline, rules, storage


@pytest.fixture(autouse=True)
def _fresh_iot_caches():
    """The process caches (rule state, partitions, activity) must not carry over from another test's rows."""
    rules.engine.reset()
    storage.forget_partitions()
    pipeline._activity_written.clear()
    pipeline._known_devices.clear()
    pipeline._profile_cache.clear()
    yield
    rules.engine.reset()
