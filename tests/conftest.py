"""Shared fixtures: one Spark session for the whole test run, settings per test."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pyspark.sql import SparkSession

from lakehouse.cli import StageContext
from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.settings import ChurnModelSettings, Settings
from lakehouse.spark import get_spark
from lakehouse.tables import TableStore, open_store

# PySpark hands timestamps to Python in the process's local zone: pin it to UTC so
# expected values in tests are plain UTC datetimes on every machine.
os.environ["TZ"] = "UTC"
time.tzset()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(tmp: Path, *overrides: str) -> Settings:
    """Test settings whose data folders all live under `tmp`."""
    paths = [f"paths.{key}={tmp / key}" for key in ("landing", "truth", "lake", "reports",
                                                   "mlflow")]
    return load_settings("test", overrides=[*paths, *overrides])


def churn_settings(**changes) -> ChurnModelSettings:
    """The test environment's churn settings (conf/test.yml: small grids), with `changes`
    (e.g. features=[...], families=["gbt"]), validated like a configuration file."""
    base = load_settings("test").ml.churn.model_dump()
    return ChurnModelSettings.model_validate(base | changes, strict=False)


def with_one_check_suite(ctx: StageContext, tmp: Path, suite: str, check: dict) -> StageContext:
    """`ctx` over the same lake, with a copy of the project's suites (under `tmp`) in which
    suite `suite` holds only `check` (name, expectation, kwargs, severity)."""
    suites = tmp / "suites"
    shutil.copytree(PROJECT_ROOT / "conf" / "expectations", suites)
    (suites / f"{suite}.yml").write_text(
        yaml.safe_dump({"suite": suite, "expectations": [check]}), encoding="utf-8")
    return StageContext(settings_for(tmp, f"paths.expectations={suites}"), ctx.spark,
                        ctx.store, "strict-run")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """The one Spark session of the test run (stopped at the end: a clean JVM exit)."""
    session = get_spark(settings_for(tmp_path_factory.mktemp("spark")))
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Test settings with every data folder under this test's tmp_path."""
    return settings_for(tmp_path)


@pytest.fixture
def store(spark: SparkSession, settings: Settings) -> TableStore:
    """A table store over an empty lake under this test's tmp_path."""
    return open_store(spark, settings)


@pytest.fixture
def ctx(spark: SparkSession, settings: Settings, store: TableStore) -> StageContext:
    """What a stage's `run` receives, over this test's empty lake and landing folder."""
    settings.paths.landing.mkdir(parents=True, exist_ok=True)
    return StageContext(settings, spark, store, "test-run")
