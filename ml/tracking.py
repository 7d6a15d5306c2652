"""MLflow plumbing: local stores by default, run metadata (git, configuration, Delta table
versions, dataset inputs and fingerprints), figures and Spark models.

Local default: tracking and registry in `sqlite:///<paths.mlflow>/mlflow.db`, artifacts in
`<paths.mlflow>/artifacts`. Nothing here talks to a network unless `mlflow.tracking_uri`
says so (e.g. `databricks`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyspark
import yaml
from matplotlib.figure import Figure
from mlflow.data.delta_dataset_source import DeltaDatasetSource
from mlflow.data.spark_dataset import SparkDataset
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from lakehouse.settings import Settings
from ml.plots import save

QUIET_LOGGERS = ("mlflow", "alembic", "py4j", "urllib3", "git")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableRead:
    """A Delta table read at a pinned version."""

    name: str
    version: int
    location: str
    df: DataFrame


def tracking_uri(settings: Settings) -> str:
    """The configured tracking URI, or the local SQLite store under paths.mlflow."""
    if settings.mlflow.tracking_uri:
        return settings.mlflow.tracking_uri
    return f"sqlite:///{(settings.paths.mlflow / 'mlflow.db').resolve()}"


def artifact_root(settings: Settings) -> str | None:
    """Where new experiments keep artifacts: a local folder with the local store, else the
    tracking server's default (None)."""
    if settings.mlflow.tracking_uri:
        return None
    return (settings.paths.mlflow / "artifacts").resolve().as_uri()


def configure(settings: Settings) -> str:
    """Point MLflow at the configured stores, quieten its logging and return the id of the
    configured experiment (created with the local artifact root if missing)."""
    if not settings.mlflow.tracking_uri:
        settings.paths.mlflow.mkdir(parents=True, exist_ok=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(settings.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.create_experiment(settings.mlflow.experiment,
                                    artifact_location=artifact_root(settings))


def close_orphaned_runs(settings: Settings, experiment_id: str) -> list[str]:
    """Mark the experiment's runs still `RUNNING` as `KILLED` and return their ids. Called by
    `make train` while it holds the lake's lock (lakehouse/tables/lock.py) on the local
    store: no other training can be running, so such runs were left by a process that was
    killed (SIGKILL, power loss) before MLflow could end them. With a remote tracking
    server other lakes may share the experiment, so nothing is touched there."""
    if settings.mlflow.tracking_uri:
        return []
    client = mlflow.MlflowClient()
    orphans = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    for run in orphans:
        client.set_tag(run.info.run_id, "ended_by", "a later `make train`: its process died")
        client.set_terminated(run.info.run_id, status="KILLED")
        log.warning("MLflow run %s (%s) was left running by a killed process: marked KILLED",
                    run.info.run_id, run.info.run_name)
    return [run.info.run_id for run in orphans]


def git_commit(root: Path) -> str | None:
    """HEAD commit of the project (with `-dirty` if there are local changes), or None when
    git or the repository is missing."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if status else head or None


def common_tags(settings: Settings, lakehouse_run_id: str, tables: Mapping[str, TableRead]
                ) -> dict[str, str]:
    """Tags every training run carries: environment, lakehouse run id, git commit and the
    Delta versions of the tables read."""
    tags = {"env": settings.env, "lakehouse_run_id": lakehouse_run_id,
            "git_commit": git_commit(settings.project_root) or "unavailable"}
    tags |= {f"table.{t.name}.version": str(t.version) for t in tables.values()}
    return tags


def log_settings(settings: Settings) -> None:
    """The whole effective configuration as `config/settings.yml`."""
    data = settings.model_dump(mode="json", by_alias=True)
    mlflow.log_text(yaml.safe_dump(data, sort_keys=False), "config/settings.yml")


@contextlib.contextmanager
def _no_integer_hint() -> Iterator[None]:
    """Silence MLflow's hint that integer columns cannot hold missing values: gold features
    are never NULL, so integer schemas are right."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        yield


class _PinnedDeltaSource(DeltaDatasetSource):
    """DeltaDatasetSource that keeps version 0 (MLflow drops a falsy version from the
    source it records)."""

    def to_dict(self) -> dict[Any, Any]:
        info = super().to_dict()
        if self._delta_table_version is not None:
            info["delta_table_version"] = self._delta_table_version
        return info


class _CountedSparkDataset(SparkDataset):
    """A SparkDataset whose profile is a row count we already know (the stock profile runs
    an extra Spark job per dataset)."""

    def __init__(self, *args: Any, num_rows: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._num_rows = num_rows

    @property
    def profile(self) -> Any:
        return {"num_rows": self._num_rows}


def log_dataset(df: DataFrame, *, name: str, source: TableRead, context: str,
                digest: str | None = None, num_rows: int, targets: str | None = None,
                tags: Mapping[str, str] | None = None) -> None:
    """Record `df` as an MLflow dataset input read from `source` at its Delta version (in the
    dataset source and as input tags). `digest` is cut to 32 characters (MLflow allows 36);
    by default it is Spark's plan hash."""
    with _no_integer_hint():
        dataset = _CountedSparkDataset(
            df=df, name=name, digest=digest[:32] if digest else None, targets=targets,
            source=_PinnedDeltaSource(path=source.location, delta_table_version=source.version),
            num_rows=num_rows)
        tags = {"table": source.name, "table_version": str(source.version), **(tags or {})}
        mlflow.log_input(dataset, context=context, tags=tags)


def log_figures(figures: Mapping[str, Figure], folder: Path, *, dpi: int,
                artifact_path: str = "plots") -> list[Path]:
    """Save each figure as `<folder>/<name>.png` and log them under `artifact_path`."""
    paths = [save(fig, folder / f"{name}.png", dpi=dpi) for name, fig in figures.items()]
    for path in paths:
        mlflow.log_artifact(str(path), artifact_path)
    return paths


def log_frame(df: pd.DataFrame, artifact_file: str) -> None:
    """A small pandas table as a CSV artifact."""
    mlflow.log_text(df.to_csv(index=True), artifact_file)


def pip_requirements() -> list[str]:
    """Requirements of the logged Spark models (stated, not inferred: inference would load
    the model in a fresh Spark process). PySpark is a range from the running minor version
    to the next major, never a pin: where a model is loaded (a Databricks runtime, a serving
    endpoint) its Spark comes with the platform and must not be replaced by pip."""
    major, minor = (int(part) for part in pyspark.__version__.split(".")[:2])
    return [f"pyspark>={major}.{minor},<{major + 1}", f"mlflow=={mlflow.__version__}"]


def log_spark_model(model: PipelineModel, *, name: str, example: pd.DataFrame,
                    output: pd.DataFrame) -> ModelInfo:
    """Log a fitted Spark pipeline with signature and input example (a few rows of raw model
    inputs; MLflow checks that the logged model scores them)."""
    with _no_integer_hint():
        signature = infer_signature(example, output)
    # The Spark flavour's second parameter is `artifact_path` from MLflow 3.8 (the runtime's)
    # to 3.17 (no `name=` keyword as the other flavours have): passed by position.
    return mlflow.spark.log_model(model, name, signature=signature,
                                  input_example=example, pip_requirements=pip_requirements())


def register(info: ModelInfo, name: str) -> str:
    """Register a logged model as a new version of `name` and return the version. MLflow's
    progress lines go to the debug log, not the console."""
    chatter = io.StringIO()
    with contextlib.redirect_stderr(chatter):
        version = mlflow.register_model(info.model_uri, name, await_registration_for=0)
    log.debug("%s", chatter.getvalue().strip())
    return str(version.version)
