"""A run delivered again as it progresses: the most complete version counts, once."""

import json
from datetime import datetime, timedelta, timezone

from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.conftest import landing_root

YESTERDAY = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()


def run_doc(**fields) -> dict:
    return {"run_id": "r-1", "project": "docs_bot", "started_at": f"{YESTERDAY}T10:00:00Z", "mode": "2-loop", **fields}


def test_finished_version_replaces_the_running_one_and_counts_once(lake_env):
    landing = landing_root(lake_env)
    running = run_doc(status="running", qa_status="not_run",
                      models=[{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost": 0.001}])
    finished = run_doc(status="completed", qa_status="passed", finished_at=f"{YESTERDAY}T10:05:00Z",
                       models=[{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "cost": 0.01}])
    only_finish = {"run_id": "r-2", "project": "docs_bot", "finished_at": f"{YESTERDAY}T11:00:00Z",
                   "models": [{"model": "gpt-4o", "input_tokens": 10, "output_tokens": 1, "cost": 0.5}]}
    landing.write_bytes((json.dumps(running) + "\n").encode(), "llm_runs", "a.jsonl")
    landing.write_bytes((json.dumps(finished) + "\n" + json.dumps(running) + "\n" + json.dumps(only_finish) + "\n")
                        .encode(), "llm_runs", "b.jsonl")

    (report,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == "llm_runs"]

    assert (report.records_in, report.landed, report.duplicates) == (4, 3, 1)  # the re-sent running copy
    runs = run_query(lake_env, "SELECT run_id, status, qa_status, total_tokens, cost, run_date::VARCHAR "
                               "FROM llm_run_costs ORDER BY run_id").rows
    assert runs == [("r-1", "completed", "passed", 1100, 0.01, YESTERDAY), ("r-2", None, "not_run", 11, 0.5, YESTERDAY)]
    summary = run_query(lake_env, "SELECT total_runs, total_tokens FROM run_summary").rows[0]
    assert summary == (2, 1111)
    day = run_query(lake_env, f"SELECT runs, cost FROM daily_runs WHERE date = DATE '{YESTERDAY}'").rows[0]
    assert day == (2, 0.51)
