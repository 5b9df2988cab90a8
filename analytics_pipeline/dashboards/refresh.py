"""Bring the site's dashboards up to date: every dashboard's page for all entities, and, for a dashboard that
declares an entity, the pages of the entities whose data changed (``entities.py``); an entity whose data did not
change keeps its files, and the pages of entities no longer in the data are removed.

All the pages' queries run in one pool (``generate.Generator``). While a dashboard's entity pages are
regenerated, ``site/generating/<id>.json`` names them, so the API lists them as ``generating``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from analytics_pipeline.dashboards.definition import Dashboard
from analytics_pipeline.dashboards.entities import EntityValue, entity_values, table_states
from analytics_pipeline.dashboards.generate import MAX_PARALLEL_QUERIES, Generator, Page, in_currencies
from analytics_pipeline.dashboards.site import (entity_documents, entity_paths, generation_done, mark_generating,
                                                publish, publish_entity, remove_entity)
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.sql_runner import QueryError
from analytics_pipeline.settings import Settings


# An entity table of at most this many rows is copied into each worker's memory for the entity pages (a few MB)
ENTITY_TABLE_COPY_ROWS = 100_000


@dataclass
class EntityPages:
    """What happened to a dashboard's entity pages: ``regenerated`` (their documents), ``unchanged`` (ids),
    ``removed`` (ids no longer in the data), ``error`` when the entities could not be read (files kept)."""

    kind: str
    entities: int = 0
    regenerated: list[dict] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> list[dict]:
        """Regenerated pages with a failed widget (a page kept unchanged had none)."""
        return [d for d in self.regenerated if d["widgets_failed"]]


@dataclass
class DashboardUpdate:
    dashboard: Dashboard
    doc: dict
    paths: dict[str, Path]
    entity_pages: EntityPages | None = None


@dataclass
class _Plan:
    stale: list[EntityValue]
    pages: EntityPages
    vanished: list[dict]


def update_site(settings: Settings, dashboards: list[Dashboard], site: Path,
                small_views: frozenset[str] = frozenset(), warehouse: WarehouseResource | None = None,
                workers: int = MAX_PARALLEL_QUERIES) -> Iterator[DashboardUpdate]:
    """Generate and publish each dashboard, and its entity pages that are out of date; yields each dashboard
    once all its pages are published, in the given order."""
    dashboards = [in_currencies(d, settings.currencies) for d in dashboards]
    with Generator(settings, small_views, warehouse, workers) as generator:
        pairs = {pair for d in dashboards if d.entity for pair in d.entity.tables.items()}
        try:
            present = generator.views() if pairs else set()
        except QueryError:  # no warehouse to read: each table's state says so, as the pages' error
            present = {table for table, _ in pairs}
        # a table never materialized (no LLM runs yet, say) has no entities: nothing to generate, nothing wrong
        states = {pair: generator.submit(table_states, *pair, generator.run, _entity_queries(dashboards, pair))
                  if pair[0] in present else generator.submit(dict) for pair in sorted(pairs)}
        plans = {d.id: _plan(site, d, states) for d in dashboards if d.entity}
        pages = [p for d in dashboards for p in [Page(d)] + [Page(d, e) for e in _stale(plans, d)]]
        for dashboard in dashboards:
            if _stale(plans, dashboard):
                mark_generating(site, dashboard.id, dashboard.entity.name, [e.id for e in _stale(plans, dashboard)])
        small = _small_tables(states)
        try:
            yield from _publish(site, generator.pages(pages, small, frozenset(t for t, _ in pairs) - small), plans)
        finally:
            for dashboard_id in plans:
                generation_done(site, dashboard_id)


def _publish(site: Path, generated: Iterator[tuple[Page, dict]], plans: dict[str, _Plan]) -> Iterator[DashboardUpdate]:
    update = None
    for page, doc in generated:
        if page.entity is None:
            if update:
                yield _finish(site, update, plans)
            plan = plans.get(page.dashboard.id)
            update = DashboardUpdate(page.dashboard, doc, publish(site, doc), plan.pages if plan else None)
        else:
            publish_entity(site, doc)
            update.entity_pages.regenerated.append(doc)
    if update:
        yield _finish(site, update, plans)


def _finish(site: Path, update: DashboardUpdate, plans: dict[str, _Plan]) -> DashboardUpdate:
    plan = plans.get(update.dashboard.id)
    if plan:
        for doc in plan.vanished:
            remove_entity(site, doc)
        generation_done(site, update.dashboard.id)
    return update


def _entity_queries(dashboards: list[Dashboard], pair: tuple[str, str]) -> list[str]:
    """The entity pages' queries of the dashboards whose entity reads the table of ``pair``: an entity's
    fingerprint covers the columns they may read."""
    return [sql for d in dashboards if d.entity and pair in d.entity.tables.items()
            for sql in [*(w.sql for w in d.entity.widgets), d.entity.data_through_sql] if sql]


def _small_tables(states: dict[tuple[str, str], Future]) -> frozenset[str]:
    """Entity tables of few rows: each worker copies them into memory once, rather than every entity page's queries
    reading their files (~4 ms a query on the demo lake, against ~1 ms from memory)."""
    rows: dict[str, int] = {}
    for (table, _), state in states.items():
        if not state.exception():
            rows[table] = max(rows.get(table, 0), sum(n for _, n, _ in state.result().values()))
    return frozenset(table for table, n in rows.items() if n <= ENTITY_TABLE_COPY_ROWS)


def _stale(plans: dict[str, _Plan], dashboard: Dashboard) -> list[EntityValue]:
    return plans[dashboard.id].stale if dashboard.id in plans else []


def _plan(site: Path, dashboard: Dashboard, states: dict[tuple[str, str], Future]) -> _Plan:
    """Which entities to regenerate: those without a page, whose fingerprint changed, or whose page had a failed
    widget (it may have been a passing failure, a timeout under load)."""
    pages = EntityPages(dashboard.entity.name)
    try:
        current = entity_values(dashboard, {pair: states[pair].result() for pair in dashboard.entity.tables.items()})
    except QueryError as err:
        pages.error = f"cannot read the {dashboard.entity.label.lower()} entities: {err}"
        return _Plan([], pages, [])
    published = {d["entity"]["id"]: d for d in entity_documents(site, dashboard.id)
                 if d["entity"]["kind"] == dashboard.entity.name}
    stale = []
    for entity in current:
        doc = published.get(entity.id)
        if (doc is None or doc.get("fingerprint") != entity.fingerprint or doc.get("widgets_failed")
                or doc["entity"].get("key") != entity.key
                or not all(p.exists() for p in entity_paths(site, doc).values())):
            stale.append(entity)
        else:
            pages.unchanged.append(entity.id)
    ids = {e.id for e in current}
    vanished = [d for entity_id, d in sorted(published.items()) if entity_id not in ids]
    pages.entities, pages.removed = len(current), [d["entity"]["id"] for d in vanished]
    return _Plan(stale, pages, vanished)
