"""Headless Chromium (Debian's ``chromium``) loads every page from ``analytics-pipeline serve``: no console
errors, no request leaves the server, every chart has drawn marks. Screenshots: test-output/screenshots/."""

import os
import shutil
from pathlib import Path

import pytest

from analytics_pipeline_tests.dashboards.serve_process import start_serve

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs it with apt-get when run as root)")
    pytest.skip("chromium is not installed: apt-get install chromium")


@pytest.fixture
def served(use_dashboards_lake):
    """``analytics-pipeline serve --port 0`` as a real process; yields its base URL."""
    proc, base = start_serve()
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_page_renders_without_errors_and_with_drawn_charts(served):
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

        def only_the_server(route):
            if route.request.url.startswith(served) or route.request.url.startswith("data:"):
                return route.continue_()
            outside.append(route.request.url)
            return route.abort()

        page.route("**/*", only_the_server)
        assert page.goto(served + "/").status == 200
        links = page.eval_on_selector_all("a[href^='dashboards/']", "els => els.map(e => e.getAttribute('href'))")
        page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
        assert len(links) >= 5
        for link in links:
            response = page.goto(f"{served}/{link}")
            assert response.status == 200, link
            name = Path(link).stem
            figures = page.eval_on_selector_all(
                "figure.chart", "els => els.map(e => e.querySelectorAll('svg .mark').length)")
            assert figures and all(n > 0 for n in figures), (name, figures)
            failed = page.eval_on_selector_all("section.card[data-status='failed']", "els => els.length")
            empty = page.eval_on_selector_all(".empty", "els => els.length")
            assert failed == 0 and empty == 0, name
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        browser.close()
    assert problems == [] and outside == []
