"""Churn labels: the horizon boundary, who gets a label, and which dates get none."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual

from gold.events import customer_days
from gold.labels import churn_labels
from lakehouse.contracts import GOLD_LABELS, SILVER_TRANSACTIONS

JAN, MAR, APR = date(2024, 1, 31), date(2024, 3, 31), date(2024, 4, 30)
DATA_END = date(2024, 6, 29)  # MAR + 90 days: MAR's window ends exactly at the data's end
H = 90


def line(invoice: str, ts: str, customer: str, qty: int = 1) -> tuple:
    at = datetime.fromisoformat(ts).replace(tzinfo=UTC)
    return (f"{invoice}:{customer}", invoice, "P1", None, qty, Decimal("2.500"),
            Decimal("2.500") * qty, at, at.date(), customer, "United Kingdom",
            invoice.startswith("C"), "t.csv", 1, 2, "b1", at, at)


LINES = [
    # buys on day H after JAN (2024-04-30): not churned at JAN
    line("1", "2024-01-01 10:00:00", "day_h"), line("2", "2024-04-30 23:00:00", "day_h"),
    # buys on day H + 1 after JAN (2024-05-01): churned at JAN, not at MAR
    line("3", "2024-01-01 10:00:00", "day_h1"), line("4", "2024-05-01 00:00:00", "day_h1"),
    # last purchase at the very end of JAN: before the window, so churned
    line("5", "2024-01-31 23:59:59", "same_day"),
    # only a cancellation after the as-of date: a return is not a purchase
    line("6", "2024-01-10 10:00:00", "returns"), line("C7", "2024-02-15 10:00:00", "returns", -1),
    # first purchase after JAN: no feature row at JAN, so no label; bought at DATA_END
    line("8", "2024-02-10 10:00:00", "new"), line("9", "2024-06-29 18:00:00", "new"),
    # only cancellations: never a label
    line("C10", "2024-01-05 10:00:00", "never", -2),
]


@pytest.fixture
def days(spark):
    return customer_days(spark.createDataFrame(LINES, SILVER_TRANSACTIONS.schema))


def test_horizon_boundary_and_who_is_labelled(spark, days):
    actual = churn_labels(days, [JAN, MAR, APR], horizon_days=H, data_end=DATA_END)

    expected = spark.createDataFrame([
        ("day_h", JAN, H, 0, date(2024, 4, 30)),
        ("day_h1", JAN, H, 1, None),
        ("same_day", JAN, H, 1, None),
        ("returns", JAN, H, 1, None),
        ("day_h", MAR, H, 0, date(2024, 4, 30)),
        ("day_h1", MAR, H, 0, date(2024, 5, 1)),
        ("same_day", MAR, H, 1, None),
        ("returns", MAR, H, 1, None),
        ("new", MAR, H, 0, DATA_END),
    ], GOLD_LABELS.schema)
    assertDataFrameEqual(actual, expected)
    assert actual.schema.simpleString() == GOLD_LABELS.schema.simpleString()


def test_no_label_when_the_horizon_runs_past_the_data(days):
    one_day_short = churn_labels(days, [MAR], horizon_days=H, data_end=date(2024, 6, 28))
    assert one_day_short.count() == 0
    assert churn_labels(days, [APR], horizon_days=H, data_end=DATA_END).count() == 0


def test_shorter_horizon_moves_the_boundary(days):
    labels = churn_labels(days, [JAN], horizon_days=30, data_end=DATA_END).collect()
    assert {r.customer_id: r.churned for r in labels} == {
        "day_h": 1, "day_h1": 1, "same_day": 1, "returns": 1}
    assert {r.horizon_days for r in labels} == {30}


def test_horizon_must_be_positive(days):
    with pytest.raises(ValueError, match="at least 1"):
        churn_labels(days, [JAN], horizon_days=0, data_end=DATA_END)
