"""`make report`: build the static HTML report of the lake's latest state.

Writes `<paths.reports>/report/index.html` with its plots and stylesheet beside it: one
folder that works offline from file://. Reads tables and MLflow runs; writes no table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lakehouse.cli import Stage, StageContext, publish_quality_docs, run_stage, wheel_task
from report import render
from report.collect import collect

IMAGES = "img"


def site_dir(ctx: StageContext) -> Path:
    """The report's folder: `<paths.reports>/report`."""
    return ctx.settings.paths.reports / "report"


def build_report(ctx: StageContext) -> Path:
    """Build the site (after rendering this process's pending Data Docs pages, which it
    links to); returns its index page."""
    publish_quality_docs()
    return render.build(site_dir(ctx), lambda staging: collect(
        ctx.settings, ctx.store, staging / IMAGES, staging))


def _body(ctx: StageContext, args: argparse.Namespace) -> int:
    print(f"report: {build_report(ctx)}", flush=True)
    return 0


STAGE = Stage("report", __doc__.splitlines()[0], _body, writes=lambda args: False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m report`."""
    return run_stage(STAGE, argv=argv)


job = wheel_task(main)  # the console script (pyproject.toml)


if __name__ == "__main__":
    raise SystemExit(main())
