"""Offline validation of the Databricks asset bundle (`make bundle-validate`).

The Databricks CLI cannot run here, so this checks what it would: every job is parsed,
per target and with variables substituted, by the generated dataclasses of the
`databricks-bundles` package (unknown fields, bad enum values and missing required
fields fail); then what those cannot see: declared and valued variables, task
dependencies (existing, acyclic), job cluster keys, referenced files and wheel entry
points, run_as and permissions of production; and that the compute fits the runtime of
databricks-runtime.txt (cluster spark_version, serverless environment version, the pinned
pyspark's major.minor, a wheel that requires nothing the runtime provides). Every problem
names the file and the field.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from databricks.bundles.jobs import Job

from tools.runtime import CONSTRAINTS, RuntimeFileError, locked_version, requirement_problems
from tools.runtime import load as load_runtime

TOP_LEVEL = {"bundle", "include", "artifacts", "variables", "targets", "resources",
             "workspace", "permissions", "run_as", "sync", "presets", "experimental"}
TARGET_KEYS = {"mode", "default", "variables", "permissions", "workspace", "resources",
               "run_as", "presets", "artifacts", "sync", "bundle", "git"}
VARIABLE_KEYS = {"description", "default", "lookup", "type"}
MODES = {"development", "production"}
REFERENCE = re.compile(r"\$\{([a-zA-Z_][\w-]*)\.([\w.-]+)\}")
KNOWN_NAMESPACES = {"var", "bundle", "workspace", "resources", "artifacts"}


@dataclass(frozen=True)
class Problem:
    """One mistake in the bundle: where (file, field) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


def validate(root: Path) -> list[Problem]:
    """All problems of the bundle whose databricks.yml is in `root`."""
    main = root / "databricks.yml"
    if not main.is_file():
        return [Problem(str(main), "-", "missing")]
    docs = {"databricks.yml": _load(main)}
    problems = _check_top(docs["databricks.yml"])
    for pattern in docs["databricks.yml"].get("include") or []:
        matches = sorted(glob.glob(str(root / pattern)))
        if not matches:
            problems.append(Problem("databricks.yml", "include", f"{pattern!r} matches no file"))
        for path in matches:
            rel = Path(path).relative_to(root).as_posix()
            docs[rel] = _load(Path(path))
            extra = set(docs[rel]) - {"resources", "variables", "targets"}
            problems += [Problem(rel, key, "unknown top-level key in an included file")
                         for key in sorted(extra)]
    variables = docs["databricks.yml"].get("variables") or {}
    targets = docs["databricks.yml"].get("targets") or {}
    problems += _check_targets(targets, variables)
    for target, spec in targets.items():
        values = {name: _value(v) for name, v in variables.items()}
        values.update((spec or {}).get("variables") or {})
        for file, doc in docs.items():
            problems += _check_references(file, doc, variables, values, target)
            for name, job in ((doc.get("resources") or {}).get("jobs") or {}).items():
                problems += _check_job(root, file, name, _substitute(job, values), target)
    problems += _check_runtime(root, docs)
    return _unique(problems)


def _check_runtime(root: Path, docs: Mapping[str, Any]) -> list[Problem]:
    """The bundle's compute, the pinned pyspark and the wheel's requirements all fit the
    runtime databricks-runtime.txt describes."""
    try:
        runtime = load_runtime(root / CONSTRAINTS.name)
    except (OSError, RuntimeFileError) as err:
        return [Problem(CONSTRAINTS.name, "-", str(err))]
    problems = []
    for file, doc in docs.items():
        for name, job in ((doc.get("resources") or {}).get("jobs") or {}).items():
            where = f"resources.jobs.{name}"
            for i, cluster in enumerate(job.get("job_clusters") or []):
                version = (cluster.get("new_cluster") or {}).get("spark_version")
                if version != runtime.spark_version:
                    problems.append(Problem(file, f"{where}.job_clusters[{i}].new_cluster."
                                            "spark_version", f"{version!r} is not the runtime "
                                            f"of {CONSTRAINTS.name} ({runtime.spark_version}: "
                                            f"Databricks Runtime {runtime.name})"))
            for i, env in enumerate(job.get("environments") or []):
                version = str((env.get("spec") or {}).get("environment_version"))
                if version != runtime.serverless_environment:
                    problems.append(Problem(file, f"{where}.environments[{i}].spec."
                                            "environment_version", f"{version!r} is not the "
                                            f"serverless environment of {CONSTRAINTS.name} "
                                            f"({runtime.serverless_environment})"))
    pinned = locked_version(root / "requirements.lock", "pyspark")
    if pinned is None or pinned.split(".")[:2] != runtime.spark.split(".")[:2]:
        problems.append(Problem("requirements.lock", "pyspark", f"pins pyspark {pinned}, but "
                                f"the runtime has Spark {runtime.spark}: the same major.minor "
                                "is needed (code tested locally must run on the cluster)"))
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    problems += [Problem("pyproject.toml", "project.dependencies", message)
                 for message in requirement_problems(project.get("dependencies") or [], runtime)]
    return problems


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise SystemExit(f"{path}: not valid YAML: {err}") from None
    return data if isinstance(data, dict) else {}


