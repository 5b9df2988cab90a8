"""`run`s started together on one new data dir: one works, the others stop with one line, the instance stays
usable, and every record lands once."""

from __future__ import annotations

import os
import subprocess
import sys

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
