"""The case loop over real HTTP, shared by ``bench.workflow_bench`` and ``bench.load_proof``.

One keep-alive client per thread (loopback only), the requests of every workflow step of the
JSON API with the Bearer token of the role that takes it, the two ways to report (JSON API with
an ``Idempotency-Key``, Open311 with an ``api_key``), and the SQLite options the product's
settings use.

The shortest path from a report to a closed case is 7 requests: submit (anyone) → accept
(operator) → file (shift leader) → dispatch (dispatcher) → process (unit handler; from
``dispatched`` it also writes the ``start`` trace row) → check-start and check ``passed=true``
(grid worker, or the reporter). The loop driven here adds the explicit ``start`` and the
reporter's ``rate`` (closed → evaluated): 9 requests, 9 trace rows.
"""

from __future__ import annotations

import http.client
import io
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.loadgen import RequestSpec

API = "/api/v1"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The product's SQLite options (civicgrid/config/settings/base.py, used when DATABASE_URL is
# unset): WAL, a 20 s busy timeout and BEGIN IMMEDIATE. A ``sqlite:`` DATABASE_URL loses them
# (dj_database_url builds the settings from the URL alone), so the benchmarks put them in the
# URL's query string, which dj_database_url turns into OPTIONS.
SQLITE_QUERY = (
    "timeout=20&transaction_mode=IMMEDIATE"
    "&init_command=PRAGMA%20journal_mode%3DWAL%3B%20PRAGMA%20synchronous%3DNORMAL%3B"
    "%20PRAGMA%20foreign_keys%3DON%3B"
)
# Case states in the order the loop moves through them.
STATUS_ORDER = (
    "reported",
    "accepted",
    "filed",
    "dispatched",
    "processing",
    "processed",
    "checking",
    "closed",
    "evaluated",
)


def with_sqlite_options(url: str) -> str:
    """``url`` with the product's SQLite options when it is a SQLite URL without a query."""
    if url.startswith("sqlite:") and "?" not in url:
        return f"{url}?{SQLITE_QUERY}"
    return url


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no answer (connection error; ``body`` holds the error)
    body: bytes
    ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self, limit: int = 600) -> str:
        return self.body[:limit].decode("utf-8", "replace")


class Client:
    """One keep-alive connection to a loopback server, reopened whenever the server closes it.

    A request is sent once: after a connection error its outcome is unknown, so it is answered
    as status 0 and never repeated here (the callers count it as a failure).
    """

    def __init__(self, host: str, port: int, *, timeout: float = 130.0) -> None:
        if host not in LOOPBACK:
            raise ValueError("benchmarks only ever talk to loopback")
        self.host, self.port, self.timeout = host, port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, spec: RequestSpec) -> Reply:
        method, path, body, headers = spec
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            ms = (time.perf_counter() - started) * 1000
            return Reply(0, f"{type(exc).__name__}: {exc}".encode(), ms)
        return Reply(response.status, data, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def png_bytes() -> bytes:
    """A small PNG: the photo of the work done that ``process`` requires."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(out, format="PNG")
    return out.getvalue()


def multipart(
    fields: dict[str, str], files: Sequence[tuple[str, str, str, bytes]] = ()
) -> tuple[bytes, str]:
    """``multipart/form-data`` body and content type; files are (field, name, type, bytes)."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for field, filename, content_type, data in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(path: str, token: str, payload: dict[str, Any] | None) -> RequestSpec:
    headers = _bearer(token)
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    return ("POST", path, body, headers)


def _form(path: str, token: str, fields: dict[str, str], photo: bytes | None) -> RequestSpec:
    files = [("photos", "after.png", "image/png", photo)] if photo is not None else []
    body, content_type = multipart(fields, files)
    return ("POST", path, body, {**_bearer(token), "Content-Type": content_type})


@dataclass(frozen=True)
class Step:
    """One workflow step of the JSON API: ``POST /cases/{number}/{path}``."""

    name: str  # the trace action it writes
    path: str
    role: str  # the demo login whose token takes it ("reporter": whoever reported the case)
    needs: str  # the case's status before

    def request(self, number: str, token: str, photo: bytes) -> RequestSpec:
        url = f"{API}/cases/{number}/{self.path}"
        if self.name == "process":
            return _form(url, token, {"note": "已清理（基准）"}, photo)
        if self.name == "check_pass":
            return _form(url, token, {"passed": "true", "note": "已核实（基准）"}, None)
        if self.name == "check_start":
            return _json(url, token, None)
        if self.name == "rate":
            return _json(url, token, {"satisfaction": "satisfied", "resolved": True})
        return _json(url, token, {})


LOOP = (
    Step("accept", "accept", "operator", "reported"),
    Step("file", "file", "leader", "accepted"),
    Step("dispatch", "dispatch", "dispatcher", "filed"),
    Step("start", "start", "handler", "dispatched"),
    Step("process", "process", "handler", "processing"),
    Step("check_start", "check-start", "gridworker", "processed"),
    Step("check_pass", "check", "gridworker", "checking"),
    Step("rate", "rate", "reporter", "closed"),
)
STEP_AFTER = {step.needs: step for step in LOOP}
PROCESS_FROM_DISPATCHED = Step("process", "process", "handler", "dispatched")


def submit_json(creds: dict[str, Any], *, description: str, key: str) -> RequestSpec:
    """``POST /api/v1/cases`` as the demo resident, with an ``Idempotency-Key``."""
    point = creds["point"]
    payload = {
        "category": creds.get("service_code", "E0102"),
        "description": description,
        "lat": point["lat"],
        "lng": point["lng"],
    }
    spec = _json(f"{API}/cases", creds["tokens"]["resident"], payload)
    spec[3]["Idempotency-Key"] = key
    return spec


def submit_open311(creds: dict[str, Any], *, description: str, key: str) -> RequestSpec:
    """``POST /open311/v2/requests.json`` with the benchmark client's ``api_key``."""
    import urllib.parse

    point = creds["point"]
    body = urllib.parse.urlencode(
        {
            "api_key": creds["open311_key"],
            "service_code": creds.get("service_code", "E0102"),
            "lat": point["lat"],
            "long": point["lng"],
            "description": description,
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": key}
    return ("POST", "/open311/v2/requests.json", body, headers)


def status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else -1
