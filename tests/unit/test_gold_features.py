"""Point-in-time features: hand-computed values for every column, and no leakage."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from gold.events import customer_days
from gold.features import customer_features, feature_version
from lakehouse.contracts import GOLD_FEATURES, SILVER_TRANSACTIONS
from ml import lifetime
from ml.bgnbd import BgNbd

COMPUTED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
JAN, MAR = date(2024, 1, 31), date(2024, 3, 31)
BEFORE_ANY_PURCHASE = date(2023, 11, 30)


def line(invoice: str, stock: str, qty: int, price: str, ts: str, customer: str | None,
         country: str | None, description: str | None = "ITEM") -> tuple:
    """One silver row; amount, date, cancellation flag and lineage derived as silver does."""
    at = datetime.fromisoformat(ts).replace(tzinfo=UTC)
    amount = Decimal(price) * qty
    return (f"{invoice}:{stock}:{qty}", invoice, stock, description, qty, Decimal(price),
            amount, at, at.date(), customer, country, invoice.startswith("C"),
            "test.csv", 1, 2, "batch-000001", at, at)


# A: three purchases up to JAN (the last at 23:59:59 of JAN itself), a return, and one
#    purchase one second after JAN (visible at MAR only); the latest country moves.
# B: one purchase by JAN; a second one at MAR whose country is NULL (and description).
# C: a return before any purchase (no row at JAN), a purchase on 2024-03-01: net -5.
# D: only a cancellation: never a row.
LINES = [
    line("1001", "P1", 2, "5.000", "2023-12-01 10:00:00", "A", "United Kingdom"),
    line("1001", "P2", 1, "20.000", "2023-12-01 10:00:00", "A", "United Kingdom"),
    line("1002", "P1", 4, "5.000", "2024-01-10 09:00:00", "A", "United Kingdom"),
    line("C1003", "P1", -2, "5.000", "2024-01-15 11:00:00", "A", "United Kingdom"),
    line("1004", "P3", 1, "7.500", "2024-01-31 23:59:59", "A", "France"),
    line("1005", "P4", 3, "1.000", "2024-02-01 00:00:00", "A", "United Kingdom"),
    line("2001", "P1", 1, "100.000", "2024-01-20 08:00:00", "B", "Germany", None),
    line("2002", "P1", 1, "100.000", "2024-03-30 08:00:00", "B", None),
    line("C3001", "P9", -1, "10.000", "2024-01-05 12:00:00", "C", None),
    line("3002", "P5", 1, "5.000", "2024-03-01 12:00:00", "C", "Spain"),
    line("C4001", "P1", -3, "5.000", "2024-01-02 12:00:00", "D", "United Kingdom"),
]

# Computed by hand (see the comments for each value).
EXPECTED = [
    # A at JAN: purchases Dec 1, Jan 10, Jan 31; net 30 + 20 - 10 + 7.5 = 47.5;
    # gaps 40 and 21 days; last 30 days = Jan 2..31: 1002, the return, 1004;
    # returned 2 of 8 items; lines 4 in 3 invoices.
    ("A", JAN, "France", 0, 3, 47.5, 47.5 / 3, 61, 30.5, 9.5,
     2, 3, 3, 17.5, 47.5, 47.5, 1.0, 0.25, 3, 4 / 3),
    # A at MAR: + 1005 on Feb 1 (net 50.5); gaps 40, 21, 1; 90 days = Jan 2..Mar 31
    # (20 - 10 + 7.5 + 3 = 20.5), the 90 before = Oct 4..Jan 1 (30);
    # trend (20.5 - 30) / 50.5; returned 2 of 11 items; 5 lines in 4 invoices.
    ("A", MAR, "United Kingdom", 59, 4, 50.5, 50.5 / 4, 121, 62 / 3, math.sqrt(2282) / 3,
     0, 3, 4, 0.0, 20.5, 50.5, -9.5 / 50.5, 2 / 11, 4, 5 / 4),
    ("B", JAN, "Germany", 11, 1, 100.0, 100.0, 11, 0.0, 0.0,
     1, 1, 1, 100.0, 100.0, 100.0, 1.0, 0.0, 1, 1.0),
    # B at MAR: the NULL-country purchase keeps Germany; one gap of 70 days (std 0).
    ("B", MAR, "Germany", 1, 2, 200.0, 100.0, 71, 70.0, 0.0,
     1, 2, 2, 100.0, 200.0, 200.0, 1.0, 0.0, 1, 1.0),
    # C at MAR: Mar 1 is 30 days back, outside the 30-day window; net -10 + 5 = -5;
    # trend (-5 - 0) / 5 = -1; 1 item returned of 1 bought.
    ("C", MAR, "Spain", 30, 1, -5.0, -5.0, 30, 0.0, 0.0,
     0, 1, 1, 0.0, -5.0, -5.0, -1.0, 1.0, 1, 1.0),
]


@pytest.fixture
def silver(spark):
    return spark.createDataFrame(LINES, SILVER_TRANSACTIONS.schema)


def features(silver, dates=(BEFORE_ANY_PURCHASE, JAN, MAR)):
    return customer_features(customer_days(silver), list(dates), computed_at=COMPUTED_AT)


def test_every_feature_matches_the_hand_computed_value(spark, silver):
    actual = features(silver)

    version = feature_version()
    expected = spark.createDataFrame(
        [(*row, version, COMPUTED_AT) for row in EXPECTED], GOLD_FEATURES.schema)
    assert actual.schema.simpleString() == GOLD_FEATURES.schema.simpleString()
    assertDataFrameEqual(actual, expected, rtol=1e-12)


def test_no_feature_is_null_and_customers_appear_from_their_first_purchase(silver):
    actual = features(silver).cache()

    keys = sorted((r.customer_id, r.as_of_date) for r in actual.collect())
    assert keys == [("A", JAN), ("A", MAR), ("B", JAN), ("B", MAR), ("C", MAR)]
    nulls = actual.select([F.sum(F.col(c).isNull().cast("int")).alias(c)
                           for c in GOLD_FEATURES.names]).first().asDict()
    assert nulls == dict.fromkeys(GOLD_FEATURES.names, 0)


def test_feature_version_is_a_stable_short_hash():
    assert feature_version() == feature_version()
    assert len(feature_version()) == 12


def _changes_after(as_of: date):
    """Edits of the data strictly after `as_of` (its day ends at 23:59:59.999999 UTC)."""
    return {
        "delete every later row": lambda rows: [r for r in rows if r[8] <= as_of],
        "add a purchase, a return and a new customer": lambda rows: [
            *rows,
            line("9001", "P7", 50, "3.000", "2024-02-01 00:00:00", "A", "Japan"),
            line("C9002", "P1", -4, "5.000", "2024-02-02 10:00:00", "A", "Japan"),
            line("9003", "P8", 1, "1.000", "2024-02-01 00:00:00", "C", "Spain"),
            line("9004", "P8", 1, "1.000", "2024-02-05 00:00:00", "NEW", "Spain"),
        ],
        "add a later line to an invoice of the as-of day": lambda rows: [
            *rows, line("1004", "P6", 5, "8.000", "2024-02-01 00:00:00", "A", "Japan")],
        "change every later row": lambda rows: [
            r if r[8] <= as_of else line(r[1], "P0", 9, "99.000", "2024-02-10 10:00:00",
                                         r[9], "Iceland")
            for r in rows
        ],
    }


@pytest.fixture(scope="module")
def unchanged(spark):
    """Feature rows of the unchanged fixture at JAN and at MAR."""
    rows = features(spark.createDataFrame(LINES, SILVER_TRANSACTIONS.schema), [JAN, MAR]).collect()
    return {d: [r for r in rows if r.as_of_date == d] for d in (JAN, MAR)}


@pytest.mark.parametrize("change", sorted(_changes_after(JAN)))
def test_changing_the_future_leaves_a_snapshot_identical(spark, unchanged, change):
    changed = spark.createDataFrame(_changes_after(JAN)[change](LINES), SILVER_TRANSACTIONS.schema)

    rows = features(changed, [JAN, MAR]).collect()

    at_jan = [r for r in rows if r.as_of_date == JAN]
    assert len(at_jan) == 2
    assertDataFrameEqual(at_jan, unchanged[JAN], rtol=0, atol=0)
    # The change is real: the later snapshot does see it.
    assert sorted(r for r in rows if r.as_of_date == MAR) != sorted(unchanged[MAR])


LIFETIME = BgNbd(r=0.6, alpha=20.0, a=0.8, b=2.5)  # any fitted parameters will do


def _lifetime_rows(df):
    """The BG/NBD statistics and features the churn pipeline derives from gold rows."""
    out = lifetime.transformer(LIFETIME, 90).transform(df)
    return out.select("customer_id", "as_of_date", lifetime.REPEATS, lifetime.LAST,
                      lifetime.AGE, *lifetime.FEATURES).collect()


@pytest.mark.parametrize("change", sorted(_changes_after(JAN)))
def test_changing_the_future_leaves_the_lifetime_features_identical(spark, change):
    """The lifetime features are computed from one gold row each: the leakage guarantee
    of gold covers them."""
    silver = spark.createDataFrame(LINES, SILVER_TRANSACTIONS.schema)
    changed = spark.createDataFrame(_changes_after(JAN)[change](LINES),
                                    SILVER_TRANSACTIONS.schema)
    before, after = (_lifetime_rows(features(df, [JAN])) for df in (silver, changed))
    assert len(before) == 2
    assertDataFrameEqual(after, before, rtol=0, atol=0)


def test_lifetime_statistics_of_gold_rows_are_the_purchase_days(spark):
    rows = {r.customer_id: r for r in _lifetime_rows(
        features(spark.createDataFrame(LINES, SILVER_TRANSACTIONS.schema), [MAR]))}
    days = {}
    for row in LINES:  # distinct purchase days per customer up to MAR, from the fixture
        if not row[1].startswith("C") and row[8] <= MAR:
            days.setdefault(row[9], set()).add(row[8])
    for customer, purchase_days in days.items():
        first, last = min(purchase_days), max(purchase_days)
        got = rows[customer]
        assert got[lifetime.REPEATS] == len(purchase_days) - 1, customer
        assert got[lifetime.LAST] == (last - first).days
        assert got[lifetime.AGE] == (MAR - first).days


def test_spend_is_the_exact_decimal_sum_as_a_double(spark):
    # Thousandths that binary floating point cannot hold: summing doubles would drift.
    prices = ["0.001", "0.100", "0.200", "1234567.891", "0.007", "-0.003"]
    lines = [line(f"{5000 + i}", f"P{i}", 1, price, f"2024-01-{10 + i:02d} 10:00:00", "A",
                  "France") for i, price in enumerate(prices)]

    row = features(spark.createDataFrame(lines, SILVER_TRANSACTIONS.schema), [JAN]).first()

    exact = sum(Decimal(p) for p in prices)
    assert row.total_spend == float(exact)
    assert row.spend_30d == float(exact)
    assert row.avg_transaction_value == float(exact) / len(prices)


def test_amounts_beyond_a_long_of_thousandths_raise_instead_of_wrapping(spark):
    # Ten lines of 9.99e14: their sum (9.99e15) has more thousandths than a long holds.
    lines = [line(f"{6000 + i}", "P1", 1, "999999999999999.000",
                  f"2024-01-{10 + i:02d} 10:00:00", "A", "France") for i in range(10)]

    with pytest.raises(Exception, match=r"(?i)overflow"):
        features(spark.createDataFrame(lines, SILVER_TRANSACTIONS.schema), [JAN]).collect()
