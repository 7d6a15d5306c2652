"""`python -m lakehouse.pipeline`: stages in order in one process, stopping at the first
failure with the failing stage's one-line error."""

from __future__ import annotations

import pytest

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
