"""Bulk benchmark data: many cases with a realistic shape, written with ``bulk_create``.

The demo loader drives every case through the real services (about 80 ms of CPU each), which is
right for a demo and far too slow for 100,000 cases. Here cases and their trace rows are
inserted directly, shaped like the demo's: spread over two years with a seasonal rhythm, in
public and non-public leaf categories, in real grid cells at points inside them, routed by the
responsibility matrix, about 85 % finished (closed, evaluated or cancelled) and the rest open
in every state with deadlines. Only benchmarks use this; nothing here is audited.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone

from civicgrid.cases.models import (
    Action,
    Case,
    Category,
    Clock,
    RoutingRule,
    Source,
    Status,
    Trace,
    Urgency,
)
from civicgrid.core.models import DailyCounter
from civicgrid.geo.models import GridCell

BATCH = 2000
OPEN_MIX = (
    (Status.REPORTED, 0.15),
    (Status.ACCEPTED, 0.05),
    (Status.FILED, 0.10),
    (Status.DISPATCHED, 0.25),
    (Status.PROCESSING, 0.25),
    (Status.PROCESSED, 0.10),
    (Status.CHECKING, 0.10),
)
FINISHED_MIX = ((Status.CLOSED, 0.45), (Status.EVALUATED, 0.47), (Status.CANCELLED, 0.08))
SEQUENCE_START = 5000  # demo numbers stay far below this in a day


def _pick(rng: random.Random, mix: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for value, share in mix:
        roll -= share
        if roll <= 0:
            return value
    return mix[-1][0]


def _cell_boxes() -> list[tuple[GridCell, float, float, float, float]]:
    boxes = []
    for cell in GridCell.objects.order_by("code"):
        ring = cell.geometry["coordinates"][0]
        lngs = [p[0] for p in ring]
        lats = [p[1] for p in ring]
        boxes.append((cell, min(lngs), min(lats), max(lngs), max(lats)))
    return boxes


def bulk_cases(*, count: int, seed: int = 2026, end: dt.datetime | None = None) -> int:
    """Insert ``count`` cases (and 1–4 trace rows each) ending at ``end`` (default now).

    Returns the number inserted. Deterministic for a seed; numbers use daily sequences from
    5000 so they never collide with cases made by the services.
    """
    rng = random.Random(seed)
    end = end or timezone.now()
    start = end - dt.timedelta(days=730)
    leaves = list(
        Category.objects.filter(is_active=True).exclude(children__is_active=True).order_by("code")
    )
    boxes = _cell_boxes()
    if not leaves or not boxes:
        raise RuntimeError("load the demo (categories and grid) before bulk cases")
    routes: dict[tuple[int | None, int], Any] = {}
    for rule in RoutingRule.objects.select_related("unit"):
        routes[(rule.cell_id, rule.category_id)] = rule.unit
    weights = [3.0 if c.is_public else 0.5 for c in leaves]
    per_day: dict[dt.date, int] = defaultdict(lambda: SEQUENCE_START)
    made = 0
    span = (end - start).total_seconds()
    while made < count:
        size = min(BATCH, count - made)
        cases: list[Case] = []
        plans: list[tuple[str, dt.datetime, Any]] = []
        for _ in range(size):
            # Seasonal: more reports in summer, fewer at night.
            while True:
                at = start + dt.timedelta(seconds=rng.random() * span)
                summer = 1.0 + 0.4 * (at.month in (6, 7, 8))
                hour = timezone.localtime(at).hour
                daytime = 1.0 if 7 <= hour <= 21 else 0.25
                if rng.random() < summer * daytime / 1.4:
                    break
            category = rng.choices(leaves, weights)[0]
            cell, west, south, east, north = rng.choice(boxes)
            age_days = (end - at).days
            finished_share = 0.97 if age_days > 30 else 0.55
            status = (
                _pick(rng, FINISHED_MIX) if rng.random() < finished_share else _pick(rng, OPEN_MIX)
            )
            unit = routes.get((cell.pk, category.pk)) or routes.get((None, category.pk))
            with_unit = status not in (Status.REPORTED, Status.ACCEPTED, Status.FILED)
            if unit is None and with_unit and status != Status.CANCELLED:
                status = Status.FILED
                with_unit = False
            day = timezone.localdate(at)
            per_day[day] += 1
            updated = min(end, at + dt.timedelta(hours=rng.uniform(0.5, 120)))
            finished = status in (Status.CLOSED, Status.EVALUATED, Status.CANCELLED)
            deadline = at + dt.timedelta(days=rng.uniform(1, 5))
            cases.append(
                Case(
                    number=f"{day:%Y%m%d}{per_day[day]:04d}",
                    district_code=cell.code[:6],
                    category=category,
                    urgency=rng.choice((Urgency.NORMAL,) * 8 + (Urgency.PRESSING, Urgency.URGENT)),
                    source=rng.choice(
                        (Source.RESIDENT,) * 6 + (Source.PATROL,) * 3 + (Source.HOTLINE,)
                    ),
                    status=status,
                    description=f"{category.name}：{cell.name}附近（基准 {made + len(cases)}）",
                    lat=rng.uniform(south, north),
                    lng=rng.uniform(west, east),
                    address=cell.name,
                    cell=cell,
                    unit=unit if with_unit and status != Status.CANCELLED else None,
                    first_unit=unit if with_unit else None,
                    reported_at=at,
                    updated_at=updated,
                    dispatched_at=at + dt.timedelta(hours=1) if with_unit else None,
                    closed_at=updated if finished else None,
                    step_started_at=None if finished else updated,
                    step_clock=Clock.WORKING,
                    deadline_at=None if finished else deadline,
                    disposal_deadline_at=deadline if with_unit else None,
                    is_overdue=not finished and deadline < end,
                    is_anonymous=rng.random() < 0.1,
                    cancel_reason="duplicate" if status == Status.CANCELLED else "",
                )
            )
            plans.append((status, at, unit if with_unit else None))
        with transaction.atomic():
            Case.objects.bulk_create(cases, batch_size=BATCH)
            saved = Case.objects.filter(number__in=[c.number for c in cases]).values_list(
                "number", "pk"
            )
            ids = dict(saved)
            traces: list[Trace] = []
            for case, (status, at, unit) in zip(cases, plans, strict=True):
                pk = ids[case.number]
                steps = [(Action.SUBMIT, "", Status.REPORTED, at, None)]
                if unit is not None:
                    steps.append(
                        (
                            Action.DISPATCH,
                            Status.FILED,
                            Status.DISPATCHED,
                            at + dt.timedelta(hours=1),
                            unit,
                        )
                    )
                if status in (Status.CLOSED, Status.EVALUATED):
                    steps.append(
                        (
                            Action.CHECK_PASS,
                            Status.CHECKING,
                            Status.CLOSED,
                            case.closed_at or at,
                            None,
                        )
                    )
                if status == Status.CANCELLED:
                    steps.append(
                        (
                            Action.CANCEL,
                            Status.REPORTED,
                            Status.CANCELLED,
                            case.closed_at or at,
                            None,
                        )
                    )
                for action, from_status, to_status, when, step_unit in steps:
                    traces.append(
                        Trace(
                            case_id=pk,
                            district_code=case.district_code,
                            action=action,
                            from_status=from_status,
                            to_status=to_status,
                            unit=step_unit,
                            finished_at=when,
                            on_time=True if action == Action.CHECK_PASS else None,
                        )
                    )
            Trace.objects.bulk_create(traces, batch_size=BATCH * 2)
        made += size
    # Later submissions on those days continue after the numbers used here.
    with transaction.atomic():
        for day, last in per_day.items():
            counter, _created = DailyCounter.objects.get_or_create(
                name="case", day=day, defaults={"value": last}
            )
            if counter.value < last:
                DailyCounter.objects.filter(pk=counter.pk).update(value=last)
    return made
