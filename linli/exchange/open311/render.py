"""One document, two formats: GeoReport v2 XML (required) and its JSON mapping.

A response is built once as plain data: dicts (elements with children), ``Many`` (a container of repeated
elements: ``<services><service/>…</services>`` in XML, an array in JSON), strings, numbers, booleans and None
(an empty element in XML, null in JSON). The XML has no namespace and starts with the declaration the spec
shows; JSON lists are top-level arrays, as the spec's "Spark convention" mapping makes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement, tostring

from django.http import HttpResponse

CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
FORMATS = {"xml": "text/xml", "json": "application/json"}


@dataclass
class Many:
    """Repeated elements named ``item`` inside their container."""

    item: str
    items: list


# Characters XML 1.0 cannot carry at all (C0 controls other than tab, newline and return; lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _scalar(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(parent: Element, value) -> None:
    if isinstance(value, Many):
        for item in value.items:
            _fill(SubElement(parent, value.item), item)
    elif isinstance(value, dict):
        for name, child in value.items():
            _fill(SubElement(parent, name), child)
    else:
        parent.text = _scalar(value)


def to_xml(root: str, value) -> bytes:
    element = Element(root)
    _fill(element, value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(element, encoding="unicode").encode()


def clean_text(text: str) -> str:
    """Text without the characters XML cannot carry (and PostgreSQL refuses, NUL), for both formats alike."""
    return _NOT_XML.sub("", text)


def _plain(value):
    if isinstance(value, Many):
        return [_plain(item) for item in value.items]
    if isinstance(value, dict):
        return {name: _plain(child) for name, child in value.items()}
    if isinstance(value, str):
        return clean_text(value)
    return value


def to_json(value) -> bytes:
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":")).encode()


def respond(fmt: str, root: str, value, status: int = 200) -> HttpResponse:
    """The document in the asked format with the spec's exact Content-Type."""
    body = to_xml(root, value) if fmt == "xml" else to_json(value)
    response = HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])
    if status >= 400:
        response["Cache-Control"] = "no-store"
    return response


def errors(fmt: str, status: int, *problems: tuple[int, str]) -> HttpResponse:
    """The spec's error body: an array of {code, description}, in the request's format."""
    items = [{"code": code, "description": description} for code, description in problems]
    return respond(fmt, "errors", Many("error", items), status=status)
