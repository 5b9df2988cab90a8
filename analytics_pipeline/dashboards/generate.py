"""Generate dashboards' widget data. A page is a dashboard for every entity, or for one entity (its widgets'
SQL filtered to it, see ``entities.py``). The queries of every page (each widget's and the data-through query)
run in parallel on a pool of read-only connections to the warehouse, one per worker thread, each query
through the SQL gate and the query limits; a failing widget is kept with its error, never fatal.

A small view that several queries read (a per-day mart: one Parquet file per event day; a count per status) is
first copied into memory by each connection that reads it (``QuerySession.snapshot``), so it is read once per
connection rather than once per query: a per-day mart of 317 days costs ~0.1 s per read."""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from analytics_pipeline.dashboards.definition import Dashboard, Widget
from analytics_pipeline.dashboards.entities import EntityValue, queries_names
from analytics_pipeline.dashboards.widgets import WidgetDataError, widget_data
from analytics_pipeline.lake.views import views_read
from analytics_pipeline.serving.exports import json_value
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.sql_runner import QueryError, QueryResult, QuerySession, open_session, to_duckdb_sql
from analytics_pipeline.settings import Currencies, Settings
from analytics_pipeline.sources.registry import SOURCE_NAMES

# Queries at once. DuckDB runs each on both cores; a widget's query is mostly short, and the Python around it
# (the gate, turning rows into widget data) holds the GIL, so a few more than the cores keep DuckDB busy.
MAX_PARALLEL_QUERIES = 4


@dataclass(frozen=True)
class Page:
    """A dashboard for every entity (``entity`` None) or for one."""

    dashboard: Dashboard
    entity: EntityValue | None = None

    @property
    def widgets(self) -> tuple[Widget, ...]:
        return self.dashboard.entity.widgets if self.entity else self.dashboard.widgets

    @property
    def data_through_sql(self) -> str:
        return self.dashboard.entity.data_through_sql if self.entity else self.dashboard.data_through_sql

    @property
    def params(self) -> dict | None:
        return self.entity.params if self.entity else None

    @property
    def queries(self) -> list[str]:
        return [w.sql for w in self.widgets] + ([self.data_through_sql] if self.data_through_sql else [])


class Generator:
    """A pool of worker threads, each with its own read-only session on the warehouse (opened on its first query);
    ``pages`` runs every query of the pages given in parallel. Use as a context manager."""

    def __init__(self, settings: Settings, small_views: frozenset[str] = frozenset(),
                 warehouse: WarehouseResource | None = None, workers: int = MAX_PARALLEL_QUERIES):
        self.settings, self.small_views = settings, small_views
        self._warehouse = warehouse or WarehouseResource.for_settings(settings)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboards")
        self._local = threading.local()
        self._sessions: list[QuerySession] = []
        self._lock = threading.Lock()
        self._copy: dict[str, frozenset[str] | None] = {}  # view → the columns to copy (None: all)

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for session in self._sessions:
            session.close()

    def submit(self, fn, /, *args) -> Future:
        """Run ``fn(*args)`` on a worker (it may call ``run``)."""
        return self._pool.submit(fn, *args)

    def views(self) -> set[str]:
        """The warehouse's views, on the calling thread's session."""
        return self._session()[0].views()

    def run(self, sql: str, params: dict | None = None) -> QueryResult:
        """One query on the calling thread's session (a worker's, or a session of its own)."""
        session, copied = self._session()
        for view in (_reads(sql) & self._copy.keys()) - copied:
            copied.add(view)
            try:
                session.snapshot(view, self._copy[view])
            except QueryError:
                pass  # the queries reading it then fail (or succeed) on their own, with their own error
        return session.run(_gated(sql, self.settings.schema), checked=True, params=params)

    def pages(self, pages: list[Page], small: frozenset[str] = frozenset(),
              large: frozenset[str] = frozenset()) -> Iterator[tuple[Page, dict]]:
        """Every page's document, in the order given; all their queries run in parallel meanwhile. ``small``:
        more views of few rows (besides ``small_views``), copied when more than one query reads them. ``large``:
        views of many rows (an entity table that every entity page reads), copied with only the columns the
        queries name, when they name them all."""
        queries = [sql for page in pages for sql in page.queries]
        shared = {view for view, n in Counter(t for sql in queries for t in _reads(sql)).items() if n > 1}
        self._copy |= dict.fromkeys(shared & (self.small_views | small))
        for view in (shared & large) - self._copy.keys():
            names = queries_names([sql for sql in queries if view in _reads(sql)])
            if names is not None:
                self._copy[view] = names
        submitted = [(page, self._pool.submit(self._data_through, page),
                      [self._pool.submit(self._widget, page, w) for w in page.widgets]) for page in pages]
        for page, through, widgets in submitted:
            yield page, _document(page, through.result(), [w.result() for w in widgets])

    def _session(self) -> tuple[QuerySession, set[str]]:
        if getattr(self._local, "session", None) is None:
            session = open_session(self.settings, self._warehouse)  # a QueryError: this query fails with it
            with self._lock:
                self._sessions.append(session)
            self._local.session, self._local.copied = session, set()
        return self._local.session, self._local.copied

    def _widget(self, page: Page, widget: Widget) -> tuple[dict, float, float]:
        started = time.perf_counter()
        entry = _entry(widget)
        try:
            result = self.run(widget.sql, page.params)
            data = widget_data(widget, result.columns, result.rows)
            entry.update(status="ready", error=None, row_count=len(result.rows), data=data)
        except (QueryError, WidgetDataError) as err:
            entry.update(status="failed", error=str(err), row_count=0, data=None)
        except Exception as err:  # noqa: BLE001 - one widget's surprise must not take the dashboard down
            first_line = (str(err).strip().splitlines() or [""])[0]
            entry.update(status="failed", error=f"{type(err).__name__}: {first_line}", row_count=0, data=None)
        finished = time.perf_counter()
        entry["query_ms"] = round((finished - started) * 1000, 1)
        return entry, started, finished

    def _data_through(self, page: Page) -> tuple[tuple[str | None, str | None], float, float]:
        started = time.perf_counter()
        if not page.data_through_sql:
            return (None, None), started, started
        try:
            rows = self.run(page.data_through_sql, page.params).rows
        except QueryError as err:
            return (None, str(err)), started, time.perf_counter()
        value = json_value(rows[0][0]) if rows and rows[0] else None
        return (None if value is None else str(value), None), started, time.perf_counter()


