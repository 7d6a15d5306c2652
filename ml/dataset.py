"""Labeled examples and the out-of-time split of the churn data.

Leakage rule. A label for as-of date `d` and horizon `h` looks at purchases in (d, d + h]:
its label window ends on `d + h`. A snapshot may be used to train a model evaluated at
as-of date `t` only if `d + h <= t`. Then nothing the model learned from happened after
`t`, and no (customer, snapshot) of the evaluation date is in training. The rule is applied
twice: validation date against the test date, and tuning snapshots against the validation
date (the validation split is itself out-of-time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from hashlib import sha256

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError

KEYS = ("customer_id", "as_of_date")
LABEL = "label"


class NotEnoughSnapshotsError(LakehouseError):
    """The labels do not cover enough as-of dates for an honest out-of-time evaluation."""


class HorizonError(LakehouseError):
    """The configured label horizon is missing, or several horizons exist and none was chosen."""


class FeatureContractError(LakehouseError):
    """The gold features lack configured columns or hold NULLs the model cannot take."""


class LeakageError(LakehouseError):
    """A split would train on labels whose window reaches past the evaluation date."""


@dataclass(frozen=True)
class SplitPlan:
    """Which labeled snapshots are used for what."""

    horizon_days: int
    test_date: date
    validation_date: date
    tune_dates: tuple[date, ...]  # tuning fits on these, evaluates on validation_date
    refit_dates: tuple[date, ...]  # the final model: tune_dates + validation_date
    unused_dates: tuple[date, ...]  # labeled, but their label window reaches past a cut-off

    def params(self) -> dict[str, str]:
        """The plan as flat strings (MLflow params)."""
        return {
            "horizon_days": str(self.horizon_days),
            "test_as_of_date": self.test_date.isoformat(),
            "validation_as_of_date": self.validation_date.isoformat(),
            "tune_as_of_dates": _dates(self.tune_dates),
            "refit_as_of_dates": _dates(self.refit_dates),
            "unused_as_of_dates": _dates(self.unused_dates) or "none",
        }


def label_window_end(as_of: date, horizon_days: int) -> date:
    """Last day the label of snapshot `as_of` looks at."""
    return as_of + timedelta(days=horizon_days)


def choose_horizon(available: Sequence[int], configured: int | None) -> int:
    """The label horizon to train on: the configured one (which must exist), or the only one."""
    available = sorted(set(available))
    if configured is not None:
        if configured not in available:
            raise HorizonError(f"ml.horizon_days={configured} but gold labels only have "
                               f"horizons {available}")
        return configured
    if len(available) != 1:
        raise HorizonError(f"gold labels have horizons {available}: set ml.horizon_days "
                           "to the one to train on")
    return available[0]


def plan_split(labeled_dates: Sequence[date], horizon_days: int, *,
               min_train_snapshots: int = 1) -> SplitPlan:
    """Out-of-time split: test on the latest labeled snapshot, validate on the latest snapshot
    whose label window ends on or before the test date, tune on snapshots whose window ends on
    or before the validation date. Raises NotEnoughSnapshotsError when that leaves fewer than
    `min_train_snapshots` tuning snapshots."""
    dates = sorted(set(labeled_dates))
    if not dates:
        raise NotEnoughSnapshotsError("gold labels have no as-of date with a complete horizon")
    test = dates[-1]
    before_test = [d for d in dates if label_window_end(d, horizon_days) <= test]
    if not before_test:
        raise NotEnoughSnapshotsError(
            f"no labeled snapshot's {horizon_days}-day label window ends on or before the test "
            f"date {test} (labeled dates: {_dates(dates)}); more history is needed")
    validation = before_test[-1]
    tune = tuple(d for d in before_test if label_window_end(d, horizon_days) <= validation)
    if len(tune) < min_train_snapshots:
        raise NotEnoughSnapshotsError(
            f"out-of-time split needs {min_train_snapshots} training snapshot(s) whose "
            f"{horizon_days}-day label window ends by the validation date {validation} "
            f"(test {test}); labeled dates: {_dates(dates)}")
    refit = (*tune, validation)
    unused = tuple(d for d in dates if d not in refit and d != test)
    plan = SplitPlan(horizon_days, test, validation, tune, refit, unused)
    check_no_leakage(plan)
    return plan


def check_no_leakage(plan: SplitPlan) -> None:
    """Raise LeakageError if a training label window passes its evaluation date."""
    problems = [f"tuning snapshot {d} (window ends {label_window_end(d, plan.horizon_days)}) "
                f"vs validation {plan.validation_date}" for d in plan.tune_dates
                if label_window_end(d, plan.horizon_days) > plan.validation_date]
    problems += [f"training snapshot {d} (window ends {label_window_end(d, plan.horizon_days)})"
                 f" vs test {plan.test_date}" for d in plan.refit_dates
                 if label_window_end(d, plan.horizon_days) > plan.test_date]
    if plan.test_date in plan.refit_dates or plan.validation_date in plan.tune_dates:
        problems.append("an evaluation snapshot is also a training snapshot")
    if problems:
        raise LeakageError("label leakage in the split: " + "; ".join(problems))


def labeled_examples(features: DataFrame, labels: DataFrame, *, horizon_days: int) -> DataFrame:
    """Features with the churn label (`label`, double) of one horizon; only labeled rows."""
    chosen = labels.where(F.col("horizon_days") == F.lit(horizon_days)).select(
        *KEYS, F.col("churned").cast("double").alias(LABEL))
    return features.join(chosen, on=list(KEYS), how="inner")


def check_features(df: DataFrame, features: Sequence[str], *, table: str) -> None:
    """Raise FeatureContractError if a configured feature is missing from `df` or NULL in
    any row (one aggregate job)."""
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise FeatureContractError(f"{table} lacks the configured ml features {missing}")
    nulls = df.agg(*[F.count(F.when(F.col(c).isNull(), 1)).alias(c) for c in features]).first()
    bad = {c: nulls[c] for c in features if nulls[c]}
    if bad:
        raise FeatureContractError(f"{table} has NULL features (rows per column: {bad}); the "
                                   "gold contract says features are never NULL")


def filter_dates(df: DataFrame, dates: Sequence[date]) -> DataFrame:
    """Rows whose as_of_date is one of `dates`."""
    return df.where(F.col("as_of_date").isin(list(dates)))


def label_dates(labels: DataFrame, horizon_days: int) -> list[date]:
    """Distinct as-of dates with labels of this horizon (a few dozen rows at most)."""
    rows = (labels.where(F.col("horizon_days") == F.lit(horizon_days))
            .select("as_of_date").distinct().collect())
    return sorted(r["as_of_date"] for r in rows)


def latest_date(df: DataFrame) -> date:
    """The latest as_of_date of a snapshot table; raises NotEnoughSnapshotsError if empty."""
    latest = df.agg(F.max("as_of_date").alias("d")).first()["d"]
    if latest is None:
        raise NotEnoughSnapshotsError("the feature table is empty")
    return latest


def _row_hash(label_col: str) -> Column:
    row = F.concat_ws("|", F.col("customer_id"), F.date_format("as_of_date", "yyyy-MM-dd"),
                      F.col(label_col).cast("int").cast("string"))
    return F.conv(F.substring(F.sha2(row, 256), 1, 15), 16, 10).cast("decimal(38,0)")


def _digest(rows: int, total) -> str:
    return sha256(f"{rows}:{total or 0}".encode()).hexdigest()


def fingerprint(df: DataFrame, *, label_col: str = LABEL) -> str:
    """Order-independent content hash of (customer_id, as_of_date, label) rows, computed in Spark.

    Each row hashes to the first 60 bits of SHA-256 of `customer_id|yyyy-MM-dd|label` (label
    as an integer); the fingerprint is SHA-256 of `rows:sum`, the row count and the exact sum
    of those numbers. Same rows (in any order, any partitioning) give the same fingerprint, so
    an audit can recompute it from the Delta versions logged with the run.
    """
    stats = df.agg(F.count(F.lit(1)).alias("n"), F.sum(_row_hash(label_col)).alias("s")).first()
    return _digest(stats["n"], stats["s"])


def fingerprints(df: DataFrame, splits: Mapping[str, Sequence[date]], *,
                 label_col: str = LABEL) -> dict[str, str]:
    """`fingerprint(filter_dates(df, dates))` of every split `name: dates`, in one pass."""
    part = _row_hash(label_col)
    aggs = []
    for i, dates in enumerate(splits.values()):
        inside = F.col("as_of_date").isin(list(dates))
        aggs += [F.count(F.when(inside, 1)).alias(f"n{i}"),
                 F.sum(F.when(inside, part)).alias(f"s{i}")]
    stats = df.agg(*aggs).first()
    return {name: _digest(stats[f"n{i}"], stats[f"s{i}"]) for i, name in enumerate(splits)}


def _dates(dates: Sequence[date]) -> str:
    return ",".join(d.isoformat() for d in dates)
