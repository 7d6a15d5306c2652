"""A writer killed (SIGKILL, JVM included) after writing data files and before its Delta
commit leaves the table at its previous version; the retry commits exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.tables import AppTxn

TABLE = "t.killed"
# The child appends 4 partitions; the last one sleeps, so the others' data files are on
# disk long before the commit that would make them visible.
CHILD = """
import sys, time
from pyspark import TaskContext
from lakehouse.tables import AppTxn, open_store
from lakehouse.spark import get_spark
from tests.conftest import settings_for
from pathlib import Path

settings = settings_for(Path(sys.argv[1]))
spark = get_spark(settings)

def slow_last(batches):
    if TaskContext.get().partitionId() == 3:
        time.sleep(600)
    yield from batches

rows = spark.range(100, 140, 1, 4).selectExpr("id AS k", "'new' AS v")
rows = rows.mapInPandas(slow_last, rows.schema)
print("writing", flush=True)
open_store(spark, settings).write(sys.argv[2], rows, mode="append", txn=AppTxn("job", 1))
"""


def data_files(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.parquet")}


@pytest.mark.slow
def test_a_write_killed_before_its_commit_leaves_the_previous_version(spark, store,
                                                                      tmp_path):
    first = spark.createDataFrame([(1, "old")], "k long, v string")
    store.write(TABLE, first)
    before, folder = store.version(TABLE), Path(store.location(TABLE))
    existing = data_files(folder)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), TABLE],
                             cwd=Path(__file__).parents[2], start_new_session=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not data_files(folder) - existing:
            assert child.poll() is None, child.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child wrote no data file in time"
            time.sleep(0.2)
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # python and its JVM
        child.wait()
    assert data_files(folder) - existing  # files were written ...
    assert store.version(TABLE) == before  # ... and never committed
    assertDataFrameEqual(store.read(TABLE), first)
    retry = spark.range(100, 140).selectExpr("id AS k", "'new' AS v")
    done = store.write(TABLE, retry, mode="append", txn=AppTxn("job", 1))
    again = store.write(TABLE, retry, mode="append", txn=AppTxn("job", 1))
    assert done.committed and done.version == before + 1
    assert not again.committed and store.version(TABLE) == before + 1
    assert store.read(TABLE).count() == 41
