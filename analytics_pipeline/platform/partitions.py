"""Daily partitions keyed by the EVENT day (UTC); ``end_offset=1`` makes today a partition.

Their first day is a setting (``partitions_start``): the definitions build them from the settings they are given
(``day_partitions(settings.partitions_start)``), never when this module is imported.

A batch touching many days is one run over a partition range (``BackfillPolicy.single_run()`` on every
daily asset): the run's days are ``context.partition_keys``; each day still gets its own materialization,
metadata (``add_asset_metadata(..., partition_key=day)``) and check evaluations (``day_check_results``).
"""

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from functools import cache

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)


@cache
def day_partitions(start: str) -> dg.DailyPartitionsDefinition:
    """The event days from ``start`` (``YYYY-MM-DD``, the settings' ``partitions_start``) to today."""
    return dg.DailyPartitionsDefinition(start_date=start, end_offset=1, timezone="UTC")


ONE_RUN_FOR_ALL_DAYS = dg.BackfillPolicy.single_run()


@contextmanager
def one_run_for_all_days() -> Iterator[None]:
    """Around the making of a daily asset with ``ONE_RUN_FOR_ALL_DAYS``: the asset decorator's backfill_policy
    parameter is marked beta (it is what makes a range one run); its warning is silenced there only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        yield


def partitioned_check_spec(name: str, asset: str | dg.AssetKey, description: str | None,
                           partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    """A check evaluated per event-day partition (so the UI shows which day failed).

    Per-partition checks are a Dagster preview feature; its warning is silenced here, once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.AssetCheckSpec(name, asset=asset, partitions_def=partitions, description=description)


def per_day(check: dg.AssetCheckSpec, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    """``check`` (a daily table's, declared without partitions) evaluated per partition of ``partitions``."""
    return partitioned_check_spec(check.name, check.asset_key, check.description, partitions)


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
