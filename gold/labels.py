"""Churn labels, kept apart from the features: what happened *after* each as-of date.

churned = 1 when the customer made no purchase (non-cancellation invoice) in
(as_of, as_of + horizon_days]; next_purchase_date is the first purchase day in that
window (NULL when churned), so a label depends on that window only and never changes
once the window is complete. Labels exist only for as-of dates whose whole window lies
inside the data, and only for customers with a feature row at that date (a purchase
on or before it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from gold.events import snapshot_keys, with_snapshot_rows
from gold.snapshots import labelable
from lakehouse.contracts import GOLD_LABELS

LABELS_REVISION = 1  # bump when the label definition changes


def label_definition(horizon_days: int) -> str:
    """What label rows depend on besides the data: recorded with each labels write."""
    return f"labels-r{LABELS_REVISION}-h{horizon_days}"


def with_next_purchase(timeline: DataFrame, *, horizon_days: int) -> DataFrame:
    """Add `next_purchase_day`: the first purchase day in (day, day + horizon_days]."""
    after = Window.partitionBy("customer_id").orderBy("day").rangeBetween(1, horizon_days)
    return timeline.select("*", F.min("purchase_day").over(after).alias("next_purchase_day"))


def with_label_columns(snapshots: DataFrame, *, horizon_days: int) -> DataFrame:
    """Label columns of marker rows from their next purchase day."""
    bought = F.col("next_purchase_day").isNotNull()
    return snapshots.select(
        "customer_id", "as_of_date",
        F.lit(horizon_days).cast("int").alias("horizon_days"),
        F.when(bought, F.lit(0)).otherwise(F.lit(1)).cast("int").alias("churned"),
        F.date_from_unix_date("next_purchase_day").alias("next_purchase_date"),
    )


def churn_labels(days: DataFrame, as_of_dates: Sequence[date], *, horizon_days: int,
                 data_end: date) -> DataFrame:
    """The labels (the GOLD_LABELS contract) of every customer with a purchase on or before each
    as-of date, for the as-of dates with as_of + horizon_days <= data_end (the last
    transaction date); other dates are left out, never labelled from partial data.
    `days` is `gold.events.customer_days` output."""
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be at least 1, got {horizon_days}")
    dates = labelable(as_of_dates, data_end, horizon_days)
    if not dates:  # nothing to label: no rows, without reading `days`
        return days.sparkSession.createDataFrame([], GOLD_LABELS.schema)
    keys = snapshot_keys(days, dates)
    purchases = days.where(F.col("purchase_day").isNotNull()).select(
        "customer_id", "day", "purchase_day")
    return (
        with_snapshot_rows(purchases, keys)
        .transform(with_next_purchase, horizon_days=horizon_days)
        .where(F.col("is_snapshot"))
        .transform(with_label_columns, horizon_days=horizon_days)
        .select(*GOLD_LABELS.names)
    )
