"""Finishing each model family's best setting the same way, so they compare fairly.

For every family: calibrate its tuned model on the validation snapshot (ml/calibration.py),
choose its decision threshold there, refit its setting on the training snapshots
(tuning + validation; the feature stages and BG/NBD are fitted on them once for all
families), append the calibrator, and score the test snapshot once. The candidate is the
family whose best setting scored highest on validation (`churn.Tuning.candidate`): the
test snapshot informs no choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from ml import calibration, churn, lifetime
from ml.bgnbd import BgNbd
from ml.evaluate import Evaluation, ScoredRows, choose_thresholds, collect_scored, evaluate
from ml.parallel import map_in_threads

UNCALIBRATED = "uncalibrated_probability"  # the test rows' probability before calibration
KEY = "customer_id"  # one snapshot's rows are one per customer: pairs rows across models


@dataclass(frozen=True)
class Contender:
    """One family's finished model and its evidence."""

    family: str
    point: churn.GridPoint  # its best setting and validation score
    calibration: calibration.Calibration
    model: PipelineModel  # refit on the training snapshots, calibrated
    test: ScoredRows
    evaluation: Evaluation
    drivers: churn.Drivers
    lifetime_params: BgNbd | None  # BG/NBD fitted on the training snapshots (shared)


def scored(df: DataFrame, model: PipelineModel, *, detailed: bool = False) -> ScoredRows:
    """One snapshot scored by `model`, on the driver; `detailed` also brings the
    uncalibrated probability, BG/NBD expected purchases and customer ids."""
    if not detailed:
        return collect_scored(churn.with_churn_probability(df, model))
    rows = churn.with_churn_probability(df, model, uncalibrated=UNCALIBRATED,
                                        keep=(lifetime.EXPECTED,))
    return collect_scored(rows, uncalibrated_col=UNCALIBRATED, lifetime_col=lifetime.EXPECTED,
                          key_col=KEY)


def contend(tuning: churn.Tuning, splits: Mapping[str, DataFrame], spec: churn.ModelSpec, *,
            train_churn_rate: float, workers: int) -> dict[str, Contender]:
    """Calibrate, threshold, refit and test every family's best setting (families side by
    side in `workers` threads), in the configured family order."""
    prepared = churn.prepare(splits["train"], spec)

    def finish(family: str) -> Contender:
        tuned, point = tuning.models[family], tuning.best[family]
        cal = calibration.calibrate(tuned, splits["validation"], seed=spec.seed)
        thresholds = choose_thresholds(scored(splits["validation"], cal.applied_to(tuned)))
        final = cal.applied_to(prepared.fit(point.setting, seed=spec.seed))
        test = scored(splits["test"], final, detailed=True)
        ev = evaluate(test, thresholds=thresholds, train_churn_rate=train_churn_rate,
                      bootstrap_samples=spec.cfg.bootstrap_samples, seed=spec.seed)
        return Contender(family, point, cal, final, test, ev,
                         churn.drivers(final, spec.cfg.features), prepared.lifetime_params)

    try:
        done = map_in_threads(finish, list(tuning.best), workers=workers)
    finally:
        prepared.release()
    return {c.family: c for c in done}
