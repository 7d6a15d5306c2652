"""The Delta Lake jars a local Spark session needs: pinned, fetched once, checked at start.

The pins live in `conf/jars.ivy.xml` (in the wheel too) (why each one: its comment).
`python -m lakehouse.jars fetch` (run by `make` on first use) resolves them with the Ivy
that ships inside pyspark, from Maven Central or whatever the machine's Ivy/Maven
settings point at, into `paths.jars`; sessions then start offline with `spark.jars`.
A machine without Maven access can copy the jars into any folder and point `paths.jars`
at it (`LAKEHOUSE__PATHS__JARS=/path/to/jars`): a file counts when its name ends with
`<artifact>-<version>.jar`, as both Ivy's and Maven's layouts name them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pyspark

from lakehouse.config import PROJECT_ROOT, load_settings
from lakehouse.errors import LakehouseError

PINS = PROJECT_ROOT / "conf" / "jars.ivy.xml"


class DeltaJarsError(LakehouseError, RuntimeError):
    """The Delta jars are missing and could not be fetched."""


@dataclass(frozen=True)
class Jar:
    """One pinned Maven artifact."""

    group: str
    artifact: str
    version: str

    @property
    def coordinate(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def suffix(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


def pinned(pins: Path = PINS) -> list[Jar]:
    """The jars `pins` (an Ivy module file) lists."""
    root = ET.parse(pins).getroot()
    return [Jar(d.get("org", ""), d.get("name", ""), d.get("rev", ""))
            for d in root.iter("dependency")]


def jar_paths(folder: Path, pins: Path = PINS) -> list[str]:
    """The files in `folder` for every pinned jar; DeltaJarsError naming the missing ones
    and the ways out when any is absent."""
    present = sorted(folder.glob("*.jar")) if folder.is_dir() else []
    found, missing = [], []
    for jar in pinned(pins):
        match = next((p for p in present if p.name.endswith(jar.suffix)), None)
        if match is None:
            missing.append(jar.coordinate)
        else:
            found.append(str(match))
    if missing:
        raise DeltaJarsError(
            f"Delta Lake jars missing from {folder}: {', '.join(missing)}. Run `make jars` "
            "(needs Maven Central or a mirror in your Ivy/Maven settings), or copy these jars "
            "into a folder and set paths.jars to it (LAKEHOUSE__PATHS__JARS=/folder).")
    return found


def fetch(folder: Path, pins: Path = PINS) -> list[str]:
    """Resolve the pinned jars with pyspark's Ivy into `folder` (a no-op when they are all
    there); the paths, or DeltaJarsError with Ivy's own reason."""
    try:
        return jar_paths(folder, pins)
    except DeltaJarsError:
        pass
    ivy = next((Path(pyspark.__file__).parent / "jars").glob("ivy-*.jar"), None)
    if ivy is None:
        raise DeltaJarsError("pyspark's Ivy jar is missing: reinstall the virtual environment "
                             "(make clean-venv && make venv)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ivy-") as cache:
        done = subprocess.run(
            ["java", "-jar", str(ivy), "-ivy", str(pins), "-cache", cache,
             "-retrieve", f"{folder}/[organisation]_[artifact]-[revision].[ext]"],
            capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reasons = [line.strip() for line in done.stdout.splitlines()
                   if "not found" in line or "UNRESOLVED" in line or "ERROR" in line]
        raise DeltaJarsError(
            f"could not fetch the Delta Lake jars ({pins.name}) into {folder}: "
            f"{'; '.join(reasons[:3]) or done.stderr.strip()[-300:]}. Without Maven access, "
            "copy the jars it lists into a folder and set paths.jars to it.")
    return jar_paths(folder, pins)


def main(argv: list[str] | None = None) -> int:
    """`python -m lakehouse.jars fetch|check`: fetch or check the jars of paths.jars."""
    parser = argparse.ArgumentParser(prog="python -m lakehouse.jars", description=__doc__)
    parser.add_argument("action", choices=("fetch", "check"))
    parser.add_argument("--env", default=None)
    args = parser.parse_args(argv)
    folder = load_settings(args.env).paths.jars
    try:
        paths = fetch(folder) if args.action == "fetch" else jar_paths(folder)
    except DeltaJarsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Delta Lake jars: {len(paths)} in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
