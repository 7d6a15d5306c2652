"""``python -m datagen``: the CLI of :mod:`datagen.cli` with its defaults and folders
taken from the project configuration (``--env``, ``--set section.key=value``)."""

import argparse
import sys

from bronze.landing import has_files
from datagen.cli import main
from datagen.spec import GeneratorSpec
from lakehouse.config import ConfigError, add_config_arguments, settings_from_args


def run(argv: list[str] | None = None) -> int:
    """Load the settings, then hand the remaining flags to the generator's CLI."""
    config = argparse.ArgumentParser(add_help=False)
    add_config_arguments(config)
    known, rest = config.parse_known_args(argv)
    if "--if-empty" in rest:
        # make's sample step (`make bronze`): it gets the stage's ARGS, whose configuration
        # (--env, --set paths.landing=...) counts and whose stage flags are not the
        # generator's; the sample takes the configured generator settings.
        rest = [flag for flag in rest if flag in ("--if-empty", "--quiet")]
    try:
        settings = settings_from_args(known)
        defaults = GeneratorSpec.from_dict(settings.generator.model_dump(exclude_none=True))
    except (ConfigError, ValueError) as err:
        print(f"datagen: error: {err}", file=sys.stderr)
        return 2
    pattern = settings.bronze.file_pattern
    return main(rest, defaults=defaults, landing=settings.paths.landing,
                truth=settings.paths.truth,
                has_input=lambda folder: has_files(folder, pattern))


raise SystemExit(run())
