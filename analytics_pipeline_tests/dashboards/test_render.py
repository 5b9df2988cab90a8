"""The HTML a page is made of: money with one precision per column, every table row shown, the document embedded
safely, time series of zeros as an empty state, failed widgets with their error; the vendored Chart.js files are
the recorded releases."""

import hashlib
import json
import re

import pytest

from analytics_pipeline.dashboards.definition import Widget
from analytics_pipeline.dashboards.formatting import currency_prefix, format_money, money_decimals
from analytics_pipeline.dashboards.render import STATIC_DIR, render_dashboard, static_files
from analytics_pipeline.dashboards.widgets import widget_data


def _entry(widget: Widget, data: dict | None, status: str = "ready", error: str | None = None) -> dict:
    return {"id": widget.id, "title": widget.title, "type": widget.type, "description": "", "span": widget.span,
            "options": widget.options, "status": status, "error": error, "row_count": 0, "query_ms": 0, "data": data}


def _page(*entries: dict, title: str = "D") -> str:
    return render_dashboard({"id": "d", "title": title, "audience": "A", "category": "C", "description": "",
                             "status": "ready", "generated_at": "2026-01-01T00:00:00+00:00", "data_through": None,
                             "generation_ms": 1.0, "widget_count": len(entries), "widgets_failed": 0, "tables": [],
                             "widgets": list(entries)})


def _cells(page: str, label: str) -> list[str]:
    return re.findall(rf'<td class="[^"]*" data-label="{label}">([^<]*)</td>', page)


def test_money_has_one_precision_per_table_column():
    table = Widget(id="t", title="T", type="table", sql="SELECT 1",
                   options={"currency": "GBP", "formats": {"payout": "currency", "unit_cost": "currency"}})
    rows = [("a", 2.48, 0.0015), ("b", 0.8625, 0.00015), ("c", 1234.5, None)]
    page = _page(_entry(table, widget_data(table, ["name", "payout", "unit_cost"], rows)))
    assert _cells(page, "Payout") == ["£2.48", "£0.86", "£1,234.50"]  # not £2.48 beside £0.8625 and £1,234
    assert _cells(page, "Unit cost") == ["£0.00150", "£0.00015", "—"]


@pytest.mark.parametrize("values, decimals", [([2.48, 0.8625], 2), ([0.0015, 0.00015], 5), ([0.25, 0.5], 2),
                                              ([0.028, 0.031], 3), ([None, 0], 2), ([], 2)])
def test_money_decimals_give_the_smallest_amount_two_significant_digits(values, decimals):
    assert money_decimals(values) == decimals


def test_money_is_written_with_the_prefix_of_its_currency():
    assert [currency_prefix(c) for c in ("GBP", "USD", "EUR", "CHF")] == ["£", "$", "€", "CHF "]
    assert format_money(-1234.5, "GBP", 2) == "-£1,234.50" and format_money(None, "USD", 2) == "—"


def test_a_table_shows_every_row_it_holds_and_says_when_the_definition_limits_them():
    table = Widget(id="daily", title="Daily", type="table", sql="SELECT 1", options={"limit": 50})
    rows = [(f"2026-01-{n % 28 + 1:02d}", n) for n in range(60)]
    page = _page(_entry(table, widget_data(table, ["day", "n"], rows)))
    assert len(_cells(page, "N")) == 50 and "Showing the first 50 of 60 rows" in page
    css = (STATIC_DIR / "dashboard.css").read_text()
    assert "max-height" not in css  # no scroll box hiding rows


def test_the_embedded_document_cannot_end_its_block_and_reads_back_equal():
    kpi = Widget(id="k", title="</script><script>alert(1)</script>", type="kpi-card", sql="SELECT 1")
    entry = _entry(kpi, widget_data(kpi, ["v"], [(1,)]))
    page = _page(entry, title="<!-- & </SCRIPT>")
    block = re.search(r'<script type="application/json" id="dashboard-document">(.*?)</script>', page, re.S).group(1)
    assert "<" not in block and ">" not in block and json.loads(block)["widgets"] == [entry]
    assert page.count("<script") == page.count("</script>") == 5  # three scripts, two data blocks


def test_a_daily_series_of_zeros_is_an_empty_state_and_leading_zero_days_still_draw():
    line = Widget(id="runs", title="Runs", type="line-chart", sql="SELECT 1")
    zeros = widget_data(line, ["day", "runs"], [("2026-11-01", 0), ("2026-11-02", 0)])
    later = widget_data(line, ["day", "runs"], [("2026-11-01", 0), ("2026-11-02", 3)])
    page = _page(_entry(line, zeros))
    assert "every day is zero" in page and "data-chart" not in page
    assert 'data-chart="runs"' in _page(_entry(line, later))  # dashboard.js starts the axis at 2026-11-02


def test_a_failed_widget_shows_its_error_beside_the_charts_that_worked():
    bar = Widget(id="ok", title="Fine", type="bar-chart", sql="SELECT 1")
    broken = Widget(id="broken", title="Broken", type="pie-chart", sql="SELECT 1")
    page = _page(_entry(bar, widget_data(bar, ["x", "y"], [("a", 1)])),
                 _entry(broken, None, "failed", "Binder Error: no column <x>"))
    assert 'data-chart="ok"' in page and 'data-chart="broken"' not in page
    assert 'data-status="failed"' in page and "Binder Error: no column &lt;x&gt;" in page


def test_the_vendored_files_are_the_recorded_npm_releases_with_their_licences():
    readme = (STATIC_DIR / "README.md").read_text()
    recorded = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.M))
    assert set(recorded) == {"chart.umd.min.js", "chartjs-chart-matrix.min.js"}
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    assert "Chart.js v4.5.1" in (STATIC_DIR / "chart.umd.min.js").read_text()[:200]
    assert {"chart.js.LICENSE.md", "chartjs-chart-matrix.LICENSE", "dashboard.js", "dashboard.css"} <= set(
        static_files())
