"""A stage killed (SIGKILL, JVM included) at any commit point leaves every table readable
at its previous or next version, and the re-run ends with the tables an uninterrupted
run gives.

Commit points are the table store's writes and merges (bronze, silver, gold, score) and
the model registry's changes (train): "before" kills the process once the write's first
data file is on disk (watching the table folder), so the files exist but the commit does
not (if the write adds no file, right after it returns), or on entering the registry
call; "after" kills it right after the commit, before the next one. The runs form a chain:
each process re-runs the pipeline from where the previous kill left it and is killed at
the next point; a last run without a fault finishes. Then the lake is compared with a run
that was never interrupted, on the same files, and the registry is checked: every alias
names a complete model version, both models have a champion, no MLflow run is left
`RUNNING` (training marks runs of killed processes `KILLED`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from datagen import GeneratorSpec, generate
from lakehouse.tables import open_store
from ml import registry, tracking
from tests.conftest import settings_for

ROOT = Path(__file__).parents[2]
SAMPLE = GeneratorSpec(rows=6_000, customers=300, months=16, seed=11)  # 16: enough to train
STAGES = ("bronze", "silver", "gold", "train", "score")
# The tables of every stage in commit order (silver merges its quarantine first).
TABLES = ("bronze_transactions", "bronze_ingest_log", "silver_quarantine",
          "silver_transactions", "silver_audit", "gold_customer_days", "gold_features",
          "gold_labels", "gold_scores", "gold_segments")
# Training's commit points are in the model registry: a logged model becomes a version
# (`tracking.register`), then a version gets an alias (churn first, then segments).
REGISTRY = ("ml.tracking:register", "mlflow:MlflowClient.set_registered_model_alias")
# Each point: (table role or registry call, "before" | "after" its commit). `make test`
# kills at 5, one in each stage, both kinds, tables and registry (every kill is a process
# with its JVM, and every run past gold trains again); LAKEHOUSE_FAULTS=all kills at all 24.
ALL_POINTS = [(target, when) for target in (*TABLES[:8], *REGISTRY, *TABLES[8:])
              for when in ("before", "after")]  # in the order of the stages
POINTS = ALL_POINTS if os.environ.get("LAKEHOUSE_FAULTS") == "all" else [
    ("bronze_transactions", "before"), ("silver_transactions", "after"),
    ("gold_features", "before"), ("ml.tracking:register", "after"), ("gold_scores", "before")]

# The child: the pipeline with one commit point wrapped to kill the process group there. A
# table's "before" fires once the write's first data file is on disk (watching the table
# folder) or, if it adds none, when it returns; a registry call's "before" on entry.
CHILD = """
import importlib, os, signal, sys, threading, time
from pathlib import Path
from urllib.parse import urlparse
from lakehouse.tables.store import TableStore
import pipeline

target, when = sys.argv[1], sys.argv[2]

def die(where):
    print(f"killed {where} {target}", flush=True)
    os.killpg(os.getpgrp(), signal.SIGKILL)

def files(folder):
    return set(folder.glob("*.parquet")) if folder.is_dir() else set()

def watch(folder, done):
    before = files(folder)
    while not done.is_set():
        if files(folder) - before:
            die("before-commit")
        time.sleep(0.01)

def wrap_table(method):
    def inner(self, name, *args, **kwargs):
        if name != target:
            return method(self, name, *args, **kwargs)
        done = threading.Event()
        if when == "before":
            threading.Thread(target=watch, args=(Path(self.location(name)), done),
                             daemon=True).start()
        result = method(self, name, *args, **kwargs)
        done.set()
        die("after-commit")
    return inner

def wrap_call(function):
    def inner(*args, **kwargs):
        if when == "before":
            die("before-commit")
        function(*args, **kwargs)
        die("after-commit")
    return inner

if ":" in target:
    module, path = target.split(":")
    owner = importlib.import_module(module)
    *parents, attr = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    setattr(owner, attr, wrap_call(getattr(owner, attr)))
else:
    TableStore.write = wrap_table(TableStore.write)
    TableStore.merge = wrap_table(TableStore.merge)
