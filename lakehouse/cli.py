"""What every entry point shares: flags, settings, one Spark session, clean errors."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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


def _load_stages(stages: StageList | Callable[[], StageList],
                 settings: Settings) -> list[tuple[Stage, argparse.Namespace]]:
    """The stages (loaded if given as a function); if one uses quality gates, Great
    Expectations' context is prepared in the background (it may go on into the first
    stage, which does not need it before its gate)."""
    loaded = list(stages() if callable(stages) else stages)
    if any(stage.uses_quality for stage, _ in loaded):
        threading.Thread(target=_prepare_quality, args=(settings,), daemon=True).start()
    return loaded


def _start_preparing(loaded: StageList, settings: Settings) -> dict[str, threading.Thread]:
    """Start each stage's `prepare` in a thread of its own; by stage name."""
    def work(stage: Stage) -> None:
        try:
            stage.prepare(settings)
        except Exception:  # the stage does the same work itself and reports any problem
            log.debug("could not prepare %s in advance", stage.prog, exc_info=True)

    threads = {stage.prog: threading.Thread(target=work, args=(stage,), daemon=True,
                                            name=f"prepare-{stage.prog}")
               for stage, _ in loaded if stage.prepare is not None}
    for thread in threads.values():
        thread.start()
    return threads


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

    `uses_quality`: the stage runs quality gates; Great Expectations is then imported
    and its context prepared in the background while the JVM starts, and the Data Docs
    of the process's validations are rendered once, after the stages. (A tiny warm-up
    validation beside bronze's parsing used to pay the JVM's first-use cost early; on
    two cores it competed with the parse and bronze took 4.5 s longer: 33.6 s against
    29.0 s on 1M rows, though its gate line looked shorter.)"""

    prog: str
    description: str
    body: StageBody
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    uses_quality: bool = False
    # Set-up the stage needs before its work and that needs no Spark (MLflow's store):
    # run in a thread from the start of a multi-stage run, beside the earlier stages;
    # the stage waits for it before it starts.
    prepare: Callable[[Settings], object] | None = None

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


def run_stages(
    stages: StageList | Callable[[], StageList],
    *,
    config: argparse.Namespace,
    timings: bool = False,
) -> int:
    """Run stages in order in this process: one Spark session, one quality context, a
    fresh run id and context per stage. Settings come from `config` (--env/--set).
    Stops at the first stage that fails; returns its exit code (0: all succeeded).
    With `timings`, a `pipeline: <stage> ... s` line follows each stage.

    `stages` may be a function returning them: it is called in a background thread
    while the JVM starts (the stage modules import MLflow, matplotlib and the like:
    ~6 s of Python that then overlaps the JVM's ~9 s), and Great Expectations is then
    prepared there too if a stage uses it."""
    configure_logging()
    prog = stages[0][0].prog if not callable(stages) and len(stages) == 1 else "pipeline"
    spark, owned = None, SparkSession.getActiveSession() is None
    started, loaded, preparing = time.perf_counter(), [], {}
    try:
        settings = settings_from_args(config)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-stages") as pool:
            loading = pool.submit(_load_stages, stages, settings)
            spark = get_spark(settings)
            store = open_store(spark, settings)
            loaded = loading.result()
        preparing = _start_preparing(loaded, settings)
        if timings:
            print(f"pipeline: Spark session {time.perf_counter() - started:.1f} s", flush=True)
        for stage, args in loaded:
            prog, begun = stage.prog, time.perf_counter()
            if prog in preparing:
                preparing[prog].join()
            context = StageContext(settings, spark, store, new_run_id(stage.prog))
            log.info("%s: env=%s backend=%s run_id=%s", stage.prog, settings.env,
                     store.backend, context.run_id)
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
        # An unfinished preparation (a stage failed before the one it serves) is let
        # finish: MLflow creating its database must not be cut off halfway.
        for thread in preparing.values():
            thread.join()
        if any(stage.uses_quality for stage, _ in loaded):
            _publish_quality_docs()
        # A clean JVM shutdown: without it delta-rs threads can abort the interpreter
        # at exit (SIGABRT) after a successful run.
        if spark is not None and owned and not on_databricks():
            spark.stop()
