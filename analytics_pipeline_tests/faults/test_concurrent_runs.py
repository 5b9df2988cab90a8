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
