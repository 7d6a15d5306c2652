"""Splitting one `lakehouse.pipeline` process into per-stage measurements."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.report import seconds
from bench.stages import STARTUP, StageFailed, StageRun, split_pipeline_run

LOG = """\
12:00:01 INFO  bronze: env=local backend=embedded run_id=x
pipeline: Spark session 7.5 s
quality[bronze]: 17 passed, 1 warned, 0 quarantine checks failed, 0 failed (2.0 s)
bronze: batch-000001: 24 files
pipeline: bronze 10.0 s
quality[silver]: 11 passed, 0 warned, 0 quarantine checks failed, 0 failed (1.5 s)
pipeline: silver 12.5 s
quality[gold]: 39 passed, 0 warned, 0 quarantine checks failed, 0 failed (validated in 4.0 s \
beside the writes, waited 1.0 s)
quality[gold]: 10 passed, 0 warned, 0 quarantine checks failed, 0 failed (validated in 2.2 s \
beside the writes, waited 0.5 s)
pipeline: gold 6.0 s
"""


def _run(tmp_path, text: str) -> StageRun:
    log = tmp_path / "pipeline.log"
    log.write_text(text, encoding="utf-8")
    return StageRun("pipeline", 1000, 40.0, 300.0, 2000.0, 100.0, 5.0, 60.0, 0.01, 0.5, 0,
                    str(log))


def test_stage_seconds_and_gates_come_from_the_lines_between_stages(tmp_path):
    stages = split_pipeline_run(_run(tmp_path, LOG), ("bronze", "silver", "gold"))
    assert {k: v["seconds"] for k, v in stages.items()} == {
        "bronze": 10.0, "silver": 12.5, "gold": 6.0, STARTUP: 11.5}
    assert stages["gold"]["gate_seconds"] == 1.5
    assert stages["silver"]["gate_share"] == pytest.approx(1.5 / 12.5, abs=1e-4)
    assert stages["bronze"]["driver_mib"] == 300.0  # one process: its peaks for each stage
    assert {st["cpu_probe_seconds"] for st in stages.values()} == {None}  # not probed
    # a total over stages includes the one startup: equal to the process wall time
    assert seconds(stages, ("bronze", "silver", "gold")) == pytest.approx(40.0)


def test_a_missing_stage_line_is_an_error(tmp_path):
    with pytest.raises(StageFailed, match="gold"):
        split_pipeline_run(_run(tmp_path, LOG.replace("pipeline: gold 6.0 s", "")),
                           ("bronze", "silver", "gold"))


def test_the_processs_cpu_probe_is_given_to_every_stage(tmp_path):
    run = replace(_run(tmp_path, LOG), cpu_probe_seconds=0.135)
    stages = split_pipeline_run(run, ("bronze", "silver", "gold"))
    assert {name: st["cpu_probe_seconds"] for name, st in stages.items()} == {
        "bronze": 0.135, "silver": 0.135, "gold": 0.135, STARTUP: 0.135}
