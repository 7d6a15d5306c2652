"""What the report shows, as pure values: DataFrame transforms (no I/O) and the small
records the template renders. `collect.py` reads the inputs, `render.py` writes the site."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from audit.drift import FeatureDrift

REVENUE_AT_RISK = "revenue_at_risk"
# Spend expected in the churn horizon if the customer stays: their last 180 days' spend,
# scaled to the horizon (the longest feature window: least noisy for occasional buyers).
SPEND_WINDOW_DAYS = 180


@dataclass(frozen=True)
class Image:
    """A plot copied into the site: its caption and its path relative to the index."""

    title: str
    src: str


@dataclass(frozen=True)
class StageFlow:
    """Rows into and out of one stage, over the whole lake and in its latest run."""

    stage: str
    rows_in: int | None
    rows_out: int | None
    detail: str


@dataclass(frozen=True)
class TableState:
    """A Delta table's current version and its latest commits (newest first)."""

    name: str
    version: int | None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class QualityRun:
    """The latest validation of one suite: checks run and failed, and its Data Docs page."""

    stage: str
    suite: str
    table: str | None
    table_version: int | None
    checks: int
    warned: int  # failed checks by severity (lakehouse/quality/suites.py)
    quarantined: int
    failed: int
    validated_at: datetime
    page: str | None  # link relative to the report's index


@dataclass(frozen=True)
class ChurnSection:
    """The latest churn training run against its baselines."""

    run_id: str
    run_name: str
    started: datetime
    metrics: list[dict[str, Any]]  # label, model, recency rule, majority
    verdict: str
    params: dict[str, str]
    tags: dict[str, str]
    plots: list[Image]
    comparison: list[dict[str, Any]] = field(default_factory=list)  # evaluate.comparison_rows


@dataclass(frozen=True)
class SegmentSection:
    """The latest segmentation: chosen k, profile per segment and plots."""

    run_id: str
    as_of: str
    k: str
    silhouette: float | None
    profile: list[dict[str, Any]]
    plots: list[Image]


@dataclass(frozen=True)
class AtRisk:
    """The customers most at risk in the latest scored snapshot."""

    as_of: date
    model: str
    customers: int
    horizon_days: int
    total_revenue_at_risk: float
    by_segment: list[dict[str, Any]]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Drift:
    """PSI per model feature between the latest two feature snapshots."""

    before: date
    after: date
    threshold: float
    features: list[FeatureDrift]

    @property
    def flagged(self) -> list[str]:
        return [f.column for f in self.features
                if f.psi is not None and f.psi > self.threshold]


@dataclass(frozen=True)
class Report:
    """Everything the page shows; a section is None when its inputs do not exist yet."""

    generated_at: datetime
    env: str
    lake: str
    flow: list[StageFlow]
    reconciliation: dict[str, int]
    quarantine: list[dict[str, Any]]
    quality: list[QualityRun]
    data_docs: str | None
    tables: list[TableState]
    churn: ChurnSection | None
    segments: SegmentSection | None
    at_risk: AtRisk | None
    drift: Drift | None
    notes: list[str]  # why a section is missing

    @property
    def reconciles(self) -> bool:
        r = self.reconciliation
        placed = r.get("inserted", 0) + r.get("matched_existing", 0) + \
            r.get("quarantined", 0) + r.get("duplicates", 0)
        return bool(r) and placed == r.get("bronze_rows")


def quarantine_reasons(quarantine: DataFrame, reasons_col: str) -> DataFrame:
    """Quarantined rows per reason code (a row with two reasons counts under both), and
    the rows in quarantine per reason as a share of all quarantined rows."""
    return (quarantine.select(F.explode(reasons_col).alias("reason"))
            .groupBy("reason").agg(F.count(F.lit(1)).alias("rows"))
            .orderBy(F.desc("rows"), "reason"))


def revenue_at_risk(scores: DataFrame, features: DataFrame, segments: DataFrame, *,
                    probability_col: str, horizon_days: int) -> DataFrame:
    """Per scored customer: churn probability, risk decile, segment, spend and the revenue
    at risk (probability x last 180 days' spend scaled to the horizon). Joins on
    customer and as-of date, so every row describes one snapshot."""
    keys = ["customer_id", "as_of_date"]
    expected = F.col(f"spend_{SPEND_WINDOW_DAYS}d") * F.lit(horizon_days / SPEND_WINDOW_DAYS)
    return (scores.select(*keys, probability_col, "risk_decile")
            .join(features.select(*keys, "country", "recency_days", "frequency",
                                  "total_spend", f"spend_{SPEND_WINDOW_DAYS}d"), keys, "left")
            .join(segments.select(*keys, "segment_name"), keys, "left")
            .withColumn(REVENUE_AT_RISK,
                        F.col(probability_col) * F.greatest(expected, F.lit(0.0))))


def at_risk_by_segment(scored: DataFrame, probability_col: str) -> DataFrame:
    """Customers, mean churn probability and revenue at risk per segment."""
    return (scored.groupBy(F.coalesce("segment_name", F.lit("(no segment)")).alias("segment"))
            .agg(F.count(F.lit(1)).alias("customers"),
                 F.avg(probability_col).alias("mean_churn_probability"),
                 F.sum(REVENUE_AT_RISK).alias(REVENUE_AT_RISK))
            .orderBy(F.desc(REVENUE_AT_RISK)))


def psi_level(value: float | None, threshold: float) -> str:
    """How the template marks a PSI: flagged above the threshold."""
    if value is None:
        return "n/a"
    return "drifted" if value > threshold else "stable"
