"""The hot reads run a fixed number of queries however many cases there are."""

from __future__ import annotations

import pytest

from civicgrid.cases import selectors
from civicgrid.cases import services as s

from .factories import build_world, photo, submit

pytestmark = pytest.mark.django_db


def _many(w, n=12):
    cases = [submit(w) for _ in range(n)]
    for case in cases[: n // 2]:
        s.case_accept(actor=w.users["operator"], case=case)
    return cases


def test_the_operator_queue_is_one_query(django_assert_num_queries):
    w = build_world()
    _many(w)
    with django_assert_num_queries(1):
        rows = list(selectors.case_queue(user=w.users["operator"]))
        labels = [(c.number, c.category.name, c.cell.code if c.cell else "") for c in rows]
    assert len(labels) == 6


def test_the_public_list_is_one_query(django_assert_num_queries):
    w = build_world()
    _many(w)
    with django_assert_num_queries(1):
        rows = [
            (c.number, c.category.name, c.cell.code if c.cell else "")
            for c in selectors.case_list_public()
        ]
    assert len(rows) == 12


def test_the_timeline_is_two_queries(django_assert_num_queries):
    w = build_world()
    case = submit(w, photos=[photo()])
    s.case_accept(actor=w.users["operator"], case=case)
    s.case_file(actor=w.users["shift_leader"], case=case)
    with django_assert_num_queries(2):  # the trace rows, then their photos
        rows = [
            (t.action, t.actor.username if t.actor else "", t.unit, len(t.photos.all()))
            for t in selectors.case_timeline(case=case)
        ]
    assert [r[0] for r in rows] == ["submit", "accept", "file"]
    assert rows[0][3] == 1


def test_the_staff_queue_page_does_not_grow_with_the_queue(client, django_assert_max_num_queries):
    from .factories import PASSWORD

    w = build_world()
    _many(w, 20)
    client.login(username="operator", password=PASSWORD)
    with django_assert_max_num_queries(12):
        response = client.get("/queue/")
    assert response.status_code == 200
    assert response.content.decode().count('href="/cases/') >= 10
