"""`make test-runtime-twin`: a local twin of the Databricks runtime the bundle targets.

1. An environment (`.venv-twin`) with the runtime's versions of what the code and the
   tests use, from databricks-runtime.txt: PySpark at the runtime's Spark version, its
   MLflow (mlflow-skinny), pandas, numpy, pyarrow, scikit-learn, matplotlib, ...; plus the
   open-source delta-spark matching Spark 4.1 (requirements.lock; Databricks has its own).
2. The wheel built and installed as the bundle installs it (`pip install <wheel>`, no
   constraints); every package's version before and after is compared: a replaced one
   fails the run.
3. The tests run against the installed wheel, not the source tree (they are copied to a
   folder of their own): the ML tests, the end-to-end test, and tests/twin, which runs the
   bundle's job tasks as Databricks would (an active session, job parameters and
   environment, three-part table names, the entry points of the installed wheel).

Python is the machine's (the runtime has the version in databricks-runtime.txt's header):
the wheel's resolution for the runtime's Python is checked by `make runtime-check`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from tools.runtime import CONSTRAINTS, ROOT, Runtime, build_wheel, load, locked_version

TWIN = ROOT / ".venv-twin"
# What the package and its tests import that the runtime provides (their dependencies
# follow at the runtime's versions through the constraints).
RUNTIME_PACKAGES = ("pyspark", "mlflow-skinny", "pandas", "numpy", "pyarrow", "scipy",
                    "scikit-learn", "matplotlib", "seaborn", "pydantic", "pyyaml", "jinja2",
                    "sqlalchemy", "alembic", "packaging", "pytest")
# Test tools at the project's pins, not the runtime's: the end-to-end test reads every table
# with delta-rs as a second reader, and the runtime's deltalake (1.1) cannot read deletion
# vectors. The package itself never imports it.
TEST_TOOLS = ("deltalake",)
# The job test, every ML test and the end-to-end test (patterns under the copied tests/).
TESTS = ("tests/twin", "tests/unit/test_ml_*.py", "tests/integration/test_ml_train.py",
         "tests/e2e/test_pipeline.py")


class TwinError(RuntimeError):
    """A step of the twin failed: the message says which and why."""


def locked(package: str) -> str:
    """`package==version` as requirements.lock pins it."""
    version = locked_version(ROOT / "requirements.lock", package)
    if version is None:
        raise TwinError(f"requirements.lock pins no {package}")
    return f"{package}=={version}"


def pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        raise TwinError(f"pip {' '.join(args[:2])} ... failed: {' '.join(tail)}")


def installed(python: Path) -> dict[str, str]:
    """name -> version of every package in the environment."""
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=json",
                          "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def environment(runtime: Runtime) -> Path:
    """The twin's Python, (re)created when the constraints or the Delta pin change."""
    python = TWIN / "bin" / "python"
    wanted = [*RUNTIME_PACKAGES, locked("delta-spark")]
    tools = [locked(name) for name in TEST_TOOLS]
    digest = hashlib.sha256((CONSTRAINTS.read_text() + " ".join(wanted + tools)).encode()
                            ).hexdigest()
    stamp = TWIN / ".runtime"
    if python.exists() and stamp.is_file() and stamp.read_text() == digest:
        return python
    shutil.rmtree(TWIN, ignore_errors=True)
    print(f"runtime-twin: creating {TWIN.name} with Databricks Runtime {runtime.name}'s "
          "packages (first run only, ~2 min)...", flush=True)
    venv.create(TWIN, with_pip=True)
    pip(python, "install", "--quiet", "--upgrade", "pip>=24")
    pip(python, "install", "--quiet", "-c", str(CONSTRAINTS), *wanted)
    pip(python, "install", "--quiet", *tools)
    stamp.write_text(digest)
    return python


def install_wheel(python: Path, runtime: Runtime) -> dict[str, str]:
    """Install the built wheel as the bundle does; fail if it replaced any package."""
    before = installed(python)
    with tempfile.TemporaryDirectory(prefix="twin-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        pip(python, "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel))
        pip(python, "install", "--quiet", str(wheel))
    after = installed(python)
    replaced = {name: (before[name], after[name]) for name in before
                if name in after and before[name] != after[name]}
    if replaced:
        raise TwinError("installing the wheel replaced what the runtime provides: " + ", ".join(
            f"{n} {old} -> {new}" for n, (old, new) in sorted(replaced.items())))
    spark = after.get("pyspark")
    if spark != runtime.spark:
        raise TwinError(f"the twin has pyspark {spark}, the runtime Spark {runtime.spark}")
    return after


def run_tests(python: Path, extra: list[str]) -> int:
    """The twin's tests against the installed wheel, from a copy of tests/."""
    with tempfile.TemporaryDirectory(prefix="twin-tests-") as tmp:
        shutil.copytree(ROOT / "tests", Path(tmp) / "tests",
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ,
               "LAKEHOUSE_RUNTIME_TWIN": "1",
               "LAKEHOUSE_BUNDLE_ROOT": str(ROOT),
               # The Delta jars `make` fetched (conf/jars.ivy.xml), as the runtime has its own.
               "LAKEHOUSE__PATHS__JARS": str(ROOT / ".venv" / "jars")}
        paths = sorted(str(path.relative_to(tmp)) for pattern in TESTS
                       for path in Path(tmp).glob(pattern))
        cmd = [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-ra",
               "-o", "markers=slow", "-W", "ignore::DeprecationWarning", *paths, *extra]
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    args = parser.parse_args(argv)
    try:
        runtime = load()
        python = environment(runtime)
        versions = install_wheel(python, runtime)
    except (OSError, TwinError, ValueError) as err:
        print(f"runtime-twin: error: {err}", file=sys.stderr)
        return 1
    local = ".".join(map(str, sys.version_info[:3]))
    print(f"runtime-twin: Databricks Runtime {runtime.name} twin: pyspark {versions['pyspark']}, "
          f"mlflow-skinny {versions['mlflow-skinny']}, pandas {versions['pandas']}, numpy "
          f"{versions['numpy']}, pyarrow {versions['pyarrow']}, scikit-learn "
          f"{versions['scikit-learn']}, delta-spark {versions['delta-spark']}; Python {local} "
          f"(the runtime: {runtime.python}); the wheel replaced nothing", flush=True)
    return run_tests(python, args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
