"""The embedded Delta table store: types, time travel, merge, safety, concurrency."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.tables import (
    AppTxn,
    ConcurrentCommitError,
    MergeKeyError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableStoreError,
    UnsupportedTableError,
    delta_connector_available,
    deltalog,
    open_store,
)
from tests.integration.concurrency_worker import append_batches

ALL_TYPES = T.StructType([
    T.StructField("s", T.StringType()),
    T.StructField("i", T.IntegerType()),
    T.StructField("l", T.LongType()),
    T.StructField("d", T.DoubleType()),
    T.StructField("amount", T.DecimalType(12, 2)),
    T.StructField("day", T.DateType()),
    T.StructField("ts", T.TimestampType()),
    T.StructField("flag", T.BooleanType()),
])
ALL_TYPES_ROWS = [
    ("a", 1, 2**40, 1.5, Decimal("12345.67"), date(2023, 1, 31),
     datetime(2023, 1, 31, 23, 59, 59, 123456, tzinfo=UTC), True),
    ("é, \"q\"\nline", -7, -1, -0.25, Decimal("-0.01"), date(1999, 12, 31),
     datetime(2000, 1, 1, 0, 0, tzinfo=UTC), False),
    (None, None, None, None, None, None, None, None),
]
KV = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.StringType())])


def kv(spark, rows):
    return spark.createDataFrame(rows, KV)


def test_every_column_type_round_trips_through_the_store_and_delta_rs(spark, store):
    df = spark.createDataFrame(ALL_TYPES_ROWS, ALL_TYPES)
    result = store.write("t.types", df)
    assert (result.version, result.committed, result.metrics["rows_written"]) == (0, True, 3)
    assertDataFrameEqual(store.read("t.types"), df)
    assert store.schema("t.types") == ALL_TYPES
    by_delta_rs = DeltaTable(store.location("t.types")).to_pyarrow_table().to_pylist()
    expected = [dict(zip(ALL_TYPES.names, row, strict=True)) for row in ALL_TYPES_ROWS]
    key = lambda r: str(r["s"])  # noqa: E731
    assert sorted(by_delta_rs, key=key) == sorted(expected, key=key)


def test_embedded_tables_stay_readable_by_delta_spark(spark, store):
    store.write("t.proto", spark.createDataFrame(ALL_TYPES_ROWS, ALL_TYPES))
    table = DeltaTable(store.location("t.proto"))
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert not protocol.reader_features and not protocol.writer_features
    assert '"timestamp"' in table.schema().to_json()
    assert "timestamp_ntz" not in table.schema().to_json()


def test_time_travel_to_every_version_and_overwrite_keeps_history(spark, store):
    store.write("t.tt", kv(spark, [(1, "a")]))
    store.write("t.tt", kv(spark, [(2, "b")]), mode="append")
    store.write("t.tt", kv(spark, [(3, "c")]), mode="overwrite")
    assert store.version("t.tt") == 2
    expected = {0: [(1, "a")], 1: [(1, "a"), (2, "b")], 2: [(3, "c")]}
    for version, rows in expected.items():
        assertDataFrameEqual(store.read("t.tt", version=version), kv(spark, rows))
    assertDataFrameEqual(store.read("t.tt"), kv(spark, [(3, "c")]))
    history = store.history("t.tt")
    assert [(h.version, h.operation) for h in history] == [
        (2, "OVERWRITE"), (1, "APPEND"), (0, "CREATE")]
    with pytest.raises(TableNotFoundError):
        store.read("t.tt", version=9)


def test_merge_updates_and_inserts_without_duplicates(spark, store):
    store.write("t.m", kv(spark, [(1, "a"), (2, "b"), (3, None)]))
    result = store.merge("t.m", kv(spark, [(2, "B"), (3, "C"), (4, "D")]), keys=["k"])
    assert dict(result.metrics) == {"source_rows": 3, "inserted": 1, "matched": 2}
    expected = kv(spark, [(1, "a"), (2, "B"), (3, "C"), (4, "D")])
    assertDataFrameEqual(store.read("t.m"), expected)
    again = store.merge("t.m", kv(spark, [(2, "B"), (4, "D")]), keys=["k"])
    assert again.metrics["inserted"] == 0
    assertDataFrameEqual(store.read("t.m"), expected)


def test_merge_ignore_keeps_existing_rows_and_counts_matches(spark, store):
    store.write("t.mi", kv(spark, [(1, "a")]))
    result = store.merge("t.mi", kv(spark, [(1, "X"), (5, "e")]), keys=["k"],
                         when_matched="ignore")
    assert dict(result.metrics) == {"source_rows": 2, "inserted": 1, "matched": 1}
    assertDataFrameEqual(store.read("t.mi"), kv(spark, [(1, "a"), (5, "e")]))


@pytest.mark.parametrize("when_matched", ["ignore", "update"])
def test_a_merge_of_unique_keys_counts_its_source(spark, store, when_matched):
    new = store.merge("t.mu", kv(spark, [(1, "a"), (2, "b")]), keys=["k"], keys_unique=True)
    assert dict(new.metrics) == {"source_rows": 2, "inserted": 2, "matched": 0}
    result = store.merge("t.mu", kv(spark, [(1, "X"), (5, "e")]), keys=["k"],
                         when_matched=when_matched, keys_unique=True)
    assert dict(result.metrics) == {"source_rows": 2, "inserted": 1, "matched": 1}
    empty = store.merge("t.mu", kv(spark, []), keys=["k"], when_matched=when_matched,
                        keys_unique=True)
    assert dict(empty.metrics) == {"source_rows": 0, "inserted": 0, "matched": 0}
    assert store.read("t.mu").count() == 3


KDV = T.StructType([T.StructField("k", T.LongType()), T.StructField("day", T.DateType()),
                   T.StructField("v", T.StringType())])
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
ON_D2 = "day = DATE'2024-01-02'"  # implied by key equality: the key includes the day


def kdv(spark, rows):
    return spark.createDataFrame(rows, KDV)


def three_files(spark, store, name):
    """A table of three files; the second mixes days, and a NULL day and key."""
    store.write(name, kdv(spark, [(1, D1, "a"), (2, D1, "b")]).coalesce(1))
    store.write(name, kdv(spark, [(3, D2, "c"), (4, D2, "d"), (5, D3, "e"), (None, D3, "n"),
                                  (8, None, "z")]).coalesce(1), mode="append")
    store.write(name, kdv(spark, [(6, D3, "f")]).coalesce(1), mode="append")


@pytest.mark.parametrize("when_matched, new_v3", [("ignore", "c"), ("update", "C")])
def test_a_target_filter_gives_the_unfiltered_merge_result(spark, store, when_matched, new_v3):
    source = kdv(spark, [(3, D2, "C"), (7, D2, "G")])
    three_files(spark, store, "t.plain")
    three_files(spark, store, "t.scoped")
    plain = store.merge("t.plain", source, keys=["k", "day"], when_matched=when_matched)
    scoped = store.merge("t.scoped", source, keys=["k", "day"], when_matched=when_matched,
                         target_filter=ON_D2)
    assert dict(scoped.metrics) == dict(plain.metrics) == {
        "source_rows": 2, "inserted": 1, "matched": 1}
    expected = kdv(spark, [(1, D1, "a"), (2, D1, "b"), (3, D2, new_v3), (4, D2, "d"),
                           (5, D3, "e"), (None, D3, "n"), (8, None, "z"), (6, D3, "f"),
                           (7, D2, "G")])
    assertDataFrameEqual(store.read("t.plain"), expected)
    # the rewritten second file keeps its rows outside the filter (other day, NULL day)
    assertDataFrameEqual(store.read("t.scoped"), expected)


@pytest.mark.parametrize("when_matched", ["ignore", "update"])
def test_a_target_filter_not_implied_by_the_keys_makes_matching_rows_new(spark, store,
                                                                         when_matched):
    three_files(spark, store, "t.wrong")
    source = kdv(spark, [(3, D2, "C"), (5, D3, "E")])  # (5, D3) exists, outside the filter
    result = store.merge("t.wrong", source, keys=["k", "day"], when_matched=when_matched,
                         target_filter=ON_D2)
    assert dict(result.metrics) == {"source_rows": 2, "inserted": 1, "matched": 1}
    fives = store.read("t.wrong").where("k = 5").select("v").collect()
    assert sorted(r.v for r in fives) == ["E", "e"]  # the caller's filter was wrong
    assert store.read("t.wrong").count() == 9


def test_merge_creates_a_missing_table_and_rejects_bad_keys(spark, store):
    created = store.merge("t.mc", kv(spark, [(1, "a")]), keys=["k"])
    assert created.metrics["inserted"] == 1 and store.version("t.mc") == 0
    with pytest.raises(MergeKeyError, match="1 source rows repeat a key"):
        store.merge("t.mc", kv(spark, [(7, "x"), (7, "y")]), keys=["k"])
    with pytest.raises(MergeKeyError, match="NULL key"):
        store.merge("t.mc", kv(spark, [(None, "x")]), keys=["k"])
    assert store.version("t.mc") == 0


def test_replace_where_replaces_only_matching_rows(spark, store):
    store.write("t.rw", kv(spark, [(1, "old"), (2, "old"), (3, "keep"), (None, "keep")]))
    result = store.write("t.rw", kv(spark, [(1, "new"), (2, "new"), (2, "new2")]),
                         mode="overwrite", replace_where="k IN (1, 2)")
    # rewritten = the new rows + untouched rows that shared a file with replaced ones
    assert result.version == 1 and 3 <= result.metrics["rows_written"] <= 5
    assertDataFrameEqual(
        store.read("t.rw"),
        kv(spark, [(1, "new"), (2, "new"), (2, "new2"), (3, "keep"), (None, "keep")]))
    with pytest.raises(TableStoreError, match="do not match"):
        store.write("t.rw", kv(spark, [(9, "x")]), mode="overwrite", replace_where="k = 1")


def test_distinct_values_follow_the_latest_version_without_removed_files(spark, store):
    store.write("t.dv", kv(spark, [(1, "a"), (2, "b"), (3, "a"), (None, None)]))
    assert store.distinct_values("t.dv", "v") == {"a", "b", None}
    store.write("t.dv", kv(spark, [(4, "c")]), mode="overwrite", replace_where="k IS NOT NULL")
    assert store.distinct_values("t.dv", "v") == {"c", None}
    assert store.distinct_values("t.dv", "k") == {4, None}


def test_schema_mismatch_fails_clearly_and_leaves_the_table_unchanged(spark, store):
    store.write("t.s", kv(spark, [(1, "a")]))
    wrong = spark.createDataFrame([(1, 2)], "k long, v int")
    with pytest.raises(SchemaMismatchError, match=r"column 'v' is int, table has string"):
        store.write("t.s", wrong, mode="append")
    extra = kv(spark, [(2, "b")]).withColumn("z", F.lit(1))
    with pytest.raises(SchemaMismatchError, match="unexpected column 'z'"):
        store.merge("t.s", extra, keys=["k"])
    assert store.version("t.s") == 0
    assertDataFrameEqual(store.read("t.s"), kv(spark, [(1, "a")]))
    reordered = kv(spark, [(2, "b")]).select("v", "k")
    store.write("t.s", reordered, mode="append")
    assert store.read("t.s").count() == 2


def test_create_mode_refuses_an_existing_table(spark, store):
    store.write("t.e", kv(spark, [(1, "a")]))
    with pytest.raises(TableExistsError):
        store.write("t.e", kv(spark, [(1, "a")]))
    with pytest.raises(TableNotFoundError):
        store.read("t.nothing")


def test_failure_between_files_and_commit_leaves_previous_version(spark, store, monkeypatch):
    store.write("t.crash", kv(spark, [(1, "a")]))
    before = set(os.listdir(store.location("t.crash")))

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash before commit")

    monkeypatch.setattr(deltalog, "commit", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.write("t.crash", kv(spark, [(2, "b")]), mode="append", txn=AppTxn("job", 1))
    monkeypatch.undo()
    assert store.version("t.crash") == 0
    assert set(os.listdir(store.location("t.crash"))) == before  # staged files cleaned up
    assertDataFrameEqual(store.read("t.crash"), kv(spark, [(1, "a")]))
    first = store.write("t.crash", kv(spark, [(2, "b")]), mode="append", txn=AppTxn("job", 1))
    retry = store.write("t.crash", kv(spark, [(2, "b")]), mode="append", txn=AppTxn("job", 1))
    assert first.committed and not retry.committed and retry.version == first.version
    assert store.txn_version("t.crash", "job") == 1
    assertDataFrameEqual(store.read("t.crash"), kv(spark, [(1, "a"), (2, "b")]))


def test_orphan_files_of_a_crashed_writer_are_ignored(spark, store):
    store.write("t.orphan", kv(spark, [(1, "a")]))
    kv(spark, [(99, "orphan")]).write.parquet(os.path.join(store.location("t.orphan"),
                                                           "part-crashed"))
    assertDataFrameEqual(store.read("t.orphan"), kv(spark, [(1, "a")]))


@pytest.mark.slow
def test_two_processes_appending_at_once_lose_and_duplicate_nothing(store, spark):
    store.write("t.conc", spark.createDataFrame([], "writer long, id long"))
    uri = store.location("t.conc")
    ctx = multiprocessing.get_context("spawn")  # fork after deltalake import can hang
    with ctx.Pool(2) as pool:
        pool.starmap(append_batches, [(uri, w, 10, 50) for w in range(2)])
    ids = [r.id for r in store.read("t.conc").select("id").collect()]
    assert sorted(ids) == list(range(2 * 10 * 50))
    assert store.version("t.conc") == 20


def test_a_commit_that_loses_the_race_raises_a_retryable_error(spark, store):
    store.write("t.race", kv(spark, [(1, "a")]))
    uri = store.location("t.race")
    first, second = DeltaTable(uri), DeltaTable(uri)
    live = list(deltalog.file_paths(first).values())
    schema = store.schema("t.race")
    deltalog.commit(uri, schema, [], mode="append", base=first, removed=live)
    with pytest.raises(ConcurrentCommitError) as err:
        deltalog.commit(uri, schema, [], mode="append", base=second, removed=live)
    assert err.value.retryable and "retry" in str(err.value)


def test_tables_needing_unsupported_features_are_refused(spark, store, tmp_path):
    naive = pa.table({"ts": pa.array([datetime(2024, 1, 1)], pa.timestamp("us"))})
    write_deltalake(str(tmp_path / "ntz"), naive)
    with pytest.raises(UnsupportedTableError, match="timestamp_ntz"):
        deltalog.open_table(str(tmp_path / "ntz"))
    ntz = spark.createDataFrame([Row(ts=datetime(2024, 1, 1))],
                                T.StructType([T.StructField("ts", T.TimestampNTZType())]))
    with pytest.raises(UnsupportedTableError, match="UTC timestamps"):
        store.write("t.ntz", ntz)
    assert not store.exists("t.ntz")


def test_restore_and_vacuum(spark, store):
    store.write("t.r", kv(spark, [(1, "a")]))
    store.write("t.r", kv(spark, [(2, "b")]), mode="overwrite")
    restored = store.restore("t.r", 0)
    assert restored.version == 2
    assertDataFrameEqual(store.read("t.r"), kv(spark, [(1, "a")]))
    assert store.vacuum("t.r") == []  # default: dry run, 7 days retention
    assert os.path.isdir(store.location("t.r"))


def test_names_resolve_under_the_lake_and_are_validated(store, settings):
    assert store.location("gold.customer_features") == str(
        settings.paths.lake / "gold" / "customer_features")
    with pytest.raises(ValueError, match=r"layer\.table"):
        store.location("no_layer")


def test_backend_detection_picks_embedded_here_and_refuses_forced_native(spark, settings):
    assert delta_connector_available(spark) is False
    assert open_store(spark, settings).backend == "embedded"
    forced = settings.model_copy(update={"tables": settings.tables.model_copy(
        update={"backend": "native"})})
    with pytest.raises(TableStoreError, match=r"connector is not on the"):
        open_store(spark, forced)


def test_reading_a_vacuumed_version_is_a_clear_error(spark, store):
    store.write("t.vac", kv(spark, [(1, "a")]))
    store.write("t.vac", kv(spark, [(2, "b")]), mode="overwrite")
    DeltaTable(store.location("t.vac")).vacuum(retention_hours=0, dry_run=False,
                                               enforce_retention_duration=False)
    with pytest.raises(TableNotFoundError, match=r"version 0 refers to 1 data file"):
        store.read("t.vac", version=0)
    assertDataFrameEqual(store.read("t.vac"), kv(spark, [(2, "b")]))
