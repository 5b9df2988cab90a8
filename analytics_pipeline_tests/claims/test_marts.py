"""Claims marts on a hand-sized story whose every number is worked out by hand below."""

import dagster as dg
import pytest

from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.conftest import landing_root
from analytics_pipeline_tests.records import epoch, image, jsonl, stream_record

DAY = "2026-05-04"  # a Monday


def change(event_id, name, hour, minute, claim, status, old_status=None, **attrs):
    created = epoch(DAY, hour, minute)
    new = image(claim, status, updated_at=f"{DAY}T{hour:02d}:{minute:02d}:00Z", **attrs)
    old = image(claim, old_status) if old_status else None
    if name == "REMOVE":
        return stream_record(event_id, name, created, claim, old=new)
    return stream_record(event_id, name, created, claim, new=new, old=old)


# C1: detect_text, approved as the AI said, paid.   C2: analyze_document, adjuster overrode (DISAGREE), paid.
# C3: detect_text, denied, then removed.
STORY = [
    change("a1", "INSERT", 9, 0, "C1", "SUBMITTED", textract_operation="detect_text", textract_cost=0.0015),
    change("a2", "MODIFY", 9, 2, "C1", "AI_ASSESSED", "SUBMITTED", bedrock_cost=0.01, fraud_score=10.0,
           vehicle_type="suv", region="London"),
    change("a3", "MODIFY", 9, 5, "C1", "APPROVED", "AI_ASSESSED", ai_agreement_flag="AGREE", adjuster_override=False,
           payout_amount=1000.0, ai_recommended_payout=1000.0, fraud_score=10.0, confidence_score=0.9,
           total_aws_cost=0.0115, processing_duration_ms=60000),
    change("a4", "MODIFY", 11, 0, "C1", "PAID", "APPROVED", payout_amount=1000.0, processing_duration_ms=60000),
    change("b1", "INSERT", 10, 0, "C2", "SUBMITTED", textract_operation="analyze_document", textract_cost=0.015),
    change("b2", "MODIFY", 10, 1, "C2", "AI_ASSESSED", "SUBMITTED", bedrock_cost=0.02, fraud_score=80.0,
           vehicle_type="suv", region="London"),
    change("b3", "MODIFY", 10, 31, "C2", "APPROVED", "AI_ASSESSED", ai_agreement_flag="DISAGREE",
           adjuster_override=True, override_justification="Pre-existing damage on the rear bumper",
           payout_amount=600.0, ai_recommended_payout=1000.0, fraud_score=80.0, confidence_score=0.5,
           total_aws_cost=0.035, processing_duration_ms=120000),
    change("b4", "MODIFY", 11, 30, "C2", "PAID", "APPROVED", payout_amount=600.0, processing_duration_ms=120000),
    change("c1", "INSERT", 12, 0, "C3", "SUBMITTED", textract_operation="detect_text", textract_cost=0.0015),
    change("c2", "MODIFY", 12, 10, "C3", "DENIED", "SUBMITTED", ai_agreement_flag="AGREE", adjuster_override=False,
           ai_recommended_payout=0.0, processing_duration_ms=30000, total_aws_cost=0.0015),
    change("c3", "REMOVE", 13, 0, "C3", "DENIED"),
]


@pytest.fixture(scope="module")
def story_lake(tmp_path_factory):
    data = tmp_path_factory.mktemp("story") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANALYTICS_DATA_DIR", str(data))
        mp.setenv("DAGSTER_HOME", str(data / "dagster_home"))
        from analytics_pipeline.settings import load_settings

        settings = load_settings()
        landing_root(settings).write_bytes(jsonl(STORY), "claims", "story.jsonl")
        defs = build_definitions()
        with dg.instance_for_test() as instance:
            defs.resolve_job_def("claims_ingest_job").execute_in_process(instance=instance)
            defs.resolve_job_def("claims_daily_job").execute_in_process(instance=instance, partition_key=DAY)
            empty = defs.resolve_job_def("claims_daily_job").execute_in_process(instance=instance,
                                                                                 partition_key="2026-05-05")
            defs.resolve_job_def("refresh_job").execute_in_process(instance=instance)
        yield settings, empty


def one(settings, sql):
    result = run_query(settings, sql)
    assert len(result.rows) == 1, result.rows
    return dict(zip(result.columns, result.rows[0]))


def test_financial_ops(story_lake):
    settings, _ = story_lake
    row = one(settings, "SELECT * FROM financial_ops_daily")
    assert row["claims_submitted"] == 3
    assert (row["detect_text_claims"], row["analyze_document_claims"]) == (2, 1)
    assert row["textract_savings_gbp"] == pytest.approx(2 * (0.0015 - 0.00015))
    assert row["textract_cost_gbp"] == pytest.approx(0.0015 + 0.015 + 0.0015)
    assert row["bedrock_cost_gbp"] == pytest.approx(0.03)
    assert (row["claims_paid"], row["payouts_released_gbp"]) == (2, pytest.approx(1600.0))
    assert row["avg_cost_per_claim_gbp"] == pytest.approx((0.0115 + 0.035 + 0.0015) / 3)


def test_model_performance(story_lake):
    settings, _ = story_lake
    row = one(settings, "SELECT * FROM model_performance_daily")
    assert (row["decisions"], row["agreements"], row["disagreements"]) == (3, 2, 1)
    assert row["agreement_rate"] == pytest.approx(2 / 3)
    assert row["override_rate"] == pytest.approx(1 / 3)
    assert row["avg_payout_variance_gbp"] == pytest.approx(400 / 2)  # C3 has no payout: not a variance
    assert row["max_payout_variance_gbp"] == pytest.approx(400.0)


