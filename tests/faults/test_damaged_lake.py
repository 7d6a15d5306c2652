"""A damaged table (a data file missing, a commit file cut short, a checkpoint missing or
cut short) is reported naming the table, the file and the recovery, never read silently
wrong; following the recovery gives a readable table again."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from py4j.protocol import Py4JJavaError

from audit.cli import main as audit_main
from lakehouse.shell import main as shell_main
from lakehouse.tables import DamagedTableError, TableStore
from lakehouse.tables.damage import DAMAGED
from lakehouse.tables.repair import check, repair

ROWS_PER_VERSION = 3  # each version (0..LATEST) adds 3 rows in 2 files
LATEST, CHECKPOINT = 3, 2  # delta.checkpointInterval 2: a checkpoint at version 2
ALL_ROWS = (LATEST + 1) * ROWS_PER_VERSION


@pytest.fixture(scope="module")
def template(spark, tmp_path_factory) -> Path:
    """A table with versions 0..6 and a checkpoint at 4, built once and copied per test."""
    lake = tmp_path_factory.mktemp("template")
    store = TableStore(spark, lake, properties={"delta.enableDeletionVectors": "true",
                                                "delta.checkpointInterval": str(CHECKPOINT)})
    for version in range(LATEST + 1):
        rows = [(100 * version + i, f"v{version}") for i in range(ROWS_PER_VERSION)]
        store.write("t.base", spark.createDataFrame(rows, "k long, v string").repartition(2),
                    mode="append")
    assert (Path(store.location("t.base")) / "_delta_log" /
            f"{CHECKPOINT:020d}.checkpoint.parquet").exists()
    return Path(store.location("t.base"))


@pytest.fixture
def table(template, store) -> tuple[str, Path]:
    """A fresh copy of the template table in this test's lake: (name, folder)."""
    name = "t.damaged"
    folder = Path(store.location(name))
    shutil.copytree(template, folder)
    return name, folder


def commit(folder: Path, version: int) -> Path:
    return folder / "_delta_log" / f"{version:020d}.json"


def added_files(folder: Path, version: int) -> list[str]:
    lines = commit(folder, version).read_text().splitlines()
    return [json.loads(line)["add"]["path"] for line in lines if line.startswith('{"add"')]


def cli_args(settings) -> list[str]:
    """Entry point flags for this test's lake, where the damaged table has a role (the
    scores table's) with row key `k`, as `make audit ARGS='restore ...'` needs."""
    return ["--env", "test", *[f"--set=paths.{k}={getattr(settings.paths, k)}"
                               for k in ("landing", "truth", "lake", "reports", "mlflow")],
            "--set=tables.names.gold_scores=t.damaged", "--set=audit.keys.gold_scores=[k]"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def rows(store: TableStore, name: str) -> list[int]:
    return sorted(r.k for r in store.read(name).collect())


def expected(versions: range) -> list[int]:
    return sorted(100 * v + i for v in versions for i in range(ROWS_PER_VERSION))


# ---- a data file missing ---------------------------------------------------------------
def test_a_missing_data_file_names_the_table_the_file_and_the_recoveries(
        store, settings, table, capsys):
    name, folder = table
    lost = added_files(folder, LATEST)[0]
    os.remove(folder / lost)
    # delta-spark answers a count from the log, and fails the first job reading the file
    assert store.read(name).count() == ALL_ROWS
    with pytest.raises(Py4JJavaError, match=r"FAILED_READ_FILE\.FILE_NOT_EXIST") as failure:
        store.read(name).collect()
    damaged = store.explain(failure.value)
    message = str(damaged)
    assert message.startswith(f"table {name} is damaged: data file {folder / lost} is missing")
    assert f"make audit ARGS='restore {name} --version {LATEST - 1} --yes'" in message
    assert f"make audit ARGS='repair {name} --yes'" in message and "rows are lost" in message
    with pytest.raises(DamagedTableError, match=lost):
        check(store, name)
    # an entry point prints it as one line naming the table and the recovery
    code = shell_main([*cli_args(settings), "-c", f"store.read('{name}').collect()"])
    assert code == 1
    assert error_line(capsys).startswith(f"shell: error: table {name} is damaged: data file ")
    assert audit_main([*cli_args(settings), "check", name]) == 1
    assert f"damaged: table {name} is damaged: data file" in capsys.readouterr().out

    # recovery 1: restore the version before the commit that added the file
    assert audit_main([*cli_args(settings), "restore", name, "--version", str(LATEST - 1),
                       "--yes"]) == 0
    assert rows(store, name) == expected(range(LATEST))
    check(store, name)


def test_repair_drops_a_missing_data_file_and_keeps_every_other_row(store, settings, table,
                                                                     capsys):
    name, folder = table
    lost = added_files(folder, 2)[0]
    lost_rows = {r.k for r in store.spark.read.parquet(str(folder / lost)).collect()}
    os.remove(folder / lost)
    assert audit_main([*cli_args(settings), "repair", name]) == 0  # a preview
    assert "Nothing changed" in capsys.readouterr().out
    assert store.version(name) == LATEST
    assert audit_main([*cli_args(settings), "repair", name, "--yes"]) == 0
    assert f"{len(lost_rows)} rows lost" in capsys.readouterr().out
    assert rows(store, name) == sorted(set(expected(range(LATEST + 1))) - lost_rows)
    assert store.history(name, limit=1)[0].metadata["repair"] == "drop_data_files"
    check(store, name)


# ---- a commit file cut short -----------------------------------------------------------
def cut_mid_line(log: Path) -> None:
    path = log / f"{LATEST:020d}.json"
    path.write_bytes(path.read_bytes()[:-60])


def cut_at_line_end(log: Path) -> None:
    """The last action dropped whole, and Hadoop's side checksum gone with it (a copy
    without hidden files): delta-spark alone reads the table without that file's rows."""
    path = log / f"{LATEST:020d}.json"
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))
    (log / f".{path.name}.crc").unlink()


