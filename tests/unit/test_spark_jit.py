"""Which compiler a local Spark JVM gets (no JVM started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.spark import QUICK_JIT, data_bytes, jit_mode


def _settings(tmp: Path, *overrides: str):
    return load_settings("test", overrides=[f"paths.landing={tmp / 'landing'}",
                                            f"paths.lake={tmp / 'lake'}", *overrides])


def _file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_auto_is_quick_for_little_data_and_peak_from_the_limit_on(tmp_path: Path):
    settings = _settings(tmp_path, "spark.quick_jit_max_mib=1")
    assert jit_mode(settings) == ("quick", "landing and lake under 1 MiB")  # nothing yet
    _file(tmp_path / "landing" / "a.csv", 600_000)
    _file(tmp_path / "lake" / "silver" / "t" / "part-0.parquet", 400_000)
    assert jit_mode(settings)[0] == "quick"  # 1,000,000 bytes < 1 MiB
    _file(tmp_path / "lake" / "gold" / "part-1.parquet", 48_576)  # exactly 1 MiB in all
    assert jit_mode(settings) == ("peak", "landing and lake hold 1 MiB or more")


def test_an_explicit_mode_is_kept_whatever_the_data(tmp_path: Path):
    _file(tmp_path / "landing" / "a.csv", 10)
    assert jit_mode(_settings(tmp_path, "spark.jit=peak")) == ("peak", "spark.jit")
    _file(tmp_path / "landing" / "b.csv", 3 * 2**20)
    assert jit_mode(_settings(tmp_path, "spark.jit=quick")) == ("quick", "spark.jit")


def test_an_unknown_mode_is_refused(tmp_path: Path):
    with pytest.raises(Exception, match="jit"):
        _settings(tmp_path, "spark.jit=fast")


def test_data_bytes_counts_nested_files_and_stops_at_the_limit(tmp_path: Path):
    for i in range(5):
        _file(tmp_path / "a" / f"d{i}" / "f", 100)
    folders = (tmp_path / "a", tmp_path / "missing")
    assert data_bytes(folders, stop_at=10_000) == 500
    assert data_bytes(folders, stop_at=250) == 300  # stops at the third file


def test_quick_mode_keeps_the_default_code_cache():
    # C1 alone otherwise gets 48 MB, which training overflowed ("Out of space in CodeCache")
    assert "-XX:TieredStopAtLevel=1" in QUICK_JIT
    assert "-XX:ReservedCodeCacheSize=240m" in QUICK_JIT
