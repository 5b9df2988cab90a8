"""Headless Chromium (Debian's ``chromium``) loads every page from ``analytics-pipeline serve`` at 390, 1440 and
1920 px (and a dashboard page per project, from ``serve`` and from disk): no console errors (a Content-Security-Policy
refusal is one), no request leaves the server, every chart drew its marks, nothing scrolls sideways, category labels
fit beside their axis, each value axis speaks one unit, and a daily axis starts at the first day with data (the LLM
marts carry 30 days, zeros before the first run). A failed widget shows its error while the rest draw,
from ``serve`` and from the file opened from disk.
Screenshots: test-output/screenshots/<page>-<width>.png."""

import json
import os
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from analytics_pipeline.dashboards.site import publish, publish_index
from analytics_pipeline.web.server import make_server
from analytics_pipeline_tests.dashboards.serve_process import start_serve

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTHS = (390, 1440, 1920)

# Per chart box: how it ended (data-drawn), and how many pixels of its canvas are a mark's colour: opaque and
# saturated, so grey axes, grid lines and text do not count.
CHARTS = """() => [...document.querySelectorAll('[data-chart]')].map(box => {
    const canvas = box.querySelector('canvas');
    if (!canvas) return {id: box.dataset.chart, drawn: box.dataset.drawn, marks: 0};
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let marks = 0;
    for (let i = 0; i < pixels.length; i += 4) {
        const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
        if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 40) marks++;
    }
    return {id: box.dataset.chart, drawn: box.dataset.drawn, marks: marks};
})"""

# Sideways scrolling: the page's, and any table's box.
OVERFLOW = """() => ({page: document.documentElement.scrollWidth - innerWidth,
                      tables: [...document.querySelectorAll('.table-wrap')].map(t => t.scrollWidth - t.clientWidth),
                      grid: document.querySelector('main.grid').getBoundingClientRect().width / innerWidth})"""

# Per Chart.js chart: do the category labels of a horizontal chart fit the axis's box (measured in its font), and
# the value axis's tick labels.
AXES = """() => [...document.querySelectorAll('[data-chart] canvas')].map(canvas => {
    const chart = Chart.getChart(canvas);
    const widget = canvas.parentElement.dataset.chart;
    if (!chart || !chart.scales.x || chart.config.type === 'matrix') return {widget, skip: true};
    const horizontal = chart.options.indexAxis === 'y';
    const category = chart.scales[horizontal ? 'y' : 'x'], value = chart.scales[horizontal ? 'x' : 'y'];
    if (category.options.display === false) return {widget, skip: true};
    chart.ctx.save();
    chart.ctx.font = Chart.helpers.toFont(category.options.ticks.font).string;
    const lines = category.ticks.flatMap(t => [].concat(t.label));
    const widest = Math.max(0, ...lines.map(line => chart.ctx.measureText(line).width));
    chart.ctx.restore();
    const labels = chart.data.labels || [];
    const daily = labels.length > 0 && labels.every(x => /^\\d{4}-\\d{2}-\\d{2}$/.test(String(x)));
    return {widget, horizontal, widest, room: category.width, left: category.left,
            ticks: value.ticks.map(t => [].concat(t.label).join(' ')),
            daily, first_day_has_data: chart.data.datasets.some(ds => Boolean(ds.data[0]))};
})"""

UNIT_PATTERNS = {"ms": r"^-?[\d,.]+ (ms|s|min|h|d)$", "seconds": r"^-?[\d,.]+ (ms|s|min|h|d)$",
                 "minutes": r"^-?[\d,.]+ (ms|s|min|h|d)$", "percent": r"^-?[\d,.]+%$",
                 "currency": r"^-?([^\d\s-]+ ?)[\d,.]+[kMB]?$"}


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


@pytest.fixture
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _open(browser, width: int, allowed: tuple[str, ...], problems: list[str]):
    """A page ``width`` px wide that records console errors and failed requests, and refuses any other origin."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

    def only_allowed(route):
        if route.request.url.startswith(allowed + ("data:",)):
            return route.continue_()
        problems.append(f"outside request: {route.request.url}")
        return route.abort()

    page.route("**/*", only_allowed)
    return page


def _chart_days(html: Path) -> int:
    """How many days the cost-over-time chart of an entity page's document (beside its HTML) covers."""
    doc = json.loads(html.with_suffix(".json").read_text())
    return max(len(w["data"]["labels"]) for w in doc["widgets"] if w["id"] == "cost_over_time")


def _charts_drawn(page) -> list[dict]:
    page.wait_for_function("[...document.querySelectorAll('[data-chart]')].every(box => box.dataset.drawn)",
                           timeout=15_000)
    return page.evaluate(CHARTS)


