"""The report's template over hand-made content: every section renders, values are
escaped, missing sections say what to run, and a failed build keeps the previous site."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audit.drift import FeatureDrift
from report import content as c
from report import render

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class _Collector(HTMLParser):
    """Section ids, image sources and external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a["src"] or "")
        if tag in ("link", "script", "a") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src") or "")


def _report(**overrides) -> c.Report:
    fields = dict(
        generated_at=NOW, env="test", lake="/tmp/lake",
        flow=[c.StageFlow("bronze", 1000, 1000, "2 ingested files"),
              c.StageFlow("silver", 1000, 950, "40 quarantined, 10 duplicates, 2 batches")],
        reconciliation={"bronze_rows": 1000, "inserted": 950, "matched_existing": 0,
                        "quarantined": 40, "duplicates": 10, "batches": 2},
        quarantine=[{"reason": "missing_customer", "rows": 40}],
        quality=[c.QualityRun("silver", "silver", "silver.transactions", 3, 12, 1, 0, 0, NOW,
                              "../data_docs/validations/silver/x.html")],
        data_docs="../data_docs/index.html",
        tables=[c.TableState("silver.transactions", 3, [
            {"version": 3, "timestamp": NOW, "operation": "MERGE", "run_id": "silver-1",
             "rows": 950}]), c.TableState("gold.churn_scores", None)],
        churn=c.ChurnSection("abc", "churn-2024", NOW,
                             [{"metric": "ROC AUC", "model": 0.75, "recency rule": 0.7,
                               "majority": 0.5}], "model beats the recency rule", {},
                             {"promotion": "champion", "model_version": "2",
                              "table.gold.customer_features.version": "4"},
                             [c.Image("Roc curve", "img/churn/plots/roc_curve.png")],
                             [{"model": "gbt", "candidate": True, "validation": 0.8123,
                               "roc_auc": 0.7711, "pr_auc": 0.6, "log_loss": 0.5,
                               "brier": 0.2, "lift_top_decile": 2.1},
                              {"model": "recency rule", "candidate": False, "validation": None,
                               "roc_auc": 0.7012, "pr_auc": 0.5, "log_loss": None,
                               "brier": None, "lift_top_decile": 1.5}]),
        segments=c.SegmentSection("def", "2024-12-31", "4", 0.41,
                                  [{"segment_name": "Champions", "customers": 120,
                                    "share": 0.2}], []),
        at_risk=c.AtRisk(date(2024, 12, 31), "customer-churn v2", 600, 90, 12345.5,
                         [{"segment": "Champions", "customers": 120,
                           "mean_churn_probability": 0.1, "revenue_at_risk": 2000.0}],
                         [{"customer_id": "<b>12345</b>", "segment_name": "Champions",
                           "country": "France", "churn_probability": 0.8, "risk_decile": 1,
                           "recency_days": 40, "frequency": 9, "total_spend": 5000.0,
                           "spend_180d": 1200.0, "revenue_at_risk": 480.0}]),
        drift=c.Drift(date(2024, 11, 30), date(2024, 12, 31), 0.25,
                      [FeatureDrift("recency_days", 50.0, 60.0, 10.0, 11.0, 0, 0, 0.4),
                       FeatureDrift("frequency", 5.0, 5.1, 1.0, 1.0, 0, 0, 0.01)]),
        notes=[])
    return c.Report(**(fields | overrides))


def _build(tmp_path: Path, report: c.Report) -> tuple[str, _Collector]:
    index = render.build(tmp_path / "report", lambda staging: report)
    html = index.read_text(encoding="utf-8")
    page = _Collector()
    page.feed(html)
    return html, page


def test_every_section_renders_with_its_numbers(tmp_path: Path) -> None:
    html, page = _build(tmp_path, _report())
    assert page.ids == ["summary", "flow", "quality", "tables", "churn", "segments",
                        "at-risk", "drift"]
    assert "12,345.50" in html  # revenue at risk, summary card
    assert "Drifted: recency_days." in html
    assert "(holds)" in html
    assert page.images == ["img/churn/plots/roc_curve.png"]
    assert (tmp_path / "report" / "report.css").is_file()
    assert "<strong>gbt</strong>" in html and "0.7711" in html and "0.7012" in html
    assert "lift@10%" in html


def test_values_are_escaped(tmp_path: Path) -> None:
    html, _ = _build(tmp_path, _report())
    assert "<b>12345</b>" not in html and "&lt;b&gt;12345&lt;/b&gt;" in html


def test_nothing_is_loaded_from_outside_the_site(tmp_path: Path) -> None:
    _, page = _build(tmp_path, _report())
    external = [u for u in page.links + page.images if "://" in u or u.startswith("//")]
    assert external == []


def test_missing_sections_say_what_to_run(tmp_path: Path) -> None:
    html, _ = _build(tmp_path, _report(churn=None, segments=None, at_risk=None, drift=None,
                                       reconciliation={}, flow=[], quarantine=[],
                                       quality=[], data_docs=None))
    assert "make train" in html and "make score" in html and "No stage has run yet" in html
    assert "does not add up" not in html


def test_a_failed_build_keeps_the_previous_site(tmp_path: Path) -> None:
    site = tmp_path / "report"
    render.build(site, lambda staging: _report())
    before = (site / "index.html").read_text(encoding="utf-8")

    def broken(staging: Path) -> c.Report:
        (staging / "img").mkdir()
        raise RuntimeError("collect failed")

    with pytest.raises(RuntimeError):
        render.build(site, broken)
    assert (site / "index.html").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_customer_holdout_run_is_flagged_as_weaker_evidence(tmp_path: Path) -> None:
    plain = _report()
    holdout = dataclasses.replace(plain.churn, tags={**plain.churn.tags,
                                                     "split": "customer_holdout"},
                                  params={"test_as_of_date": "2011-09-30"})
    html, _ = _build(tmp_path, _report(churn=holdout))
    assert "held-out customers of the snapshot 2011-09-30" in html
    assert "held-out customers" not in _build(tmp_path / "plain", plain)[0]
