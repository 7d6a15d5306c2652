"""`make score`: score the latest feature snapshot with the `champion` models.

Writes gold.churn_scores (churn probability and risk decile) and gold.customer_segments,
replacing that as-of date's rows only, so re-scoring a date is idempotent.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.cli import Stage, StageContext, run_stage, wheel_task
from ml import churn, dataset, registry, segments, tracking
from ml.train import read_table
from ml.train_segments import NAMES_TAG


@dataclass(frozen=True)
class ScoreReport:
    """What one scoring run wrote."""

    as_of_date: date
    customers: int
    churn_model: str
    segment_model: str
    scores_version: int
    segments_version: int

    def line(self) -> str:
        return (f"ml.score: {self.customers:,} customers of {self.as_of_date} scored with "
                f"{self.churn_model} and segmented with {self.segment_model} -> churn scores "
                f"version {self.scores_version}, segments version {self.segments_version}")


def with_risk_decile(df: DataFrame) -> DataFrame:
    """Add `risk_decile` (1 = the 10% most likely to churn) within each as-of date; ties
    are broken by customer_id so re-scoring gives the same deciles."""
    order = Window.partitionBy("as_of_date").orderBy(F.col(churn.CHURN_PROBABILITY).desc(),
                                                     F.col("customer_id"))
    return df.withColumn("risk_decile", F.ntile(10).over(order).cast("int"))


def churn_scores(snapshot: DataFrame, model: PipelineModel, *, model_name: str,
                 model_version: str, scored_at: datetime) -> DataFrame:
    """Rows of gold.churn_scores for the customers of `snapshot`."""
    scored = churn.with_churn_probability(snapshot, model).transform(with_risk_decile)
    return scored.select(
        "customer_id", "as_of_date",
        F.col(churn.CHURN_PROBABILITY).cast("double").alias(churn.CHURN_PROBABILITY),
        "risk_decile",
        F.lit(model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )


def customer_segments(snapshot: DataFrame, model: PipelineModel, names: dict[int, str], *,
                      model_run_id: str) -> DataFrame:
    """Rows of gold.customer_segments: each customer's segment id and name."""
    pairs = [F.lit(x) for k, v in sorted(names.items()) for x in (k, v)]
    name_of = F.create_map(*pairs)
    assigned = segments.assign(snapshot, model)
    return assigned.select(
        "customer_id", "as_of_date", F.col(segments.SEGMENT).cast("int").alias(segments.SEGMENT),
        F.coalesce(F.element_at(name_of, F.col(segments.SEGMENT)),
                   F.concat(F.lit("Segment "), F.col(segments.SEGMENT).cast("string")))
        .alias("segment_name"),
        F.lit(model_run_id).alias("model_run_id"),
    )


def segment_names(version_tags: dict[str, str]) -> dict[int, str]:
    """The {segment_id: name} map stored on a segmentation model version."""
    raw = version_tags.get(NAMES_TAG)
    return {int(k): v for k, v in json.loads(raw).items()} if raw else {}


def score(ctx: StageContext, *, as_of: date | None = None) -> ScoreReport:
    """Score `as_of` (default: the latest feature snapshot) with both champion models."""
    settings, names = ctx.settings, ctx.settings.tables.names
    features = read_table(ctx, names.gold_features).df
    as_of = as_of or dataset.latest_date(features)
    snapshot = features.where(F.col("as_of_date") == F.lit(as_of))
    if snapshot.limit(1).count() == 0:
        raise dataset.NotEnoughSnapshotsError(f"{names.gold_features} has no rows for {as_of}")
    tracking.configure(settings)
    churn_model, churn_version = registry.load_by_alias(settings.mlflow.churn_model_name)
    seg_model, seg_version = registry.load_by_alias(settings.mlflow.segment_model_name)
    predicate = f"as_of_date = DATE'{as_of.isoformat()}'"
    scores = churn_scores(snapshot, churn_model, model_name=churn_version.name,
                          model_version=str(churn_version.version),
                          scored_at=datetime.now(UTC))
    written = ctx.store.write(names.gold_scores, scores, mode="overwrite",
                              replace_where=predicate, metadata={"run_id": ctx.run_id})
    seg_rows = customer_segments(snapshot, seg_model, segment_names(seg_version.tags),
                                 model_run_id=seg_version.run_id)
    seg_written = ctx.store.write(names.gold_segments, seg_rows, mode="overwrite",
                                  replace_where=predicate, metadata={"run_id": ctx.run_id})
    customers = ctx.store.read(names.gold_scores).where(F.col("as_of_date") == F.lit(as_of))
    return ScoreReport(as_of, customers.count(),
                       f"{churn_version.name} v{churn_version.version}",
                       f"{seg_version.name} v{seg_version.version}", written.version,
                       seg_written.version)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="feature snapshot to score (default: the latest)")


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    print(score(ctx, as_of=args.as_of).line())
    return 0


STAGE = Stage("ml.score", __doc__.splitlines()[0], _body, add_arguments=_add_arguments)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ml.score`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)


if __name__ == "__main__":
    raise SystemExit(main())
