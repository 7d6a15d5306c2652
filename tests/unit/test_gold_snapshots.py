"""As-of date schedules, label eligibility and the replace_where predicate."""

from __future__ import annotations

from datetime import date

import pytest

from gold.snapshots import as_of_dates, in_predicate, labelable, month_ends, week_ends


def test_month_ends_include_february_29_and_both_bounds():
    assert month_ends(date(2024, 1, 31), date(2024, 4, 30)) == [
        date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
    assert month_ends(date(2024, 2, 1), date(2024, 3, 30)) == [date(2024, 2, 29)]
    assert month_ends(date(2023, 12, 1), date(2024, 1, 30)) == [date(2023, 12, 31)]


def test_week_ends_are_sundays():
    weeks = week_ends(date(2024, 1, 1), date(2024, 1, 28))  # Monday .. Sunday
    assert weeks == [date(2024, 1, 7), date(2024, 1, 14), date(2024, 1, 21), date(2024, 1, 28)]
    assert week_ends(date(2024, 1, 8), date(2024, 1, 13)) == []


def test_monthly_schedule_needs_history_and_stops_at_the_last_transaction():
    dates = as_of_dates(date(2023, 1, 15), date(2023, 12, 30), schedule="monthly",
                        min_history_days=180)
    # first snapshot >= 2023-07-14; 2023-12-31 is after the last transaction date
    assert dates == [date(2023, m, d) for m, d in
                     [(7, 31), (8, 31), (9, 30), (10, 31), (11, 30)]]


def test_explicit_dates_are_sorted_deduplicated_and_kept_inside_the_data():
    explicit = [date(2023, 6, 1), date(2023, 3, 1), date(2023, 6, 1), date(2022, 1, 1),
                date(2024, 1, 1), date(2023, 2, 1)]
    dates = as_of_dates(date(2023, 1, 1), date(2023, 12, 31), schedule="explicit",
                        explicit=explicit, min_history_days=31)
    assert dates == [date(2023, 2, 1), date(2023, 3, 1), date(2023, 6, 1)]


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="unknown schedule"):
        as_of_dates(date(2023, 1, 1), date(2023, 2, 1), schedule="daily")


def test_labelable_needs_the_whole_horizon_inside_the_data():
    dates = [date(2024, 1, 31), date(2024, 3, 31), date(2024, 4, 30)]
    assert labelable(dates, date(2024, 6, 29), 90) == [date(2024, 1, 31), date(2024, 3, 31)]
    assert labelable(dates, date(2024, 6, 28), 90) == [date(2024, 1, 31)]


def test_in_predicate_lists_sorted_date_literals():
    assert in_predicate([date(2024, 2, 29), date(2024, 1, 31), date(2024, 1, 31)]) == (
        "as_of_date IN (DATE'2024-01-31', DATE'2024-02-29')")
    with pytest.raises(ValueError):
        in_predicate([])
