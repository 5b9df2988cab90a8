"""The temporary folder a staging run keeps its batch's rows in, and the removal of folders that killed runs left.

A run removes its folder when it ends, but a killed one cannot: its folder (about 300 MB per million claims
records) would stay until the system cleans its temporary folder. Each folder therefore records the host and
process that own it, and a run starting removes the folders whose owner is no longer running.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "analytics-staging-"
_OWNER = "owner"
# A folder without an owner file was made by a version before owners were recorded, or by a run killed between
# making the folder and writing the file; it is taken for abandoned only once it is this old.
_UNOWNED_AFTER_SECONDS = 24 * 3600

log = logging.getLogger(__name__)


@contextmanager
def batch_work_folder() -> Iterator[str]:
    """A new folder in the system's temporary folder (``TMPDIR``), removed afterwards; abandoned ones go first."""
    remove_abandoned()
    with tempfile.TemporaryDirectory(prefix=PREFIX) as work:
        Path(work, _OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        yield work


def remove_abandoned() -> list[str]:
    """Remove the work folders whose owning process has ended; returns their paths."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        if folder.is_dir() and _abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
            log.info("removed %s, left by a staging run that was killed", folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        host, pid = (folder / _OWNER).read_text().split()
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > _UNOWNED_AFTER_SECONDS
        except FileNotFoundError:  # its run just removed it
            return False
    except (OSError, ValueError):
        return False
    return host == socket.gethostname() and not _running(int(pid))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
