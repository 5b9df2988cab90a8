"""Claims processed tables and marts (seed 000), each computed by its own SQL file in ``sql/``.

Daily marts are partitioned by event day and read only that day's raw partition, so the cost
of a new day does not grow with the lake. The processed tables (current state, transitions,
hard cases) span claims' whole lives and are rebuilt from the raw layer when it changes.
"""


from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import PurePosixPath

import dagster as dg

from analytics_pipeline.automation import ON_LAKE_UPDATE
from analytics_pipeline.claims import vocabulary as v
from analytics_pipeline.ingestion.assets import raw_asset_key
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, scalar
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.tables import register_raw_day, register_source_view, row_count, write_table
from analytics_pipeline.metadata import markdown_bars, markdown_table
from analytics_pipeline.partitions import event_day_partitions, partitioned_check_spec

RAW = raw_asset_key("claims")
FRESHNESS_HOURS = 26



def claims_sql(name: str, **values: str) -> str:
    template = resources.files(__package__).joinpath("sql", f"{name}.sql").read_text()
    return template.format(
        paid=v.PAID_STATUS,
        assessed=v.AI_ASSESSED_STATUS,
        decisions=str(v.DECISION_STATUSES),
        completed=str(v.COMPLETED_STATUSES),
        analyze_price=v.ANALYZE_DOCUMENT_PRICE_GBP,
        detect_price=v.DETECT_TEXT_PRICE_GBP,
        high_fraud=v.HIGH_FRAUD_SCORE,
        **values,
    )


def build_daily_mart(name: str, description: str, check: dg.AssetCheckSpec | None = None):
    """A mart with one partition per event day, computed from that day's raw claims."""

    @dg.asset(
        name=name,
        group_name="claims_marts",
        kinds={"duckdb", "parquet"},
        partitions_def=event_day_partitions,
        deps=[RAW],
        description=description,
        check_specs=[check] if check else None,
    )
    def daily_mart(context: dg.AssetExecutionContext, lake: LakeResource):
        day = context.partition_key
        root = lake.lake_root()
        con = connect(root)
        try:
            if not register_raw_day(con, root, "claims", day):
                root.delete(str(PurePosixPath(layout.table_file("marts", name, day)).parent))
                yield dg.MaterializeResult(metadata={"dagster/row_count": 0, "note": f"no raw claims for {day}"})
                if check:
                    yield dg.AssetCheckResult(check_name=check.name, passed=True, metadata={"decisions": 0})
                return
            write_table(con, root, claims_sql(name, day=day), "marts", name, partition=day)
            yield dg.MaterializeResult(
                metadata={
                    "dagster/row_count": row_count(con),
                    "data_through": dg.MetadataValue.text(str(scalar(con, "SELECT max(event_time) FROM raw_day"))),
                    "preview": markdown_table(con, "SELECT * FROM result_rows"),
                }
            )
            if check:
                yield agreement_rate_result(con, check.name)
        finally:
            con.close()

    return daily_mart


def agreement_rate_result(con, check_name: str) -> dg.AssetCheckResult:
    decisions, rate = con.execute("SELECT decisions, agreement_rate FROM result_rows").fetchall()[0]
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=rate is None or rate >= v.AGREEMENT_RATE_FLOOR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"agreement_rate": dg.MetadataValue.float(float(rate) if rate is not None else float("nan")),
                  "decisions": int(decisions), "floor": v.AGREEMENT_RATE_FLOOR},
        description=f"AI/adjuster agreement {rate:.1%} (floor {v.AGREEMENT_RATE_FLOOR:.0%})" if rate is not None
        else "no decisions that day",
    )


