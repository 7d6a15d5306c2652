"""bench.compare against small Delta tables written by delta-rs (no Spark): the counts
come from delta-rs's query engine over the current version, rows are joined in DuckDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from bench.compare import DOUBLE_FEATURES, EXACT_FEATURES, compare, pipeline_counts, table_path

NAMES = {"bronze_transactions": "bronze.transactions_raw",
         "silver_transactions": "silver.transactions",
         "silver_quarantine": "silver.transactions_quarantine",
         "silver_audit": "silver.reconciliation", "gold_features": "gold.customer_features",
         "gold_labels": "gold.churn_labels"}
DATES = [date(2024, 1, 31), date(2024, 1, 31), date(2024, 2, 29)]


def _features() -> pa.Table:
    columns = {"customer_id": ["a", "b", "a"], "as_of_date": DATES}
    columns |= {c: ["DE", "FR", "DE"] if c == "country" else [1, 2, 3] for c in EXACT_FEATURES}
    columns |= {c: [1.5, 2.25, 4.0] for c in DOUBLE_FEATURES}
    return pa.table(columns)


def _labels() -> pa.Table:
    return pa.table({"customer_id": ["a", "b", "a"], "as_of_date": DATES,
                     "horizon_days": [90, 90, 90], "churned": [0, 1, 1],
                     "next_purchase_date": [date(2024, 2, 10), None, None]})


def _lake(tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    tables = {
        "bronze_transactions": pa.table({"id": [1, 2, 3, 4], "_corrupt_record": [None, "x", None,
                                                                                  None],
                                         "_rescued": ['{"a": 1}', None, None, None]}),
        "silver_transactions": pa.table({"id": [1, 3]}),
        "silver_quarantine": pa.table({"id": [2], "reject_reasons": [["malformed", "bad_qty"]]}),
        "silver_audit": pa.table({"batch": [1, 2], "duplicates": [1, 0]}),
        "gold_features": _features(), "gold_labels": _labels()}
    for role, table in tables.items():
        write_deltalake(str(table_path(lake, NAMES[role])), table)
    return lake


def _reference(tmp_path: Path) -> dict:
    out = {"features": str(tmp_path / "features.parquet"),
           "labels": str(tmp_path / "labels.parquet")}
    pq.write_table(_features(), out["features"])
    pq.write_table(_labels(), out["labels"])
    counts = {"bronze_rows": 4, "corrupt_records": 1, "rescued_records": 1, "silver_rows": 2,
              "quarantined": 1, "duplicates": 1, "reasons": {"bad_qty": 1, "malformed": 1},
              "feature_rows": 3, "total_spend_sum": 7.75, "as_of_dates": 2, "label_rows": 3,
              "churn_rate": 2 / 3, "labelable_dates": 2}
    return {"counts": counts, "outputs": out}


def test_tables_that_match_the_reference_agree(tmp_path: Path):
    result = compare(_reference(tmp_path), _lake(tmp_path), NAMES)
    assert result["differences"] == {}
    assert result["feature_row_mismatches"] == {} and result["label_row_mismatches"] == {}
    assert result["agree"] is True


def test_counts_are_of_the_current_version_and_differences_are_named(tmp_path: Path):
    lake = _lake(tmp_path)
    DeltaTable(str(table_path(lake, NAMES["silver_transactions"]))).delete("id = 3")
    write_deltalake(str(table_path(lake, NAMES["gold_labels"])),
                    _labels().set_column(3, "churned", pa.array([0, 0, 1])), mode="overwrite")
    assert pipeline_counts(lake, NAMES)["silver_rows"] == 1
    result = compare(_reference(tmp_path), lake, NAMES)
    assert result["differences"] == {"silver_rows": {"pipeline": 1, "duckdb": 2}}
    assert result["label_row_mismatches"] == {"churned": 1}
    assert result["churn_rate_relative_difference"] > 0.1
    assert result["agree"] is False
