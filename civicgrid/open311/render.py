"""Open311 output: the same dicts and lists as XML or JSON, as the standard writes them.

XML: UTF-8 with the declaration, one root element, no namespace; a list becomes repeated child
elements named after the list (``services`` → ``service``), ``None`` and "" an empty element,
booleans ``true``/``false``. JSON: UTF-8, lists and objects as they are (ids and codes stay
strings, coordinates numbers or ``null``).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # building and writing only; tests parse with defusedxml
from collections.abc import Mapping, Sequence
from typing import Any

from django.http import HttpResponse

from .errors import Problem

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

# The element of one item of each list.
ITEM_TAGS: dict[str, str] = {
    "services": "service",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "notes": "note",
    "errors": "error",
}
# Characters XML 1.0 cannot carry at all (control characters other than tab and newlines).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """A value as XML text: booleans as true/false, None as "", unwritable characters dropped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list | tuple):
        item_tag = ITEM_TAGS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item_tag), child)
    else:
        element.text = xml_text(value)


def to_xml(root_tag: str, data: Any) -> bytes:
    """The document ``<root_tag>…</root_tag>`` for ``data``, with the XML declaration."""
    root = ET.Element(root_tag)
    _fill(root, data)
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return (XML_DECLARATION + body).encode("utf-8")


def to_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def respond(
    fmt: str,
    root_tag: str,
    data: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """``data`` in the format chosen by the suffix; ``root_tag`` names the XML root (a JSON
    document is ``data`` itself: a top-level array for lists)."""
    body, content_type = encode(fmt, root_tag, data)
    return respond_encoded(body, content_type, status=status, headers=headers)


def encode(fmt: str, root_tag: str, data: Any) -> tuple[bytes, str]:
    """``data`` as the body of an answer in ``fmt``, with its content type."""
    if fmt == "json":
        return to_json(data), JSON_CONTENT_TYPE
    return to_xml(root_tag, data), XML_CONTENT_TYPE


def respond_encoded(
    body: bytes,
    content_type: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """An answer from a body :func:`encode` made (perhaps earlier, kept in the read cache)."""
    response = HttpResponse(body, content_type=content_type, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_description(problem: Problem) -> str:
    parameter, message = problem
    return f"{parameter}: {message}" if parameter else message


def errors(
    fmt: str,
    status: int,
    problems: Sequence[Problem],
    *,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The standard's error list: ``[{code, description}]``, one entry per problem, ``code``
    being the HTTP status as a number."""
    data = [{"code": status, "description": error_description(p)} for p in problems]
    return respond(fmt, "errors", data, status=status, headers=headers)
