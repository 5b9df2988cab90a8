"""One asset per dashboard: regenerated eagerly after the marts it reads and the warehouse views.

The materialization tells the story in the Dagster UI: widget statuses, KPI values, every chart as
Markdown bars, and the Chart.js data as JSON; the page and data files are linked as paths. A dashboard
with an entity also counts its entity pages: how many entities, regenerated, unchanged, removed, failed.
"""

from pathlib import Path

import dagster as dg

from analytics_pipeline.dashboards.definition import Dashboard
from analytics_pipeline.dashboards.entities import definition_digest
from analytics_pipeline.dashboards.formatting import format_value, short_date_labels
from analytics_pipeline.dashboards.refresh import EntityPages, update_site
from analytics_pipeline.dashboards.site import prune, publish_index, site_dir
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.platform.automation import (
    ON_DASHBOARD_DATA_UPDATE,
    ON_LAKE_UPDATE,
)
from analytics_pipeline.platform.metadata import bar_chart_markdown
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import DERIVED_VIEWS
from analytics_pipeline.settings import (
    DEFAULT_PARTITIONS_START,
    DEFAULT_QUERY_MEMORY_LIMIT,
    Currencies,
    Settings,
)

CHART_TYPES = ("bar-chart", "line-chart", "pie-chart")


def view_assets(specs: list[SourceSpec], summaries: dict[str, str] | None = None) -> dict[str, str]:
    """Warehouse views that are not asset names themselves → the asset that backs them (``summaries``: the views
    of keyed tables' totals per bucket → their tables)."""
    raw = {view: f"raw_{spec.name}" for spec in specs for view in spec.views()}
    return raw | {view: reads for view, (reads, _) in DERIVED_VIEWS.items()} | (summaries or {})


def dashboard_deps(dashboard: Dashboard, asset_names: set[str], views: dict[str, str]) -> list[dg.AssetKey]:
    names = {views.get(t, t) for t in dashboard.tables}
    return [dg.AssetKey(n) for n in sorted(names & asset_names)] + [dg.AssetKey("warehouse")]


