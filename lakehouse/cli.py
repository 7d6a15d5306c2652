"""What every entry point shares: flags, settings, one Spark session, a log file per run,
clean errors."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config import add_config_arguments, settings_from_args
from lakehouse.errors import LakehouseError, explain
from lakehouse.logs import FALLBACK_DIR, FILE_ONLY, start_run_log
from lakehouse.settings import Settings
from lakehouse.spark import get_spark, on_databricks
from lakehouse.tables import TableStore, open_store
from lakehouse.tables.damage import damaged_table
from lakehouse.tables.lock import run_lock

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


def publish_quality_docs() -> None:
    """Render the Data Docs of this process's validations not rendered yet (one site build,
    after the stages, whether they succeeded or not: a failed gate is what the docs are
    for; or earlier, by a stage that links to them)."""
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
    validations are rendered once, after the stages. `writes(args)`: the run writes to the
    lake, so it holds the lake's lock (lakehouse/tables/lock.py) from start to end."""

    prog: str
    description: str
    body: StageBody
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    uses_quality: bool = False
    writes: Callable[[argparse.Namespace], bool] = lambda args: True

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


def wheel_task(main: Callable[[], int]) -> Callable[[], None]:
    """The console script of an entry point (pyproject.toml [project.scripts]), as the
    bundle's python_wheel_task calls it. Databricks ignores a wheel task's return value, so
    a failed run (non-zero code) raises SystemExit: the task fails and the tasks after it
    do not start."""

    def task() -> None:
        code = main()
        if code:
            raise SystemExit(code)

    task.__doc__ = f"{main.__module__}.main for a Databricks wheel task: fails on a non-zero code."
    return task


StageList = Sequence[tuple[Stage, argparse.Namespace]]


def run_stages(stages: StageList, *, config: argparse.Namespace,
               timings: bool = False) -> int:
    """Run stages in order in this process: one Spark session, a fresh run id and context
    per stage. Settings come from `config` (--env/--set). Stops at the first stage that
    fails; returns its exit code (0: all succeeded). With `timings`, a
    `pipeline: <stage> ... s` line follows each stage.

    Everything is logged to the run's log file (lakehouse/logs.py). A problem of the
    input, configuration or environment (a LakehouseError, or an exception `explain`
    recognises) ends the run with one line `prog: error: <message> (details: <log>)` and
    exit code 1; its traceback is in the log only. Any other exception is a bug: a line
    says where the log is, and the exception propagates with its traceback."""
    run_ids = [new_run_id(stage.prog) for stage, _ in stages]
    prog = stages[0][0].prog if len(stages) == 1 else "pipeline"
    run_log = start_run_log(run_ids[0] if len(stages) == 1 else new_run_id("pipeline"))
    spark, owned, started = None, SparkSession.getActiveSession() is None, time.perf_counter()
    settings: Settings | None = None
    lock = ExitStack()
    try:
        settings = settings_from_args(config)
        run_log.open(log_folder(settings))
        log.info("log file: %s", run_log.path, extra=FILE_ONLY)
        if any(stage.writes(args) for stage, args in stages):
            lock.enter_context(run_lock(settings))  # before the JVM: a refusal is instant
        spark = get_spark(settings)
        store = open_store(spark, settings)
        if timings:
            print(f"pipeline: Spark session {time.perf_counter() - started:.1f} s", flush=True)
        for (stage, args), run_id in zip(stages, run_ids, strict=True):
            prog, begun = stage.prog, time.perf_counter()
            context = StageContext(settings, spark, store, run_id)
            log.info("%s: env=%s run_id=%s", stage.prog, settings.env, context.run_id)
            code = int(stage.body(context, args) or 0)
            if timings:
                print(f"pipeline: {stage.prog} {time.perf_counter() - begun:.1f} s", flush=True)
            if code:
                return code
        return 0
    except Exception as err:
        problem = (damaged_table(err, settings)  # a table's file: which table, what to do
                   or explain(err, paths=_configured_paths(settings)))
        if problem is None:
            _report_bug(prog, err, run_log.path)
            raise
        _report(prog, problem, err, run_log.path)
        return 1
    finally:
        try:
            if any(stage.uses_quality for stage, _ in stages):
                publish_quality_docs()
            if spark is not None and owned and not on_databricks():
                _stop(spark)
        finally:
            lock.close()
            run_log.close()


def log_folder(settings: Settings) -> Path:
    """Where the runs' log files go: `<paths.reports>/logs` (lakehouse/logs.py has the
    exceptions: $LAKEHOUSE_LOG_DIR, Databricks, an unwritable folder)."""
    if on_databricks():
        return FALLBACK_DIR
    return settings.paths.reports / "logs"


def _configured_paths(settings: Settings | None) -> dict[str, Path]:
    """`paths.<key>` -> folder, for messages naming the setting a path belongs to."""
    if settings is None:
        return {}
    return {f"paths.{key}": Path(value) for key, value in settings.paths.model_dump().items()}


def _report(prog: str, problem: LakehouseError, err: BaseException, log_file: Path) -> None:
    """The one-line message of a user-fixable problem; its traceback in the log only."""
    log.error("%s: error: %s", prog, problem, exc_info=err, extra=FILE_ONLY)
    jvm_trace = getattr(err, "_stackTrace", None)  # a Spark error's JVM side, for the log
    if jvm_trace:
        log.debug("JVM stack trace:\n%s", jvm_trace, extra=FILE_ONLY)
    print(f"{prog}: error: {problem} (details: {log_file})", file=sys.stderr, flush=True)


def _report_bug(prog: str, err: BaseException, log_file: Path) -> None:
    """A line saying an unexpected exception is a bug and where its log is; the traceback
    follows (the caller re-raises)."""
    log.critical("%s: unexpected error", prog, exc_info=err, extra=FILE_ONLY)
    first = (str(err).strip().splitlines() or [""])[0]
    print(f"{prog}: unexpected error (a bug, not a problem of your input): "
          f"{type(err).__name__}: {first} (log: {log_file}; please report it with the log)",
          file=sys.stderr, flush=True)


def _stop(spark: SparkSession) -> None:
    """Stop the session; a JVM that already died is noted in the log, not raised again."""
    try:
        spark.stop()
    except Exception:
        log.warning("could not stop the Spark session cleanly", exc_info=True, extra=FILE_ONLY)
