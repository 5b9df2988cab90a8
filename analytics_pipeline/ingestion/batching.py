"""Split pending landing files into batches small enough for one run each."""

from __future__ import annotations

from analytics_pipeline.lake.storage import StoredFile

MAX_FILES_PER_BATCH = 500
MAX_BYTES_PER_BATCH = 512 * 1024 * 1024


def split_batches(files: list[StoredFile]) -> list[list[StoredFile]]:
    batches: list[list[StoredFile]] = []
    current: list[StoredFile] = []
    size = 0
    for f in sorted(files, key=lambda f: f.key):
        if current and (len(current) >= MAX_FILES_PER_BATCH or size + f.size > MAX_BYTES_PER_BATCH):
            batches.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        batches.append(current)
    return batches
