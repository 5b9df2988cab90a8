"""Daily partitions keyed by the EVENT day (UTC); ``end_offset=1`` makes today a partition.

A batch touching many days is one run over a partition range (``BackfillPolicy.single_run()`` on every
daily asset): the run's days are ``context.partition_keys``; each day still gets its own materialization,
metadata (``add_asset_metadata(..., partition_key=day)``) and check evaluations (``day_check_results``).
"""

import warnings
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from analytics_pipeline.settings import load_settings

event_day_partitions = dg.DailyPartitionsDefinition(
    start_date=load_settings().partitions_start, end_offset=1, timezone="UTC"
)
ONE_RUN_FOR_ALL_DAYS = dg.BackfillPolicy.single_run()
# The asset decorator's backfill_policy parameter is marked beta; it is what makes a range one run.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


def partitioned_check_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """A check evaluated per event-day partition (so the UI shows which day failed).

    Per-partition checks are a Dagster preview feature; its warning is silenced here, once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=event_day_partitions, description=description)


def day_ranges(days: Iterable[str]) -> list[tuple[str, str]]:
    """Consecutive runs of days as (first, last): ['01', '02', '05'] → [('01', '02'), ('05', '05')]."""
    ranges: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if ranges and date.fromisoformat(day) - date.fromisoformat(ranges[-1][1]) == timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def range_tags(first: str, last: str) -> dict[str, str]:
    """The run tags that make a run of a partitioned job cover the days first..last."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def run_days(tags: dict[str, str]) -> list[str]:
    """The event days a run covers, from its partition or partition-range tags."""
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return days_between(tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG])
    day = tags.get("dagster/partition")
    return [day] if day else []


def day_check_results(context: dg.AssetExecutionContext, results: dict[str, list[dg.AssetCheckResult]]
                      ) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Each day's check results as that day's evaluations, then the check outputs the step owes.

    ``AssetCheckResult`` takes its partition from a one-partition run only; a range run reports evaluations.
    """
    asset = context.assets_def.key
    for day, day_results in results.items():
        for result in day_results:
            yield dg.AssetCheckEvaluation(
                asset_key=asset, check_name=result.check_name, passed=result.passed, severity=result.severity,
                metadata=result.metadata, description=result.description, partition=day)
    for key in context.selected_asset_check_keys:
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
