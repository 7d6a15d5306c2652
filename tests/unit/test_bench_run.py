"""The command line and per-run settings of bench.run_bench (nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run_bench import parse_args, stage_overrides
from lakehouse.config import load_settings


def test_stage_overrides_point_every_path_at_the_run_and_raise_memory_for_big_runs():
    args = parse_args(["--set", "spark.shuffle_partitions=4"])
    small = stage_overrides(Path("/w"), Path("/w/in/landing"), Path("/w/in/truth"),
                            1_000_000, args)
    big = stage_overrides(Path("/w"), Path("/w/in/landing"), Path("/w/in/truth"),
                          10_000_000, args)
    settings = load_settings("local", overrides=big)
    assert (str(settings.paths.lake), str(settings.paths.mlflow)) == ("/w/lake", "/w/mlruns")
    assert str(settings.paths.landing) == "/w/in/landing"
    assert settings.spark.driver_memory == "12g" and settings.spark.shuffle_partitions == 4
    assert not any(s.startswith("spark.driver_memory") for s in small)


@pytest.mark.parametrize("gone", ["--profile", "--event-logs"])
def test_the_single_purpose_options_are_gone(gone: str):
    with pytest.raises(SystemExit):
        parse_args([gone])
