"""What every entry point shares: flags, settings, one Spark session, clean errors."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.errors import LakehouseError
from lakehouse.logs import configure_logging
from lakehouse.settings import Settings
from lakehouse.spark import get_spark, on_databricks
from lakehouse.tables import TableStore, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageContext:
    """Everything a stage's `run` may touch, created once per process."""

    settings: Settings
    spark: SparkSession
    store: TableStore
    run_id: str


StageBody = Callable[[StageContext, argparse.Namespace], int | None]


def new_run_id(stage: str) -> str:
    """A sortable, unique id for one run of a stage."""
    return f"{stage}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _prepare_quality(settings: Settings) -> None:
    try:
        from lakehouse.quality import prepare

        prepare(settings)
    except Exception:  # the gate itself will report any real problem
        log.debug("could not prepare the quality context in advance", exc_info=True)


def run_stage(
    prog: str,
    description: str,
    body: StageBody,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: list[str] | None = None,
    uses_quality: bool = False,
) -> int:
    """Parse flags, load settings, start Spark, run `body`, and turn user-fixable
    errors into one message and exit code 1. Returns the exit code.

    `uses_quality`: the stage runs quality gates; Great Expectations is then imported
    and its context prepared in the background while the JVM starts (saves seconds)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_config_arguments(parser)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    spark, owned = None, SparkSession.getActiveSession() is None
    try:
        settings = settings_from_args(args)
        if uses_quality:
            threading.Thread(target=_prepare_quality, args=(settings,), daemon=True).start()
        spark = get_spark(settings)
        context = StageContext(settings, spark, open_store(spark, settings), new_run_id(prog))
        log.info("%s: env=%s backend=%s run_id=%s", prog, settings.env,
                 context.store.backend, context.run_id)
        return int(body(context, args) or 0)
    except LakehouseError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    finally:
        # A clean JVM shutdown: without it delta-rs threads can abort the interpreter
        # at exit (SIGABRT) after a successful run.
        if spark is not None and owned and not on_databricks():
            spark.stop()
