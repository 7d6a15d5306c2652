"""A stage killed (SIGKILL, JVM included) at any commit point leaves every table readable
at its previous or next version, and the re-run ends with the tables an uninterrupted
run gives.

Commit points are the table store's writes and merges: "before" kills the process once
the write's first data file is on disk (watching the table folder), so the files exist
but the commit does not (if the write adds no file, right after it returns); "after"
kills it right after the commit, before the next table's. The runs form a chain: each
process re-runs the pipeline from where the previous kill left it and is killed at the
next point; a last run without a fault finishes. Then the lake is compared with a run
that was never interrupted, on the same files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from datagen import GeneratorSpec, generate
from lakehouse.tables import open_store
from tests.conftest import settings_for

ROOT = Path(__file__).parents[2]
SAMPLE = GeneratorSpec(rows=6_000, customers=300, months=14, seed=11)
STAGES = ("bronze", "silver", "gold")
# Every data table of bronze, silver and gold in commit order (silver merges its quarantine
# first), both sides of its commit: (table role, when). `make test` kills at one point of
# each kind per stage (each kill is a process with its JVM, ~20 s); LAKEHOUSE_FAULTS=all
# kills at all 16.
TABLES = ("bronze_transactions", "bronze_ingest_log", "silver_quarantine",
          "silver_transactions", "silver_audit", "gold_customer_days", "gold_features",
          "gold_labels")
ALL_POINTS = [(role, when) for role in TABLES for when in ("before", "after")]
POINTS = ALL_POINTS if os.environ.get("LAKEHOUSE_FAULTS") == "all" else [
    ("bronze_transactions", "before"), ("bronze_ingest_log", "after"),
    ("silver_quarantine", "before"), ("silver_transactions", "after"),
    ("gold_customer_days", "after"), ("gold_features", "before"), ("gold_labels", "after")]

# The child: the pipeline with the table store's writes wrapped to die at one point.
CHILD = """
import os, signal, sys, threading, time
from pathlib import Path
from lakehouse.tables.store import TableStore
import pipeline

table, when = sys.argv[1], sys.argv[2]

def die(where):
    print(f"killed {where} {table}", flush=True)
    os.killpg(os.getpgrp(), signal.SIGKILL)

def files(folder):
    return set(folder.glob("*.parquet")) if folder.is_dir() else set()

def watch(folder, done):
    before = files(folder)
    while not done.is_set():
        if files(folder) - before:
            die("before-commit")
        time.sleep(0.01)

def wrap(method):
    def inner(self, name, *args, **kwargs):
        if name != table:
            return method(self, name, *args, **kwargs)
        done = threading.Event()
        if when == "before":
            threading.Thread(target=watch, args=(Path(self.location(name)), done),
                             daemon=True).start()
        result = method(self, name, *args, **kwargs)
        done.set()
        die("after-commit")
    return inner

TableStore.write = wrap(TableStore.write)
TableStore.merge = wrap(TableStore.merge)
sys.exit(pipeline.main(sys.argv[3:]))
"""


def _args(root: Path) -> list[str]:
    return ["--env", "test", *[f"--set=paths.{k}={root / k}"
                               for k in ("landing", "truth", "lake", "reports", "mlflow")]]


def _run(root: Path, table: str = "", when: str = "") -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", CHILD, table, when, *_args(root), *STAGES]
    return subprocess.run(command, cwd=ROOT, start_new_session=True, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _versions(store, names) -> dict[str, int | None]:
    return {role: store.version_if_exists(getattr(names, role)) for role in TABLES}


def _snapshot(spark, settings) -> dict[str, list]:
    """Every table's rows without run-dependent columns (times, run and batch ids)."""
    store, names = open_store(spark, settings), settings.tables.names
    volatile = {"_ingested_at", "_processed_at", "computed_at", "ingested_at",
                "processed_at", "run_id", "silver_version", "quarantine_version"}
    out = {}
    for role in TABLES:
        df = store.read(getattr(names, role))
        kept = [c for c in df.columns if c not in volatile]
        out[role] = sorted(tuple(map(str, r)) for r in df.select(*kept).collect())
    return out


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
    done = _run(clean)
    assert done.returncode == 0, done.stderr[-3000:]

    settings = settings_for(faulty)
    names = settings.tables.names
    for role, when in POINTS:
        store = open_store(spark, settings)
        before = _versions(store, names)
        killed = _run(faulty, getattr(names, role), when)
        assert killed.returncode == -signal.SIGKILL, (role, when, killed.stderr[-3000:])
        after = _versions(open_store(spark, settings), names)
        old, new = before[role], after[role]
        assert new == old or new == (0 if old is None else old + 1), (role, when, old, new)
        _check_consistent(spark, settings)  # every table readable, nothing doubled
    final = _run(faulty)
    assert final.returncode == 0, final.stderr[-3000:]
    _check_consistent(spark, settings)
    assert _snapshot(spark, settings) == _snapshot(spark, settings_for(clean))
