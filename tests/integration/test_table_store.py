"""The Delta table store on delta-spark: types, time travel, merge, txn, safety, maintenance."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.tables import (
    AppTxn,
    MergeKeyError,
    SchemaMismatchError,
    TableExistsError,
    TableNotFoundError,
    TableStoreError,
)

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


def delta_rs_rows(path: str) -> list[dict]:
    """A table's rows as delta-rs reads them (its query engine applies deletion vectors)."""
    found = QueryBuilder().register("t", DeltaTable(path)).execute("SELECT * FROM t")
    return pa.table(found.read_all()).to_pylist()


def test_every_column_type_round_trips_through_the_store_and_delta_rs(spark, store):
    df = spark.createDataFrame(ALL_TYPES_ROWS, ALL_TYPES)
    result = store.write("t.types", df)
    assert (result.version, result.committed, result.metrics["rows_written"]) == (0, True, 3)
    assertDataFrameEqual(store.read("t.types"), df)
    assert store.schema("t.types") == ALL_TYPES
    expected = [dict(zip(ALL_TYPES.names, row, strict=True)) for row in ALL_TYPES_ROWS]
    key = lambda r: str(r["s"])  # noqa: E731
    assert sorted(delta_rs_rows(store.location("t.types")), key=key) == sorted(expected, key=key)


def test_every_commit_is_delta_spark_with_the_configured_properties(spark, store):
    store.write("t.props", kv(spark, [(1, "a")]))
    store.merge("t.props", kv(spark, [(1, "b"), (2, "c")]), keys=["k"])
    engines = spark.sql(f"DESCRIBE HISTORY {store.identifier('t.props')}") \
        .select("engineInfo").collect()
    assert len(engines) == 2
    assert all("Apache-Spark/" in r[0] and "Delta-Lake/" in r[0] for r in engines)
    properties = dict(spark.sql(f"SHOW TBLPROPERTIES {store.identifier('t.props')}").collect())
    assert properties["delta.enableDeletionVectors"] == "true"
    assert "delta.enableChangeDataFeed" not in properties
    # the merge marked the replaced row with a deletion vector; delta-rs still reads it right
    assert DeltaTable(store.location("t.props")).protocol().reader_features == ["deletionVectors"]
    assert sorted((r["k"], r["v"]) for r in delta_rs_rows(store.location("t.props"))) == [
        (1, "b"), (2, "c")]


def test_a_table_with_its_own_properties_keeps_a_change_data_feed(spark, store, settings):
    name = settings.tables.names.silver_transactions
    store.write(name, kv(spark, [(1, "a")]))
    first = store.version(name)
    store.write(name, kv(spark, [(2, "b")]), mode="append")
    changes = store.changes(name, after_version=first).select("k", "v", "_change_type")
    assert [tuple(r) for r in changes.collect()] == [(2, "b", "insert")]


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
    with pytest.raises(TableNotFoundError, match=r"t\.tt has no version 9"):
        store.read("t.tt", version=9)


def test_merge_updates_and_inserts_without_duplicates(spark, store):
    store.write("t.m", kv(spark, [(1, "a"), (2, "b"), (3, None)]))
    result = store.merge("t.m", kv(spark, [(2, "B"), (3, "C"), (4, "D")]), keys=["k"])
    assert dict(result.metrics) == {"source_rows": 3, "inserted": 1, "matched": 2}
    expected = kv(spark, [(1, "a"), (2, "B"), (3, "C"), (4, "D")])
    assert result.version == 1
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


