"""Widget shapes at the edges: budgets of zero and none, empty results drawn as empty states."""

import pytest

from analytics_pipeline.dashboards.definition import Widget
from analytics_pipeline.dashboards.render import render_dashboard
from analytics_pipeline.dashboards.widgets import widget_data

BUDGET = Widget(id="budget", title="Budget", type="budget-bar", sql="SELECT 1", options={"value": "spent", "limit": "budget"})


@pytest.mark.parametrize("spent, budget, level, ratio, shown", [
    (40.0, 50.0, "warning", 0.8, "80%"),
    (20.0, 50.0, "ok", 0.4, "40%"),
    (60.0, 50.0, "critical", 1.2, "120%"),
    (5.0, 0.0, "critical", None, "over budget"),  # a zero budget is a budget
    (0.0, 0.0, "ok", None, "0%"),
    (12.0, None, "none", None, "No monthly budget configured"),
])
def test_budget_levels_follow_the_seed_colours(spent, budget, level, ratio, shown):
    data = widget_data(BUDGET, ["spent", "budget"], [(spent, budget)])
    assert (data["level"], data["ratio"]) == (level, ratio)
    assert shown in render_dashboard(_doc(BUDGET, data))


def test_empty_results_are_empty_states_not_errors():
    widgets = [Widget(id=t.replace("-", "_"), title=t, type=t, sql="SELECT 1") for t in
               ("bar-chart", "line-chart", "pie-chart", "table", "heatmap", "gauge")]
    columns = {"heatmap": ["x", "y", "v"], "gauge": ["v"]}
    docs = [(w, widget_data(w, columns.get(w.type, ["label", "value"]), [])) for w in widgets]
    page = render_dashboard({**_doc(*docs[0]), "widgets": [_entry(w, d) for w, d in docs]})
    assert page.count("No data yet") == len(widgets) and "could not be drawn" not in page


def _entry(widget: Widget, data: dict) -> dict:
    return {"id": widget.id, "title": widget.title, "type": widget.type, "description": "", "span": widget.span,
            "options": widget.options, "status": "ready", "error": None, "row_count": 0, "query_ms": 0, "data": data}


def _doc(widget: Widget, data: dict) -> dict:
    return {"id": "d", "title": "D", "audience": "A", "category": "C", "description": "", "status": "ready",
            "generated_at": "2026-01-01T00:00:00+00:00", "data_through": None, "generation_ms": 1.0,
            "widget_count": 1, "widgets_failed": 0, "tables": [], "widgets": [_entry(widget, data)]}


def test_duckdb_values_become_json_the_same_way_in_widgets_and_exports():
    """One conversion for widget cells and exports: DuckDB's own values, NaN nested in a list included."""
    import duckdb

    from analytics_pipeline.serving.exports import json_rows

    con = duckdb.connect()
    result = con.execute("SELECT 1.25::DECIMAL(9, 2) AS d, 'nan'::DOUBLE AS n, DATE '2026-11-21' AS day, "
                         "TIMESTAMP '2026-11-21 06:52:08' AS ts, INTERVAL 90 SECOND AS took, "
                         "[1.5, 'inf'::DOUBLE] AS xs, {'k': 2} AS s")
    columns, rows = [c[0] for c in result.description], result.fetchall()
    expected = {"d": 1.25, "n": None, "day": "2026-11-21", "ts": "2026-11-21T06:52:08", "took": 90.0,
                "xs": [1.5, None], "s": {"k": 2}}
    assert json_rows(columns, rows) == [expected]
    table = widget_data(Widget(id="t", title="T", type="table", sql="SELECT 1"), columns, rows)
    assert table["rows"] == [list(expected.values())]
