"""The bundle's job as a Databricks job cluster runs it, in the runtime twin
(`make test-runtime-twin`, tools/twin.py): the runtime's package versions, the installed
wheel's console scripts called in the job's task order with the job's parameters and
environment variables, the session already active (the test's, as the cluster's), tables
under three-part names in a local catalog, MLflow on a local store instead of the
workspace's. Outside the twin these tests are skipped (the source tree is not the wheel)."""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from packaging.requirements import Requirement
from pyspark.sql import SparkSession

from datagen import GeneratorSpec, generate

pytestmark = pytest.mark.skipif(not os.environ.get("LAKEHOUSE_RUNTIME_TWIN"),
                                reason="runs in the runtime twin: make test-runtime-twin")

BUNDLE = Path(os.environ.get("LAKEHOUSE_BUNDLE_ROOT", Path(__file__).resolve().parents[2]))
JOB_FILE, JOB = "resources/lakehouse_job.yml", "lakehouse_pipeline"
DISTRIBUTION = "customer-analytics-lakehouse"
SCHEMA = "lakehouse_twin"
SAMPLE = GeneratorSpec(rows=60_000, customers=1_500, months=18, seed=11)


def variables(root: Path) -> dict[str, str]:
    """The bundle's variables, pointed at local folders and the local catalog."""
    return {"catalog": "spark_catalog", "schema": SCHEMA,
            "landing": str(root / "volume" / "landing"),
            "volume_root": str(root / "volume" / "lakehouse"),
            "experiment": "/Shared/customer-analytics-twin",
            "model_name": f"spark_catalog.{SCHEMA}.customer_churn",
            "segment_model_name": f"spark_catalog.{SCHEMA}.customer_segments"}


def substitute(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        assert match.group(1) in values, f"the twin has no value for ${{var.{match.group(1)}}}"
        return values[match.group(1)]
    return re.sub(r"\$\{var\.([\w-]+)\}", value, text)


def job_spec(values: dict[str, str]) -> tuple[list[dict], dict[str, str]]:
    """The job's tasks in dependency order and its cluster's environment variables."""
    job = yaml.safe_load((BUNDLE / JOB_FILE).read_text())["resources"]["jobs"][JOB]
    cluster = job["job_clusters"][0]["new_cluster"]
    env = {k: substitute(str(v), values) for k, v in cluster["spark_env_vars"].items()}
    tasks, done = [], set()
    pending = list(job["tasks"])
    while pending:
        ready = [t for t in pending
                 if {d["task_key"] for d in t.get("depends_on") or []} <= done]
        assert ready, "the job's depends_on has a cycle"
        for task in ready:
            tasks.append(task)
            done.add(task["task_key"])
            pending.remove(task)
    return tasks, env


def run_task(task: dict, values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Call the wheel's console script as a python_wheel_task does: sys.argv holds the
    task's parameters; a failure is an exception (the return value is ignored)."""
    wheel_task = task["python_wheel_task"]
    assert wheel_task["package_name"] == DISTRIBUTION.replace("-", "_")
    (entry,) = metadata.entry_points(group="console_scripts", name=wheel_task["entry_point"])
    assert entry.dist is not None and entry.dist.name == DISTRIBUTION
    parameters = [substitute(p, values) for p in wheel_task.get("parameters") or []]
    monkeypatch.setattr(sys, "argv", [entry.name, *parameters])
    assert entry.load()() is None, task["task_key"]


@pytest.fixture(scope="module")
def job(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory):
    """Every task of the bundle's job, once, on a generated sample in the landing volume."""
    root = tmp_path_factory.mktemp("databricks")
    values = variables(root)
    tasks, env = job_spec(values)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABRICKS_RUNTIME_VERSION", "18.0")  # what the cluster sets
        for key, value in env.items():
            mp.setenv(key, value)
        # What the twin changes: MLflow on a local store (the workspace's is `databricks`),
        # and the folders the bundle leaves at conf/databricks.yml's Volumes, made local.
        mp.setenv("LAKEHOUSE__MLFLOW__TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        for key in ("lake", "truth"):
            mp.setenv(f"LAKEHOUSE__PATHS__{key.upper()}", str(root / "volume" / key))
        mp.chdir(root)  # MLflow's default artifact root (./mlruns) lands here
        # The schema exists before the job runs, as in Unity Catalog (created by an admin).
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS spark_catalog.{SCHEMA}")
        manifest = generate(SAMPLE, Path(values["landing"]), root / "truth")
        for task in tasks:
            run_task(task, values, mp)
    yield root, values, manifest


def test_the_package_is_the_installed_wheel_and_requires_no_spark():
    import lakehouse

    assert "site-packages" in Path(lakehouse.__file__).parts
    required = [Requirement(r) for r in metadata.requires(DISTRIBUTION) or []]
    base = {r.name for r in required if r.marker is None or r.marker.evaluate({"extra": ""})}
    assert base == {"great-expectations"}


def test_every_task_ran_on_the_active_session_and_left_it_running(job, spark):
    assert SparkSession.getActiveSession() is spark
    assert spark.range(3).count() == 3


def test_tables_have_three_part_names_in_the_catalog(job, spark):
    _, _, manifest = job
    tables = {r.tableName for r in spark.sql(f"SHOW TABLES IN spark_catalog.{SCHEMA}").collect()}
    assert {"bronze_transactions_raw", "silver_transactions", "gold_customer_features",
            "gold_churn_labels", "gold_churn_scores"} <= tables, sorted(tables)
    history = spark.sql(f"DESCRIBE HISTORY spark_catalog.{SCHEMA}.silver_transactions")
    assert history.count() >= 1
    bronze = spark.table(f"spark_catalog.{SCHEMA}.bronze_transactions_raw").count()
    assert bronze == manifest["totals"]["records"]
    silver = spark.table(f"spark_catalog.{SCHEMA}.silver_transactions").count()
    assert silver == manifest["totals"]["expected_clean_rows"]


def test_models_are_logged_with_names_and_signatures_and_no_spark_pin(job):
    root, values, _ = job
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    for name in (values["model_name"], values["segment_model_name"]):
        champion = client.get_model_version_by_alias(name, "champion")
        model = mlflow.models.get_model_info(f"models:/{name}@champion")
        assert model.signature is not None, name
        requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{name}@champion")
        pins = Path(requirements).read_text().split()
        assert not [p for p in pins if p.startswith("pyspark==")], pins
        assert champion.run_id


def test_the_report_is_written_to_the_volume(job):
    _, values, _ = job
    index = Path(values["volume_root"]) / "reports" / "report" / "index.html"
    assert index.is_file() and "Customers most at risk" in index.read_text(encoding="utf-8")


def test_a_failed_task_raises_so_the_job_stops(spark, tmp_path, monkeypatch):
    values = variables(tmp_path)  # its landing volume folder does not exist
    tasks, env = job_spec(values)
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "18.0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bronze = next(t for t in tasks if t["task_key"] == "bronze")
    with pytest.raises(SystemExit) as stopped:
        run_task(bronze, values, monkeypatch)
    assert stopped.value.code == 1
