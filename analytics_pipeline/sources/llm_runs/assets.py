"""LLM run analytics assets (seed 004): usage priced per day, run costs, the seed's marts, alarms.

``llm_model_usage`` is partitioned by the runs' start day so a price change can be applied to a
chosen period by re-materializing (backfilling) those days. Run costs and job states are keyed
tables, updated for the runs and jobs a change touched; the marts are small aggregates over them,
recomputed when they change and daily so that "this month" and the window move on.
"""

from functools import partial

import dagster as dg
import duckdb

from analytics_pipeline.currencies import money
from analytics_pipeline.ingestion.assets import raw_asset_key
from analytics_pipeline.lake.duck import scalar
from analytics_pipeline.platform.keyed_tables import EntityKey, build_keyed_table
from analytics_pipeline.platform.table_assets import (
    TableSpec,
    build_daily_table,
    build_lake_table,
    package_sql,
    utc_now,
)
from analytics_pipeline.sources.llm_runs.prices import load_prices, register_prices
from analytics_pipeline.sources.llm_runs.resource import DEFAULT_COSTS, LlmCostsResource
from analytics_pipeline.sources.llm_runs.spec import (
    LATEST_JOB_SNAPSHOT,
    LATEST_RUN_VERSION,
    SPEC,
)

RAW = raw_asset_key("llm_runs")
EMPTY_USAGE = ("SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS model, 0::BIGINT AS input_tokens, "
               "0::BIGINT AS output_tokens, 0::BIGINT AS total_tokens, 0.0::DOUBLE AS cost, "
               "NULL::DOUBLE AS computed_cost, NULL::VARCHAR AS cost_source WHERE false")


llm_sql = partial(package_sql, __package__)
# The tables below that need the run's budget, prices, window or thresholds name the ``llm_costs`` resource.
COSTS = ("llm_costs",)


def _summary_sql(llm_costs: LlmCostsResource = DEFAULT_COSTS) -> str:
    budget = llm_costs.monthly_budget
    return llm_sql("run_summary", now=utc_now(), monthly_budget="NULL" if budget is None else repr(budget))


def _daily_runs_sql(llm_costs: LlmCostsResource = DEFAULT_COSTS) -> str:
    return llm_sql("daily_runs", today=utc_now().date().isoformat(), days=llm_costs.timeseries_days)


def _in_llm_currency(title: str):
    """A chart title naming the LLM costs' currency."""
    return lambda llm_costs: f"{title} ({llm_costs.currency})"