def build_dashboards_asset(dashboards: list[Dashboard], asset_names: set[str],
                           specs: list[SourceSpec] = (), small_views: frozenset[str] = frozenset(),
                           summaries: dict[str, str] | None = None) -> dg.AssetsDefinition:
    """One asset per dashboard (``dashboard_<id>``), computed in one step: each is materialized, and
    automated, on its own; the shared step only saves Dagster a step start-up per dashboard."""
    by_key = {dg.AssetKey(f"dashboard_{d.id}"): d for d in dashboards}
    views = view_assets(list(specs), summaries)

    @dg.multi_asset(
        name="dashboards",
        can_subset=True,
        specs=[dg.AssetSpec(
            key, group_name="dashboards", kinds={"html", "json"}, deps=dashboard_deps(d, asset_names, views),
            # a dashboard that reads no table of its own (only views the assets do not name) follows the warehouse
            automation_condition=ON_DASHBOARD_DATA_UPDATE if len(dashboard_deps(d, asset_names, views)) > 1
            else ON_LAKE_UPDATE,
            description=f"{d.title} ({d.audience}): {d.description}".strip(": "),
            # its definition and the page-making code: an edited YAML or an upgrade regenerates it (run, automation)
            code_version=definition_digest(d)[:16],
            metadata={"definition": dg.MetadataValue.path(d.source), "widgets": len(d.widgets)},
        ) for key, d in by_key.items()],
        check_specs=[dg.AssetCheckSpec("widgets_ready", asset=key,
                                       description="Every widget's query ran and its result fit the widget.")
                     for key in by_key],
    )
    def dashboards_asset(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
        settings = run_settings(lake, warehouse)
        site = site_dir(settings)
        for removed in prune(site, {d.id for d in dashboards}, {d.id: d.entity.name for d in dashboards if d.entity}):
            context.log.info(f"removed the files of dashboard {removed}: it is no longer defined")
        selected = [d for key, d in by_key.items() if key in context.selected_asset_keys]
        for update in update_site(settings, selected, site, small_views, warehouse):
            dashboard, doc, entity_pages = update.dashboard, update.doc, update.entity_pages
            key = dg.AssetKey(f"dashboard_{dashboard.id}")
            failed = [w for w in doc["widgets"] if w["status"] == "failed"]
            for widget in failed:
                context.log.warning(f"{dashboard.id}: widget {widget['id']} failed: {widget['error']}")
            problems = [f"{w['id']}: {w['error']}" for w in failed]
            metadata = dashboard_metadata(doc, update.paths)
            if entity_pages:
                metadata |= entity_metadata(entity_pages)
                for page in entity_pages.failed:
                    context.log.warning(f"{dashboard.id} for {page['entity']['kind']} {page['entity']['id']!r}: "
                                        f"{page['widgets_failed']} widget(s) failed")
                problems += [f"{entity_pages.kind} {p['entity']['id']}: {p['widgets_failed']} widget(s) failed"
                             for p in entity_pages.failed]
                if entity_pages.error:
                    context.log.warning(f"{dashboard.id}: entity pages not updated: {entity_pages.error}")
                    problems.append(entity_pages.error)
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            if dg.AssetCheckKey(key, "widgets_ready") in context.selected_asset_check_keys:
                yield dg.AssetCheckResult(
                    asset_key=key, check_name="widgets_ready", passed=not problems,
                    severity=dg.AssetCheckSeverity.WARN, metadata={"failed": len(failed)},
                    description=("; ".join(problems) or "all widgets ready")[:1000])
        publish_index(site)

    return dashboards_asset


def run_settings(lake: LakeResource, warehouse: WarehouseResource) -> Settings:
    """What the site and its queries are made with (the query layer takes ``Settings``), from the run's resources."""
    return Settings(
        data_dir=str(Path(warehouse.database).parent), lake_uri=lake.lake_root().uri,
        landing_uri=lake.landing_root().uri, s3_endpoint_url=lake.s3_endpoint_url, schema=warehouse.schema_name,
        partitions_start=DEFAULT_PARTITIONS_START,  # not read: the dashboards show what the lake holds
        currencies=Currencies(per_source=tuple(warehouse.currencies.items())),
        query_timeout_seconds=warehouse.query_timeout_seconds, query_max_rows=warehouse.query_max_rows,
        query_memory_limit=warehouse.connection_config.get("memory_limit", DEFAULT_QUERY_MEMORY_LIMIT),
        s3_max_retries=lake.s3_max_retries)


def dashboard_metadata(doc: dict, paths: dict[str, Path]) -> dict:
    widgets = doc["widgets"]
    table = ["| widget | type | status | rows | ms | error |", "|---|---|---|---|---|---|"]
    table += [f"| {w['title']} | {w['type']} | {w['status']} | {w['row_count']} | {w['query_ms']:.0f} | "
              f"{(w['error'] or '').replace('|', '/')} |" for w in widgets]
    kpis = ["| KPI | value |", "|---|---|"] + [
        f"| {w['title']} | {format_value(w['data']['value'], w['data']['format'], w['options'].get('currency', 'USD'))} |"
        for w in widgets if w["status"] == "ready" and w["type"] in ("kpi-card", "gauge")]
    charts = [_chart_markdown(w) for w in widgets if w["status"] == "ready" and w["type"] in CHART_TYPES]
    return {
        "status": doc["status"],
        "widgets_ready": len(widgets) - doc["widgets_failed"],
        "widgets_failed": doc["widgets_failed"],
        "generated_at": doc["generated_at"],
        "data_through": doc["data_through"] or "",
        "generation_ms": doc["generation_ms"],
        "widgets": dg.MetadataValue.md("\n".join(table)),
        "kpis": dg.MetadataValue.md("\n".join(kpis)),
        "charts": dg.MetadataValue.md("\n\n".join(c for c in charts if c) or "(no chart data)"),
        "chart_data": dg.MetadataValue.json({w["id"]: w["data"] for w in widgets
                                             if w["status"] == "ready" and w["type"] in CHART_TYPES}),
        "page": dg.MetadataValue.path(str(paths["page"])),
        "data": dg.MetadataValue.path(str(paths["data"])),
    }


ENTITY_ROWS_SHOWN = 100


def entity_metadata(pages: EntityPages) -> dict:
    """Per-entity counts, and the regenerated pages as a table."""
    rows = [f"| {p['entity']['id'].replace('|', '/')} | {p['status']} | {p['widgets_failed']} | "
            f"{p['data_through'] or ''} | {p['generation_ms']:.0f} |" for p in pages.regenerated[:ENTITY_ROWS_SHOWN]]
    more = len(pages.regenerated) - len(rows)
    table = [f"| {pages.kind} | status | widgets failed | data through | ms |", "|---|---|---|---|---|", *rows]
    return {
        "entity": pages.kind,
        "entities": pages.entities,
        "entity_pages_regenerated": len(pages.regenerated),
        "entity_pages_unchanged": len(pages.unchanged),
        "entity_pages_removed": len(pages.removed),
        "entity_pages_failed": len(pages.failed),
        "entity_pages": dg.MetadataValue.md("\n".join(table) + (f"\n\n… and {more} more" if more > 0 else "")
                                            if rows else "(no entity page needed regenerating)"),
        **({"entity_pages_error": pages.error} if pages.error else {}),
    }


def _chart_markdown(widget: dict) -> str:
    data = widget["data"]
    if not data["labels"]:
        return ""
    dataset = data["datasets"][0]
    fmt = lambda v: format_value(v, data["format"], widget["options"].get("currency", "USD"))  # noqa: E731
    title = widget["title"] + (f" — {dataset['label']}" if len(data["datasets"]) > 1 else "")
    return bar_chart_markdown(list(zip(short_date_labels(data["labels"]), dataset["data"])), title, fmt)[:4000]
