"""Schemathesis over the whole JSON API: every operation of ``/api/v1/openapi.json``, with
generated input, against the live server over real HTTP, each called by a role that may call it.

Every default check of schemathesis runs on every answer: no server error, the status code,
content type and headers documented, the body matching the documented schema, valid input
accepted and invalid input refused, authentication enforced (``ignored_auth`` repeats a
successful call without credentials). The number of examples per operation is
:data:`EXAMPLES`; ``CIVICGRID_FUZZ_EXAMPLES`` raises it for longer runs
(``CIVICGRID_FUZZ_EXAMPLES=200 pytest tests/test_schemathesis.py``).

The caller of each operation is a Bearer token of the role the workflow gives it to
(:data:`CALLERS`; an administrator for the rest), and path parameters are drawn from real cases
in the state each step needs (:mod:`tests.workflow_states`) as well as from generated ones, so
the workflow steps reach their services and succeed instead of answering 403, 404 or 409 to
everything.

Where an operation still fails a check for a reason that lies in a file this suite does not
own, the failure is listed in :data:`KNOWN_GAPS` with the reason and tallied instead of
failing the run; ``test_the_schema_documents_every_error_status`` makes the list shrink when
the schema is fixed.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.cache import caches
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure
from schemathesis.core.result import Err, Ok

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases.models import Case, CasePhoto
from civicgrid.cases.tests.factories import PASSWORD, World, build_world
from tests.workflow_states import cases_in_every_state

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("CIVICGRID_FUZZ_EXAMPLES", "15"))
API = "/api/v1"
# Revoking the token the requests carry would turn the rest of the run into 401s.
REVOKE_TOKEN = ("DELETE", f"{API}/auth/token")

# Who calls each operation: the role the workflow gives the step to (see DESIGN.md), so that
# the service accepts the caller; everything else is called by an administrator.
CALLERS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/cases"): "resident",
    ("POST", f"{API}/cases/{{number}}/accept"): "operator",
    ("POST", f"{API}/cases/{{number}}/cancel"): "shift_leader",
    ("POST", f"{API}/cases/{{number}}/verify"): "grid_worker",
    ("POST", f"{API}/cases/{{number}}/file"): "shift_leader",
    ("POST", f"{API}/cases/{{number}}/dispatch"): "dispatcher",
    ("POST", f"{API}/cases/{{number}}/transfer"): "supervisor",
    ("POST", f"{API}/cases/{{number}}/return-request"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/return-decision"): "dispatcher",
    ("POST", f"{API}/cases/{{number}}/start"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/process"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/extension-request"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/extension-decision"): "shift_leader",
    ("POST", f"{API}/cases/{{number}}/hold-request"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/hold-decision"): "supervisor",
    ("POST", f"{API}/cases/{{number}}/resume"): "clean_handler",
    ("POST", f"{API}/cases/{{number}}/check-start"): "grid_worker",
    ("POST", f"{API}/cases/{{number}}/check"): "grid_worker",
    ("POST", f"{API}/cases/{{number}}/rate"): "resident",
    ("POST", f"{API}/cases/{{number}}/self-handle"): "grid_worker",
    ("POST", f"{API}/cases/{{number}}/self-handle-review"): "shift_leader",
    ("POST", f"{API}/cases/{{number}}/follow"): "resident2",
    ("GET", f"{API}/cases/queue"): "operator",
}
# The state of the case each step's path is drawn from first (workflow_states.STATES).
STEP_STATES: dict[str, str] = {
    "accept": "reported",
    "cancel": "reported",
    "verify": "accepted",
    "file": "accepted",
    "dispatch": "filed",
    "transfer": "dispatched",
    "return-request": "dispatched",
    "return-decision": "return_requested",
    "start": "dispatched",
    "process": "processing",
    "extension-request": "processing",
    "extension-decision": "extension_requested",
    "hold-request": "processing",
    "hold-decision": "hold_requested",
    "resume": "on_hold",
    "check-start": "processed",
    "check": "checking",
    "rate": "closed",
    "self-handle": "reported",
    "self-handle-review": "self_handled",
    "follow": "dispatched",
}
NOTE = "现场已处理"
# A body each step's service accepts, so that half the examples are not schema-valid noise only.
STEP_BODIES: dict[str, dict[str, Any]] = {
    "accept": {"note": NOTE},
    "cancel": {"reason": "invalid", "note": NOTE},
    "verify": {"note": NOTE},
    "file": {"note": NOTE},
    "dispatch": {"note": NOTE},
    "transfer": {"unit": "lights-co", "reason": "路灯公司负责"},
    "return-request": {"reason": "不归我们管"},
    "return-decision": {"approve": True, "note": NOTE},
    "start": {"note": NOTE},
    # Photos cannot be sent by a generic client: see the photo note at KNOWN_GAPS.
    "process": {"note": NOTE},
    "extension-request": {"extra_minutes": 120, "reason": "需要吊车"},
    "extension-decision": {"approve": True, "note": NOTE},
    "hold-request": {"reason": "等业主在家"},
    "hold-decision": {"approve": True, "note": NOTE},
    "resume": {"note": NOTE},
    "check": {"passed": True, "note": NOTE},
    "rate": {"satisfaction": "satisfied", "resolved": True},
    "self-handle": {"note": NOTE},
    "self-handle-review": {"approve": True, "note": NOTE},
}

# Operations of civicgrid/cases/api.py (not this suite's file) that fail a default check, by
# the name of the failure, with the reason. Each entry goes when the operation is fixed.
UNDOCUMENTED = "UndefinedStatusCode"  # status_code_conformance: only the 2xx answers are declared
REFUSES_VALID = (
    "RejectedPositiveData"  # positive_data_acceptance: a schema-valid input answered 400
)
CASES_OPERATIONS = [
    ("GET", f"{API}/cases"),
    ("POST", f"{API}/cases"),
    ("GET", f"{API}/cases/queue"),
    ("GET", f"{API}/cases/duplicates"),
    ("GET", f"{API}/cases/{{number}}"),
    ("GET", f"{API}/cases/{{number}}/photos/{{photo_id}}"),
    ("GET", f"{API}/cases/{{number}}/timeline"),
    *[("POST", f"{API}/cases/{{number}}/{step}") for step in STEP_STATES],
    ("GET", f"{API}/public/cases"),
    ("GET", f"{API}/public/cases/{{number}}"),
]
KNOWN_GAPS: dict[tuple[str, str], set[str]] = {op: {UNDOCUMENTED} for op in CASES_OPERATIONS}
# Business rules the schema does not state, so that schema-valid input is refused with 400:
# a category code that names no leaf (the schema allows any 1-20 characters), a `bbox` whose
# pattern admits numbers out of range (a latitude of 733), a note or a
# reason the step requires (the schema makes them optional), photos the step requires. And
# photos cannot be sent at all by a client that follows the schema: `photos`, `before` and
# `after` are declared `anyOf: [array of binary, null]`, which generic clients (schemathesis
# among them) do not recognise as files, so they send text parts without a filename, which
# the server refuses (NUL in text) or ignores (no photo).
for _op in [
    ("POST", f"{API}/cases"),
    ("GET", f"{API}/cases/duplicates"),
    ("GET", f"{API}/public/cases"),
    *[
        ("POST", f"{API}/cases/{{number}}/{step}")
        for step in (
            "accept",
            "cancel",
            "dispatch",
            "transfer",
            "return-request",
            "return-decision",
            "process",
            "extension-request",
            "extension-decision",
            "hold-request",
            "hold-decision",
            "check",
            "self-handle",
            "self-handle-review",
            "verify",
        )
    ],
]:
    KNOWN_GAPS[_op].add(REFUSES_VALID)


@dataclass
class Target:
    base_url: str
    world: World
    tokens: dict[str, str]
    cases: dict[str, Case]
    numbers: list[str]
    photo_ids: list[int]
    failures: list[str] = field(default_factory=list)
    gaps: Counter[str] = field(default_factory=Counter)

    def headers(self, method: str, path: str) -> dict[str, str]:
        caller = CALLERS.get((method.upper(), path), "admin")
        token = self.tokens[caller]
        if (method.upper(), path) == REVOKE_TOKEN:
            token = api_token_issue(actor=None, user=self.world.users[caller], name="fuzz")[1]
        return {"Authorization": f"Bearer {token}"}

    def known_good(self, method: str, path: str) -> list[dict[str, Any]]:
        """Inputs that pass validation, so the service behind is reached and not only the
        schema's 400s; generated examples still make up most of the run."""
        point = {"lat": self.world.inside_lat, "lng": self.world.inside_lng}
        op = (method.upper(), path)
        if op == ("POST", f"{API}/cases"):
            return [{"body": {"category": "E0101", "description": "门口有垃圾", **point}}]
        if op == ("GET", f"{API}/cases/duplicates"):
            return [{"query": {"category": "E0101", **point}}]
        if op == ("POST", f"{API}/auth/token"):
            return [{"body": {"username": "admin", "password": PASSWORD, "name": "fuzz"}}]
        step = path.rsplit("/", 1)[-1]
        if method.upper() == "POST" and step in STEP_STATES:
            given: dict[str, Any] = {
                "path_parameters": {"number": self.cases[STEP_STATES[step]].number}
            }
            if step in STEP_BODIES:
                given["body"] = STEP_BODIES[step]
            return [given]
        return []

    def known_gap(self, method: str, path: str, failure: BaseException) -> bool:
        name = type(failure).__name__
        if name in KNOWN_GAPS.get((method.upper(), path), set()):
            self.gaps[f"{method.upper()} {path}: {name}"] += 1
            return True
        return False


