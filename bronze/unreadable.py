"""Landing files that cannot be read: found in the one parse pass, then stop or quarantine.

Unreadable means: a refused format (zip, bzip2, xz, ... whatever the name), bytes not
valid in the file's encoding, corrupt gzip data, a header without the required columns,
a field beyond the csv module's limit (an unclosed quote), or an I/O error.

How they are found, in one pass over the data: the Spark task that parses a file
catches its FileFormatError and emits a marker row (`bronze.stage.file_batches`)
instead of failing. The driver's per-file counts, the first action on the cached parse,
also collect the markers (`per_file_counts`). A check on the driver before the job would
read every new file twice (decoding the whole of it is the only way to know it decodes),
and letting the task fail would stop at the first bad file (and a cluster would retry
the task, failing the same way each time); a marker costs one row per bad file. The
rows a bad file gave before its error stay in the cache and are dropped with the file.

`bronze.on_unreadable_file`: `stop` raises one error naming every bad file, what is
wrong and where (byte, line), and the fix, before anything is written; `quarantine_file`
ingests the other files and logs each bad one as 'rejected' with its reason. A rejected
file is read again by later runs (fixed: other content; or unchanged, as a setting
such as bronze.encodings may now read it); if it fails again for the same reason it is
only reported, not logged again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bronze.landing import LandingFile, LoggedFile
from bronze.parse import CORRUPT, RESCUED, ROW_NUMBER, SOURCE_FILE
from bronze.stage import REJECTED_ROW
from lakehouse.errors import LakehouseError

_ERROR = "_error"


class UnreadableFileError(LakehouseError):
    """A landing file cannot be read and bronze.on_unreadable_file is 'stop'."""


def per_file_counts(batch: DataFrame) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """(records, corrupt and rescued records per readable landing file; reason per file
    that cannot be read) of a parsed batch, in one aggregation."""
    marker = F.col(ROW_NUMBER) == REJECTED_ROW
    rows = batch.groupBy(SOURCE_FILE).agg(
        F.count(F.lit(1)).alias("records"), F.count(CORRUPT).alias("corrupt_records"),
        F.count(RESCUED).alias("rescued_records"),
        F.max(F.when(marker, F.col(CORRUPT))).alias(_ERROR)).collect()
    counts = {r[SOURCE_FILE]: r.asDict() for r in rows if r[_ERROR] is None}
    return counts, {r[SOURCE_FILE]: r[_ERROR] for r in rows if r[_ERROR] is not None}


def readable_rows(batch: DataFrame, rejected: Iterable[str]) -> DataFrame:
    """The rows of `batch` but for those of the files in `rejected` (and their markers)."""
    rejected = sorted(rejected)
    return batch.where(~F.col(SOURCE_FILE).isin(rejected)) if rejected else batch


def unreadable_error(rejected: Mapping[str, str]) -> UnreadableFileError:
    """The error of policy 'stop': one line for one file, a line per file for more."""
    tail = ("nothing was ingested (bronze.on_unreadable_file=quarantine_file ingests the "
            "other files and logs such files as rejected)")
    if len(rejected) == 1:
        ((path, reason),) = rejected.items()
        return UnreadableFileError(f"{path}: {reason}; {tail}")
    lines = "".join(f"\n  {path}: {reason}" for path, reason in sorted(rejected.items()))
    return UnreadableFileError(f"{len(rejected)} landing files cannot be read; {tail}:{lines}")


def still_rejected(rejected: Mapping[str, str],
                   retried: Iterable[tuple[LandingFile, LoggedFile]]) -> set[str]:
    """Files of `rejected` whose latest log entry rejected the same content for the same
    reason: reported again, not logged again."""
    return {f.path for f, entry in retried if rejected.get(f.path) == entry.reason}
