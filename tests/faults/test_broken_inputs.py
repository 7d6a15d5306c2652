"""Every entry point on broken input, configuration or environment, run as a user runs it
(a subprocess): exit code 1, one message naming the file, key or table, what is wrong and
what to do, the run's log file named in it and holding the traceback, and no Python or
JVM stack trace on the terminal.

Configuration and environment errors stop before the JVM starts (a few seconds each); the
others start a JVM each and run three at a time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.tables import open_store
from ml.synthetic import synthetic_gold
from tests.conftest import settings_for

FOLDERS = ("landing", "truth", "lake", "reports", "mlflow")
CSV = ("Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
       "489434,85048,GLASS BALL,12,2023-01-01 07:45:00,6.95,13085,United Kingdom\n")
# What must never reach the terminal: a Python traceback, Py4J, JVM stack frames.
TRACE = re.compile(r"Traceback|py4j|^\s+at [\w$.]+\(|\bjava\.\w+\.\w+", re.MULTILINE)
DETAILS = re.compile(r"\(details: (\S+\.log)\)")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def failed_cleanly(self, prog: str, *fragments: str) -> str:
        """Assert the run failed with one clean message holding `fragments`; return the
        text of the log file it names."""
        assert self.code == 1, f"exit {self.code}\n{self.out}\n{self.err}"
        assert not TRACE.search(self.err), self.err
        errors = [line for line in self.err.splitlines() if line.startswith(f"{prog}: error: ")]
        assert len(errors) == 1, self.err
        for fragment in fragments:
            assert fragment in self.err, f"{fragment!r} not in:\n{self.err}"
        found = DETAILS.search(self.err)
        assert found, self.err
        log = Path(found.group(1))
        assert log.is_file(), log
        text = log.read_text(encoding="utf-8")
        assert f"{prog}: error: " in text and "Traceback" in text, text[-3000:]
        print(self.err)  # shown with `pytest -rP`: the messages a user gets
        return text


def run(module: str, root: Path, *args: str, env: dict[str, str] | None = None,
        **paths: Path) -> Run:
    """`python -m <module> --env test` with every data folder under `root` (or `paths`)."""
    folders = {k: paths.get(k, root / k) for k in FOLDERS} | {
        k: v for k, v in paths.items() if k not in FOLDERS}
    command = [sys.executable, "-m", module, "--env", "test",
               *[f"--set=paths.{k}={v}" for k, v in folders.items()], *args]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=600, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


def landing_with_one_file(root: Path) -> Path:
    landing = root / "landing"
    landing.mkdir(parents=True)
    (landing / "2023_01.csv").write_text(CSV, encoding="utf-8")
    return landing


# ---- configuration and environment: no JVM --------------------------------------------


def test_configuration_errors_name_the_key_and_where_it_was_set(tmp_path):
    result = run("bronze", tmp_path, "--set", "spark.mastr=local[1]",
                 env={"LAKEHOUSE__GOLD__HORIZON_DAYS": "soon", "TMPDIR": str(tmp_path)})
    result.failed_cleanly(
        "bronze", "invalid configuration",
        "spark.mastr: unknown key (did you mean spark.master?) [--set spark.mastr=local[1]]",
        "gold.horizon_days: Input should be a valid integer (got 'soon') "
        "[environment LAKEHOUSE__GOLD__HORIZON_DAYS]")
    # no settings, so no reports folder: the log is in the temporary folder
    assert f"(details: {tmp_path / 'lakehouse-logs'}" in result.err


def test_an_unknown_environment_lists_the_known_ones(tmp_path):
    result = run("audit", tmp_path, "--env", "prdo", "history", "silver.transactions",
                 env={"LAKEHOUSE_LOG_DIR": str(tmp_path / "logs")})
    result.failed_cleanly("audit", "unknown environment 'prdo'",
                          "known: cluster, databricks, local")
    assert f"(details: {tmp_path / 'logs'}" in result.err


def test_missing_delta_jars_say_how_to_get_them(tmp_path):
    result = run("silver", tmp_path, env={"LAKEHOUSE__PATHS__JARS": str(tmp_path / "jars")})
    result.failed_cleanly("silver", f"Delta Lake jars missing from {tmp_path / 'jars'}",
                          "make jars")
    assert f"(details: {tmp_path / 'reports' / 'logs'}" in result.err


def test_no_java_says_what_to_install(tmp_path):
    env = {"PATH": str(tmp_path / "empty-bin"), "JAVA_HOME": str(tmp_path / "no-java")}
    run("ml.train", tmp_path, env=env).failed_cleanly(
        "ml.train", "Spark needs a Java runtime (17 or 21)", "JAVA_HOME")


def test_a_lake_folder_blocked_by_a_file_names_the_setting(tmp_path):
    (tmp_path / "blocker").write_text("not a folder", encoding="utf-8")
    lake = tmp_path / "blocker" / "lake"
    landing_with_one_file(tmp_path)
    run("bronze", tmp_path, lake=lake).failed_cleanly(
        "bronze", f"{lake} (paths.lake): a file is in the way", "or set paths.lake")


# ---- broken inputs and tables: one JVM each, run side by side ---------------------------


def _landing_is_a_file(root: Path, spark) -> dict[str, Path]:
    landing = root / "export.csv"
    landing.write_text(CSV, encoding="utf-8")
    return {"landing": landing}


def _table_folder_blocked(root: Path, spark) -> dict[str, Path]:
    landing_with_one_file(root)
    (root / "lake").mkdir()
    (root / "lake" / "bronze").write_text("not a folder", encoding="utf-8")
    return {}


def _broken_suite(root: Path, spark) -> dict[str, Path]:
    landing_with_one_file(root)
    suites = root / "suites"
    shutil.copytree(PROJECT_ROOT / "conf" / "expectations", suites)
    (suites / "bronze.yml").write_text("suite: bronze\nexpectations:\n  - name: [unclosed\n",
                                       encoding="utf-8")
    return {"expectations": suites}


def _silver_of_another_schema(root: Path, spark) -> dict[str, Path]:
    spark.createDataFrame([("1", 1.0)], "invoice string, amount double").write.format(
        "delta").save(str(root / "lake" / "silver" / "transactions"))
    return {}


def _ingest_log_of_another_schema(root: Path, spark) -> dict[str, Path]:
    landing_with_one_file(root)
    spark.createDataFrame([("a.csv", 1)], "file string, rows long").write.format(
        "delta").save(str(root / "lake" / "bronze" / "ingest_log"))
    return {}


def _mlflow_blocked(root: Path, spark) -> dict[str, Path]:
    (root / "blocker").write_text("not a folder", encoding="utf-8")
    return {"mlflow": root / "blocker" / "mlruns"}


# name: (entry point, its arguments, the broken input it gets)
CASES = {
    "landing is a file": ("bronze", (), _landing_is_a_file),
    "table folder blocked": ("bronze", (), _table_folder_blocked),
    "broken suite": ("bronze", (), _broken_suite),
    "ingest log of another schema": ("bronze", (), _ingest_log_of_another_schema),
    "gold before silver": ("pipeline", ("gold", "train"), lambda root, spark: {}),
    "no such table": ("audit", ("history", "gold.customer_features"), lambda root, spark: {}),
    "silver of another schema": ("gold", (), _silver_of_another_schema),
    # one K-means fit only: training fits the segments beside the churn split
    # the strict split: `auto` would test on held-out customers instead
    "too little data": ("ml.train", ("--set=ml.segments.k_max=2", "--set=ml.segments.max_iter=1",
                                     "--set=ml.split=out_of_time"),
                        lambda root, spark: {}),
    "no champion": ("ml.score", (), lambda root, spark: {}),
    "mlflow blocked": ("ml.train", (), _mlflow_blocked),
}
WITH_SMALL_GOLD = ("too little data", "no champion", "mlflow blocked")


@pytest.fixture(scope="module")
def broken(spark, tmp_path_factory) -> dict[str, tuple[Path, Run]]:
    """Every case of CASES run once, three processes at a time: name -> (folder, run).
    The ML cases get gold tables of two snapshots, one of them labeled: too few for an
    out-of-time split, enough to score."""
    features, labels = synthetic_gold(spark, customers=20, snapshots=2)
    prepared = {}
    for name, (module, args, breaks) in CASES.items():
        root = tmp_path_factory.mktemp(name.replace(" ", "_"))
        if name in WITH_SMALL_GOLD:
            store, names = open_store(spark, settings_for(root)), settings_for(root).tables.names
            store.write(names.gold_features, features)
            store.write(names.gold_labels, labels)
        prepared[name] = (root, module, args, breaks(root, spark))
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {name: pool.submit(run, module, root, *args, **paths)
                for name, (root, module, args, paths) in prepared.items()}
        return {name: (prepared[name][0], future.result()) for name, future in runs.items()}


@pytest.mark.slow
def test_a_landing_path_that_is_a_file_is_named(broken):
    root, result = broken["landing is a file"]
    result.failed_cleanly("bronze", f"{root / 'export.csv'} (paths.landing) is a file, not "
                          "a folder")


@pytest.mark.slow
def test_an_ingest_log_of_another_schema_is_named(broken):
    _, result = broken["ingest log of another schema"]
    result.failed_cleanly("bronze", "table bronze.ingest_log has no column path, sha256",
                          "its columns: file, rows", "move it away")


@pytest.mark.slow
def test_a_table_folder_spark_cannot_create_is_named(broken):
    root, result = broken["table folder blocked"]
    result.failed_cleanly("bronze", f"{root / 'lake' / 'bronze'}", "(paths.lake)")


@pytest.mark.slow
def test_a_broken_expectation_suite_names_the_file_and_line(broken):
    root, result = broken["broken suite"]
    result.failed_cleanly("bronze", str(root / "suites" / "bronze.yml"), "not valid YAML",
                          "line 4")


@pytest.mark.slow
def test_gold_before_silver_says_which_stage_to_run(broken):
    _, result = broken["gold before silver"]
    result.failed_cleanly(
        "gold", "silver.transactions does not exist yet: run `make silver` first")
    assert "ml.train" not in result.out + result.err  # the pipeline stopped at gold


@pytest.mark.slow
def test_reading_a_table_that_does_not_exist_names_it(broken):
    root, result = broken["no such table"]
    result.failed_cleanly("audit", str(root / "lake" / "gold" / "customer_features"),
                          "run the stage that writes it first")


@pytest.mark.slow
def test_a_silver_table_of_another_schema_is_named(broken):
    _, result = broken["silver of another schema"]
    result.failed_cleanly("gold", "silver.transactions does not match the contract",
                          "missing column")


@pytest.mark.slow
def test_train_on_too_little_data_says_more_history_is_needed(broken):
    _, result = broken["too little data"]
    result.failed_cleanly("ml.train", "more history is needed (ml.split: auto falls back to a "
                          "customer holdout)")


@pytest.mark.slow
def test_score_without_a_champion_says_to_train_first(broken):
    _, result = broken["no champion"]
    result.failed_cleanly("ml.score", "has the alias `champion`: run `make train` first")


@pytest.mark.slow
def test_an_mlflow_store_blocked_by_a_file_names_the_setting(broken):
    root, result = broken["mlflow blocked"]
    result.failed_cleanly("ml.train", f"{root / 'blocker' / 'mlruns'} (paths.mlflow): "
                          "a file is in the way")
