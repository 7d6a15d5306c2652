"""Expectation suites as configuration: `conf/expectations/<suite>.yml`, checked at load.

A suite file lists named checks, each a Great Expectations expectation with its
arguments and a severity:

    suite: silver
    expectations:
      - name: customer_id_present
        expectation: expect_column_values_to_not_be_null
        kwargs: {column: customer_id}
        severity: quarantine          # warn | quarantine | fail
        description: optional text shown in Data Docs

A suite may name the table contract its data follows (`contract: gold.customer_features`,
one of lakehouse/contracts.py): the suite then starts with the contract's checks, all of
severity fail: `columns_exact` (the columns in order), `key_unique` (no two rows share
the key) and `<column>_present` for each required column.

Everything that can be checked without data is checked when the file is loaded, and
every problem of the file is reported at once in a `SuiteError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

import yaml

from lakehouse.config import yaml_problem
from lakehouse.contracts import CONTRACTS, Contract
from lakehouse.errors import LakehouseError
from lakehouse.quality import _gx
from lakehouse.quality.rows import ROW_LEVEL_TYPES
from lakehouse.settings import Settings

Severity = Literal["warn", "quarantine", "fail"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

ENTRY_KEYS = ("name", "expectation", "kwargs", "severity", "description")
SUITE_KEYS = ("suite", "contract", "expectations")
# Fields of GX expectations that are not arguments of the check: we set them ourselves.
RESERVED_FIELDS = frozenset({
    "id", "meta", "notes", "result_format", "description", "catch_exceptions",
    "rendered_content", "severity", "windows", "batch_id",
})
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# GX's own severities, shown in Data Docs.
GX_SEVERITY = {"fail": "critical", "quarantine": "warning", "warn": "info"}


class SuiteError(LakehouseError, ValueError):
    """A suite file is missing or invalid; the message names the file and each bad entry."""


@dataclass(frozen=True)
class Check:
    """One named expectation of a suite and what a failure of it does."""

    name: str
    expectation: str
    kwargs: Mapping[str, Any]
    severity: Severity
    description: str | None = None

    @property
    def row_level(self) -> bool:
        """True when each row passes or fails on its own (quarantine is possible)."""
        return self.expectation in ROW_LEVEL_TYPES

    def to_gx(self) -> Any:
        """The Great Expectations expectation object, tagged with this check's name."""
        cls = _gx.expectation_class(self.expectation)
        extra = {"description": self.description} if self.description else {}
        return cls(
            **self.kwargs, **extra, severity=GX_SEVERITY[self.severity],
            meta={"name": self.name, "severity": self.severity},
        )

    def describe(self) -> str:
        """`name (expectation {kwargs})`, for messages."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.name} ({self.expectation} {args})"


@dataclass(frozen=True)
class Suite:
    """A validated suite: its name, its checks in file order, and where it came from."""

    name: str
    checks: tuple[Check, ...]
    source: str

    def by_severity(self, severity: Severity) -> tuple[Check, ...]:
        """The checks with this severity, in file order."""
        return tuple(c for c in self.checks if c.severity == severity)

    def check(self, name: str) -> Check:
        """The check called `name` (KeyError if there is none)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"suite {self.name!r} has no check named {name!r}")


def suite_path(settings: Settings, name: str) -> Path:
    """Where suite `name` lives: `<paths.expectations>/<name>.yml`."""
    return settings.paths.expectations / f"{name}.yml"


def load_suite(settings: Settings, name: str) -> Suite:
    """Read and validate suite `name` from the configured expectations folder."""
    path = suite_path(settings, name)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yml"))
        raise SuiteError(f"no expectation suite {name!r}: {path} does not exist "
                         f"(suites there: {', '.join(known) or 'none'})")
    return read_suite(path)


