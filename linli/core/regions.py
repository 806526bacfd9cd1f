"""Region codes: district (6) → street/town (9) → community/village (12) → grid (15).

GB/T 2260 gives the 6-digit county-level code, GB/T 10114 and the statistics bureau's division codes the 3-digit
street/town and community/village segments; a grid is its community code plus a 3-digit sequence.
"""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    DISTRICT = "district", _("District")
    STREET = "street", _("Street / town")
    COMMUNITY = "community", _("Community / village")
    GRID = "grid", _("Grid")


CODE_LENGTHS = {Level.DISTRICT: 6, Level.STREET: 9, Level.COMMUNITY: 12, Level.GRID: 15}
LEVEL_BY_LENGTH = {length: level for level, length in CODE_LENGTHS.items()}
PARENT_LEVEL = {Level.STREET: Level.DISTRICT, Level.COMMUNITY: Level.STREET, Level.GRID: Level.COMMUNITY}
_DISTRICT_CODE = re.compile(r"^[1-8]\d\d\d\d\d$")


def level_of(code: str) -> str | None:
    """The level a code of this length would have, or None."""
    return LEVEL_BY_LENGTH.get(len(code))


def parent_code_of(code: str) -> str | None:
    """The code of the parent region, by cutting the last segment; None for a district."""
    return code[:-3] if len(code) > 6 else None


def validate_region_code(code: str, level: str | None = None, parent_code: str | None = None) -> str:
    """Check a code's form against its level and parent; return the level or raise ValidationError."""
    if not code or not code.isdigit() or not code.isascii():
        raise ValidationError(
            _("Region code “%(code)s” must contain digits only."), code="digits", params={"code": code}
        )
    expected = level_of(code)
    if level is not None and len(code) != CODE_LENGTHS[Level(level)]:
        raise ValidationError(
            _("A %(level)s code has %(length)d digits; “%(code)s” has %(actual)d."),
            code="length",
            params={
                "level": Level(level).label,
                "length": CODE_LENGTHS[Level(level)],
                "code": code,
                "actual": len(code),
            },
        )
    if expected is None:
        raise ValidationError(
            _("Region code “%(code)s” has %(actual)d digits; it must have 6, 9, 12 or 15."),
            code="length",
            params={"code": code, "actual": len(code)},
        )
    if expected == Level.DISTRICT:
        if not _DISTRICT_CODE.match(code) or code.endswith("00"):
            raise ValidationError(
                _("District code “%(code)s” is not a county-level GB/T 2260 code (province 11–82, not ending 00)."),
                code="district",
                params={"code": code},
            )
    elif code.endswith("000"):
        raise ValidationError(
            _("The last three digits of “%(code)s” may not be 000: that would name its parent, not a new region."),
            code="segment",
            params={"code": code},
        )
    if expected != Level.DISTRICT:
        if parent_code is None:
            raise ValidationError(
                _("A %(level)s needs a parent region."), code="parent", params={"level": expected.label}
            )
        if parent_code != code[:-3]:
            raise ValidationError(
                _("Code “%(code)s” must extend its parent’s code “%(parent)s” by three digits."),
                code="prefix",
                params={"code": code, "parent": parent_code},
            )
    elif parent_code is not None:
        raise ValidationError(_("A district has no parent region."), code="parent")
    return expected
