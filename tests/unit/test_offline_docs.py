"""Data Docs pages are pointed at local copies of their CDN assets (lakehouse/quality/
offline.py): every known address, at any folder depth, and what is left is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.quality import offline

PAGE = """<html><head>
<link rel="stylesheet" href="{css}">
<script src="{js}"></script>
<style>.navbar-brand a {{ background: url('{logo}') 0 0 no-repeat; }}</style>
</head><body><img src="{logo}?d=20261204&dataContextId=abc">
<a href="https://greatexpectations.io/newsletter">Subscribe</a></body></html>"""
CSS = "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"
JS = "https://cdn.jsdelivr.net/npm/vega@5"
LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png"


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    """A node_modules folder with a small file for every asset."""
    root = tmp_path / "node_modules"
    for source in offline.ASSETS.values():
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_text(f"/* {source} */")
    for folder in offline.FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "fa-solid-900.woff2").write_bytes(b"font")
    return root


def _site(tmp_path: Path, js: str = JS) -> Path:
    site = tmp_path / "site"
    deep = site / "validations" / "silver" / "run-1" / "20261204T000000Z"
    deep.mkdir(parents=True)
    for page in (site / "index.html", deep / "page.html"):
        page.write_text(PAGE.format(css=CSS, js=js, logo=LOGO), encoding="utf-8")
    return site


def test_pages_at_any_depth_load_local_copies_only(tmp_path, packages):
    site = _site(tmp_path)
    assert offline.localize(site, packages) == []
    index = (site / "index.html").read_text(encoding="utf-8")
    deep = next(site.rglob("page.html")).read_text(encoding="utf-8")
    assert 'href="static/vendor/bootstrap/dist/css/bootstrap.min.css"' in index
    assert 'src="../../../../static/vendor/vega/build/vega.min.js"' in deep
    assert "url('static/images/logo-long.png')" in index and "dataContextId" not in index
    assert "https://greatexpectations.io/newsletter" in index  # a link, not a request
    assert (site / "static/vendor/vega/build/vega.min.js").read_text() == \
        "/* vega/build/vega.min.js */"
    assert (site / "static/vendor/@fortawesome/fontawesome-free/webfonts/"
            "fa-solid-900.woff2").exists()


def test_an_unknown_outside_script_is_reported(tmp_path, packages):
    site = _site(tmp_path, js="https://cdn.example.com/new-lib@1/lib.js")
    assert offline.localize(site, packages) == ["https://cdn.example.com/new-lib@1/lib.js"]


def test_without_the_packages_pages_keep_their_addresses(tmp_path):
    site = _site(tmp_path)
    before = (site / "index.html").read_text(encoding="utf-8")
    assert JS in offline.localize(site, tmp_path / "missing")
    assert (site / "index.html").read_text(encoding="utf-8") == before
