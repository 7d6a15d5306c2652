"""Gold-shaped synthetic features and churn labels with a known signal, for tests and demos.

Churn depends on recency a little and on frequency and the spend trend a lot, so a model
using all features must beat the recency rule. Monthly snapshots on the 1st; labels exist
for every snapshot but the last (its horizon is not complete).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse.contracts import GOLD_FEATURES, GOLD_LABELS

INTEGERS = {T.IntegerType: np.int32, T.LongType: np.int64}

def snapshot_dates(start: date, count: int) -> list[date]:
    """`count` month starts from `start`'s month."""
    return list(pd.date_range(start.replace(day=1), periods=count, freq="MS").date)


def _snapshot(rng: np.random.Generator, ids: np.ndarray, base: np.ndarray, as_of: date,
              horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = ids.size
    engagement = base[:, 0] + rng.normal(0, 0.5, n)
    trend = base[:, 1] + rng.normal(0, 0.4, n)
    frequency = 1 + rng.poisson(np.exp(1.6 + 0.7 * engagement))
    recency = np.minimum(rng.exponential(np.exp(3.6 - 0.25 * engagement)), 700).astype(np.int32)
    avg_value = np.exp(rng.normal(3.0, 0.5, n))
    total = frequency * avg_value * rng.uniform(0.9, 1.05, n)
    total[rng.random(n) < 0.02] *= -0.1  # net refunds: negative totals exist
    # One purchase day per invoice: frequency - 1 repeat days over (tenure - recency) days,
    # so the BG/NBD statistics of a row (ml/lifetime.py) are those of a real gold row.
    repeats = frequency - 1
    tenure = np.where(repeats > 0, recency + rng.integers(30, 700, n), recency).astype(np.int32)
    mean_gap = np.where(repeats > 0, (tenure - recency) / np.maximum(repeats, 1), 0.0)
    t30, t90, t180 = (rng.poisson(frequency * w / 12) for w in (0.1, 0.3, 0.6))
    z_rec = (np.log1p(recency) - np.log1p(recency).mean()) / np.log1p(recency).std()
    z_freq = (np.log(frequency) - np.log(frequency).mean()) / np.log(frequency).std()
    logit = -0.2 + 0.45 * z_rec - 0.9 * z_freq - 1.4 * trend + rng.normal(0, 0.6, n)
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int32)
    next_day = [None if c else as_of + timedelta(days=int(d))
                for c, d in zip(churned, rng.integers(1, horizon + 1, n), strict=True)]
    features = pd.DataFrame({
        "customer_id": ids, "as_of_date": as_of,
        "country": np.where(rng.random(n) < 0.8, "United Kingdom", "Germany"),
        "recency_days": recency, "frequency": frequency.astype(np.int64),
        "total_spend": total, "avg_transaction_value": avg_value,
        "tenure_days": tenure, "interpurchase_mean_days": mean_gap,
        "interpurchase_std_days": mean_gap * rng.uniform(0.2, 1.0, n),
        "transactions_30d": t30.astype(np.int64), "transactions_90d": (t30 + t90).astype(np.int64),
        "transactions_180d": (t30 + t90 + t180).astype(np.int64),
        "spend_30d": t30 * avg_value, "spend_90d": (t30 + t90) * avg_value,
        "spend_180d": (t30 + t90 + t180) * avg_value,
        "spend_trend": trend + rng.normal(0, 0.3, n),
        "return_rate": rng.beta(1, 12, n), "distinct_products": rng.poisson(3 * frequency) + 1,
        "avg_basket_size": rng.gamma(4, 3, n), "feature_version": "synthetic-1",
        "computed_at": datetime(2025, 1, 1, tzinfo=UTC),
    })
    for column in GOLD_FEATURES.columns:  # a feature this generator does not model: noise
        if column.name not in features:
            noise = rng.gamma(2.0, 2.0, n)
            features[column.name] = (noise.round().astype(INTEGERS[type(column.type)])
                                     if type(column.type) in INTEGERS else noise)
    labels = pd.DataFrame({"customer_id": ids, "as_of_date": as_of, "horizon_days": horizon,
                           "churned": churned, "next_purchase_date": next_day})
    return features, labels


def synthetic_gold(spark: SparkSession, *, customers: int = 400, snapshots: int = 7,
                   start: date = date(2023, 1, 1), horizon_days: int = 28, seed: int = 7
                   ) -> tuple[DataFrame, DataFrame]:
    """(gold.customer_features, gold.churn_labels)-shaped DataFrames: `snapshots` monthly
    snapshots of `customers` customers; the last snapshot has no labels."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:05d}" for i in range(customers)])
    base = np.column_stack([rng.normal(0, 1, customers), rng.normal(0, 0.6, customers)])
    parts = [_snapshot(rng, ids, base, d, horizon_days) for d in snapshot_dates(start, snapshots)]
    features = pd.concat([f for f, _ in parts], ignore_index=True)
    labels = pd.concat([lab for _, lab in parts[:-1]], ignore_index=True)
    labels["horizon_days"] = labels["horizon_days"].astype(np.int32)
    return (spark.createDataFrame(features[list(GOLD_FEATURES.names)],
                                  schema=GOLD_FEATURES.schema),
            spark.createDataFrame(labels, schema=GOLD_LABELS.schema))