def read_suite(path: Path) -> Suite:
    """Read and validate one suite file; its `suite:` name must match the file name."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SuiteError(f"{path}: cannot read the suite file: {err}") from None
    except yaml.YAMLError as err:
        raise SuiteError(yaml_problem(path, err)) from None
    suite = parse_suite(data, source=str(path))
    if suite.name != Path(path).stem:
        raise SuiteError(f"{path}: 'suite: {suite.name}' does not match the file name "
                         f"(expected 'suite: {Path(path).stem}')")
    return suite


def parse_suite(data: Any, *, source: str) -> Suite:
    """Validate a parsed suite document; `source` names it in error messages."""
    if not isinstance(data, Mapping):
        raise SuiteError(f"{source}: a suite file is a mapping with keys {', '.join(SUITE_KEYS)}")
    problems = [f"unknown key {k!r} (allowed: {', '.join(SUITE_KEYS)})"
                for k in data if k not in SUITE_KEYS]
    name, entries = data.get("suite"), data.get("expectations")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"'suite' must be a lower_snake_case name, got {name!r}")
    if not isinstance(entries, list) or not entries:
        problems.append("'expectations' must be a non-empty list")
        entries = []
    contract = data.get("contract")
    if contract is not None and contract not in CONTRACTS:
        problems.append(f"unknown contract {contract!r} (one of: {', '.join(CONTRACTS)})")
        contract = None
    checks, seen = [], set()
    labelled = [*[(f"contract {contract}", e) for e in
                  (contract_entries(CONTRACTS[contract]) if contract else ())],
                *[(f"expectations[{i}]", e) for i, e in enumerate(entries)]]
    for label, entry in labelled:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label += f" {entry['name']!r}"
        errors = _entry_problems(entry, seen)
        problems += [f"{label}: {e}" for e in errors]
        if not errors:
            checks.append(_check(entry))
    if problems:
        raise SuiteError(f"{source}: invalid expectation suite:\n"
                         + "\n".join(f"  - {p}" for p in problems))
    return Suite(name=name, checks=tuple(checks), source=source)


def contract_entries(contract: Contract) -> list[dict[str, Any]]:
    """The suite entries a contract implies (see the module docstring)."""
    def fail(name: str, expectation: str, **kwargs: Any) -> dict[str, Any]:
        return {"name": name, "expectation": expectation, "kwargs": kwargs,
                "severity": "fail", "description": f"contract of {contract.table}"}

    return [
        fail("columns_exact", "expect_table_columns_to_match_ordered_list",
             column_list=list(contract.names)),
        fail("key_unique", "expect_compound_columns_to_be_unique",
             column_list=list(contract.key), ignore_row_if="any_value_is_missing"),
        *[fail(f"{c}_present", "expect_column_values_to_not_be_null", column=c)
          for c in contract.required],
    ]


def _check(entry: Mapping[str, Any]) -> Check:
    return Check(
        name=entry["name"], expectation=entry["expectation"],
        kwargs=MappingProxyType(dict(entry.get("kwargs") or {})),
        severity=entry["severity"], description=entry.get("description"),
    )


def _entry_problems(entry: Any, seen: set[str]) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"an entry is a mapping with keys {', '.join(ENTRY_KEYS)}, got {entry!r}"]
    problems = [f"unknown key {k!r} (allowed: {', '.join(ENTRY_KEYS)})"
                for k in entry if k not in ENTRY_KEYS]
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"'name' must be a lower_snake_case name, got {name!r}")
    elif name in seen:
        problems.append(f"duplicate name {name!r} (names are unique within a suite)")
    else:
        seen.add(name)
    severity = entry.get("severity")
    if severity not in SEVERITIES:
        problems.append(f"bad severity {severity!r} (one of: {', '.join(SEVERITIES)})")
    kwargs = entry.get("kwargs", {})
    if kwargs is not None and not isinstance(kwargs, Mapping):
        return [*problems, f"'kwargs' must be a mapping, got {kwargs!r}"]
    if entry.get("description") is not None and not isinstance(entry["description"], str):
        problems.append("'description' must be a string")
    problems += _expectation_problems(entry.get("expectation"), dict(kwargs or {}), severity)
    return problems


def _expectation_problems(kind: Any, kwargs: dict[str, Any], severity: Any) -> list[str]:
    if not isinstance(kind, str):
        return [f"'expectation' must be a Great Expectations expectation name, got {kind!r}"]
    cls = _gx.expectation_class(kind)
    if cls is None:
        close = difflib.get_close_matches(kind, _gx.known_expectation_types(), n=3)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        return [f"unknown expectation {kind!r}: not in Great Expectations' registry{hint}"]
    allowed = sorted(set(cls.__fields__) - RESERVED_FIELDS)
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        return [f"unknown argument {k!r} for {kind} (allowed: {', '.join(allowed)})"
                for k in unknown]
    problems = _constructor_problems(cls, kind, kwargs)
    if severity == "quarantine":
        problems += _quarantine_problems(kind, kwargs)
    return problems


def _constructor_problems(cls: type, kind: str, kwargs: dict[str, Any]) -> list[str]:
    try:
        cls(**kwargs)
    except _gx.ArgumentError as err:
        problems, fields = [], set()
        for error in err.errors():
            field = ".".join(str(p) for p in error["loc"])
            if field in fields:  # a union type reports one error per alternative
                continue
            fields.add(field)
            if error["type"] == "value_error.missing":
                problems.append(f"missing required argument {field!r} for {kind}")
            elif field == "__root__":
                problems.append(f"invalid arguments for {kind}: {error['msg']}")
            else:
                problems.append(f"invalid argument {field!r} for {kind}: {error['msg']} "
                                f"(got {kwargs.get(field)!r})")
        return problems
    return []


def _quarantine_problems(kind: str, kwargs: dict[str, Any]) -> list[str]:
    if kind not in ROW_LEVEL_TYPES:
        return [f"severity 'quarantine' needs a row-level expectation, and {kind} is not one "
                f"(row-level: {', '.join(sorted(ROW_LEVEL_TYPES))}); use warn or fail"]
    problems = []
    if "mostly" in kwargs:
        problems.append("'mostly' has no meaning with severity 'quarantine' (every failing row "
                        "is quarantined); add a second check with severity fail and mostly")
    problems += [f"{k!r} is not supported with severity 'quarantine'"
                 for k in ("row_condition", "condition_parser") if k in kwargs]
    return problems
