"""Point-in-time customer features: one row per customer and as-of date.

Every aggregate is a window over the customer's activity ordered by day whose frame
ends at the as-of day (`rangeBetween(..., currentRow)` on marker rows placed at that
day), so nothing after the as-of date can reach a feature: leakage is impossible by
construction, and tests/unit/test_gold_features.py checks it by changing the future.

Definitions (days are UTC dates, "purchase" = non-cancellation invoice, "return" =
cancellation line; see gold/events.py):
- country: the country of the latest purchase (by invoice_ts, then invoice) that has a
  country; NULL only if none of the customer's purchases has one.
- recency_days: as_of - last purchase day; tenure_days: as_of - first purchase day.
- frequency: distinct purchase invoices; transactions_Nd: those in the N days ending at
  as_of (invoice_date in (as_of - N, as_of]).
- total_spend, spend_Nd: net amount, purchases plus returns (returns are negative), so
  it can be negative when returns exceed purchases (e.g. items bought before the data
  starts). Such customers are kept, with their negative values: a real signal.
- avg_transaction_value: total_spend / frequency (net spend per purchase invoice).
- interpurchase_mean_days / _std_days: mean and population standard deviation of the
  gaps between consecutive distinct purchase days; 0.0 with one purchase day (no gap
  yet); the std of a single gap is 0.0.
- spend_trend: (a - b) / (|a| + |b|) with a = net spend in the last 90 days and b = in
  the 90 days before; in [-1, 1] even for negative net amounts, 0.0 when both are 0.
- return_rate: returned items / purchased items (quantities), clipped to [0, 1]
  (returns of items bought before the data starts could exceed purchases).
- distinct_products: distinct stock codes purchased.
- avg_basket_size: purchase lines per purchase invoice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

from gold.events import snapshot_keys, with_snapshot_rows
from lakehouse.contracts import GOLD_FEATURES, TREND_DAYS, WINDOWS_DAYS

# Bump when the meaning of a feature changes: it is part of feature_version.
FEATURES_REVISION = 1


def _by_customer() -> WindowSpec:
    """Each customer's rows in day order (Window objects need a session: built per call)."""
    return Window.partitionBy("customer_id").orderBy("day")


def _up_to_as_of() -> WindowSpec:
    """Everything up to and including the current row's day."""
    return _by_customer().rangeBetween(Window.unboundedPreceding, Window.currentRow)


