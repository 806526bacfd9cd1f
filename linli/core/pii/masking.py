"""Masking of personal data for display (DI-01, DI-02 in reference/standards.md §2.2 B).

Masked is the default on every surface: lists, cards, exports, print views, messages and logs. Two views
follow the agreed table: ``STAFF`` (normal staff) and ``PUBLIC`` (public or third-party). Unmasking is not
done here: a view with the unmask permission asks for a reason, audits the act and only then calls
``MaskedValue.reveal``.

    mask("id_number", "370103199001011238")            -> "370***********1238"
    mask("id_number", "370103199001011238", PUBLIC)    -> "3****************8"
    mask("phone", "13800138000")                       -> "138****8000"
    mask("name", "张三丰")                              -> "张**"
    mask("address", "XX小区3号楼2单元501")              -> "XX小区3号楼****"
    mask("bank_card", "6222021234567891234")           -> "622202*********1234"
    mask("plate", "鲁A·D12345", PUBLIC)                -> "鲁A·D1**45"

Apps add or replace a kind with ``@register_mask("kind")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

STAFF = "staff"
PUBLIC = "public"
STAR = "*"
HIDDEN = "******"  # a fixed width: says nothing about the length of what is hidden

Masker = Callable[[str, str], str]
MASKERS: dict[str, Masker] = {}


def register_mask(kind: str) -> Callable[[Masker], Masker]:
    """Register ``function(value, view)`` as the masker of ``kind``."""

    def decorator(function: Masker) -> Masker:
        MASKERS[kind] = function
        return function

    return decorator


def mask(kind: str, value: str | None, view: str = STAFF) -> str | None:
    """``value`` masked as a ``kind`` for ``view`` (STAFF or PUBLIC); None and "" pass through."""
    if view not in (STAFF, PUBLIC):
        raise ValueError(f"unknown view {view!r}")
    if value is None or value == "":
        return value
    try:
        masker = MASKERS[kind]
    except KeyError:
        raise ValueError(f"no mask for {kind!r}; known: {', '.join(sorted(MASKERS))}") from None
    return masker(str(value), view)


def keep_ends(value: str, start: int, end: int) -> str:
    """Keep ``start`` leading and ``end`` trailing characters, star the rest (a third at least)."""
    length = len(value)
    while start + end > length - max(1, -(-length // 3)) and (start or end):
        start, end = (start - 1, end) if start > end else (start, end - 1)
    return value[:start] + STAR * (length - start - end) + value[length - end :]


@register_mask("id_number")
def mask_id_number(value: str, view: str = STAFF) -> str:
    """身份证号: staff keep the first 3 and last 4, public the first and last; never the birth date."""
    value = value.strip()
    if view == PUBLIC:
        return keep_ends(value, 1, 1)
    if len(value) == 15:  # first-generation number: the last 4 would include the last digit of the birth date
        return value[:3] + STAR * 9 + value[-3:]
    if len(value) == 18:
        return value[:3] + STAR * 11 + value[-4:]
    return keep_ends(value, 1, 1)  # passports and other documents: no known layout to keep


@register_mask("phone")
def mask_phone(value: str, view: str = STAFF) -> str:
    """手机号: first 3 and last 4 for every view; other numbers keep their last 4."""
    value = value.strip()
    if len(value) == 11 and value.isdigit():
        return value[:3] + STAR * 4 + value[-4:]
    return keep_ends(value, 0, 4)


@register_mask("name")
def mask_name(value: str, view: str = STAFF) -> str:
    """姓名: the surname (first character) and one star per other character."""
    value = value.strip()
    return value[0] + STAR * max(1, len(value) - 1)


_BUILDING = re.compile(r"^.*?[0-9A-Za-z一二三四五六七八九十百零〇]+(?:号楼|栋|幢|座)")
_COMMUNITY = re.compile(r"^.*?(?:小区|社区|花园|家园|公寓|大厦|新村|村|苑)")


@register_mask("address")
def mask_address(value: str, view: str = STAFF) -> str:
    """住址: staff see down to the building, public down to the community; the rest is starred."""
    value = value.strip()
    patterns = (_BUILDING, _COMMUNITY) if view == STAFF else (_COMMUNITY,)
    for pattern in patterns:
        if (match := pattern.match(value)) and match.end() < len(value):
            return match.group(0) + STAR * 4
    return value[: len(value) // 3] + STAR * 4  # no recognisable building or community


@register_mask("bank_card")
def mask_bank_card(value: str, view: str = STAFF) -> str:
    """银行卡: staff keep the first 6 (the issuer) and last 4, public only the last 4."""
    digits = re.sub(r"[\s-]", "", value)
    return keep_ends(digits, 6, 4) if view == STAFF else keep_ends(digits, 0, 4)


_PLATE = re.compile(r"^(?P<head>\S[A-Z])(?P<dot>[·•.\s]?)(?P<serial>\S+)$")


@register_mask("plate")
def mask_plate(value: str, view: str = STAFF) -> str:
    """车牌: staff see it in full (parking needs it); public lose 2 serial characters before the last 2."""
    value = value.strip()
    if view == STAFF:
        return value
    match = _PLATE.match(value)
    if not match:
        return keep_ends(value, 2, 2)
    serial = match["serial"]
    keep_start = max(1, len(serial) - 4)
    serial = serial[:keep_start] + STAR * (len(serial) - keep_start - 2) + serial[-2:]
    return match["head"] + match["dot"] + serial


@register_mask("email")
def mask_email(value: str, view: str = STAFF) -> str:
    """Email (our proposal, not in the table): the first character of the mailbox and the domain."""
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return keep_ends(value, 1, 0)
    return local[0] + STAR * 3 + "@" + domain


@register_mask("secret")
def mask_secret(value: str, view: str = STAFF) -> str:
    """Anything shown to nobody by default (health tags, face data references): a fixed placeholder."""
    return HIDDEN


class MaskedValue:
    """A personal value that prints masked everywhere (str, repr, format, templates, logs) until revealed."""

    __slots__ = ("_value", "kind", "view")

    def __init__(self, kind: str, value: str | None, view: str = STAFF) -> None:
        if kind not in MASKERS:
            raise ValueError(f"no mask for {kind!r}")
        self.kind, self._value, self.view = kind, value, view

    @property
    def masked(self) -> str:
        return mask(self.kind, self._value, self.view) or ""

    def reveal(self) -> str | None:
        """The plaintext: callers must hold the unmask permission and have audited the act."""
        return self._value

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"<MaskedValue {self.kind} {self.masked}>"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __html__(self) -> str:
        from django.utils.html import escape

        return escape(self.masked)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MaskedValue) and (self.kind, self._value) == (other.kind, other._value)

    def __hash__(self) -> int:
        return hash((self.kind, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)
