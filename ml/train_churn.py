"""One churn training run: out-of-time split (or a customer holdout when the history is too
short), tuning, refit, test evaluation against the baselines, plots, MLflow logging,
registration and promotion.

Tuning fits each grid point on the tuning snapshots and scores it on the validation
snapshot; the decision threshold (F1-best) is chosen there too, with the tuned model. The
final model is refit with the best setting on tuning + validation snapshots and evaluated
once on the test snapshot, which nothing before has seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.progress import step
from lakehouse.settings import Settings
from ml import calibration, churn, dataset, partitions, registry, tracking
from ml import metrics as m
from ml.evaluate import Evaluation, ScoredRows, choose_thresholds, collect_scored, evaluate
from ml.plots import churn as churn_plots
from ml.registry import Promotion
from ml.tracking import TableRead

UNCALIBRATED = "uncalibrated_probability"  # the test rows' probability before calibration
LEAKAGE_RULE = "training label window end (as_of_date + horizon_days) <= evaluation as_of_date"


@dataclass(frozen=True)
class ChurnRun:
    """What a churn training run produced."""

    run_id: str
    plan: dataset.SplitPlan
    evaluation: Evaluation
    best: churn.GridPoint
    promotion: Promotion
    plots: tuple[Path, ...]


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


def scored(df: DataFrame, model: PipelineModel) -> ScoredRows:
    """One snapshot scored by `model`, on the driver."""
    return collect_scored(churn.with_churn_probability(df, model))


def _validation_scorer(metric: str):
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


def _figures(ev_rows: ScoredRows, ev: Evaluation, counts, plan, coefs, grid, cfg, *,
             calibration_method: str) -> dict:
    y, p, r = ev_rows.y, ev_rows.probability, ev_rows.recency
    test = f"test: {plan.describe('test')}"
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
            y, p, title=f"Calibration, {test}", before=ev_rows.uncalibrated,
            method=calibration_method),
        "coefficients": churn_plots.coefficient_chart(coefs, top=cfg.churn.top_coefficients),
        "tuning_grid": churn_plots.tuning_grid(
            [(g.reg_param, g.elastic_net_param, g.validation_score) for g in grid],
            metric=f"validation {cfg.churn.tuning_metric.replace('_', ' ').upper()} "
                   f"({plan.describe('validation')})"),
    }


def run_churn(settings: Settings, run_id: str, features: TableRead, labels: TableRead, *,
              experiment_id: str, out_dir: Path) -> tuple[ChurnRun, DataFrame]:
    """Train, evaluate, log, register and promote the churn model. Also returns the labeled
    customers of the test date (for the segment profiles)."""
    cfg = settings.ml
    horizons = [r["horizon_days"] for r in labels.df.select("horizon_days").distinct().collect()]
    horizon = dataset.choose_horizon(horizons, cfg.horizon_days)
    plan = dataset.plan_split(dataset.label_dates(labels.df, horizon), horizon,
                              min_train_snapshots=cfg.min_train_snapshots, split=cfg.split,
                              holdout_share=cfg.holdout_share, seed=cfg.seed)
    examples = dataset.labeled_examples(features.df, labels.df, horizon_days=horizon)
    examples = dataset.with_parts(examples, plan).persist(StorageLevel.MEMORY_AND_DISK)
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
        with step("churn: checking, counting and fingerprinting the splits"):
            dataset.check_features(examples, cfg.churn.features, table=features.name)
            counts = class_counts(examples)
            check_classes(counts, plan)
            splits = _splits(examples, rows=sum(counts.values()),
                             rows_per_partition=cfg.rows_per_partition)
            _log_split(examples, splits, counts, plan, features, labels)
        grid_size = len(cfg.churn.reg_params) * len(cfg.churn.elastic_net_params)
        with step(f"churn: tuning {grid_size} settings, validated on "
                  f"{plan.describe('validation')}"):
            tuning = churn.tune(splits["tune"], splits["validation"], cfg.churn,
                                _validation_scorer(cfg.churn.tuning_metric),
                                workers=cfg.parallel_fits)
        with step(f"churn: calibrating on {plan.describe('validation')}"):
            cal = calibration.calibrate(tuning.model, splits["validation"], seed=cfg.seed)
            thresholds = choose_thresholds(scored(splits["validation"],
                                                  cal.applied_to(tuning.model)))
        with step(f"churn: refit on {plan.describe('train')}, test on "
                  f"{plan.describe('test')}"):
            uncalibrated = churn.fit(splits["train"], cfg.churn,
                                     reg_param=tuning.best.reg_param,
                                     elastic_net_param=tuning.best.elastic_net_param)
            final = cal.applied_to(uncalibrated)
            test_rows = collect_scored(churn.with_churn_probability(
                splits["test"], final, uncalibrated=UNCALIBRATED), uncalibrated_col=UNCALIBRATED)
        rate = counts_for(counts, "train")
        ev = evaluate(test_rows, thresholds=thresholds,
                      train_churn_rate=rate[1] / (rate[0] + rate[1]),
                      bootstrap_samples=cfg.churn.bootstrap_samples, seed=cfg.seed)
        mlflow.log_params({"best_reg_param": tuning.best.reg_param,
                           "best_elastic_net_param": tuning.best.elastic_net_param,
                           "beats_recency_rule": ev.beats_recency,
                           "calibration": cal.method})
        mlflow.log_metrics({f"validation_log_loss_{name}": value
                            for name, value in cal.log_loss.items()})
        mlflow.set_tag("beats_recency_rule", str(ev.beats_recency).lower())
        mlflow.log_metrics(ev.flat_metrics()
                           | {"train_roc_auc_spark": churn.spark_roc_auc(splits["train"], final),
                              f"validation_{cfg.churn.tuning_metric}":
                                  tuning.best.validation_score})
        for i, point in enumerate(tuning.grid):
            mlflow.log_metric("tuning_validation_score", point.validation_score, step=i)
        coefs = churn.coefficients(final, cfg.churn)
        _log_tables(tuning.grid, coefs, ev)
        with step("churn: plots"):
            plots = tracking.log_figures(_figures(test_rows, ev, counts, plan, coefs,
                                                  tuning.grid, cfg,
                                                  calibration_method=cal.method),
                                         out_dir, dpi=cfg.plot_dpi)
        with step("churn: logging, registering and promoting the model"):
            promotion = _register(client, settings, splits["test"], final, ev, plan)
        mlflow.set_tags({"promotion": promotion.alias, "model_version": promotion.version})
        if promotion.previous_auc is not None:
            mlflow.log_metric("champion_test_roc_auc", promotion.previous_auc)
    examples.unpersist()
    result = ChurnRun(run.info.run_id, plan, ev, tuning.best, promotion, tuple(plots))
    # Every labeled customer of the test date (a customer holdout tests on a share of them).
    return result, examples.where(F.col("as_of_date") == F.lit(plan.test_date)).drop(dataset.PART)


def _splits(examples: DataFrame, *, rows: int, rows_per_partition: int
            ) -> dict[str, DataFrame]:
    """The four splits of the (cached) `with_parts` examples, read in the partitions their
    size calls for (ml.partitions: small data fits fastest in one)."""
    examples = partitions.training_partitions(examples, rows,
                                              rows_per_partition=rows_per_partition)
    return {split: dataset.split_rows(examples, split) for split in dataset.SPLIT_PARTS}


def _config_params(cfg) -> dict[str, object]:
    c = cfg.churn
    return {"features": ",".join(c.features),
            "log_features": ",".join(f for f in c.features if f in churn.LOGGED),
            "class_weighting": c.class_weighting, "max_iter": c.max_iter,
            "grid_reg_params": ",".join(map(str, c.reg_params)),
            "grid_elastic_net_params": ",".join(map(str, c.elastic_net_params)),
            "tuning_metric": c.tuning_metric, "bootstrap_samples": c.bootstrap_samples,
            "promotion_min_gain": c.promotion_min_gain, "seed": cfg.seed,
            "min_train_snapshots": cfg.min_train_snapshots, "split_setting": cfg.split}


def _log_tables(grid, coefs: dict[str, float], ev: Evaluation) -> None:
    tracking.log_frame(pd.DataFrame([vars(g) for g in grid]), "tuning/grid.csv")
    tracking.log_frame(pd.Series(coefs, name="coefficient").to_frame(),
                       "evaluation/coefficients.csv")
    mlflow.log_dict({"model": ev.model, "recency_rule": ev.recency, "majority": ev.majority,
                     "gain": ev.gain, "thresholds": vars(ev.thresholds)},
                    "evaluation/metrics.json")


def _auc(rows: ScoredRows) -> float:
    return m.roc_auc(rows.y, rows.probability)


def _register(client: MlflowClient, settings: Settings, test: DataFrame, final: PipelineModel,
              ev: Evaluation, plan: dataset.SplitPlan) -> Promotion:
    cfg, name = settings.ml, settings.mlflow.churn_model_name
    champion = registry.alias_version(client, name, registry.CHAMPION)
    champion_auc, how = None, "no champion yet"
    if champion is not None:
        champion_auc, how = registry.champion_auc_on_test(
            client, champion, test_date=plan.test_date,
            rescore=lambda model: _auc(scored(test, model)))
    example = test.select(*cfg.churn.features).limit(5)
    output = final.transform(example).select("prediction").toPandas()
    info = tracking.log_spark_model(final, name="model", example=example.toPandas(),
                                    output=output)
    version = tracking.register(info, name)
    for key, value in {registry.TEST_DATE_TAG: plan.test_date.isoformat(),
                       "test_roc_auc": f"{ev.model['roc_auc']:.6f}",
                       "beats_recency_rule": str(ev.beats_recency).lower()}.items():
        client.set_model_version_tag(name, version, key, value)
    return registry.promote(client, name, version, new_auc=ev.model["roc_auc"],
                            champion=champion, champion_auc=champion_auc, how=how,
                            min_gain=cfg.churn.promotion_min_gain)
