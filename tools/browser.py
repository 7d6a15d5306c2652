"""Headless Chromium for the browser tests and the README's screenshot of the report.

Debian's `chromium` and `chromedriver` (`make browser` installs them), driven by Selenium
with the system driver: no tool downloads a browser. Outside hosts do not resolve and
every request is recorded, so a page that needs the internet is caught, not slow.

    python -m tools.browser screenshot reports/report/index.html docs/report.png

(`make report-screenshot`) writes the first screen of a page as a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOCAL_SCHEMES = {"file", "data", "blob", "about", "chrome", "chrome-error", "devtools"}
# Chromium's own background traffic off (it keeps trying blocked hosts otherwise).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--allow-file-access-from-files",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost")


class BrowserMissingError(RuntimeError):
    """Chromium or chromedriver is not installed."""


@contextmanager
def chromium(*, width: int = 1400, height: int = 1000,
             page_load_timeout: float = 60) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile that records every request; quit at the
    end (Selenium stops the driver process it started)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        raise BrowserMissingError(f"{', '.join(missing)} missing: `make browser` installs "
                                  "Debian's chromium and chromium-driver")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(page_load_timeout)
        try:
            yield driver
        finally:
            driver.quit()


def requests(driver: webdriver.Chrome) -> list[str]:
    """Addresses the browser requested since the last call (reading clears the log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def outside(urls: list[str]) -> list[str]:
    """The addresses that leave the machine."""
    return [u for u in urls if urlparse(u).scheme not in LOCAL_SCHEMES
            and urlparse(u).hostname not in LOCAL_HOSTS]


def screenshot(page: Path, out: Path) -> list[str]:
    """The first screen of `page` as a PNG at `out`; returns the outside addresses the
    page requested (it should be none)."""
    with chromium(width=1280, height=900) as driver:
        driver.get(page.resolve().as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
        return outside(requests(driver))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tools.browser screenshot PAGE PNG`."""
    parser = argparse.ArgumentParser(prog="tools.browser", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    shot = sub.add_parser("screenshot", help="first screen of a local page as a PNG")
    shot.add_argument("page", type=Path)
    shot.add_argument("png", type=Path)
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"tools.browser: error: {args.page} does not exist (run `make report` first)",
              file=sys.stderr)
        return 1
    try:
        external = screenshot(args.page, args.png)
    except BrowserMissingError as err:
        print(f"tools.browser: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.png}" + (f" (the page requested {len(external)} outside address(es): "
                           f"{external[0]})" if external else ""))
    return 1 if external else 0


if __name__ == "__main__":
    raise SystemExit(main())