def _check_top(doc: Mapping[str, Any]) -> list[Problem]:
    f = "databricks.yml"
    problems = [Problem(f, key, "unknown top-level key") for key in sorted(set(doc) - TOP_LEVEL)]
    if not (doc.get("bundle") or {}).get("name"):
        problems.append(Problem(f, "bundle.name", "required"))
    for name, spec in (doc.get("variables") or {}).items():
        unknown = set(spec or {}) - VARIABLE_KEYS
        problems += [Problem(f, f"variables.{name}.{k}", "unknown key") for k in sorted(unknown)]
    return problems


def _check_targets(targets: Mapping[str, Any], variables: Mapping[str, Any]) -> list[Problem]:
    f, problems = "databricks.yml", []
    if not targets:
        return [Problem(f, "targets", "no targets")]
    defaults = [t for t, spec in targets.items() if (spec or {}).get("default")]
    if len(defaults) != 1:
        problems.append(Problem(f, "targets", f"exactly one default target needed, got "
                                f"{defaults or 'none'}"))
    for target, spec in targets.items():
        spec = spec or {}
        problems += [Problem(f, f"targets.{target}.{k}", "unknown key")
                     for k in sorted(set(spec) - TARGET_KEYS)]
        if spec.get("mode") not in MODES:
            problems.append(Problem(f, f"targets.{target}.mode",
                                    f"must be one of {sorted(MODES)}, got {spec.get('mode')!r}"))
        if spec.get("mode") == "production" and not spec.get("permissions"):
            problems.append(Problem(f, f"targets.{target}.permissions",
                                    "a production target needs permissions"))
        if spec.get("mode") == "production" and not spec.get("run_as"):
            problems.append(Problem(f, f"targets.{target}.run_as", "a production target needs "
                                    "run_as (a service principal), not the deploying user"))
        for name in (spec.get("variables") or {}):
            if name not in variables:
                problems.append(Problem(f, f"targets.{target}.variables.{name}",
                                        "sets a variable that is not declared"))
    return problems


def _value(variable: Mapping[str, Any] | None) -> Any:
    """A variable's value before targets: its default, or a marker for a `lookup` (the CLI
    resolves it at deploy time, e.g. a service principal's application ID)."""
    variable = variable or {}
    if variable.get("default") is None and variable.get("lookup"):
        return f"<lookup {variable['lookup']}>"
    return variable.get("default")


def _check_references(file: str, doc: Any, declared: Mapping[str, Any],
                      values: Mapping[str, Any], target: str) -> list[Problem]:
    problems = []
    for path, text in _strings(doc, ""):
        if path.startswith("targets.") and not path.startswith(f"targets.{target}."):
            continue  # another target's own settings: checked with that target's values
        for namespace, name in REFERENCE.findall(text):
            if namespace not in KNOWN_NAMESPACES:
                problems.append(Problem(file, path, f"unknown reference ${{{namespace}.{name}}}"))
            elif namespace == "var" and name not in declared:
                problems.append(Problem(file, path, f"${{var.{name}}} is not declared in "
                                        "databricks.yml variables"))
            elif namespace == "var" and values.get(name) is None:
                problems.append(Problem(file, path, f"${{var.{name}}} has no value in target "
                                        f"{target!r} (no default, not set by the target)"))
    return problems


