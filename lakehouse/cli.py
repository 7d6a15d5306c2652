"""What every entry point shares: flags, settings, one Spark session, clean errors."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
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


def _publish_quality_docs() -> None:
    """Render the Data Docs of this process's validations (one site build, after the
    stages, whether they succeeded or not: a failed gate is what the docs are for)."""
    try:
        from lakehouse.quality import publish_docs

        started = time.perf_counter()
        for index in publish_docs():
            print(f"quality: Data Docs updated in {time.perf_counter() - started:.1f} s: "
                  f"{index}", flush=True)
    except Exception as err:  # the stages' own outcome stands; say what went wrong
        log.warning("could not update the Data Docs site: %s", err, exc_info=True)


@dataclass(frozen=True)
class Stage:
    """One entry point: its name, its work, and its own flags.

    `uses_quality`: the stage runs quality gates; the Data Docs of the process's
    validations are rendered once, after the stages."""

    prog: str
    description: str
    body: StageBody
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    uses_quality: bool = False

    def parser(self) -> argparse.ArgumentParser:
        """The stage's command line: the configuration flags plus its own."""
        parser = argparse.ArgumentParser(prog=self.prog, description=self.description)
        add_config_arguments(parser)
        if self.add_arguments is not None:
            self.add_arguments(parser)
        return parser


def run_stage(stage: Stage, *, argv: list[str] | None = None) -> int:
    """Parse the stage's flags, load settings, start Spark, run it, and turn user-fixable
    errors into one message and exit code 1. Returns the exit code."""
    args = stage.parser().parse_args(argv)
    return run_stages([(stage, args)], config=args)


StageList = Sequence[tuple[Stage, argparse.Namespace]]


def run_stages(stages: StageList, *, config: argparse.Namespace,
               timings: bool = False) -> int:
    """Run stages in order in this process: one Spark session, a fresh run id and context
    per stage. Settings come from `config` (--env/--set). Stops at the first stage that
    fails; returns its exit code (0: all succeeded). With `timings`, a
    `pipeline: <stage> ... s` line follows each stage."""
    configure_logging()
    prog = stages[0][0].prog if len(stages) == 1 else "pipeline"
    spark, owned, started = None, SparkSession.getActiveSession() is None, time.perf_counter()
    try:
        settings = settings_from_args(config)
        spark = get_spark(settings)
        store = open_store(spark, settings)
        if timings:
            print(f"pipeline: Spark session {time.perf_counter() - started:.1f} s", flush=True)
        for stage, args in stages:
            prog, begun = stage.prog, time.perf_counter()
            context = StageContext(settings, spark, store, new_run_id(stage.prog))
            log.info("%s: env=%s run_id=%s", stage.prog, settings.env, context.run_id)
            code = int(stage.body(context, args) or 0)
            if timings:
                print(f"pipeline: {stage.prog} {time.perf_counter() - begun:.1f} s", flush=True)
            if code:
                return code
        return 0
    except LakehouseError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    finally:
        if any(stage.uses_quality for stage, _ in stages):
            _publish_quality_docs()
        if spark is not None and owned and not on_databricks():
            spark.stop()
