"""The Databricks runtime file and the wheel-fits-the-runtime check (tools/runtime.py); the
pip dry run itself runs in `make runtime-check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.runtime import (
    CONSTRAINTS,
    RuntimeFileError,
    additions,
    conflict,
    load,
    requirement_problems,
)

HEADER = """# runtime: 18 LTS ML
# spark_version: 18.x-cpu-ml-scala2.13
# spark: 4.1.0
# python: 3.12.3
# serverless_environment: 5
"""


def runtime_file(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "databricks-runtime.txt"
    path.write_text(header + body)
    return path


def test_the_projects_runtime_file_names_spark_python_and_the_core_libraries():
    runtime = load(CONSTRAINTS)
    assert runtime.spark.split(".")[:2] == ["4", "1"]
    assert runtime.python.startswith("3.12")
    for package in ("pyspark", "mlflow-skinny", "pandas", "numpy", "pyarrow", "scikit-learn",
                    "matplotlib", "seaborn"):
        assert runtime.provides(package), package
    assert runtime.provides("pyspark") == runtime.spark


def test_names_are_compared_canonically(tmp_path):
    runtime = load(runtime_file(tmp_path, "PyYAML==6.0.2\nruamel.yaml==0.18.15\n"))
    assert runtime.provides("pyyaml") == "6.0.2"
    assert runtime.provides("ruamel-yaml") == "0.18.15"
    assert runtime.provides("great-expectations") is None


def test_a_line_that_is_not_a_pin_is_refused_with_its_line_number(tmp_path):
    with pytest.raises(RuntimeFileError, match=r"databricks-runtime.txt:7: 'pandas>=2' is not"):
        load(runtime_file(tmp_path, "numpy==2.1.3\npandas>=2\n"))


def test_a_missing_header_key_is_named(tmp_path):
    header = HEADER.replace("# python: 3.12.3\n", "")
    with pytest.raises(RuntimeFileError, match="header lacks # python:"):
        load(runtime_file(tmp_path, "numpy==2.1.3\n", header))


def test_requirements_the_runtime_provides_are_problems_extras_are_not(tmp_path):
    runtime = load(runtime_file(tmp_path, "pandas==2.2.3\n"))
    problems = requirement_problems([
        "great-expectations>=1.24,<2",
        "pandas>=2.2",
        "pyspark<4.2,>=4.1; extra == \"local\"",
        "delta-spark>=4.4",
    ], runtime)
    assert len(problems) == 2
    assert "requires pandas>=2.2, which the runtime provides (pandas==2.2.3)" in problems[0]
    assert "requires delta-spark>=4.4, which the runtime provides (its own delta-spark)" \
        in problems[1]


def test_pips_conflict_report_becomes_one_line():
    output = """ERROR: Cannot install customer-analytics-lakehouse==0.1.0 because these package
versions have conflicting dependencies.

The conflict is caused by:
    customer-analytics-lakehouse 0.1.0 depends on mlflow>=3.9
    mlflow 3.18.0 depends on mlflow-skinny==3.18.0
    mlflow 3.17.2 depends on mlflow-skinny==3.17.2
    The user requested (constraint) mlflow-skinny==3.8.1

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...
"""
    line = conflict(output)
    assert "\n" not in line
    assert "customer-analytics-lakehouse 0.1.0 depends on mlflow>=3.9 (and 2 more" in line
    assert line.endswith("the runtime has mlflow-skinny==3.8.1")


def test_additions_are_what_the_runtime_lacks_without_the_wheel_itself(tmp_path):
    runtime = load(runtime_file(tmp_path, "pandas==2.2.3\n"))
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"install": [
        {"metadata": {"name": "customer-analytics-lakehouse", "version": "0.1.0"},
         "requested": True},
        {"metadata": {"name": "great_expectations", "version": "1.24.1"}, "requested": False},
        {"metadata": {"name": "pandas", "version": "2.2.3"}, "requested": False},
    ]}))
    assert additions(report, runtime) == ["great_expectations==1.24.1"]
