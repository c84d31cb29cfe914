"""The work queue paged in the database: the light in SQL agrees with Case.light, counts cover
the whole queue, pages stay in range, and the query count does not grow with the queue."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from civicgrid.cases.models import Case, Light, Status
from civicgrid.cases.selectors import case_queue_page, light_expression

from .factories import World, build_world, submit

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _shape(case: Case, **fields: object) -> None:
    Case.objects.filter(pk=case.pk).update(**fields)


def test_light_in_sql_agrees_with_the_model_on_every_kind_of_case() -> None:
    world = build_world()
    deadlines = [None, NOW - HOUR, NOW + HOUR, NOW + 10 * HOUR]
    warnings = [None, NOW - 2 * HOUR, NOW + 5 * HOUR]
    statuses = [Status.REPORTED, Status.ACCEPTED, Status.CLOSED]
    combos = list(itertools.product(deadlines, warnings, [False, True], [False, True], statuses))
    for deadline, warning, on_hold, overdue, status in combos:
        case = submit(world)
        _shape(
            case,
            deadline_at=deadline,
            warning_at=warning,
            is_on_hold=on_hold,
            is_overdue=overdue,
            status=status,
        )
    rows = Case.objects.annotate(sql_light=light_expression(NOW))
    checked = 0
    for case in rows:
        assert case.sql_light == case.light(NOW), (
            case.deadline_at,
            case.warning_at,
            case.is_on_hold,
            case.is_overdue,
            case.status,
        )
        checked += 1
    assert checked == len(combos)
    assert {case.sql_light for case in rows} == set(Light.values)


def _operator_queue(world: World, n: int) -> list[Case]:
    cases = [submit(world) for _ in range(n)]
    now = timezone.now()
    for i, case in enumerate(cases):  # a third red, a third yellow, a third green
        if i % 3 == 0:
            _shape(case, deadline_at=now - HOUR * (i + 1))
        elif i % 3 == 1:
            _shape(case, deadline_at=now + HOUR * (i + 1), warning_at=now - HOUR)
        else:
            _shape(case, deadline_at=now + HOUR * (i + 1), warning_at=now + HOUR)
    return cases


def test_pages_cover_the_queue_in_order_with_counts_of_the_whole_queue(
    django_assert_num_queries,
) -> None:
    world = build_world()
    _operator_queue(world, 12)
    operator = world.users["operator"]
    seen: list[str] = []
    for number in (1, 2, 3):
        with django_assert_num_queries(2):
            page = case_queue_page(user=operator, page=number, page_size=5)
        assert page.light_counts == {"red": 4, "yellow": 4, "green": 4, "none": 0}
        assert (page.total, page.pages, page.page) == (12, 3, number)
        seen += [case.number for case, _light in page.rows]
        assert all(light == case.light() for case, light in page.rows)
    assert len(seen) == len(set(seen)) == 12
    deadlines = [Case.objects.get(number=n).deadline_at for n in seen]
    assert None not in deadlines
    # Most urgent first across pages.
    assert deadlines == sorted(d for d in deadlines if d is not None)

    beyond = case_queue_page(user=operator, page=99, page_size=5)
    assert beyond.page == 3 and len(beyond.rows) == 2
    before = case_queue_page(user=operator, page=-4, page_size=5)
    assert before.page == 1


def test_one_light_filters_in_the_database() -> None:
    world = build_world()
    _operator_queue(world, 9)
    page = case_queue_page(user=world.users["operator"], light=Light.RED, page_size=50)
    assert page.total == 3 and len(page.rows) == 3
    assert {light for _case, light in page.rows} == {Light.RED}
    assert page.light_counts[Light.GREEN] == 3  # the counts still cover the whole queue


def test_an_empty_queue_is_one_empty_page() -> None:
    world = build_world()
    page = case_queue_page(user=world.users["operator"], page=3)
    assert (page.rows, page.total, page.page, page.pages) == ([], 0, 1, 1)
