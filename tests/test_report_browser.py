"""The HTML report in a real browser (Debian's chromium, driven by Playwright).

CI installs chromium (.ci/run); elsewhere the tests are skipped when it is missing. Artifacts (a
screenshot and a PDF print of the demo report) are written to test-artifacts/.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cmkaudit.cli import Streams, run
from cmkaudit.report.html import render_html

from .conftest import ROOT
from .test_reports import hostile_results

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is needed for the browser tests; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-demo")
    run(["scan", "--demo", "--format", "json,html", "--output-dir", str(out)], Streams(io.StringIO(), io.StringIO()))
    return out


def _open(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    remote: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: remote.append(request.url) if not request.url.startswith("file:") else None)
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, remote


def test_demo_report_loads_cleanly_and_matches_the_json(browser: Any, demo: Path) -> None:
    page, errors, remote = _open(browser, demo / "cmkaudit-report.html")
    results = json.loads((demo / "cmkaudit-results.json").read_text())
    assert errors == [] and remote == []
    for status, count in results["summary"]["by_status"].items():
        assert page.locator(f'[data-count="{status}"]').inner_text() == str(count), status
    rate = results["summary"]["kpis"]["compliance_rate"]
    assert page.locator('[data-kpi="compliance-rate"]').inner_text() == f"{rate * 100:.0f}%"
    assert page.locator('[data-kpi="keys-expiring"]').inner_text() == str(
        results["summary"]["kpis"]["keys_expiring_soon"]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "cmkaudit-report.png"), full_page=True)
    page.pdf(path=str(ARTIFACTS / "cmkaudit-report.pdf"), format="A4", print_background=True)
    assert (ARTIFACTS / "cmkaudit-report.pdf").stat().st_size > 10_000
    page.close()


def test_filters_work(browser: Any, demo: Path) -> None:
    page, errors, _ = _open(browser, demo / "cmkaudit-report.html")
    results = json.loads((demo / "cmkaudit-results.json").read_text())
    problems = [f for f in results["findings"] if f["status"] in ("FAIL", "UNKNOWN", "SUPPRESSED")]
    assert page.locator("#filters").is_visible()
    assert page.locator("#filter-count").inner_text() == str(len(problems))

    page.select_option("#f-severity", "critical")
    critical = [f for f in problems if f["severity"] == "critical"]
    assert page.locator("#filter-count").inner_text() == str(len(critical))
    assert page.locator("article.finding:visible").count() == len(critical)

    page.select_option("#f-severity", "")
    page.select_option("#f-workspace", "dbw-finance-prod")  # the compliant workspace: nothing to act on
    assert page.locator("#filter-count").inner_text() == "0"
    assert page.locator("table.matrix tbody tr:visible").count() == 1

    page.select_option("#f-workspace", "dbw-analytics-dev")
    page.select_option("#f-status", "FAIL")
    expected = [f for f in problems if f["resource_name"] == "dbw-analytics-dev" and f["status"] == "FAIL"]
    assert page.locator("article.finding:visible").count() == len(expected)
    assert errors == []
    page.close()


def test_hostile_names_run_no_script(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "hostile.html"
    path.write_text(render_html(hostile_results()))
    page, errors, remote = _open(browser, path)
    assert errors == [] and remote == []
    assert page.locator("img").count() == 0
    assert '<script>alert("name")</script>' in page.locator("table.matrix tbody th").first.inner_text()
    page.close()
