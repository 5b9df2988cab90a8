"""Does the raw layer still hold every record the lake recorded as landed?

The raw ledger (lake/raw_ledger.py) says what each event day must hold: the rows its merges wrote (retention
records the days it removed), with the version of the file that holds them. A partition file deleted or
replaced by hand (after a corruption, say) would otherwise go unnoticed: the next run succeeds with its records
gone. This compares the ledger with one listing of the raw day files; a day whose file is still the version the
ledger recorded holds its rows, and only the footers of the other days are read (no data is read). The hourly
check reads every day's footer.

A day file the ledger has no entry for (a lake older than the ledger, or a run killed between a merge's publish
and its ledger entry), or one replaced by a file holding at least the day's rows, is adopted: the ledger records
it from its footer. A lake's first accounting also takes, once, the rows the Dagster instance recorded for days
the ledger does not know (so a day lost before the ledger existed is still named, when the instance is there).

Recovery (docs/operations.md, "A lost raw partition"): ``analytics-pipeline reingest <source>`` forgets which
landing files the source took in, and the next ``run`` reads them all again: the lost day's records land, every
other record is counted as a duplicate.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.lake import layout, raw_ledger
from analytics_pipeline.lake.storage import StorageRoot, StoredFile
from analytics_pipeline.lake.tables import day_files
from analytics_pipeline.operations.compaction import compact, plan_compaction
from analytics_pipeline.platform.asset_keys import raw_asset_key

_PAGE = 1000
_READERS = 16
# Every merge writes a ledger file: the accounting folds a month's files once there are this many (as compaction
# does every hour under `dev`), so what a run reads stays small without a compaction run (300 files took 0.16 s
# locally, one 0.016 s).
LEDGER_FOLD_FILES = 16


@dataclass(frozen=True)
class MissingRows:
    day: str
    recorded: int  # rows the day must hold
    found: int  # rows the partition holds now (0 when its file is gone or unreadable)


@dataclass(frozen=True)
class Accounting:
    days_checked: int  # days that must hold rows, or have a file
    missing: list[MissingRows]
    footers_read: int  # day files whose footer was read (the cost: the rest were the version recorded)
    adopted: int  # day files the ledger now records from their footers


def account(lake: StorageRoot, source: str, instance: dg.DagsterInstance | None = None,
            every_footer: bool = False) -> Accounting:
    """Compare the source's raw ledger with its day files; ``every_footer`` reads each file's footer, not only
    those of files missing or changed since the ledger recorded them."""
    for group in plan_compaction(lake, [source], min_files=LEDGER_FOLD_FILES, layers=(layout.LEDGER,)):
        compact(lake, group)
    files = day_files(lake, f"raw/{source}")
    entries = raw_ledger.entries(lake, source)
    if not raw_ledger.is_seeded(entries):
        entries += _seed(lake, source, entries, files, instance)
    accounts = raw_ledger.day_accounts(entries)
    due = {day for day, a in accounts.items() if a.rows > 0} | set(files)
    unchanged = {day for day in files if day in accounts and accounts[day].file_version == files[day].version}
    read = sorted(set(files) if every_footer else set(files) - unchanged)
    found = footer_rows(lake, files, read)
    found.update({day: accounts[day].rows for day in unchanged if day not in found})
    missing = [MissingRows(day, accounts[day].rows, found.get(day) or 0) for day in sorted(due)
               if day in accounts and (found.get(day) or 0) < accounts[day].rows]
    # a file found holding at least the day's rows, that the ledger does not know as it is now
    adopt = [raw_ledger.day_entry(day, found[day], files[day], raw_ledger.ADOPTED) for day in sorted(files)
             if found.get(day) is not None and day not in unchanged
             and found[day] >= (accounts[day].rows if day in accounts else 0)]
    raw_ledger.record(lake, source, adopt)
    return Accounting(len(due), missing, len(read), len(adopt))


def _seed(lake: StorageRoot, source: str, known: list[raw_ledger.LedgerEntry], files: dict[str, StoredFile],
          instance: dg.DagsterInstance | None) -> list[raw_ledger.LedgerEntry]:
    """The first accounting of a lake: the rows Dagster recorded for days the ledger does not know (as ``dagster``
    entries of their time), and the marker that this was done. Nothing when there is nothing to account."""
    days = {e.day for e in known}
    recorded = recorded_rows(instance, raw_asset_key(source)) if instance is not None else {}
    seed = [raw_ledger.LedgerEntry(day, rows, None, raw_ledger.DAGSTER, at)
            for day, (rows, at) in sorted(recorded.items()) if rows > 0 and day not in days]
    if not (known or files or seed):
        return []
    seed.append(raw_ledger.LedgerEntry(None, 0, None, raw_ledger.SEEDED, raw_ledger.utc_now()))
    raw_ledger.record(lake, source, seed)
    return seed


def recorded_rows(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dict[str, tuple[int, datetime]]:
    """Event day → (rows, time) of its latest materialization (days without a row count are left out)."""
    recorded: dict[str, tuple[int, datetime] | None] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset_key), limit=_PAGE,
                                               cursor=cursor, ascending=False)
        for record in page.records:
            materialization = record.asset_materialization
            day = materialization.partition if materialization else None
            if day and day not in recorded:
                rows = materialization.metadata.get("dagster/row_count")
                recorded[day] = None if rows is None else (int(rows.value), _utc(record.timestamp))
        if not page.has_more:
            break
        cursor = page.cursor
    return {day: found for day, found in recorded.items() if found is not None}


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)


def footer_rows(lake: StorageRoot, files: dict[str, StoredFile], days: list[str]) -> dict[str, int | None]:
    """Day → rows in its file's footer; 0 for a day without a file, None for a file no reader can open (truncated,
    corrupt). Read side by side: on S3 each footer is a request or two."""
    def rows_found(day: str) -> int | None:
        if day not in files:
            return 0
        try:
            with lake.fs.open(lake.path(files[day].key), "rb") as handle:
                return pq.read_metadata(handle).num_rows
        except FileNotFoundError:  # removed since the listing
            return 0
        except (OSError, pa.ArrowException):
            return None

    if not days:
        return {}
    with ThreadPoolExecutor(max_workers=min(_READERS, len(days))) as pool:
        return dict(zip(days, pool.map(rows_found, days)))


def missing_rows(lake: StorageRoot, source: str, recorded: dict[str, int]) -> list[MissingRows]:
    """Days whose raw partition is gone, unreadable or holds fewer rows than ``recorded`` (every footer read)."""
    days = sorted(day for day, rows in recorded.items() if rows > 0)
    found = footer_rows(lake, day_files(lake, f"raw/{source}"), days)
    return [MissingRows(day, recorded[day], found[day] or 0) for day in days if (found[day] or 0) < recorded[day]]


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
