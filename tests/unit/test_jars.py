"""The Delta jars: pinned in conf/jars.ivy.xml, found by name in a folder, or a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.jars import PINS, DeltaJarsError, fetch, jar_paths, pinned


def test_the_pins_match_the_python_package_and_pyspark():
    from importlib.metadata import version

    import pyspark

    jars = {j.artifact: j.version for j in pinned()}
    spark_line = ".".join(pyspark.__version__.split(".")[:2])
    assert jars[f"delta-spark_{spark_line}_2.13"] == version("delta-spark")
    assert jars["delta-storage"] == version("delta-spark")


def test_jars_are_found_by_artifact_and_version_whatever_the_layout(tmp_path: Path):
    for jar in pinned():  # Maven's layout (artifact-version.jar), not Ivy's org_ prefix
        (tmp_path / jar.suffix).write_bytes(b"")
    assert len(jar_paths(tmp_path)) == len(pinned())


def test_a_missing_jar_is_named_with_the_ways_out(tmp_path: Path):
    first, *rest = pinned()
    for jar in rest:
        (tmp_path / f"x_{jar.suffix}").write_bytes(b"")
    with pytest.raises(DeltaJarsError) as err:
        jar_paths(tmp_path)
    message = str(err.value)
    assert first.coordinate in message and rest[0].coordinate not in message
    assert "make jars" in message and "LAKEHOUSE__PATHS__JARS" in message


def test_an_artifact_that_cannot_be_resolved_is_one_clear_error(tmp_path: Path):
    pins = tmp_path / "pins.xml"
    pins.write_text(PINS.read_text(encoding="utf-8").replace(
        'name="delta-storage" rev="4.4.0"', 'name="delta-storage" rev="0.0.0-missing"'),
        encoding="utf-8")
    with pytest.raises(DeltaJarsError, match=r"could not fetch the Delta Lake jars .*"
                                             r"delta-storage.*paths\.jars"):
        fetch(tmp_path / "jars", pins)


def test_a_stage_without_the_jars_stops_with_one_line_and_no_trace(tmp_path: Path):
    env = {**os.environ, "LAKEHOUSE__PATHS__JARS": str(tmp_path / "none"),
           "LAKEHOUSE__PATHS__LAKE": str(tmp_path / "lake")}
    done = subprocess.run([sys.executable, "-m", "silver", "--env", "test"], env=env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "error:" in x]
    assert line.startswith("silver: error: Delta Lake jars missing from") and "none" in line
