"""End to end: generator -> bronze -> silver -> gold -> train -> score -> audit, in process,
on a dirty generated sample whose manifest and ground truth give the exact answers."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from audit.cli import main as audit_main
from bronze.run import main as bronze_main
from lakehouse.shell import main as shell_main
from lakehouse.tables import open_store
from ml import tracking
from ml.metrics import roc_auc
from silver.run import main as silver_main


def test_bronze_and_silver_reconcile_exactly_with_the_manifest(lake, spark):
    settings, _, manifest = lake
    store, names, totals = open_store(spark, settings), settings.tables.names, manifest["totals"]
    bronze = store.read(names.bronze_transactions)
    assert bronze.count() == totals["records"]
    corrupt = totals["dirt"]["extra_fields"] + totals["dirt"]["missing_fields"]
    assert bronze.where(F.col("_corrupt_record").isNotNull()).count() == corrupt
    audit = store.read(names.silver_audit).agg(
        *[F.sum(c).alias(c) for c in ("bronze_rows", "inserted", "quarantined",
                                      "duplicates", "matched_existing")]).first()
    assert audit.bronze_rows == totals["records"]
    assert audit.inserted == totals["expected_clean_rows"]
    assert audit.duplicates == totals["expected_duplicates"]
    assert audit.quarantined == totals["expected_rejected"]
    assert audit.matched_existing == 0
    assert store.read(names.silver_transactions).count() == totals["expected_clean_rows"]


def test_a_second_run_of_every_ingesting_stage_is_a_no_op(lake, spark):
    settings, args, _ = lake
    store, names = open_store(spark, settings), settings.tables.names
    tables = [names.bronze_transactions, names.bronze_ingest_log, names.silver_transactions,
              names.silver_quarantine]
    before = [store.version(t) for t in tables]
    assert bronze_main(args) == 0 and silver_main(args) == 0
    assert [store.version(t) for t in tables] == before


def test_gold_has_every_snapshot_and_labels_only_where_the_horizon_fits(lake, spark):
    settings, _, _ = lake
    store, names = open_store(spark, settings), settings.tables.names
    features = store.read(names.gold_features)
    dates = sorted(r[0] for r in features.select("as_of_date").distinct().collect())
    assert len(dates) >= 12
    assert features.groupBy("customer_id", "as_of_date").count().where("count > 1").count() == 0
    last_tx = store.read(names.silver_transactions).agg(F.max("invoice_date")).first()[0]
    labels = store.read(names.gold_labels)
    for (as_of, horizon) in labels.select("as_of_date", "horizon_days").distinct().collect():
        assert as_of + timedelta(days=horizon) <= last_tx


def test_the_churn_model_beats_the_recency_rule_and_ranks_truly_gone_customers(lake, spark):
    settings, _, _ = lake
    tracking.configure(settings)
    client = MlflowClient()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string="tags.model = 'churn'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["beats_recency_rule"] == "true", run.data.metrics
    scores = open_store(spark, settings).read(settings.tables.names.gold_scores).toPandas()
    truth = _truth(settings.paths.truth / "customers.csv")
    as_of = scores["as_of_date"].iloc[0]
    gone = [int(truth.get(c) is not None and truth[c] <= as_of) for c in scores["customer_id"]]
    auc = roc_auc(gone, scores["churn_probability"])
    print(f"AUC of churn scores against ground truth at {as_of}: {auc:.3f}")
    assert auc > 0.75


def test_scores_cover_the_latest_snapshot_with_deciles(lake, spark):
    settings, _, _ = lake
    store, names = open_store(spark, settings), settings.tables.names
    scores = store.read(names.gold_scores)
    latest = store.read(names.gold_features).agg(F.max("as_of_date")).first()[0]
    assert scores.select("as_of_date").distinct().collect()[0][0] == latest
    assert scores.count() == store.read(names.gold_features).where(
        F.col("as_of_date") == latest).count()
    assert {r[0] for r in scores.select("risk_decile").distinct().collect()} == set(range(1, 11))
    assert store.read(names.gold_segments).count() > 0


def test_reproduce_succeeds_then_fails_once_the_versions_are_vacuumed(lake, spark, capsys):
    settings, args, _ = lake
    assert audit_main([*args, "reproduce", "latest", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reproduced"] and {c["split"] for c in out["checks"]} == {"train", "test"}
    store, names = open_store(spark, settings), settings.tables.names
    features = store.read(names.gold_features).localCheckpoint()
    store.write(names.gold_features, features.limit(10), mode="overwrite")
    _vacuum_all(store, names.gold_features)
    assert audit_main([*args, "reproduce", "latest"]) == 1
    assert "vacuumed" in capsys.readouterr().err


def _vacuum_all(store, table):
    """Drop every file older versions need (tests only: no retention)."""
    store.spark.conf.set(RETENTION_CHECK, "false")
    try:
        store.vacuum(table, retention_hours=0, dry_run=False)
    finally:
        store.spark.conf.unset(RETENTION_CHECK)


RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def test_every_table_is_written_by_delta_spark_and_read_alike_by_delta_rs(lake, spark):
    settings, _, _ = lake
    store = open_store(spark, settings)
    tables = [n for n in settings.tables.names.model_dump().values() if store.exists(n)]
    assert len(tables) >= 10
    for name in tables:
        engines = {r[0] for r in spark.sql(f"DESCRIBE HISTORY {store.identifier(name)}")
                   .select("engineInfo").collect()}
        assert all("Apache-Spark/" in e and "Delta-Lake/" in e for e in engines), name
        df = store.read(name)
        column = next(f.name for f in df.schema.fields
                      if f.dataType.typeName() in ("long", "integer", "double", "decimal"))
        found = QueryBuilder().register("t", DeltaTable(store.location(name))).execute(
            f'SELECT count(*) AS n, sum("{column}") AS s FROM t').read_all()
        rows, total = pa.table(found).to_pylist()[0].values()
        expected = df.agg(F.count(F.lit(1)), F.sum(column)).first()
        assert rows == expected[0], name
        if expected[1] is None:  # no row, or the column is NULL in every row
            assert total is None, name
        else:
            assert total == pytest.approx(expected[1], rel=1e-9), name  # float sums: any order


def test_the_shell_knows_every_table_by_its_name(lake, capsys):
    _, args, _ = lake
    command = ('print("rows", spark.table("silver.transactions").count()); '
               'print("versions", spark.sql("DESCRIBE HISTORY gold.customer_features").count())')
    assert shell_main([*args, "-c", command]) == 0
    out = capsys.readouterr().out
    assert "rows " in out and int(out.split("rows ")[1].split()[0]) > 0
    assert int(out.split("versions ")[1].split()[0]) >= 1


def _truth(path: Path) -> dict[str, date | None]:
    with path.open(newline="") as handle:
        return {row["customer_id"]: date.fromisoformat(row["churn_date"])
                if row["churn_date"] else None for row in csv.DictReader(handle)}
