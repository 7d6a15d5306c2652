"""The churn model: one Spark ML pipeline per model family (BG/NBD lifetime features ->
log1p -> assemble -> standardize -> classifier), class weights, the tuning grid of each
family, the out-of-time search and what drives a fitted model.

Every family reads the same feature stages: they are fitted once on a training set and
their output is reused for every setting of every family (`Prepared`). Trees do not need
the log and the scaling (they are invariant to monotone transforms) but lose nothing by
them, and one set of stages keeps one definition of a model input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import (
    GBTClassificationModel,
    GBTClassifier,
    LogisticRegression,
    LogisticRegressionModel,
    RandomForestClassificationModel,
    RandomForestClassifier,
)
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse import frames
from lakehouse.contracts import GOLD_FEATURES, LIFETIME_FEATURES, LIFETIME_LOGGED
from lakehouse.settings import ChurnModelSettings
from ml import lifetime
from ml.bgnbd import BgNbd
from ml.dataset import LABEL
from ml.parallel import map_in_threads

WEIGHT = "class_weight"
RAW_VECTOR = "churn_features_raw"
VECTOR = "churn_features"
PROBABILITY = "probability"  # every family's default probability column
CHURN_PROBABILITY = "churn_probability"
# What a calibrator appended to the pipeline (ml/calibration.py) outputs: isotonic a
# probability, Platt scaling a probability vector.
CALIBRATED = "calibrated_probability"
CALIBRATED_VECTOR = "calibrated_probability_vector"
LOGGED = frozenset(GOLD_FEATURES.log_features) | frozenset(LIFETIME_LOGGED)


@dataclass(frozen=True)
class Family:
    """A model family: its estimator, how its config grid names map to Spark params, what
    is fixed, and which of two settings is simpler (for ties)."""

    name: str  # its key in ml.churn.families and its grid section
    label: str
    estimator: type
    model_class: type
    spark_names: Mapping[str, str]  # grid key -> Spark param
    complexity: Callable[[Mapping[str, float]], tuple]  # lower = simpler
    fixed: Mapping[str, object] = field(default_factory=dict)
    seeded: bool = True


FAMILIES = {f.name: f for f in (
    Family("logistic_regression", "logistic regression", LogisticRegression,
           LogisticRegressionModel,
           {"reg_param": "regParam", "elastic_net_param": "elasticNetParam",
            "max_iter": "maxIter"},
           lambda p: (-p["reg_param"], p["elastic_net_param"], p["max_iter"]),
           fixed={"family": "binomial", "standardization": False}, seeded=False),
    Family("gbt", "gradient-boosted trees", GBTClassifier, GBTClassificationModel,
           {"max_depth": "maxDepth", "max_iter": "maxIter", "step_size": "stepSize"},
           lambda p: (p["max_depth"], p["max_iter"], p["step_size"])),
    Family("random_forest", "random forest", RandomForestClassifier,
           RandomForestClassificationModel,
           {"max_depth": "maxDepth", "num_trees": "numTrees"},
           lambda p: (p["max_depth"], p["num_trees"])),
)}


@dataclass(frozen=True)
class Setting:
    """One point of a family's grid."""

    family: str
    params: tuple[tuple[str, float], ...]  # (grid key, value) in the grid's order

    @property
    def values(self) -> dict[str, float]:
        return dict(self.params)

    def label(self) -> str:
        """E.g. `gbt max_depth=3 max_iter=40 step_size=0.1`."""
        return " ".join([self.family, *(f"{k}={v:g}" for k, v in self.params)])


@dataclass(frozen=True)
class GridPoint:
    """One tuning candidate and its score on the validation snapshot."""

    setting: Setting
    validation_score: float


@dataclass(frozen=True)
class Tuning:
    """Every grid point, and per family the best point and its model (trained on the
    tuning snapshots). `candidate` is the family of the best point overall."""

    grid: tuple[GridPoint, ...]
    best: Mapping[str, GridPoint]
    models: Mapping[str, PipelineModel]

    @property
    def candidate(self) -> str:
        return best_of([self.best[f] for f in self.best]).setting.family


@dataclass(frozen=True)
class ModelSpec:
    """What the churn pipeline is, apart from the classifier's setting."""

    cfg: ChurnModelSettings
    horizon_days: int
    seed: int

    @property
    def uses_lifetime(self) -> bool:
        return any(f in LIFETIME_FEATURES for f in self.cfg.features)


