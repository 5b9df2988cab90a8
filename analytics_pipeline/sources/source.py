"""A landing source and everything built on it: what ``sources/<name>/source.py`` declares, and the Dagster
objects every source gets (staging, the raw layer, their jobs and sensors)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg

from analytics_pipeline.ingestion.assets import build_raw_asset, build_staged_asset
from analytics_pipeline.ingestion.sensors import (
    build_landing_sensor,
    build_staged_days_sensor,
)
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.platform.asset_keys import raw_asset_key
from analytics_pipeline.platform.table_assets import TableSpec, build_daily_table

# (days=..., seed=...) → (file name relative to landing/<source>/, bytes) of realistic synthetic data
DemoProducer = Callable[..., Iterator[tuple[str, bytes]]]
# The daily partitions → the source's own jobs over them and their schedules (e.g. a nightly re-run of yesterday).
DailyJobs = Callable[[dg.PartitionsDefinition], tuple[list, list[dg.ScheduleDefinition]]]


@dataclass(frozen=True)
class Source:
    spec: SourceSpec
    demo: DemoProducer
    # Partitioned by event day, recomputed in the same run as that day's raw partition: declared here, built for
    # the daily partitions of the settings (``definitions``), as their first day is a setting.
    daily_tables: list[TableSpec] = field(default_factory=list)
    # Unpartitioned, rebuilt (eagerly) whenever the source's lake tables change.
    lake_tables: list[dg.AssetsDefinition] = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)
    # Assets outside the raw → daily → whole-lake flow (e.g. a trained model), with their own automation.
    other_assets: list[dg.AssetsDefinition] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    # Of other_assets, those computed from the daily assets: refreshed with the whole-lake tables (refresh_job).
    follow_ups: list[dg.AssetsDefinition] = field(default_factory=list)
    daily_jobs: DailyJobs | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def staged(self) -> dg.AssetsDefinition:
        return build_staged_asset(self.spec)

    @property
    def daily_keys(self) -> list[dg.AssetKey]:
        """The daily tables' assets (as they are built for any partitions)."""
        return [dg.AssetKey(table.name) for table in self.daily_tables]

    @property
    def view_backed_keys(self) -> list[dg.AssetKey]:
        """The assets whose tables the warehouse's views read (staging, a model or a training file back none)."""
        return [raw_asset_key(self.name), *self.daily_keys, *[key for a in self.lake_tables for key in a.keys]]

    def definitions(self, partitions: dg.PartitionsDefinition) -> dg.Definitions:
        """The source's assets, schedules and jobs, and its ingest and daily jobs with their sensors; what is
        partitioned by event day (the raw layer, the daily tables, their jobs) has ``partitions``."""
        raw = build_raw_asset(self.spec, partitions)
        daily = [build_daily_table(self.spec, table, partitions) for table in self.daily_tables]
        jobs, schedules = self.daily_jobs(partitions) if self.daily_jobs else ([], [])
        ingest_job = dg.define_asset_job(
            f"{self.name}_ingest_job", selection=[self.staged.key],
            description=f"Take new landing files of {self.name} into staging.",
        )
        daily_job = dg.define_asset_job(
            f"{self.name}_daily_job",
            selection=dg.AssetSelection.assets(raw.key, *[a.key for a in daily]),
            partitions_def=partitions,
            description=f"Merge a day's staged {self.name} rows and recompute that day's partitions downstream.",
        )
        return dg.Definitions(
            assets=[self.staged, raw, *daily, *self.lake_tables, *self.other_assets],
            schedules=[*self.schedules, *schedules], jobs=[*self.jobs, *jobs, ingest_job, daily_job],
            sensors=[build_landing_sensor(self.name, ingest_job), build_staged_days_sensor(self.name, daily_job)],
        )
