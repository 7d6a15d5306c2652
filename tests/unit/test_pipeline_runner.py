"""`python -m pipeline`: stages in order in one process, stopping at the first
failure with the failing stage's one-line error."""

from __future__ import annotations

import pytest

from pipeline import STAGES, main, parse_args


def test_every_make_stage_has_a_stage_spec():
    for name, stage in STAGES.items():
        assert stage.prog.split(".")[-1] == name
        stage.parser().parse_args([])  # runs with default flags: no required flag exits


def test_unknown_stage_is_rejected():
    with pytest.raises(SystemExit):
        parse_args(["--env", "test", "bronze", "platinum"])


def test_stops_at_the_first_failing_stage(spark, tmp_path, capsys):
    args = ["--env", "test", *[f"--set=paths.{k}={tmp_path / k}"
                               for k in ("landing", "truth", "lake", "reports", "mlflow")]]
    code = main([*args, "silver", "gold", "train"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "silver: no bronze batches to process yet" in out
    assert "pipeline: silver" in out  # silver finished and was timed
    assert "gold: error:" in err and "run `make silver` first" in err
    assert "pipeline: gold" not in out and "ml.train" not in out + err


def test_data_docs_of_a_failed_gate_are_published_after_the_stages(spark, tmp_path, capsys):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "bronze.yml").write_text(
        "suite: bronze\nexpectations:\n  - {name: never_empty_file, "
        "expectation: expect_table_row_count_to_be_between, kwargs: {min_value: 1000}, "
        "severity: fail}\n", encoding="utf-8")
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "a.csv").write_text(
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
        "489434,85048,BALL,12,2009-12-01 07:45:00,6.95,13085,UK\n", encoding="utf-8")
    args = ["--env", "test", *[f"--set=paths.{k}={tmp_path / k}"
                               for k in ("landing", "truth", "lake", "reports", "mlflow")],
            f"--set=paths.expectations={suites}", "--set=quality.data_docs=true"]
    code = main([*args, "bronze", "silver"])
    out, err = capsys.readouterr()
    assert code == 1 and "never_empty_file" in err
    index = tmp_path / "reports" / "data_docs" / "index.html"
    assert "quality: Data Docs updated in" in out and str(index) in out
    assert "validations/bronze/" in index.read_text(encoding="utf-8")
