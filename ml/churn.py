"""The churn model: a Spark ML pipeline (log1p -> assemble -> standardize -> logistic
regression), class weights, the out-of-time tuning search and the fitted coefficients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse import frames
from lakehouse.contracts import GOLD_FEATURES
from lakehouse.settings import ChurnModelSettings
from ml.dataset import LABEL
from ml.parallel import map_in_threads

WEIGHT = "class_weight"
RAW_VECTOR = "churn_features_raw"
VECTOR = "churn_features"
PROBABILITY = "probability"
CHURN_PROBABILITY = "churn_probability"
# What a calibrator appended to the pipeline (ml/calibration.py) outputs: isotonic a
# probability, Platt scaling a probability vector.
CALIBRATED = "calibrated_probability"
CALIBRATED_VECTOR = "calibrated_probability_vector"
LOGGED = frozenset(GOLD_FEATURES.log_features)


@dataclass(frozen=True)
class GridPoint:
    """One tuning candidate and its score on the validation snapshot."""

    reg_param: float
    elastic_net_param: float
    validation_score: float


@dataclass(frozen=True)
class Tuning:
    """Every grid point, the best one and the model it produced (trained on the tuning set)."""

    grid: tuple[GridPoint, ...]
    best: GridPoint
    model: PipelineModel


def model_input_column(feature: str) -> str:
    """The column the assembler reads for `feature` (its log1p column when logged)."""
    return f"log1p_{feature}" if feature in LOGGED else feature


def feature_labels(features: Sequence[str]) -> list[str]:
    """Readable names of the model's inputs, in coefficient order."""
    return [f"log1p({f})" if f in LOGGED else f for f in features]


def log_transformer(features: Sequence[str]) -> SQLTransformer:
    """Adds log1p(max(x, 0)) columns for the contract's skewed features (negative totals,
    e.g. net refunds, count as 0). Part of the saved model, so scoring takes raw gold rows."""
    logged = [f"LOG1P(GREATEST(CAST(`{f}` AS DOUBLE), 0D)) AS `log1p_{f}`"
              for f in features if f in LOGGED]
    select = ", ".join(["*", *logged])
    return SQLTransformer(statement=f"SELECT {select} FROM __THIS__")


def build_preprocessing(cfg: ChurnModelSettings) -> Pipeline:
    """The pipeline's feature stages: log1p -> assemble -> standardize."""
    return Pipeline(stages=[
        log_transformer(cfg.features),
        VectorAssembler(inputCols=[model_input_column(f) for f in cfg.features],
                        outputCol=RAW_VECTOR, handleInvalid="error"),
        StandardScaler(inputCol=RAW_VECTOR, outputCol=VECTOR, withMean=True, withStd=True),
    ])


def build_classifier(cfg: ChurnModelSettings, *, reg_param: float, elastic_net_param: float
                     ) -> LogisticRegression:
    """The pipeline's last stage: logistic regression on the standardized features."""
    return LogisticRegression(featuresCol=VECTOR, labelCol=LABEL, weightCol=WEIGHT,
                              probabilityCol=PROBABILITY, family="binomial",
                              standardization=False, regParam=reg_param,
                              elasticNetParam=elastic_net_param, maxIter=cfg.max_iter)


def build_pipeline(cfg: ChurnModelSettings, *, reg_param: float, elastic_net_param: float
                   ) -> Pipeline:
    """The unfitted churn pipeline for one hyper-parameter setting. Features are standardized
    by the pipeline, so coefficients are per standard deviation and comparable."""
    return Pipeline(stages=[
        *build_preprocessing(cfg).getStages(),
        build_classifier(cfg, reg_param=reg_param, elastic_net_param=elastic_net_param),
    ])


def with_class_weights(df: DataFrame, *, mode: str) -> DataFrame:
    """Add `class_weight`: 1.0 everywhere ('none'), or n / (2 n_class) ('balanced') so both
    classes weigh the same in the loss. Runs one aggregate over `df` when balanced."""
    if mode == "none":
        return df.withColumn(WEIGHT, F.lit(1.0))
    stats = df.agg(F.count(F.lit(1)).alias("n"), F.sum(LABEL).alias("pos")).first()
    n, pos = stats["n"], stats["pos"] or 0.0
    if pos in (0, n):
        raise ValueError("balanced class weights need both classes in the training data")
    return df.withColumn(WEIGHT, F.when(F.col(LABEL) == 1.0, F.lit(n / (2 * pos)))
                         .otherwise(F.lit(n / (2 * (n - pos)))))


