"""Write the report site: Jinja2 templates (autoescaped) over the collected content, with
the plots and the stylesheet beside the index, so the folder works offline from file://.

The site is built in a sibling folder and swapped in at the end: a run that dies halfway
leaves the previous report whole."""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ml.evaluate import COMPARED
from report.content import Report, psi_level

STATIC = ("report.css",)


def environment() -> Environment:
    """The templates of `report/templates`, with the number filters they use."""
    env = Environment(loader=PackageLoader("report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters |= {"num": _num, "pct": _pct, "money": _money, "psi_level": psi_level}
    return env


def build(site: Path, fill: Callable[[Path], Report]) -> Path:
    """Build the site into a fresh folder beside `site` (`fill` puts the images into it and
    returns the content), then swap it in; returns the index page."""
    staging = site.with_name(f".{site.name}-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        report = fill(staging)
        page = environment().get_template("report.html.j2").render(report=report,
                                                                   compared=COMPARED)
        (staging / "index.html").write_text(page, encoding="utf-8")
        templates = Path(__file__).parent / "templates"
        for name in STATIC:
            shutil.copyfile(templates / name, staging / name)
        _swap(staging, site)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return site / "index.html"


def _swap(staging: Path, site: Path) -> None:
    old = site.with_name(f".{site.name}-old-{uuid.uuid4().hex[:8]}")
    if site.exists():
        site.rename(old)
    staging.rename(site)
    shutil.rmtree(old, ignore_errors=True)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: object, digits: int = 0) -> str:
    """1234567 -> '1,234,567'; floats with `digits` decimals; '' for missing."""
    if _missing(value):
        return ""
    if isinstance(value, int) and not digits:
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def _pct(value: object, digits: int = 1) -> str:
    return "" if _missing(value) else f"{float(value):.{digits}%}"


def _money(value: object) -> str:
    return "" if _missing(value) else f"{float(value):,.2f}"