def feature_version() -> str:
    """A 12-character hash of the feature definitions (revision, names, types, windows)."""
    spec = {"revision": FEATURES_REVISION, "windows": WINDOWS_DAYS, "trend": TREND_DAYS,
            "schema": [(c.name, c.type.simpleString()) for c in GOLD_FEATURES.columns]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _last_days(n: int) -> WindowSpec:
    """The n days ending at the current row's day (inclusive)."""
    return _by_customer().rangeBetween(-(n - 1), Window.currentRow)


def with_purchase_gaps(timeline: DataFrame) -> DataFrame:
    """Add `gap_days`: days since the customer's previous purchase day, on purchase days
    after the first (NULL elsewhere)."""
    before = _by_customer().rowsBetween(Window.unboundedPreceding, -1)
    previous = F.max("purchase_day").over(before)
    return timeline.select("*", (F.col("purchase_day") - previous).alias("gap_days"))


def with_running_totals(timeline: DataFrame) -> DataFrame:
    """Add the aggregates of each customer's activity up to each row's day, and over the
    last 30/90/180 days and the 90 days before the last 90."""
    upto_day = _up_to_as_of()

    def upto(column: Column) -> Column:
        return F.sum(column).over(upto_day)

    windowed = []
    for n in WINDOWS_DAYS:
        windowed += [F.sum("invoices").over(_last_days(n)).alias(f"invoices_{n}d"),
                     F.sum("net_amount").over(_last_days(n)).alias(f"net_{n}d")]
    before_trend = _by_customer().rangeBetween(-(2 * TREND_DAYS - 1), -TREND_DAYS)
    gap = F.col("gap_days").cast("long")
    return timeline.select(
        "*",
        F.min("purchase_day").over(upto_day).alias("first_purchase_day"),
        F.max("purchase_day").over(upto_day).alias("last_purchase_day"),
        F.max("latest_purchase").over(upto_day).alias("latest_purchase_so_far"),
        upto(F.col("invoices")).alias("invoices_total"),
        upto(F.col("lines")).alias("lines_total"),
        upto(F.col("items")).alias("items_total"),
        upto(F.col("returned_items")).alias("returned_items_total"),
        upto(F.col("net_amount")).alias("net_total"),
        upto(F.col("new_products")).alias("products_total"),
        F.count("gap_days").over(upto_day).alias("gap_count"),
        upto(gap).alias("gap_sum"),
        upto(gap * gap).alias("gap_square_sum"),
        *windowed,
        F.sum("net_amount").over(before_trend).alias("net_before_trend"),
    )


def filter_snapshot_rows(timeline: DataFrame) -> DataFrame:
    """Keep the marker rows: one per customer and as-of date."""
    return timeline.where(F.col("is_snapshot"))


def _ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as double, 0.0 when the denominator is 0 (ANSI-safe)."""
    den = denominator.cast("double")
    return F.when(den != 0, numerator.cast("double") / den).otherwise(F.lit(0.0))


def _zero_if_null(column: str) -> Column:
    return F.coalesce(F.col(column), F.lit(0))


def in_smallest_units(days: DataFrame) -> tuple[DataFrame, int]:
    """`days` with a decimal `net_amount` as a whole number of its smallest unit (long:
    thousandths at scale 3), and that unit per currency unit. Window sums of longs are
    exact and several times cheaper than of decimal(38, s), which Spark adds as Java
    BigDecimals; amounts beyond a long (9.2e15 currency units at scale 3) raise an
    overflow error (ANSI casts) instead of passing wrong sums."""
    kind = days.schema["net_amount"].dataType
    if not isinstance(kind, T.DecimalType):
        return days, 1
    unit = 10 ** kind.scale
    return days.withColumn("net_amount", F.expr(f"CAST(net_amount * {unit} AS BIGINT)")), unit


def with_feature_columns(snapshots: DataFrame, *, version: str, computed_at: datetime,
                         amount_unit: int = 1) -> DataFrame:
    """Turn the running totals of marker rows into the feature columns (amounts summed
    in `amount_unit`ths of a currency unit: see `in_smallest_units`)."""

    def amount(column: Column) -> Column:  # the same double as casting the decimal sum
        return column.cast("double") / F.lit(float(amount_unit))

    count, total, squares = (F.col("gap_count"), F.col("gap_sum"), F.col("gap_square_sum"))
    # Population variance from exact integer sums: (n * sum(g^2) - sum(g)^2) / n^2.
    variance = _ratio(count * squares - total * total, count * count)
    recent, before = _zero_if_null(f"net_{TREND_DAYS}d"), _zero_if_null("net_before_trend")
    spend = [amount(_zero_if_null(f"net_{n}d")).alias(f"spend_{n}d")
             for n in WINDOWS_DAYS]
    invoices = [_zero_if_null(f"invoices_{n}d").cast("long").alias(f"transactions_{n}d")
                for n in WINDOWS_DAYS]
    return snapshots.select(
        "customer_id", "as_of_date",
        F.col("latest_purchase_so_far.country").alias("country"),
        (F.col("day") - F.col("last_purchase_day")).cast("int").alias("recency_days"),
        F.col("invoices_total").cast("long").alias("frequency"),
        amount(F.col("net_total")).alias("total_spend"),
        _ratio(amount(F.col("net_total")), F.col("invoices_total"))
        .alias("avg_transaction_value"),
        (F.col("day") - F.col("first_purchase_day")).cast("int").alias("tenure_days"),
        _ratio(total, count).alias("interpurchase_mean_days"),
        F.sqrt(variance).alias("interpurchase_std_days"),
        *invoices, *spend,
        _ratio(recent - before, F.abs(recent) + F.abs(before)).alias("spend_trend"),
        F.least(F.greatest(_ratio(F.col("returned_items_total"), F.col("items_total")),
                           F.lit(0.0)), F.lit(1.0)).alias("return_rate"),
        F.col("products_total").cast("long").alias("distinct_products"),
        _ratio(F.col("lines_total"), F.col("invoices_total")).alias("avg_basket_size"),
        F.lit(version).alias("feature_version"),
        F.lit(computed_at).cast("timestamp").alias("computed_at"),
    )


def customer_features(days: DataFrame, as_of_dates: Sequence[date], *,
                      computed_at: datetime, version: str | None = None) -> DataFrame:
    """The feature rows (the GOLD_FEATURES contract) of every customer at every as-of date on or
    after their first purchase, from `gold.events.customer_days` output. Uses only
    activity with day <= as_of for each row. One shuffle and one sort for all dates;
    no as-of date: no rows, without reading `days`."""
    if not as_of_dates:
        return days.sparkSession.createDataFrame([], GOLD_FEATURES.schema)
    keys = snapshot_keys(days, as_of_dates)
    days, unit = in_smallest_units(days)
    return (
        with_snapshot_rows(days, keys)
        .transform(with_purchase_gaps)
        .transform(with_running_totals)
        .transform(filter_snapshot_rows)
        .transform(with_feature_columns, version=version or feature_version(),
                   computed_at=computed_at, amount_unit=unit)
        .select(*GOLD_FEATURES.names)
    )
