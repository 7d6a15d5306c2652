"""Splitting one `pipeline` process into per-stage measurements."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.report import seconds
from bench.stages import STARTUP, StageFailed, StageRun, split_pipeline_run

LOG = """\
12:00:01 INFO  bronze: env=local run_id=x
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
    # a total over stages includes the one startup: equal to the process wall time
    assert seconds(stages, ("bronze", "silver", "gold")) == pytest.approx(40.0)


def test_a_missing_stage_line_is_an_error(tmp_path):
    with pytest.raises(StageFailed, match="gold"):
        split_pipeline_run(_run(tmp_path, LOG.replace("pipeline: gold 6.0 s", "")),
                           ("bronze", "silver", "gold"))



def test_every_stage_gets_the_processs_cpu_shares(tmp_path):
    run = replace(_run(tmp_path, LOG), stolen_cpu_share=0.05)
    stages = split_pipeline_run(run, ("bronze", "silver", "gold"))
    assert {name: (st["other_cpu_share"], st["stolen_cpu_share"]) for name, st in
            stages.items()} == {name: (0.01, 0.05) for name in ("bronze", "silver", "gold",
                                                                STARTUP)}
    assert not any("cpu_probe_seconds" in st or "profile" in st for st in stages.values())
