"""Staging's temporary folder: removed when a batch is staged, and folders left by killed runs removed by the next."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from analytics_pipeline.ingestion.specs.claims import claims_spec
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.ingestion.work_folder import PREFIX
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.lakes import lake_root, landing_root
from analytics_pipeline_tests.records import insert, jsonl


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of this test's own (what TMPDIR names for a run)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _folder(temp_dir: Path, name: str, owner: str | None = None, age_seconds: float = 0) -> Path:
    folder = temp_dir / (PREFIX + name)
    folder.mkdir()
    (folder / "batch.duckdb").write_bytes(b"rows of a batch")
    if owner is not None:
        (folder / "owner").write_text(owner)
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(folder, (then, then))
    return folder


def _ended_process() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_staging_removes_folders_of_killed_runs_and_its_own(lake_env: Settings, temp_dir: Path) -> None:
    host = socket.gethostname()
    killed = _folder(temp_dir, "killed", f"{host} {_ended_process()}\n")
    running = _folder(temp_dir, "running", f"{host} {os.getpid()}\n")
    other_host = _folder(temp_dir, "other-host", f"not-{host} {_ended_process()}\n")
    old_unowned = _folder(temp_dir, "old-unowned", age_seconds=2 * 24 * 3600)
    new_unowned = _folder(temp_dir, "new-unowned")
    unrelated = temp_dir / "someone-elses"
    unrelated.mkdir()

    landing, lake = landing_root(lake_env), lake_root(lake_env)
    landing.write_bytes(jsonl([insert("evt-1", "c-1", "2026-09-08")]), "claims", "one.jsonl")
    result = stage_batch(lake, landing, claims_spec(), landing.list_files("claims"), "2024-01-01")

    assert (result.records_in, result.staged) == (1, 1)
    assert not killed.exists() and not old_unowned.exists(), "folders no running process owns are removed"
    assert running.exists() and other_host.exists() and new_unowned.exists(), \
        "a running process's folder, another host's and a folder just made (its owner not written yet) stay"
    assert unrelated.exists()
    assert sorted(p.name for p in temp_dir.iterdir()) == sorted(
        [running.name, other_host.name, new_unowned.name, unrelated.name]), "the run's own folder is gone too"
