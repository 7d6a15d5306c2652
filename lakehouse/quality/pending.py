"""A quality gate that validates beside the stage's writes: `start_gate`.

On a small machine a validation is mostly waiting (Spark job latency, Great
Expectations' own work), so a stage that has its output persisted can validate it in a
background thread while it writes the files, and let the verdict decide the commit:

    with start_gate(df, "silver", settings=..., stage="silver", store=store) as verdict:
        store.write(name, df, mode="append", before_commit=verdict.wait)

`verdict.wait()` blocks until the validation is done, prints the summary line (with the
seconds the stage waited for it) and raises DataQualityError when a `fail` check failed:
the store then removes the written files and commits nothing, exactly as if the gate had
run first. Leaving the block waits for the thread, so a gate never outlives its stage
or reads frames the stage unpersists afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.quality.gate import validate
from lakehouse.quality.results import ValidationReport, record_results
from lakehouse.quality.suites import Suite
from lakehouse.tables import TableStore


class PendingGate:
    """A validation running in a background thread; see the module docstring."""

    def __init__(self, run: Callable[[], ValidationReport], name: str) -> None:
        self._report: ValidationReport | None = None
        self._error: BaseException | None = None
        self._announced = False
        self.waited = 0.0  # seconds callers of wait() spent blocked
        self._thread = threading.Thread(target=self._run, args=(run,), name=name, daemon=True)
        self._thread.start()

    def _run(self, run: Callable[[], ValidationReport]) -> None:
        try:
            self._report = run()
        except BaseException as err:  # handed to the stage's thread by wait()
            self._error = err

    def _join(self) -> None:
        started = time.perf_counter()
        self._thread.join()
        self.waited += time.perf_counter() - started
        if self._report is not None and not self._announced:
            self._announced = True
            print(self._report.summary(waited=self.waited), flush=True)

    def wait(self) -> ValidationReport:
        """The report, once the validation is done; raises DataQualityError if a check of
        severity `fail` failed (or whatever stopped the validation itself)."""
        self._join()
        if self._error is not None:
            raise self._error
        assert self._report is not None
        self._report.raise_for_failures()
        return self._report

    def __enter__(self) -> PendingGate:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.wait()  # a verdict nobody waited for still stops the stage
        else:
            self._join()  # the stage's own error comes first


def start_gate(df: DataFrame, suite: Suite | str, **options: Any) -> PendingGate:
    """Start validating `df` (persisted by the caller) against `suite` in the background,
    recording the results as `gate` does; returns the pending verdict. `options` are
    `gate`'s keyword arguments (settings, stage, store, run_id, table_name,
    table_version). Pass `verdict.wait` as `before_commit` to every write it guards."""
    store: TableStore | None = options.pop("store", None)

    def run() -> ValidationReport:
        report = validate(df, suite, persist=False, **options)
        if store is not None:
            record_results(store, options["settings"], report)
        return report

    return PendingGate(run, name=f"quality-{options['stage']}-{options.get('table_name')}")
