"""`python -m lakehouse.pipeline`: stages in order in one process, stopping at the first
failure with the failing stage's one-line error."""

from __future__ import annotations

import threading
import time

import pytest

from lakehouse.cli import Stage, run_stages
from lakehouse.errors import LakehouseError
from lakehouse.pipeline import STAGE_MODULES, load_stage, main, parse_args


def test_every_make_stage_has_a_stage_spec():
    for name in STAGE_MODULES:
        stage = load_stage(name)
        assert stage.prog.split(".")[-1] == name
        assert stage.parser().parse_args([]) is not None  # runs with default flags


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


def test_stages_given_as_a_function_are_loaded_beside_the_session_start(spark, tmp_path,
                                                                        capsys):
    ran, loaded_in = [], []

    def body(ctx, args):
        ran.append(ctx.run_id)

    def stages():
        loaded_in.append(threading.current_thread().name)
        stage = Stage("probe", "a probe stage", body)
        return [(stage, stage.parser().parse_args([]))]

    config = parse_args(["--env", "test", f"--set=paths.lake={tmp_path / 'lake'}", "bronze"])
    assert run_stages(stages, config=config, timings=True) == 0
    assert loaded_in and loaded_in[0] != threading.main_thread().name
    assert len(ran) == 1 and ran[0].startswith("probe-")
    assert "pipeline: probe" in capsys.readouterr().out


def test_a_stage_list_that_fails_to_load_is_reported(spark, tmp_path):
    def stages():
        raise ImportError("no module named 'platinum'")

    config = parse_args(["--env", "test", f"--set=paths.lake={tmp_path / 'lake'}", "bronze"])
    with pytest.raises(ImportError, match="platinum"):
        run_stages(stages, config=config)


def _probe_run(tmp_path, stages) -> int:
    config = parse_args(["--env", "test", f"--set=paths.lake={tmp_path / 'lake'}", "bronze"])
    return run_stages([(s, s.parser().parse_args([])) for s in stages], config=config)


def test_a_later_stage_is_prepared_beside_the_earlier_ones_and_before_its_own_run(
        spark, tmp_path):
    prepared, events = threading.Event(), []

    def first(ctx, args):
        # Only returns once the second stage's preparation ran meanwhile.
        events.append(("first waits", prepared.wait(timeout=30)))

    def prepare(settings):
        events.append(("prepare", threading.current_thread().name))
        prepared.set()

    def second(ctx, args):
        events.append(("second", prepared.is_set()))

    assert _probe_run(tmp_path, [Stage("one", "first", first),
                                 Stage("two", "second", second, prepare=prepare)]) == 0
    assert events == [("prepare", "prepare-two"), ("first waits", True), ("second", True)]


def test_a_failed_preparation_leaves_the_work_to_the_stage(spark, tmp_path):
    ran = []

    def prepare(settings):
        raise OSError("disk full")

    assert _probe_run(tmp_path, [Stage("one", "runs anyway", lambda c, a: ran.append(1),
                                       prepare=prepare)]) == 0
    assert ran == [1]


def test_a_preparation_is_finished_even_when_an_earlier_stage_fails(spark, tmp_path):
    finished = []

    def prepare(settings):
        time.sleep(0.5)
        finished.append(True)

    def fails(ctx, args):
        raise LakehouseError("bronze failed")

    stages = [Stage("one", "fails", fails), Stage("two", "never runs", lambda c, a: None,
                                                   prepare=prepare)]
    assert _probe_run(tmp_path, stages) == 1
    assert finished == [True]
