"""Service definitions: the extra questions (``attribute[CODE]``) each Open311 service asks.

Every service asks for an optional short title and carries ``fixmystreet_id``, which FixMyStreet fills in by
itself (``automated: server_set``) with its report id: we use it as the upstream id, so a report FixMyStreet
sends twice (after a timeout, say) is one event. Some categories ask what dispatch needs to know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.grid.models import Category

STRING, NUMBER, DATETIME, TEXT = "string", "number", "datetime", "text"
SINGLE, MULTI = "singlevaluelist", "multivaluelist"
LIST_TYPES = (SINGLE, MULTI)


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    description: Promise | str
    required: bool = False
    variable: bool = True
    datatype_description: Promise | str = ""
    values: tuple[tuple[str, Promise | str], ...] = ()
    automated: str = ""  # FixMyStreet's extension: "server_set" fields are filled by the client itself
    max_length: int = 200

    def as_data(self, order: int) -> dict:
        from .render import Many

        data = {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": str(self.datatype_description) or None,
            "order": order,
            "description": str(self.description),
        }
        if self.values:
            data["values"] = Many("value", [{"key": key, "name": str(name)} for key, name in self.values])
        if self.automated:
            data["automated"] = self.automated
        return data

    def clean(self, raw: list[str]) -> str | list[str] | None:
        """The value of this attribute from the form's values, or ValueError with a message."""
        raw = [value.strip() for value in raw if value is not None and value.strip()]
        if not raw:
            if self.required:
                raise ValueError(_("This question must be answered."))
            return None
        if self.datatype == MULTI:
            unknown = [value for value in raw if value not in dict(self.values)]
            if unknown:
                raise ValueError(self._unknown(unknown[0]))
            return list(dict.fromkeys(raw))
        value = raw[0]
        if self.datatype == SINGLE and value not in dict(self.values):
            raise ValueError(self._unknown(value))
        if self.datatype == NUMBER:
            try:
                Decimal(value)
            except InvalidOperation:
                raise ValueError(_("%(value)r is not a number.") % {"value": value}) from None
        if self.datatype == DATETIME:
            moment: datetime | None = parse_datetime(value)
            if moment is None or moment.tzinfo is None:
                raise ValueError(
                    _("Give a W3C date and time with a time zone, e.g. 2026-11-29T09:30:00+08:00.")
                )
        limit = 4000 if self.datatype == TEXT else self.max_length
        if len(value) > limit:
            raise ValueError(_("At most %(limit)d characters.") % {"limit": limit})
        return value

    def _unknown(self, value: str) -> str:
        return _("%(value)r is not one of the keys %(keys)s.") % {
            "value": value,
            "keys": ", ".join(key for key, _name in self.values),
        }

    def label(self, value) -> str:
        names = dict(self.values)
        values = value if isinstance(value, list) else [value]
        return "、".join(str(names.get(v, v)) for v in values)


TITLE = Attribute(
    "title",
    STRING,
    gettext_lazy("A few words saying what is wrong (the start of the description is used when empty)."),
    max_length=100,
)
FIXMYSTREET_ID = Attribute(
    "fixmystreet_id",
    STRING,
    gettext_lazy("Your own id of the report; the same id sent twice is one request."),
    automated="server_set",
    max_length=64,
)
COMPONENT_ID = Attribute(
    "component_id",
    STRING,
    gettext_lazy("Identification code on the component's plate (部件标识码), if there is one."),
    datatype_description=gettext_lazy("16 or 17 digits"),
    max_length=20,
)
WASTE_KIND = Attribute(
    "waste_kind",
    MULTI,
    gettext_lazy("What kind of rubbish is it?"),
    values=(
        ("household", gettext_lazy("Household rubbish")),
        ("construction", gettext_lazy("Construction waste")),
        ("bulky", gettext_lazy("Bulky items (furniture, appliances)")),
        ("hazardous", gettext_lazy("Hazardous waste (batteries, chemicals)")),
    ),
)
NOISE_SOURCE = Attribute(
    "noise_source",
    SINGLE,
    gettext_lazy("Where does the noise come from?"),
    required=True,
    values=(
        ("neighbour", gettext_lazy("A neighbour's home")),
        ("shop", gettext_lazy("A shop or restaurant")),
        ("construction", gettext_lazy("A building site")),
        ("traffic", gettext_lazy("Traffic or vehicles")),
        ("other", gettext_lazy("Something else")),
    ),
)
NOISE_TIME = Attribute(
    "noise_time",
    MULTI,
    gettext_lazy("When does it happen?"),
    values=(
        ("morning", gettext_lazy("Morning")),
        ("daytime", gettext_lazy("Daytime")),
        ("evening", gettext_lazy("Evening")),
        ("night", gettext_lazy("Night (22:00–06:00)")),
    ),
)

BY_CODE = {"06010": [WASTE_KIND], "SG0402": [NOISE_SOURCE, NOISE_TIME]}
BY_KIND = {Category.Kind.COMPONENT: [COMPONENT_ID]}


@dataclass
class Answers:
    values: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)


def attributes_for(category: Category) -> list[Attribute]:
    return [TITLE, *BY_KIND.get(category.kind, []), *BY_CODE.get(category.code, []), FIXMYSTREET_ID]


def read_answers(category: Category, given: dict[str, list[str]]) -> Answers:
    """Check ``attribute[CODE]`` answers against the service definition. Codes it does not ask are kept as
    they came (FixMyStreet sends some of its own, such as ``report_title`` or ``closest_address``)."""
    answers = Answers()
    known = {attribute.code: attribute for attribute in attributes_for(category)}
    for code, attribute in known.items():
        try:
            value = attribute.clean(given.get(code, []))
        except ValueError as exc:
            answers.problems[f"attribute[{code}]"] = str(exc)
            continue
        if value is not None:
            answers.values[code] = value
    for code, values in given.items():
        if code not in known:
            kept = [v.strip()[:200] for v in values if v and v.strip()]
            if kept:
                answers.values[code] = kept if len(kept) > 1 else kept[0]
    return answers


def describe(category: Category, values: dict) -> str:
    """The answers as lines for the event's description, so staff see them in the console."""
    lines = []
    for attribute in attributes_for(category):
        if attribute.code in values and attribute.code not in ("title", "fixmystreet_id"):
            lines.append(f"{attribute.description} {attribute.label(values[attribute.code])}")
    return "\n".join(lines)
