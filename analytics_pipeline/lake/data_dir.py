"""One pipeline process at a time on a data dir: the lock every command that writes the lake holds."""

from __future__ import annotations

import fcntl
import functools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from analytics_pipeline.settings import Settings


class DataDirBusy(RuntimeError):
    """Another process is running the pipeline on this data dir."""


@contextmanager
def flock(path: Path, wait: bool) -> Iterator[bool]:
    """An exclusive lock on ``path`` (created if need be) for the block; yields False if ``wait`` is off and
    another process holds it."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def one_process_per_data_dir(function):
    @functools.wraps(function)
    def holding_the_data_dir(settings: Settings, *args, **kwargs):
        with data_dir_lock(settings):
            return function(settings, *args, **kwargs)
    return holding_the_data_dir


@contextmanager
def data_dir_lock(settings: Settings) -> Iterator[None]:
    """One pipeline process at a time on a data dir (run, demo, reprice, refresh, retention, compaction): a second
    one stops at once with one line naming the first. The lock goes with the process, however it ends."""
    path = Path(settings.data_dir) / ".run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with flock(path, wait=False) as held:
        if not held:
            raise DataDirBusy(f"{settings.data_dir} is in use by {_holder(path)}: wait for it to finish (a data dir "
                              "takes one `analytics-pipeline` process at a time; `dev` runs alongside through its daemon)")
        path.write_text(f"analytics-pipeline (pid {os.getpid()}, since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC)")
        yield


# How long a process that found the data dir locked waits for the holder to say who it is: it writes that just after
# taking the lock (runs started together on a loaded machine met the file still empty, and named "another process").
HOLDER_WAIT_SECONDS = 1.0


def _holder(path: Path) -> str:
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while not (holder := path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return holder or "another process"
