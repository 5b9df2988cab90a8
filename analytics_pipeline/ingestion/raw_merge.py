"""Merge a day's staged batches into its raw partition.

The partition file is rewritten whole (existing rows plus staged rows whose event id it does
not hold yet) and published atomically, then the raw ledger records the rows and version of the
file (lake/raw_ledger.py), then the merged staging files are removed. A run killed before the
removal leaves staging files behind; the next merge finds their rows already present and counts
them as duplicates, so the outcome is the same. A run killed before the ledger entry leaves a day
file the ledger has not seen: the raw accounting counts it from its footer (never a false loss).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from analytics_pipeline.ingestion.figures import RecordFigures
from analytics_pipeline.lake import layout, raw_ledger
from analytics_pipeline.lake.duck import connect, scalar, sql_list
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.storage import StorageRoot


class ConcurrentMergeError(RuntimeError):
    """Another merge replaced the partition while this one was computing; retrying is safe."""


@dataclass
class MergeResult:
    """A day's merge: its figures (records in: the staged rows it read), and the partition it left."""

    source: str
    day: str
    figures: RecordFigures = field(default_factory=RecordFigures)
    partition_rows: int = 0
    data_through: str | None = None


def _publish_single_batch(lake: StorageRoot, staged: str, partition_key: str, result: MergeResult) -> MergeResult:
    """A new day with one staged batch: that file, deduplicated and sorted when it was staged, becomes
    the partition as it is (a rename locally, one server-side copy on S3)."""
    rows, through = _rows_and_latest_event(lake, staged)
    final = lake.path(partition_key)
    if lake.version(partition_key) is not None:  # S3 has no lock: another merge published the day meanwhile
        raise ConcurrentMergeError(f"{partition_key} was published by another merge; retry this one")
    if lake.is_s3:
        lake.fs.copy(staged, final)
        lake.fs.rm(staged)
    else:
        Path(final).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
    result.figures.records_in = result.figures.landed = result.partition_rows = rows
    result.data_through = str(through)
    return result


def _rows_and_latest_event(lake: StorageRoot, path: str):
    """Row count and newest event time of a staged file, from its footer (no DuckDB connection: for a month of
    days, connecting took most of the merges' time)."""
    with lake.fs.open(path, "rb") as stream:
        meta = pq.ParquetFile(stream).metadata
    column = meta.schema.names.index("event_time")
    maxima = [group.column(column).statistics for group in (meta.row_group(n) for n in range(meta.num_row_groups))]
    through = max((s.max for s in maxima if s is not None and s.has_min_max), default=None)
    return meta.num_rows, through


def merge_day(lake: StorageRoot, source: str, day: str, accept_loss: bool = False) -> MergeResult:
    """Merge ``day``'s staged rows into its raw partition, one merge of a partition at a time. ``accept_loss``: the
    raw ledger takes the rows the day holds afterwards as all it must hold (a loss that cannot be taken in again).

    On a local lake the partition's lock makes a second merge of the same day (sensor + manual
    backfill, with or without Dagster's pools) wait and then find the work done. On S3 the
    partition's version is compared once more just before publishing; a merge that lost the race
    raises ``ConcurrentMergeError`` and its Dagster retry merges again.
    """
    partition_key = layout.raw_partition(source, day)
    with lake.exclusive(partition_key):
        result, merged = _merge_day(lake, source, day)
        raw_ledger.record(lake, source, [raw_ledger.day_entry(
            day, result.partition_rows, lake.stored_file(partition_key),
            raw_ledger.ACCEPTED if accept_loss else raw_ledger.MERGED)])
        for path in merged:
            if lake.fs.exists(path):  # a concurrent merge of the same day may have taken it already
                lake.fs.rm(path)
        return result


def _merge_day(lake: StorageRoot, source: str, day: str) -> tuple[MergeResult, list[str]]:
    """The merge, and the staged files it took in (removed once the ledger has the day)."""
    result = MergeResult(source=source, day=day)
    staged = [lake.path(f.key) for f in lake.list_files(layout.staging_day(source, day))
              if f.key.endswith(".parquet")]
    partition_key = layout.raw_partition(source, day)
    version_before = lake.version(partition_key)
    has_partition = version_before is not None
    result.figures.files = len(staged)
    if not staged and not has_partition:
        return result, []
    if len(staged) == 1 and not has_partition:
        return _publish_single_batch(lake, staged[0], partition_key, result), staged
    con = connect(lake)
    try:
        if has_partition:
            con.execute(
                "CREATE TEMP VIEW existing AS SELECT * FROM read_parquet("
                f"{sql_list([lake.path(partition_key)])}, hive_partitioning = false)"
            )
        if not staged:
            result.partition_rows = scalar(con, "SELECT count(*) FROM existing")
            return result, []
        con.execute(
            f"""CREATE TEMP TABLE incoming AS
                SELECT * FROM read_parquet({sql_list(staged)}, union_by_name = true, hive_partitioning = false)"""
        )
        result.figures.records_in = scalar(con, "SELECT count(*) FROM incoming")
        new_rows = """SELECT * FROM incoming QUALIFY row_number() OVER (
                          PARTITION BY event_id ORDER BY source_file, source_line, source_record NULLS FIRST) = 1"""
        if has_partition:
            new_rows = f"SELECT * FROM ({new_rows}) ANTI JOIN existing USING (event_id)"
        con.execute(f"CREATE TEMP TABLE new_rows AS {new_rows}")
        result.figures.landed = scalar(con, "SELECT count(*) FROM new_rows")
        result.figures.duplicates = result.figures.records_in - result.figures.landed
        merged = "SELECT * FROM existing UNION ALL BY NAME SELECT * FROM new_rows" if has_partition else "SELECT * FROM new_rows"
        con.execute(f"CREATE TEMP TABLE merged AS SELECT * FROM ({merged}) ORDER BY event_time, event_id")
        result.partition_rows = scalar(con, "SELECT count(*) FROM merged")
        result.data_through = str(scalar(con, "SELECT max(event_time) FROM merged"))
        if result.figures.landed:
            def unchanged_since_read() -> None:
                if lake.version(partition_key) != version_before:
                    raise ConcurrentMergeError(f"raw/{source} {day} was replaced by another merge; retry this one")

            write_parquet(con, lake, "SELECT * FROM merged", partition_key, before_publish=unchanged_since_read)
    finally:
        con.close()
    return result, staged
