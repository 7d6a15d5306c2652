"""Calibrating the churn model's probabilities on the validation snapshot.

Two calibrators, both Spark ML stages appended to the fitted pipeline (so the saved model,
scoring and the registry's re-scoring apply them; `churn.with_churn_probability` reads
their output):

- Platt scaling: a logistic regression on the classifier's margin (rawPrediction[1]);
- isotonic regression on the classifier's probability (monotone, piecewise constant).

They are fitted on the validation snapshot scored by the tuned model (trained on the tuning
snapshots only, so the validation labels are unseen), compared by their log loss out of
fold (two halves of the validation customers, each calibrator fitted on one half and
scored on the other, both ways), and the better is refitted on the whole validation
snapshot and appended to the final model. The test snapshot is never used.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import Estimator, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import VectorSlicer
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml import metrics as m
from ml.churn import CALIBRATED, CALIBRATED_VECTOR, PROBABILITY, probability_column
from ml.dataset import LABEL

MARGIN = "calibration_margin"
METHODS = ("platt", "isotonic")


@dataclass(frozen=True)
class Calibration:
    """The chosen calibrator (fitted stages) and the out-of-fold validation log loss of
    each method."""

    method: str
    log_loss: dict[str, float]  # method, and "none" (uncalibrated) -> validation log loss
    stages: tuple

    def applied_to(self, model: PipelineModel) -> PipelineModel:
        """`model` (the tuned or the final churn pipeline) with the calibrator appended."""
        return PipelineModel(stages=[*model.stages, *self.stages])


def _stages(method: str) -> list:
    if method == "platt":
        return [VectorSlicer(inputCol="rawPrediction", outputCol=MARGIN, indices=[1]),
                LogisticRegression(featuresCol=MARGIN, labelCol=LABEL, regParam=0.0,
                                   probabilityCol=CALIBRATED_VECTOR,
                                   rawPredictionCol="calibration_raw",
                                   predictionCol="calibration_prediction")]
    return [IsotonicRegression(featuresCol=PROBABILITY, featureIndex=1, labelCol=LABEL,
                               predictionCol=CALIBRATED, isotonic=True)]


def _fit(method: str, scored: DataFrame) -> list:
    """The calibrator's fitted stages, on rows already scored by the model."""
    fitted, rows = [], scored
    for stage in _stages(method):
        model = stage.fit(rows) if isinstance(stage, Estimator) else stage
        rows = model.transform(rows)
        fitted.append(model)
    return fitted


def _probabilities(stages: list, scored: DataFrame):
    rows = scored
    for stage in stages:
        rows = stage.transform(rows)
    pdf = rows.select(F.col(LABEL).alias("y"), probability_column(rows).alias("p")).toPandas()
    return pdf["y"].to_numpy(), pdf["p"].to_numpy()


def calibrate(tuned: PipelineModel, validation: DataFrame, *, seed: int) -> Calibration:
    """Choose and fit the calibrator on `validation` scored by `tuned` (the model trained
    without the validation rows)."""
    scored = tuned.transform(validation).select(LABEL, "rawPrediction", PROBABILITY,
                                                "customer_id").cache()
    try:
        half = (F.abs(F.xxhash64(F.col("customer_id"), F.lit(seed))) % 2) == 0
        folds = [(scored.where(half), scored.where(~half)),
                 (scored.where(~half), scored.where(half))]
        losses = {"none": m.log_loss(*_probabilities([], scored))}
        for method in METHODS:
            per_fold = []
            for fit_rows, held_out in folds:
                per_fold.append(m.log_loss(*_probabilities(_fit(method, fit_rows), held_out)))
            losses[method] = sum(per_fold) / len(per_fold)
        method = min(METHODS, key=lambda name: losses[name])
        stages = _fit(method, scored)
    finally:
        scored.unpersist()
    return Calibration(method, losses, tuple(stages))
