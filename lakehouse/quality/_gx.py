"""Great Expectations, configured once: contexts, data sources, Data Docs.

Every use of the `great_expectations` package in the project goes through this
package; this module is where it is imported and configured (no analytics, no
progress bars, GX logging at ERROR only).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # read when a context is created

import great_expectations as gx
from great_expectations.compatibility.pydantic import ValidationError
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
)
from great_expectations.expectations import registry

from lakehouse.quality import _custom  # noqa: F401 (registers the project's own)
from lakehouse.quality.offline import localize
from lakehouse.settings import Settings

__all__ = [
    "ArgumentError", "RunIdentifier", "batch_definition", "build_data_docs",
    "expectation_class", "get_context", "gx", "known_expectation_types", "publish_docs",
    "queue_docs",
]

logging.getLogger("great_expectations").setLevel(logging.ERROR)
log = logging.getLogger(__name__)
registry.register_core_expectations()

ArgumentError = ValidationError  # what an expectation class raises for bad arguments
DATASOURCE = "lakehouse"
BATCH_DEFINITION = "whole_dataframe"
DOCS_SITE = "lakehouse"

_contexts: dict[str, Any] = {}
# Context key -> (settings, identifiers of validation results and suites not yet rendered).
_pending_docs: dict[str, tuple[Settings, list[Any]]] = {}


def expectation_class(expectation_type: str) -> type | None:
    """The GX class registered for a snake_case expectation type, or None."""
    return registry._registered_expectations.get(expectation_type)


def known_expectation_types() -> list[str]:
    """Every expectation type in GX's registry, sorted."""
    return sorted(registry._registered_expectations)


def docs_dir(settings: Settings) -> Path:
    """Folder of the Data Docs site: `<paths.reports>/data_docs`."""
    return settings.paths.reports / "data_docs"


def project_dir(settings: Settings) -> Path:
    """Folder of the file-backed GX project: `<paths.reports>/gx`."""
    return settings.paths.reports / "gx"


def get_context(settings: Settings, *, file_backed: bool | None = None) -> Any:
    """The GX context for these settings, created once per process.

    File-backed (with `quality.data_docs`, or when asked): a project under
    `<paths.reports>/gx` whose Data Docs site is `<paths.reports>/data_docs`; otherwise
    an in-memory context.
    """
    file_backed = settings.quality.data_docs if file_backed is None else file_backed
    key = str(project_dir(settings)) if file_backed else ""
    if key not in _contexts:
        _contexts[key] = _file_context(settings) if key else _memory_context()
    return _contexts[key]


def batch_definition(context: Any, asset_name: str) -> Any:
    """The whole-DataFrame batch definition of asset `asset_name`, added if missing."""
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        # persist=False: the caller owns caching (GX would persist and never unpersist).
        source = context.data_sources.add_spark(DATASOURCE, persist=False)
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def queue_docs(settings: Settings, checkpoint_result: Any) -> None:
    """Remember the validations of a checkpoint run for the next `publish_docs` (when
    `quality.data_docs` is on). Rendering is deferred: every render also rebuilds the
    site's index, so a process renders its validations once, after its stages (about
    1.3 s saved per gate after the first; the results are stored at validation time)."""
    if not settings.quality.data_docs:
        return
    ids: list[Any] = []
    for result_id, result in checkpoint_result.run_results.items():
        ids += [result_id, ExpectationSuiteIdentifier(name=result.suite_name)]
    _pending_docs.setdefault(str(project_dir(settings)), (settings, []))[1].extend(ids)


def publish_docs() -> list[Path]:
    """Render the queued validations into their Data Docs sites (one build per site,
    index included); returns the index pages built. Nothing queued: nothing done."""
    pending = list(_pending_docs.values())
    _pending_docs.clear()
    built = []
    for settings, ids in pending:
        get_context(settings, file_backed=True).build_data_docs(
            site_names=[DOCS_SITE], resource_identifiers=ids)
        built.append(_offline(docs_dir(settings)))
    return built


def build_data_docs(settings: Settings) -> Path:
    """(Re)build the Data Docs site from every stored validation; return its index.html."""
    get_context(settings, file_backed=True).build_data_docs(site_names=[DOCS_SITE])
    return _offline(docs_dir(settings))


def _offline(site: Path) -> Path:
    """Point the site's pages at local copies of their CDN assets; return its index."""
    external = localize(site)
    if external:
        log.warning("Data Docs pages still load %d outside address(es), e.g. %s",
                    len(external), external[0])
    return site / "index.html"


def _quiet(context: Any) -> Any:
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.analytics_enabled = False
    return context


def _memory_context() -> Any:
    return _quiet(gx.get_context(mode="ephemeral"))


def _file_context(settings: Settings) -> Any:
    settings.paths.reports.mkdir(parents=True, exist_ok=True)
    context = _quiet(gx.get_context(mode="file", project_root_dir=str(settings.paths.reports)))
    # Saved every time: a small YAML write, and an edited project file cannot drift.
    context.variables.data_docs_sites = {DOCS_SITE: {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(docs_dir(settings))},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }}
    context.variables.save()
    return context
