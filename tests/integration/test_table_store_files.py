"""append_files: Parquet written outside Spark (bronze's parse tasks) adopted by a table
in one commit: in place, replay-safe, schema-checked, nothing left behind on failure."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.tables import (
    AppTxn,
    SchemaMismatchError,
    deltalog,
)

KVT = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.StringType()),
                    T.StructField("ts", T.TimestampType())])
TS = datetime(2024, 3, 1, 8, 0, 0, 250000, tzinfo=UTC)
UTC_MICROS = pa.timestamp("us", tz="UTC")


def stage_arrow(folder: str, rows: list[tuple], name: str = "a.parquet",
                ts_type: pa.DataType = UTC_MICROS) -> None:
    """A Parquet file written by pyarrow, as tasks outside Spark do."""
    k, v, ts = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    table = pa.table({"k": pa.array(k, pa.int64()), "v": pa.array(v, pa.string()),
                      "ts": pa.array(ts, ts_type)})
    pq.write_table(table, os.path.join(folder, name))


def files_under(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def test_append_files_adopts_parquet_written_outside_spark_in_place(spark, store):
    first = store.staging_folder("t.af")
    assert os.path.dirname(first) == store.location("t.af")  # no copy needed later
    stage_arrow(first, [(1, "a", TS), (2, None, None)], "x.parquet")
    stage_arrow(first, [(3, "c", TS)], "y.parquet")
    created = store.append_files("t.af", first, schema=KVT, txn=AppTxn("load", 1),
                                 metadata={"batch": "one"})
    assert (created.version, created.committed, dict(created.metrics)) == (
        0, True, {"rows_written": 3})
    second = store.staging_folder("t.af")
    stage_arrow(second, [(4, "d", TS)])
    appended = store.append_files("t.af", second, schema=KVT, txn=AppTxn("load", 2))
    assert (appended.version, appended.metrics["rows_written"]) == (1, 1)
    expected = spark.createDataFrame(
        [(1, "a", TS), (2, None, None), (3, "c", TS), (4, "d", TS)], KVT)
    assertDataFrameEqual(store.read("t.af"), expected)
    assert store.schema("t.af") == KVT
    assert sorted(DeltaTable(store.location("t.af")).to_pyarrow_table().column("k")
                  .to_pylist()) == [1, 2, 3, 4]
    assert store.txn_version("t.af", "load") == 2
    assert store.txn_metadata("t.af", "load", 1)["batch"] == "one"
    protocol = DeltaTable(store.location("t.af")).protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)


def test_append_files_replayed_with_the_same_txn_commits_nothing(spark, store):
    folder = store.staging_folder("t.replay")
    stage_arrow(folder, [(1, "a", TS)])
    store.append_files("t.replay", folder, schema=KVT, txn=AppTxn("load", 1))
    before = files_under(store.location("t.replay"))
    again = store.staging_folder("t.replay")
    stage_arrow(again, [(1, "a", TS)])
    replay = store.append_files("t.replay", again, schema=KVT, txn=AppTxn("load", 1))
    assert (replay.committed, replay.version) == (False, 0)
    assert files_under(store.location("t.replay")) == before  # the replayed files are gone
    assertDataFrameEqual(store.read("t.replay"), spark.createDataFrame([(1, "a", TS)], KVT))


def test_append_files_with_a_wrong_schema_raises_and_leaves_no_files(spark, store):
    store.append_files("t.wrong", store.staging_folder("t.wrong"), schema=KVT)  # empty table
    before = files_under(store.location("t.wrong"))
    naive = store.staging_folder("t.wrong")
    stage_arrow(naive, [(1, "a", TS.replace(tzinfo=None))], ts_type=pa.timestamp("us"))
    with pytest.raises(SchemaMismatchError, match=r"column 'ts' is timestamp\[us\], expected"):
        store.append_files("t.wrong", naive, schema=KVT)
    other = store.staging_folder("t.wrong")
    stage_arrow(other, [(1, "a", TS)])
    wider = T.StructType([*KVT.fields, T.StructField("z", T.LongType())])
    with pytest.raises(SchemaMismatchError, match="unexpected column 'z'"):
        store.append_files("t.wrong", other, schema=wider)
    assert files_under(store.location("t.wrong")) == before
    assert store.version("t.wrong") == 0 and store.read("t.wrong").count() == 0


def test_append_files_failing_at_the_commit_leaves_no_files(spark, store, monkeypatch):
    folder = store.staging_folder("t.afcrash")
    stage_arrow(folder, [(1, "a", TS)])

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash before commit")

    monkeypatch.setattr(deltalog, "commit", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.append_files("t.afcrash", folder, schema=KVT, txn=AppTxn("load", 1))
    monkeypatch.undo()
    assert not store.exists("t.afcrash") and files_under(store.location("t.afcrash")) == set()


def test_append_files_moves_files_staged_elsewhere_under_the_table(spark, store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    stage_arrow(str(outside), [(7, "g", TS)])
    result = store.append_files("t.moved", str(outside), schema=KVT)
    assert result.metrics["rows_written"] == 1 and not outside.exists()
    (live,) = deltalog.file_paths(DeltaTable(store.location("t.moved")))
    assert live.startswith(store.location("t.moved") + os.sep)
    assertDataFrameEqual(store.read("t.moved"), spark.createDataFrame([(7, "g", TS)], KVT))


def test_row_group_stats_are_exact_per_version_and_know_all_null_columns(spark, store):
    schema = T.StructType([T.StructField("day", T.DateType()),
                           T.StructField("at", T.TimestampType()),
                           T.StructField("note", T.StringType())])
    first = [(date(2024, 1, 5), datetime(2024, 1, 6, 1, 2, 3, 456789, tzinfo=UTC), None),
             (None, None, None), (date(2023, 12, 31), None, None)]
    store.write("t.stats", spark.createDataFrame(first, schema).coalesce(1))
    store.write("t.stats", spark.createDataFrame(
        [(date(2025, 2, 1), datetime(2025, 2, 1, tzinfo=UTC), "x")], schema), mode="append")

    def summary(version=None):
        stats = store.row_group_stats("t.stats", ["day", "at", "note"], version=version)
        return sorted((g.rows, *g.ranges["day"], g.ranges["note"]) for g in stats)

    assert summary(0) == [(3, date(2023, 12, 31), date(2024, 1, 5), (None, None))]
    assert summary() == [(1, date(2025, 2, 1), date(2025, 2, 1), ("x", "x")),
                         (3, date(2023, 12, 31), date(2024, 1, 5), (None, None))]
    (old,) = store.row_group_stats("t.stats", ["at"], version=0)
    assert old.ranges["at"] == (datetime(2024, 1, 6, 1, 2, 3, 456789, tzinfo=UTC),) * 2
