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
from analytics_pipeline.platform.partitions import event_day_partitions

# (days=..., seed=...) → (file name relative to landing/<source>/, bytes) of realistic synthetic data
DemoProducer = Callable[..., Iterator[tuple[str, bytes]]]


@dataclass(frozen=True)
class Source:
    spec: SourceSpec
    demo: DemoProducer
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

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def staged(self) -> dg.AssetsDefinition:
        return build_staged_asset(self.spec)

    @cached_property
    def raw(self) -> dg.AssetsDefinition:
        return build_raw_asset(self.spec)

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        return [self.staged, self.raw, *self.daily_assets, *self.lake_tables, *self.other_assets]

    @property
    def view_backed(self) -> list[dg.AssetsDefinition]:
        """The assets whose tables the warehouse's views read (staging, a model or a training file back none)."""
        return [self.raw, *self.daily_assets, *self.lake_tables]

    def definitions(self) -> dg.Definitions:
        """The source's own assets, schedules and jobs, and its ingest and daily jobs with their sensors."""
        ingest_job = dg.define_asset_job(
            f"{self.name}_ingest_job", selection=[self.staged.key],
            description=f"Take new landing files of {self.name} into staging.",
        )
        daily_job = dg.define_asset_job(
            f"{self.name}_daily_job",
            selection=dg.AssetSelection.assets(self.raw.key, *[a.key for a in self.daily_assets]),
            partitions_def=event_day_partitions,
            description=f"Merge a day's staged {self.name} rows and recompute that day's partitions downstream.",
        )
        return dg.Definitions(
            assets=self.assets, schedules=self.schedules, jobs=[*self.jobs, ingest_job, daily_job],
            sensors=[build_landing_sensor(self.name, ingest_job), build_staged_days_sensor(self.name, daily_job)],
        )
