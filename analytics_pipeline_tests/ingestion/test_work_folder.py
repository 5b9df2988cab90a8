"""Staging's temporary folder: removed when a batch is staged, and folders left by killed runs removed by the next."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.ingestion.work_folder import PREFIX
from analytics_pipeline.settings import Settings
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline_tests.lakes import lake_root, landing_root
from analytics_pipeline_tests.records import insert, jsonl

# A staging run's stand-in: takes a work folder as staging does, says where, and works until it is stopped.
_HOLDER = """
import sys, time
from analytics_pipeline.ingestion.work_folder import batch_work_folder
with batch_work_folder() as work:
    print(work, flush=True)
    time.sleep(120)
"""


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of this test's own (what TMPDIR names for a run), for this process and its children."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _age(folder: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(folder, (then, then))
    return folder


def _folder(temp_dir: Path, name: str, owner: str | None = None, age_seconds: float = 120) -> Path:
    folder = temp_dir / (PREFIX + name)
    folder.mkdir()
    (folder / "batch.duckdb").write_bytes(b"rows of a batch")
    if owner is not None:
        (folder / "owner").write_text(owner)
    return _age(folder, age_seconds)


def _holder() -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True)
    return child, Path(child.stdout.readline().strip())


def test_staging_removes_folders_of_killed_runs_and_its_own(lake_env: Settings, temp_dir: Path) -> None:
    host = socket.gethostname()
    killed_run, killed = _holder()
    killed_run.send_signal(signal.SIGKILL)
    killed_run.wait()
    running_run, running = _holder()
    _age(killed, 120), _age(running, 120)  # older than the grace a just-made folder gets
    assert killed.exists() and running.exists(), "a killed run cannot remove its folder"
    unlocked_young = _folder(temp_dir, "young", f"{host}\n", age_seconds=0)
    other_host = _folder(temp_dir, "other-host", f"not-{host}\n")
    garbled = _folder(temp_dir, "garbled", "\x00\xff 99999999999999999999")
    old_unowned = _folder(temp_dir, "old-unowned", age_seconds=2 * 24 * 3600)
    new_unowned = _folder(temp_dir, "new-unowned")
    unrelated = temp_dir / "someone-elses"
    unrelated.mkdir()

    try:
        landing, lake = landing_root(lake_env), lake_root(lake_env)
        landing.write_bytes(jsonl([insert("evt-1", "c-1", "2026-09-08")]), "claims", "one.jsonl")
        result = stage_batch(lake, landing, claims_spec(), landing.list_files("claims"), "2024-01-01")
        assert running_run.poll() is None
    finally:
        running_run.kill()
        running_run.wait()

    assert (result.figures.records_in, result.figures.landed) == (1, 1)
    assert not killed.exists() and not old_unowned.exists(), "folders that no running process holds are removed"
    kept = [running, unlocked_young, other_host, garbled, new_unowned]
    assert all(folder.exists() for folder in kept), \
        "a running run's folder, a folder just made, another host's, an unreadable one and a recent unowned one stay"
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted([p.name for p in kept] + [unrelated.name]), \
        "the run's own folder is gone too"
