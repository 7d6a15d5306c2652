"""Spark event log summaries (bench.eventlog) and run_bench's per-stage settings."""

from __future__ import annotations

import json
from pathlib import Path

from bench.eventlog import read_events, summarize, text
from bench.run_bench import parse_args, stage_overrides
from lakehouse.config import load_settings

EVENTS = [
    {"Event": "SparkListenerApplicationStart", "App Name": "x"},
    {"Event": "SparkListenerJobStart", "Job ID": 0, "Submission Time": 1_000,
     "Stage IDs": [0, 1], "Properties": {"callSite.short": "collect at /p/silver/run.py:105"}},
    {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": 0, "Stage Name": "collect at /p/silver/run.py:105", "Number of Tasks": 8,
        "Submission Time": 1_000, "Completion Time": 4_000, "Accumulables": [
            {"Name": "internal.metrics.executorRunTime", "Value": 5_500},
            {"Name": "internal.metrics.shuffle.write.bytesWritten", "Value": 3 * 2**20},
            {"Name": "internal.metrics.diskBytesSpilled", "Value": 2**20},
            {"Name": "internal.metrics.input.recordsRead", "Value": 1000}]}},
    {"Event": "SparkListenerStageCompleted", "Stage Info": {
        "Stage ID": 1, "Stage Name": "collect at /p/silver/run.py:105", "Number of Tasks": 2,
        "Submission Time": 4_000, "Completion Time": 9_000, "Accumulables": [
            {"Name": "internal.metrics.shuffle.read.localBytesRead", "Value": 2**20},
            {"Name": "internal.metrics.shuffle.read.remoteBytesRead", "Value": 2**20}]}},
    {"Event": "SparkListenerJobEnd", "Job ID": 0, "Completion Time": 9_500},
    {"Event": "SparkListenerJobStart", "Job ID": 1, "Submission Time": 10_000,
     "Stage IDs": [2], "Properties": {}},  # never ends: left out
]


def test_summarize_names_jobs_by_call_site_and_sums_stage_metrics(tmp_path: Path):
    log = tmp_path / "events"
    log.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    summary = summarize(read_events(log), root="/p/")
    assert summary["jobs"] == [{"job": 0, "call_site": "collect at silver/run.py:105",
                                "stages": [0, 1], "seconds": 8.5}]
    first, second = summary["stages"]
    assert (first["stage"], first["seconds"], first["shuffle_read_mib"]) == (1, 5.0, 2.0)
    assert (second["task_seconds"], second["shuffle_write_mib"], second["spill_disk_mib"],
            second["input_records"]) == (5.5, 3.0, 1.0, 1000)
    assert summary["call_sites"] == [{"call_site": "collect at silver/run.py:105", "jobs": 1,
                                      "seconds": 8.5, "longest": 8.5}]
    assert "    8.5     1     8.5  collect at silver/run.py:105" in text(summary)


def test_jobs_without_a_call_site_take_their_sql_execution_description():
    events = [
        {"Event": "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart",
         "executionId": 7, "description": "count at /p/gold/run.py:86"},
        *[e for pair in [({"Event": "SparkListenerJobStart", "Job ID": i,
                           "Submission Time": 0, "Properties": {"spark.sql.execution.id": "7"}},
                          {"Event": "SparkListenerJobEnd", "Job ID": i,
                           "Completion Time": 1000 * (i + 1)}) for i in range(3)]
          for e in pair],
    ]
    sites = summarize(events, root="/p/")["call_sites"]
    assert sites == [{"call_site": "count at gold/run.py:86", "jobs": 3, "seconds": 6.0,
                      "longest": 3.0}]


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
