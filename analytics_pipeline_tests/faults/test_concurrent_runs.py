"""`run`s started together on one new data dir: one works, the others stop with one line, the instance stays
usable, and every record lands once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from analytics_pipeline.lake.data_dir import DataDirBusy, data_dir_lock, flock
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.ingestion.test_claims_formats import DAY, SOURCE
from analytics_pipeline_tests.lakes import landing_root
from analytics_pipeline_tests.records import insert, jsonl

STARTED_TOGETHER = 4


def _start_run() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "analytics_pipeline.cli", "run"], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_runs_started_together_on_a_new_data_dir(lake_env):
    landing_root(lake_env).write_bytes(jsonl([insert(f"e-{n}", f"c-{n}", DAY, hour=n) for n in range(5)]),
                                       SOURCE, "a.jsonl")
    processes = [_start_run() for _ in range(STARTED_TOGETHER)]
    outcomes = [(p.wait(300), *p.communicate()) for p in processes]

    assert any(code == 0 for code, _, _ in outcomes), outcomes
    for code, _, err in outcomes:
        if code != 0:
            errors = [line for line in err.splitlines() if line.strip()]
            assert code == 1 and len(errors) == 1, err
            assert errors[0].startswith("error: ") and "is in use by analytics-pipeline (pid" in errors[0], err
    # the instance is sound and the records landed once, whoever took them in
    rerun = _start_run()
    code = rerun.wait(300)
    assert code == 0, rerun.communicate()
    assert run_query(load_settings(), "SELECT count(*), count(DISTINCT event_id) FROM claims").rows == [(5, 5)]


def test_a_process_meeting_the_lock_before_its_holder_wrote_its_name_waits_for_the_name(lake_env):
    """The holder writes who it is just after taking the lock; a process that meets the lock in between (runs
    started together on a loaded machine did) names the holder all the same, not "another process"."""
    lock = Path(lake_env.data_dir) / ".run.lock"
    lock.parent.mkdir(parents=True)
    with flock(lock, wait=False) as held:  # taken, nothing written yet
        assert held
        threading.Timer(0.2, lock.write_text, ["analytics-pipeline (pid 12345, since now)"]).start()
        with pytest.raises(DataDirBusy, match=r"is in use by analytics-pipeline \(pid 12345, since now\): "):
            with data_dir_lock(lake_env):
                pass


def test_a_run_after_one_stopped_before_its_merge_reports_what_it_did(lake_env):
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.sources.claims.spec import claims_spec
    from analytics_pipeline_tests.lakes import lake_root

    landing, lake = landing_root(lake_env), lake_root(lake_env)
    landing.write_bytes(jsonl([insert(f"e-{n}", f"c-{n}", DAY, hour=n) for n in range(4)] * 2), SOURCE, "a.jsonl")
    staged = stage_batch(lake, landing, claims_spec(), landing.list_files(SOURCE), lake_env.partitions_start)
    assert (staged.figures.landed, staged.figures.duplicates) == (4, 4)  # then the run was killed: staged, never merged
    landing.write_bytes(jsonl([insert("e-new", "c-new", DAY, hour=9), insert("e-0", "c-0", DAY)]), SOURCE, "b.jsonl")

    (claims,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == SOURCE]

    figures = claims.figures
    assert claims.carried_over == 4 and figures.files == 1
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (2 + 4, 5, 0, 1)
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates


@pytest.mark.parametrize("beside", ["stages", "merges"])
def test_a_run_beside_another_process_reports_what_it_did(lake_env, beside):
    """The `dev` daemon's sensors stage and merge while a `run` does: just before the run merges its day, another
    process stages a file of its own (the run's merge reads rows it never staged) or merges the day itself (the
    run's merge finds nothing). Either way the run's figures add up."""
    from analytics_pipeline.ingestion.raw_merge import merge_day
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.sources.claims.spec import claims_spec
    from analytics_pipeline_tests.lakes import lake_root

    landing, lake = landing_root(lake_env), lake_root(lake_env)
    landing.write_bytes(jsonl([insert(f"e-{n}", f"c-{n}", DAY, hour=n) for n in range(4)] * 2) + b"{bad\n",
                        SOURCE, "a.jsonl")

    def other_process(line: str) -> None:
        if not line.startswith(f"{SOURCE} day {DAY}"):  # the run is about to merge the day it staged
            return
        if beside == "stages":
            landing.write_bytes(jsonl([insert("e-0", "c-0", DAY), insert("e-9", "c-9", DAY, hour=9)]), SOURCE, "b.jsonl")
            taken = [f for f in landing.list_files(SOURCE) if f.key.endswith("b.jsonl")]
            stage_batch(lake, landing, claims_spec(), taken, lake_env.partitions_start)
        else:
            merge_day(lake, SOURCE, DAY)

    (claims,) = [r for r in run_pipeline(lake_env, progress=other_process) if r.source == SOURCE]

    figures = claims.figures
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates, figures
    if beside == "stages":  # 9 read: 4 landed, 1 quarantined, 4 copies; then 2 staged by the other, 1 of them new
        assert (claims.carried_over, claims.merged_elsewhere) == (2, 0)
        assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (11, 5, 1, 5)
    else:  # the 4 rows it staged were merged by the other process
        assert (claims.carried_over, claims.merged_elsewhere) == (0, 4)
        assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (5, 0, 1, 4)
    assert run_query(load_settings(), "SELECT count(*), count(DISTINCT event_id) FROM claims").rows == [
        (5 if beside == "stages" else 4,) * 2]
