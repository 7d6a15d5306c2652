"""Make the Data Docs site work offline: GX's pages load Bootstrap, bootstrap-table,
jQuery, Popper, Font Awesome, Vega and their logos from public CDNs, so behind a firewall
they render as a bare list. After each build the assets are copied from the pinned npm
packages (web/package.json, installed by `make` into web/node_modules) into
`static/vendor/` of the site, and every page is pointed at the local copies.

Where the packages are not installed (a Databricks job), the pages keep the CDN addresses
and a warning says so: they still work wherever the CDNs are reachable.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGES = Path(__file__).resolve().parents[2] / "web" / "node_modules"
VENDOR = Path("static") / "vendor"
JSDELIVR = "https://cdn.jsdelivr.net/npm/"
CDNJS = "https://cdnjs.cloudflare.com/ajax/libs/"
UNPKG = "https://unpkg.com/"
# Address in GX 1.x's pages -> file of web/node_modules (the version web/package.json pins;
# jsDelivr's bare `vega@5` serves the package's minified build).
ASSETS = {
    f"{JSDELIVR}@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    f"{JSDELIVR}vega@5": "vega/build/vega.min.js",
    f"{JSDELIVR}vega-lite@5": "vega-lite/build/vega-lite.min.js",
    f"{JSDELIVR}vega-embed@6": "vega-embed/build/vega-embed.min.js",
    f"{CDNJS}bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    f"{CDNJS}bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    f"{CDNJS}font-awesome/6.6.0/css/all.min.css": "@fortawesome/fontawesome-free/css/all.min.css",
    f"{CDNJS}popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    f"{UNPKG}bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    f"{UNPKG}bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    f"{UNPKG}bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # Some pages name 1.19.0's stylesheet of the extension: 1.19.1's is the same file.
    f"{UNPKG}bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    f"{UNPKG}bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
}
FOLDERS = ("@fortawesome/fontawesome-free/webfonts",)  # all.min.css loads ../webfonts/*
# GX's logos (one with a tracking query string) -> the logo GX ships in the site itself.
LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/"
                  r"[^\"')\s]*")
SITE_LOGO = Path("static") / "images" / "logo-long.png"
# What still points outside after the rewrite (links a reader clicks are fine).
LOADED = re.compile(r"""(?:src=|<link[^>]*href=|url\()["']?(https?://[^"')\s>]+)""")


def localize(site: Path, packages: Path = PACKAGES) -> list[str]:
    """Copy the assets into `site` and rewrite its pages; returns the external addresses
    pages still load (empty when the site is fully offline)."""
    if not packages.is_dir():
        log.warning("Data Docs keep their CDN addresses: %s is missing (run `make` to "
                    "install web/package.json)", packages)
        return sorted({url for page in site.rglob("*.html") for url in _external(page)})
    vendor = site / VENDOR
    for source in sorted(set(ASSETS.values())):
        _copy(packages / source, vendor / source)
    for folder in FOLDERS:
        shutil.copytree(packages / folder, vendor / folder, dirs_exist_ok=True)
    remaining: set[str] = set()
    for page in site.rglob("*.html"):
        remaining |= _rewrite(page, site)
    return sorted(remaining)


def _copy(source: Path, target: Path) -> None:
    if not source.is_file():
        raise FileNotFoundError(f"{source} is missing: reinstall web/node_modules "
                                "(rm -rf web/node_modules && make venv)")
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _rewrite(page: Path, site: Path) -> set[str]:
    text = original = page.read_text(encoding="utf-8")

    def local(path: Path) -> str:
        return Path(os.path.relpath(site / path, page.parent)).as_posix()

    for url, source in ASSETS.items():
        text = text.replace(url, local(VENDOR / source))
    text = LOGO.sub(local(SITE_LOGO), text)
    if text != original:
        page.write_text(text, encoding="utf-8")
    return set(_external(page, text))


def _external(page: Path, text: str | None = None) -> list[str]:
    return LOADED.findall(text if text is not None else page.read_text(encoding="utf-8"))
