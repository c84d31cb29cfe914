"""A bounded HTTP load generator for the benchmarks: fixed clients, a fixed request budget and a
time limit, latencies per request, status counts. Loopback only.

Each client is a thread with its own ``http.client`` connection (reconnecting when the server
closes it, as gunicorn's sync workers do after every response). A request is described by a
callable that returns ``(method, path, body, headers)`` so each can differ (new reports need
new idempotency keys and descriptions).
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RequestSpec = tuple[str, str, bytes | None, dict[str, str]]
RequestFactory = Callable[[int], RequestSpec]


@dataclass
class LoadResult:
    name: str
    requests: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.throughput, 2),
            "p50_ms": round(self.percentile(50), 2),
            "p90_ms": round(self.percentile(90), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
        }


def run_load(
    *,
    name: str,
    host: str,
    port: int,
    make_request: RequestFactory,
    clients: int,
    max_requests: int,
    max_seconds: float,
    ok_statuses: frozenset[int] = frozenset({200, 201}),
) -> LoadResult:
    """Send up to ``max_requests`` requests from ``clients`` threads for at most ``max_seconds``.

    Requests are numbered 0, 1, 2… across all clients (``make_request(n)``); the run stops at
    whichever bound comes first. Throughput counts completed requests over the wall time.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("benchmarks only ever talk to loopback")
    lock = threading.Lock()
    counter = iter(range(max_requests))
    result = LoadResult(name=name, requests=0, seconds=0.0)
    deadline = time.perf_counter() + max_seconds

    def next_number() -> int | None:
        with lock:
            return next(counter, None)

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        local_lat: list[float] = []
        local_status: Counter[int] = Counter()
        local_err: Counter[str] = Counter()
        while time.perf_counter() < deadline:
            number = next_number()
            if number is None:
                break
            method, path, body, headers = make_request(number)
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                local_err[type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
                continue
            local_lat.append((time.perf_counter() - started) * 1000)
            local_status[status] += 1
            if status not in ok_statuses:
                local_err[f"http_{status}"] += 1
        if conn is not None:
            conn.close()
        with lock:
            result.latencies_ms.extend(local_lat)
            result.statuses.update(local_status)
            result.errors.update(local_err)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    result.requests = len(result.latencies_ms)
    return result
