"""Definitions: every asset, check, job, sensor and resource of the analytics lake.

The resources, and the daily partitions, are made from the validated settings, the only way configuration reaches
the code location and a run: the run's configuration shows in the UI, and a test passes settings (or resources)
instead of patching the environment. Importing this module builds nothing: ``defs`` is the code location that
``dagster dev`` and ``workspace.yaml`` load, built when it is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from analytics_pipeline.dashboards.assets import build_dashboards_asset
from analytics_pipeline.dashboards.definition import dashboard_files, load_dashboards
from analytics_pipeline.ingestion.resource import IngestionResource
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.operations.jobs import build_operations
from analytics_pipeline.platform.automation import ON_LAKE_UPDATE
from analytics_pipeline.platform.keyed_tables import FULL_REFRESH_TAG, bucket_summaries
from analytics_pipeline.platform.lake_policy import LakePolicyResource
from analytics_pipeline.platform.partitions import day_partitions
from analytics_pipeline.platform.table_assets import per_day_marts
from analytics_pipeline.serving.assets import build_warehouse_asset
from analytics_pipeline.serving.resource import WarehouseResource
from analytics_pipeline.serving.warehouse import SMALL_DERIVED_VIEWS
from analytics_pipeline.settings import Settings, absolute_path, load_settings
from analytics_pipeline.sources.conversations.intents import IntentClassifierResource
from analytics_pipeline.sources.conversations.resource import ConversationsResource
from analytics_pipeline.sources.llm_runs.resource import LlmCostsResource
from analytics_pipeline.sources.registry import SOURCE_NAMES, SOURCE_SPECS, all_sources


def _env(name: str, value: str, unset: str | None = None, path: bool = False):
    """``EnvVar(name)`` when ``value`` is the variable's (the UI then shows where it came from); else ``unset`` when
    given and ``value`` is what the resource makes of it (e.g. the lake under the data dir); else ``value``.
    ``path``: the settings hold the variable's path made absolute."""
    text = os.environ.get(name)
    if text and (absolute_path(text) if path else text) == value:
        return dg.EnvVar(name)
    return value if unset is None else unset


def _variable(name: str):
    """A variable that is no setting (a secret, a plugin): ``EnvVar(name)`` when set, else empty."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The run's configuration, by concern, from ``settings``."""
    under_data_dir = {name: absolute_path(str(Path(settings.data_dir) / name)) for name in ("lake", "landing")}
    return {
        "lake": LakeResource(
            data_dir=_env("ANALYTICS_DATA_DIR", settings.data_dir, path=True),
            lake_uri=_env("ANALYTICS_LAKE_URI", settings.lake_uri, path=True,
                          unset="" if settings.lake_uri == under_data_dir["lake"] else None),
            landing_uri=_env("ANALYTICS_LANDING_URI", settings.landing_uri, path=True,
                             unset="" if settings.landing_uri == under_data_dir["landing"] else None),
            s3_endpoint_url=_env("ANALYTICS_S3_ENDPOINT_URL", settings.s3_endpoint_url),
            s3_max_retries=settings.s3_max_retries,
        ),
        "warehouse": WarehouseResource.for_settings(settings, schema_name=_env("ANALYTICS_SCHEMA", settings.schema)),
        "ingestion": IngestionResource.for_settings(
            settings, partitions_start=_env("ANALYTICS_PARTITIONS_START", settings.partitions_start)),
        "lake_policy": LakePolicyResource.for_settings(settings),
        "llm_costs": LlmCostsResource.for_settings(
            settings, model_prices_path=_env("ANALYTICS_MODEL_PRICES", settings.model_prices_path)),
        # the key is a secret: only ever given as the variable, which the UI shows by its name
        "conversations": ConversationsResource.for_settings(settings,
                                                            pseudonym_key=_variable("ANALYTICS_PSEUDONYM_KEY")),
        "intent_classifier": IntentClassifierResource(plugin=_variable("ANALYTICS_INTENT_CLASSIFIER")),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The code location, configured by ``settings`` (the entry points pass theirs; default: the environment's)."""
    settings = settings or load_settings(sources=SOURCE_NAMES)
    sources = all_sources()
    partitions = day_partitions(settings.partitions_start)
    per_source = [source.definitions(partitions) for source in sources]
    lake_assets = [a for source in per_source for a in source.assets]
    # Staging, the model and the training file back no view: their updates do not rebuild the views (a staging run
    # is followed by the merge of its days, which does).
    view_backed = [key for source in sources for key in source.view_backed_keys]
    warehouse = build_warehouse_asset(view_backed, ON_LAKE_UPDATE, SOURCE_SPECS)
    asset_names = {key.to_user_string() for a in lake_assets for key in a.keys}
    dashboards = build_dashboards_asset(load_dashboards(dashboard_files(settings.dashboards_dir)), asset_names,
                                        SOURCE_SPECS, per_day_marts(lake_assets) | SMALL_DERIVED_VIEWS,
                                        bucket_summaries(lake_assets))
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
        resources=resources(settings),
    ))


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of ``dagster dev`` (``workspace.yaml``), configured by the environment's settings; built
    when Dagster loads it, not when the module is imported (the runner and the CLI build their own)."""
    return build_definitions()
