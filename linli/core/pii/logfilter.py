"""A logging filter that masks identifiers in every log line, whoever wrote it (DI-04).

Our code never logs plaintext identifiers on purpose; this is the net under that rule for the lines we do not
control (a library echoing a bad value, an exception message quoting a form field).
"""

import logging
import re

from ..identifiers import resident_id_check_character
from .masking import mask

# An 18-character resident ID and an 11-digit mainland mobile, not inside longer runs. 15-digit numbers are
# left alone: grid codes have 15 digits and fill the logs, and first-generation IDs were replaced by 2013.
RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")


def scrub(text: str) -> str:
    """``text`` with every resident ID and mobile number masked."""
    text = RESIDENT_ID.sub(_mask_if_resident_id, text)
    return MOBILE.sub(lambda m: mask("phone", m.group(1)) or "", text)


def _mask_if_resident_id(match: re.Match) -> str:
    # Only numbers whose check character is right: an 18-digit order number is not someone's identity.
    number = match.group(1).upper()
    if resident_id_check_character(number[:17]) != number[17]:
        return match.group(1)
    return mask("id_number", number) or ""


class MaskIdentifiersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True
