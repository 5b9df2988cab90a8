"""Definitions: every asset, check, job, sensor and resource of the analytics lake."""

from __future__ import annotations

import os

import dagster as dg

from analytics_pipeline.automation import ON_LAKE_UPDATE
from analytics_pipeline.claims.domain import CLAIMS
from analytics_pipeline.conversations.domain import CONVERSATIONS
from analytics_pipeline.conversations.intents import IntentClassifierResource
from analytics_pipeline.dashboards.assets import build_dashboards_asset
from analytics_pipeline.dashboards.definition import dashboard_files, load_dashboards
from analytics_pipeline.llm_runs.domain import LLM_RUNS
from analytics_pipeline.ingestion.assets import build_raw_asset, build_staged_asset
from analytics_pipeline.ingestion.sensors import build_landing_sensor, build_staged_days_sensor
from analytics_pipeline.keyed_tables import FULL_REFRESH_TAG
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.operations.jobs import build_operations
from analytics_pipeline.partitions import event_day_partitions
from analytics_pipeline.serving.assets import build_warehouse_asset
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import SMALL_DERIVED_VIEWS
from analytics_pipeline.settings import DEFAULT_SCHEMA, load_settings
from analytics_pipeline.table_assets import per_day_marts

DOMAINS = [CLAIMS, LLM_RUNS, CONVERSATIONS]
SOURCE_SPECS = [domain.spec for domain in DOMAINS]


def _env(name: str, default: str):
    """``EnvVar(name)`` when the variable is set (the UI then shows where it came from), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def build_definitions() -> dg.Definitions:
    settings = load_settings()
    lake_assets, lake_tables, jobs, sensors, schedules = [], [], [], [], []
    view_backed, follow_ups = [], []  # assets whose tables the warehouse's views read; assets refreshed after them
    for domain in DOMAINS:
        source = domain.spec.name
        staged, raw = build_staged_asset(domain.spec), build_raw_asset(domain.spec)
        lake_assets += [staged, raw, *domain.daily_assets, *domain.lake_tables, *domain.other_assets]
        jobs += domain.jobs
        lake_tables += domain.lake_tables
        view_backed += [raw, *domain.daily_assets, *domain.lake_tables]
        follow_ups += domain.follow_ups
        schedules += domain.schedules
        ingest_job = dg.define_asset_job(
            f"{source}_ingest_job", selection=[staged.key],
            description=f"Take new landing files of {source} into staging.",
        )
        daily_job = dg.define_asset_job(
            f"{source}_daily_job",
            selection=dg.AssetSelection.assets(raw.key, *[a.key for a in domain.daily_assets]),
            partitions_def=event_day_partitions,
            description=f"Merge a day's staged {source} rows and recompute that day's partitions downstream.",
        )
        jobs += [ingest_job, daily_job]
        sensors += [build_landing_sensor(source, ingest_job), build_staged_days_sensor(source, daily_job)]
    # Staging, the model and the training file back no view: their updates do not rebuild the views (a staging run
    # is followed by the merge of its days, which does).
    warehouse = build_warehouse_asset([key for a in view_backed for key in a.keys], ON_LAKE_UPDATE, SOURCE_SPECS)
    asset_names = {key.to_user_string() for a in lake_assets for key in a.keys}
    dashboards = build_dashboards_asset(load_dashboards(dashboard_files(settings.dashboards_dir)), asset_names,
                                        SOURCE_SPECS, per_day_marts(lake_assets) | SMALL_DERIVED_VIEWS)
    whole_lake = dg.AssetSelection.assets(*[t.key for t in lake_tables], *[a.key for a in follow_ups], warehouse.key,
                                          *dashboards.keys)
    jobs.append(dg.define_asset_job(
        "refresh_job", selection=whole_lake,
        description="Update the whole-lake tables from what changed, then the warehouse views and the dashboards.",
    ))
    jobs.append(dg.define_asset_job(
        "full_refresh_job", selection=whole_lake, tags={FULL_REFRESH_TAG: "true"},
        description="Rebuild every whole-lake table from the raw layer (after changing a table's logic), then the "
                    "views and dashboards. Daily tables: backfill their days (one run for the whole range).",
    ))
    operations = build_operations(DOMAINS)
    jobs += operations.jobs
    schedules += operations.schedules
    sensors.append(
        dg.AutomationConditionSensorDefinition(
            "lake_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=5,
        )
    )
    return dg.Definitions(
        # Steps are DuckDB statements that use both cores themselves; a process per step only adds
        # seconds of start-up to every run, which is the landing → queryable latency.
        executor=dg.in_process_executor,
        assets=[*lake_assets, warehouse, dashboards],
        asset_checks=operations.checks,
        jobs=jobs,
        sensors=sensors,
        schedules=schedules,
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
    )


defs = build_definitions()