# Thousands of requests, most refused on purpose: their access lines and "Bad Request"
# warnings, captured by pytest, would cost more than the requests and bury a failure.
QUIET_LOGGERS = ("civicgrid.request", "django.request", "django.server", "django.security.csrf")


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture
def target(live_server: Any, transactional_db: None, quiet_logs: None) -> Iterator[Target]:
    world = build_world(second_community=True)
    cases = cases_in_every_state(world)
    tokens = {
        name: api_token_issue(actor=None, user=user, name="fuzz")[1]
        for name, user in world.users.items()
    }
    photo_ids = list(CasePhoto.objects.order_by("id").values_list("id", flat=True))
    yield Target(
        base_url=live_server.url,
        world=world,
        tokens=tokens,
        cases=cases,
        numbers=[c.number for c in cases.values()],
        photo_ids=photo_ids,
    )
    # POST /auth/token is throttled per client address in the cache; leave none of it behind.
    caches["default"].clear()


def _strategy(operation: Any, target: Target) -> st.SearchStrategy[Any]:
    """Generated input, valid (positive) and invalid (negative), the same with real case
    numbers (and a real photo id) in the path, and known-good input."""
    names = {p.name for p in operation.path_parameters}
    fixed: list[dict[str, Any]] = []
    if "number" in names:
        for number in target.numbers[::3]:
            params: dict[str, Any] = {"number": number}
            if "photo_id" in names:
                params["photo_id"] = target.photo_ids[0]
            fixed.append({"path_parameters": params})
    fixed += target.known_good(operation.method, operation.path)
    strategies = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
    strategies += [operation.as_strategy(**kwargs) for kwargs in fixed]
    return st.one_of(strategies)


