"""One segmentation run: K-means on the latest feature snapshot, profiles, names, plots,
MLflow logging and registration (the newest segmentation always becomes `champion`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.progress import step
from lakehouse.settings import Settings
from ml import dataset, partitions, registry, segments, tracking
from ml.plots import segments as segment_plots
from ml.tracking import TableRead

NAMES_TAG = "segment_names"  # model version tag: JSON {segment_id: name}


@dataclass(frozen=True)
class SegmentRun:
    """What a segmentation run produced."""

    run_id: str
    as_of_date: date
    best: segments.KCandidate
    profile: pd.DataFrame  # indexed by segment_id, with segment_name
    version: str
    plots: tuple[Path, ...]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True)
class SegmentFit:
    """The k search on the latest feature snapshot (no MLflow calls: it may run in a thread
    while the churn model trains)."""

    as_of_date: date
    snapshot: DataFrame  # cached: `release` when done
    rows: int
    segmentation: segments.Segmentation

    def release(self) -> None:
        """Drop the cached snapshot."""
        self.snapshot.unpersist()


def fit_segments(settings: Settings, features: TableRead) -> SegmentFit:
    """K-means for every k on the latest feature snapshot, k chosen by silhouette."""
    cfg = settings.ml
    as_of = dataset.latest_date(features.df)
    snapshot = features.df.where(F.col("as_of_date") == F.lit(as_of))
    snapshot = snapshot.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = snapshot.count()
        fit_rows = partitions.training_partitions(snapshot, rows,
                                                  rows_per_partition=cfg.rows_per_partition,
                                                  keys=dataset.KEYS)
        with step(f"segments: K-means for k in {cfg.segments.k_min}..{cfg.segments.k_max}"):
            seg = segments.choose_k(fit_rows, cfg.segments, seed=cfg.seed,
                                    workers=cfg.parallel_fits)
    except BaseException:
        snapshot.unpersist()
        raise
    return SegmentFit(as_of, snapshot, rows, seg)


def run_segments(settings: Settings, run_id: str, features: TableRead, labels: TableRead, *,
                 labeled_test: DataFrame | None, experiment_id: str, out_dir: Path,
                 fitted: SegmentFit | None = None) -> SegmentRun:
    """Segment the latest feature snapshot (or take the search `fitted` already ran);
    profile churn on `labeled_test` (the latest labeled snapshot, assigned with the same
    model) when given."""
    cfg = settings.ml
    fitted = fitted or fit_segments(settings, features)
    as_of, snapshot, rows, seg = (fitted.as_of_date, fitted.snapshot, fitted.rows,
                                  fitted.segmentation)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"segments-{as_of}",
                          tags={"model": "segments"}) as run:
        mlflow.set_tags(tracking.common_tags(settings, run_id,
                                             {"features": features, "labels": labels}))
        tracking.log_settings(settings)
        tracking.log_dataset(snapshot, name="segments_snapshot", source=features,
                             context="training", num_rows=rows,
                             tags={"as_of_date": as_of.isoformat()})
        labeled, churn_as_of = None, None
        if labeled_test is not None:
            labeled = segments.assign(labeled_test, seg.model)
            churn_as_of = dataset.latest_date(labeled_test).isoformat()
        prof = segments.profile(segments.assign(snapshot, seg.model), labeled)
        names = segments.name_segments(prof)
        prof = segments.with_segment_names(prof, names)
        mlflow.log_params({"as_of_date": as_of.isoformat(), "rfm_features":
                           ",".join(segments.RFM.values()), "k_min": cfg.segments.k_min,
                           "k_max": cfg.segments.k_max, "max_iter": cfg.segments.max_iter,
                           "seed": cfg.seed, "chosen_k": seg.best.k, "customers": rows,
                           "gold_features_version": features.version,
                           "churn_rate_as_of": churn_as_of or "unavailable"})
        # Every k as a curve (step = k); the run's own silhouette and inertia are the
        # chosen k's (a metric's run-level value is its last logged step otherwise).
        for c in seg.candidates:
            mlflow.log_metrics({"silhouette_by_k": c.silhouette, "inertia_by_k": c.inertia},
                               step=c.k)
        mlflow.log_metrics({"silhouette": seg.best.silhouette, "inertia": seg.best.inertia}
                           | {f"segment_share_{_slug(n)}": s
                              for n, s in zip(prof["segment_name"], prof["share"], strict=True)})
        tracking.log_frame(prof, "segments/profile.csv")
        mlflow.log_dict({str(k): v for k, v in names.items()}, "segments/names.json")
        figures = {
            "k_selection": segment_plots.k_selection(seg.candidates, chosen=seg.best.k),
            "segment_profiles": segment_plots.profile_heatmap(
                prof, as_of=as_of.isoformat(), churn_as_of=churn_as_of),
            "segment_sizes": segment_plots.segment_sizes(prof, as_of=as_of.isoformat()),
        }
        plots = tracking.log_figures(figures, out_dir, dpi=cfg.plot_dpi)
        with step("segments: logging and registering the model"):
            version = _register(settings, snapshot, seg, names)
        mlflow.set_tag("model_version", version)
    fitted.release()
    return SegmentRun(run.info.run_id, as_of, seg.best, prof, version, tuple(plots))


def _register(settings: Settings, snapshot: DataFrame, seg: segments.Segmentation,
              names: dict[int, str]) -> str:
    name = settings.mlflow.segment_model_name
    example = snapshot.select(*segments.RFM.values()).limit(5)
    output = seg.model.transform(example).select(segments.PREDICTION).toPandas()
    info = tracking.log_spark_model(seg.model, name="segmenter", example=example.toPandas(),
                                    output=output)
    version = tracking.register(info, name)
    client = MlflowClient()
    client.set_model_version_tag(name, version, NAMES_TAG,
                                 json.dumps({str(k): v for k, v in names.items()}))
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    return version
