"""Claims processed tables and marts (seed 000), each computed by its own SQL file in ``sql/``.

Daily marts are partitioned by event day and read only that day's raw partition, so the cost
of a new day does not grow with the lake. The processed tables (current state, transitions,
hard-case candidates) span claims' whole lives: they are keyed by claim and only the claims a
change touched are recomputed (``keyed_tables``); ``hard_cases`` ranks the candidates.
"""

from functools import partial

import dagster as dg

from analytics_pipeline.lake.duck import scalar
from analytics_pipeline.lake.freshness import freshness_result
from analytics_pipeline.platform.lake_policy import LakePolicyResource
from analytics_pipeline.platform.metadata import rounded
from analytics_pipeline.platform.source_tables import SourceTables
from analytics_pipeline.platform.table_assets import package_sql
from analytics_pipeline.sources.claims import vocabulary as v
from analytics_pipeline.sources.claims.spec import SPEC


# claims_sql(name, **values): a claims SQL file, the claims vocabulary filled in.
claims_sql = partial(
    package_sql, __package__,
    paid=v.PAID_STATUS,
    assessed=v.AI_ASSESSED_STATUS,
    decisions=str(v.DECISION_STATUSES),
    completed=str(v.COMPLETED_STATUSES),
    analyze_price=v.ANALYZE_DOCUMENT_PRICE_GBP,
    detect_price=v.DETECT_TEXT_PRICE_GBP,
    high_fraud=v.HIGH_FRAUD_SCORE,
)
tables = SourceTables(SPEC, claims_sql, groups={"processed": "claims_processed", "marts": "claims_marts"})


def agreement_rate_result(con, check_name: str) -> dg.AssetCheckResult:
    decisions, rate = con.execute("SELECT decisions, agreement_rate FROM result_rows").fetchall()[0]
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=rate is None or rate >= v.AGREEMENT_RATE_FLOOR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"agreement_rate": rounded(rate),
                  "decisions": int(decisions), "floor": v.AGREEMENT_RATE_FLOOR},
        description=f"AI/adjuster agreement {rate:.1%} (floor {v.AGREEMENT_RATE_FLOOR:.0%})" if rate is not None
        else "no decisions that day",
    )


def current_state_checks(con, lake_policy: LakePolicyResource) -> list[dg.AssetCheckResult]:
    """Over the claims this update read (every claim on a full rebuild): event ids appear once; and the
    newest claims event in the lake is recent enough."""
    duplicates = scalar(con, "SELECT count(*) - count(DISTINCT event_id) FROM claims")
    return [
        dg.AssetCheckResult(check_name="claims_event_ids_unique", passed=duplicates == 0,
                            severity=dg.AssetCheckSeverity.ERROR, metadata={"duplicate_event_ids": duplicates}),
        freshness_result("claims_fresh", "claims", scalar(con, "SELECT max(event_time) FROM newest_raw_day"),
                         lake_policy.freshness_limit("claims")),
    ]


AGREEMENT_CHECK = dg.AssetCheckSpec(  # per day, as every daily table's check
    "agreement_rate_at_least_85_percent", asset="model_performance_daily",
    description="The claims system's drift alarm: agreement below 85 % warns.")

daily_marts = [
    tables.daily("financial_ops_daily", "CFO view per event day: Textract savings (the claims system's formula), "
                 "payouts, cost per claim, Textract vs Bedrock cost."),
    tables.daily("model_performance_daily", "Data-science view per event day: AI/adjuster agreement rate, override "
                 "rate, fraud score, payout variance.", check_specs=[AGREEMENT_CHECK],
                 checks=lambda con: [agreement_rate_result(con, AGREEMENT_CHECK.name)]),
    tables.daily("operational_efficiency_daily", "Manager view per event day: processing time p50/p95, "
                 "throughput per hour, completions."),
    tables.daily("hourly_volume", "Day × hour volume of change records, submissions and completions (heatmap)."),
    tables.daily("fraud_heatmap", "Fraud score by vehicle type × region over the day's AI assessments."),
    tables.daily("override_themes", "Adjuster override justifications grouped into keyword themes."),
    tables.daily("decision_bands_daily", "Decisions per event day by confidence band and by payout-difference band "
                 "of overrides: additive counts the dashboards sum over days."),
]

processed_tables = [
    tables.keyed(
        "claims_current", "Latest state per claim; removed claims are kept and flagged.",
        chart=("Claims by current status", "SELECT status, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
        check_specs=[
            dg.AssetCheckSpec("claims_event_ids_unique", asset="claims_current",
                              description="No event id appears twice among the claims an update read (all on a full rebuild)."),
            dg.AssetCheckSpec("claims_fresh", asset="claims_current",
                              description="The newest claims event is at most ANALYTICS_FRESHNESS_HOURS old (default 26 h)."),
        ],
        checks=current_state_checks, resources=("lake_policy",),
    ),
    tables.keyed(
        "claim_status_transitions", "Every status change: from, to, seconds between.",
        # averaged from the totals per bucket (claim_transition_waits), as the bottlenecks widget is
        chart=("Average seconds per transition", "SELECT from_status || ' → ' || to_status, "
               "round(sum(total_seconds) / nullif(sum(timed_transitions), 0)) FROM claim_transition_waits "
               "GROUP BY 1 ORDER BY 2 DESC"),
        bucket_summary=("claim_transition_waits", claims_sql("claim_transition_waits")),
    ),
    tables.keyed("hard_case_candidates", "Each claim's first override where the AI disagreed, with its payout "
                 "difference: what hard_cases ranks."),
    tables.mart("hard_cases", "Weekly top 50 overrides by payout difference, for prompt engineering."),
    tables.mart("claims_by_region_status", "Current claims per region, status and removal, with their newest change: "
                "what the region pages and claims_by_status count."),
]
