"""Asset checks warn and fail when they should: drift alarm, quarantine rate, freshness, duplicates."""

import dagster as dg

from analytics_pipeline.definitions import build_definitions
from analytics_pipeline_tests.conftest import landing_root
from analytics_pipeline_tests.records import epoch, image, jsonl, stream_record

DAY = "2026-03-02"


def decision(n: int, agree: bool) -> list[dict]:
    claim = f"C{n}"
    flags = dict(ai_agreement_flag="AGREE" if agree else "DISAGREE", adjuster_override=not agree,
                 payout_amount=900.0, ai_recommended_payout=1000.0, fraud_score=10.0)
    return [
        stream_record(f"i{n}", "INSERT", epoch(DAY, 9), claim, new=image(claim, "SUBMITTED")),
        stream_record(f"d{n}", "MODIFY", epoch(DAY, 10), claim, new=image(claim, "APPROVED", **flags),
                      old=image(claim, "AI_ASSESSED")),
    ]


def run_jobs(settings, instance, defs):
    ingest = defs.resolve_job_def("claims_ingest_job").execute_in_process(instance=instance)
    daily = defs.resolve_job_def("claims_daily_job").execute_in_process(instance=instance, partition_key=DAY)
    refresh = defs.resolve_job_def("refresh_job").execute_in_process(instance=instance)
    return ingest, daily, refresh


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_drift_alarm_quarantine_and_freshness_warn(lake_env):
    records = [r for n in range(10) for r in decision(n, agree=n < 7)]  # 70 % agreement
    lines = jsonl(records) + b"not json\n" * 2  # 2 of 22 records quarantined: 9 %
    landing_root(lake_env).write_bytes(lines, "claims", "day.jsonl")
    defs = build_definitions()
    with dg.instance_for_test() as instance:
        ingest, daily, refresh = run_jobs(lake_env, instance, defs)

    quarantine = evaluations(ingest)["quarantine_rate_at_most_1_percent"]
    assert not quarantine.passed and quarantine.severity == dg.AssetCheckSeverity.WARN
    assert quarantine.metadata["quarantined"].value == 2
    assert quarantine.metadata["quarantine_reasons"].value == {"invalid_json": 2}

    drift = evaluations(daily)["agreement_rate_at_least_85_percent"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert abs(drift.metadata["agreement_rate"].value - 0.7) < 1e-9
    assert evaluations(daily)["event_ids_unique"].passed

    checks = evaluations(refresh)
    assert checks["claims_event_ids_unique"].passed
    fresh = checks["claims_fresh"]  # data from March is far older than 26 h
    assert not fresh.passed and fresh.severity == dg.AssetCheckSeverity.WARN


def test_healthy_day_passes(lake_env):
    records = [r for n in range(10) for r in decision(n, agree=n < 9)]  # 90 % agreement
    landing_root(lake_env).write_bytes(jsonl(records), "claims", "day.jsonl")
    defs = build_definitions()
    with dg.instance_for_test() as instance:
        ingest, daily, _ = run_jobs(lake_env, instance, defs)
    assert evaluations(ingest)["quarantine_rate_at_most_1_percent"].passed
    assert evaluations(daily)["agreement_rate_at_least_85_percent"].passed
