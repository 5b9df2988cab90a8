"""Small-file compaction: the per-batch files of ``errors/`` and ``manifests/``, and the per-merge entries of the
raw ``ledger/``, rewritten into few files.

Every staging batch writes one quarantine file and one manifest file, and the landing sensor reads
every manifest on every tick; every raw merge writes one ledger file, and every ``run`` reads the
ledger. Those folders are where small files pile up (raw, processed and mart partitions are one
file each by construction: the per-day merge rewrites the whole file, and compaction never touches
them, so the ledger's file versions stay true).

Files are grouped into buckets — the day they were written for quarantine files (so retention can
still drop whole days), the month for manifests — and a bucket holding at least ``min_files`` small
files is rewritten into ``compacted-<bucket>-<digest>.parquet`` files of up to ``target_bytes``.
The new file is published atomically first, then the files it replaces are deleted, each only if
it is still the version that was read (a staging run that rewrites a batch file meanwhile keeps its
file; the next compaction merges it). Exact duplicate rows are written once, and the
``ingest_errors`` / ``ingested_files`` views read each (batch, file, line, record) once, so queries
see the same rows before, during and after a compaction.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from analytics_pipeline.ingestion.manifest import file_marker
from analytics_pipeline.lake.duck import connect, scalar, sql_list
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.storage import StorageRoot, StoredFile

COMPACTED_PREFIX = "compacted-"
# layer → bucket size: quarantine by day (retention works in days), manifests and ledger entries by month
LAYERS = {"errors": "day", "manifests": "month", "ledger": "month"}
MIN_FILES = 4
SMALL_FILE_BYTES = 32 * 1024 * 1024
TARGET_FILE_BYTES = 128 * 1024 * 1024
_COMPACTED = re.compile(rf"^{COMPACTED_PREFIX}(\d{{4}}-\d{{2}}(?:-\d{{2}})?)-[0-9a-f]+\.parquet$")


@dataclass(frozen=True)
class CompactionGroup:
    """Small files of one layer, source and bucket that become one compacted file."""

    layer: str
    source: str
    bucket: str
    inputs: tuple[StoredFile, ...]

    @property
    def output_key(self) -> str:
        digest = hashlib.sha256("\n".join(f.key for f in self.inputs).encode()).hexdigest()[:16]
        return f"{self.layer}/{self.source}/{COMPACTED_PREFIX}{self.bucket}-{digest}.parquet"


@dataclass(frozen=True)
class CompactionResult:
    layer: str
    source: str
    bucket: str
    files_in: int
    bytes_in: int
    rows_in: int
    output: str
    bytes_out: int
    rows_out: int
    kept_changed: int  # inputs rewritten while compacting: left in place for the next run


def file_bucket(f: StoredFile, size: str) -> str:
    """The day (``YYYY-MM-DD``) or month (``YYYY-MM``) a file belongs to: a compacted file's own, or
    the UTC day its batch was written."""
    found = _COMPACTED.match(f.key.rsplit("/", 1)[-1])
    day = found.group(1) if found else datetime.fromtimestamp(f.mtime, timezone.utc).date().isoformat()
    return day[:7] if size == "month" else day


def plan_compaction(
    lake: StorageRoot, sources: list[str], min_files: int = MIN_FILES,
    small_file_bytes: int = SMALL_FILE_BYTES, target_bytes: int = TARGET_FILE_BYTES,
    layers: tuple[str, ...] = tuple(LAYERS),
) -> list[CompactionGroup]:
    """The groups of small files to compact, of ``layers`` (every layer compaction knows by default)."""
    groups = []
    for layer, bucket_size in ((layer, LAYERS[layer]) for layer in layers):
        for source in sources:
            small = [f for f in lake.list_files(f"{layer}/{source}")
                     if f.key.endswith(".parquet") and f.size < small_file_bytes]
            buckets: dict[str, list[StoredFile]] = defaultdict(list)
            for f in small:
                buckets[file_bucket(f, bucket_size)].append(f)
            for bucket, files in sorted(buckets.items()):
                if len(files) >= min_files:
                    groups += [CompactionGroup(layer, source, bucket, tuple(chunk))
                               for chunk in _chunks(files, target_bytes) if len(chunk) > 1]
    return groups


def compact(lake: StorageRoot, group: CompactionGroup) -> CompactionResult:
    """Write the group's rows (each distinct row once) as one file, then delete the inputs still unchanged."""
    paths = sql_list([lake.path(f.key) for f in group.inputs])
    con = connect(lake)
    try:
        rows_in = int(scalar(con, f"SELECT sum(num_rows) FROM parquet_file_metadata({paths})") or 0)
        rows_out = write_parquet(
            con, lake,
            f"SELECT DISTINCT * FROM read_parquet({paths}, union_by_name = true, hive_partitioning = false) ORDER BY ALL",
            group.output_key,
        )
    finally:
        con.close()
    current = {f.key: file_marker(f) for f in lake.list_files(f"{group.layer}/{group.source}")}
    kept = 0
    for f in group.inputs:
        if current.get(f.key) != file_marker(f):
            kept += 1
            continue
        lake.delete(f.key)
    bytes_out = int(lake.fs.size(lake.path(group.output_key)))
    return CompactionResult(group.layer, group.source, group.bucket, len(group.inputs), sum(f.size for f in group.inputs),
                            rows_in, group.output_key, bytes_out, rows_out, kept)


def _chunks(files: list[StoredFile], target_bytes: int) -> list[list[StoredFile]]:
    chunks: list[list[StoredFile]] = [[]]
    size = 0
    for f in sorted(files, key=lambda f: f.key):
        if chunks[-1] and size + f.size > target_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(f)
        size += f.size
    return chunks
