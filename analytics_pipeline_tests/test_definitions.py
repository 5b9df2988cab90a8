"""The code location loads, and its graph (keys, partitions, jobs, sensors) does not change by accident."""

import dagster as dg

from analytics_pipeline.definitions import build_definitions

EXPECTED_ASSETS = {
    "staged_claims": None,
    "raw_claims": "daily",
    "financial_ops_daily": "daily",
    "model_performance_daily": "daily",
    "operational_efficiency_daily": "daily",
    "hourly_volume": "daily",
    "fraud_heatmap": "daily",
    "override_themes": "daily",
    "decision_bands_daily": "daily",
    "claims_current": None,
    "claim_status_transitions": None,
    "hard_case_candidates": None,
    "hard_cases": None,
    "warehouse": None,
    "staged_llm_runs": None,
    "raw_llm_runs": "daily",
    "llm_model_usage": "daily",
    "llm_run_costs": None,
    "llm_jobs_current": None,
    "qa_summary": None,
    "run_summary": None,
    "project_costs": None,
    "model_costs": None,
    "daily_runs": None,
    "unpriced_models": None,
    "tag_costs": None,
    "tag_budgets": None,
    "staged_conversations": None,
    "raw_conversations": "daily",
    "conversation_sessions": None,
    "session_intent_paths": None,
    "intent_model": None,
    "intents": "daily",
    "session_activity_daily": "daily",
    "intent_classifications_daily": "daily",
    "intent_flows": None,
    "next_intent_probabilities": None,
    "user_profiles": None,
    "weekly_flow_analysis": None,
    "conversation_insights": None,
    "nlu_insights": None,
    "drop_off_points": None,
    "session_outcome_insights": None,
    "query_intent_insights": None,
    "dropped_sessions_by_intent": None,
    "user_journeys": None,
    "training_data": None,
    "dashboard_financial_operations": None,
    "dashboard_model_performance": None,
    "dashboard_operational_efficiency": None,
    "dashboard_conversation_insights": None,
    "dashboard_llm_costs": None,
}
EXPECTED_SENSORS = {"claims_landing_sensor", "claims_staged_days_sensor", "llm_runs_landing_sensor",
                    "llm_runs_staged_days_sensor", "conversations_landing_sensor",
                    "conversations_staged_days_sensor", "lake_automation"}
EXPECTED_CHECKS = {
    ("staged_claims", "quarantine_rate_at_most_1_percent"),
    ("raw_claims", "event_ids_unique"),
    ("model_performance_daily", "agreement_rate_at_least_85_percent"),
    ("claims_current", "claims_event_ids_unique"),
    ("claims_current", "claims_fresh"),
    ("staged_llm_runs", "quarantine_rate_at_most_1_percent"),
    ("raw_llm_runs", "event_ids_unique"),
    ("run_summary", "budget_below_70_percent"),
    ("run_summary", "budget_below_90_percent"),
    ("run_summary", "budget_not_exceeded"),
    ("run_summary", "qa_pass_rate_at_least_floor"),
    ("daily_runs", "no_cost_spike"),
    ("unpriced_models", "all_usage_priced"),
    ("tag_budgets", "tag_budgets_below_70_percent"),
    ("tag_budgets", "tag_budgets_below_90_percent"),
    ("tag_budgets", "tag_budgets_not_exceeded"),
    ("staged_conversations", "quarantine_rate_at_most_1_percent"),
    ("raw_conversations", "event_ids_unique"),
    ("conversation_sessions", "no_pii_in_stored_text"),
    ("intent_model", "held_out_accuracy_floor"),
    ("intents", "fallback_rate_below_ceiling"),
    ("intents", "low_confidence_rate_below_ceiling"),
    ("raw_claims", "data_fresh"),
    ("raw_llm_runs", "data_fresh"),
    ("raw_conversations", "data_fresh"),
    ("raw_claims", "raw_rows_accounted"),
    ("raw_llm_runs", "raw_rows_accounted"),
    ("raw_conversations", "raw_rows_accounted"),
    ("dashboard_financial_operations", "widgets_ready"),
    ("dashboard_model_performance", "widgets_ready"),
    ("dashboard_operational_efficiency", "widgets_ready"),
    ("dashboard_conversation_insights", "widgets_ready"),
    ("dashboard_llm_costs", "widgets_ready"),
    ("warehouse", "every_lake_table_has_a_view"),
}


def test_definitions_load_and_validate(lake_env):
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"claims_ingest_job", "claims_daily_job", "llm_runs_ingest_job",
                                                     "llm_runs_daily_job", "conversations_ingest_job",
                                                     "conversations_daily_job", "intents_job", "refresh_job", "full_refresh_job",
                                                     "retention_job", "compaction_job", "freshness_checks_job"}
    schedules = {s.name: s for s in repo.schedule_defs}
    assert set(schedules) == {"llm_marts_daily_refresh", "intents_job_schedule", "retention_daily",
                              "compaction_hourly", "freshness_checks_hourly"}
    # deleting data is opt-in: the retention schedule is off until someone turns it on
    assert schedules["retention_daily"].default_status == dg.DefaultScheduleStatus.STOPPED


def test_asset_graph_snapshot(lake_env):
    defs = build_definitions()
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) == set(EXPECTED_ASSETS)
    for name, partitioning in EXPECTED_ASSETS.items():
        partitions_def = specs[name].partitions_def
        if partitioning is None:
            assert partitions_def is None, name
        else:
            assert isinstance(partitions_def, dg.DailyPartitionsDefinition), name
            assert partitions_def.end_offset == 1
            # a batch of many days is one run over the range
            assert defs.resolve_assets_def(name).backfill_policy == dg.BackfillPolicy.single_run(), name
    assert {dep.asset_key.to_user_string() for dep in specs["raw_claims"].deps} == {"staged_claims"}
    assert specs["raw_claims"].freshness_policy.fail_window.to_timedelta().total_seconds() == 26 * 3600
    assert "raw_claims" in {dep.asset_key.to_user_string() for dep in specs["financial_ops_daily"].deps}
    assert {dep.asset_key.to_user_string() for dep in specs["dashboard_llm_costs"].deps} == {
        "warehouse", "daily_runs", "model_costs", "project_costs", "qa_summary", "run_summary", "unpriced_models",
        "tag_costs", "tag_budgets"}


def test_checks_and_sensors_snapshot(lake_env):
    defs = build_definitions()
    checks = {(key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == EXPECTED_CHECKS
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == EXPECTED_SENSORS
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())


def test_resources_follow_environment(lake_env, monkeypatch):
    monkeypatch.setenv("ANALYTICS_LAKE_URI", "s3://bucket/prefix/lake")
    monkeypatch.setenv("ANALYTICS_SCHEMA", "icpa_analytics_db")
    defs = build_definitions()
    lake, warehouse = defs.resources["lake"], defs.resources["warehouse"]
    assert lake.lake_uri == dg.EnvVar("ANALYTICS_LAKE_URI")
    assert lake.lake_uri.get_value() == "s3://bucket/prefix/lake"
    assert lake.landing_uri == ""
    assert warehouse.schema_name.get_value() == "icpa_analytics_db"


def test_settings_name_every_source():
    from analytics_pipeline.settings import SOURCE_NAMES
    from analytics_pipeline.sources import SOURCE_SPECS

    assert list(SOURCE_NAMES) == [spec.name for spec in SOURCE_SPECS]
