"""Take a source's landing files in again: the recovery for raw records lost from the lake.

The lake knows which landing files it took in from the source's manifests. ``forget_taken_files`` moves them
(and, when every file they name is still in the landing zone, the source's quarantine files, which the re-read
writes again) to ``lake/forgotten/<UTC time>/``, so the next ``run`` reads every landing file of the source once
more: records the raw layer lost land again, every other record is counted as a duplicate. Nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.ingestion.manifest import ManifestUnreadable, manifest_rows
from analytics_pipeline.lake.storage import StorageRoot


@dataclass
class Forgotten:
    folder: str  # where the moved files went, under the lake
    manifests: int = 0
    errors: int = 0
    landing_files: int = 0  # files the next run reads again
    gone: list[str] = field(default_factory=list)  # files taken in before that are no longer in the landing zone
    damaged: list[str] = field(default_factory=list)  # manifests no reader can open (moved aside all the same)


def forget_taken_files(lake: StorageRoot, landing: StorageRoot, source: str) -> Forgotten:
    taken, damaged = _taken(lake, source)
    present = {f.key for f in landing.list_files(source)}
    report = Forgotten(folder=f"forgotten/{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}",
                       landing_files=len(present & set(taken)), gone=[k for k in taken if k not in present],
                       damaged=damaged)
    # keep quarantine rows that cannot be made again (their files are gone, or a damaged manifest hides which)
    layers = ["manifests"] + ([] if report.gone or damaged else ["errors"])
    for layer in layers:
        for f in lake.list_files(f"{layer}/{source}"):
            lake.write_bytes(lake.read_bytes(f.key), report.folder, f.key)
            lake.delete(f.key)
            setattr(report, layer, getattr(report, layer) + 1)
    return report


def _taken(lake: StorageRoot, source: str) -> tuple[list[str], list[str]]:
    """The landing keys the source's manifests name, and the manifests that cannot be read (a truncated file
    fails every run of the source: this is its way out)."""
    try:
        return sorted({row[0] for row in manifest_rows(lake, source, "file")}), []
    except ManifestUnreadable:
        pass
    taken, damaged = set(), []
    for f in lake.list_files(f"manifests/{source}"):
        try:
            with lake.fs.open(lake.path(f.key), "rb") as handle:
                taken.update(pq.read_table(handle, columns=["file"]).column("file").to_pylist())
        except (OSError, pa.ArrowException):
            damaged.append(f.key)
    return sorted(taken), damaged