sys.exit(pipeline.main(sys.argv[3:]))
"""


def _stage_of(target: str) -> str:
    """The stage that commits at `target` (a table role or a registry call)."""
    return "train" if target in REGISTRY else (
        "score" if target in ("gold_scores", "gold_segments") else target.split("_")[0])


def _args(root: Path) -> list[str]:
    # One model setting and one k: the chain trains three times, the reference once more.
    small = ("ml.churn.families=[logistic_regression]",
             "ml.churn.logistic_regression.reg_param=[0.0]", "ml.churn.bootstrap_samples=10",
             "ml.segments.k_max=2")
    return ["--env", "test", *[f"--set=paths.{k}={root / k}"
                               for k in ("landing", "truth", "lake", "reports", "mlflow")],
            *[f"--set={s}" for s in small]]


def _run(root: Path, stages=STAGES, target: str = "", when: str = ""
         ) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", CHILD, target, when, *_args(root), *stages]
    return subprocess.run(command, cwd=ROOT, start_new_session=True, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _versions(store, names) -> dict[str, int | None]:
    return {role: store.version_if_exists(getattr(names, role)) for role in TABLES}


def _snapshot(spark, settings) -> dict[str, list]:
    """Every table's rows without run-dependent columns (times, run ids, versions), numbers
    to 9 significant digits."""
    store, names = open_store(spark, settings), settings.tables.names
    volatile = {"_ingested_at", "_processed_at", "computed_at", "ingested_at",
                "processed_at", "run_id", "silver_version", "quarantine_version",
                "scored_at", "model_version", "model_run_id"}

    def text(value) -> str:
        return f"{value:.9g}" if isinstance(value, float) else str(value)

    out = {}
    for role in TABLES:
        df = store.read(getattr(names, role))
        kept = [c for c in df.columns if c not in volatile]
        out[role] = sorted(tuple(map(text, r)) for r in df.select(*kept).collect())
    return out


def _check_registry(settings, *, finished: bool) -> None:
    """Every alias names a registered version whose model files are complete; after a run
    that finished, both models have a champion and no MLflow run is left `RUNNING`."""
    client = MlflowClient(tracking.tracking_uri(settings))
    for name in (settings.mlflow.churn_model_name, settings.mlflow.segment_model_name):
        models = client.search_registered_models(f"name = '{name}'")
        aliases = models[0].aliases if models else {}
        assert registry.CHAMPION in aliases or not finished, (name, aliases)
        for alias, version in aliases.items():
            entry = client.get_model_version(name, version)
            assert entry.status == "READY", (name, alias, entry.status)
            where = Path(urlparse(client.get_model_version_download_uri(name, version)).path)
            assert (where / "MLmodel").is_file(), (name, alias, where)
    if finished:
        experiment = client.get_experiment_by_name(settings.mlflow.experiment)
        assert not client.search_runs([experiment.experiment_id],
                                      filter_string="attributes.status = 'RUNNING'")


def _check_consistent(spark, settings) -> None:
    """Keys unique and every bronze row accounted for in silver's reconciliation."""
    store, names = open_store(spark, settings), settings.tables.names
    for role, key in (("bronze_transactions", ["_source_file", "_row_number"]),
                      ("silver_transactions", ["row_key"]),
                      ("gold_features", ["customer_id", "as_of_date"]),
                      ("gold_labels", ["customer_id", "as_of_date"])):
        name = getattr(names, role)
        if store.exists(name):
            df = store.read(name)
            assert df.count() == df.select(*key).distinct().count(), f"{name}: repeated keys"
    if store.exists(names.silver_audit):
        audit = store.read(names.silver_audit)
        broken = audit.where(F.col("bronze_rows") != F.col("inserted") + F.col(
            "matched_existing") + F.col("quarantined") + F.col("duplicates")).count()
        assert broken == 0
        reconciled = audit.agg(F.sum("bronze_rows")).first()[0]
        assert reconciled == store.read(names.bronze_transactions).where(
            F.col("_batch_id").isin([r[0] for r in audit.select("batch_id").collect()])
        ).count()


@pytest.mark.slow
def test_kills_at_every_commit_point_leave_a_lake_equal_to_an_uninterrupted_run(
        spark, tmp_path):
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    generate(SAMPLE, clean / "landing", clean / "truth")
    shutil.copytree(clean / "landing", faulty / "landing")
    with ThreadPoolExecutor(max_workers=1) as pool:  # the reference run, beside the chain
        reference = pool.submit(_run, clean)
        _kill_chain(spark, faulty)
        done = reference.result()
    assert done.returncode == 0, done.stderr[-3000:]
    assert _snapshot(spark, settings_for(faulty)) == _snapshot(spark, settings_for(clean))


def _kill_chain(spark, faulty: Path) -> None:
    """Kill a run on the lake under `faulty` at every point of POINTS in turn, checking the
    lake after each, then finish with a run that is not killed. Each run starts with the
    stage the previous one was killed in (the stages before it are complete) and ends with
    the stage it is to be killed in."""
    settings = settings_for(faulty)
    names = settings.tables.names
    resume = STAGES[0]
    for target, when in POINTS:
        before = _versions(open_store(spark, settings), names)
        name = getattr(names, target, target)
        stage = _stage_of(target)
        stages = STAGES[STAGES.index(resume):STAGES.index(stage) + 1]
        killed = _run(faulty, stages, name, when)
        assert killed.returncode == -signal.SIGKILL, (target, when, killed.stderr[-3000:])
        assert f"-commit {name}" in killed.stdout, killed.stdout[-3000:]  # killed there
        after = _versions(open_store(spark, settings), names)
        if target in before:
            old, new = before[target], after[target]
            assert new == old or new == (0 if old is None else old + 1), (target, when, old, new)
        _check_consistent(spark, settings)  # every table readable, nothing doubled
        _check_registry(settings, finished=False)
        resume = stage
    final = _run(faulty, STAGES[STAGES.index(resume):])
    assert final.returncode == 0, final.stderr[-3000:]
    _check_consistent(spark, settings)
    _check_registry(settings, finished=True)
