"""Daily partitions keyed by the EVENT day (UTC); ``end_offset=1`` makes today a partition."""

import dagster as dg

from analytics_pipeline.settings import load_settings

event_day_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start, end_offset=1, timezone="UTC"
)
