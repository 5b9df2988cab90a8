"""The temporary folder a staging run keeps its batch's rows in, and the removal of folders that killed runs left.

A run removes its folder when it ends, but a killed one cannot: its folder (about 300 MB per million claims
records) would stay until the system cleans its temporary folder. So a run holds an exclusive lock on an owner
file in its folder for as long as it works, and a run starting removes the folders whose lock nobody holds.
The kernel drops a killed process's locks, whatever PID namespace (container) it ran in. A folder's owner file
names its host, and only this host's folders are removed: locks on a temporary folder shared between hosts may
not be seen from the others.
"""

from __future__ import annotations

import fcntl
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
# A run makes its folder, then its owner file, then locks it: a folder younger than this may be one that a run
# starting right now has not locked yet.
_GRACE_SECONDS = 60
# A folder without an owner file was made by a version before owners were recorded; its run may still be going.
_UNOWNED_AFTER_SECONDS = 24 * 3600

log = logging.getLogger(__name__)


@contextmanager
def batch_work_folder() -> Iterator[str]:
    """A new folder in the system's temporary folder (``TMPDIR``), removed afterwards; abandoned ones go first."""
    remove_abandoned()
    with tempfile.TemporaryDirectory(prefix=PREFIX) as work:
        with open(os.path.join(work, _OWNER), "w") as owner:
            fcntl.flock(owner, fcntl.LOCK_EX)
            owner.write(f"{socket.gethostname()}\n")
            owner.flush()
            yield work


def remove_abandoned() -> list[str]:
    """Remove this host's work folders that no running process holds; returns their paths."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        if not folder.is_dir() or folder.is_symlink() or not _abandoned(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(str(folder))
            log.info("removed %s, left by a staging run that was killed", folder)
    return removed


def _abandoned(folder: Path) -> bool:
    try:
        age = time.time() - folder.stat().st_mtime
    except OSError:  # its run has just removed it
        return False
    if age < _GRACE_SECONDS:
        return False
    try:
        with open(folder / _OWNER) as owner:
            if owner.read(1024).strip() != socket.gethostname():
                return False
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a running process holds it
                return False
            return True  # closing the file releases the lock again
    except FileNotFoundError:  # no owner file, or its run has just removed the folder
        return folder.exists() and age > _UNOWNED_AFTER_SECONDS
    except (OSError, UnicodeDecodeError):
        return False
