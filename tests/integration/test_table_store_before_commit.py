"""`before_commit`: a check between writing a commit's files and committing them (the
quality gate runs beside the write and has the last word)."""

from __future__ import annotations

import os

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

KV = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.StringType())])


def kv(spark, rows):
    return spark.createDataFrame(rows, KV)


class Veto(RuntimeError):
    pass


def parquet_files(folder):
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder)
            for f in files if f.endswith(".parquet")}


def test_it_runs_after_the_files_are_written_and_before_the_commit(spark, store):
    store.write("t.bc", kv(spark, [(1, "a")]))
    seen = []

    def check():
        seen.append((store.version("t.bc"), len(parquet_files(store.location("t.bc")))))

    result = store.write("t.bc", kv(spark, [(2, "b")]), mode="append", before_commit=check)
    assert seen == [(0, 2)]  # the new file is there, the table still at version 0
    assert result.version == 1
    assertDataFrameEqual(store.read("t.bc"), kv(spark, [(1, "a"), (2, "b")]))


@pytest.mark.parametrize("operation", ["append", "create", "replace_where", "merge_update",
                                       "merge_ignore", "merge_create"])
def test_when_it_raises_nothing_is_committed_and_no_file_stays(spark, store, operation):
    name = "t.veto"
    if operation not in ("create", "merge_create"):
        store.write(name, kv(spark, [(1, "a"), (2, "b")]))
    before = parquet_files(store.location(name)) if store.exists(name) else set()
    version = store.version_if_exists(name)

    def veto():
        raise Veto("the gate said no")

    new = kv(spark, [(2, "B"), (3, "c")])
    with pytest.raises(Veto):
        if operation == "append":
            store.write(name, new, mode="append", before_commit=veto)
        elif operation == "create":
            store.write(name, new, before_commit=veto)
        elif operation == "replace_where":
            store.write(name, new, mode="overwrite", replace_where="k >= 2", before_commit=veto)
        else:
            store.merge(name, new, keys=["k"], before_commit=veto,
                        when_matched="ignore" if operation == "merge_ignore" else "update")
    assert store.version_if_exists(name) == version
    if version is None:
        assert parquet_files(store.location(name)) == set()
    else:
        assert parquet_files(store.location(name)) == before
        assertDataFrameEqual(store.read(name), kv(spark, [(1, "a"), (2, "b")]))