def gold_columns(features: Sequence[str]) -> list[str]:
    """The gold columns a model with these inputs reads (a lifetime feature reads BG/NBD's
    sources), in order, once each."""
    columns = [c for f in features
               for c in (lifetime.SOURCES if f in LIFETIME_FEATURES else (f,))]
    return list(dict.fromkeys(columns))


def grid(cfg: ChurnModelSettings) -> list[Setting]:
    """Every setting of every configured family, families in their configured order."""
    settings = []
    for name in cfg.families:
        section = getattr(cfg, name).model_dump()
        keys = list(section)
        for values in itertools.product(*(section[k] for k in keys)):
            settings.append(Setting(name, tuple(zip(keys, values, strict=True))))
    return settings


def best_of(points: Sequence[GridPoint]) -> GridPoint:
    """The highest validation score; ties go to the family listed first (points come in
    grid order), then to the simpler setting."""
    order = {p.setting.family: i for i, p in reversed(list(enumerate(points)))}

    def key(p: GridPoint):
        family = FAMILIES[p.setting.family]
        return (-p.validation_score, order[p.setting.family],
                family.complexity(p.setting.values))
    return min(points, key=key)


def model_input_column(feature: str) -> str:
    """The column the assembler reads for `feature` (its log1p column when logged)."""
    return f"log1p_{feature}" if feature in LOGGED else feature


def feature_labels(features: Sequence[str]) -> list[str]:
    """Readable names of the model's inputs, in vector order."""
    return [f"log1p({f})" if f in LOGGED else f for f in features]


def log_transformer(features: Sequence[str]) -> SQLTransformer:
    """Adds log1p(max(x, 0)) columns for the skewed features (negative totals, e.g. net
    refunds, count as 0). Part of the saved model, so scoring takes raw gold rows."""
    logged = [f"LOG1P(GREATEST(CAST(`{f}` AS DOUBLE), 0D)) AS `log1p_{f}`"
              for f in features if f in LOGGED]
    select = ", ".join(["*", *logged])
    return SQLTransformer(statement=f"SELECT {select} FROM __THIS__")


def build_preprocessing(features: Sequence[str], lifetime_params: BgNbd | None = None, *,
                        horizon_days: int | None = None) -> Pipeline:
    """The pipeline's feature stages: [BG/NBD features ->] log1p -> assemble ->
    standardize. The lifetime stage is there when `lifetime_params` are given."""
    stages = ([lifetime.transformer(lifetime_params, horizon_days)]
              if lifetime_params is not None else [])
    return Pipeline(stages=[
        *stages,
        log_transformer(features),
        VectorAssembler(inputCols=[model_input_column(f) for f in features],
                        outputCol=RAW_VECTOR, handleInvalid="error"),
        StandardScaler(inputCol=RAW_VECTOR, outputCol=VECTOR, withMean=True, withStd=True),
    ])


def build_classifier(setting: Setting, *, seed: int):
    """The pipeline's last stage for one setting, reading the standardized features."""
    family = FAMILIES[setting.family]
    params = {family.spark_names[k]: (int(v) if isinstance(v, int) else float(v))
              for k, v in setting.params}
    if family.seeded:
        params["seed"] = seed
    return family.estimator(featuresCol=VECTOR, labelCol=LABEL, weightCol=WEIGHT,
                            **family.fixed, **params)


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

    stages: PipelineModel  # fitted [BG/NBD ->] log1p -> assemble -> standardize
    rows: DataFrame  # VECTOR, LABEL, WEIGHT
    lifetime_params: BgNbd | None

    def fit(self, setting: Setting, *, seed: int) -> PipelineModel:
        """The churn pipeline fitted with this setting: the same model `Pipeline.fit` gives
        (the feature stages do not depend on the setting), without refitting them."""
        classifier = build_classifier(setting, seed=seed).fit(self.rows)
        return PipelineModel(stages=[*self.stages.stages, classifier])

    def release(self) -> None:
        """Drop the cached rows."""
        frames.release(self.rows)


def prepare(train: DataFrame, spec: ModelSpec) -> Prepared:
    """Class weights; the BG/NBD model fitted on `train` (when a lifetime feature is an
    input); the feature stages fitted on `train`; and what the classifier reads,
    checkpointed in `train`'s partitions."""
    cfg = spec.cfg
    weighted = with_class_weights(train, mode=cfg.class_weighting)
    params = (lifetime.fit(train, max_customers=cfg.lifetime_max_customers, seed=spec.seed)
              if spec.uses_lifetime else None)
    stages = build_preprocessing(cfg.features, params,
                                 horizon_days=spec.horizon_days).fit(weighted)
    rows = stages.transform(weighted).select(VECTOR, LABEL, WEIGHT)
    return Prepared(stages, frames.cut_lineage(rows), params)


