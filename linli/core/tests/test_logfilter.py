"""No plaintext identifier leaves the process in a log line, even when a library puts one there."""

import logging

from linli.core.pii.logfilter import MaskIdentifiersFilter, scrub


def test_ids_and_phones_are_masked_in_text():
    text = "bad row: 370103199001011238 / 11010519491231002x phone 13800138000, +86 13912345678."
    assert (
        scrub(text) == "bad row: 370***********1238 / 110***********002X phone 138****8000, +86 139****5678."
    )


def test_other_numbers_pass_unchanged():
    not_an_id = "370103199001011234"  # right shape, wrong check character
    for text in ("order 2026112900001234567890", "grid 370198001001001", f"n {not_an_id}", "ts 1764380000"):
        assert scrub(text) == text


def test_the_configured_handler_masks_messages_arguments_and_tracebacks(capsys):
    logger = logging.getLogger("linli.test.logfilter")
    handler = logging.StreamHandler()
    handler.addFilter(MaskIdentifiersFilter())
    logger.addHandler(handler)
    logger.propagate = False  # only this handler: others belong to the test runner
    try:
        logger.warning("lookup %s for %s", "370103199001011238", "13800138000")
        try:
            raise ValueError("ID 370103199001011238 rejected")
        except ValueError:
            logger.exception("import failed")
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "370103199001011238" not in err and "13800138000" not in err
    assert "370***********1238" in err and "138****8000" in err


def test_settings_put_the_filter_on_the_console_handler():
    from django.conf import settings

    assert "mask_identifiers" in settings.LOGGING["handlers"]["console"]["filters"]
