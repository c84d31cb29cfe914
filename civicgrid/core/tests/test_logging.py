from __future__ import annotations

import json
import logging
import sys

from civicgrid.core.logging import JsonFormatter, RequestIdFilter, mask_personal, request_id_var


def test_mask_personal_masks_an_id_number_and_a_mobile():
    text = (
        "resident 11010519491231002X, mobile 13812345678, case 2026030200012, id 360426199101010071"
    )

    assert mask_personal(text) == (
        "resident 110105********002X, mobile 138****5678, case 2026030200012, id 360426********0071"
    )


def test_mask_personal_masks_mobiles_with_the_country_code():
    text = "call +8613812345678, 8613912345678 or +86-13712345678"

    assert mask_personal(text) == "call +86138****5678, 86139****5678 or +86-137****5678"


def test_mask_personal_leaves_other_numbers_alone():
    text = "12345678901 is not a mobile; 1234567890123456789 is too long; 2026-03-02 12:00"

    assert mask_personal(text) == text


def make_record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("civicgrid.test", logging.WARNING, __file__, 1, message, args, None)


def test_json_formatter_writes_one_json_object_with_the_request_id():
    # given
    token = request_id_var.set("req-12345678")
    try:
        record = make_record("call %s back", "13812345678")
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)

    # when
    line = JsonFormatter().format(record)

    # then
    body = json.loads(line)
    assert set(body) == {"time", "level", "logger", "request_id", "message"}
    assert (body["level"], body["logger"], body["request_id"], body["message"]) == (
        "WARNING",
        "civicgrid.test",
        "req-12345678",
        "call 138****5678 back",
    )


def test_json_formatter_masks_exceptions_and_falls_back_to_the_context_request_id():
    # given
    try:
        raise ValueError("bad id 11010519491231002X")
    except ValueError:
        record = make_record("failed")
        record.exc_info = sys.exc_info()
    token = request_id_var.set("ctx-12345678")

    # when
    try:
        body = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)

    # then
    assert body["request_id"] == "ctx-12345678"
    assert "110105********002X" in body["exc"]
    assert "11010519491231002X" not in body["exc"]
