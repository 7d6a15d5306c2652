"""Importing the stages does not import Great Expectations: its ~5 s import runs in the
background thread that prepares the quality context while the JVM starts."""

from __future__ import annotations

import subprocess
import sys

from lakehouse.config import PROJECT_ROOT


def test_stage_modules_import_without_great_expectations():
    code = ("import sys, lakehouse.pipeline, bronze.run, silver.run, gold.run\n"
            "print(sorted(m for m in sys.modules if m.startswith('great_expectations')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_the_quality_library_is_imported_on_first_use():
    from lakehouse.quality import _gx

    assert _gx.lib() is _gx.lib()
    assert _gx.expectation_class("expect_column_values_to_not_be_null") is not None
    assert "great_expectations" in sys.modules
