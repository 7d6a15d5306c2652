"""The quality warm-up exercises what the real suites use, and passes."""

from __future__ import annotations

from lakehouse.quality import load_suite, validate
from lakehouse.quality.warmup import WARM_UP_SUITE, warm_up_frame


def test_warm_up_covers_every_expectation_type_of_the_project_suites(settings):
    used = {c.expectation for path in settings.paths.expectations.glob("*.yml")
            for c in load_suite(settings, path.stem).checks}
    assert used, "no suites found"
    assert used <= {c.expectation for c in WARM_UP_SUITE.checks}


def test_warm_up_suite_passes_on_its_frame(spark, settings):
    report = validate(warm_up_frame(spark), WARM_UP_SUITE, settings=settings, stage="warm_up")
    failed = [(r.check.name, r.error) for r in report.results if not r.success or r.error]
    assert failed == []
