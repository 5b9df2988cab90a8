"""Definitions: every asset, check, job, sensor and resource of the analytics lake."""

from __future__ import annotations

import os

import dagster as dg

from analytics_pipeline.dashboards.assets import build_dashboards_asset
from analytics_pipeline.dashboards.definition import dashboard_files, load_dashboards
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.operations.jobs import build_operations
from analytics_pipeline.platform.automation import ON_LAKE_UPDATE
from analytics_pipeline.platform.keyed_tables import FULL_REFRESH_TAG
from analytics_pipeline.platform.table_assets import per_day_marts
from analytics_pipeline.serving.assets import build_warehouse_asset
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import SMALL_DERIVED_VIEWS
from analytics_pipeline.settings import DEFAULT_SCHEMA, load_settings
from analytics_pipeline.sources.conversations.intents import IntentClassifierResource
from analytics_pipeline.sources.registry import SOURCE_SPECS, all_sources


def _env(name: str, default: str):
    """``EnvVar(name)`` when the variable is set (the UI then shows where it came from), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    sources = all_sources()
    per_source = [source.definitions() for source in sources]
    lake_assets = [a for source in sources for a in source.assets]
    # Staging, the model and the training file back no view: their updates do not rebuild the views (a staging run
    # is followed by the merge of its days, which does).
    view_backed = [key for source in sources for a in source.view_backed for key in a.keys]
    warehouse = build_warehouse_asset(view_backed, ON_LAKE_UPDATE, SOURCE_SPECS)
    asset_names = {key.to_user_string() for a in lake_assets for key in a.keys}
    dashboards = build_dashboards_asset(load_dashboards(dashboard_files(settings.dashboards_dir)), asset_names,
                                        SOURCE_SPECS, per_day_marts(lake_assets) | SMALL_DERIVED_VIEWS)
    whole_lake = dg.AssetSelection.assets(*[a.key for s in sources for a in (*s.lake_tables, *s.follow_ups)],
                                          warehouse.key, *dashboards.keys)
    jobs = [dg.define_asset_job(
        "refresh_job", selection=whole_lake,
        description="Update the whole-lake tables from what changed, then the warehouse views and the dashboards.",
    ), dg.define_asset_job(
        "full_refresh_job", selection=whole_lake, tags={FULL_REFRESH_TAG: "true"},
        description="Rebuild every whole-lake table from the raw layer (after changing a table's logic), then the "
                    "views and dashboards. Daily tables: backfill their days (one run for the whole range).",
    )]
    operations = build_operations(sources)
    automation = dg.AutomationConditionSensorDefinition(
        "lake_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=5,
    )
    return dg.Definitions.merge(*per_source, dg.Definitions(
        # Steps are DuckDB statements that use both cores themselves; a process per step only adds
        # seconds of start-up to every run, which is the landing → queryable latency.
        executor=dg.in_process_executor,
        assets=[warehouse, dashboards],
        asset_checks=operations.checks,
        jobs=[*jobs, *operations.jobs],
        sensors=[automation],
        schedules=operations.schedules,
        resources={
            "lake": LakeResource(
                data_dir=_env("ANALYTICS_DATA_DIR", settings.data_dir),
                lake_uri=_env("ANALYTICS_LAKE_URI", ""),
                landing_uri=_env("ANALYTICS_LANDING_URI", ""),
                s3_endpoint_url=_env("ANALYTICS_S3_ENDPOINT_URL", ""),
            ),
            "intent_classifier": IntentClassifierResource(plugin=_env("ANALYTICS_INTENT_CLASSIFIER", "")),
            "warehouse": WarehouseResource.for_settings(settings, schema_name=_env("ANALYTICS_SCHEMA", DEFAULT_SCHEMA)),
        },
    ))


defs = build_definitions()
