"""Load the configuration: base file, environment overlay, environment variables, flags.

Layers are merged key by key (later wins) while remembering which source set each
key, so a validation error names the key *and* the file or variable it came from.
"""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lakehouse.errors import LakehouseError
from lakehouse.settings import Settings

ENV_VAR = "LAKEHOUSE_ENV"
OVERRIDE_PREFIX = "LAKEHOUSE__"
DEFAULT_ENV = "local"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(LakehouseError, ValueError):
    """The configuration is invalid; the message names the key and where it was set."""


def load_settings(
    env: str | None = None,
    *,
    overrides: Sequence[str] = (),
    conf_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the validated settings for `env` (default: $LAKEHOUSE_ENV or 'local').

    `overrides` are `section.key=value` strings (values parsed as YAML scalars);
    `environ` defaults to os.environ and supplies LAKEHOUSE__SECTION__KEY overrides.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get(ENV_VAR) or DEFAULT_ENV
    conf_dir = conf_dir or PROJECT_ROOT / "conf"
    root = conf_dir.resolve().parent

    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    base = conf_dir / "base.yml"
    overlay = conf_dir / f"{env}.yml"
    if not overlay.is_file():
        known = sorted(p.stem for p in conf_dir.glob("*.yml") if p.stem != "base")
        raise ConfigError(f"unknown environment {env!r}: no {overlay} (known: {', '.join(known)})")
    for path in (base, overlay):
        _merge(merged, origin, _read_yaml(path), str(path), ())
    for key, value in sorted(environ.items()):
        if key.startswith(OVERRIDE_PREFIX):
            dotted = key[len(OVERRIDE_PREFIX):].lower().replace("__", ".")
            _merge(merged, origin, _nest(dotted, _scalar(value)), f"environment {key}", ())
    for item in overrides:
        dotted, sep, raw = item.partition("=")
        if not sep or not dotted.strip():
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        _merge(merged, origin, _nest(dotted.strip(), _scalar(raw)), f"--set {item}", ())

    _resolve_paths(merged, root)
    merged.update(env=env, project_root=root, sources=tuple(dict.fromkeys(origin.values())))
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_describe(err, origin)) from None


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `--env` and `--set` flags every entry point understands."""
    parser.add_argument("--env", help=f"configuration overlay conf/<env>.yml (default ${ENV_VAR} "
                        f"or {DEFAULT_ENV})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE", help="override one setting (repeatable)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings for parsed arguments from a parser built with add_config_arguments."""
    return load_settings(args.env, overrides=args.overrides)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} is missing") from None
    except OSError as err:
        raise ConfigError(f"cannot read the configuration file {path}: "
                          f"{err.strerror or err}") from None
    except (yaml.YAMLError, ValueError) as err:
        raise ConfigError(yaml_problem(path, err)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def yaml_problem(path: Path, err: Exception) -> str:
    """`<file>, line N, column M: not valid YAML: <what>; fix the file there`, from a YAML
    parser error (whose marks count from 0)."""
    mark = getattr(err, "problem_mark", None)
    if not isinstance(err, yaml.MarkedYAMLError) or mark is None:
        return f"{path}: not valid YAML: {err}; fix the file"
    what = err.problem or "syntax error"
    start = err.context_mark
    if err.context and start is not None and (start.line, start.column) != (mark.line,
                                                                             mark.column):
        what += f" ({err.context} at line {start.line + 1}, column {start.column + 1})"
    return (f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: "
            f"{what}; fix the file there")


def _merge(into: dict, origin: dict, new: Mapping, source: str, prefix: tuple[str, ...]) -> None:
    for key, value in new.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], origin, value, source, path)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value
            _record(origin, path, value, source)


def _record(origin: dict, path: tuple[str, ...], value: Any, source: str) -> None:
    origin[path] = source
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _record(origin, (*path, str(key)), inner, source)


# Sections whose keys are Spark's own dotted names, taken verbatim after the prefix:
# `--set spark.conf.spark.executor.memory=4g`.
_VERBATIM = ("spark", "conf")


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    parts = dotted.split(".")
    if tuple(parts[:2]) == _VERBATIM and len(parts) > 2:
        parts = [*_VERBATIM, ".".join(parts[2:])]
    node: Any = value
    for part in reversed(parts):
        node = {part: node}
    return node


def _scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError):  # e.g. an impossible date: let validation name it
        return raw


def _resolve_paths(merged: dict[str, Any], root: Path) -> None:
    paths = merged.get("paths")
    if not isinstance(paths, dict):
        return
    for key, value in paths.items():
        if isinstance(value, str) and value and not Path(value).is_absolute():
            paths[key] = str(root / value)


def _describe(err: ValidationError, origin: dict[tuple[str, ...], str]) -> str:
    lines = []
    for problem in err.errors():
        loc = tuple(str(p) for p in problem["loc"])
        key = ".".join(loc)
        source = _source_of(loc, origin)
        if problem["type"] == "extra_forbidden":
            what = "unknown key" + _known_keys(loc)
        elif problem["type"] == "missing":
            what = "required key is missing"
        elif isinstance(problem.get("input"), Mapping):  # a whole-section check
            what = problem["msg"].removeprefix("Value error, ")
        else:
            what = f"{problem['msg']} (got {problem.get('input')!r})"
        lines.append(f"  {key}: {what} [{source}]")
    return "invalid configuration:\n" + "\n".join(lines)


_DERIVED = ("env", "project_root", "sources")  # set by load_settings, not by files


def _known_keys(loc: tuple[str, ...]) -> str:
    """` (did you mean spark.master?)` or ` (keys of spark: ...)` for an unknown key at
    `loc` (empty inside a free-form mapping)."""
    model: Any = Settings
    for part in loc[:-1]:
        field = next((f for name, f in model.model_fields.items()
                      if part in (name, f.alias)), None)
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""  # inside a free-form mapping (spark.conf, ...): any key is fine
    known = [f.alias or name for name, f in model.model_fields.items()
             if name not in _DERIVED]
    section = ".".join(loc[:-1])
    close = difflib.get_close_matches(loc[-1], known, n=1)
    if close:
        return f" (did you mean {'.'.join((*loc[:-1], close[0]))}?)"
    return f" (keys of {section or 'the top level'}: {', '.join(known)})"


def _source_of(loc: tuple[str, ...], origin: dict[tuple[str, ...], str]) -> str:
    """Where the key at `loc` (or its closest parent) was set; `file, line N` for a file."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origin:
            source = origin[loc[:end]]
            line = _line_of(source, loc[:end])
            return f"{source}, line {line}" if line else source
    return "not set in any file"


def _line_of(source: str, loc: tuple[str, ...]) -> int | None:
    """The line of key `loc` in the YAML file `source` (None: not a file, or not found)."""
    if not source.endswith((".yml", ".yaml")):
        return None
    try:
        node = yaml.compose(Path(source).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, ValueError):
        return None
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            return line
        matches = [(k, v) for k, v in node.value if str(k.value) == part]
        if not matches:
            return line
        match = matches[-1]  # a repeated key: the last one counts
        line, node = match[0].start_mark.line + 1, match[1]
    return line