def fit(train: DataFrame, spec: ModelSpec, setting: Setting) -> PipelineModel:
    """Fit the churn pipeline of one setting on labeled rows."""
    prepared = prepare(train, spec)
    try:
        return prepared.fit(setting, seed=spec.seed)
    finally:
        prepared.release()


def tune(train: DataFrame, validation: DataFrame, spec: ModelSpec,
         score: Callable[[PipelineModel, DataFrame], float], *, workers: int = 1) -> Tuning:
    """Fit every setting of every family on `train`, score it on the later `validation`
    snapshot with `score(model, validation)` (higher is better), `workers` at a time. The
    feature stages (and BG/NBD) are fitted once and their output kept for all settings."""
    settings = grid(spec.cfg)
    prepared = prepare(train, spec)

    def fit_and_score(setting: Setting) -> tuple[GridPoint, PipelineModel]:
        model = prepared.fit(setting, seed=spec.seed)
        return GridPoint(setting, score(model, validation)), model

    try:
        fitted = map_in_threads(fit_and_score, settings, workers=workers)
    finally:
        prepared.release()
    best, models = {}, {}
    for name in spec.cfg.families:
        mine = [(p, m) for p, m in fitted if p.setting.family == name]
        best[name] = best_of([p for p, _ in mine])
        models[name] = next(m for p, m in mine if p is best[name])
    return Tuning(tuple(p for p, _ in fitted), best, models)


def probability_column(scored: DataFrame) -> Column:
    """P(churned = 1) of rows the churn model transformed: its calibrator's output when it
    has one, else the classifier's."""
    if CALIBRATED in scored.columns:
        return F.col(CALIBRATED)
    vector = CALIBRATED_VECTOR if CALIBRATED_VECTOR in scored.columns else PROBABILITY
    return vector_to_array(F.col(vector))[1]


def with_churn_probability(df: DataFrame, model: PipelineModel, *,
                           uncalibrated: str | None = None, keep: Sequence[str] = ()
                           ) -> DataFrame:
    """`df` with `churn_probability` (P(churned = 1)) and the model's intermediate columns
    dropped again: the input columns plus one; with `uncalibrated`, plus the classifier's
    own probability (before a calibrator) under that name, and the columns of `keep` the
    model computed (e.g. its BG/NBD expected purchases), all from the same pass."""
    scored = model.transform(df)
    extra = ([vector_to_array(F.col(PROBABILITY))[1].alias(uncalibrated)]
             if uncalibrated else [])
    extra += [F.col(c) for c in keep if c in scored.columns and c not in df.columns]
    return scored.select(*df.columns, probability_column(scored).alias(CHURN_PROBABILITY),
                         *extra)


def spark_roc_auc(df: DataFrame, model: PipelineModel) -> float:
    """ROC AUC of the model on labeled rows, computed in Spark (for large sets such as the
    training data, which is never collected). Binned by Spark: approximate."""
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=PROBABILITY, labelCol=LABEL,
                                              metricName="areaUnderROC")
    return float(evaluator.evaluate(model.transform(df)))


def classifier_of(model: PipelineModel):
    """The family's fitted classifier in a churn pipeline (not a Platt calibrator)."""
    kinds = tuple(f.model_class for f in FAMILIES.values())
    return next(s for s in model.stages if isinstance(s, kinds)
                and s.getFeaturesCol() == VECTOR)


def family_of(model: PipelineModel) -> str:
    """The family name of a fitted churn pipeline."""
    classifier = classifier_of(model)
    return next(f.name for f in FAMILIES.values() if isinstance(classifier, f.model_class))


@dataclass(frozen=True)
class Drivers:
    """What drives a fitted model, per readable input name: the standardized coefficients
    (plus `intercept`) of a logistic regression, the impurity importances of trees."""

    kind: str  # "coefficient" | "importance"
    values: dict[str, float]


def drivers(model: PipelineModel, features: Sequence[str]) -> Drivers:
    """The drivers of a fitted churn pipeline whose inputs are `features`."""
    classifier = classifier_of(model)
    names = feature_labels(features)
    if isinstance(classifier, LogisticRegressionModel):
        values = dict(zip(names, map(float, classifier.coefficients.toArray()), strict=True))
        return Drivers("coefficient", {**values, "intercept": float(classifier.intercept)})
    importances = classifier.featureImportances.toArray()
    return Drivers("importance", dict(zip(names, map(float, importances), strict=True)))
