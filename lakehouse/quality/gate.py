"""Run a suite on a DataFrame with Great Expectations and act on the outcome.

Cost: one cheap pass computes every check's counts (GX bundles the row-level checks
into one aggregation over the frame) without fetching unexpected values; a second
pass, only for failed `warn`/`fail` row-level checks, fetches `quality.sample_size`
offending values each (failed `quarantine` checks need none: the quarantine table
holds every offending row). Both read a persisted frame: persist it before calling,
so validation and the stage's writes share one computation (an unpersisted frame is
persisted for the validation only, then released).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame

from lakehouse.progress import step
from lakehouse.quality import _gx
from lakehouse.quality.results import CheckResult, ValidationReport, record_results
from lakehouse.quality.suites import Check, Suite, load_suite
from lakehouse.settings import Settings
from lakehouse.tables import TableStore

# Counts and observed values, no unexpected values (a limit-0 query Spark skips).
CHEAP_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
# Values of NULL checks are all NULL: a sample says nothing.
_NO_SAMPLE = frozenset({"expect_column_values_to_not_be_null"})


def validate(
    df: DataFrame,
    suite: Suite | str,
    *,
    settings: Settings,
    stage: str,
    run_id: str | None = None,
    table_name: str | None = None,
    table_version: int | None = None,
    persist: bool = True,
) -> ValidationReport:
    """Validate `df` against `suite` (a Suite or a suite name under paths.expectations).

    Nothing raises on failed checks: act on the returned report. `table_name` and
    `table_version` say which table (and version, when known) the data belongs to;
    they are recorded with the results. With quality.data_docs on, the validation is
    stored and queued for the Data Docs site (`publish_docs` renders the queue).
    With `persist` (default) an unpersisted `df` is persisted for the validation and
    released after; pass False when `df` is a cheap filter/projection of a persisted
    frame (re-reading that frame beats caching a copy).
    """
    suite = load_suite(settings, suite) if isinstance(suite, str) else suite
    started, validated_at = time.perf_counter(), datetime.now(UTC)
    run_id = run_id or f"{stage}-{validated_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    persisted_here = persist and not (df.storageLevel.useMemory or df.storageLevel.useDisk)
    if persisted_here:
        df.persist()
    try:
        context = _gx.get_context(settings)
        checkpoint = _checkpoint(context, suite, settings)
        run_identifier = _gx.RunIdentifier(run_name=run_id, run_time=validated_at)
        outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_identifier)
        _gx.queue_docs(settings, outcome)
        by_name = _by_name(r for run in outcome.run_results.values() for r in run.results)
        samples = _samples(context, suite, df, by_name, settings.quality.sample_size)
    finally:
        if persisted_here:
            df.unpersist()
    missing = [c.name for c in suite.checks if c.name not in by_name]
    if missing:
        raise RuntimeError(f"Great Expectations returned no result for {', '.join(missing)}")
    results = tuple(_check_result(c, by_name[c.name], samples.get(c.name, ()))
                    for c in suite.checks)
    return ValidationReport(
        run_id=run_id, stage=stage, suite=suite.name, table_name=table_name,
        table_version=table_version, validated_at=validated_at,
        seconds=time.perf_counter() - started, results=results,
    )


def gate(
    df: DataFrame,
    suite: Suite | str,
    *,
    settings: Settings,
    stage: str,
    store: TableStore | None = None,
    run_id: str | None = None,
    table_name: str | None = None,
    table_version: int | None = None,
    persist: bool = True,
) -> ValidationReport:
    """Validate, record the results (when `store` is given), print the one-line summary,
    and raise DataQualityError if a check of severity `fail` failed.

    Call it before writing: when it raises, the stage writes nothing and its target
    table stays at its version. Quarantine routing is `split_quarantine`'s job.
    """
    name = suite if isinstance(suite, str) else suite.name
    with step(f"quality[{stage}]: validating {table_name or 'the rows'} with suite {name}"):
        report = validate(df, suite, settings=settings, stage=stage, run_id=run_id,
                          table_name=table_name, table_version=table_version,
                          persist=persist)
    if store is not None:
        record_results(store, settings, report)
    print(report.summary(), flush=True)
    report.raise_for_failures()
    return report


# (context, suite name) -> (definition, checkpoint) of the suite's last registration.
_checkpoints: dict[tuple[int, str], tuple[str, Any]] = {}


def _checkpoint(context: Any, suite: Suite, settings: Settings) -> Any:
    """The GX checkpoint of `suite` in `context`, registered again only when the suite's
    definition differs from its last registration there (re-registering compares and
    stores every expectation: tenths of a second per validation). GX refuses to run a
    checkpoint whose suite was replaced since, so only the last one is kept."""
    key = (id(context), suite.name)
    definition = repr(suite.checks)
    cached = _checkpoints.get(key)
    if cached is None or cached[0] != definition:
        cached = _checkpoints[key] = (definition, _new_checkpoint(context, suite, settings))
    return cached[1]


def _new_checkpoint(context: Any, suite: Suite, settings: Settings) -> Any:
    gx = _gx.gx
    expectations = [c.to_gx() for c in suite.checks]
    gx_suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite.name, expectations=expectations))
    definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(
        name=suite.name, data=_gx.batch_definition(context, suite.name), suite=gx_suite))
    return context.checkpoints.add_or_update(gx.Checkpoint(
        name=suite.name, validation_definitions=[definition], actions=[],
        result_format=CHEAP_FORMAT))


def _samples(
    context: Any, suite: Suite, df: DataFrame, by_name: dict[str, Any], size: int
) -> dict[str, tuple[Any, ...]]:
    """Offending values of the failed warn/fail row checks (one small query each) whose
    first result holds none (the compound key check returns its repeated keys)."""
    wanted = [c for c in suite.checks if c.name in by_name and not by_name[c.name].success
              and "unexpected_count" in (by_name[c.name].result or {})
              and not by_name[c.name].result.get("partial_unexpected_list")
              and c.severity != "quarantine" and c.expectation not in _NO_SAMPLE]
    if not wanted or size == 0:
        return {}
    details = _gx.gx.ExpectationSuite(name=f"{suite.name}_details",
                                            expectations=[c.to_gx() for c in wanted])
    definition = _gx.batch_definition(context, suite.name)
    batch = definition.get_batch(batch_parameters={"dataframe": df})
    outcome = batch.validate(details, result_format={"result_format": "BASIC",
                                                     "partial_unexpected_count": size})
    return {name: tuple((r.result or {}).get("partial_unexpected_list") or ())
            for name, r in _by_name(outcome.results).items()}


def _by_name(results: Any) -> dict[str, Any]:
    return {r.expectation_config.meta["name"]: r for r in results}


def _check_result(check: Check, raw: Any, sample: tuple[Any, ...]) -> CheckResult:
    result = raw.result or {}
    if "unexpected_count" in result:
        observed: Any = {k: result[k] for k in ("unexpected_percent", "missing_count")
                         if result.get(k) is not None}
    else:
        observed = result.get("observed_value")
    sample = sample or tuple(result.get("partial_unexpected_list") or ())
    return CheckResult(
        check=check, success=bool(raw.success), observed=observed,
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"), sample=sample, error=_error(raw),
    )


def _error(raw: Any) -> str | None:
    info = raw.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "exception"
    # Metric failures come keyed by metric id, often the same message several times.
    messages = [v.get("exception_message") for v in info.values()
                if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(m for m in messages if m)) or None
