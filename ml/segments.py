"""Customer segmentation: K-means on standardized log RFM features, k chosen by silhouette,
segments profiled and named from their profiles."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse import frames
from lakehouse.settings import SegmentSettings
from ml.dataset import LABEL
from ml.parallel import map_in_threads

SEGMENT = "segment_id"
PREDICTION = "prediction"  # K-means output column: the name MLflow's pyfunc flavor returns
RFM = {"recency": "recency_days", "frequency": "frequency", "monetary": "total_spend"}
RAW_VECTOR = "rfm_raw"
VECTOR = "rfm_scaled"
PROFILE_MEANS = ("recency_days", "frequency", "total_spend", "tenure_days")

# Anchors first, then the rest by best fit. Affinities use z-scores across segments of the
# log profile means: r = recency (high = long gone), f = frequency, m = spend, t = tenure.
CHAMPIONS = ("Champions", lambda z: -z["r"] + z["f"] + z["m"])
HIBERNATING = ("Hibernating", lambda z: z["r"] - z["f"] - z["m"])
OTHER_NAMES = (
    ("At risk", lambda z: z["r"] + (z["f"] + z["m"]) / 2),
    ("Loyal", lambda z: -z["r"] + z["f"]),
    ("New", lambda z: -z["r"] - z["t"] - z["f"] / 2),
    ("Promising", lambda z: -z["r"] - z["f"] / 2),
    ("About to sleep", lambda z: z["r"] - z["f"]),
    ("Needs attention", lambda z: -abs(z["r"]) - abs(z["f"]) - abs(z["m"])),
)


@dataclass(frozen=True)
class KCandidate:
    """One k tried: its silhouette (higher is better) and inertia (K-means training cost)."""

    k: int
    silhouette: float
    inertia: float


@dataclass(frozen=True)
class Segmentation:
    """The chosen model and every k tried."""

    model: PipelineModel
    best: KCandidate
    candidates: tuple[KCandidate, ...]


def build_preprocessing() -> Pipeline:
    """The pipeline's feature stages: log1p(max(x, 0)) of recency, frequency and spend ->
    assemble -> standardize."""
    logged = ", ".join(f"LOG1P(GREATEST(CAST(`{c}` AS DOUBLE), 0D)) AS `log1p_{c}`"
                       for c in RFM.values())
    return Pipeline(stages=[
        SQLTransformer(statement=f"SELECT *, {logged} FROM __THIS__"),
        VectorAssembler(inputCols=[f"log1p_{c}" for c in RFM.values()], outputCol=RAW_VECTOR),
        StandardScaler(inputCol=RAW_VECTOR, outputCol=VECTOR, withMean=True, withStd=True),
    ])


def build_clusterer(k: int, *, seed: int, max_iter: int) -> KMeans:
    """The pipeline's last stage: K-means(k) on the standardized features."""
    return KMeans(featuresCol=VECTOR, predictionCol=PREDICTION, k=k, seed=seed, maxIter=max_iter)


def build_pipeline(k: int, *, seed: int, max_iter: int) -> Pipeline:
    """log1p(max(x, 0)) of recency, frequency and spend -> standardize -> K-means(k)."""
    return Pipeline(stages=[*build_preprocessing().getStages(),
                            build_clusterer(k, seed=seed, max_iter=max_iter)])


def choose_k(snapshot: DataFrame, cfg: SegmentSettings, *, seed: int,
             workers: int = 1) -> Segmentation:
    """Fit K-means for each k in [k_min, k_max] (`workers` at a time) and keep the best
    silhouette (squared Euclidean, on the standardized features, every row); ties go to the
    smaller k. The feature stages do not depend on k: they are fitted once and their output
    cached for every k, and each model is those stages plus its K-means stage (the model
    `build_pipeline(k).fit(snapshot)` gives)."""
    stages = build_preprocessing().fit(snapshot)
    vectors = frames.cut_lineage(stages.transform(snapshot).select(VECTOR))

    def fit_one(k: int) -> tuple[KCandidate, PipelineModel]:
        evaluator = ClusteringEvaluator(featuresCol=VECTOR, predictionCol=PREDICTION,
                                        metricName="silhouette",
                                        distanceMeasure="squaredEuclidean")
        kmeans = build_clusterer(k, seed=seed, max_iter=cfg.max_iter).fit(vectors)
        silhouette = float(evaluator.evaluate(kmeans.transform(vectors)))
        model = PipelineModel(stages=[*stages.stages, kmeans])
        return KCandidate(k, silhouette, float(kmeans.summary.trainingCost)), model

    try:
        fitted = map_in_threads(fit_one, range(cfg.k_min, cfg.k_max + 1), workers=workers)
    finally:
        frames.release(vectors)
    best, model = max(fitted, key=lambda pair: (pair[0].silhouette, -pair[0].k))
    return Segmentation(model, best, tuple(c for c, _ in fitted))


