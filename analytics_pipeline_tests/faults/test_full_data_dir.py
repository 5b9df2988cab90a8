"""A data dir on a full disk: every command that writes to it says so in one `error:` line (exit 1), whether the
disk was full before the Dagster instance's databases existed or filled up under a lake already built, and the next
run after space is freed takes every record in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.ingestion.test_claims_formats import DAY, SOURCE
from analytics_pipeline_tests.records import insert, jsonl


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch):
    """The data dir on a tmpfs of 64 MiB (needs root to mount, as in CI and on the dev machines)."""
    data = tmp_path / "data"
    data.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(data)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"x" * 65536)
        except OSError:
            pass
    with filler.open("ab", buffering=0) as out:  # the last few bytes too
        try:
            while True:
                out.write(b"x")
        except OSError:
            pass
    return filler


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics_pipeline.cli", *args], capture_output=True, text=True,
                          timeout=300, check=False)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def _land(data: Path, name: str, first: int) -> None:
    folder = data / "landing" / SOURCE
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(jsonl([insert(f"e-{n}", f"c-{n}", DAY, hour=n % 24) for n in range(first, first + 5)]))


@pytest.mark.parametrize("when", ["before the first run", "under a built lake"])
def test_a_full_data_dir_is_one_error_line_and_the_next_run_takes_everything_in(lake_env, small_disk, when):
    assert Path(lake_env.data_dir) == small_disk
    _land(small_disk, "a.jsonl", 0)
    if when == "under a built lake":
        assert _run("run").returncode == 0
        _land(small_disk, "b.jsonl", 5)
    filler = _fill(small_disk)

    line = _one_error_line(_run("run"))
    assert re.search(r"No space left on device|disk is full|not enough space|Dagster database .* disk I/O error",
                     line), line

    filler.unlink()
    done = _run("run")
    assert done.returncode == 0, done.stdout + done.stderr
    records = 10 if when == "under a built lake" else 5
    assert run_query(load_settings(), "SELECT count(*), count(DISTINCT event_id) FROM claims").rows == [(records,) * 2]
