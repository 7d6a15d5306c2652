"""What a gold run recomputes in the customer-day table (gold.plan.plan_days)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gold.events import day_predicate
from gold.plan import SilverState, Watermark, plan_days

SEEN = datetime(2024, 2, 1, tzinfo=UTC)
DEFINITION = "customer-days-r1"


class Changes(dict):
    """changed_since that records which watermark times the plan asked about."""

    def __init__(self, changed):
        super().__init__()
        self.changed, self.calls = changed, []

    def __getitem__(self, after):
        self.calls.append(after)
        return self.changed


def plan(previous, *, rewrite=None, changed=date(2024, 1, 20), **kw):
    history = ((4, rewrite.split()[0]),) if rewrite else ((4, "MERGE"),)
    changes = Changes(changed)
    silver = SilverState(5, date(2023, 1, 1), date(2024, 3, 1), SEEN, 10, history, changes)
    return plan_days(previous, definition=DEFINITION, silver=silver, **kw), changes.calls


def test_new_silver_rows_recompute_the_days_from_their_earliest_date():
    result, calls = plan(Watermark(3, SEEN, DEFINITION))
    assert (result.full, result.since) == (False, date(2024, 1, 20))
    assert calls == [SEEN]  # asked from the watermark's processing time
    assert "days from 2024-01-20" in result.reason


@pytest.mark.parametrize(("previous", "kw", "reason"), [
    (None, {}, "all: no watermark from a previous run"),
    (Watermark(3, SEEN, "customer-days-r0"), {},
     "all: definition changed (customer-days-r0 -> customer-days-r1)"),
    (Watermark(3, SEEN, DEFINITION), {"rewrite": "RESTORE (version 4)"},
     "all: silver was rewritten by RESTORE (version 4)"),
    (Watermark(3, None, DEFINITION), {}, "all: previous run has no silver watermark"),
    (Watermark(5, SEEN, DEFINITION), {"recompute_all": True}, "all: requested"),
])
def test_everything_is_rebuilt_without_a_usable_watermark(previous, kw, reason):
    result, calls = plan(previous, **kw)
    assert result.full and result.since is None and result.reason == reason
    assert calls == []  # no silver scan for a rebuild


def test_nothing_to_do_when_silver_did_not_move_or_brought_no_new_rows():
    same, calls = plan(Watermark(5, SEEN, DEFINITION))
    assert same.up_to_date and calls == []
    empty, _ = plan(Watermark(3, SEEN, DEFINITION), changed=None)
    assert empty.up_to_date and "no silver rows processed after" in empty.reason


def test_day_predicate_counts_days_since_1970():
    assert day_predicate(date(1970, 1, 2)) == "day >= 1"
    assert day_predicate(date(2024, 1, 1)) == "day >= 19723"
