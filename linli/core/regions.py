"""Region codes: district (6) → street/town (9) → community/village (12) → grid (15).

GB/T 2260 gives the 6-digit county-level code, GB/T 10114 and the statistics bureau's division codes the
3-digit street/town and community/village segments; a grid is its community code plus a 3-digit sequence.
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
_DISTRICT_CODE = re.compile(r"^\d{6}$")
# The provinces of GB/T 2260 (first two digits of every county-level code), Hong Kong and Macao included.
PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82".split()
)


def level_of(code: str) -> Level | None:
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
        if not _DISTRICT_CODE.match(code) or code[:2] not in PROVINCES or code.endswith("00"):
            raise ValidationError(
                _(
                    "District code “%(code)s” is not a county-level GB/T 2260 code (a province from 11 to "
                    "82, not ending in 00)."
                ),
                code="district",
                params={"code": code},
            )
    elif any(code[end - 3 : end] == "000" for end in range(9, len(code) + 1, 3)):
        # A 000 segment names the region above it, not a new one; that holds for every ancestor too.
        raise ValidationError(
            _(
                "No three-digit segment of “%(code)s” after the district may be 000: that would name its "
                "parent, not a new region."
            ),
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
