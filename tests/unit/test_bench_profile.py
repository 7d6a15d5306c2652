"""Summaries of py-spy raw samples (bench.profile), on hand-written samples."""

from __future__ import annotations

from pathlib import Path

from bench.profile import parse_raw, phase_of, summarize

ROOT = Path("/proj")
RAW = """\
thread (1): MainThread;<module> (/proj/silver/__main__.py:3) 20
thread (1): MainThread;<module> (/proj/silver/__main__.py:5);main (/proj/silver/run.py:240);\
run_stage (/proj/lakehouse/cli.py:60);get_spark (/proj/lakehouse/spark.py:66);\
getOrCreate (/venv/pyspark/sql/session.py:500) 140
thread (1): MainThread;<module> (/proj/silver/__main__.py:5);main (/proj/silver/run.py:240);\
process (/proj/silver/run.py:120);batch_counts (/proj/silver/run.py:95);\
collect (/venv/pyspark/sql/dataframe.py:10) 200
thread (1): MainThread;<module> (/proj/silver/__main__.py:5);process (/proj/silver/run.py:130);\
gate (/proj/lakehouse/quality/gate.py:90);run (/venv/great_expectations/checkpoint.py:1) 60
thread (1): MainThread;<module> (/proj/silver/__main__.py:5);main (/proj/silver/run.py:240);\
run_stage (/proj/lakehouse/cli.py:80);stop (/venv/pyspark/sql/session.py:9) 40
thread (2): Thread-3;run (/venv/py4j/clientserver.py:5) 400
"""


def test_parse_raw_reads_threads_frames_and_counts():
    stacks = parse_raw(RAW.splitlines())
    assert [(t, c) for t, _, c in stacks] == [("MainThread", 20), ("MainThread", 140),
                                              ("MainThread", 200), ("MainThread", 60),
                                              ("MainThread", 40), ("Thread-3", 400)]
    assert stacks[2][1][-1] == ("collect", "/venv/pyspark/sql/dataframe.py", 10)


def test_phase_of_prefers_gate_session_and_store_then_stage_code():
    stacks = parse_raw(RAW.splitlines())
    assert [phase_of(frames, ROOT) for _, frames, _ in stacks[:5]] == [
        "startup and imports", "Spark session start", "stage code", "quality gate",
        "Spark session stop"]


def test_summarize_counts_main_thread_seconds_by_phase_and_line(tmp_path: Path):
    raw = tmp_path / "s.txt"
    raw.write_text(RAW)
    summary = summarize(raw, ROOT, rate=20)
    assert summary["seconds"] == 23.0  # (20 + 140 + 200 + 60 + 40) / 20; not other threads
    assert summary["phases"] == {"stage code": 10.0, "Spark session start": 7.0,
                                 "quality gate": 3.0, "Spark session stop": 2.0,
                                 "startup and imports": 1.0}
    assert summary["lines"]["silver/run.py:95 batch_counts"] == 10.0
    assert summary["lines"]["lakehouse/quality/gate.py:90 gate"] == 3.0
    assert summary["stage_lines"]["silver/run.py:130 process"] == 3.0
    assert summary["stage_lines"]["silver/run.py:240 main"] == 9.0  # session start + stop
