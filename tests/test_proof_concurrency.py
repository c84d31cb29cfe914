"""Proof: many workers racing the same transitions on many cases (PostgreSQL, threads).

Every phase of the loop (accept → file → dispatch → start → process → check start → check
pass) is attempted by every worker on every case at the same time, each worker in its own
order. Row locks in the services must give exactly one winner per case and phase; the others
get ``cases.wrong_state`` (or ``cases.wrong_role`` never: every worker holds the right role).
Afterwards every case is closed, has exactly one trace row per action and one audit row per
transition.

``make test`` runs it small (8 workers, 12 cases); ``make soak`` runs the full size from the
issue (``CIVICGRID_PROOF_SCALE=full``: 50 workers, 100 cases) and writes its figures to
``bench/results/proofs/concurrency.json``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from civicgrid.cases import services as s
from civicgrid.cases.errors import CaseError
from civicgrid.cases.models import Action, Case, Status, Trace
from civicgrid.cases.tests.factories import World, build_world, photo, submit
from civicgrid.core.models import AuditRecord

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are exercised on PostgreSQL"
    ),
]

FULL = os.environ.get("CIVICGRID_PROOF_SCALE", "").lower() == "full"
WORKERS = 50 if FULL else 8
CASES = 100 if FULL else 12
RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "proofs"


def _phases(w: World) -> list[tuple[str, Callable[[Case], Any]]]:
    proof = photo()
    u = w.users
    return [
        (Action.ACCEPT, lambda c: s.case_accept(actor=u["operator"], case=c)),
        (Action.FILE, lambda c: s.case_file(actor=u["shift_leader"], case=c)),
        (Action.DISPATCH, lambda c: s.case_dispatch(actor=u["dispatcher"], case=c)),
        (Action.START, lambda c: s.case_start(actor=u["clean_handler"], case=c)),
        (
            Action.PROCESS,
            lambda c: s.case_process(
                actor=u["clean_handler"], case=c, note="已清理", photos=[proof]
            ),
        ),
        (Action.CHECK_START, lambda c: s.case_check_start(actor=u["grid_worker"], case=c)),
        (
            Action.CHECK_PASS,
            lambda c: s.case_check_finish(actor=u["grid_worker"], case=c, passed=True),
        ),
    ]


def _race_phase(
    cases: list[Case], call: Callable[[Case], Any]
) -> tuple[Counter[int], Counter[str]]:
    """Every worker calls ``call`` on every case (own shuffled order), all released together.
    Returns wins per case id and error codes."""
    barrier = threading.Barrier(WORKERS)
    wins: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(seed: int) -> None:
        order = cases[:]
        random.Random(seed).shuffle(order)
        local_wins: Counter[int] = Counter()
        local_codes: Counter[str] = Counter()
        try:
            barrier.wait()
            for case in order:
                try:
                    call(Case.objects.get(pk=case.pk))
                    local_wins[case.pk] += 1
                except CaseError as err:
                    local_codes[err.code] += 1
        finally:
            connections.close_all()
            with lock:
                wins.update(local_wins)
                codes.update(local_codes)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return wins, codes


def test_racing_workers_make_exactly_one_transition_per_case_and_phase():
    # given
    w = build_world()
    cases = [submit(w, description=f"楼下垃圾堆 {i}") for i in range(CASES)]
    audit_before = AuditRecord.objects.count()
    figures: dict[str, Any] = {"workers": WORKERS, "cases": CASES, "phases": {}}
    started = time.perf_counter()
    # when every phase is raced by every worker on every case
    for action, call in _phases(w):
        phase_started = time.perf_counter()
        wins, codes = _race_phase(cases, call)
        # then exactly one winner per case, everyone else refused for the state
        assert sorted(wins.values()) == [1] * CASES, action
        assert set(wins) == {c.pk for c in cases}, action
        assert codes == Counter({"cases.wrong_state": CASES * (WORKERS - 1)}), action
        figures["phases"][action] = {
            "calls": CASES * WORKERS,
            "wins": sum(wins.values()),
            "refused": sum(codes.values()),
            "seconds": round(time.perf_counter() - phase_started, 2),
        }
    # then every case is closed with one trace row per action and one audit row per transition
    assert set(
        Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("status", flat=True)
    ) == {Status.CLOSED}
    per_case = Counter(
        (case_id, action)
        for case_id, action in Trace.objects.filter(case__in=cases).values_list("case_id", "action")
    )
    actions = [Action.SUBMIT] + [a for a, _call in _phases(w)]
    for case in cases:
        assert [per_case[(case.pk, a)] for a in actions] == [1] * len(actions)
    transitions = CASES * len(_phases(w))
    assert AuditRecord.objects.count() == audit_before + transitions
    figures["seconds"] = round(time.perf_counter() - started, 2)
    figures["transitions"] = transitions
    figures["calls"] = transitions * WORKERS
    if FULL:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "concurrency.json").write_text(json.dumps(figures, indent=2) + "\n")
