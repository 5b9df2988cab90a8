"""Retention per layer and source: what is older than its period, listed first, deleted only on request.

Layers (see ``settings.RetentionRules``):
- ``landing``: landing files the lake has taken in (the manifest holds their key and version),
  by modification day. A file not taken in yet is never deleted. The manifests stay, so the
  landing sensor still knows the file was taken, and the lake keeps every row it produced.
- ``raw``: event-day partitions, together with the partitions the source's daily assets computed
  from them (daily marts, ``llm_model_usage``, ``intents``), so no derived day outlives its data. The raw
  ledger records each removed day, so the raw accounting does not count it as lost.
- ``errors``: quarantined records, by the day they were quarantined (a batch file's modification
  day, or the day in a compacted file's name).

A day is deleted when it is older than its period: ``day < today - days``. The plan records each
file's version (ETag, or size and modification time); applying lists the folders again and deletes
a file only if it is still that version, so a partition replaced by a merge after the listing is
kept (and listed again by the next run).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from analytics_pipeline.ingestion.manifest import file_marker, manifest_rows
from analytics_pipeline.lake import layout, raw_ledger
from analytics_pipeline.lake.duck import connect, sql_list
from analytics_pipeline.lake.storage import StorageRoot, StoredFile
from analytics_pipeline.operations.compaction import file_bucket
from analytics_pipeline.settings import RETENTION_LAYERS, RetentionRules


@dataclass(frozen=True)
class Deletion:
    """One line of the report: the files of one layer, source and day that are past their period."""

    layer: str  # landing | raw | errors | <layer>/<daily table>
    source: str
    day: str
    keys: tuple[tuple[str, str], ...]  # (key under its root, version when listed)
    bytes: int
    rows: int

    @property
    def root(self) -> str:
        return "landing" if self.layer == "landing" else "lake"


@dataclass
class RetentionReport:
    rules: str
    today: str
    deletions: list[Deletion] = field(default_factory=list)
    applied: bool = False
    kept_changed: list[str] = field(default_factory=list)  # listed, but replaced before deletion

    @property
    def files(self) -> int:
        return sum(len(d.keys) for d in self.deletions)

    @property
    def bytes(self) -> int:
        return sum(d.bytes for d in self.deletions)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.deletions)

    @property
    def lake_changed(self) -> bool:
        """Lake files were deleted: the views and whole-lake tables need a rebuild."""
        return self.applied and any(d.root == "lake" for d in self.deletions)

    def rows_for_table(self) -> list[tuple]:
        return [(d.layer, d.source, d.day, len(d.keys), d.bytes, d.rows) for d in self.deletions]


def plan_retention(
    lake: StorageRoot, landing: StorageRoot, rules: RetentionRules, sources: dict[str, list[str]],
    today: date | None = None,
) -> RetentionReport:
    """What the rules delete today. ``sources``: source → its daily tables (derived per event day)."""
    today = today or datetime.now(timezone.utc).date()
    report = RetentionReport(rules=rules.describe(), today=today.isoformat())
    derived: list[StoredFile] | None = None  # every processed and mart file, listed once
    con = connect(lake)  # reads the Parquet footers of every listed day
    try:
        for source, daily_tables in sources.items():
            cutoff = {layer: _cutoff(today, rules.days(source, layer)) for layer in RETENTION_LAYERS}
            if cutoff["raw"]:
                if derived is None:
                    derived = [f for layer in ("processed", "marts") for f in lake.list_files(layer)]
                report.deletions += _raw_days(con, lake, source, daily_tables, derived, cutoff["raw"])
            if cutoff["errors"]:
                report.deletions += _quarantine_days(con, lake, source, cutoff["errors"])
            if cutoff["landing"]:
                report.deletions += _landing_days(lake, landing, source, cutoff["landing"])
    finally:
        con.close()
    return report


def apply_retention(lake: StorageRoot, landing: StorageRoot, report: RetentionReport) -> RetentionReport:
    """Delete what ``report`` lists, file by file, each only if it is still the version listed. The raw days go
    into the raw ledger as removed first (a kill before the deletion leaves a day file the ledger says is gone:
    the accounting counts it again, no false loss; the other order would leave a loss the ledger expects)."""
    roots = {"lake": lake, "landing": landing}
    listed: dict[tuple[str, str], dict[str, str]] = {}  # (root, folder) → key → version now
    doomed: list[tuple[Deletion, str]] = []
    for deletion in report.deletions:
        root = roots[deletion.root]
        for key, version in deletion.keys:
            folder = key.rsplit("/", 1)[0]
            if (deletion.root, folder) not in listed:
                listed[(deletion.root, folder)] = {f.key: file_marker(f) for f in root.list_files(folder)}
            if listed[(deletion.root, folder)].get(key) != version:
                report.kept_changed.append(key)
            else:
                doomed.append((deletion, key))
    kept = set(report.kept_changed)
    raw_days = sorted({(d.source, d.day) for d in report.deletions
                       if d.layer == "raw" and not any(key in kept for key, _ in d.keys)})
    for source in sorted({source for source, _ in raw_days}):
        raw_ledger.record(lake, source, [raw_ledger.day_entry(day, 0, None, raw_ledger.RETENTION)
                                         for s, day in raw_days if s == source])
    for deletion, key in doomed:
        root = roots[deletion.root]
        root.delete(key)
        _remove_empty_folder(root, key)
    report.applied = True
    return report


def _cutoff(today: date, days: int | None) -> str | None:
    """Days before this one (ISO) are past the period; None keeps everything."""
    return None if days is None else (today - timedelta(days=days)).isoformat()


def _by_day(files: list[StoredFile], day_of) -> dict[str, list[StoredFile]]:
    grouped: dict[str, list[StoredFile]] = defaultdict(list)
    for f in files:
        grouped[day_of(f)].append(f)
    return grouped


def _raw_days(
    con: duckdb.DuckDBPyConnection, lake: StorageRoot, source: str, daily_tables: list[str],
    derived: list[StoredFile], cutoff: str,
) -> list[Deletion]:
    """The source's raw days before ``cutoff``, and the same days of its daily tables."""
    raw = [("raw", f) for f in lake.list_files(f"raw/{source}")]
    ours = [("/".join(f.key.split("/")[:2]), f) for f in derived if f.key.split("/")[1] in daily_tables]
    grouped: dict[tuple[str, str], list[StoredFile]] = defaultdict(list)
    for layer, f in raw + ours:
        day = layout.partition_day(f.key)
        if f.key.endswith(".parquet") and day and day < cutoff:
            grouped[(layer, day)].append(f)
    order = ["raw"] + [f"{layer}/{table}" for table in daily_tables for layer in ("processed", "marts")]
    deletions = _lost_days(lake, source, cutoff, {day for layer, day in grouped if layer == "raw"}) + [
        _parquet_deletion(con, lake, layer, source, day, files) for (layer, day), files in grouped.items()]
    return sorted(deletions, key=lambda d: (order.index(d.layer), d.day))