def build_claims_table(name: str, layer: str, description: str, chart: tuple[str, str] | None = None,
                       check_specs: list[dg.AssetCheckSpec] | None = None, checks=None):
    """An unpartitioned table over all claims, rebuilt when raw claims change."""

    @dg.asset(
        name=name,
        group_name=f"claims_{layer}",
        kinds={"duckdb", "parquet"},
        deps=[RAW],
        description=description,
        automation_condition=ON_LAKE_UPDATE,
        check_specs=check_specs,
    )
    def claims_table(context: dg.AssetExecutionContext, lake: LakeResource):
        root = lake.lake_root()
        con = connect(root)
        try:
            if not register_source_view(con, root, "claims", "claims"):
                raise dg.Failure(f"{name}: the raw claims layer is empty; land files under landing/claims/ first")
            rows = write_table(con, root, claims_sql(name), layer, name)
            metadata = {"dagster/row_count": rows, "preview": markdown_table(con, "SELECT * FROM result_rows", 10)}
            if chart:
                metadata["chart"] = markdown_bars(con, chart[1], chart[0])
            yield dg.MaterializeResult(metadata=metadata)
            for result in (checks(con) if checks else []):
                yield result
        finally:
            con.close()

    return claims_table


def current_state_checks(con) -> list[dg.AssetCheckResult]:
    duplicates = scalar(con, "SELECT count(*) - count(DISTINCT event_id) FROM claims")
    through = scalar(con, "SELECT max(event_time) FROM claims")
    age = datetime.now(timezone.utc).replace(tzinfo=None) - through
    return [
        dg.AssetCheckResult(check_name="claims_event_ids_unique", passed=duplicates == 0,
                            severity=dg.AssetCheckSeverity.ERROR, metadata={"duplicate_event_ids": duplicates}),
        dg.AssetCheckResult(
            check_name="claims_fresh", passed=age <= timedelta(hours=FRESHNESS_HOURS),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"data_through": dg.MetadataValue.text(str(through)),
                      "age_hours": dg.MetadataValue.float(age.total_seconds() / 3600)},
            description=f"newest claims event is {age.total_seconds() / 3600:.1f} h old (limit {FRESHNESS_HOURS} h)",
        ),
    ]


daily_marts = [
    build_daily_mart("financial_ops_daily", "CFO view per event day: Textract savings (seed formula), payouts, "
                     "cost per claim, Textract vs Bedrock cost."),
    build_daily_mart(
        "model_performance_daily",
        "Data-science view per event day: AI/adjuster agreement rate, override rate, fraud score, payout variance.",
        check=partitioned_check_spec("agreement_rate_at_least_85_percent", "model_performance_daily",
                                     "The seed's drift alarm: agreement below 85 % warns."),
    ),
    build_daily_mart("operational_efficiency_daily", "Manager view per event day: processing time p50/p95, "
                     "throughput per hour, completions."),
    build_daily_mart("hourly_volume", "Day × hour volume of change records, submissions and completions (heatmap)."),
    build_daily_mart("fraud_heatmap", "Fraud score by vehicle type × region over the day's AI assessments."),
    build_daily_mart("override_themes", "Adjuster override justifications grouped into keyword themes."),
]

processed_tables = [
    build_claims_table(
        "claims_current", "processed", "Latest state per claim; removed claims are kept and flagged.",
        chart=("Claims by current status", "SELECT status, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
        check_specs=[
            dg.AssetCheckSpec("claims_event_ids_unique", asset="claims_current",
                              description="No event id appears twice across the raw claims layer."),
            dg.AssetCheckSpec("claims_fresh", asset="claims_current",
                              description=f"The newest claims event is at most {FRESHNESS_HOURS} h old."),
        ],
        checks=current_state_checks,
    ),
    build_claims_table(
        "claim_status_transitions", "processed", "Every status change: from, to, seconds between.",
        chart=("Average seconds per transition", "SELECT from_status || ' → ' || to_status, round(avg(seconds_between)) "
               "FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
    ),
    build_claims_table("hard_cases", "marts", "Weekly top 50 overrides by payout difference, for prompt engineering."),
]
