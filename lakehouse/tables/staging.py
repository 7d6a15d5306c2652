"""Staging folders of the embedded store: where Spark writes a commit's Parquet files,
under the table root, before deltalog commits them where they are.

A failed write leaves no stray files (`Stage` removes its folder), files of empty tasks
are never committed (`drop_empty`), and files parsed elsewhere are moved under the root
first (`adopt`).
"""

from __future__ import annotations

import os
import shutil
import uuid

from pyspark.sql import DataFrame

from lakehouse.tables import deltalog
from lakehouse.tables.base import BeforeCommit, TableStoreError


def part_folder(table_root: str) -> str:
    """A new, unique folder name under the table root (not created)."""
    return os.path.join(table_root, f"part-{uuid.uuid4().hex}")


class Stage:
    """A fresh folder under the table root for Spark to write into; removed again
    if anything fails before the commit (so a failed write leaves no stray files).
    `before_commit` runs once the files are written (the caller commits next)."""

    def __init__(self, table_root: str, before_commit: BeforeCommit | None = None) -> None:
        self.root = table_root
        self.dir = part_folder(table_root)
        self.before_commit = before_commit

    def write(self, df: DataFrame) -> list[deltalog.StagedFile]:
        df.write.mode("errorifexists").parquet(self.dir)
        files = drop_empty(self.root, deltalog.staged_files(self.root, self.dir))
        if self.before_commit is not None:
            self.before_commit()
        return files

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def drop_empty(table_root: str, files: list[deltalog.StagedFile]) -> list[deltalog.StagedFile]:
    """The staged files that hold rows; empty ones (Spark writes one per empty task) are
    deleted, never committed."""
    for empty in (f for f in files if f.rows == 0):
        os.remove(os.path.join(table_root, empty.path))
    return [f for f in files if f.rows > 0]


def adopt(table_root: str, folder: str) -> tuple[str, bool]:
    """The folder under the table root that holds the staged Parquet files, and whether
    they were moved there: `folder` itself when it is under the root already, else a new
    one the files are moved into (a rename on the same filesystem)."""
    if not os.path.isdir(folder):
        raise TableStoreError(f"staging folder {folder} does not exist: nothing to append")
    root, here = os.path.realpath(table_root), os.path.realpath(folder)
    if here != root and os.path.commonpath([root, here]) == root:
        return os.path.join(table_root, os.path.relpath(here, root)), False
    target = part_folder(table_root)
    os.makedirs(target)
    for entry in os.scandir(folder):
        if entry.name.endswith(".parquet") and entry.is_file():
            shutil.move(entry.path, os.path.join(target, entry.name))
    return target, True
