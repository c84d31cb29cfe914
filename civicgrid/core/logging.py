"""JSON log lines carrying the request id; phone and ID numbers are masked before writing."""

from __future__ import annotations

import contextvars
import json
import logging
import re

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# An 18-character resident ID, an 11-digit mobile number (also with +86 / 86 in front): never
# written to a log in clear.
_PERSONAL = re.compile(
    r"(?<![0-9])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9])"
    r"|(?<![0-9])((?:\+?86[- ]?)?1[3-9]\d)\d{4}(\d{4})(?![0-9])"
)


def mask_personal(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{m.group(1)}********{m.group(2)}"
        return f"{m.group(3)}****{m.group(4)}"

    return _PERSONAL.sub(repl, text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": mask_personal(record.getMessage()),
        }
        if record.exc_info:
            body["exc"] = mask_personal(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False)
