"""Proof: retried submissions with the same idempotency key create exactly one case each.

Through all three doors — the report page (hidden ``submission_key``), the JSON API
(``Idempotency-Key`` header) and Open311 (``Idempotency-Key`` header) — a client that retries
after a lost answer sends the same key again, possibly while the first attempt is still
running. Each channel gets ``KEYS`` keys × ``RETRIES`` attempts, all sent concurrently in a
shuffled order over real HTTP; afterwards each key has made exactly one case, every attempt got
a success answer naming that case, and the total number of new cases equals the number of keys.

``make test`` runs 3 × 60 submissions; ``make soak`` (``CIVICGRID_PROOF_SCALE=full``) runs
3 × 1,000 and writes the figures to ``bench/results/proofs/idempotency.json``.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from civicgrid.accounts.models import Organization, OrganizationKind, User
from civicgrid.accounts.services import api_token_issue, client_key_issue
from civicgrid.cases.models import Case, Source
from civicgrid.cases.tests.factories import World, build_world

pytestmark = pytest.mark.django_db(transaction=True)

FULL = os.environ.get("CIVICGRID_PROOF_SCALE", "").lower() == "full"
KEYS = 100 if FULL else 12
RETRIES = 10 if FULL else 5
THREADS = 16 if FULL else 8
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "proofs"

Attempt = Callable[[httpx.Client, str, int], str]  # (client, key, n) → case number


def _session_cookie(user: User) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key
    return session.session_key


def _channels(world: World, base: str) -> dict[str, tuple[dict[str, Any], Attempt]]:
    """channel → (httpx client options, one attempt)."""
    lat, lng = world.inside_lat, world.inside_lng
    resident = world.users["resident"]
    token = api_token_issue(actor=None, user=resident, name="proof")[1]
    app = Organization.objects.create(kind=OrganizationKind.CLIENT, code="proof-app", name="App")
    raw_key = client_key_issue(actor=None, organization=app, name="proof", rate_per_minute=100_000)[
        1
    ]
    session = _session_cookie(resident)

    def via_open311(client: httpx.Client, key: str, n: int) -> str:
        response = client.post(
            "/open311/v2/requests.json",
            headers={"Idempotency-Key": key},
            data={
                "api_key": raw_key,
                "service_code": "E0101",
                "lat": lat,
                "long": lng,
                "description": f"路口垃圾 {key}",
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()[0]["service_request_id"])

    def via_api(client: httpx.Client, key: str, n: int) -> str:
        response = client.post(
            "/api/v1/cases",
            headers={"Idempotency-Key": key, "Authorization": f"Bearer {token}"},
            json={
                "category": "E0101",
                "description": f"路口垃圾 {key}",
                "lat": lat,
                "lng": lng,
            },
        )
        assert response.status_code in (200, 201), response.text
        return str(response.json()["number"])

    def via_page(client: httpx.Client, key: str, n: int) -> str:
        form = client.get("/report/")
        assert form.status_code == 200, form.text[:500]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert match is not None
        response = client.post(
            "/report/",
            data={
                "csrfmiddlewaretoken": match.group(1),
                "category": "E0101",
                "description": f"路口垃圾 {key}",
                "lat": lat,
                "lng": lng,
                "address": "",
                "urgency": "normal",
                "submission_key": key,
            },
            headers={"Referer": f"{base}/report/"},
        )
        assert response.status_code == 302, response.text[:2000]
        found = re.search(r"/cases/(\d+)/", response.headers["Location"])
        assert found is not None, response.headers["Location"]
        return found.group(1)

    return {
        "open311": ({}, via_open311),
        "api": ({}, via_api),
        "page": ({"cookies": {"sessionid": session}}, via_page),
    }


def _send(attempt: Attempt, client: httpx.Client, item: tuple[str, int]) -> str:
    return attempt(client, *item)


def test_retried_submissions_make_one_case_per_key(live_server: Any) -> None:
    # given
    world = build_world()
    figures: dict[str, Any] = {"keys": KEYS, "retries": RETRIES, "threads": THREADS}
    for channel, (options, attempt) in _channels(world, live_server.url).items():
        before = Case.objects.count()
        keys = [f"{channel}-{i:04d}" for i in range(KEYS)]
        work = [(key, n) for key in keys for n in range(RETRIES)]
        random.Random(channel).shuffle(work)
        answers: dict[str, set[str]] = defaultdict(set)
        started = time.perf_counter()
        # when every attempt is sent concurrently
        with (
            httpx.Client(base_url=live_server.url, timeout=60, **options) as client,
            ThreadPoolExecutor(THREADS) as pool,
        ):
            client.get("/report/")  # one CSRF cookie for every thread, set before they start
            for (key, _n), number in zip(
                work, pool.map(functools.partial(_send, attempt, client), work), strict=True
            ):
                answers[key].add(number)
        seconds = time.perf_counter() - started
        # then each key has exactly one case, and every retry was answered with it
        assert all(len(numbers) == 1 for numbers in answers.values()), channel
        numbers = {next(iter(n)) for n in answers.values()}
        assert len(numbers) == KEYS, channel
        assert Case.objects.count() - before == KEYS, channel
        created = Case.objects.filter(number__in=numbers)
        assert created.count() == KEYS
        expected_source = Source.OPEN311 if channel == "open311" else Source.RESIDENT
        assert set(created.values_list("source", flat=True)) == {expected_source}
        figures[channel] = {
            "submissions": len(work),
            "cases_created": KEYS,
            "seconds": round(seconds, 2),
        }
    if FULL:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "idempotency.json").write_text(json.dumps(figures, indent=2) + "\n")
