"""Our own validators for the identifiers the registry collects: resident ID numbers, unified social credit
codes, mainland mobile numbers and motor-vehicle licence plates.

Each ``parse_*`` function takes what a person typed or a spreadsheet cell held, and returns a small frozen
result: the normalised value, fields derived from it and a tuple of warnings (things to show a person, never
reasons to reject). A value that cannot be right raises ``ValidationError`` with a translatable message that
says what is wrong and how to fix it. The ``validate_*`` callables wrap them for model and form fields.

Why our own: well-known libraries reject valid old Shandong ID numbers (they require the county code to have
existed in the birth year) and N-prefixed village collective credit codes (they require positions 1–8 to be
digits). The algorithms, worked examples and those pitfalls are in ``reference/standards.md`` §3.1–3.5.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from linli.core import clock
from linli.core.regions import PROVINCES


@dataclass(frozen=True)
class IdentifierWarning:
    """Something a person should look at, although the value is accepted; rendered in the active language."""

    code: str
    message: Promise | str
    params: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        return str(self.message) % dict(self.params)


def _warning(code: str, message: Promise, **params: Any) -> IdentifierWarning:
    return IdentifierWarning(code, message, tuple(sorted(params.items())))


# ----------------------------------------------------------------------------------------------------
# Input clean-up shared by every identifier
# ----------------------------------------------------------------------------------------------------


def _text(value: object, kind: Promise) -> str:
    """Turn a typed value or a spreadsheet cell into text, rejecting numbers that have already lost digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise ValidationError(
            _("%(kind)s must be text, not a yes/no value."), code="type", params={"kind": kind}
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # A spreadsheet keeps 15 significant digits: an 18-digit ID number stored as a number is wrong.
        if value.is_integer() and abs(value) < 10**15:
            return str(int(value))
        raise ValidationError(
            _(
                "%(kind)s %(value)s was stored as a number and has lost digits; enter it as text (in Excel, "
                "format the column as Text and type the value again)."
            ),
            code="number",
            params={"kind": kind, "value": repr(value)},
        )
    if not isinstance(value, str):
        raise ValidationError(_("%(kind)s must be text."), code="type", params={"kind": kind})
    # NFKC turns the full-width digits and letters that Chinese input methods type (１２３, ＡＢ) into ASCII.
    return unicodedata.normalize("NFKC", value).strip()


def _required(text: str, kind: Promise) -> None:
    if not text:
        raise ValidationError(_("%(kind)s is empty; enter it."), code="empty", params={"kind": kind})


_SPACES = re.compile(r"\s+")


# ----------------------------------------------------------------------------------------------------
# Resident ID number (公民身份号码, GB 11643-1999) — reference §3.1
# ----------------------------------------------------------------------------------------------------

RESIDENT_ID = _("ID number")
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# 港澳台居民居住证 numbers use these area codes (reference §3.1 rule 4).
_RESIDENCE_PERMIT_AREAS = frozenset({"810000", "820000", "830000"})
# Provinces of GB/T 2260 plus 83, which only residence permits of Taiwan residents use.
ID_PROVINCES = PROVINCES | {"83"}


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class ResidentIdKind(models.TextChoices):
    CITIZEN = "citizen", _("Resident identity card")
    RESIDENCE_PERMIT = "residence_permit", _("Residence permit for Hong Kong, Macao or Taiwan residents")
    FOREIGN_PERMANENT_RESIDENT = "foreign_permanent_resident", _("Foreign permanent resident ID card")


@dataclass(frozen=True)
class ResidentId:
    """A checked ID number with what it tells: birth date, sex and the area code it was assigned under."""

    number: str
    birth_date: date
    sex: Sex
    area_code: str
    kind: ResidentIdKind
    converted_from_15: bool = False
    warnings: tuple[IdentifierWarning, ...] = ()

    def age_on(self, day: date) -> int:
        """Completed years of age on the given day."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def resident_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _today() -> date:
    return timezone.localdate(clock.now())


def parse_resident_id(
    value: object, *, today: date | None = None, area_codes: Container[str] | None = None
) -> ResidentId:
    """Check an 18-digit (or first-generation 15-digit) ID number; return it normalised, with derived fields.

    ``area_codes`` is an optional table of known county-level codes, *including abolished ones*; a code not in
    it is a warning. Without it only the province prefix is checked, also as a warning.
    """
    text = _SPACES.sub("", _text(value, RESIDENT_ID)).upper()
    _required(text, RESIDENT_ID)
    for position, char in enumerate(text, start=1):
        # A stray letter or separator is named before the length, which it would only confuse.
        if char not in "0123456789X" or (char == "X" and position != 18 and len(text) in (15, 18)):
            raise ValidationError(
                _(
                    "ID number %(value)s may contain only digits, with X allowed as the 18th character; "
                    "character %(position)d is “%(char)s”."
                ),
                code="characters",
                params={"value": text, "position": position, "char": char},
            )
    if len(text) not in (15, 18):
        raise ValidationError(
            _(
                "ID number %(value)s has %(length)d characters; it must have 18 (or 15 for a "
                "first-generation card). Check for a missing or extra digit."
            ),
            code="length",
            params={"value": text, "length": len(text)},
        )
    converted = len(text) == 15
    first17 = text[:6] + "19" + text[6:] if converted else text[:17]
    birth_text = first17[6:14]
    try:
        birth_date = date(int(birth_text[:4]), int(birth_text[4:6]), int(birth_text[6:8]))
    except ValueError:
        raise ValidationError(
            _(
                "The birth date %(date)s in ID number %(value)s is not a real date (characters 7 to %(last)d "
                "are the birth date); check those digits against the card."
            ),
            code="birth_date",
            params={"value": text, "date": birth_text, "last": 12 if converted else 14},
        ) from None
    if birth_date < EARLIEST_BIRTH_DATE:
        raise ValidationError(
            _("The birth date %(date)s in ID number %(value)s is before 1900; check the year digits."),
            code="birth_date_too_early",
            params={"value": text, "date": birth_date.isoformat()},
        )
    today = today or _today()
    if birth_date > today:
        raise ValidationError(
            _("The birth date %(date)s in ID number %(value)s is in the future; check the date digits."),
            code="birth_date_future",
            params={"value": text, "date": birth_date.isoformat()},
        )
    expected = resident_id_check_character(first17)
    if not converted and text[17] != expected:
        raise ValidationError(
            _(
                "The check character of ID number %(value)s should be %(expected)s, not %(actual)s. Usually "
                "another digit is mistyped: compare the whole number with the ID card."
            ),
            code="check",
            params={"value": text, "expected": expected, "actual": text[17]},
        )
    number = first17 + expected
    area_code = number[:6]
    kind = ResidentIdKind.CITIZEN
    warnings: list[IdentifierWarning] = []
    if area_code in _RESIDENCE_PERMIT_AREAS:
        kind = ResidentIdKind.RESIDENCE_PERMIT
    elif number[0] == "9":
        # The 2023 foreign permanent resident card: 18 characters starting with 9, not a GB/T 2260 area code.
        kind = ResidentIdKind.FOREIGN_PERMANENT_RESIDENT
    elif area_codes is not None:
        if area_code not in area_codes:
            warnings.append(
                _warning(
                    "area_code",
                    _(
                        "The area code %(area_code)s of ID number %(value)s is not in the code table; "
                        "numbers keep the code of when they were issued, so check the card only if in doubt."
                    ),
                    value=number,
                    area_code=area_code,
                )
            )
    elif area_code[:2] not in ID_PROVINCES:
        warnings.append(
            _warning(
                "area_code",
                _(
                    "ID number %(value)s starts with %(province)s, which is not a province code; check the "
                    "first two digits against the card."
                ),
                value=number,
                province=area_code[:2],
            )
        )
    return ResidentId(
        number=number,
        birth_date=birth_date,
        sex=Sex.MALE if int(number[16]) % 2 else Sex.FEMALE,
        area_code=area_code,
        kind=kind,
        converted_from_15=converted,
        warnings=tuple(warnings),
    )


def validate_resident_id(value: object) -> None:
    """Django validator: an 18- or 15-digit ID number that passes the checks of ``parse_resident_id``."""
    parse_resident_id(value)


# ----------------------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码, GB 32100-2015) — reference §3.2
# ----------------------------------------------------------------------------------------------------

CREDIT_CODE = _("Unified social credit code")
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUES = {char: value for value, char in enumerate(CREDIT_CODE_ALPHABET)}
_CREDIT_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_CREDIT_LETTERS_NOT_USED = {"I": "1", "O": "0", "Z": "2", "S": "5", "V": "U"}
# GB 11714 maps all 26 letters, A = 10 … Z = 35, unlike GB 32100's 31-character alphabet.
_ORG_VALUES = {char: int(char, 36) for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# The registering authority's division code: a GB/T 2260 province, or 10 for authorities of the central state.
_CREDIT_DIVISION_PREFIXES = PROVINCES | {"10"}


@dataclass(frozen=True)
class CreditCode:
    """A checked unified social credit code and its parts."""

    code: str
    warnings: tuple[IdentifierWarning, ...] = ()

    @property
    def registration_authority(self) -> str:
        """登记管理部门代码: 1 机构编制, 5 民政, 9 工商, N 农村集体经济组织, Y 其他, and others."""
        return self.code[0]

    @property
    def institution_type(self) -> str:
        """机构类别代码, whose meaning depends on the registration authority."""
        return self.code[1]

    @property
    def division_code(self) -> str:
        """The 6-digit division code of the registering authority."""
        return self.code[2:8]

    @property
    def organisation_code(self) -> str:
        """主体标识码: the 9-character organisation code (GB 11714) in positions 9–17."""
        return self.code[8:17]


def credit_code_check_character(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    total = sum(_CREDIT_VALUES[char] * weight for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[-total % 31]


def organisation_code_check_character(first8: str) -> str:
    """The GB 11714 check character for the first 8 characters of an organisation code."""
    total = sum(_ORG_VALUES[char] * weight for char, weight in zip(first8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def parse_credit_code(value: object) -> CreditCode:
    """Check an 18-character unified social credit code; return it normalised, with warnings."""
    text = _SPACES.sub("", _text(value, CREDIT_CODE)).upper()
    _required(text, CREDIT_CODE)
    if len(text) != 18:
        raise ValidationError(
            _(
                "Unified social credit code %(value)s has %(length)d characters; it must have 18. Check "
                "for a missing or extra character."
            ),
            code="length",
            params={"value": text, "length": len(text)},
        )
    for position, char in enumerate(text, start=1):
        if char in _CREDIT_LETTERS_NOT_USED:
            raise ValidationError(
                _(
                    "Unified social credit code %(value)s contains the letter %(char)s at position "
                    "%(position)d, which credit codes never use (no I, O, Z, S or V); it is probably "
                    "%(suggestion)s."
                ),
                code="characters",
                params={
                    "value": text,
                    "char": char,
                    "position": position,
                    "suggestion": _CREDIT_LETTERS_NOT_USED[char],
                },
            )
        if char not in _CREDIT_VALUES:
            raise ValidationError(
                _(
                    "Unified social credit code %(value)s may contain only digits and capital letters; "
                    "character %(position)d is “%(char)s”."
                ),
                code="characters",
                params={"value": text, "char": char, "position": position},
            )
    if not text[2:8].isdigit():
        raise ValidationError(
            _(
                "Characters 3 to 8 of unified social credit code %(value)s are the registering authority’s "
                "division code and must be digits; they are “%(division)s”."
            ),
            code="division_code",
            params={"value": text, "division": text[2:8]},
        )
    expected = credit_code_check_character(text[:17])
    if text[17] != expected:
        raise ValidationError(
            _(
                "The check character of unified social credit code %(value)s should be %(expected)s, not "
                "%(actual)s. Usually another character is mistyped: compare the whole code with the business "
                "licence or certificate."
            ),
            code="check",
            params={"value": text, "expected": expected, "actual": text[17]},
        )
    warnings = []
    if text[2:4] not in _CREDIT_DIVISION_PREFIXES:
        warnings.append(
            _warning(
                "division_code",
                _(
                    "The division code %(division)s in unified social credit code %(value)s does not start "
                    "with a province code; check characters 3 to 8 against the certificate."
                ),
                value=text,
                division=text[2:8],
            )
        )
    org_expected = organisation_code_check_character(text[8:16])
    if text[16] != org_expected:
        # Reference §3.2: some later-assigned subject codes do not follow GB 11714, so this only warns.
        warnings.append(
            _warning(
                "organisation_code",
                _(
                    "The organisation code %(organisation_code)s inside unified social credit code %(value)s "
                    "does not pass the GB 11714 check (its last character would be %(expected)s); some codes "
                    "are assigned that way, so check the certificate only if in doubt."
                ),
                value=text,
                organisation_code=text[8:17],
                expected=org_expected,
            )
        )
    return CreditCode(code=text, warnings=tuple(warnings))


def validate_credit_code(value: object) -> None:
    """Django validator: a unified social credit code that passes ``parse_credit_code``."""
    parse_credit_code(value)


# ----------------------------------------------------------------------------------------------------
# Mainland mobile numbers — reference §3.4
# ----------------------------------------------------------------------------------------------------

MOBILE_NUMBER = _("Mobile number")
_PHONE_SEPARATORS = re.compile(r"[\s\-()\[\].]+")
# +86 and 0086 are unambiguous; a bare 86 is a prefix only in front of 11 more digits.
_COUNTRY_PREFIX = re.compile(r"^(?:\+86|0086|86(?=[0-9]{11}$))")
# The loose check of reference §3.4. Allocated segments change every year and include data-only ranges that a
# stricter table (libphonenumber's) rejects; the only real proof of a mobile number is an SMS code.
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


@dataclass(frozen=True)
class MobileNumber:
    """A mainland mobile number in its 11-digit national form."""

    number: str
    warnings: tuple[IdentifierWarning, ...] = ()

    @property
    def e164(self) -> str:
        return "+86" + self.number


def parse_mobile(value: object) -> MobileNumber:
    """Check a mainland mobile number, with or without +86/0086/86, spaces, hyphens or brackets."""
    text = _text(value, MOBILE_NUMBER)
    _required(text, MOBILE_NUMBER)
    compact = _COUNTRY_PREFIX.sub("", _PHONE_SEPARATORS.sub("", text))
    if not compact.isdigit() or not compact.isascii():
        raise ValidationError(
            _(
                "Mobile number %(value)s may contain only digits, with an optional +86 in front; remove the "
                "other characters."
            ),
            code="characters",
            params={"value": text},
        )
    if len(compact) != 11:
        raise ValidationError(
            _(
                "Mobile number %(value)s has %(length)d digits; a mainland mobile number has 11, starting "
                "with 13 to 19. For a landline, use the telephone field."
            ),
            code="length",
            params={"value": text, "length": len(compact)},
        )
    if compact.startswith("0"):
        raise ValidationError(
            _(
                "Mobile number %(value)s starts with 0, as a landline number does; enter a mobile number (11 "
                "digits starting with 13 to 19), or put a landline in the telephone field."
            ),
            code="landline",
            params={"value": text},
        )
    if not _MOBILE.match(compact):
        raise ValidationError(
            _(
                "Mobile number %(value)s starts with %(start)s; mainland mobile numbers start with 13 to 19. "
                "Check the first digits."
            ),
            code="prefix",
            params={"value": text, "start": compact[:2]},
        )
    return MobileNumber(number=compact)


def validate_mobile(value: object) -> None:
    """Django validator: a mainland mobile number that passes ``parse_mobile``."""
    parse_mobile(value)


# ----------------------------------------------------------------------------------------------------
# Motor-vehicle licence plates (GA 36-2018) — reference §3.5
# ----------------------------------------------------------------------------------------------------

LICENCE_PLATE = _("Licence plate")
PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # A–Z without I and O
_PLATE_SEPARATORS = re.compile(r"[\s\-·•・‧⋅∙]+")
_P = f"[{PLATE_PROVINCES}]"
_L = f"[{_PLATE_LETTERS}]"
_S = f"[{_PLATE_LETTERS}0-9]"
_ORDINARY = re.compile(rf"^({_P})({_L})({_S}{{4}}[{_PLATE_LETTERS}0-9挂学警港澳])$")
_NEV_SMALL = re.compile(rf"^({_P})({_L})([DABCEFGHJK]{_S}[0-9]{{4}})$")
_NEV_LARGE = re.compile(rf"^({_P})({_L})([0-9]{{5}}[DABCEFGHJK])$")
_PLATE_TEXT = re.compile(rf"^[{PLATE_PROVINCES}A-Z0-9使领应急临时挂学警港澳]{{4,10}}$")


class PlateKind(models.TextChoices):
    ORDINARY = "ordinary", _("Ordinary")
    TRAILER = "trailer", _("Trailer (挂)")
    DRIVING_SCHOOL = "driving_school", _("Driving school (学)")
    POLICE = "police", _("Police (警)")
    HONG_KONG = "hong_kong", _("Cross-border, Hong Kong (港)")
    MACAO = "macao", _("Cross-border, Macao (澳)")
    NEW_ENERGY_SMALL = "new_energy_small", _("New energy, small vehicle")
    NEW_ENERGY_LARGE = "new_energy_large", _("New energy, large vehicle")
    EMBASSY = "embassy", _("Embassy (使)")
    CONSULATE = "consulate", _("Consulate (领)")
    EMERGENCY = "emergency", _("Emergency rescue (应急)")
    OTHER = "other", _("Other (not recognised)")


class Energy(models.TextChoices):
    PURE_ELECTRIC = "pure_electric", _("Pure electric")
    NOT_PURE_ELECTRIC = "not_pure_electric", _("Plug-in hybrid or fuel cell")


_SUFFIX_KINDS = {
    "挂": PlateKind.TRAILER,
    "学": PlateKind.DRIVING_SCHOOL,
    "警": PlateKind.POLICE,
    "港": PlateKind.HONG_KONG,
    "澳": PlateKind.MACAO,
}
_ENERGY = dict.fromkeys("DABCE", Energy.PURE_ELECTRIC) | dict.fromkeys("FGHJK", Energy.NOT_PURE_ELECTRIC)
# Plates kept for manual review rather than parsed (reference §3.5): embassy, consulate and emergency plates.
_REVIEW_MARKERS = (("应急", PlateKind.EMERGENCY), ("使", PlateKind.EMBASSY), ("领", PlateKind.CONSULATE))


@dataclass(frozen=True)
class LicencePlate:
    """A licence plate in compact form (no dot or spaces), its kind and, for new-energy plates, the energy."""

    plate: str
    kind: PlateKind
    province: str = ""
    authority: str = ""
    serial: str = ""
    energy: Energy | None = None
    warnings: tuple[IdentifierWarning, ...] = ()

    @property
    def needs_review(self) -> bool:
        """True for plates accepted without a structural check; a person should look at them."""
        return any(warning.code == "review" for warning in self.warnings)

    @property
    def display(self) -> str:
        """The plate as printed, with the dot after the issuing authority (鲁A·D12345)."""
        if self.province and self.authority:
            return f"{self.province}{self.authority}·{self.serial}"
        return self.plate


def _plate_review(text: str, kind: PlateKind) -> LicencePlate:
    return LicencePlate(
        plate=text,
        kind=kind,
        warnings=(
            _warning(
                "review",
                _(
                    "Licence plate %(value)s is accepted as “%(kind)s” without a check of its format; a "
                    "person should compare it with the vehicle."
                ),
                value=text,
                kind=kind.label,
            ),
        ),
    )


def parse_plate(value: object, *, allow_unrecognised: bool = False) -> LicencePlate:
    """Check a licence plate; return it normalised (upper case, no dot or spaces) with its kind.

    Embassy (使), consulate (领) and emergency (应急) plates are accepted with a review warning. With
    ``allow_unrecognised`` (gates, which must let unusual vehicles through), any other plausible plate text
    is accepted as ``OTHER`` with the same warning instead of being rejected.
    """
    text = _PLATE_SEPARATORS.sub("", _text(value, LICENCE_PLATE)).upper()
    _required(text, LICENCE_PLATE)
    if match := _NEV_SMALL.match(text):
        province, authority, serial = match.groups()
        energy = _ENERGY[serial[0]]
        return LicencePlate(text, PlateKind.NEW_ENERGY_SMALL, province, authority, serial, energy)
    if match := _NEV_LARGE.match(text):
        province, authority, serial = match.groups()
        energy = _ENERGY[serial[-1]]
        return LicencePlate(text, PlateKind.NEW_ENERGY_LARGE, province, authority, serial, energy)
    if match := _ORDINARY.match(text):
        province, authority, serial = match.groups()
        kind = _SUFFIX_KINDS.get(serial[-1], PlateKind.ORDINARY)
        return LicencePlate(text, kind, province, authority, serial)
    for marker, review_kind in _REVIEW_MARKERS:
        if marker in text and _PLATE_TEXT.match(text):
            return _plate_review(text, review_kind)
    if allow_unrecognised and _PLATE_TEXT.match(text):
        return _plate_review(text, PlateKind.OTHER)
    raise _plate_error(text)


def _plate_error(text: str) -> ValidationError:
    """The most specific reason why a plate matched no known format."""
    params: dict[str, Any] = {"value": text}
    if text[0] not in PLATE_PROVINCES:
        params["char"] = text[0]
        return ValidationError(
            _(
                "Licence plate %(value)s must start with a province abbreviation such as 鲁 or 京, not "
                "“%(char)s”."
            ),
            code="province",
            params=params,
        )
    if len(text) < 2:
        return ValidationError(
            _("Licence plate %(value)s is too short; a plate has 7 characters, 8 for new-energy vehicles."),
            code="length",
            params=params,
        )
    if text[1] not in _PLATE_LETTERS:
        params["char"] = text[1]
        return ValidationError(
            _(
                "The second character of licence plate %(value)s must be the issuing authority’s letter "
                "(A to Z, never I or O), not “%(char)s”."
            ),
            code="authority",
            params=params,
        )
    serial = text[2:]
    for position, char in enumerate(serial, start=3):
        if char in "IO":
            params.update(char=char, position=position, suggestion="1" if char == "I" else "0")
            return ValidationError(
                _(
                    "Licence plate %(value)s has the letter %(char)s at position %(position)d; plates never "
                    "use I or O, so it is probably the digit %(suggestion)s."
                ),
                code="characters",
                params=params,
            )
        if not (char in _PLATE_LETTERS or char.isdigit() and char.isascii() or char in _SUFFIX_KINDS):
            params.update(char=char, position=position)
            return ValidationError(
                _(
                    "Licence plate %(value)s has “%(char)s” at position %(position)d; after the province and "
                    "the letter, a plate has only letters and digits (and 挂, 学, 警, 港 or 澳 at the end)."
                ),
                code="characters",
                params=params,
            )
    if len(serial) == 6:
        return ValidationError(
            _(
                "Licence plate %(value)s has 6 characters after the letter, as a new-energy plate does, but "
                "not in its form: a small vehicle’s starts with D, A, B, C, E, F, G, H, J or K and ends in "
                "four digits; a large vehicle’s has five digits followed by one of those letters."
            ),
            code="new_energy",
            params=params,
        )
    if len(serial) == 5:
        params["char"] = next(char for char in serial[:-1] if char in _SUFFIX_KINDS)
        return ValidationError(
            _("In licence plate %(value)s, “%(char)s” may only be the last character."),
            code="characters",
            params=params,
        )
    params["length"] = len(serial)
    return ValidationError(
        _(
            "Licence plate %(value)s has %(length)d characters after the province and the letter; an "
            "ordinary plate has 5 and a new-energy plate 6. Check for a missing or extra character."
        ),
        code="length",
        params=params,
    )


def validate_plate(value: object) -> None:
    """Django validator: a licence plate that passes ``parse_plate`` (strict form, for the registry)."""
    parse_plate(value)
