"""The ``lake_policy`` resource: how fresh each source's data must be, and how long each layer is kept."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from analytics_pipeline.settings import DEFAULT_FRESHNESS_HOURS, FreshnessHours, RetentionRules, Settings


class LakePolicyResource(dg.ConfigurableResource):
    """Freshness limits (ANALYTICS_FRESHNESS_HOURS) and retention periods (ANALYTICS_RETENTION)."""

    freshness_hours: float = Field(default=DEFAULT_FRESHNESS_HOURS, description="How old a source's newest event "
                                   "may be before its freshness check warns (ANALYTICS_FRESHNESS_HOURS).")
    freshness_hours_per_source: dict[str, float] = Field(default_factory=dict, description="The same, per source.")
    retention_days: dict[str, int | None] = Field(default_factory=dict, description="Days to keep per layer or "
                                                  "<source>.<layer> (ANALYTICS_RETENTION); null keeps forever.")

    @classmethod
    def for_settings(cls, settings: Settings) -> LakePolicyResource:
        return cls(freshness_hours=settings.freshness.default,
                   freshness_hours_per_source=dict(settings.freshness.per_source),
                   retention_days=dict(settings.retention.rules))

    def freshness_limit(self, source: str) -> float:
        return FreshnessHours(self.freshness_hours, tuple(self.freshness_hours_per_source.items())).hours(source)

    def retention(self) -> RetentionRules:
        return RetentionRules(tuple(self.retention_days.items()))
