"""Several stages in one process: `python -m pipeline bronze silver gold train`.

What `make bronze silver gold train` runs: the stages in the order given, sharing one
Spark session and one Great Expectations context, so the JVM starts once instead of
once per stage (about 8 s each on a laptop). Each stage behaves exactly as its own
entry point (`python -m bronze`, ...) with its default flags: its own run id, its own
gates, writes and summary lines; the run stops at the first stage that fails.

`train` is followed by `score` (the latest snapshot scored with the models it just
promoted), and the report (report/) is built after the last stage whenever `train` or
`score` ran: `make bronze silver gold train` ends with scores and an up-to-date report.

Stage-specific flags (`gold --all`, `score --as-of`) go with a single stage:
`python -m pipeline score --as-of 2024-06-30`, `make gold ARGS=--all`.

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
from report.run import STAGE as REPORT
from silver.run import STAGE as SILVER

# Stage name (as `make` spells it) -> its entry point.
STAGES = {"bronze": BRONZE, "silver": SILVER, "gold": GOLD, "train": TRAIN, "score": SCORE,
          "report": REPORT}
REPORTED = ("train", "score")  # stages after which the report is rebuilt


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.Namespace]:
    """Stage names plus the configuration flags (--env, --set), and the flags of the first
    stage named (a stage's own flags go with a single stage)."""
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("stages", nargs="+", choices=list(STAGES),
                        metavar="STAGE", help=f"one or more of {', '.join(STAGES)}")
    argv = sys.argv[1:] if argv is None else list(argv)
    names = [a for a in argv if a in STAGES]
    args, rest = parser.parse_known_args([*names, *(a for a in argv if a not in STAGES)])
    if rest and len(args.stages) != 1:
        parser.error(f"stage flags or unknown stages ({' '.join(rest)}): a stage's own "
                     f"flags go with a single stage; stages are {', '.join(STAGES)}")
    return args, STAGES[args.stages[0]].parser().parse_args(rest)


def plan(named: list[str]) -> list[str]:
    """The stages to run for the ones named: `score` after `train`, the report last
    whenever `train` or `score` runs."""
    names = list(named)
    if "train" in names and "score" not in names:
        names.insert(names.index("train") + 1, "score")
    if any(n in REPORTED for n in names) and "report" not in names:
        names.append("report")
    return names


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the named stages in order (see `plan`); prints each stage's
    seconds."""
    args, first = parse_args(argv)
    names = plan(args.stages)
    stages = [(STAGES[name], first if name == args.stages[0] else
               STAGES[name].parser().parse_args([])) for name in names]
    return run_stages(stages, config=args, timings=True)


if __name__ == "__main__":
    sys.exit(main())
