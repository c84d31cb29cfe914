"""A short-lived cache of public answers, versioned by the data they show.

Public reads (the Open311 request list, the public case list) are the same for every caller
and the most requested answers of the platform: a client app polls the default list, a map
page asks for the same page again and again. A staff member's queue table is the same until a
case changes, so it is kept too, keyed by the user's scope.

:func:`cached` keeps a built answer in Django's cache for ``CIVICGRID_PUBLIC_CACHE_SECONDS``
under a key made of a *scope version* and the request's parts. :func:`bump` moves the scope's
version once the transaction of a write that changes what the scope shows commits (the case
services call it for every trace row and every new case), so the next read rebuilds:

- with a shared cache (Redis, ``CIVICGRID_CACHE_URL``) every process sees the change at once;
- with the default per-process memory cache, the process that wrote sees it at once and the
  others within ``CIVICGRID_PUBLIC_CACHE_SECONDS`` (a list a few seconds old is fine; the
  steps themselves re-check the case under its row lock, and single-case reads are never
  cached).

``CIVICGRID_PUBLIC_CACHE_SECONDS = 0`` turns the cache off. A cache that fails (Redis down) is
logged and the answer built as if there were no cache: a read never fails because of it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

_PREFIX = "civicgrid:readcache"
# The scope of every answer built from cases and their trace (bumped by the case services).
CASES = "cases"


def ttl_seconds() -> int:
    return max(0, int(getattr(settings, "CIVICGRID_PUBLIC_CACHE_SECONDS", 0)))


def _version_key(scope: str) -> str:
    return f"{_PREFIX}:version:{scope}"


def version(scope: str) -> int:
    """The scope's current version; a missing one (first use, evicted) starts from the clock,
    so it never repeats a version whose answers may still be cached."""
    key = _version_key(scope)
    value = cache.get(key)
    if value is None:
        value = time.time_ns()
        if not cache.add(key, value, timeout=None):
            value = cache.get(key, value)
    return int(value)


def _bump_now(scope: str) -> None:
    key = _version_key(scope)
    try:
        cache.incr(key)
    except ValueError:  # missing: start a new line of versions
        cache.set(key, time.time_ns(), timeout=None)
    except Exception:  # a cache that is down must not fail the write that committed
        logger.warning("Could not bump the read cache version of %s", scope, exc_info=True)


def bump(scope: str) -> None:
    """Invalidate the scope's cached answers when the current transaction commits (at once
    outside a transaction; never when it rolls back)."""
    if ttl_seconds() <= 0:
        return
    transaction.on_commit(lambda: _bump_now(scope), robust=True)


def _key(scope: str, scope_version: int, parts: Iterable[Any]) -> str:
    digest = hashlib.sha256(repr(tuple(parts)).encode("utf-8")).hexdigest()[:40]
    return f"{_PREFIX}:{scope}:{scope_version}:{digest}"


def cached[T](scope: str, parts: Iterable[Any], build: Callable[[], T]) -> T:
    """``build()``'s result, from the cache when an answer for the same ``parts`` was built
    since the scope last changed (and at most ``CIVICGRID_PUBLIC_CACHE_SECONDS`` ago).

    ``parts`` must name everything the answer depends on besides the scope's data (format,
    language, host, the query's parameters). ``build``'s result must pickle."""
    ttl = ttl_seconds()
    if ttl <= 0:
        return build()
    try:
        key = _key(scope, version(scope), parts)
        hit = cache.get(key)
    except Exception:
        logger.warning("Read cache unavailable for %s", scope, exc_info=True)
        return build()
    if hit is not None:
        return hit
    value = build()
    try:
        cache.set(key, value, timeout=ttl)
    except Exception:
        logger.warning("Could not store a read cache entry for %s", scope, exc_info=True)
    return value
