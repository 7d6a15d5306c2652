"""Known failures of the environment become one message naming the path or setting and
what to do; anything else stays an exception (a bug)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from py4j.protocol import Py4JNetworkError
from pyspark.errors import PySparkRuntimeError

from lakehouse.errors import EnvironmentProblem, LakehouseError, explain, setting_of

PATHS = {"paths.reports": Path("/data/reports"), "paths.mlflow": Path("/data/reports/mlruns"),
         "paths.lake": Path("/data/lake")}


def test_a_lakehouse_error_is_its_own_explanation():
    err = LakehouseError("silver.transactions does not exist yet")
    assert explain(err) is err


@pytest.mark.parametrize("err", [KeyError("x"), TypeError("bad"), ValueError("no"),
                                 OSError(errno.EPIPE, "Broken pipe"), RuntimeError("?")])
def test_anything_else_is_left_alone_as_a_bug(err):
    assert explain(err, paths=PATHS) is None


def test_permission_denied_names_the_path_and_its_setting():
    err = PermissionError(errno.EACCES, "Permission denied", "/data/lake/bronze")
    message = str(explain(err, paths=PATHS))
    assert message.startswith("permission denied on /data/lake/bronze (paths.lake): ")
    assert "give the user running the pipeline access" in message
    assert message.endswith("or set paths.lake to a folder it can write")


def test_a_file_in_the_way_of_a_folder_names_it():
    err = NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/reports/mlruns/x")
    problem = explain(err, paths=PATHS)
    assert isinstance(problem, EnvironmentProblem)
    assert str(problem).startswith("/data/reports/mlruns/x (paths.mlflow): a file is in the way")


def test_a_full_disk_is_named_without_a_file_name():
    assert "no space left on the disk" in str(explain(OSError(errno.ENOSPC, "No space")))


def test_the_closest_configured_folder_names_a_path():
    assert setting_of("/data/reports/mlruns/mlflow.db", PATHS) == "paths.mlflow"
    assert setting_of("/data/reports/logs", PATHS) == "paths.reports"
    assert setting_of("file:/data/lake/x/_delta_log", PATHS) == "paths.lake"
    assert setting_of("/data/lake", PATHS) == "paths.lake"
    assert setting_of("/elsewhere", PATHS) is None


def test_a_jvm_that_did_not_start_or_died_is_explained():
    started = explain(PySparkRuntimeError(errorClass="JAVA_GATEWAY_EXITED",
                                          messageParameters={}))
    assert started is not None and "Java 17 or 21" in str(started)
    died = explain(Py4JNetworkError("Error while sending or receiving"))
    assert died is not None and "spark.driver_memory" in str(died)


def test_a_damaged_mlflow_store_names_the_file():
    import sqlite3

    try:
        try:
            raise sqlite3.DatabaseError("file is not a database")
        except sqlite3.DatabaseError as inner:
            raise RuntimeError("(sqlite3.DatabaseError) file is not a database") from inner
    except RuntimeError as err:
        message = str(explain(err, paths={"paths.mlflow": Path("/data/mlruns")}))
    assert message.startswith("the MLflow store /data/mlruns/mlflow.db (paths.mlflow")
    assert "(file is not a database)" in message and "move it away" in message