def _without_known_gaps(operation: Any, target: Target, exc: BaseException) -> BaseException | None:
    """The failure with the known gaps of the operation taken out (None when nothing is left)."""
    if isinstance(exc, BaseExceptionGroup):
        rest = [e for e in exc.exceptions if _without_known_gaps(operation, target, e) is not None]
        if not rest:
            return None
        return exc if len(rest) == len(exc.exceptions) else exc.derive(rest)
    if isinstance(exc, Failure) and target.known_gap(operation.method, operation.path, exc):
        return None
    return exc


def _fuzz(operation: Any, target: Target) -> None:
    @given(case=_strategy(operation, target))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def run(case: Any) -> None:
        headers = target.headers(operation.method, operation.path)
        try:
            # No `checks=`: every default check of schemathesis runs.
            case.call_and_validate(base_url=target.base_url, headers=headers, timeout=30)
        except (Exception, BaseExceptionGroup) as exc:
            rest = _without_known_gaps(operation, target, exc)
            if rest is None:
                return
            rest.add_note(case.as_curl_command(headers=headers, base_url=target.base_url))
            raise rest from None

    run()


def _describe(exc: BaseException) -> str:
    """The failure, then the ``curl`` line that reproduces the request (in the notes)."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [_describe(e) for e in exc.exceptions]
    else:
        parts = [f"{type(exc).__name__}: {exc}"]
    return "\n".join([*parts, *getattr(exc, "__notes__", [])])


def test_every_operation_answers_as_documented_to_a_caller_who_may_call_it(
    target: Target,
) -> None:
    # given
    schema = schemathesis.openapi.from_url(f"{target.base_url}{API}/openapi.json")
    # Every text input refuses the NUL character with 400 (config/api.py, TextParser: PostgreSQL
    # cannot store it), a rule JSON Schema cannot state; so schema-valid input carries none.
    schema.config.generation.update(allow_x00=False)
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    invalid = [str(r.err()) for r in results if isinstance(r, Err)]

    # when
    for operation in operations:
        try:
            _fuzz(operation, target)
        except (Exception, BaseExceptionGroup) as exc:  # all operations run; failures are listed
            target.failures.append(f"{operation.method.upper()} {operation.path}: {_describe(exc)}")

    # then
    assert invalid == []
    assert {(op.method.upper(), op.path) for op in operations} >= set(CALLERS)
    assert {op.path for op in operations} >= {
        f"{API}/public/cases",
        f"{API}/public/cases/{{number}}",
        f"{API}/public/categories",
        f"{API}/public/cells",
        f"{API}/cases",
        f"{API}/auth/token",
        f"{API}/auth/me",
    }
    print("\nknown gaps seen (operation: failure × examples):")  # shown with -rA / -s
    for gap, count in sorted(target.gaps.items()):
        print(f"  {gap} × {count}")
    assert target.failures == [], "\n\n".join(target.failures)


# Statuses every operation can answer, by what it takes: any input can be invalid (400); a
# login can be missing (401), a session write can lack its CSRF token (403); a path names
# something that may not exist (404).
def _error_statuses(operation: dict[str, Any], method: str) -> set[str]:
    statuses = set()
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add("400")
    if operation.get("security"):
        statuses.add("401")
        if method != "get":
            statuses.add("403")
    if any(p["in"] == "path" for p in operation.get("parameters", [])):
        statuses.add("404")
    return statuses


def test_the_schema_documents_every_error_status(client: Any) -> None:
    """Each operation declares the errors it can answer, in the one error shape; the
    operations of KNOWN_GAPS that do not yet are listed there, and leave the list once they
    do."""
    # given
    document = client.get(f"{API}/openapi.json").json()
    undocumented: set[tuple[str, str]] = set()
    wrong_shape: list[str] = []

    # when
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = operation["responses"]
            missing = _error_statuses(operation, method) - set(declared)
            if missing:
                undocumented.add((method.upper(), path))
            for status, response in declared.items():
                if status.startswith(("4", "5")):
                    body = response["content"]["application/json"]["schema"]
                    if body != {"$ref": "#/components/schemas/ErrorOut"}:
                        wrong_shape.append(f"{method.upper()} {path} {status}: {body}")

    # then
    listed = {op for op, gaps in KNOWN_GAPS.items() if UNDOCUMENTED in gaps}
    assert undocumented - listed == set(), "undeclared error statuses"
    assert listed - undocumented == set(), "documented now: take them out of KNOWN_GAPS"
    assert wrong_shape == []
