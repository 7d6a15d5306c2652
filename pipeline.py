"""Several stages in one process: `python -m pipeline bronze silver gold train`.

What `make bronze silver gold train` runs: the stages in the order given, sharing one
Spark session and one Great Expectations context, so the JVM starts once instead of
once per stage (about 8 s each on a laptop). Each stage behaves exactly as its own
entry point (`python -m bronze`, ...) with its default flags: its own run id, its own
gates, writes and summary lines; the run stops at the first stage that fails.

Stage-specific flags (`gold --all`, `ml.score --as-of`) belong to single-stage runs:
`make gold ARGS=--all`.

It sits above the layers (the core never imports a layer).
"""

from __future__ import annotations

import argparse
import sys

from bronze.run import STAGE as BRONZE
from gold.run import STAGE as GOLD
from lakehouse.cli import run_stages
from lakehouse.config import add_config_arguments
from ml.score import STAGE as SCORE
from ml.train import STAGE as TRAIN
from silver.run import STAGE as SILVER

# Stage name (as `make` spells it) -> its entry point.
STAGES = {"bronze": BRONZE, "silver": SILVER, "gold": GOLD, "train": TRAIN, "score": SCORE}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Stage names plus the configuration flags (--env, --set)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("stages", nargs="+", choices=list(STAGES),
                        metavar="STAGE", help=f"one or more of {', '.join(STAGES)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the named stages in order; prints each stage's seconds."""
    args = parse_args(argv)
    stages = [(STAGES[name], STAGES[name].parser().parse_args([])) for name in args.stages]
    return run_stages(stages, config=args, timings=True)


if __name__ == "__main__":
    sys.exit(main())
