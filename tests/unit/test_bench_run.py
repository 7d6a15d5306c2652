"""The command line, per-run settings and log parsing of bench.run_bench (nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run_bench import module, parse_args, stage_overrides, stage_seconds
from bench.samples import Sample, SampleSpec
from lakehouse.config import load_settings

SAMPLE = Sample(SampleSpec(1, 1, 1, 1), Path("/w/in/landing"), Path("/w/in/truth"), 1, None)
LOG = """\
12:00:01 INFO  bronze: env=local run_id=x
pipeline: Spark session 7.5 s
quality[bronze]: 17 passed, 1 warned, 0 quarantine checks failed, 0 failed (2.0 s)
pipeline: bronze 10.0 s
pipeline: silver 12.5 s
pipeline: gold 6.0 s
pipeline: ml.train 20.25 s
"""


def test_stage_overrides_point_every_path_at_the_run_and_raise_memory_for_big_runs():
    small = stage_overrides(Path("/w"), SAMPLE, 1_000_000, ["spark.shuffle_partitions=4"])
    big = stage_overrides(Path("/w"), SAMPLE, 10_000_000, [])
    settings = load_settings("local", overrides=small)
    assert (str(settings.paths.lake), str(settings.paths.mlflow)) == ("/w/lake", "/w/mlruns")
    assert str(settings.paths.landing) == "/w/in/landing"
    assert settings.spark.shuffle_partitions == 4
    assert not any(s.startswith("spark.driver_memory") for s in small)
    assert load_settings("local", overrides=big).spark.driver_memory == "12g"
    mine = stage_overrides(Path("/w"), SAMPLE, 10_000_000, ["spark.driver_memory=8g"])
    assert load_settings("local", overrides=mine).spark.driver_memory == "8g"


def test_module_passes_every_setting():
    command = module("pipeline", ["paths.lake=/x", "a.b=c"], "bronze")
    assert command[1:] == ["-m", "pipeline", "--env", "local", "--set", "paths.lake=/x",
                           "--set", "a.b=c", "bronze"]


def test_stage_seconds_come_from_the_pipeline_lines(tmp_path: Path):
    (tmp_path / "p.log").write_text(LOG)
    assert stage_seconds(str(tmp_path / "p.log"), ("bronze", "silver", "gold", "train")) == {
        "bronze": {"seconds": 10.0}, "silver": {"seconds": 12.5}, "gold": {"seconds": 6.0},
        "train": {"seconds": 20.25}}


def test_a_missing_stage_line_is_an_error(tmp_path: Path):
    (tmp_path / "p.log").write_text(LOG.replace("pipeline: gold 6.0 s", ""))
    with pytest.raises(RuntimeError, match="gold"):
        stage_seconds(str(tmp_path / "p.log"), ("bronze", "silver", "gold"))


@pytest.mark.parametrize("gone", ["--env", "--only", "--processes", "--quiet-cpu",
                                  "--extend-months", "--driver-memory"])
def test_the_single_purpose_options_are_gone(gone: str):
    with pytest.raises(SystemExit):
        parse_args([gone, "x"])
