"""One churn training run: out-of-time split (or a customer holdout when the history is too
short), tuning of every model family, each family finished (calibrated, thresholded,
refit, tested: ml/contenders.py), the comparison with the baselines, plots, MLflow
logging (one child run per family), registration of the candidate and promotion.

Tuning fits each grid point on the tuning snapshots and scores it on the validation
snapshot; calibration and the decision threshold (F1-best) are chosen there too, with
the tuned model. The final models are refit on tuning + validation snapshots and
evaluated once on the test snapshot, which nothing before has seen. The candidate is
the family best on validation; it takes `champion` by the rule of `registry.judge`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.progress import step
from lakehouse.settings import Settings
from ml import churn, dataset, lifetime, partitions, registry, tracking
from ml import metrics as m
from ml.contenders import Contender, contend, scored
from ml.evaluate import Evaluation, ScoredRows, comparison_rows, comparison_table
from ml.plots import churn as churn_plots
from ml.registry import Promotion
from ml.tracking import TableRead

LEAKAGE_RULE = "training label window end (as_of_date + horizon_days) <= evaluation as_of_date"


@dataclass(frozen=True)
class ChurnRun:
    """What a churn training run produced."""

    run_id: str
    plan: dataset.SplitPlan
    evaluation: Evaluation  # the candidate's
    best: churn.GridPoint  # the candidate's setting and validation score
    comparison: tuple[dict, ...]  # evaluate.comparison_rows
    tuning_metric: str
    promotion: Promotion
    plots: tuple[Path, ...]

    def comparison_table(self) -> str:
        return comparison_table(self.comparison, tuning_metric=self.tuning_metric)


def class_counts(examples: DataFrame) -> dict[tuple, int]:
    """Rows per (part, label) of a `dataset.with_parts` frame: six numbers, one Spark job."""
    rows = examples.groupBy(dataset.PART, dataset.LABEL).count().collect()
    return {(r[dataset.PART], int(r[dataset.LABEL])): r["count"] for r in rows}


def counts_for(counts: Mapping[tuple, int], split: str) -> dict[int, int]:
    """Rows per class of one split (tune, validation, train, test)."""
    parts = dataset.SPLIT_PARTS[split]
    return {c: sum(n for (part, k), n in counts.items() if k == c and part in parts)
            for c in (0, 1)}


def check_classes(counts: Mapping[tuple, int], plan: dataset.SplitPlan) -> None:
    """Every split holds both classes, or the run stops saying which lacks one."""
    for split in ("tune", "validation", "test"):
        per_class = counts_for(counts, split)
        missing = [name for c, name in ((0, "retained"), (1, "churned")) if not per_class[c]]
        if missing:
            raise dataset.NotEnoughSnapshotsError(
                f"the {split} split ({plan.describe(split)}) has no {missing[0]} customer "
                f"({per_class[0]:,} retained, {per_class[1]:,} churned): a model cannot be "
                "tuned and tested on one class; more history or customers are needed")


def validation_scorer(metric: str):
    """score(model, validation) -> the tuning metric of the model on the validation rows."""
    fn = m.roc_auc if metric == "roc_auc" else m.average_precision

    def score(model: PipelineModel, validation: DataFrame) -> float:
        rows = scored(validation, model)
        return fn(rows.y, rows.probability)
    return score


def _log_split(examples: DataFrame, splits: Mapping[str, DataFrame],
               counts: Mapping[tuple, int], plan: dataset.SplitPlan, features: TableRead,
               labels: TableRead) -> None:
    context = {"tune": "tuning", "validation": "validation", "train": "training",
               "test": "testing"}
    digests = dataset.fingerprints(examples, list(splits))
    for name, df in splits.items():
        digest = digests[name]
        per_class = counts_for(counts, name)
        rows = per_class[0] + per_class[1]
        mlflow.set_tag(f"data.{name}_fingerprint", digest)
        mlflow.log_param(f"{name}_fingerprint", digest)
        mlflow.log_metrics({f"{name}_rows": rows,
                            f"{name}_churn_rate": per_class[1] / rows if rows else 0.0})
        tracking.log_dataset(df.drop(dataset.PART), name=f"churn_{name}", source=features,
                             context=context[name], digest=digest, num_rows=rows,
                             targets=dataset.LABEL,
                             tags={"labels_table": labels.name,
                                   "labels_version": str(labels.version),
                                   "as_of_dates": ",".join(d.isoformat()
                                                           for d in plan.dates_of(name)),
                                   "split": plan.kind, "rows": plan.describe(name)})


def _figures(won: Contender, tuning: churn.Tuning, counts, plan, cfg) -> dict:
    rows, ev = won.test, won.evaluation
    y, p, r = rows.y, rows.probability, rows.recency
    test = f"test: {plan.describe('test')}"
    chosen = [tuning.best[f].setting.label() for f in tuning.best]
    return {
        "confusion_matrix": churn_plots.confusion_matrices(
            m.confusion(y, p, ev.thresholds.model), threshold=ev.thresholds.model,
            title=f"Confusion matrix, {test}"),
        "class_distribution": churn_plots.class_distribution(
            counts_for(counts, "train"), counts_for(counts, "test"),
            train_label=f"Training ({plan.describe('train')})",
            test_label=f"Test ({plan.describe('test')})"),
        "roc_curve": churn_plots.roc_curves(y, p, r, title=f"ROC curve, {test}"),
        "pr_curve": churn_plots.pr_curves(y, p, r, title=f"Precision-recall, {test}"),
        "gains_curve": churn_plots.gains_chart(y, p, r, title=f"Cumulative gains, {test}"),
        "calibration_curve": churn_plots.calibration(
            y, p, title=f"Calibration, {test}", before=rows.uncalibrated,
            method=won.calibration.method),
        "model_drivers": churn_plots.drivers_chart(
            won.drivers.values, kind=won.drivers.kind, model=churn.FAMILIES[won.family].label,
            top=cfg.churn.top_drivers),
        "tuning_grid": churn_plots.tuning_grid(
            [(g.setting.family, g.setting.label(), g.validation_score) for g in tuning.grid],
            chosen=chosen, candidate=won.point.setting.label(),
            metric=f"validation {cfg.churn.tuning_metric.replace('_', ' ').upper()} "
                   f"({plan.describe('validation')})"),
    }


def _log_family(c: Contender, *, experiment_id: str, candidate: str) -> None:
    """One child run per family: its setting, validation score and test metrics."""
    with mlflow.start_run(experiment_id=experiment_id, nested=True, run_name=c.family,
                          tags={"model": "churn_family", "family": c.family,
                                "candidate": str(c.family == candidate).lower()}):
        mlflow.log_params({"family": c.family, "setting": c.point.setting.label(),
                           "calibration": c.calibration.method,
                           **{f"best_{k}": v for k, v in c.point.setting.params}})
        mlflow.log_metrics({"validation_score": c.point.validation_score}
                           | {f"test_{k}": v for k, v in c.evaluation.model.items()}
                           | {k: v for k, v in c.evaluation.gain.items() if not math.isnan(v)})
        tracking.log_frame(pd.Series(c.drivers.values, name=c.drivers.kind).to_frame(),
                           "evaluation/drivers.csv")


@dataclass(frozen=True)
class Examples:
    """One run's labeled examples: the split plan, the `with_parts` examples (cached), rows
    per (part, label), and the four splits of them laid out for training (cached)."""

    plan: dataset.SplitPlan
    examples: DataFrame
    counts: dict[tuple, int]
    laid_out: DataFrame
    splits: dict[str, DataFrame]

    def train_churn_rate(self) -> float:
        rate = counts_for(self.counts, "train")
        return rate[1] / (rate[0] + rate[1])

    def release(self) -> None:
        self.laid_out.unpersist()
        self.examples.unpersist()


def split_examples(settings: Settings, features: TableRead, labels: TableRead) -> Examples:
    """Plan the split, join features to labels, check the features and both classes of
    every split, and lay the splits out for training."""
    cfg = settings.ml
    horizons = [r["horizon_days"] for r in labels.df.select("horizon_days").distinct().collect()]
    horizon = dataset.choose_horizon(horizons, cfg.horizon_days)
    plan = dataset.plan_split(dataset.label_dates(labels.df, horizon), horizon,
                              min_train_snapshots=cfg.min_train_snapshots, split=cfg.split,
                              holdout_share=cfg.holdout_share, seed=cfg.seed)
    examples = dataset.labeled_examples(features.df, labels.df, horizon_days=horizon)
    examples = dataset.with_parts(examples, plan).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        dataset.check_features(examples, churn.gold_columns(cfg.churn.features),
                               table=features.name)
        counts = class_counts(examples)
        check_classes(counts, plan)
    except BaseException:
        examples.unpersist()
        raise
    laid_out, splits = _splits(examples, rows=sum(counts.values()),
                               rows_per_partition=cfg.rows_per_partition)
    return Examples(plan, examples, counts, laid_out, splits)


def run_churn(settings: Settings, run_id: str, features: TableRead, labels: TableRead, *,
              experiment_id: str, out_dir: Path) -> tuple[ChurnRun, DataFrame]:
    """Train, evaluate, log, register and promote the churn model. Also returns the labeled
    customers of the test date (for the segment profiles)."""
    cfg = settings.ml
    with step("churn: planning, checking and counting the splits"):
        data = split_examples(settings, features, labels)
    plan, counts, splits = data.plan, data.counts, data.splits
    client = MlflowClient()
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"churn-{plan.test_date}",
                          tags={"model": "churn"}) as run:
        tables = {"features": features, "labels": labels}
        mlflow.set_tags(tracking.common_tags(settings, run_id, tables)
                        | {"split.test_as_of_date": plan.test_date.isoformat(),
                           "split": plan.kind})
        tracking.log_settings(settings)
        mlflow.log_params(plan.params() | _config_params(cfg)
                          | {"gold_features_version": features.version,
                             "gold_labels_version": labels.version, "leakage_rule": LEAKAGE_RULE})
        with step("churn: fingerprinting the splits"):
            _log_split(data.examples, splits, counts, plan, features, labels)
        spec = churn.ModelSpec(cfg.churn, plan.horizon_days, cfg.seed)
        settings_ = churn.grid(cfg.churn)
        with step(f"churn: tuning {len(settings_)} settings of {len(cfg.churn.families)} "
                  f"families, validated on {plan.describe('validation')}"):
            tuning = churn.tune(splits["tune"], splits["validation"], spec,
                                validation_scorer(cfg.churn.tuning_metric),
                                workers=cfg.parallel_fits)
        with step(f"churn: calibrating on {plan.describe('validation')}, refitting on "
                  f"{plan.describe('train')}, testing on {plan.describe('test')}"):
            contenders = contend(tuning, splits, spec,
                                 train_churn_rate=data.train_churn_rate(),
                                 workers=cfg.parallel_fits)
        won = contenders[tuning.candidate]
        ev = won.evaluation
        comparison = comparison_rows({f: (c.point.validation_score, c.evaluation)
                                      for f, c in contenders.items()}, won.family)
        mlflow.log_params({"model_family": won.family, "best_setting": won.point.setting.label(),
                           **{f"best_{k}": v for k, v in won.point.setting.params},
                           "beats_recency_rule": ev.beats_recency,
                           "calibration": won.calibration.method}
                          | (lifetime.describe(won.lifetime_params)
                             if won.lifetime_params else {}))
        mlflow.log_metrics({f"validation_log_loss_{name}": value
                            for name, value in won.calibration.log_loss.items()})
        mlflow.set_tags({"beats_recency_rule": str(ev.beats_recency).lower(),
                         "family": won.family})
        mlflow.log_metrics(ev.flat_metrics()
                           | {"train_roc_auc_spark": churn.spark_roc_auc(splits["train"],
                                                                         won.model),
                              f"validation_{cfg.churn.tuning_metric}":
                                  won.point.validation_score})
        for i, point in enumerate(tuning.grid):
            mlflow.log_metric("tuning_validation_score", point.validation_score, step=i)
        for c in contenders.values():
            _log_family(c, experiment_id=experiment_id, candidate=won.family)
        _log_tables(tuning.grid, won, comparison)
        with step("churn: plots"):
            plots = tracking.log_figures(_figures(won, tuning, counts, plan, cfg), out_dir,
                                         dpi=cfg.plot_dpi)
        with step("churn: logging, registering and promoting the model"):
            promotion = _register(client, settings, splits["test"], won, plan)
        mlflow.set_tags({"promotion": promotion.alias, "model_version": promotion.version,
                         "promotion_reason": promotion.line()[:5000]})
        if promotion.verdict.champion_auc is not None:
            mlflow.log_metric("champion_test_roc_auc", promotion.verdict.champion_auc)
    data.release()
    result = ChurnRun(run.info.run_id, plan, ev, won.point, tuple(comparison),
                      cfg.churn.tuning_metric, promotion, tuple(plots))
    # Every labeled customer of the test date (a customer holdout tests on a share of them).
    return result, (data.examples.where(F.col("as_of_date") == F.lit(plan.test_date))
                    .drop(dataset.PART))


def _splits(examples: DataFrame, *, rows: int, rows_per_partition: int
            ) -> tuple[DataFrame, dict[str, DataFrame]]:
    """The `with_parts` examples laid out for training (ml.partitions: the partitions their
    size calls for, rows placed and ordered by key) and cached in that layout, and the
    four splits of it."""
    laid_out = partitions.training_partitions(examples, rows,
                                              rows_per_partition=rows_per_partition,
                                              keys=dataset.KEYS)
    laid_out = laid_out.persist(StorageLevel.MEMORY_AND_DISK)
    return laid_out, {split: dataset.split_rows(laid_out, split)
                      for split in dataset.SPLIT_PARTS}


def _config_params(cfg) -> dict[str, object]:
    c = cfg.churn
    grids = {f"grid_{family}_{key}": ",".join(map(str, values))
             for family in c.families for key, values in getattr(c, family).model_dump().items()}
    return {"features": ",".join(c.features),
            "log_features": ",".join(f for f in c.features if f in churn.LOGGED),
            "class_weighting": c.class_weighting, "families": ",".join(c.families), **grids,
            "tuning_metric": c.tuning_metric, "bootstrap_samples": c.bootstrap_samples,
            "lifetime_max_customers": c.lifetime_max_customers,
            "promotion_min_gain": c.promotion_min_gain, "seed": cfg.seed,
            "min_train_snapshots": cfg.min_train_snapshots, "split_setting": cfg.split}


def _log_tables(grid, won: Contender, comparison: list[dict]) -> None:
    tracking.log_frame(pd.DataFrame([{"family": g.setting.family, "setting": g.setting.label(),
                                      **g.setting.values, "validation_score": g.validation_score}
                                     for g in grid]), "tuning/grid.csv")
    tracking.log_frame(pd.Series(won.drivers.values, name=won.drivers.kind).to_frame(),
                       "evaluation/drivers.csv")
    ev = won.evaluation
    mlflow.log_dict({"model": ev.model, "recency_rule": ev.recency, "majority": ev.majority,
                     "bgnbd_expected_purchases": ev.lifetime, "gain": ev.gain,
                     "thresholds": vars(ev.thresholds), "family": won.family},
                    "evaluation/metrics.json")
    mlflow.log_dict({"rows": comparison}, "evaluation/comparison.json")


def _register(client: MlflowClient, settings: Settings, test: DataFrame, won: Contender,
              plan: dataset.SplitPlan) -> Promotion:
    cfg, name = settings.ml, settings.mlflow.churn_model_name
    champion = registry.alias_version(client, name, registry.CHAMPION)
    on_test = None
    if champion is not None:
        on_test = registry.champion_on_test(
            client, champion, test_date=plan.test_date,
            rescore=lambda model: _paired(won.test, scored(test, model, detailed=True)))
    verdict = registry.judge(won.test.y, won.test.probability, on_test,
                             min_gain=cfg.churn.promotion_min_gain,
                             samples=cfg.churn.bootstrap_samples, seed=cfg.seed)
    example = test.select(*churn.gold_columns(cfg.churn.features)).limit(5)
    output = won.model.transform(example).select("prediction").toPandas()
    info = tracking.log_spark_model(won.model, name="model", example=example.toPandas(),
                                    output=output)
    version = tracking.register(info, name)
    for key, value in {registry.TEST_DATE_TAG: plan.test_date.isoformat(),
                       registry.FAMILY_TAG: won.family,
                       "test_roc_auc": f"{won.evaluation.model['roc_auc']:.6f}",
                       "beats_recency_rule": str(won.evaluation.beats_recency).lower()}.items():
        client.set_model_version_tag(name, version, key, value)
    return registry.promote(client, name, version, family=won.family, verdict=verdict,
                            champion=champion)


def _paired(mine: ScoredRows, theirs: ScoredRows) -> np.ndarray:
    """The champion's probabilities (`theirs`) in the candidate's row order (`mine`): both
    scored the same test rows, one per customer."""
    order = pd.Series(range(len(theirs.keys)), index=theirs.keys)
    if len(order) != len(mine.keys) or not order.index.is_unique:
        raise ValueError("the champion and the candidate did not score the same test rows")
    return theirs.probability[order.loc[mine.keys].to_numpy()]