def test_an_app_transaction_commits_once_on_write_and_merge(spark, store):
    store.write("t.txn", kv(spark, [(1, "a")]))
    first = store.write("t.txn", kv(spark, [(2, "b")]), mode="append", txn=AppTxn("job", 1))
    retry = store.write("t.txn", kv(spark, [(2, "b")]), mode="append", txn=AppTxn("job", 1))
    assert first.committed and not retry.committed and retry.version == first.version
    merged = store.merge("t.txn", kv(spark, [(3, "c")]), keys=["k"], txn=AppTxn("job", 2))
    again = store.merge("t.txn", kv(spark, [(3, "c"), (4, "d")]), keys=["k"],
                        txn=AppTxn("job", 2))
    assert merged.committed and not again.committed and again.version == merged.version
    assert store.txn_version("t.txn", "job") == 2
    assert store.txn_metadata("t.txn", "job", 1)["_version"] == first.version
    assertDataFrameEqual(store.read("t.txn"), kv(spark, [(1, "a"), (2, "b"), (3, "c")]))


def test_delta_spark_itself_skips_a_committed_transaction(spark, store):
    """The store's own check reads userMetadata; delta-spark's SetTransaction is the
    guard that also holds for a retry racing the first attempt."""
    store.write("t.txn2", kv(spark, [(1, "a")]))
    writer = kv(spark, [(2, "b")]).write.format("delta").mode("append") \
        .option("txnAppId", "raw").option("txnVersion", 5)
    writer.save(store.location("t.txn2"))
    writer.save(store.location("t.txn2"))
    assert store.read("t.txn2").count() == 2


def test_appends_from_several_threads_lose_and_duplicate_nothing(spark, store):
    store.write("t.conc", spark.createDataFrame([], "writer long, id long"))

    def append(writer: int) -> None:
        for batch in range(3):
            rows = [(writer, writer * 100 + batch * 10 + i) for i in range(10)]
            store.write("t.conc", spark.createDataFrame(rows, "writer long, id long"),
                        mode="append")

    threads = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = sorted(r.id for r in store.read("t.conc").select("id").collect())
    assert ids == sorted(w * 100 + b * 10 + i for w in range(3) for b in range(3)
                         for i in range(10))
    assert store.version("t.conc") == 9


def test_restore_and_vacuum(spark, store):
    store.write("t.r", kv(spark, [(1, "a")]))
    store.write("t.r", kv(spark, [(2, "b")]), mode="overwrite")
    restored = store.restore("t.r", 0)
    assert restored.version == 2
    assertDataFrameEqual(store.read("t.r"), kv(spark, [(1, "a")]))
    assert store.vacuum("t.r") == []  # default: dry run, 7 days retention
    assertDataFrameEqual(store.read("t.r", version=1), kv(spark, [(2, "b")]))


def test_names_resolve_under_the_lake_and_are_validated(store, settings):
    assert store.location("gold.customer_features") == str(
        settings.paths.lake / "gold" / "customer_features")
    with pytest.raises(ValueError, match=r"layer\.table"):
        store.location("no_layer")


def test_reading_a_vacuumed_version_is_a_clear_error(spark, store):
    store.write("t.vac", kv(spark, [(1, "a")]))
    store.write("t.vac", kv(spark, [(2, "b")]), mode="overwrite")
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        deleted = store.vacuum("t.vac", retention_hours=0, dry_run=False)
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    assert len(deleted) == 1
    with pytest.raises(TableNotFoundError, match=r"t\.vac version 0 refers to data files that"):
        store.read("t.vac", version=0)
    assertDataFrameEqual(store.read("t.vac"), kv(spark, [(2, "b")]))


def test_optimize_compacts_files_and_keeps_the_rows(spark, store):
    for i in range(3):
        store.write("t.opt", kv(spark, [(i, "x")]).coalesce(1),
                    mode="error" if i == 0 else "append")
    metrics = store.optimize("t.opt", zorder_by=["k"])
    assert metrics["numFilesRemoved"] == 3 and metrics["numFilesAdded"] == 1
    assertDataFrameEqual(store.read("t.opt"), kv(spark, [(0, "x"), (1, "x"), (2, "x")]))
    assert store.history("t.opt", limit=1)[0].operation == "OPTIMIZE"
