"""What a `run` updates after its merges (platform/refresh_selection.py): what its new data changed, and with nothing
new the tables whose windows end now and what reads them, not the whole catalogue."""

from __future__ import annotations

import dagster as dg
import duckdb

from analytics_pipeline.cli import main
from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.sources.claims.demo import claims_landing_files
from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
from analytics_pipeline_tests.lakes import landing_root

LLM_TABLES = ("llm_run_costs", "run_summary", "daily_runs", "tag_costs")


def _last_refresh(instance: dg.DagsterInstance) -> set[str]:
    """The assets the newest ``refresh_job`` run materialized."""
    (run,) = instance.get_runs(dg.RunsFilter(job_name="refresh_job"), limit=1)
    events = instance.all_logs(run.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
    return {e.dagster_event.asset_key.to_user_string() for e in events}


def _views(settings) -> set[str]:
    con = duckdb.connect(settings.warehouse_path, read_only=True)
    try:
        return {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()


def test_a_run_updates_what_changed_and_with_nothing_new_what_moves_with_time(lake_env, capsys):
    landing = landing_root(lake_env)
    for name, data in claims_landing_files(days=2, seed=4, claims_per_day=15):
        landing.write_bytes(data, "claims", name)
    assert main(["run"]) == 0
    instance = dagster_instance(lake_env)
    built = _last_refresh(instance)
    assert {"claims_current", "claim_status_transitions", "warehouse", "dashboard_model_performance"} <= built
    assert set(LLM_TABLES) <= built  # never materialized: built (empty) on the first run
    assert set(LLM_TABLES) <= _views(lake_env)  # the orchestrator's export of no runs is zeros, from these

    assert main(["run"]) == 0  # nothing new: the tables over windows ending now, what reads them, the views
    assert "nothing new" in capsys.readouterr().out
    built = _last_refresh(instance)
    assert {"run_summary", "daily_runs", "tag_budgets", "conversation_insights", "warehouse"} <= built
    assert not built & {"claims_current", "claim_status_transitions", "llm_run_costs", "tag_costs",
                        "conversation_sessions"}

    for name, data in llm_runs_landing_files(days=2, seed=4, runs_per_day=6):
        landing.write_bytes(data, "llm_runs", name)
    assert main(["run"]) == 0
    built = _last_refresh(instance)
    assert set(LLM_TABLES) <= built and not built & {"claims_current", "conversation_sessions"}
