"""Labeled examples and the split of the churn data: out of time, or by customer when the
history is too short for that.

Leakage rule. A label for as-of date `d` and horizon `h` looks at purchases in (d, d + h]:
its label window ends on `d + h`. A snapshot may be used to train a model evaluated at
as-of date `t` only if `d + h <= t`. Then nothing the model learned from happened after
`t`, and no (customer, snapshot) of the evaluation date is in training. The rule is applied
twice: validation date against the test date, and tuning snapshots against the validation
date (the validation split is itself out-of-time).

Customer holdout (`ml.split: auto` when no out-of-time split fits): the latest labeled
snapshot alone, its customers split within each class (stratified) into tuning, validation
and test by a seeded hash of the customer id. Train and test customers are disjoint, but
they share one period: weaker evidence than an out-of-time test, and the run says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from hashlib import sha256

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError

KEYS = ("customer_id", "as_of_date")
LABEL = "label"
OUT_OF_TIME, CUSTOMER_HOLDOUT = "out_of_time", "customer_holdout"
PART = "_split_part"  # which part of the split a row is in: tune, validation or test
# The rows of each split: the final model is refit on tuning + validation rows.
SPLIT_PARTS = {"tune": ("tune",), "validation": ("validation",),
               "train": ("tune", "validation"), "test": ("test",)}


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
    """Which labeled snapshots are used for what (and, for a customer holdout, which share
    of the one snapshot's customers)."""

    horizon_days: int
    test_date: date
    validation_date: date
    tune_dates: tuple[date, ...]  # tuning fits on these, evaluates on validation_date
    refit_dates: tuple[date, ...]  # the final model: tune_dates + validation_date
    unused_dates: tuple[date, ...]  # labeled, but their label window reaches past a cut-off
    kind: str = OUT_OF_TIME  # or CUSTOMER_HOLDOUT: every date is test_date
    holdout_share: float = 0.0  # customer holdout: share of customers in test, and validation
    seed: int = 0  # customer holdout: of the customer hash

    @property
    def holdout(self) -> bool:
        return self.kind == CUSTOMER_HOLDOUT

    def params(self) -> dict[str, str]:
        """The plan as flat strings (MLflow params; `from_params` reads them back)."""
        params = {
            "split": self.kind,
            "horizon_days": str(self.horizon_days),
            "test_as_of_date": self.test_date.isoformat(),
            "validation_as_of_date": self.validation_date.isoformat(),
            "tune_as_of_dates": _dates(self.tune_dates),
            "refit_as_of_dates": _dates(self.refit_dates),
            "unused_as_of_dates": _dates(self.unused_dates) or "none",
        }
        if self.holdout:
            params |= {"holdout_share": str(self.holdout_share), "holdout_seed": str(self.seed)}
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> SplitPlan:
        """The plan a run logged (runs from before the customer holdout: out of time)."""
        def dates(key: str) -> tuple[date, ...]:
            return tuple(date.fromisoformat(d) for d in params[key].split(",")
                         if d and d != "none")
        kind = params.get("split", OUT_OF_TIME)
        holdout = kind == CUSTOMER_HOLDOUT
        return cls(int(params["horizon_days"]), date.fromisoformat(params["test_as_of_date"]),
                   date.fromisoformat(params["validation_as_of_date"]),
                   dates("tune_as_of_dates"), dates("refit_as_of_dates"),
                   dates("unused_as_of_dates"), kind,
                   float(params["holdout_share"]) if holdout else 0.0,
                   int(params["holdout_seed"]) if holdout else 0)

    def dates_of(self, split: str) -> tuple[date, ...]:
        """The as-of dates of `split` (tune, validation, train, test)."""
        return {"tune": self.tune_dates, "validation": (self.validation_date,),
                "train": self.refit_dates, "test": (self.test_date,)}[split]

    def describe(self, split: str) -> str:
        """What `split` (tune, validation, train, test) holds, for titles and progress."""
        if self.holdout:
            share = {"test": self.holdout_share, "validation": self.holdout_share,
                     "tune": 1 - 2 * self.holdout_share,
                     "train": 1 - self.holdout_share}[split]
            return f"{share:.0%} of the customers of {self.test_date}"
        dates = self.dates_of(split)
        if len(dates) == 1:
            return f"snapshot {dates[0]}"
        return f"{len(dates)} snapshots, {dates[0]} to {dates[-1]}"


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
               min_train_snapshots: int = 1, split: str = OUT_OF_TIME,
               holdout_share: float = 0.2, seed: int = 0) -> SplitPlan:
    """Out-of-time split: test on the latest labeled snapshot, validate on the latest snapshot
    whose label window ends on or before the test date, tune on snapshots whose window ends on
    or before the validation date. When that leaves fewer than `min_train_snapshots` tuning
    snapshots: with `split='auto'` a customer holdout within the latest labeled snapshot
    (`holdout_share` of its customers for test, as many for validation), otherwise
    NotEnoughSnapshotsError."""
    dates = sorted(set(labeled_dates))
    if not dates:
        raise NotEnoughSnapshotsError("gold labels have no as-of date with a complete horizon")
    try:
        return _out_of_time(dates, horizon_days, min_train_snapshots)
    except NotEnoughSnapshotsError as err:
        if split != "auto":
            raise NotEnoughSnapshotsError(f"{err} (ml.split: auto falls back to a customer "
                                          "holdout)") from None
    test = dates[-1]
    return SplitPlan(horizon_days, test, test, (test,), (test,), tuple(dates[:-1]),
                     CUSTOMER_HOLDOUT, holdout_share, seed)