def _register_prices(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> None:
    register_prices(con, load_prices(llm_costs.model_prices_path))


def budget_checks(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> list[dg.AssetCheckResult]:
    budget, spent, pass_rate, qa_runs = con.execute(
        "SELECT monthly_budget, current_month_cost, qa_pass_rate, "
        "qa_passed + qa_warning + qa_failed FROM result_rows").fetchall()[0]
    floor = llm_costs.qa_pass_rate_floor
    if budget is None:
        used, figure = 0.0, "no monthly budget configured"
    else:
        # the mart's budget_used_ratio is NULL for a zero budget; the checks treat any spend as over it
        used = spent / budget if budget else (float("inf") if spent > 0 else 0.0)
        currency = llm_costs.currency
        figure = f"{money(spent, currency)} of {money(budget, currency)} this month ({used:.0%})"
    meta = {"current_month_cost": dg.MetadataValue.float(float(spent)),
            "monthly_budget": dg.MetadataValue.float(float(budget or 0)),
            "budget_used_ratio": dg.MetadataValue.float(float(min(used, 1e9)))}
    return [
        dg.AssetCheckResult(check_name="budget_below_70_percent", passed=used < 0.7,
                            severity=dg.AssetCheckSeverity.WARN, metadata=meta, description=figure),
        dg.AssetCheckResult(check_name="budget_below_90_percent", passed=used < 0.9,
                            severity=dg.AssetCheckSeverity.WARN, metadata=meta, description=figure),
        dg.AssetCheckResult(check_name="budget_not_exceeded", passed=used <= 1.0,
                            severity=dg.AssetCheckSeverity.ERROR, metadata=meta, description=figure),
        dg.AssetCheckResult(
            check_name="qa_pass_rate_at_least_floor", passed=qa_runs == 0 or pass_rate >= floor,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"qa_pass_rate": dg.MetadataValue.float(float(pass_rate)), "floor": floor},
            description=f"QA pass rate {pass_rate:.1%} (floor {floor:.0%})" if qa_runs else "no QA results yet",
        ),
    ]


def cost_spike_check(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> list[dg.AssetCheckResult]:
    """The newest day against the day before it: a jump beyond the factor warns."""
    factor = llm_costs.cost_spike_factor
    rows = con.execute("SELECT date, cost FROM result_rows ORDER BY date DESC LIMIT 2").fetchall()
    (day, cost), previous = (rows[0], rows[1][1]) if len(rows) == 2 else ((None, 0.0), 0.0)
    ratio = cost / previous if previous else None
    spiked = ratio is not None and ratio > factor
    worst = scalar(con, "SELECT max(cost / nullif(prev, 0)) FROM (SELECT cost, lag(cost) OVER (ORDER BY date) "
                        "AS prev FROM result_rows)")
    return [dg.AssetCheckResult(
        check_name="no_cost_spike", passed=not spiked, severity=dg.AssetCheckSeverity.WARN,
        metadata={"day": dg.MetadataValue.text(str(day)), "cost": dg.MetadataValue.float(float(cost)),
                  "previous_day_cost": dg.MetadataValue.float(float(previous)), "factor": factor,
                  "largest_day_over_day_ratio_in_window": dg.MetadataValue.float(float(worst or 0))},
        description=(f"{day}: {money(cost, llm_costs.currency)} is {ratio:.1f}× the day "
                     f"before (limit {factor}×)" if ratio
                     else f"{day}: no previous-day cost to compare"),
    )]


def _check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description)


model_usage = build_daily_table(SPEC, TableSpec(
    name="llm_model_usage", layer="processed", group="llm_runs",
    description="One row per run × model, per start day: tokens and cost, reported or computed from the "
                "price table (cost_source, price_version). Backfill days to re-price them.",
    deps=[RAW], sql=lambda day: llm_sql("llm_model_usage", day=day, latest_run_version=LATEST_RUN_VERSION),
    prepare=_register_prices, resources=COSTS,
))

USAGE = model_usage.key
RUN_COSTS = dg.AssetKey("llm_run_costs")
JOBS = dg.AssetKey("llm_jobs_current")
QA = dg.AssetKey("qa_summary")

lake_tables = [
    build_keyed_table(TableSpec(
        name="llm_run_costs", layer="processed", group="llm_runs", deps=[RAW, USAGE],
        description="One row per run: tokens, cost and where the cost came from.",
        sql=lambda: llm_sql("llm_run_costs"), fallback_views={"llm_model_usage": EMPTY_USAGE},
    ), EntityKey(SPEC, "run_id", partitioned_inputs=("processed/llm_model_usage",))),
    build_keyed_table(TableSpec(
        name="llm_jobs_current", layer="processed", group="llm_runs", deps=[RAW],
        description="The latest snapshot of every background job.",
        sql=lambda: llm_sql("llm_jobs_current", latest_job_snapshot=LATEST_JOB_SNAPSHOT),
        chart=("Jobs by status", "SELECT status, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
    ), EntityKey(SPEC, "job_id")),
    build_lake_table(SPEC, TableSpec(
        name="qa_summary", layer="marts", group="llm_marts", deps=[RUN_COSTS],
        description="QA results across runs; pass rate = passed / (passed + warning + failed).",
        sql=lambda: llm_sql("qa_summary"),
    )),
    build_lake_table(SPEC, TableSpec(
        name="run_summary", layer="marts", group="llm_marts", deps=[RUN_COSTS, JOBS, QA],
        description="The LLM orchestrator's AnalyticsSummary: totals, averages, jobs by status, 2- vs 3-loop, QA, budget.",
        sql=_summary_sql,
        check_specs=[
            _check("budget_below_70_percent", "run_summary", "This month's cost is under 70 % of the budget."),
            _check("budget_below_90_percent", "run_summary", "This month's cost is under 90 % of the budget."),
            _check("budget_not_exceeded", "run_summary", "This month's cost is within the budget."),
            _check("qa_pass_rate_at_least_floor", "run_summary", "QA pass rate at or above ANALYTICS_QA_PASS_RATE_FLOOR."),
        ],
        checks=budget_checks, resources=COSTS,
    )),
    build_lake_table(SPEC, TableSpec(
        name="project_costs", layer="marts", group="llm_marts", deps=[RUN_COSTS],
        description="The LLM orchestrator's ProjectSummary per project.", sql=lambda: llm_sql("project_costs"),
        chart=(_in_llm_currency("Cost by project"), "SELECT project_name, round(total_cost, 2) FROM result_rows"),
        resources=COSTS,
    )),
    build_lake_table(SPEC, TableSpec(
        name="model_costs", layer="marts", group="llm_marts", deps=[USAGE],
        description="The LLM orchestrator's ModelSummary per model, with cost share.", sql=lambda: llm_sql("model_costs"),
        fallback_views={"llm_model_usage": EMPTY_USAGE},
        chart=(_in_llm_currency("Cost by model"), "SELECT model_name, round(total_cost, 4) FROM result_rows"),
        resources=COSTS,
    )),
    build_lake_table(SPEC, TableSpec(
        name="daily_runs", layer="marts", group="llm_marts", deps=[RUN_COSTS],
        description="Runs, tokens, cost and QA per day over the last ANALYTICS_TIMESERIES_DAYS days (zeros "
                    "for days without runs).",
        sql=_daily_runs_sql,
        check_specs=[_check("no_cost_spike", "daily_runs",
                            "The newest day's cost is within ANALYTICS_COST_SPIKE_FACTOR × the day before.")],
        checks=cost_spike_check,
        chart=(_in_llm_currency("Cost per day"), "SELECT strftime(date, '%m-%d'), round(cost, 2) FROM result_rows"),
        resources=COSTS,
    )),
]
