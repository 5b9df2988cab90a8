"""The raw ledger: what the lake itself recorded about every raw day it published or removed.

Each merge of a raw day appends an entry right after it publishes the day's file: the rows the file holds and
the file's version (ETag, or size and mtime, as a listing shows it). Retention appends one (no rows) before it
deletes a day. Entries are small Parquet files under ``ledger/<source>/``, each written whole by one writer
(like the manifests), so merges of different days, in other processes or on other machines, never meet;
compaction folds them by month. ``operations/raw_accounting.py`` compares the ledger with the raw day files.

A day's entries, in the order they were recorded, say what the day must hold now:
- ``merged`` (a merge, also one that found nothing staged: a failed run retried, a full refresh): at least as
  many rows as before and as the merge wrote. A merge never removes rows, so a day that lost rows stays short
  until it holds as many as it did again (the ledger counts rows, not event ids: new records merged into a short
  day can hide as many lost ones);
- ``accepted`` (a merge asked to accept the day as it is: ``accept_loss``, for a loss that cannot be taken in
  again), ``adopted`` (a day file the ledger had no entry for, or a replaced file holding at least the day's
  rows, counted from its footer), ``retention``: exactly their rows;
- ``dagster``: rows the Dagster instance recorded for a day, taken once when a lake older than the ledger is first
  accounted (``seeded`` marks that this was done).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.storage import StorageRoot, StoredFile

MERGED, ACCEPTED, ADOPTED, RETENTION, DAGSTER, SEEDED = (
    "merged", "accepted", "adopted", "retention", "dagster", "seeded")
_AT_LEAST = {MERGED, DAGSTER}  # the others set the day's rows
SCHEMA = pa.schema([("event_date", pa.string()), ("rows", pa.int64()), ("file_version", pa.string()),
                    ("recorded_by", pa.string()), ("recorded_at", pa.timestamp("us"))])
_READERS = 16


@dataclass(frozen=True)
class LedgerEntry:
    day: str | None  # None on the ``seeded`` marker
    rows: int
    file_version: str | None  # the version of the file holding ``rows``; None when no file holds the day
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class DayAccount:
    rows: int  # rows the day must hold
    file_version: str | None  # the file version known to hold them (None: no file is known to)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def day_entry(day: str, rows: int, file: StoredFile | None, recorded_by: str) -> LedgerEntry:
    return LedgerEntry(day, rows, file.version if file else None, recorded_by, utc_now())


def record(lake: StorageRoot, source: str, entries: list[LedgerEntry]) -> None:
    """Append ``entries`` to the source's ledger: one new file, published whole."""
    if not entries:
        return
    table = pa.table({
        "event_date": [e.day for e in entries], "rows": [e.rows for e in entries],
        "file_version": [e.file_version for e in entries], "recorded_by": [e.recorded_by for e in entries],
        "recorded_at": [e.recorded_at for e in entries]}, schema=SCHEMA)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    lake.write_bytes(buffer.getvalue().to_pybytes(), layout.ledger_file(source, uuid.uuid4().hex[:16]))


class LedgerUnreadable(RuntimeError):
    """A ledger file no reader can open."""


def entries(lake: StorageRoot, source: str) -> list[LedgerEntry]:
    """Every entry of the source's ledger. A file listed and then folded away by compaction is read again from
    a new listing (its entries are in the compacted file by then)."""
    for attempt in range(3):
        keys = [f.key for f in lake.list_files(f"{layout.LEDGER}/{source}") if f.key.endswith(".parquet")]
        try:
            with ThreadPoolExecutor(max_workers=_READERS) as pool:  # on S3 each file is a request
                tables = list(pool.map(lambda key: _read(lake, key), keys))
        except FileNotFoundError:
            if attempt == 2:
                raise
            continue
        rows = [row for table in tables for row in table.to_pylist()]
        return [LedgerEntry(r["event_date"], int(r["rows"]), r["file_version"], r["recorded_by"], r["recorded_at"])
                for r in rows]
    return []


def _read(lake: StorageRoot, key: str) -> pa.Table:
    data = lake.read_bytes(key)
    try:
        return pq.read_table(pa.BufferReader(data), schema=SCHEMA)
    except pa.ArrowException as err:
        raise LedgerUnreadable(
            f"{key}: {err} (a ledger file of the raw layer): move it aside; the next accounting counts the days "
            "it recorded from their files again") from err


def is_seeded(found: list[LedgerEntry]) -> bool:
    return any(e.recorded_by == SEEDED for e in found)


def day_accounts(found: list[LedgerEntry]) -> dict[str, DayAccount]:
    """Day → what it must hold, from its entries in the order they were recorded."""
    accounts: dict[str, DayAccount] = {}
    for e in sorted((e for e in found if e.day), key=lambda e: e.recorded_at):
        before = accounts.get(e.day, DayAccount(0, None))
        if e.recorded_by in _AT_LEAST and e.rows < before.rows:  # a merge into a short day: it stays short
            accounts[e.day] = DayAccount(before.rows, None)
        else:
            accounts[e.day] = DayAccount(e.rows, e.file_version)
    return accounts
