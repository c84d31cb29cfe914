"""Prometheus metrics at ``GET /metrics`` (text exposition format 0.0.4), written by hand.

Two kinds of numbers:

- **Request counters** (``civicgrid_http_requests_total{method,status}`` and the histogram
  ``civicgrid_http_request_duration_seconds``), fed by :class:`RequestMetricsMiddleware`. They
  are **process-local**: each web process counts the requests it answered, from its start, and
  a scrape is answered by one process. Run one web process per scrape target (e.g. gunicorn
  ``--workers 1 --threads 8`` per container or pod, scaled by adding pods) for exact totals;
  with several gunicorn workers behind one address, each scrape shows one worker's counters.
- **Gauges** read from the database at scrape time, so they are the same whichever process
  answers: ``civicgrid_tasks_queued``, ``civicgrid_tasks_stuck``, ``civicgrid_audit_unsealed``
  and ``civicgrid_audit_oldest_unsealed_seconds`` are core's; other apps add theirs with
  :func:`register_gauge` from their ``AppConfig.ready()`` (core imports no app above it, so
  the case gauges are registered by the cases app).

Access: a request with ``Authorization: Bearer <CIVICGRID_METRICS_TOKEN>``, or one that comes
straight (no proxy header) from a network listed in ``CIVICGRID_METRICS_ALLOWED_NETWORKS``;
both are empty by default, so a fresh install shows its metrics to nobody. Anyone else gets the
same 404 as for a page that does not exist.

The middleware also writes one JSON access line per request (logger ``civicgrid.request``,
INFO, health probes and scrapes left out) and emits Django's own "Not Found: /x" warning for
4xx/5xx responses while the request id is still known, so every request log line carries it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.log import log_response
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .logging import request_id_var

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("civicgrid.request")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Upper bounds (seconds) of the request-duration histogram's buckets; +Inf is added.
DURATION_BUCKETS_S: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Anything else is counted as "other", so a client cannot invent label values.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Paths left out of the access log (they are still counted): probes and scrapes.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Headers a reverse proxy adds: a request carrying one did not come from this machine itself.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


# --------------------------------------------------------------------------- request metrics


class _RequestStats:
    """Counters and histogram of this process's requests, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.bucket_counts = [0] * (len(DURATION_BUCKETS_S) + 1)  # the last one is +Inf
        self.duration_sum_s = 0.0
        self.duration_count = 0

    def observe(self, method: str, status: int, duration_s: float) -> None:
        key = (method if method in KNOWN_METHODS else "other", str(status))
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            for index, bound in enumerate(DURATION_BUCKETS_S):
                if duration_s <= bound:
                    self.bucket_counts[index] += 1
                    break
            else:
                self.bucket_counts[-1] += 1
            self.duration_sum_s += duration_s
            self.duration_count += 1

    def render(self) -> list[str]:
        with self.lock:
            requests = sorted(self.requests.items())
            buckets = list(self.bucket_counts)
            total_s, count = self.duration_sum_s, self.duration_count
        lines = [
            "# HELP civicgrid_http_requests_total HTTP requests answered by this process.",
            "# TYPE civicgrid_http_requests_total counter",
        ]
        for (method, status), value in requests:
            labels = _labels({"method": method, "status": status})
            lines.append(f"civicgrid_http_requests_total{labels} {value}")
        lines += [
            "# HELP civicgrid_http_request_duration_seconds Time to answer a request, in this"
            " process.",
            "# TYPE civicgrid_http_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, in_bucket in zip((*DURATION_BUCKETS_S, math.inf), buckets, strict=True):
            cumulative += in_bucket
            labels = _labels({"le": "+Inf" if math.isinf(bound) else repr(bound)})
            lines.append(f"civicgrid_http_request_duration_seconds_bucket{labels} {cumulative}")
        lines.append(f"civicgrid_http_request_duration_seconds_sum {_number(total_s)}")
        lines.append(f"civicgrid_http_request_duration_seconds_count {count}")
        return lines


_stats = _RequestStats()


class RequestMetricsMiddleware:
    """Count and time every request, and write its access log line with its request id.

    Put it first in MIDDLEWARE, so that it times the whole stack and also counts the answers
    of the middleware below it (redirects, CSRF refusals). It reads the request id set by
    :class:`~civicgrid.core.middleware.RequestIdMiddleware` (which may sit anywhere below) and
    logs under it. Django logs 4xx/5xx answers ("Not Found: /x") after the whole middleware
    chain has returned, when the request id is already gone; this middleware logs them first,
    inside the id (Django then skips its own line), so every request log line carries an id.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_s = time.perf_counter() - started
        _stats.observe(request.method or "", response.status_code, duration_s)
        request_id = getattr(request, "request_id", None) or response.get("X-Request-ID") or "-"
        token = request_id_var.set(request_id)
        try:
            if response.status_code >= 400:
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
            if request.path not in QUIET_PATHS:
                access_logger.info(
                    "%s %s %d %.1fms",
                    request.method,
                    request.path,
                    response.status_code,
                    duration_s * 1000,
                )
        finally:
            request_id_var.reset(token)
        return response


# --------------------------------------------------------------------------- gauges


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    read: Callable[[], float | int]


_gauges: dict[str, Gauge] = {}
_gauges_lock = threading.Lock()


def register_gauge(name: str, help: str, fn: Callable[[], float | int]) -> None:
    """Expose ``fn()`` as the gauge ``name`` at every scrape.

    ``fn`` runs in the scraping request (keep it to one indexed query). Registering a name
    again replaces the earlier function, so calling this from ``AppConfig.ready()`` is safe.
    A gauge whose function raises is left out of that scrape and the error is logged.
    """
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a Prometheus metric name.")
    with _gauges_lock:
        _gauges[name] = Gauge(name=name, help=help, read=fn)


def unregister_gauge(name: str) -> None:
    """Stop exposing the gauge ``name`` (nothing happens when there is none)."""
    with _gauges_lock:
        _gauges.pop(name, None)


def _render_gauges() -> list[str]:
    with _gauges_lock:
        gauges = sorted(_gauges.values(), key=lambda g: g.name)
    lines: list[str] = []
    for gauge in gauges:
        try:
            value = float(gauge.read())
        except Exception:
            logger.exception("Metric %s could not be read", gauge.name)
            continue
        lines += [
            f"# HELP {gauge.name} {_help(gauge.help)}",
            f"# TYPE {gauge.name} gauge",
            f"{gauge.name} {_number(value)}",
        ]
    return lines


def render_metrics() -> str:
    """The whole exposition: request metrics of this process, then every registered gauge."""
    return "\n".join([*_stats.render(), *_render_gauges()]) + "\n"


def _tasks_queued() -> int:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.ready().count()


def _tasks_stuck() -> int:
    from .task_recovery import stuck_task_count

    return stuck_task_count()


def _audit_unsealed() -> int:
    from .models import AuditRecord

    return AuditRecord.objects.filter(seal_seq__isnull=True).count()


def _audit_oldest_unsealed_seconds() -> float:
    from django.utils import timezone

    from .models import AuditRecord

    oldest = (
        AuditRecord.objects.filter(seal_seq__isnull=True)
        .order_by("id")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None:
        return 0.0
    return max(0.0, (timezone.now() - oldest).total_seconds())


register_gauge(
    "civicgrid_tasks_queued",
    "Tasks waiting in the database task queue and due to run now.",
    _tasks_queued,
)
register_gauge(
    "civicgrid_tasks_stuck",
    "Tasks marked running for longer than the lease (CIVICGRID_TASK_LEASE_SECONDS): their"
    " worker died and no worker has put them back in the queue yet.",
    _tasks_stuck,
)
register_gauge(
    "civicgrid_audit_unsealed",
    "Audit rows not chained yet (normally a few seconds' worth).",
    _audit_unsealed,
)
register_gauge(
    "civicgrid_audit_oldest_unsealed_seconds",
    "Age of the oldest audit row not chained yet; 0 when all are (sealing runs every 2 s).",
    _audit_oldest_unsealed_seconds,
)


# --------------------------------------------------------------------------- the view


def metrics_token() -> str:
    """``settings.CIVICGRID_METRICS_TOKEN``, else the environment variable of that name."""
    token = getattr(settings, "CIVICGRID_METRICS_TOKEN", None)
    if token is None:
        token = os.environ.get("CIVICGRID_METRICS_TOKEN", "")
    return str(token)


def metrics_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``settings.CIVICGRID_METRICS_ALLOWED_NETWORKS`` as networks (checked at start-up)."""
    return tuple(
        ipaddress.ip_network(item, strict=False)
        for item in getattr(settings, "CIVICGRID_METRICS_ALLOWED_NETWORKS", ())
    )


def _from_allowed_network(request: HttpRequest) -> bool:
    networks = metrics_networks()
    if not networks:
        return False
    if any(request.META.get(header) for header in PROXY_HEADERS):
        return False  # came through a proxy: the address is the proxy's, the client is elsewhere
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket's form of an IPv4 client
    return any(address in network for network in networks if address.version == network.version)


def _bears_the_token(request: HttpRequest) -> bool:
    token = metrics_token()
    if not token:
        return False
    scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def metrics_allowed(request: HttpRequest) -> bool:
    """The configured token, or a direct client from an allowed network; nobody by default."""
    return _bears_the_token(request) or _from_allowed_network(request)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: the exposition, or 404 for a client that may not read it."""
    if not metrics_allowed(request):
        raise Http404
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE)


# --------------------------------------------------------------------------- formatting


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_label_value(value)}"' for key, value in labels.items()) + "}"
