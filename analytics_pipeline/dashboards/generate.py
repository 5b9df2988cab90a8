"""Generate a dashboard's widget data: its queries run one after another on one read-only connection to the
warehouse, each through the SQL gate and the query limits; a failing widget is kept with its error, never fatal.

A small view that several widgets read (a per-day mart: one Parquet file per event day; a count per status)
is first copied into memory (``QuerySession.snapshot``), so it is read once per dashboard rather than once per
widget: a per-day mart of 317 days costs ~0.1 s per read. Dashboards themselves are generated in parallel (``generate_all``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone

from analytics_pipeline.dashboards.definition import Dashboard, Widget
from analytics_pipeline.dashboards.widgets import WidgetDataError, widget_data
from analytics_pipeline.lake.views import views_read
from analytics_pipeline.serving.exports import json_value
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.sql_runner import (
    QueryError,
    QuerySession,
    query_session,
)
from analytics_pipeline.settings import Currencies, Settings
from analytics_pipeline.sources.registry import SOURCE_NAMES

MAX_PARALLEL_DASHBOARDS = 2


def generate_all(settings: Settings, dashboards: list[Dashboard], small_views: frozenset[str] = frozenset(),
                 warehouse: WarehouseResource | None = None) -> Iterator[tuple[Dashboard, dict]]:
    """``generate`` for each dashboard, in parallel; yields (dashboard, document) in the given order."""
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_DASHBOARDS, thread_name_prefix="dashboards") as pool:
        docs = [pool.submit(generate, settings, d, small_views, warehouse) for d in dashboards]
        for dashboard, doc in zip(dashboards, docs):
            yield dashboard, doc.result()


def generate(settings: Settings, dashboard: Dashboard, small_views: frozenset[str] = frozenset(),
             warehouse: WarehouseResource | None = None) -> dict:
    """The dashboard document: metadata, freshness and every widget with status ``ready`` or ``failed``.
    ``small_views``: views of few rows, copied once when more than one query reads them. ``warehouse``:
    the resource to read through (default: the one ``settings`` describe)."""
    started = time.perf_counter()
    try:
        with query_session(settings, warehouse) as session:
            for view in sorted(_read_more_than_once(dashboard) & small_views):
                try:
                    session.snapshot(view)
                except QueryError:
                    pass  # the widgets reading it then fail (or succeed) on their own, with their own error
            data_through, freshness_error = _data_through(session, dashboard)
            widgets = [_widget(session, in_currency(w, settings.currencies)) for w in dashboard.widgets]
    except QueryError as err:  # no warehouse, or it cannot be opened: every widget fails with that reason
        data_through, freshness_error = None, str(err)
        widgets = [_failed(_entry(in_currency(w, settings.currencies)), str(err)) for w in dashboard.widgets]
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


def in_currency(widget: Widget, currencies: Currencies) -> Widget:
    """The widget with its currency resolved: ``currency: claims`` (a source) is that source's ANALYTICS_CURRENCY;
    an ISO code stays; none given, the one currency every source shares, else USD. ``{currency}`` in the title,
    the description and the axis label becomes the code."""
    named = widget.options.get("currency")
    shared = {code for _, code in currencies.per_source}
    code = currencies.of(named) if named in SOURCE_NAMES else named or (shared.pop() if len(shared) == 1 else "USD")
    options = {**widget.options, "currency": code}
    if isinstance(options.get("x_label"), str):
        options["x_label"] = options["x_label"].replace("{currency}", code)
    return replace(widget, title=widget.title.replace("{currency}", code),
                   description=widget.description.replace("{currency}", code), options=options)


def _read_more_than_once(dashboard: Dashboard) -> set[str]:
    reads = Counter(t for sql in [w.sql for w in dashboard.widgets] + [dashboard.data_through_sql] if sql
                    for t in views_read(sql))
    return {table for table, n in reads.items() if n > 1}


def _entry(widget: Widget) -> dict:
    return {"id": widget.id, "title": widget.title, "type": widget.type, "description": widget.description,
            "span": widget.span, "options": widget.options}


def _failed(entry: dict, error: str) -> dict:
    return {**entry, "status": "failed", "error": error, "row_count": 0, "data": None, "query_ms": 0.0}


def _widget(session: QuerySession, widget: Widget) -> dict:
    started = time.perf_counter()
    entry = _entry(widget)
    try:
        result = session.run(widget.sql)
        data = widget_data(widget, result.columns, result.rows)
        entry.update(status="ready", error=None, row_count=len(result.rows), data=data)
    except (QueryError, WidgetDataError) as err:
        entry.update(status="failed", error=str(err), row_count=0, data=None)
    except Exception as err:  # noqa: BLE001 - one widget's surprise must not take the dashboard down
        first_line = (str(err).strip().splitlines() or [""])[0]
        entry.update(status="failed", error=f"{type(err).__name__}: {first_line}", row_count=0, data=None)
    entry["query_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return entry


def _data_through(session: QuerySession, dashboard: Dashboard) -> tuple[str | None, str | None]:
    if not dashboard.data_through_sql:
        return None, None
    try:
        rows = session.run(dashboard.data_through_sql).rows
    except QueryError as err:
        return None, str(err)
    value = json_value(rows[0][0]) if rows and rows[0] else None
    return (None if value is None else str(value)), None
