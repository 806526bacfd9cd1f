"""Test helpers: the XML→JSON mapping of the spec ("Spark convention"), schema checks, taking an event through
the loop."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from lxml import etree

from linli.grid import services as grid
from linli.grid.testing import photo

SCHEMAS = Path(__file__).parent / "schemas"
# Containers of repeated elements, which become arrays.
LISTS = {
    "services": "service",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "service_requests_updates": "request_update",
}
# Leaves that are numbers or booleans in JSON, by (parent, name): "code" is a number only in an error.
NUMBERS = {("error", "code"), ("attribute", "order"), ("request", "lat"), ("request", "long")}
BOOLEANS = {("service", "metadata"), ("attribute", "variable"), ("attribute", "required")}


def _leaf(parent: str, element):
    text = element.text
    if text is None or text == "":
        return None
    if (parent, element.tag) in NUMBERS:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    if (parent, element.tag) in BOOLEANS:
        assert text in ("true", "false"), f"{element.tag}={text!r} is not an XML boolean"
        return text == "true"
    return text


def _convert(element, parent: str = ""):
    if element.tag in LISTS:
        item = LISTS[element.tag]
        assert all(child.tag == item for child in element), f"<{element.tag}> holds more than <{item}>"
        return [_convert(child, element.tag) for child in element]
    if len(element):
        names = [child.tag for child in element]
        assert len(names) == len(set(names)), f"<{element.tag}> repeats a child outside a list container"
        return {child.tag: _convert(child, element.tag) for child in element}
    return _leaf(parent, element)


def xml_to_json(body: bytes):
    """Parse a GeoReport XML body with lxml and map it to JSON as the spec does (an object drops its root)."""
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
    root = etree.fromstring(body)
    assert root.nsmap == {} and "{" not in root.tag, "the XML must have no namespace"
    return _convert(root)


def validate(data, schema: str) -> None:
    document = json.loads((SCHEMAS / f"{schema}.json").read_text())
    jsonschema.validate(data, document, format_checker=jsonschema.FormatChecker())


def both(client, url: str, schema: str, expect: int = 200, **params):
    """GET one resource in XML and JSON; check status, exact Content-Type, schema, and that both agree."""
    xml = client.get(f"{url}.xml", params)
    js = client.get(f"{url}.json", params)
    assert xml.status_code == expect, xml.content.decode()
    assert js.status_code == expect, js.content.decode()
    assert xml["Content-Type"] == "text/xml; charset=utf-8"
    assert js["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(js.content)
    validate(data, schema)
    assert xml_to_json(xml.content) == data
    return data


def close(event, people, note: str = "已清理完毕") -> None:
    """Take an event from verification to closing, as the people around its grid do."""
    grid.take_step(event, "verify", people.grid_worker)
    grid.take_step(event, "register", people.community_worker)
    grid.take_step(event, "dispatch", people.community_worker, department=people.department)
    grid.take_step(event, "accept", people.department_member)
    grid.take_step(event, "report_done", people.department_member, note=note, photos={"after": [photo()]})
    grid.take_step(event, "inspect_ok", people.grid_worker)
