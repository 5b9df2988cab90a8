"""What a reader sees: digests of rows and of every warehouse view, and the invariants a killed run must keep."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.serving.sql_runner import query_session, run_query, warehouse_tables
from analytics_pipeline.settings import Settings

KILL_AT = Path(__file__).with_name("faults") / "kill_at.py"
CLI = Path(sys.executable).with_name("analytics-pipeline")
# Bookkeeping that legitimately differs between two correct runs: which sensor batch took a file
# (files arriving in two groups make two batches), when the LLM summary was computed, and the bounds of the
# conversation metrics' windows, which end at the time of the run.
VOLATILE_COLUMNS = {"batch_id", "generated_at", "window_start", "window_end"}


def normal(value):
    if isinstance(value, float):
        return f"{value:.10g}"  # sums of doubles differ in the last bits with row order and threads
    return value


# How a landing file's version is recorded differs between a folder (size + mtime) and S3 (ETag).
STORAGE_COLUMNS = {"etag", "mtime"}


def rows_digest(columns, rows, ignore=()) -> tuple[int, str]:
    """(row count, order-independent hash of the column names and every row), leaving out the ``ignore``
    columns; floats compared to 10 significant digits (``normal``)."""
    keep = [i for i, c in enumerate(columns) if c not in ignore]
    lines = sorted(json.dumps([normal(row[i]) for i in keep], default=str) for row in rows)
    return len(lines), hashlib.sha256("\n".join([*(columns[i] for i in keep), *lines]).encode()).hexdigest()


def view_fingerprints(settings: Settings, ignore: set[str] = frozenset()) -> dict[str, tuple[int, str]]:
    """view → ``rows_digest`` of all its rows (``VOLATILE_COLUMNS`` and ``ignore`` left out), for every view
    of the warehouse, read through one query session (the gate and limits of ``run_query``; a connection per view
    set up an S3 client per view: a minute of the S3 fault test)."""
    fingerprints = {}
    with query_session(settings) as session:
        for view in sorted(warehouse_tables(settings)):
            result = session.run(f'SELECT * FROM "{view}"')
            fingerprints[view] = rows_digest(result.columns, result.rows, VOLATILE_COLUMNS | ignore)
    return fingerprints


def view_definitions(settings: Settings) -> list[tuple[str, str]]:
    """The warehouse catalogue (view name, SQL) as a reader opening it now gets it; empty without a warehouse."""
    if not Path(settings.warehouse_path).exists():
        return []
    return [tuple(row) for row in run_query(
        settings, "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL").rows]


def run_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(ANALYTICS_DATA_DIR=settings.data_dir, DAGSTER_HOME=settings.dagster_home)
    if settings.lake_uri.startswith("s3://"):
        env.update(ANALYTICS_LAKE_URI=settings.lake_uri, ANALYTICS_LANDING_URI=settings.landing_uri,
                   ANALYTICS_S3_ENDPOINT_URL=settings.s3_endpoint_url,
                   ANALYTICS_S3_MAX_RETRIES=str(settings.s3_max_retries))
    return env


def run_killed_at(settings: Settings, call: str, pattern: str, nth: int = 1, timeout: float = 900) -> str:
    """``analytics-pipeline run`` in a subprocess, SIGKILLed at the nth matching ``os.<call>``; returns its output."""
    proc = subprocess.run([sys.executable, str(KILL_AT), call, pattern, str(nth), "--", "run"], env=run_env(settings),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == -signal.SIGKILL, (
        f"the run was not killed at {call} {pattern} #{nth} (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def run_cli(settings: Settings, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], env=run_env(settings), capture_output=True, text=True, timeout=timeout)


def copy_landing(source: Settings, target: Settings, keys: list[str]) -> None:
    """Copy landing files keeping their modification times (so batch ids match the source lake's)."""
    for key in keys:
        destination = Path(target.landing_uri) / key
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(source.landing_uri) / key, destination)


def landing_keys(settings: Settings, source: str = "claims") -> list[str]:
    return [f.key for f in StorageRoot(settings.landing_uri).list_files(source)]


def split_inside_a_day(keys: list[str], share: float) -> int:
    """An index near ``share`` of the (day-foldered) keys that falls between two files of the same day,
    so both groups of files hold records of that day and the second group merges into its partition."""
    day = keys[int(len(keys) * share)].rsplit("/", 1)[0]
    same_day = [i for i, key in enumerate(keys) if key.rsplit("/", 1)[0] == day]
    assert len(same_day) >= 2, f"{day} has one landing file"
    return same_day[len(same_day) // 2]


def assert_nothing_partial_visible(settings: Settings) -> None:
    """Readers see whole files only: no duplicate event ids in raw, every view answers, and the views
    count exactly the rows of the published Parquet files (never a ``.tmp`` one)."""
    lake = Path(settings.lake_uri)
    published = sorted(str(p) for p in lake.glob("raw/claims/*/part-0.parquet"))
    raw_rows = raw_ids = 0
    if published:
        with duckdb.connect() as con:
            raw_rows, raw_ids = con.execute(
                f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet({published!r})").fetchall()[0]
    assert raw_rows == raw_ids, "a raw partition holds an event id twice"
    if not Path(settings.warehouse_path).exists():
        return
    for view in warehouse_tables(settings):
        run_query(settings, f'SELECT count(*) FROM "{view}"')
    if "claims" in warehouse_tables(settings):
        assert run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM claims").rows == [(raw_rows, raw_ids)]


def leftovers(settings: Settings, suffix: str = ".tmp") -> list[str]:
    return sorted(str(p.relative_to(settings.data_dir)) for p in Path(settings.data_dir).rglob(f"*{suffix}"))


def unfinished_runs(settings: Settings) -> list[dg.DagsterRun]:
    instance = dg.DagsterInstance.from_config(settings.dagster_home)
    try:
        return [r for r in instance.get_runs() if not r.is_finished]
    finally:
        instance.dispose()
