"""Writers at the same time: the same day merged by several runs at once, and readers during refreshes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb

from analytics_pipeline import runner
from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.serving.warehouse import build_warehouse
from analytics_pipeline.sources.registry import SOURCE_SPECS
from analytics_pipeline_tests.lake_state import (
    copy_landing,
    landing_keys,
    rows_digest,
    run_env,
    split_inside_a_day,
)

RUN_DAY = Path(__file__).with_name("run_day.py")


def _day_files(settings, day: str) -> dict[str, tuple[int, str]]:
    """The raw partition and every daily mart of ``day``: path under the lake → ``rows_digest`` of its rows."""
    lake = Path(settings.lake_uri)
    files = [*lake.glob(f"raw/claims/event_date={day}/*.parquet"), *lake.glob(f"marts/*/event_date={day}/*.parquet")]
    digests = {}
    with duckdb.connect() as con:
        for path in files:
            table = con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()
            rows = [tuple(row.values()) for row in table.to_pylist()]
            digests[str(path.relative_to(lake))] = rows_digest(table.column_names, rows)
    return digests


def _stage(settings) -> None:
    with dg.DagsterInstance.from_config(settings.dagster_home) as instance:
        result = build_definitions().resolve_job_def("claims_ingest_job").execute_in_process(instance=instance)
    assert result.success


def test_the_same_day_merged_by_four_runs_at_once_equals_one_run(demo_lake, lake_env, tmp_path):
    reference, _ = demo_lake
    keys = landing_keys(reference)
    runner.dagster_instance(lake_env).dispose()  # DAGSTER_HOME with the pools of `run` (raw_claims_writer: 1)
    # files in two batches: the day where they meet has two staged batches, so it takes the full merge
    split = split_inside_a_day(keys, 1 / 2)
    copy_landing(reference, lake_env, keys[:split])
    _stage(lake_env)
    copy_landing(reference, lake_env, keys[split:])
    _stage(lake_env)
    staged = {p.parent.name.split("=")[1]: len(list(p.parent.glob("*.parquet")))
              for p in Path(lake_env.lake_uri).glob("staging/claims/*/*.parquet")}
    day = max(staged, key=lambda d: (staged[d], d))
    assert staged[day] == 2

    # two runs under Dagster's pools, two from a DAGSTER_HOME without them (plain `dagster dev`)
    no_pools = tmp_path / "home-without-pools"
    no_pools.mkdir()
    (no_pools / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg.DagsterInstance.from_config(str(no_pools)).dispose()  # create its storage before two runs race to
    homes = [lake_env.dagster_home, lake_env.dagster_home, str(no_pools), str(no_pools)]
    runs = [subprocess.Popen([sys.executable, str(RUN_DAY), "claims", day], env={**run_env(lake_env), "DAGSTER_HOME": home},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for home in homes]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs

    assert _day_files(lake_env, day) == _day_files(reference, day)
    assert not list(Path(lake_env.lake_uri).glob(f"staging/claims/event_date={day}/*"))
    with dg.DagsterInstance.from_config(lake_env.dagster_home) as instance:
        assert instance.event_log_storage.get_concurrency_info("raw_claims_writer").slot_count == 1
        pooled = instance.get_runs(filters=dg.RunsFilter(tags={"analytics/test": "concurrent"}))
        assert [r.status for r in pooled] == [dg.DagsterRunStatus.SUCCESS] * 2


def test_readers_never_fail_while_the_warehouse_is_rebuilt(use_demo_lake, tmp_path):
    """Queries through read-only connections in a loop while the catalogue is rebuilt and swapped in."""
    lake = StorageRoot(use_demo_lake.lake_uri)
    warehouse = str(tmp_path / "warehouse.duckdb")
    build_warehouse(lake, warehouse, use_demo_lake.schema, SOURCE_SPECS)
    with duckdb.connect(warehouse, read_only=True) as con:
        expected = con.execute("SELECT count(*) FROM claims").fetchall()
    refreshes, reads, failures, during = 0, 0, [], 0
    refreshing = threading.Event()

    def refresh() -> None:
        nonlocal refreshes
        for _ in range(8):
            refreshing.set()
            build_warehouse(lake, warehouse, use_demo_lake.schema, SOURCE_SPECS)
            refreshes += 1
        refreshing.clear()

    writer = threading.Thread(target=refresh)
    writer.start()
    while writer.is_alive() or reads < 20:
        try:
            with duckdb.connect(warehouse, read_only=True) as con:
                assert con.execute("SELECT count(*) FROM claims").fetchall() == expected
        except Exception as err:  # noqa: BLE001 - every failure is collected and reported
            failures.append(repr(err))
        reads += 1
        during += refreshing.is_set()
    writer.join()
    assert failures == []
    assert refreshes == 8 and during > 0
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
