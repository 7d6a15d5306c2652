"""The pipeline is a distributed program: bronze, silver, gold and train on a Spark
standalone cluster (a master and two one-core workers, each its own JVM, with no project
code on their path) give the tables and model of `local[2]` on the same files.

Both runs use the cluster environment (conf/cluster.yml) and differ only in
`spark.master`. They run side by side, as separate processes, like a user's commands.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from datagen import GeneratorSpec, generate
from lakehouse.contracts import GOLD_FEATURES
from lakehouse.tables import open_store
from ml import tracking
from tests.conftest import free_port, settings_for
from tools import cluster as local_cluster

ROOT = Path(__file__).parents[2]
SAMPLE = GeneratorSpec(rows=12_000, customers=400, months=16, seed=3)
FOLDERS = ("landing", "truth", "lake", "reports", "mlflow")
# The test environment's small training grids (every family), for both runs.
SMALL = ("ml.churn.logistic_regression.reg_param=[0.0,0.01]",
         "ml.churn.logistic_regression.elastic_net_param=[0.0]",
         "ml.churn.gbt.max_depth=[3]", "ml.churn.gbt.max_iter=[10]",
         "ml.churn.random_forest.max_depth=[5]", "ml.churn.random_forest.num_trees=[20]",
         "ml.churn.bootstrap_samples=50", "ml.segments.k_max=3", "quality.data_docs=false")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A two-worker cluster on a free port, stopped (and checked gone) at the end."""
    state = tmp_path_factory.mktemp("cluster")
    started, _ = local_cluster.up(f"spark://127.0.0.1:{free_port()}", state=state,
                                  worker_memory="1g")
    yield started, state
    assert sorted(local_cluster.down(state=state)) == sorted(started.pids)
    assert not any(psutil.pid_exists(pid) for pid in started.pids)


def _run(root: Path, master: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline", "--env", "cluster",
               *[f"--set=paths.{k}={root / k}" for k in FOLDERS],
               f"--set=spark.master={master}", *[f"--set={s}" for s in SMALL],
               "bronze", "silver", "gold", "train"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1200, check=False)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The same landing files through the cluster and through local[2]: name -> root."""
    started, _ = cluster
    roots = {"cluster": tmp_path_factory.mktemp("on_cluster"),
             "local": tmp_path_factory.mktemp("on_local")}
    generate(SAMPLE, roots["cluster"] / "landing", roots["cluster"] / "truth")
    shutil.copytree(roots["cluster"] / "landing", roots["local"] / "landing")
    masters = {"cluster": started.url, "local": "local[2]"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = {name: pool.submit(_run, root, masters[name]) for name, root in roots.items()}
        for name, future in done.items():
            result = future.result()
            assert result.returncode == 0, (name, result.stdout[-2000:], result.stderr[-3000:])
    return roots


def _tables(spark, root: Path):
    settings = settings_for(root)
    return open_store(spark, settings), settings.tables.names


@pytest.mark.slow
def test_the_executors_ran_in_the_workers(cluster, runs):
    _, state = cluster
    executors = list((state / "work").glob("worker-*/app-*/*/stderr"))
    assert {p.parts[-4] for p in executors} == {"worker-1", "worker-2"}, executors


@pytest.mark.slow
def test_silver_rows_and_quarantine_are_identical(spark, runs):
    (store_c, names), (store_l, _) = _tables(spark, runs["cluster"]), _tables(spark, runs["local"])
    keys = [{r.row_key for r in s.read(names.silver_transactions).select("row_key").collect()}
            for s in (store_c, store_l)]
    assert keys[0] == keys[1] and keys[0]
    reasons = [sorted((str(r.reject_reasons), r["count"]) for r in s.read(
        names.silver_quarantine).groupBy("reject_reasons").count().collect())
        for s in (store_c, store_l)]
    assert reasons[0] == reasons[1] and reasons[0]


@pytest.mark.slow
def test_gold_features_are_identical_to_1e_9(spark, runs):
    (store_c, names), (store_l, _) = _tables(spark, runs["cluster"]), _tables(spark, runs["local"])
    key = ["customer_id", "as_of_date"]
    numeric = [c.name for c in GOLD_FEATURES.columns
               if c.name not in key and c.type.typeName() in ("double", "long", "integer")]
    others = [c.name for c in GOLD_FEATURES.columns  # computed_at: when each run wrote it
              if c.name not in (*key, *numeric, "computed_at")]
    cluster_rows = store_c.read(names.gold_features).withColumn("_c", F.lit(1))
    local_rows = store_l.read(names.gold_features).withColumn("_l", F.lit(1))
    assert cluster_rows.count() == local_rows.count() > 0
    joined = cluster_rows.alias("c").join(local_rows.alias("l"), key, "full_outer")
    assert joined.where(F.col("_c").isNull() | F.col("_l").isNull()).count() == 0
    for column in numeric:
        a, b = F.col(f"c.{column}").cast("double"), F.col(f"l.{column}").cast("double")
        scale = F.greatest(F.abs(a), F.abs(b), F.lit(1.0))
        off = joined.where((F.abs(a - b) > F.lit(1e-9) * scale) | (a.isNull() != b.isNull()))
        assert off.count() == 0, column
    for column in others:
        assert joined.where(~F.col(f"c.{column}").eqNullSafe(F.col(f"l.{column}"))).count() == 0


@pytest.mark.slow
def test_the_churn_models_test_roc_auc_agrees_to_1e_6(runs):
    aucs = []
    for root in runs.values():
        client = MlflowClient(tracking.tracking_uri(settings_for(root)))
        experiment = client.get_experiment_by_name(settings_for(root).mlflow.experiment)
        run = client.search_runs([experiment.experiment_id], "tags.model = 'churn'")[0]
        aucs.append(run.data.metrics["test_roc_auc"])
    assert math.isclose(aucs[0], aucs[1], rel_tol=0, abs_tol=1e-6), aucs
