"""Generate a dashboard's widget data: its queries run in parallel against the warehouse, each through
the read-only SQL gate on its own connection; a failing widget is kept with its error, never fatal."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from analytics_pipeline.dashboards.definition import Dashboard, Widget
from analytics_pipeline.dashboards.widgets import WidgetDataError, widget_data
from analytics_pipeline.serving.exports import json_value
from analytics_pipeline.serving.sql_runner import QueryError, run_query
from analytics_pipeline.settings import Settings

MAX_PARALLEL_QUERIES = 4


def generate(settings: Settings, dashboard: Dashboard) -> dict:
    """The dashboard document: metadata, freshness and every widget with status ``ready`` or ``failed``."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_QUERIES, thread_name_prefix=f"dash-{dashboard.id}") as pool:
        freshness = pool.submit(_data_through, settings, dashboard) if dashboard.data_through_sql else None
        widgets = list(pool.map(lambda w: _widget(settings, w), dashboard.widgets))
    data_through, freshness_error = freshness.result() if freshness else (None, None)
    failed = sum(1 for w in widgets if w["status"] == "failed")
    return {
        "id": dashboard.id,
        "title": dashboard.title,
        "audience": dashboard.audience,
        "category": dashboard.category,
        "description": dashboard.description,
        "status": "ready" if not failed else "failed" if failed == len(widgets) else "partial",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_through": data_through,
        "data_through_error": freshness_error,
        "generation_ms": round((time.perf_counter() - started) * 1000, 1),
        "widget_count": len(widgets),
        "widgets_failed": failed,
        "tables": dashboard.tables,
        "widgets": widgets,
    }


def _widget(settings: Settings, widget: Widget) -> dict:
    started = time.perf_counter()
    entry = {"id": widget.id, "title": widget.title, "type": widget.type, "description": widget.description,
             "span": widget.span, "options": widget.options}
    try:
        result = run_query(settings, widget.sql)
        data = widget_data(widget, result.columns, result.rows)
        entry.update(status="ready", error=None, row_count=len(result.rows), data=data)
    except (QueryError, WidgetDataError) as err:
        entry.update(status="failed", error=str(err), row_count=0, data=None)
    except Exception as err:  # noqa: BLE001 - one widget's surprise must not take the dashboard down
        first_line = (str(err).strip().splitlines() or [""])[0]
        entry.update(status="failed", error=f"{type(err).__name__}: {first_line}", row_count=0, data=None)
    entry["query_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return entry


def _data_through(settings: Settings, dashboard: Dashboard) -> tuple[str | None, str | None]:
    try:
        rows = run_query(settings, dashboard.data_through_sql).rows
    except QueryError as err:
        return None, str(err)
    value = json_value(rows[0][0]) if rows and rows[0] else None
    return (None if value is None else str(value)), None
