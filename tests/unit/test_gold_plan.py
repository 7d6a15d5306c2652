"""Which snapshots a run recomputes: first run, new data, late data, rewrites, versions."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from gold.plan import (
    GoldTable,
    SilverState,
    SnapshotPlan,
    Watermark,
    plan_snapshots,
    plan_tables,
    rewrite_since,
)
from lakehouse.errors import LakehouseError
from lakehouse.settings import GoldSettings

M = [date(2024, m, d) for m, d in [(1, 31), (2, 29), (3, 31), (4, 30), (5, 31)]]
SEEN = datetime(2024, 6, 1, 12, 0, 0, 123456)
PREVIOUS = Watermark(silver_version=4, processed_at=SEEN, definition="v1")


def plan(**kwargs) -> SnapshotPlan:
    args = {"present": set(M[:4]), "valid": lambda d: d <= M[-1], "previous": PREVIOUS,
            "definition": "v1", "changed_from": None, **kwargs}
    return plan_snapshots(M, **args)


def test_first_run_computes_every_scheduled_snapshot():
    result = plan(present=set(), previous=None)
    assert (result.dates, result.drop, result.reason) == (tuple(M), (), "all: first run")


def test_only_new_snapshots_when_silver_did_not_change():
    result = plan()
    assert result.dates == (M[4],) and result.reason == "affected: 1 new"


def test_changed_rows_reach_every_later_snapshot_and_labels_reach_back_a_horizon():
    assert plan(changed_from=date(2024, 3, 31)).dates == tuple(M[2:])
    assert plan(changed_from=date(2024, 4, 1)).dates == tuple(M[3:])
    assert plan(changed_from=date(2024, 4, 1)).reason == (
        "affected: 1 new, 2 reached by silver rows changed from 2024-04-01")
    # a 30-day label window from Feb 29 ends Mar 30 and sees Mar 15; from Jan 31, Mar 1
    assert plan(changed_from=date(2024, 3, 15), reach_back_days=30).dates == tuple(M[1:])
    assert plan(changed_from=date(2024, 3, 15), reach_back_days=45).dates == tuple(M)


def test_definition_change_recomputes_everything_including_unscheduled_snapshots():
    extra = date(2024, 2, 15)  # from an explicit --as-of run
    result = plan(present={*M[:4], extra}, definition="v2")
    assert result.dates == tuple(sorted([*M, extra]))
    assert result.reason == "all: definition changed (v1 -> v2)"


def test_snapshots_the_data_no_longer_supports_are_dropped():
    result = plan(present=set(M), valid=lambda d: d <= M[2], full_reason="all: requested")
    assert result.dates == tuple(M[:3]) and result.drop == (M[3], M[4])
    assert result.replaced == tuple(M)


def test_missing_watermark_means_recompute_all():
    assert plan(previous=None).reason == "all: no watermark from a previous run"


def test_rewrites_of_silver_are_found_after_the_watermark_only():
    history = [(3, "RESTORE"), (4, "MERGE"), (5, "APPEND"), (6, "VACUUM END"), (7, "MERGE")]
    assert rewrite_since(history, 4) is None
    assert rewrite_since([*history, (8, "OVERWRITE"), (9, "DELETE")], 4) == (
        "OVERWRITE (version 8)")
    assert rewrite_since(history, 2) == "RESTORE (version 3)"


def test_watermark_round_trips_through_commit_metadata():
    meta = PREVIOUS.metadata()
    assert Watermark.from_metadata({"operation": "REPLACE WHERE", **meta}) == PREVIOUS
    assert Watermark.from_metadata({"operation": "RESTORE"}) is None


def plan_first_run(first: date, last: date, *, max_snapshots: int = 1000,
                   schedule: str = "monthly"):
    cfg = GoldSettings(schedule=schedule, min_history_days=180, horizon_days=90,
                       recompute="affected", max_snapshots=max_snapshots)
    silver = SilverState(1, first, last, SEEN, 100, ((0, "WRITE"),), {})
    return plan_tables(GoldTable("f", None, frozenset()), GoldTable("l", None, frozenset()),
                       silver, cfg=cfg, recompute="affected", as_of=(),
                       feature_definition="v1", label_definition="h90")


@pytest.mark.parametrize(("first", "last"), [(date(1900, 1, 1), date(2011, 12, 9)),
                                             (date(2009, 12, 1), date(2999, 1, 1))])
def test_a_span_of_more_snapshots_than_the_limit_fails_naming_the_dates(first, last):
    with pytest.raises(LakehouseError) as caught:
        plan_first_run(first, last)
    message = str(caught.value)
    assert f"{first}..{last}" in message and "gold.max_snapshots (1,000)" in message
    assert "\n" not in message


def test_a_schedule_of_exactly_the_limit_is_planned():
    # month ends from 2010-06-30 (2010-01-01 + 180 days) to 2011-12-31: 19 snapshots
    features, labels = plan_first_run(date(2010, 1, 1), date(2011, 12, 31), max_snapshots=19)
    assert len(features.plan.dates) == 19 and labels.plan.dates
    with pytest.raises(LakehouseError, match=r"19 monthly snapshots"):
        plan_first_run(date(2010, 1, 1), date(2011, 12, 31), max_snapshots=18)


def test_a_history_shorter_than_the_minimum_says_so_instead_of_planning_nothing():
    with pytest.raises(LakehouseError) as caught:
        plan_first_run(date(2011, 6, 1), date(2011, 10, 31))  # 152 days, minimum 180
    message = str(caught.value)
    assert "2011-06-01..2011-10-31, 152 days of history" in message
    assert "gold.min_history_days (180)" in message
    assert "--set gold.min_history_days=60" in message and "\n" not in message


def test_enough_history_but_no_scheduled_date_names_the_schedule():
    # 186 days: the first allowed date (2011-07-14) has no month end up to 2011-07-20
    with pytest.raises(LakehouseError, match=r"no date of the monthly schedule lies in "
                                             r"2011-07-14..2011-07-20"):
        plan_first_run(date(2011, 1, 15), date(2011, 7, 20))