@dataclass(frozen=True)
class Prepared:
    """Training rows run through the fitted feature stages once, for several fits: the
    vectors, label and weight the classifier reads, checkpointed (`release` when done)."""

    stages: PipelineModel  # fitted log1p -> assemble -> standardize
    rows: DataFrame  # VECTOR, LABEL, WEIGHT

    def fit(self, cfg: ChurnModelSettings, *, reg_param: float, elastic_net_param: float
            ) -> PipelineModel:
        """The churn pipeline fitted with this setting: the same model `Pipeline.fit` gives
        (the feature stages do not depend on the setting), without refitting them."""
        lr = build_classifier(cfg, reg_param=reg_param,
                              elastic_net_param=elastic_net_param).fit(self.rows)
        return PipelineModel(stages=[*self.stages.stages, lr])

    def release(self) -> None:
        """Drop the cached rows."""
        frames.release(self.rows)


def prepare(train: DataFrame, cfg: ChurnModelSettings) -> Prepared:
    """Class weights, then fit the feature stages on `train` and checkpoint what the
    classifier reads (in `train`'s partitions)."""
    weighted = with_class_weights(train, mode=cfg.class_weighting)
    stages = build_preprocessing(cfg).fit(weighted)
    rows = stages.transform(weighted).select(VECTOR, LABEL, WEIGHT)
    return Prepared(stages, frames.cut_lineage(rows))


def fit(train: DataFrame, cfg: ChurnModelSettings, *, reg_param: float,
        elastic_net_param: float) -> PipelineModel:
    """Fit the churn pipeline on labeled rows."""
    prepared = prepare(train, cfg)
    try:
        return prepared.fit(cfg, reg_param=reg_param, elastic_net_param=elastic_net_param)
    finally:
        prepared.release()


def tune(train: DataFrame, validation: DataFrame, cfg: ChurnModelSettings,
         score: Callable[[PipelineModel, DataFrame], float], *, workers: int = 1) -> Tuning:
    """Fit every (regParam, elasticNetParam) of the grid on `train`, score it on the later
    `validation` snapshot with `score(model, validation)` (higher is better), `workers`
    settings at a time. The feature stages are fitted once and their output kept for all
    settings. Ties go to the stronger regularization."""
    settings = [(reg, mix) for reg in cfg.reg_params for mix in cfg.elastic_net_params]
    prepared = prepare(train, cfg)

    def fit_and_score(setting: tuple[float, float]) -> tuple[GridPoint, PipelineModel]:
        reg, mix = setting
        model = prepared.fit(cfg, reg_param=reg, elastic_net_param=mix)
        return GridPoint(reg, mix, score(model, validation)), model

    try:
        fitted = map_in_threads(fit_and_score, settings, workers=workers)
    finally:
        prepared.release()
    grid, models = [g for g, _ in fitted], [m for _, m in fitted]
    best = max(range(len(grid)), key=lambda i: (grid[i].validation_score, grid[i].reg_param))
    return Tuning(tuple(grid), grid[best], models[best])


def probability_column(scored: DataFrame) -> Column:
    """P(churned = 1) of rows the churn model transformed: its calibrator's output when it
    has one, else the classifier's."""
    if CALIBRATED in scored.columns:
        return F.col(CALIBRATED)
    vector = CALIBRATED_VECTOR if CALIBRATED_VECTOR in scored.columns else PROBABILITY
    return vector_to_array(F.col(vector))[1]


def with_churn_probability(df: DataFrame, model: PipelineModel, *,
                           uncalibrated: str | None = None) -> DataFrame:
    """`df` with `churn_probability` (P(churned = 1)) and the model's intermediate columns
    dropped again: the input columns plus one; with `uncalibrated`, plus the classifier's
    own probability (before a calibrator) under that name, from the same pass."""
    scored = model.transform(df)
    extra = ([vector_to_array(F.col(PROBABILITY))[1].alias(uncalibrated)]
             if uncalibrated else [])
    return scored.select(*df.columns, probability_column(scored).alias(CHURN_PROBABILITY),
                         *extra)


def spark_roc_auc(df: DataFrame, model: PipelineModel) -> float:
    """ROC AUC of the model on labeled rows, computed in Spark (for large sets such as the
    training data, which is never collected). Binned by Spark: approximate."""
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=PROBABILITY, labelCol=LABEL,
                                              metricName="areaUnderROC")
    return float(evaluator.evaluate(model.transform(df)))


def coefficients(model: PipelineModel, cfg: ChurnModelSettings) -> dict[str, float]:
    """Coefficient per standardized input (readable names) plus `intercept`."""
    lr = next(stage for stage in model.stages if isinstance(stage, LogisticRegressionModel)
              and stage.getFeaturesCol() == VECTOR)  # not a Platt calibrator after it
    names = feature_labels(cfg.features)
    values = dict(zip(names, (float(c) for c in lr.coefficients.toArray()), strict=True))
    return {**values, "intercept": float(lr.intercept)}
