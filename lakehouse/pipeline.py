"""Several stages in one process: `python -m lakehouse.pipeline bronze silver gold train`.

What `make bronze silver gold train` runs: the stages in the order given, sharing one
Spark session and one Great Expectations context, so the JVM starts once instead of
once per stage (about 8 s each on a laptop). Each stage behaves exactly as its own
entry point (`python -m bronze`, ...) with its default flags: its own run id, its own
gates, writes and summary lines; the run stops at the first stage that fails.

Stage-specific flags (`gold --all`, `ml.score --as-of`) belong to single-stage runs:
`make gold ARGS=--all`.

This dispatcher names the stage modules (as the Makefile does); it imports them only
when asked to run them, and the core never imports a layer otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lakehouse.cli import Stage, run_stages
from lakehouse.config import add_config_arguments

# Stage name (as `make` spells it) -> module defining `STAGE`.
STAGE_MODULES = {"bronze": "bronze.run", "silver": "silver.run", "gold": "gold.run",
                 "train": "ml.train", "score": "ml.score"}


def load_stage(name: str) -> Stage:
    """The `STAGE` of a stage module, by its make name."""
    return importlib.import_module(STAGE_MODULES[name]).STAGE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Stage names plus the configuration flags (--env, --set)."""
    parser = argparse.ArgumentParser(prog="python -m lakehouse.pipeline",
                                     description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("stages", nargs="+", choices=list(STAGE_MODULES),
                        metavar="STAGE", help=f"one or more of {', '.join(STAGE_MODULES)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the named stages in order; prints each stage's seconds."""
    args = parse_args(argv)

    def stages() -> list[tuple[Stage, argparse.Namespace]]:
        # Imported while the JVM starts (run_stages calls this in a background thread).
        return [(stage, stage.parser().parse_args([]))
                for stage in map(load_stage, args.stages)]

    return run_stages(stages, config=args, timings=True)


if __name__ == "__main__":
    sys.exit(main())
