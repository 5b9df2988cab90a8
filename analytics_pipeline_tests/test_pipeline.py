"""The whole graph on demo data: counts reconcile, marts match an independent computation, reruns are no-ops."""

import json
import re
from collections import Counter, defaultdict

import dagster as dg
import duckdb

from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.conftest import claims_report, landing_root
from analytics_pipeline_tests.lake_state import rows_digest

TABLES = ["claims", "claims_current", "claim_status_transitions", "financial_ops_daily", "model_performance_daily",
          "operational_efficiency_daily", "hourly_volume", "fraud_heatmap", "override_themes", "hard_cases",
          "ingest_errors", "ingested_files", "claims_by_status"]


def fingerprint(settings, table: str) -> tuple[int, str]:
    result = run_query(settings, f"SELECT * FROM {table}")
    return rows_digest(result.columns, result.rows)


def test_demo_run_reports_four_numbers_that_reconcile(demo_lake):
    _, reports = demo_lake
    claims = claims_report(reports)
    figures = claims.figures
    assert figures.files > 10 and figures.records_in > 1000
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates
    assert figures.quarantined > 0 and figures.duplicates > 0
    assert claims.data_through
    # every source's data-through shows to the second (chat events carry milliseconds)
    for report in reports:
        assert re.fullmatch(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?", report.data_through), report


def test_every_view_is_queryable(use_demo_lake):
    for table in TABLES:
        assert run_query(use_demo_lake, f"SELECT count(*) FROM {table}").rows[0][0] > 0, table


def test_claims_view_has_the_contract_columns(use_demo_lake):
    columns = set(run_query(use_demo_lake, "SELECT * FROM claims LIMIT 0").columns)
    contract = {"event_id", "event_type", "event_time", "claim_id", "status", "claim_amount", "payout_amount",
                "ai_recommended_payout", "textract_cost", "bedrock_cost", "total_aws_cost", "textract_operation",
                "fraud_score", "confidence_score", "ai_agreement_flag", "adjuster_override", "override_justification",
                "processing_duration_ms", "vehicle_type", "region", "incident_date", "created_at", "updated_at",
                "event_date"}
    assert contract <= columns
    # attributes beyond the contract are kept: promoted scalars and the extra JSON
    assert {"policy_number", "extra_attributes"} <= columns


def test_landed_rows_match_landing_records(use_demo_lake):
    """Independent count: every event id in the landing files that parses, once."""
    landing = landing_root(use_demo_lake)
    ids = set()
    for f in landing.list_files("claims"):
        data = landing.read_bytes(f.key)
        if f.key.endswith(".gz"):
            import gzip
            data = gzip.decompress(data)
        ids |= _event_ids(data.decode("utf-8", "replace"), f.key)
    landed = {row[0] for row in run_query(use_demo_lake, "SELECT event_id FROM claims").rows}
    assert landed <= ids
    quarantined = run_query(use_demo_lake, "SELECT count(*) FROM ingest_errors").rows[0][0]
    assert len(ids) - len(landed) <= quarantined


def _event_ids(text: str, key: str) -> set[str]:
    docs = [text] if key.endswith((".json", ".json.gz")) else text.splitlines()
    ids = set()
    for doc in docs:
        try:
            value = json.loads(doc)
        except ValueError:
            continue
        records = value.get("Records", [value]) if isinstance(value, dict) else value if isinstance(value, list) else []
        ids |= {r["eventID"] for r in records if isinstance(r, dict) and "eventID" in r}
    return ids


def test_marts_match_independent_computation(use_demo_lake):
    rows = run_query(use_demo_lake, "SELECT event_date, event_type, status, ai_agreement_flag, claim_id, event_time, "
                                    "event_id, textract_operation FROM claims").rows
    submitted, detect, agree, decided = Counter(), Counter(), Counter(), Counter()
    first_decision = defaultdict(dict)
    for day, event_type, status, flag, claim, time, event_id, operation in rows:
        if event_type == "INSERT":
            submitted[day] += 1
            detect[day] += operation == "detect_text"
        if event_type == "MODIFY" and status in ("APPROVED", "DENIED"):
            previous = first_decision[day].get(claim)
            if previous is None or (time, event_id) < previous[:2]:
                first_decision[day][claim] = (time, event_id, flag)
    for day, claims in first_decision.items():
        decided[day] = sum(1 for _, _, flag in claims.values() if flag in ("AGREE", "DISAGREE"))
        agree[day] = sum(1 for _, _, flag in claims.values() if flag == "AGREE")
    financial = {r[0]: r[1:] for r in run_query(
        use_demo_lake, "SELECT event_date, claims_submitted, textract_savings_gbp FROM financial_ops_daily").rows}
    assert set(financial) == set(submitted) | set(financial)
    for day, (claims_submitted, savings) in financial.items():
        assert claims_submitted == submitted[day]
        assert abs(savings - detect[day] * (0.0015 - 0.00015)) < 1e-9
    performance = {r[0]: r[1] for r in run_query(
        use_demo_lake, "SELECT event_date, agreement_rate FROM model_performance_daily").rows}
    for day, rate in performance.items():
        expected = agree[day] / decided[day] if decided[day] else None
        assert (rate is None and expected is None) or abs(rate - expected) < 1e-12


def test_status_transitions_match_window_query(use_demo_lake):
    expected = run_query(use_demo_lake, """
        SELECT count(*) FROM (
            SELECT status, lag(status) OVER (PARTITION BY claim_id ORDER BY coalesce(updated_at, event_time),
                                             event_time, event_id) AS prev
            FROM claims WHERE event_type IN ('INSERT', 'MODIFY') AND status IS NOT NULL)
        WHERE prev IS NOT NULL AND prev <> status""").rows[0][0]
    assert run_query(use_demo_lake, "SELECT count(*) FROM claim_status_transitions").rows[0][0] == expected


def test_rerun_is_idempotent(use_demo_lake):
    before = {t: fingerprint(use_demo_lake, t) for t in TABLES}
    report = claims_report(run_pipeline(use_demo_lake, progress=lambda _: None))
    figures = report.figures
    assert (figures.files, figures.records_in, figures.landed) == (0, 0, 0)
    assert {t: fingerprint(use_demo_lake, t) for t in TABLES} == before


def test_checks_ran_and_recorded(use_demo_lake):
    instance = dg.DagsterInstance.get()
    records = instance.get_runs()
    jobs = {run.job_name for run in records}
    assert {"claims_ingest_job", "claims_daily_job", "refresh_job"} <= jobs
    key = dg.AssetCheckKey(dg.AssetKey("raw_claims"), "event_ids_unique")
    executions = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    assert executions and all(e.status.value == "SUCCEEDED" for e in executions)


def test_warehouse_is_views_only(use_demo_lake):
    with duckdb.connect(use_demo_lake.warehouse_path, read_only=True) as con:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE NOT internal").fetchall()[0][0]
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall()[0][0]
    assert tables == 0 and views >= 2 * len(TABLES)
