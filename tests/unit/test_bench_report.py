"""The markdown table and the plot of the benchmark, from results dictionaries of the
current and the older layout (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import markdown, plot, ratio, seconds


def _stage(s: float) -> dict:
    return {"seconds": s}


def _results() -> dict:
    small = {"size": 1_000_000, "rows": 1_050_000,
             "stages": {"startup": _stage(10), "bronze": _stage(20), "silver": _stage(25),
                        "gold": _stage(30), "train": _stage(40)},
             "process": {"driver_mib": 400.0, "jvm_mib": 3000.0, "other_cpu_share": 0.07,
                         "stolen_cpu_share": 0.0},
             "duckdb": {"seconds": {"bronze": 1.0, "silver": 1.0, "gold": 0.5},
                        "wall_seconds": 3.0, "other_cpu_share": 0.01},
             "comparison": {"agree": True}}
    large = {"size": 10_000_000, "rows": 10_400_000,
             "stages": {"startup": _stage(10), "bronze": _stage(150), "silver": _stage(300),
                        "gold": _stage(100), "train": _stage(80)},
             "process": {"driver_mib": 1700.0, "jvm_mib": 6000.0, "other_cpu_share": 0.03},
             "duckdb": {"seconds": {"bronze": 10.0, "silver": 8.0, "gold": 2.0},
                        "wall_seconds": 25.0},
             "comparison": {"agree": False}}
    incremental = {"size": 10_000_000, "months": 1, "rows": 430_000,
                   "stages": {"startup": _stage(10), "bronze": _stage(20), "silver": _stage(40),
                              "gold": _stage(50)},
                   "process": {"driver_mib": 350.0, "jvm_mib": 4000.0}}
    return {"started_at": "2026-11-25T06:00:00Z", "machine": {"cpus": 2, "memory_gib": 24},
            "runs": [large, small], "incremental": incremental}


def test_totals_count_the_one_startup_and_ratios_use_duckdbs_process_for_bronze_gold():
    large = _results()["runs"][0]
    assert seconds(large, "bronze..gold") == 560
    assert seconds(large, "all stages") == 640
    assert ratio(large, "bronze..gold") == pytest.approx(560 / 25)
    assert ratio(large, "silver") == pytest.approx(300 / 8)
    assert ratio(large, "train") is None


def test_table_rows_have_sizes_duckdb_ratio_new_month_and_memory():
    lines = markdown(_results()).splitlines()
    assert "| stage | 1M (1,050,000 rows) | 10M (10,400,000 rows) | DuckDB at 10M | ratio at " \
           "10M | new month at 10M (430,000 rows) |" in lines
    assert "| silver | 25.0 s | 300.0 s | 8.0 s | 37.5x | 40.0 s |" in lines
    assert "| bronze..gold | 85.0 s | 560.0 s | 25.0 s | 22.4x | 120.0 s = **21%** of " \
           "560.0 s |" in lines
    assert "| train | 40.0 s | 80.0 s | - | - | - |" in lines
    assert "| driver peak | 400 MiB | 1,700 MiB |  |  | 350 MiB |" in lines
    assert len({line.count("|") for line in lines if line.startswith("|")}) == 1
    text = "\n".join(lines)
    assert "1M 7% / 1%, 10M 3%, new month -" in text
    assert "1M **True**, 10M **False**" in text


def test_older_results_with_measurements_in_every_stage_render():
    old = _results()
    for run in (*old["runs"], old["incremental"]):
        process = run.pop("process")
        for st in run["stages"].values():
            st.update(process)
        run["stages"].pop("startup")  # one process per stage: no startup
    old.pop("incremental")
    text = markdown(old)
    assert "| bronze..gold | 75.0 s | 550.0 s | 25.0 s | 22.0x |" in text
    assert "| JVM peak | 3,000 MiB | 6,000 MiB |  |  |" in text
    assert "startup" not in text.split("|---")[1]


def test_plot_writes_a_png(tmp_path: Path):
    plot(_results(), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