def test_every_page_draws_every_chart_at_phone_laptop_and_desktop_widths(served, use_dashboards_lake, browser):
    site = Path(use_dashboards_lake.data_dir) / "site"
    problems: list[str] = []
    for width in WIDTHS:
        page = _open(browser, width, (served,), problems)
        assert page.goto(served + "/").status == 200
        links = page.eval_on_selector_all("a[href^='dashboards/']", "els => els.map(e => e.getAttribute('href'))")
        assert len(links) >= 5
        project_pages = page.eval_on_selector_all("a[href^='entities/'][href$='.llm_costs.html']",
                                                  "els => els.map(e => e.getAttribute('href'))")
        assert project_pages, width
        # the project whose daily charts have the most days: the one-day demo's window ends now, so early in the
        # UTC day a project may have runs on one day only, and a one-point line chart has almost no pixels to count
        project_page = max(project_pages, key=lambda p: (_chart_days(site / p), p))
        page.screenshot(path=str(SCREENSHOTS / f"index-{width}.png"), full_page=True)
        assert page.evaluate(OVERFLOW.replace("main.grid", ".index-grid"))["page"] <= 0, width
        for link in links:
            name = Path(link).stem
            doc = json.loads((site / "data" / f"{name}.json").read_text())
            formats = {w["id"]: w["data"].get("format") for w in doc["widgets"] if w["status"] == "ready"}
            assert page.goto(f"{served}/{link}").status == 200, link
            charts = _charts_drawn(page)
            assert charts and all(c["drawn"] == "yes" and c["marks"] > 50 for c in charts), (name, width, charts)
            failed = page.eval_on_selector_all("section.card[data-status='failed'], .empty", "els => els.length")
            assert failed == 0, (name, width)
            overflow = page.evaluate(OVERFLOW)
            assert overflow["page"] <= 0 and all(t <= 1 for t in overflow["tables"]), (name, width, overflow)
            assert overflow["grid"] > 0.9, (name, width, overflow)  # the cards use the window's width
            for axis in page.evaluate(AXES):
                if axis.get("skip"):
                    continue
                assert axis["left"] >= 0 and axis["widest"] <= axis["room"] + 1, (name, width, axis)
                assert not axis["daily"] or axis["first_day_has_data"], (name, width, axis)  # no run of zero days first
                pattern = UNIT_PATTERNS.get(formats[axis["widget"]])
                if pattern:  # one unit on the whole axis
                    matches = [re.match(pattern, t) for t in axis["ticks"]]
                    assert all(matches), (name, width, axis)
                    assert len({m.groups()[0] if m.groups() else "" for m in matches}) == 1, (name, width, axis)
            if name == "llm_costs":  # the demo's one day of runs in the 30-day marts: the charts say where they start
                notes = page.eval_on_selector_all(".chart-note", "els => els.map(e => e.textContent)")
                assert notes and all("the first day with data" in n for n in notes), (width, notes)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
        # a page per entity, one folder below the site's top: its scripts and style load from ../static/
        assert page.goto(f"{served}/{project_page}").status == 200
        charts = _charts_drawn(page)
        assert len(charts) >= 4 and all(c["drawn"] == "yes" and c["marks"] > 50 for c in charts), (width, charts)
        assert page.evaluate(OVERFLOW)["page"] <= 0, width
        page.screenshot(path=str(SCREENSHOTS / f"llm_costs-per-project-{width}.png"), full_page=True)
        page.close()
    page = _open(browser, 1440, (site.as_uri(),), problems)  # the same page opened from disk
    page.goto((site / project_page).as_uri())
    charts = _charts_drawn(page)
    assert len(charts) >= 4 and all(c["drawn"] == "yes" and c["marks"] > 50 for c in charts), charts
    page.close()
    assert problems == []


def test_a_failed_widget_shows_its_error_and_the_rest_draw_from_serve_and_from_disk(use_dashboards_lake, browser,
                                                                                    tmp_path):
    doc = json.loads((Path(use_dashboards_lake.data_dir) / "site" / "data" / "operational_efficiency.json").read_text())
    error = "Binder Error: Referenced column \"seconds_betwen\" not found in FROM clause!"
    for widget in doc["widgets"]:
        if widget["id"] == "bottlenecks":
            widget.update(status="failed", error=error, data=None, row_count=0)
    doc.update(status="partial", widgets_failed=1)
    site = tmp_path / "data" / "site"
    paths = publish(site, doc)
    publish_index(site)

    server = make_server(replace(use_dashboards_lake, data_dir=str(tmp_path / "data")), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    problems: list[str] = []
    try:
        for url, allowed, shot in [(f"{base}/dashboards/operational_efficiency.html", (base,), "failed-widget-served"),
                                   (paths["page"].as_uri(), (site.as_uri(),), "failed-widget-from-disk")]:
            page = _open(browser, 1440, allowed, problems)
            page.goto(url)
            charts = _charts_drawn(page)
            assert "bottlenecks" not in {c["id"] for c in charts}
            assert len(charts) >= 4 and all(c["drawn"] == "yes" and c["marks"] > 50 for c in charts), (url, charts)
            card = page.locator("section[data-widget='bottlenecks']")
            assert card.get_attribute("data-status") == "failed" and error in card.inner_text()
            assert "Some widgets failed" in page.locator(".stamp").inner_text()
            page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
            page.close()
    finally:
        server.shutdown()
        server.server_close()
    assert problems == []