def test_operational_efficiency_and_heatmap(story_lake):
    settings, _ = story_lake
    row = one(settings, "SELECT * FROM operational_efficiency_daily")
    assert (row["events"], row["claims_submitted"], row["claims_completed"]) == (11, 3, 3)  # 2 PAID + 1 DENIED
    assert row["processing_time_p50_ms"] == pytest.approx(60000)
    assert row["peak_hour_throughput"] == 2  # C1 and C2 paid in hour 11
    hours = run_query(settings, "SELECT hour, events FROM hourly_volume ORDER BY hour").rows
    assert hours == [(9, 3), (10, 3), (11, 2), (12, 2), (13, 1)]
    heat = one(settings, "SELECT * FROM fraud_heatmap")
    assert (heat["vehicle_type"], heat["region"], heat["claims"], heat["high_risk_claims"]) == ("suv", "London", 2, 1)
    assert heat["avg_fraud_score"] == pytest.approx(45.0)


def test_override_themes_and_hard_cases(story_lake):
    settings, _ = story_lake
    theme = one(settings, "SELECT * FROM override_themes")
    assert (theme["theme"], theme["overrides"]) == ("pre-existing damage", 1)
    case = one(settings, "SELECT * FROM hard_cases")
    assert (case["claim_id"], case["payout_difference"], case["rank"]) == ("C2", 400.0, 1)
    assert str(case["week_start"]) == DAY


def test_current_state_and_transitions(story_lake):
    settings, _ = story_lake
    current = {r[0]: r[1:] for r in run_query(settings, "SELECT claim_id, status, removed FROM claims_current").rows}
    assert current == {"C1": ("PAID", False), "C2": ("PAID", False), "C3": ("DENIED", True)}
    transitions = run_query(settings, "SELECT claim_id, from_status, to_status, seconds_between "
                                      "FROM claim_status_transitions ORDER BY claim_id, to_time").rows
    assert transitions == [
        ("C1", "SUBMITTED", "AI_ASSESSED", 120), ("C1", "AI_ASSESSED", "APPROVED", 180),
        ("C1", "APPROVED", "PAID", 6900), ("C2", "SUBMITTED", "AI_ASSESSED", 60),
        ("C2", "AI_ASSESSED", "APPROVED", 1800), ("C2", "APPROVED", "PAID", 3540),
        ("C3", "SUBMITTED", "DENIED", 600),
    ]


def test_current_claims_counted_per_region_and_status(story_lake):
    settings, _ = story_lake
    rows = run_query(settings, "SELECT region, status, removed, claims, CAST(last_event_time AS VARCHAR) "
                               "FROM claims_by_region_status ORDER BY status").rows
    # the story's last images carry no region (only its AI assessments do): every current claim is of no region
    assert rows == [(None, "DENIED", True, 1, f"{DAY} 13:00:00"), (None, "PAID", False, 2, f"{DAY} 11:30:00")]
    by_status = run_query(settings, "SELECT status, claims, removed_claims FROM claims_by_status ORDER BY status").rows
    assert by_status == [("DENIED", 1, 1), ("PAID", 2, 0)]


def test_a_day_without_data_is_an_empty_partition_not_an_error(story_lake):
    _, empty = story_lake
    assert empty.success
    counts = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata["dagster/row_count"].value
              for e in empty.get_asset_materialization_events()}
    assert counts["financial_ops_daily"] == 0


def test_the_ai_processing_time_card_is_the_mean_over_the_completions_with_a_duration(lake_env):
    """A completion written without processing_duration_ms counts in claims_completed, not in the AI processing
    time: the card's mean over several days skips it (as a mean skips NULLs) instead of counting it as 0 minutes."""
    from analytics_pipeline.dashboards.definition import SHIPPED_DIR, load_dashboard
    from analytics_pipeline.runner import run_pipeline

    def completed(event_id, day, claim, minutes=None):
        duration = {} if minutes is None else {"processing_duration_ms": minutes * 60000}
        return stream_record(event_id, "MODIFY", epoch(day, 12), claim, old=image(claim, "APPROVED"),
                             new=image(claim, "PAID", updated_at=f"{day}T12:00:00Z", **duration))

    records = [completed("d1", "2026-05-04", "C1", minutes=2), completed("d2", "2026-05-04", "C2"),
               completed("d3", "2026-05-04", "C3"), completed("d4", "2026-05-05", "C4", minutes=8),
               completed("d5", "2026-05-06", "C5")]  # a day without any duration
    landing_root(lake_env).write_bytes(jsonl(records), "claims", "completions.jsonl")
    run_pipeline(lake_env, progress=lambda _: None)

    days = run_query(lake_env, "SELECT event_date::VARCHAR, claims_completed, completions_with_processing_time "
                               "FROM operational_efficiency_daily ORDER BY 1").rows
    assert days == [("2026-05-04", 3, 1), ("2026-05-05", 1, 1), ("2026-05-06", 1, 0)]
    (card,) = [w for w in load_dashboard(SHIPPED_DIR / "operational_efficiency.yaml").widgets
               if w.id == "processing_time"]
    minutes = run_query(lake_env, card.sql).rows[0][0]
    assert minutes == pytest.approx((2 + 8) / 2)
