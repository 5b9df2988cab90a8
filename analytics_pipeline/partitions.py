"""Daily partitions keyed by the EVENT day (UTC); ``end_offset=1`` makes today a partition."""

import warnings

import dagster as dg

from analytics_pipeline.settings import load_settings

event_day_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start, end_offset=1, timezone="UTC"
)


def partitioned_check_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """A check evaluated per event-day partition (so the UI shows which day failed).

    Per-partition checks are a Dagster preview feature; its warning is silenced here, once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=event_day_partitions, description=description)
