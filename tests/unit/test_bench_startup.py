"""bench.startup: when a pipeline process could run its first stage."""

from __future__ import annotations

from bench.startup import ready_seconds


def test_ready_is_when_the_session_line_appeared():
    lines = [(0.4, "WARNING: Using incubator modules\n"),
             (13.5, "pipeline: Spark session 12.7 s\n"),
             (13.6, "pipeline: bronze 0.0 s\n")]
    assert ready_seconds(lines) == 13.5


def test_no_session_line_means_no_ready_time():
    assert ready_seconds([(1.0, "pipeline: error: no Java\n")]) is None
