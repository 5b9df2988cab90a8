"""A source domain: one landing source and the Dagster objects built on its raw layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from analytics_pipeline.ingestion.source_spec import SourceSpec


@dataclass(frozen=True)
class SourceDomain:
    spec: SourceSpec
    # Partitioned by event day, recomputed in the same run as that day's raw partition.
    daily_assets: list[dg.AssetsDefinition] = field(default_factory=list)
    # Unpartitioned, rebuilt (eagerly) whenever the source's lake tables change.
    lake_tables: list[dg.AssetsDefinition] = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    # Assets outside the raw → daily → whole-lake flow (e.g. a trained model), with their own automation.
    other_assets: list[dg.AssetsDefinition] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    # Of other_assets, those computed from the daily assets: refreshed with the whole-lake tables (refresh_job).
    follow_ups: list[dg.AssetsDefinition] = field(default_factory=list)