def generate_all(settings: Settings, dashboards: list[Dashboard], small_views: frozenset[str] = frozenset(),
                 warehouse: WarehouseResource | None = None) -> Iterator[tuple[Dashboard, dict]]:
    """Each dashboard's document (every entity's), in the given order; their queries run in parallel."""
    with Generator(settings, small_views, warehouse) as generator:
        pages = [Page(in_currencies(d, settings.currencies)) for d in dashboards]
        for dashboard, (_, doc) in zip(dashboards, generator.pages(pages)):
            yield dashboard, doc


def generate(settings: Settings, dashboard: Dashboard, small_views: frozenset[str] = frozenset(),
             warehouse: WarehouseResource | None = None) -> dict:
    """The dashboard document: metadata, freshness and every widget with status ``ready`` or ``failed``.
    ``small_views``: views of few rows, copied once when more than one query reads them. ``warehouse``:
    the resource to read through (default: the one ``settings`` describe)."""
    ((_, doc),) = list(generate_all(settings, [dashboard], small_views, warehouse))
    return doc


def _document(page: Page, through: tuple, widgets: list[tuple[dict, float, float]]) -> dict:
    dashboard, entity = page.dashboard, page.entity
    (data_through, freshness_error), *_ = through
    entries = [w for w, _, _ in widgets]
    times = [t for _, started, finished in [through, *widgets] for t in (started, finished)]
    failed = sum(1 for w in entries if w["status"] == "failed")
    doc = {
        "id": dashboard.id,
        "title": dashboard.title if not entity else f"{dashboard.title} — {dashboard.entity.label} {entity.id}",
        "audience": dashboard.audience,
        "category": dashboard.category,
        "description": dashboard.description,
        "status": "ready" if not failed else "failed" if failed == len(entries) else "partial",
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_through": data_through,
        "data_through_error": freshness_error,
        "generation_ms": round((max(times) - min(times)) * 1000, 1),
        "widget_count": len(entries),
        "widgets_failed": failed,
        "tables": sorted({t for sql in page.queries for t in _reads(sql)}),
        "widgets": entries,
    }
    if entity:
        doc.update(template_id=dashboard.id, template_name=dashboard.title, fingerprint=entity.fingerprint,
                   entity={"kind": entity.kind, "label": dashboard.entity.label, "id": entity.id, "key": entity.key})
    return doc


def in_currencies(dashboard: Dashboard, currencies: Currencies) -> Dashboard:
    """The dashboard with every widget's currency resolved (``in_currency``), its entity pages' too: what is
    generated, and what an entity page's fingerprint covers (another ANALYTICS_CURRENCY regenerates the pages)."""
    entity = dashboard.entity
    if entity:
        entity = replace(entity, widgets=tuple(in_currency(w, currencies) for w in entity.widgets))
    return replace(dashboard, widgets=tuple(in_currency(w, currencies) for w in dashboard.widgets), entity=entity)


def in_currency(widget: Widget, currencies: Currencies) -> Widget:
    """The widget with its currency resolved: ``currency: claims`` (a source) is that source's ANALYTICS_CURRENCY;
    an ISO code stays; none given, the one currency every source shares, else USD. ``{currency}`` in the title,
    the description and the axis label becomes the code."""
    named = widget.options.get("currency")
    shared = {currencies.of(source) for source in SOURCE_NAMES}
    code = currencies.of(named) if named in SOURCE_NAMES else named or (shared.pop() if len(shared) == 1 else "USD")
    options = {**widget.options, "currency": code}
    if isinstance(options.get("x_label"), str):
        options["x_label"] = options["x_label"].replace("{currency}", code)
    return replace(widget, title=widget.title.replace("{currency}", code),
                   description=widget.description.replace("{currency}", code), options=options)


def _entry(widget: Widget) -> dict:
    return {"id": widget.id, "title": widget.title, "type": widget.type, "description": widget.description,
            "span": widget.span, "options": widget.options}


@functools.lru_cache(maxsize=4096)
def _gated(sql: str, schema: str) -> str:
    """The gate's DuckDB SQL for ``sql``: an entity page's query is the same text for every entity, so it is
    checked once (a refused query raises, and is checked again next time)."""
    return to_duckdb_sql(sql, "duckdb", schema)


@functools.lru_cache(maxsize=4096)
def _reads(sql: str) -> frozenset[str]:
    try:
        return frozenset(views_read(sql))
    except Exception:  # noqa: BLE001 - SQL sqlglot cannot read: the gate refuses it with its own message
        return frozenset()
