"""Targets, tables and the gate-line parser of the benchmark (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from bench.report import (
    HEADER,
    Target,
    evaluate_targets,
    markdown,
    markdown_table,
    plot,
    stage_rows,
)
from bench.stages import gate_seconds, stage_command


def _stage(seconds: float, gate: float = 0.0, driver: float = 300.0) -> dict:
    return {"seconds": seconds, "rows_per_second": 1e6 / seconds, "driver_mib": driver,
            "jvm_mib": 2000.0, "workers_mib": 100.0, "gate_share": gate,
            "other_cpu_share": 0.1}


def _results() -> dict:
    small = {"size": 1_000_000, "rows": 1_050_000,
             "stages": {"bronze": _stage(20), "silver": _stage(25), "gold": _stage(30, 0.1),
                        "train": _stage(40)},
             "duckdb": {"seconds": {"bronze": 1.0, "silver": 1.0, "gold": 0.5},
                        "wall_seconds": 3.0}}
    large = {"size": 10_000_000, "rows": 10_400_000,
             "stages": {"bronze": _stage(150), "silver": _stage(300, 0.25),
                        "gold": _stage(100, driver=1700.0), "train": _stage(80)},
             "duckdb": {"seconds": {"bronze": 10.0, "silver": 8.0, "gold": 2.0},
                        "wall_seconds": 21.0},
             "comparison": {"agree": True}}
    incremental = {"size": 10_000_000, "months": 1, "rows": 430_000,
                   "stages": {"bronze": _stage(20), "silver": _stage(40), "gold": _stage(50)}}
    return {"started_at": "2026-11-25T06:00:00Z", "machine": {"cpus": 2, "memory_gib": 24},
            "runs": [small, large], "incremental": incremental}


def test_targets_are_computed_from_the_runs():
    targets = {t.name.split(" ")[0] + str(i): t for i, t in enumerate(evaluate_targets(_results()))}
    values = [(t.measured, t.passed) for t in targets.values()]
    assert values[0] == (115, False)  # 20 + 25 + 30 + 40 > 90
    assert values[1] == (550 / 21, False)  # (150 + 300 + 100) / 21
    assert values[2] == (12, False)  # silver 300 / 25
    assert values[3] == (110 / 550, True)
    assert values[4] == (0.25, False)
    assert values[5] == (1700 / 1024, False)


def test_targets_not_measured_are_neither_pass_nor_miss():
    results = _results()
    results["runs"] = results["runs"][:1]
    results.pop("incremental")
    targets = evaluate_targets(results)
    assert [t.passed for t in targets] == [False, None, None, None, True, None]
    assert targets[1].line().startswith("N/A ")


def test_target_line_says_pass_or_miss_with_the_limit():
    assert Target("x", 0.5, 1, "d").line() == "PASS x: 0.5 (limit 1); d"
    assert Target("x", 2, 1, "d").line() == "MISS x: 2 (limit 1); d"


def test_stage_rows_include_totals_and_ratios():
    rows = stage_rows(_results()["runs"][1], "10M")
    assert [r[1] for r in rows] == ["bronze", "silver", "gold", "train", "**bronze..gold**",
                                    "**all four**"]
    assert rows[0][3] == "150.0 s" and rows[0][-1] == "15x"
    assert rows[4][3] == "550.0 s" and rows[4][-1] == "26x"


def test_markdown_table_has_header_rule_and_rows():
    text = markdown_table([["a", "b"]], header=["h1", "h2"])
    assert text.splitlines() == ["| h1 | h2 |", "|---|---|", "| a | b |"]


def test_markdown_report_lists_agreement_and_targets():
    text = markdown(_results(), evaluate_targets(_results()))
    assert "10,000,000: pipeline and DuckDB agree: **True**" in text
    assert text.count("- MISS ") == 5 and text.count("- PASS ") == 1
    assert "+1 month" in text


def test_plot_writes_a_png(tmp_path: Path):
    plot(_results(), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_gate_seconds_reads_only_summary_lines():
    lines = [
        "quality[bronze]: 17 passed, 1 warned, 0 quarantine checks failed, 0 failed (8.9 s)",
        "06:00:01 INFO  something (3.0 s)",
        "  quality[gold]: 39 passed, 0 warned, 0 quarantine checks failed, 0 failed (32 s)  ",
        "quality[silver]: 1 check(s) of suite 'silver' with severity 'fail' failed",
    ]
    assert gate_seconds(lines) == [8.9, 32.0]


def test_stage_command_maps_train_to_ml_train_and_passes_settings():
    command = stage_command("train", ["paths.lake=/x", "spark.driver_memory=12g"])
    assert command[1:] == ["-m", "ml.train", "--env", "local", "--set", "paths.lake=/x",
                           "--set", "spark.driver_memory=12g"]
    assert stage_command("bench.duckdb_reference", [], extra=["--out", "o"])[-2:] == ["--out",
                                                                                      "o"]


def test_every_row_has_a_cell_per_column_and_only_measured_columns():
    results = _results()
    rows = [r for run in results["runs"] for r in stage_rows(run, "x")]
    assert {len(r) for r in rows} == {len(HEADER)}
    assert "CPU probe" not in HEADER
    text = markdown(results, evaluate_targets(results))
    assert "class archive" not in text and "CPU probe" not in text
    assert evaluate_targets(results)[0].detail == "from an empty lake"
