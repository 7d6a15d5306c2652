"""Every web page people look at, opened in a real browser (Debian's headless Chromium via
Selenium and the system chromedriver; `make test` installs them when missing): the MLflow
UI as `make mlflow-ui` serves it, the Data Docs site and the report, all from the
end-to-end lake. Each page must render its content and load nothing from outside the
machine; screenshots go to reports/screenshots/ for people to look at."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ml import tracking
from tests.conftest import free_port
from tools.browser import chromium, outside, requests

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "reports" / "screenshots"
WAIT = 60  # seconds for a page's content: a cold MLflow store on a busy 2-core machine


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium(page_load_timeout=WAIT) as driver:
        yield driver


def _open(driver: webdriver.Chrome, url: str) -> None:
    requests(driver)  # forget the previous page's requests
    driver.get(url)


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def _wait_for_text(driver: webdriver.Chrome, text: str) -> None:
    WebDriverWait(driver, WAIT).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text,
        f"{text!r} never appeared on {driver.current_url}")


@pytest.fixture(scope="module")
def mlflow_ui(lake) -> Iterator[str]:
    """The MLflow UI over the lake's store, started as `make mlflow-ui` starts it, on a
    free loopback port; stopped by process id (the server and its workers)."""
    _, args, _ = lake
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ml.ui", *args, "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, "the MLflow UI exited before answering"
                assert time.monotonic() < deadline, "the MLflow UI did not answer in 120 s"
                time.sleep(0.5)
        yield url
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Terminate the server and every process it started, by process id; kill what is
    still there after 20 s; check none is left."""
    family = [psutil.Process(server.pid)]
    with suppress(psutil.NoSuchProcess):
        family += family[0].children(recursive=True)
    for proc in family:
        with suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(family, timeout=20)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=10)
    server.wait(timeout=10)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family)


def test_mlflow_ui_shows_the_churn_run_its_metric_and_plot_and_the_champion(lake, browser,
                                                                            mlflow_ui):
    settings, _, _ = lake
    experiment_id = tracking.configure(settings)
    run = MlflowClient().search_runs([experiment_id], "tags.model = 'churn'",
                                     order_by=["attributes.start_time DESC"])[0]
    auc = run.data.metrics["test_roc_auc"]
    # The run has many metrics and the UI renders only the rows in view: a tall window.
    browser.set_window_size(1400, 6000)
    _open(browser, f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run.info.run_id}")
    _wait_for_text(browser, "test_roc_auc")
    shown = re.compile(r"(?<![\w.])test_roc_auc\s{1,20}(\d\.\d+)")  # its row's value
    WebDriverWait(browser, WAIT).until(
        lambda d: any(abs(float(n) - auc) < 1e-3
                      for n in shown.findall(d.find_element(By.TAG_NAME, "body").text)),
        f"the test ROC AUC {auc:.4f} never appeared on the run page")
    browser.set_window_size(1400, 1000)
    _screenshot(browser, "mlflow-run")
    _open(browser, f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run.info.run_id}"
                   "/artifacts/plots/roc_curve.png")
    _wait_for_text(browser, "plots/roc_curve.png")
    # The UI fetches the artifact and shows it from a blob: address.
    WebDriverWait(browser, WAIT).until(
        lambda d: any(d.execute_script("return arguments[0].naturalWidth", i) > 0
                      for i in d.find_elements(By.CSS_SELECTOR, "img[src^='blob:']")),
        "the ROC curve artifact never showed")
    _screenshot(browser, "mlflow-artifact")
    _open(browser, f"{mlflow_ui}/#/models/{settings.mlflow.churn_model_name}")
    _wait_for_text(browser, "champion")
    _screenshot(browser, "mlflow-model")
    assert outside(requests(browser)) == []


def test_data_docs_list_the_layer_suites_offline(lake, browser):
    settings, _, _ = lake
    docs = settings.paths.reports / "data_docs"
    _open(browser, (docs / "index.html").as_uri())
    _wait_for_text(browser, "silver")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert all(suite in body for suite in ("bronze", "silver", "gold"))
    # Bootstrap's stylesheet loaded from the local copy: the navbar is laid out as a flex row
    nav = browser.find_element(By.CSS_SELECTOR, "nav")
    assert nav.value_of_css_property("display") == "flex"
    _screenshot(browser, "data-docs-index")
    seen = outside(requests(browser))
    page = sorted((docs / "validations" / "silver").rglob("*.html"))[-1]
    _open(browser, page.as_uri())
    _wait_for_text(browser, "silver")
    _screenshot(browser, "data-docs-validation")
    assert seen + outside(requests(browser)) == []


def test_report_shows_every_section_with_images_and_customers_at_risk(lake, browser):
    settings, _, _ = lake
    index = settings.paths.reports / "report" / "index.html"
    _open(browser, index.as_uri())
    ids = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section")]
    assert ids == ["summary", "flow", "quality", "tables", "churn", "segments", "at-risk",
                   "drift"]
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) >= 8
    broken = [i.get_attribute("src") for i in images
              if not browser.execute_script("return arguments[0].complete && "
                                            "arguments[0].naturalWidth > 0", i)]
    assert broken == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#at-risk-customers tbody tr")
    assert len(rows) == settings.report.at_risk_rows
    assert "adds up" in browser.find_element(By.ID, "summary").text
    _screenshot(browser, "report")
    assert outside(requests(browser)) == []
    assert (SCREENSHOTS / "report.png").stat().st_size > 0
