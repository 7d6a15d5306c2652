"""`make train`: churn model and customer segmentation from the gold tables, tracked in MLflow.

Reads gold.customer_features and gold.churn_labels at pinned Delta versions, trains and
evaluates the churn model out of time against two baselines, segments the latest snapshot,
logs both runs to MLflow, registers the models and prints one summary.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import functions as F

from lakehouse.cli import Stage, StageContext, run_stage, wheel_task
from lakehouse.errors import LakehouseError
from lakehouse.history import too_short
from ml import tracking
from ml.evaluate import summary_table
from ml.tracking import TableRead
from ml.train_churn import ChurnRun, run_churn
from ml.train_segments import SegmentRun, fit_segments, run_segments


class MissingGoldTableError(LakehouseError):
    """A gold table the training needs does not exist yet."""


@dataclass(frozen=True)
class TrainReport:
    """Both runs of one `make train`."""

    churn: ChurnRun
    segments: SegmentRun
    tracking_uri: str

    def text(self) -> str:
        """The summary printed at the end of training."""
        c, s, plan = self.churn, self.segments, self.churn.plan
        ev = c.evaluation
        how = ("tested on held-out customers of the same snapshot (split=customer_holdout: "
               "too little history for an out-of-time test; weaker evidence, one period)"
               if plan.holdout else "tested out of time")
        head = (f"Churn model, {plan.horizon_days}-day horizon: trained on "
                f"{plan.describe('train')}, {how}, test {plan.describe('test')} "
                f"({ev.rows:,} customers, churn rate {ev.churn_rate:.1%}); candidate "
                f"{c.best.setting.label()} (best validation {c.tuning_metric} "
                f"{c.best.validation_score:.4f})")
        seg_lines = [f"  {r.segment_name:<16}{r.customers:>8,} ({r.share:.0%})  recency "
                     f"{r.mean_recency_days:,.0f} d, frequency {r.mean_frequency:,.1f}, "
                     f"spend {r.mean_total_spend:,.0f}"
                     for r in s.profile.itertuples()]
        return "\n".join([
            "", head, "", c.comparison_table(), "", summary_table(ev), "",
            f"Registry: {c.promotion.line()}",
            "",
            f"Segments of {s.as_of_date}: k = {s.best.k} (silhouette {s.best.silhouette:.3f}), "
            f"registered version {s.version} is `champion`",
            *seg_lines,
            "",
            f"MLflow: churn run {c.run_id}, segments run {s.run_id} ({self.tracking_uri}); "
            "browse with `make mlflow-ui`",
            f"Plots: {c.plots[0].parent} and {s.plots[0].parent}",
        ])


def read_table(ctx: StageContext, name: str) -> TableRead:
    """`name` at its current Delta version, pinned so every read in the run sees the same."""
    if not ctx.store.exists(name):
        raise MissingGoldTableError(_why_no_gold(ctx) or
                                    f"table {name} does not exist: run `make gold` first")
    version = ctx.store.version(name)
    return TableRead(name, version, ctx.store.location(name),
                     ctx.store.read(name, version=version))


def _why_no_gold(ctx: StageContext) -> str | None:
    """What `make gold` says when silver's history is too short for any snapshot (then gold
    has no table however often it runs), or None."""
    silver = ctx.settings.tables.names.silver_transactions
    if not ctx.store.exists(silver):
        return None
    first, last = ctx.store.read(silver).agg(F.min("invoice_date"), F.max("invoice_date")).first()
    if first is None:
        return None
    reason = too_short(first, last, min_history_days=ctx.settings.gold.min_history_days)
    return None if reason is None else f"gold has no snapshot to train on: {reason}"


def train(ctx: StageContext) -> TrainReport:
    """Train, evaluate and register the churn model and the segmentation."""
    names = ctx.settings.tables.names
    features = read_table(ctx, names.gold_features)
    labels = read_table(ctx, names.gold_labels)
    experiment_id = tracking.configure(ctx.settings)
    tracking.close_orphaned_runs(ctx.settings, experiment_id)
    out = ctx.settings.paths.reports / "ml" / ctx.run_id
    # The k search needs nothing from the churn run: it runs in a thread beside it (both are
    # chains of small Spark jobs that leave the cores idle between jobs).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segments") as pool:
        segment_fit = pool.submit(fit_segments, ctx.settings, features)
        try:
            churn_run, labeled_test = run_churn(ctx.settings, ctx.run_id, features, labels,
                                                experiment_id=experiment_id,
                                                out_dir=out / "churn")
        except BaseException:
            segment_fit.add_done_callback(lambda f: f.exception() or f.result().release())
            raise
        fitted = segment_fit.result()
    segment_run = run_segments(ctx.settings, ctx.run_id, features, labels,
                               labeled_test=labeled_test, experiment_id=experiment_id,
                               out_dir=out / "segments", fitted=fitted)
    return TrainReport(churn_run, segment_run, tracking.tracking_uri(ctx.settings))


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    print(train(ctx).text())
    return 0


STAGE = Stage("ml.train", __doc__.splitlines()[0], _body)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ml.train`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)


if __name__ == "__main__":
    raise SystemExit(main())
