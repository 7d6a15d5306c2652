"""Two `python -m pipeline bronze silver` runs started at once on one lake: one runs, the
other is refused at once naming the first; the tables are exactly one run's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from datagen import GeneratorSpec, generate
from lakehouse.tables import open_store
from tests.conftest import settings_for

ROOT = Path(__file__).parents[2]
SAMPLE = GeneratorSpec(rows=3_000, customers=150, months=3, seed=27)


def unique(df, *keys: str) -> bool:
    return df.count() == df.select(*keys).distinct().count()


@pytest.mark.slow
def test_a_second_run_on_a_locked_lake_is_refused_and_the_tables_are_one_runs(spark,
                                                                               tmp_path):
    settings = settings_for(tmp_path)
    manifest = generate(SAMPLE, settings.paths.landing, settings.paths.truth)
    command = [sys.executable, "-m", "pipeline", "--env", "test",
               *[f"--set=paths.{k}={tmp_path / k}"
                 for k in ("landing", "truth", "lake", "reports", "mlflow")],
               "bronze", "silver"]
    runs = [subprocess.Popen(command, cwd=ROOT, env=os.environ, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], outputs
    winner, loser = (0, 1) if runs[0].returncode == 0 else (1, 0)
    err = outputs[loser][1]
    assert (f"pipeline: error: lake {settings.paths.lake} is in use by pid {runs[winner].pid} "
            f"(python -m pipeline --env test") in err, err
    assert "bronze silver, started " in err and "wait for it or stop it" in err
    assert "Traceback" not in err and "pipeline: Spark session" not in outputs[loser][0]

    store, names, totals = open_store(spark, settings), settings.tables.names, manifest["totals"]
    bronze = store.read(names.bronze_transactions)
    assert bronze.count() == totals["records"]
    assert unique(bronze, "_batch_id", "_source_file", "_row_number")
    assert store.read(names.bronze_ingest_log).count() == SAMPLE.months
    silver = store.read(names.silver_transactions)
    assert unique(silver, "row_key")
    audit = store.read(names.silver_audit).agg(F.sum("bronze_rows"), F.sum("inserted")).first()
    assert tuple(audit) == (totals["records"], silver.count())  # every batch exactly once
