"""Does the raw layer still hold every record Dagster recorded as landed?

Each merge records its day's partition rows (``dagster/row_count`` of the ``raw_<source>`` partition); retention
records 0 for the days it deletes. A partition file deleted or replaced by hand (after a corruption, say) would
otherwise go unnoticed: the next run succeeds with its records gone. This compares, per event day, the rows of
the latest materialization with the rows in the partition's Parquet footer (no data is read).

Recovery (docs/operations.md, "A lost raw partition"): ``analytics-pipeline reingest <source>`` forgets which
landing files the source took in, and the next ``run`` reads them all again: the lost day's records land, every
other record is counted as a duplicate.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import day_files

_PAGE = 1000
_READERS = 16


@dataclass(frozen=True)
class MissingRows:
    day: str
    recorded: int  # rows the latest materialization of the day recorded
    found: int  # rows the partition holds now (0 when its file is gone)


def recorded_rows(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dict[str, int]:
    """Event day → rows its latest materialization recorded (days without a row count are left out)."""
    recorded: dict[str, int | None] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset_key), limit=_PAGE,
                                               cursor=cursor, ascending=False)
        for record in page.records:
            materialization = record.asset_materialization
            day = materialization.partition if materialization else None
            if day and day not in recorded:
                rows = materialization.metadata.get("dagster/row_count")
                recorded[day] = int(rows.value) if rows is not None else None
        if not page.has_more:
            break
        cursor = page.cursor
    return {day: rows for day, rows in recorded.items() if rows is not None}


def missing_rows(lake: StorageRoot, source: str, recorded: dict[str, int]) -> list[MissingRows]:
    """Days whose raw partition is gone, unreadable or holds fewer rows than recorded. The footers are read side
    by side (on S3 each is a request or two: a year of days would take most of a minute one after another)."""
    files = day_files(lake, f"raw/{source}")

    def rows_found(day: str) -> int:
        if day not in files:
            return 0
        try:
            with lake.fs.open(lake.path(files[day].key), "rb") as handle:
                return pq.read_metadata(handle).num_rows
        except (OSError, pa.ArrowException):  # a truncated or corrupt file holds none of its rows for a reader
            return 0

    days = sorted(day for day, rows in recorded.items() if rows > 0)
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        found = dict(zip(days, pool.map(rows_found, days)))
    return [MissingRows(day, recorded[day], found[day]) for day in days if found[day] < recorded[day]]


def accounting_result(check_name: str, source: str, missing: list[MissingRows], days: int) -> dg.AssetCheckResult:
    lost = sum(m.recorded - m.found for m in missing)
    return dg.AssetCheckResult(
        check_name=check_name, passed=not missing, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"days_checked": days, "days_short": len(missing), "rows_missing": lost,
                  "short_days": dg.MetadataValue.json([m.__dict__ for m in missing[:50]])},
        description=(f"every one of {days} landed days holds its rows" if not missing else
                     f"{len(missing)} event days of {source} hold {lost:,} rows fewer than were landed "
                     f"({', '.join(m.day for m in missing[:5])}{', ...' if len(missing) > 5 else ''}): "
                     f"`analytics-pipeline reingest {source}`, then `run`, takes their landing files in again"),
    )
