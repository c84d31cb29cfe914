"""Schemathesis over the whole JSON API: every operation of ``/api/v1/openapi.json``, with
generated input, against the live server over real HTTP, as an administrator.

No answer may be a server error, and every documented answer must match its schema. The
number of examples per operation is :data:`EXAMPLES`; ``CIVICGRID_FUZZ_EXAMPLES`` raises it for
longer runs (``CIVICGRID_FUZZ_EXAMPLES=200 pytest tests/test_schemathesis.py``).

Path parameters are drawn from real case numbers and photo ids as well as generated ones, so
the workflow steps reach their services instead of answering 404 to every made-up number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.cache import caches
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from civicgrid.accounts.services import api_token_issue
from civicgrid.cases import services as s
from civicgrid.cases.models import CasePhoto
from civicgrid.cases.tests.factories import PASSWORD, World, build_world, photo, submit

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("CIVICGRID_FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, response_schema_conformance]
# Revoking the token the requests carry would turn the rest of the run into 401s.
REVOKE_TOKEN = ("DELETE", "/api/v1/auth/token")


@dataclass
class Target:
    base_url: str
    world: World
    token: str
    numbers: list[str]
    photo_ids: list[int]
    failures: list[str] = field(default_factory=list)

    def headers(self, method: str, path: str) -> dict[str, str]:
        token = self.token
        if (method.upper(), path) == REVOKE_TOKEN:
            token = api_token_issue(actor=None, user=self.world.users["admin"], name="fuzz")[1]
        return {"Authorization": f"Bearer {token}"}

    def known_good(self, method: str, path: str) -> list[dict[str, Any]]:
        """Inputs that pass validation, so the service behind is reached and not only the
        schema's 400s; generated examples still make up half the run."""
        point = {"lat": self.world.inside_lat, "lng": self.world.inside_lng}
        if (method.upper(), path) == ("POST", "/api/v1/cases"):
            return [{"body": {"category": "E0101", "description": "门口有垃圾", **point}}]
        if (method.upper(), path) == ("GET", "/api/v1/cases/duplicates"):
            return [{"query": {"category": "E0101", **point}}]
        if (method.upper(), path) == ("POST", "/api/v1/auth/token"):
            return [{"body": {"username": "admin", "password": PASSWORD, "name": "fuzz"}}]
        return []


def some_cases(world: World) -> list[str]:
    """A reported case, a dispatched one with a photo, an anonymous one and a closed one."""
    reported = submit(world, photos=[photo()])
    moving = submit(world, category=world.categories["light"])
    s.case_accept(actor=world.users["operator"], case=moving, note="核实")
    s.case_file(actor=world.users["shift_leader"], case=moving)
    s.case_dispatch(actor=world.users["dispatcher"], case=moving)
    anonymous = submit(world, is_anonymous=True, category=world.categories["manhole"])
    closed = s.case_self_handle(
        actor=world.users["grid_worker"],
        case=submit(world),
        note="顺手清理了",
        before=[photo()],
        after=[photo()],
    )
    return [c.number for c in (reported, moving, anonymous, closed)]


@pytest.fixture
def target(live_server: Any, transactional_db: None) -> Iterator[Target]:
    world = build_world(second_community=True)
    numbers = some_cases(world)
    token = api_token_issue(actor=None, user=world.users["admin"], name="fuzz")[1]
    photo_ids = list(CasePhoto.objects.order_by("id").values_list("id", flat=True))
    yield Target(
        base_url=live_server.url, world=world, token=token, numbers=numbers, photo_ids=photo_ids
    )
    # POST /auth/token is throttled per client address in the cache; leave none of it behind.
    caches["default"].clear()


def _strategy(operation: Any, target: Target) -> st.SearchStrategy[Any]:
    """Generated input, valid (positive) and invalid (negative), and the same with real case
    numbers (and a real photo id) in the path or with known-good input."""
    names = {p.name for p in operation.path_parameters}
    fixed: list[dict[str, Any]] = []
    if "number" in names:
        for number in target.numbers:
            params: dict[str, Any] = {"number": number}
            if "photo_id" in names:
                params["photo_id"] = target.photo_ids[0]
            fixed.append({"path_parameters": params})
    fixed += target.known_good(operation.method, operation.path)
    strategies = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
    strategies += [operation.as_strategy(**kwargs) for kwargs in fixed]
    return st.one_of(strategies)


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
            case.call_and_validate(
                base_url=target.base_url, headers=headers, checks=CHECKS, timeout=30
            )
        except (Exception, BaseExceptionGroup) as exc:
            exc.add_note(case.as_curl_command(headers=headers, base_url=target.base_url))
            raise

    run()


def _describe(exc: BaseException) -> str:
    """The failure, then the ``curl`` line that reproduces the request (in the notes)."""
    if isinstance(exc, BaseExceptionGroup):
        parts = [_describe(e) for e in exc.exceptions]
    else:
        parts = [f"{type(exc).__name__}: {exc}"]
    return "\n".join([*parts, *getattr(exc, "__notes__", [])])


def test_every_operation_answers_without_server_errors_and_as_documented(
    target: Target,
) -> None:
    # given
    schema = schemathesis.openapi.from_url(f"{target.base_url}/api/v1/openapi.json")
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
    assert len(operations) >= 30
    assert {op.path for op in operations} >= {
        "/api/v1/public/cases",
        "/api/v1/public/cases/{number}",
        "/api/v1/public/categories",
        "/api/v1/public/cells",
        "/api/v1/cases",
    }
    assert target.failures == [], "\n\n".join(target.failures)
