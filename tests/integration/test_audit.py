"""Time-travel audits: history, diff by key with drift, restore with confirmation."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pyspark.sql import types as T

from audit.cli import main as audit_main
from audit.drift import psi
from audit.tables import diff, history_rows, restore_preview

FEATURES = "gold.customer_features"
SCHEMA = T.StructType([
    T.StructField("customer_id", T.StringType()),
    T.StructField("as_of_date", T.DateType()),
    T.StructField("recency_days", T.IntegerType()),
    T.StructField("total_spend", T.DoubleType()),
])
JAN, FEB = date(2024, 1, 31), date(2024, 2, 29)


def features(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


@pytest.fixture
def two_versions(ctx):
    v0 = [("a", JAN, 5, 10.0), ("b", JAN, 9, 20.0), ("c", JAN, 1, None), ("a", FEB, 3, 12.0)]
    ctx.store.write(FEATURES, features(ctx.spark, v0))
    v1 = [("a", JAN, 5, 10.0),      # unchanged
          ("b", JAN, 9, 25.0),      # changed
          ("c", JAN, 1, 7.5),       # changed: NULL -> value
          ("d", JAN, 40, 1.0)]      # added; (a, FEB) removed
    ctx.store.write(FEATURES, features(ctx.spark, v1), mode="overwrite",
                    metadata={"run_id": "gold-run-2"})
    return ctx


def test_diff_counts_rows_by_key_and_reports_drift(two_versions):
    result = diff(two_versions.store, FEATURES, ["customer_id", "as_of_date"], 0, 1)
    assert result["rows"] == {"added": 1, "removed": 1, "changed": 2, "unchanged": 1}
    assert result["schema_changes"] == []
    drift = {d["column"]: d for d in result["drift"]}
    assert drift["total_spend"]["nulls_from"] == 1 and drift["total_spend"]["nulls_to"] == 0
    assert drift["recency_days"]["mean_from"] == pytest.approx(4.5)
    assert drift["recency_days"]["mean_to"] == pytest.approx(13.75)


def test_diff_of_one_as_of_date(two_versions):
    result = diff(two_versions.store, FEATURES, ["customer_id", "as_of_date"], 0, 1,
                  as_of="2024-02-29")
    assert result["rows"] == {"added": 0, "removed": 1, "changed": 0, "unchanged": 0}


def test_history_shows_operations_rows_and_runs(two_versions):
    rows = history_rows(two_versions.store, FEATURES)
    assert [(r["version"], r["operation"], r["rows_added"], r["run_id"]) for r in rows] == [
        (1, "OVERWRITE", 4, "gold-run-2"), (0, "CREATE", 4, None)]


def test_restore_without_confirmation_changes_nothing(two_versions, capsys):
    store = two_versions.store
    preview = restore_preview(store, FEATURES, ["customer_id", "as_of_date"], 0)
    assert preview["rows"] == {"added": 1, "removed": 1, "changed": 2, "unchanged": 1}
    args = ["--env", "test", *_paths(two_versions), "restore", "gold_features",
            "--version", "0", "--json"]
    assert audit_main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["restored"] is False and store.version(FEATURES) == 1
    assert audit_main([*args, "--yes"]) == 0
    assert store.version(FEATURES) == 2
    assert store.read(FEATURES).count() == 4
    assert store.read(FEATURES).where("customer_id = 'd'").count() == 0


def test_diff_cli_writes_a_chart_and_fails_clearly_on_a_missing_version(two_versions, capsys):
    base = ["--env", "test", *_paths(two_versions)]
    assert audit_main([*base, "diff", FEATURES, "--from", "0", "--to", "1", "--chart"]) == 0
    out = capsys.readouterr().out
    assert "added" in out and "drift chart:" in out
    chart = out.split("drift chart: ")[1].strip()
    assert chart.endswith(".png")
    assert audit_main([*base, "diff", FEATURES, "--from", "0", "--to", "7"]) == 1
    assert "version 7" in capsys.readouterr().err


def test_maintain_compacts_each_table_and_vacuums_only_when_asked(two_versions, capsys):
    store = two_versions.store
    store.write(FEATURES, features(two_versions.spark, [("e", FEB, 2, 3.0)]), mode="append")
    before = store.read(FEATURES).collect()
    version = store.version(FEATURES)
    base = ["--env", "test", *_paths(two_versions), "maintain", "--json"]
    assert audit_main(base) == 0
    (row,) = [r for r in json.loads(capsys.readouterr().out) if r["table"] == FEATURES]
    assert row["files removed"] >= 2 and row["files added"] == 1
    assert row["old files (dry run)"] == 0  # younger than the 7-day retention
    assert store.version(FEATURES) == version + 1
    assert store.history(FEATURES, limit=1)[0].operation == "OPTIMIZE"
    assert sorted(store.read(FEATURES).collect()) == sorted(before)
    assert store.read(FEATURES, version=0).count() == 4  # time travel still works


def test_psi_is_zero_for_equal_histograms_and_grows_with_shift():
    assert psi([10, 10, 10], [10, 10, 10]) == pytest.approx(0.0)
    assert psi([10, 10, 10], [1, 10, 19]) > psi([10, 10, 10], [8, 10, 12]) > 0
    assert psi([0, 0], [1, 1]) is None


def _paths(ctx):
    p = ctx.settings.paths
    return ["--set", f"paths.lake={p.lake}", "--set", f"paths.reports={p.reports}"]
