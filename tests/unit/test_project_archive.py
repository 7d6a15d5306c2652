"""The zip a cluster's executors import the project from."""

from __future__ import annotations

import tomllib
import zipfile

from lakehouse.config import PROJECT_ROOT
from lakehouse.spark import PACKAGES, project_archive


def test_packages_are_the_python_packages_of_pyproject():
    setup = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    includes = setup["packages"]["find"]["include"]
    python = {p.rstrip("*") for p in includes
              if any((PROJECT_ROOT / p.rstrip("*")).glob("__init__.py"))}
    assert set(PACKAGES) == python | set(setup["py-modules"])


def test_the_archive_holds_every_module_and_is_built_once_per_content():
    archive = project_archive()
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"pipeline.py", "lakehouse/__init__.py", "bronze/parse.py", "gold/run.py",
            "ml/churn.py"} <= names
    assert not any("__pycache__" in n for n in names)
    assert project_archive() == archive  # unchanged code: the same file
