"""Rebuild the Great Expectations Data Docs site and print the path of its index.

    python -m lakehouse.quality.docs [--env ENV] [--set section.key=value ...]

Builds from every validation stored under `<paths.reports>/gx` (stages store one per
run when `quality.data_docs` is on); no Spark session is needed.
"""

from __future__ import annotations

import argparse
import sys

from lakehouse.config import ConfigError, add_config_arguments, settings_from_args
from lakehouse.quality._gx import build_data_docs


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m lakehouse.quality.docs` (`make docs`)."""
    parser = argparse.ArgumentParser(prog="lakehouse.quality.docs",
                                     description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    try:
        settings = settings_from_args(parser.parse_args(argv))
    except ConfigError as err:
        print(f"lakehouse.quality.docs: error: {err}", file=sys.stderr)
        return 1
    print(build_data_docs(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
