"""The Databricks runtime the bundle targets, and the check that the wheel fits it.

`databricks-runtime.txt` lists what the runtime provides (a pip constraints file; its
header names the runtime, its job-cluster `spark_version`, Spark, Python and the matching
serverless environment). `python -m tools.runtime check` builds the wheel as the bundle
does and proves it never installs or replaces what the runtime provides:

1. its metadata requires none of the runtime's packages (they belong in the `local`
   extra), and never pyspark or delta-spark;
2. `pip install --dry-run --report` of the wheel for the runtime's Python, constrained to
   the runtime's versions, resolves: every dependency the wheel pulls in accepts the
   version the runtime has, so pip on the cluster keeps it. What pip would add is listed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "databricks-runtime.txt"
# Never in the wheel's requirements, whatever the constraints file says: pip would put
# open-source Spark or Delta over the runtime's own builds.
PLATFORM_PACKAGES = ("pyspark", "delta-spark")
HEADER_KEYS = ("runtime", "spark_version", "spark", "python", "serverless_environment")


class RuntimeFileError(ValueError):
    """databricks-runtime.txt is missing a header key or has a line that is not a pin."""


@dataclass(frozen=True)
class Runtime:
    """What databricks-runtime.txt says the runtime is and provides."""

    name: str
    spark_version: str
    spark: str
    python: str
    serverless_environment: str
    pins: dict[str, str] = field(default_factory=dict)  # canonical name -> version

    def provides(self, package: str) -> str | None:
        """The runtime's version of `package`, or None if it does not ship it."""
        return self.pins.get(canonicalize_name(package))


def load(path: Path = CONSTRAINTS) -> Runtime:
    """Parse the constraints file: `# key: value` header lines and `name==version` pins."""
    header: dict[str, str] = {}
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            key, sep, value = line.lstrip("# ").partition(":")
            if sep and key in HEADER_KEYS:
                header[key] = value.strip()
            continue
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not version.strip():
            raise RuntimeFileError(f"{path}:{number}: {line!r} is not a `name==version` pin")
        pins[canonicalize_name(name.strip())] = version.strip()
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise RuntimeFileError(f"{path}: header lacks {', '.join(f'# {k}:' for k in missing)}")
    return Runtime(name=header.pop("runtime"), **header, pins=pins)


def locked_version(lock: Path, package: str) -> str | None:
    """The version a requirements file (requirements.lock) pins `package` at, or None."""
    if not lock.is_file():
        return None
    for line in lock.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and canonicalize_name(name) == canonicalize_name(package):
            return version.strip()
    return None


def requirement_problems(requirements: Iterable[str], runtime: Runtime) -> list[str]:
    """Why the wheel's own requirements (Requires-Dist without an extra) do not fit."""
    problems = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement as err:
            problems.append(f"requirement {text!r} is not valid: {err}")
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # belongs to an extra (e.g. `local`): never installed on the runtime
        name = canonicalize_name(req.name)
        version = runtime.provides(name)
        if name in PLATFORM_PACKAGES or version is not None:
            has = f"{name}=={version}" if version else f"its own {name}"
            problems.append(f"the wheel requires {req}, which the runtime provides ({has}): "
                            "move it to the `local` extra in pyproject.toml")
    return problems


def wheel_requirements(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a built wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    return metadata.get_all("Requires-Dist") or []


def build_wheel(out: Path) -> Path:
    """Build the project's wheel into `out` the way the bundle's artifact does."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--wheel-dir", str(out), str(ROOT)],
                   check=True)
    return next(out.glob("*.whl"))


def dry_run(wheel: Path, runtime: Runtime, constraints: Path, report: Path) -> list[str]:
    """Resolve the wheel for the runtime's Python and platform with its versions as
    constraints; return pip's complaint as problem lines (empty: it fits)."""
    major_minor = ".".join(runtime.python.split(".")[:2])
    abi = "cp" + major_minor.replace(".", "")
    platforms = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "linux_x86_64", "any")
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
           "--disable-pip-version-check", "--report", str(report),
           "--python-version", major_minor, "--implementation", "cp", "--abi", abi,
           *[arg for p in platforms for arg in ("--platform", p)], "--only-binary=:all:",
           "-c", str(constraints), str(wheel)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return [] if done.returncode == 0 else [conflict(done.stdout + done.stderr)]


def conflict(pip_output: str) -> str:
    """One line out of pip's resolution failure: which requirement clashes with which of
    the runtime's versions."""
    lines = [line.strip() for line in pip_output.splitlines() if line.strip()]
    depends = [line for line in lines if " depends on " in line]
    runtime = [line.removeprefix("The user requested (constraint) ") for line in lines
               if line.startswith("The user requested (constraint)")]
    if not depends and not runtime:
        return "pip cannot install the wheel: " + (lines[-1] if lines else "no output")
    said = depends[0] if depends else "the wheel's requirements"
    if len(depends) > 1:
        said += f" (and {len(depends) - 1} more like it)"
    return (f"installing the wheel would replace what the runtime provides: {said}; "
            f"the runtime has {', '.join(runtime) or 'other versions'}")


def additions(report: Path, runtime: Runtime) -> list[str]:
    """`name==version` of what the dry run would install that the runtime lacks."""
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs
                  if runtime.provides(i["metadata"]["name"]) is None and not i.get("requested"))


def check(constraints: Path = CONSTRAINTS) -> int:
    """Build the wheel and check it against the runtime; print one line per problem."""
    try:
        runtime = load(constraints)
    except (OSError, RuntimeFileError) as err:
        print(f"runtime-check: error: {err}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="runtime-check-") as tmp:
        wheel = build_wheel(Path(tmp))
        problems = requirement_problems(wheel_requirements(wheel), runtime)
        report = Path(tmp) / "report.json"
        problems = problems or dry_run(wheel, runtime, constraints, report)
        for problem in problems:
            print(f"runtime-check: {wheel.name}: {problem}", file=sys.stderr)
        if problems:
            return 1
        added = additions(report, runtime)
    print(f"runtime-check: {wheel.name} installs on Databricks Runtime {runtime.name} "
          f"(Python {runtime.python}) replacing nothing; adds {len(added)}: {', '.join(added)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    checking = sub.add_parser("check", help="the built wheel fits the runtime's packages")
    checking.add_argument("--constraints", type=Path, default=CONSTRAINTS)
    args = parser.parse_args(argv)
    return check(args.constraints)


if __name__ == "__main__":
    sys.exit(main())