def _check_job(root: Path, file: str, name: str, job: Any, target: str) -> list[Problem]:
    where = f"resources.jobs.{name}"
    try:
        Job.from_dict(job)
    except (ValueError, TypeError, KeyError) as err:
        return [Problem(file, where, f"[target {target}] {err}")]
    problems: list[Problem] = []
    tasks = job.get("tasks") or []
    keys = [t.get("task_key") for t in tasks]
    clusters = {c.get("job_cluster_key") for c in job.get("job_clusters") or []}
    for dup in sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(Problem(file, f"{where}.tasks", f"task_key {dup!r} is used twice"))
    for i, task in enumerate(tasks):
        at = f"{where}.tasks[{i}]"
        for j, dep in enumerate(task.get("depends_on") or []):
            if dep.get("task_key") not in keys:
                problems.append(Problem(file, f"{at}.depends_on[{j}].task_key",
                                        f"{dep.get('task_key')!r} is not a task of this job "
                                        f"(tasks: {', '.join(map(str, keys))})"))
        cluster = task.get("job_cluster_key")
        if cluster is not None and cluster not in clusters:
            problems.append(Problem(file, f"{at}.job_cluster_key",
                                    f"{cluster!r} is not defined in job_clusters"))
        problems += _check_files(root, file, at, task)
    cycle = _cycle({t.get("task_key"): [d.get("task_key") for d in t.get("depends_on") or []]
                    for t in tasks})
    if cycle:
        problems.append(Problem(file, f"{where}.tasks", "depends_on has a cycle: "
                                + " -> ".join(cycle)))
    return problems


def _check_files(root: Path, file: str, at: str, task: Mapping[str, Any]) -> list[Problem]:
    base = (root / file).parent
    problems = []
    referenced = [("spark_python_task.python_file",
                   (task.get("spark_python_task") or {}).get("python_file")),
                  ("notebook_task.notebook_path",
                   (task.get("notebook_task") or {}).get("notebook_path"))]
    for field, value in referenced:
        if value and not value.startswith(("/", "dbfs:", "${")) and not (base / value).exists():
            problems.append(Problem(file, f"{at}.{field}", f"file {value!r} does not exist"))
    wheel = task.get("python_wheel_task")
    if wheel:
        project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
        package = re.sub(r"[-.]+", "_", project["name"]).lower()
        if wheel.get("package_name") != package:
            problems.append(Problem(file, f"{at}.python_wheel_task.package_name",
                                    f"{wheel.get('package_name')!r} is not this project's "
                                    f"package {package!r}"))
        scripts = project.get("scripts") or {}
        if wheel.get("entry_point") not in scripts:
            problems.append(Problem(file, f"{at}.python_wheel_task.entry_point",
                                    f"{wheel.get('entry_point')!r} is not a [project.scripts] "
                                    f"entry of pyproject.toml ({', '.join(scripts)})"))
        else:
            problems += _check_entry_point(root, file, at, scripts[wheel["entry_point"]])
    return problems


def _check_entry_point(root: Path, file: str, at: str, target: str) -> list[Problem]:
    module, _, func = target.partition(":")
    path = root / (module.replace(".", "/") + ".py")
    if not path.is_file():
        return [Problem(file, f"{at}.python_wheel_task.entry_point",
                        f"script target {target!r}: {path.relative_to(root)} does not exist")]
    defined = rf"^(def {re.escape(func)}\(|{re.escape(func)} = )"
    if not re.search(defined, path.read_text(), re.MULTILINE):
        return [Problem(file, f"{at}.python_wheel_task.entry_point",
                        f"script target {target!r}: no function {func!r} in {module}")]
    return []


def _cycle(graph: Mapping[str, list[str]]) -> list[str]:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str]:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*trail, node, nxt]
            if nxt in graph and not state.get(nxt):
                found = visit(nxt, [*trail, node])
                if found:
                    return found
        state[node] = 2
        return []

    for node in graph:
        if not state.get(node):
            found = visit(node, [])
            if found:
                return found
    return []


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path or "-", node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}[{i}]")


def _substitute(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = REFERENCE.fullmatch(node)
        if whole and whole.group(1) == "var" and values.get(whole.group(2)) is not None:
            return values[whole.group(2)]  # keeps the variable's type (e.g. an int)
        return REFERENCE.sub(lambda m: str(values.get(m.group(2), m.group(0)))
                             if m.group(1) == "var" else m.group(0), node)
    if isinstance(node, Mapping):
        return {k: _substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, values) for v in node]
    return node


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def main(argv: list[str] | None = None) -> int:
    """Print every problem and exit 1, or print a one-line OK."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    problems = validate(args.root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"bundle-validate: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("bundle-validate: databricks.yml and resources/*.yml are valid for every target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