def emptied(log: Path) -> None:
    (log / f"{LATEST:020d}.json").write_bytes(b"")


@pytest.mark.parametrize(("damage", "silent_in_delta"), [
    (cut_mid_line, False), (cut_at_line_end, True), (emptied, True)])
def test_a_damaged_last_commit_is_refused_and_repair_goes_back_one_version(
        spark, store, settings, table, capsys, damage, silent_in_delta):
    name, folder = table
    damage(folder / "_delta_log")
    if silent_in_delta:  # delta-spark alone reads it without error, with rows missing
        assert spark.read.format("delta").load(str(folder)).count() < ALL_ROWS
    with pytest.raises(DamagedTableError) as refused:
        store.read(name)
    message = str(refused.value)
    assert message.startswith(f"table {name} is damaged: commit file {commit(folder, LATEST)} "
                              f"(version {LATEST}) ")
    assert f"make audit ARGS='repair {name} --yes'" in message
    assert f"leaving the table at version {LATEST - 1}" in message
    new = spark.createDataFrame([(999, "x")], "k long, v string")
    with pytest.raises(DamagedTableError):  # no commit on top of a damaged log
        store.write(name, new, mode="append")
    assert audit_main([*cli_args(settings), "history", name]) == 1
    assert error_line(capsys).startswith(f"audit: error: {message} (details: ")

    assert audit_main([*cli_args(settings), "repair", name, "--yes"]) == 0
    assert f"the table is at version {LATEST - 1}" in capsys.readouterr().out
    assert not commit(folder, LATEST).exists() and any((folder / DAMAGED).rglob("*.json"))
    assert rows(store, name) == expected(range(LATEST))
    assert store.write(name, new, mode="append").version == LATEST  # the rerun commits
    check(store, name)


# ---- checkpoints -------------------------------------------------------------------------
def test_a_missing_checkpoint_is_harmless_while_the_commits_before_it_exist(store, table):
    name, folder = table
    log = folder / "_delta_log"
    (log / "_last_checkpoint").unlink()
    (log / f"{CHECKPOINT:020d}.checkpoint.parquet").unlink()
    assert rows(store, name) == expected(range(LATEST + 1))  # replayed from the commits
    check(store, name)


def test_a_checkpoint_cut_short_is_refused_and_repair_replays_the_commits(store, settings,
                                                                          table, capsys):
    name, folder = table
    checkpoint = folder / "_delta_log" / f"{CHECKPOINT:020d}.checkpoint.parquet"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    with pytest.raises(DamagedTableError, match=f"checkpoint {checkpoint} is not a whole "
                                                "Parquet file") as refused:
        store.read(name)
    assert f"make audit ARGS='repair {name} --yes'" in str(refused.value)
    assert "nothing is lost" in str(refused.value)
    assert audit_main([*cli_args(settings), "repair", name, "--yes"]) == 0
    assert rows(store, name) == expected(range(LATEST + 1))
    check(store, name)


def test_a_missing_checkpoint_without_the_commits_before_it_cannot_be_repaired(store, table):
    name, folder = table
    log = folder / "_delta_log"
    (log / f"{CHECKPOINT:020d}.checkpoint.parquet").unlink()
    for version in range(CHECKPOINT):  # as if log retention had cleaned them up
        commit(folder, version).unlink()
    with pytest.raises(DamagedTableError, match=r"named by _last_checkpoint\) is missing and "
                                                "the commits before it are gone") as refused:
        store.exists(name)  # delta-spark itself fails even here (DELTA_MISSING_PART_FILES)
    assert "restore the missing file from a backup" in str(refused.value)
    with pytest.raises(DamagedTableError):
        repair(store, name, dry_run=False)
