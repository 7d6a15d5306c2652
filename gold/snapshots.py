"""As-of dates: which snapshots exist for the data at hand, and which can carry labels.

Pure date arithmetic, no Spark: the stage reads the first and last transaction dates
of silver once and asks these functions for the schedule.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Literal

Schedule = Literal["monthly", "weekly", "explicit"]


def month_ends(start: date, end: date) -> list[date]:
    """Every last day of a month in [start, end], in order."""
    found, year, month = [], start.year, start.month
    while True:
        last = date(year, month, calendar.monthrange(year, month)[1])
        if last > end:
            return found
        if last >= start:
            found.append(last)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def week_ends(start: date, end: date) -> list[date]:
    """Every Sunday (end of an ISO week) in [start, end], in order."""
    first = start + timedelta(days=(6 - start.weekday()) % 7)
    return [first + timedelta(days=7 * i) for i in range(max(0, (end - first).days // 7 + 1))]


def as_of_dates(
    first_date: date,
    last_date: date,
    *,
    schedule: Schedule,
    explicit: Sequence[date] = (),
    min_history_days: int = 0,
) -> list[date]:
    """The snapshot dates for data spanning [first_date, last_date] (first and last
    transaction dates), sorted and distinct.

    `monthly`: month ends; `weekly`: Sundays; `explicit`: the given dates. Whatever
    the schedule, a snapshot needs `min_history_days` of data before it
    (as_of >= first_date + min_history_days) and must not lie after the last
    transaction date: its day must be complete in the data.
    """
    start = first_date + timedelta(days=min_history_days)
    if schedule == "monthly":
        candidates: Iterable[date] = month_ends(start, last_date)
    elif schedule == "weekly":
        candidates = week_ends(start, last_date)
    elif schedule == "explicit":
        candidates = (d for d in explicit if start <= d <= last_date)
    else:
        raise ValueError(f"unknown schedule {schedule!r} (monthly, weekly or explicit)")
    return sorted(set(candidates))


def labelable(dates: Iterable[date], last_date: date, horizon_days: int) -> list[date]:
    """The as-of dates whose whole label window (as_of, as_of + horizon] lies inside
    the data: as_of + horizon_days <= last_date."""
    return sorted(d for d in set(dates) if d + timedelta(days=horizon_days) <= last_date)


def in_predicate(dates: Iterable[date], column: str = "as_of_date") -> str:
    """SQL predicate selecting these dates, for `replace_where`:
    `as_of_date IN (DATE'2024-01-31', ...)`."""
    values = sorted(set(dates))
    if not values:
        raise ValueError("in_predicate needs at least one date")
    literals = ", ".join(f"DATE'{d.isoformat()}'" for d in values)
    return f"{column} IN ({literals})"