def _out_of_time(dates: Sequence[date], horizon_days: int, min_train_snapshots: int
                 ) -> SplitPlan:
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
    """Raise LeakageError if a training label window passes its evaluation date (an
    out-of-time plan; a customer holdout keeps its parts apart by customer instead)."""
    if plan.holdout:
        return
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


def with_parts(examples: DataFrame, plan: SplitPlan) -> DataFrame:
    """The examples the plan uses, each with its part (column PART: tune, validation, test).

    Out of time: by as-of date. Customer holdout: the test snapshot's customers, within each
    class ordered by a hash of (customer id, seed): the first `holdout_share` are test, the
    next as many validation, the rest tuning (stratified: each class in every part in the
    same proportion, up to one customer)."""
    if not plan.holdout:
        part = (F.when(F.col("as_of_date").isin(list(plan.tune_dates)), F.lit("tune"))
                .when(F.col("as_of_date") == F.lit(plan.validation_date), F.lit("validation"))
                .when(F.col("as_of_date") == F.lit(plan.test_date), F.lit("test")))
        return examples.withColumn(PART, part).where(F.col(PART).isNotNull())
    order = F.xxhash64(F.col("customer_id").cast("string"), F.lit(plan.seed))
    rank = F.percent_rank().over(Window.partitionBy(LABEL).orderBy(order, "customer_id"))
    share = plan.holdout_share
    part = (F.when(rank < share, F.lit("test"))
            .when(rank < 2 * share, F.lit("validation")).otherwise(F.lit("tune")))
    snapshot = examples.where(F.col("as_of_date") == F.lit(plan.test_date))
    return snapshot.withColumn(PART, part)


def split_rows(df: DataFrame, split: str) -> DataFrame:
    """The rows of one split (tune, validation, train, test) of a `with_parts` frame."""
    return df.where(F.col(PART).isin(list(SPLIT_PARTS[split])))


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


def fingerprints(df: DataFrame, splits: Sequence[str], *,
                 label_col: str = LABEL) -> dict[str, str]:
    """`fingerprint(split_rows(df, split))` of every split of a `with_parts` frame, in one
    pass."""
    part = _row_hash(label_col)
    aggs = []
    for i, split in enumerate(splits):
        inside = F.col(PART).isin(list(SPLIT_PARTS[split]))
        aggs += [F.count(F.when(inside, 1)).alias(f"n{i}"),
                 F.sum(F.when(inside, part)).alias(f"s{i}")]
    stats = df.agg(*aggs).first()
    return {name: _digest(stats[f"n{i}"], stats[f"s{i}"]) for i, name in enumerate(splits)}


def _dates(dates: Sequence[date]) -> str:
    return ",".join(d.isoformat() for d in dates)