def _lost_days(lake: StorageRoot, source: str, cutoff: str, listed: set[str]) -> list[Deletion]:
    """Days before ``cutoff`` the raw ledger expects rows of but that have no file (lost, and never taken in again):
    past their period all the same, so retention records them as removed (no file to delete) and the raw
    accounting stops naming them."""
    accounts = raw_ledger.day_accounts(raw_ledger.entries(lake, source))
    return [Deletion("raw", source, day, (), 0, 0) for day, account in sorted(accounts.items())
            if account.rows > 0 and day < cutoff and day not in listed]


def _quarantine_days(con: duckdb.DuckDBPyConnection, lake: StorageRoot, source: str, cutoff: str) -> list[Deletion]:
    errors = [f for f in lake.list_files(f"errors/{source}") if f.key.endswith(".parquet")]
    return [
        _parquet_deletion(con, lake, "errors", source, day, files)
        for day, files in sorted(_by_day(errors, lambda f: file_bucket(f, "day")).items()) if day < cutoff
    ]


def _landing_days(lake: StorageRoot, landing: StorageRoot, source: str, cutoff: str) -> list[Deletion]:
    taken: dict[tuple[str, str], int] = {}
    for key, etag, size, mtime, records_in in manifest_rows(lake, source, "file, etag, size, mtime, records_in"):
        taken[(key, file_marker(StoredFile(key, size, mtime, etag or "")))] = int(records_in or 0)
    old = [f for f in landing.list_files(source)
           if (f.key, file_marker(f)) in taken and _utc_day(f.mtime) < cutoff]
    return [
        Deletion("landing", source, day, tuple((f.key, file_marker(f)) for f in files),
                 sum(f.size for f in files), sum(taken[(f.key, file_marker(f))] for f in files))
        for day, files in sorted(_by_day(old, lambda f: _utc_day(f.mtime)).items())
    ]


def _parquet_deletion(
    con: duckdb.DuckDBPyConnection, lake: StorageRoot, layer: str, source: str, day: str, files: list[StoredFile]
) -> Deletion:
    return Deletion(layer, source, day, tuple((f.key, file_marker(f)) for f in files),
                    sum(f.size for f in files), _parquet_rows(con, lake, files))


def _parquet_rows(con: duckdb.DuckDBPyConnection, lake: StorageRoot, files: list[StoredFile]) -> int:
    """Rows from the files' footers (no data is read)."""
    paths = sql_list([lake.path(f.key) for f in files])
    rows = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({paths})").fetchall()
    return int(rows[0][0] or 0)


def _utc_day(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, timezone.utc).date().isoformat()


def _remove_empty_folder(root: StorageRoot, key: str) -> None:
    """A local partition folder left empty goes too (S3 has no folders)."""
    if root.is_s3:
        return
    folder = Path(root.path(key)).parent
    try:
        folder.rmdir()
    except OSError:
        pass