def assign(df: DataFrame, model: PipelineModel) -> DataFrame:
    """`df` plus `segment_id` (int)."""
    return model.transform(df).select(*df.columns, F.col(PREDICTION).cast("int").alias(SEGMENT))


def profile(assigned: DataFrame, labeled: DataFrame | None = None) -> pd.DataFrame:
    """Per segment: customers, share, mean recency/frequency/spend/tenure and, when `labeled`
    (segment-assigned rows with a `label`) is given, the churn rate observed there. A few rows."""
    means = [F.avg(c).alias(f"mean_{c}") for c in PROFILE_MEANS]
    prof = (assigned.groupBy(SEGMENT).agg(F.count(F.lit(1)).alias("customers"), *means)
            .toPandas().set_index(SEGMENT).sort_index())
    prof["share"] = prof["customers"] / prof["customers"].sum()
    prof["churn_rate"] = np.nan
    if labeled is not None:
        rates = labeled.groupBy(SEGMENT).agg(F.avg(LABEL).alias("r")).toPandas()
        prof["churn_rate"] = rates.set_index(SEGMENT)["r"].reindex(prof.index)
    return prof


def _zscores(prof: pd.DataFrame) -> pd.DataFrame:
    logs = pd.DataFrame({
        "r": np.log1p(prof["mean_recency_days"].clip(lower=0)),
        "f": np.log1p(prof["mean_frequency"].clip(lower=0)),
        "m": np.log1p(prof["mean_total_spend"].clip(lower=0)),
        "t": np.log1p(prof["mean_tenure_days"].clip(lower=0)),
    })
    spread = logs.std(ddof=0).replace(0, 1.0)
    return (logs - logs.mean()) / spread


def name_segments(prof: pd.DataFrame) -> dict[int, str]:
    """A unique readable name per segment from its profile (rules on standardized log means):
    the best recency+frequency+spend segment is 'Champions', the worst 'Hibernating', and the
    rest get the names that fit them best overall (At risk, Loyal, New, Promising, About to
    sleep, Needs attention); beyond those, 'Segment <id>'."""
    z = _zscores(prof)
    rows = {int(i): z.loc[i] for i in z.index}
    names: dict[int, str] = {}
    for name, affinity in (CHAMPIONS, HIBERNATING):
        left = [i for i in rows if i not in names]
        if left:
            names[max(left, key=lambda i, a=affinity: (a(rows[i]), -i))] = name
    left = sorted(i for i in rows if i not in names)
    if len(left) <= len(OTHER_NAMES):
        options = ((tuple(left), c) for c in itertools.permutations(OTHER_NAMES, len(left)))
    else:
        options = ((s, OTHER_NAMES) for s in itertools.permutations(left, len(OTHER_NAMES)))
    best_total, best = -np.inf, ((), ())
    for segments, choice in options:
        total = sum(a(rows[i]) for i, (_, a) in zip(segments, choice, strict=True))
        if total > best_total + 1e-12:
            best_total, best = total, (segments, choice)
    names.update({i: name for i, (name, _) in zip(*best, strict=True)})
    names.update({i: f"Segment {i}" for i in left if i not in names})
    return dict(sorted(names.items()))


def with_segment_names(prof: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    """The profile with a `segment_name` column, ordered by recency (most recent first)."""
    named = prof.assign(segment_name=[names[int(i)] for i in prof.index])
    return named.sort_values("mean_recency_days")
