"""LLM run analytics assets (seed 004): usage priced per day, run costs, the seed's marts, alarms.

``llm_model_usage`` is partitioned by the runs' start day so a price change (an override, or a newer
genai-prices) can be applied to a chosen period by re-materializing (backfilling) those days. Run costs and
job states are keyed tables, updated for the runs and jobs a change touched; the marts are small aggregates
over them, recomputed when they change and daily so that "this month" and the windows move on.
"""

from functools import partial

import dagster as dg
import duckdb

from analytics_pipeline.currencies import money
from analytics_pipeline.lake.duck import scalar, sql_literal
from analytics_pipeline.platform.metadata import markdown_table, rounded
from analytics_pipeline.platform.source_tables import SourceTables
from analytics_pipeline.platform.table_assets import package_sql, utc_now
from analytics_pipeline.sources.llm_runs.prices import (
    GENAI_PRICES,
    OVERRIDES,
    load_overrides,
    register_model_day_prices,
    resolve_prices,
    usage_keys,
)
from analytics_pipeline.sources.llm_runs.resource import DEFAULT_COSTS, LlmCostsResource
from analytics_pipeline.sources.llm_runs.spec import (
    LATEST_JOB_SNAPSHOT,
    LATEST_RUN_VERSION,
    MODEL_USAGE_TYPE,
    SPEC,
)

EMPTY_USAGE = ("SELECT NULL::VARCHAR AS run_id, NULL::VARCHAR AS model, NULL::VARCHAR AS provider, "
               "NULL::TIMESTAMP AS started_at, 0::BIGINT AS input_tokens, 0::BIGINT AS output_tokens, "
               "0::BIGINT AS cache_read_tokens, 0::BIGINT AS cache_write_tokens, 0::BIGINT AS reasoning_tokens, "
               "0::BIGINT AS total_tokens, 0.0::DOUBLE AS cost, NULL::DOUBLE AS computed_cost, "
               "NULL::VARCHAR AS cost_source WHERE false")

# llm_model_usage as the marts read it (model_usage): days computed by an earlier version lack the newer columns, which
# read as NULL there until `run --full-refresh` (or reprice) recomputes those days.
MODEL_USAGE = {"model_usage": "SELECT * FROM (SELECT NULL::VARCHAR AS provider, NULL::BIGINT AS cache_read_tokens, "
                              "NULL::BIGINT AS cache_write_tokens, NULL::BIGINT AS reasoning_tokens WHERE false) "
                              "UNION ALL BY NAME SELECT * FROM llm_model_usage"}


# llm_sql(name, **values): an LLM runs SQL file, which version of a run and a job counts filled in.
llm_sql = partial(package_sql, __package__, latest_run_version=LATEST_RUN_VERSION,
                  latest_job_snapshot=LATEST_JOB_SNAPSHOT, model_usage_type=MODEL_USAGE_TYPE)
tables = SourceTables(SPEC, llm_sql, groups={"processed": "llm_runs", "marts": "llm_marts"})
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
    """model_day_prices for the (model, provider, day)s of the days being computed, each resolved once."""
    overrides = load_overrides(llm_costs.model_prices_path)
    register_model_day_prices(con, resolve_prices(usage_keys(con), overrides))


# The budget checks, the monthly budget's and each tag budget's alike: (name, severity, whether the share of the
# budget used passes): a warning from 70 % and from 90 % of the budget, an error above it.
BUDGET_LEVELS = (
    ("below_70_percent", dg.AssetCheckSeverity.WARN, lambda used: used < 0.7),
    ("below_90_percent", dg.AssetCheckSeverity.WARN, lambda used: used < 0.9),
    ("not_exceeded", dg.AssetCheckSeverity.ERROR, lambda used: used <= 1.0),
)


def budget_used(spent: float, budget: float) -> float:
    """The share of a budget spent; the marts' ratio is NULL for a zero budget, which any spend exceeds."""
    return spent / budget if budget else (float("inf") if spent > 0 else 0.0)


def budget_checks(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> list[dg.AssetCheckResult]:
    budget, spent, unpriced, pass_rate, qa_runs = con.execute(
        "SELECT monthly_budget, current_month_cost, current_month_unpriced_tokens, qa_pass_rate, "
        "qa_passed + qa_warning + qa_failed FROM result_rows").fetchall()[0]
    floor = llm_costs.qa_pass_rate_floor
    if budget is None:
        used, figure = 0.0, "no monthly budget configured"
    else:
        used = budget_used(spent, budget)
        currency = llm_costs.currency
        figure = f"{money(spent, currency)} of {money(budget, currency)} this month ({used:.0%})" + (
            f"; {unpriced:,} tokens this month have no price and are not counted" if unpriced else "")
    # rounded for the UI (39.4104, not 39.41042230000002); the marts keep every digit
    meta = {"current_month_cost": rounded(spent),
            "monthly_budget": rounded(budget or 0),
            "budget_used_ratio": rounded(min(used, 1e9)),
            "current_month_unpriced_tokens": dg.MetadataValue.int(int(unpriced))}
    return [
        *(dg.AssetCheckResult(check_name=f"budget_{level}", passed=passes(used), severity=severity, metadata=meta,
                              description=figure) for level, severity, passes in BUDGET_LEVELS),
        dg.AssetCheckResult(
            check_name="qa_pass_rate_at_least_floor", passed=qa_runs == 0 or pass_rate >= floor,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"qa_pass_rate": rounded(pass_rate), "floor": floor},
            description=f"QA pass rate {pass_rate:.1%} (floor {floor:.0%})" if qa_runs else "no QA results yet",
        ),
    ]


def cost_spike_check(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> list[dg.AssetCheckResult]:
    """The newest day against the day before it: a jump beyond the factor warns."""
    factor = llm_costs.cost_spike_factor
    # the known costs: a day whose usage has no price at all compares as 0 (all_usage_priced warns about it)
    rows = con.execute("SELECT date, coalesce(cost, 0.0) FROM result_rows ORDER BY date DESC LIMIT 2").fetchall()
    (day, cost), previous = (rows[0], rows[1][1]) if len(rows) == 2 else ((None, 0.0), 0.0)
    ratio = cost / previous if previous else None
    spiked = ratio is not None and ratio > factor
    worst = scalar(con, "SELECT max(cost / nullif(prev, 0)) FROM (SELECT cost, lag(cost) OVER (ORDER BY date) "
                        "AS prev FROM result_rows)")
    return [dg.AssetCheckResult(
        check_name="no_cost_spike", passed=not spiked, severity=dg.AssetCheckSeverity.WARN,
        metadata={"day": dg.MetadataValue.text(str(day)), "cost": rounded(cost),
                  "previous_day_cost": rounded(previous), "factor": factor,
                  "largest_day_over_day_ratio_in_window": rounded(worst or 0)},
        description=(f"{day}: {money(cost, llm_costs.currency)} is {ratio:.1f}× the day "
                     f"before (limit {factor}×)" if ratio
                     else f"{day}: no previous-day cost to compare"),
    )]


def tag_budget_checks(con: duckdb.DuckDBPyConnection, llm_costs: LlmCostsResource) -> list[dg.AssetCheckResult]:
    """The budget levels over every tag budget: a level fails when any budget is past it, naming those that are."""
    budgets = con.execute("SELECT tag_key, tag_value, budget, window_days, cost, unpriced_tokens FROM result_rows "
                          "ORDER BY tag_key, tag_value").fetchall()
    currency = llm_costs.currency
    used = {(key, value): budget_used(cost, budget) for key, value, budget, _, cost, _ in budgets}
    figures = {(key, value): f"{key}:{value} {money(cost, currency)} of {money(budget, currency)} over {days} days "
                             f"({used[key, value]:.0%})"
                             + (f", {unpriced:,} tokens without a price" if unpriced else "")
               for key, value, budget, days, cost, unpriced in budgets}
    meta = {"tag_budgets": dg.MetadataValue.int(len(budgets)),
            "largest_budget_used_ratio": rounded(min(max(used.values(), default=0.0), 1e9)),
            "budgets": markdown_table(con, "SELECT * FROM result_rows")}
    results = []
    for level, severity, passes in BUDGET_LEVELS:
        past = [figures[tag] for tag in figures if not passes(used[tag])]
        if not budgets:
            description = "no tag budgets configured (ANALYTICS_BUDGETS)"
        elif past:
            description = "; ".join(past)
        else:
            description = f"all {len(budgets)} tag budgets {level.replace('_', ' ').replace(' percent', ' %')}"
        results.append(dg.AssetCheckResult(check_name=f"tag_budgets_{level}", passed=not past, severity=severity,
                                           metadata=meta, description=description))
    return results


def unpriced_usage_check(con: duckdb.DuckDBPyConnection) -> list[dg.AssetCheckResult]:
    """Usage without a price has an unknown cost, left out of every sum: warn, naming the models and tokens."""
    rows = con.execute("SELECT model, provider, runs, total_tokens FROM result_rows").fetchall()
    tokens = sum(r[3] for r in rows)
    named = [f"{model}{f' ({provider})' if provider else ''}: {total:,} tokens in {runs:,} runs"
             for model, provider, runs, total in rows[:10]]
    have = "models have" if len(rows) > 1 else "model has"
    description = (f"{len(rows)} {have} no price in {GENAI_PRICES} or {OVERRIDES}, so {tokens:,} tokens are "
                   f"not in any cost: " + "; ".join(named) + ("; ..." if len(rows) > 10 else "")
                   if rows else f"every model used has a price ({GENAI_PRICES}, {OVERRIDES})")
    return [dg.AssetCheckResult(
        check_name="all_usage_priced", passed=not rows, severity=dg.AssetCheckSeverity.WARN, description=description,
        metadata={"unpriced_models": dg.MetadataValue.int(len(rows)), "unpriced_tokens": dg.MetadataValue.int(tokens),
                  "models": markdown_table(con, "SELECT * FROM result_rows")})]


def _tag_budgets_sql(llm_costs: LlmCostsResource = DEFAULT_COSTS) -> str:
    budgets = llm_costs.tag_budgets
    rows = ", ".join(f"({sql_literal(b.tag_key)}, {sql_literal(b.tag_value)}, {b.amount!r}::DOUBLE, {b.window_days})"
                     for b in budgets)
    values = (f"SELECT * FROM (VALUES {rows}) AS b(tag_key, tag_value, budget, window_days)" if budgets else
              "SELECT NULL::VARCHAR AS tag_key, NULL::VARCHAR AS tag_value, NULL::DOUBLE AS budget, "
              "NULL::INTEGER AS window_days WHERE false")
    return llm_sql("tag_budgets", budgets=values, today=utc_now().date().isoformat())


def _check(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=asset, description=description)


model_usage = tables.daily(
    "llm_model_usage", "One row per run × model, per start day: tokens (cached and reasoning ones among them) and "
    "cost, reported or computed from genai-prices or ANALYTICS_MODEL_PRICES (cost_source, price_version; NULL when "
    "no price is known). Backfill days to re-price them.", layer="processed",
    prepare=_register_prices, prepared=("model_day_prices",), resources=COSTS,
)

lake_tables = [
    tables.keyed("llm_run_costs", "One row per run: tokens, cost and where the cost came from.",
                 partitioned_inputs=("processed/llm_model_usage",), fallback_views={"llm_model_usage": EMPTY_USAGE},
                 helper_views=MODEL_USAGE),
    tables.keyed("llm_jobs_current", "The latest snapshot of every background job.", key="job_id",
                 chart=("Jobs by status", "SELECT status, count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC")),
    tables.mart("qa_summary", "QA results across runs; pass rate = passed / (passed + warning + failed)."),
    tables.mart(
        "run_summary", "The LLM orchestrator's AnalyticsSummary: totals, averages, jobs by status, 2- vs 3-loop, QA, "
        "budget.",
        sql=_summary_sql,
        check_specs=[
            _check("budget_below_70_percent", "run_summary", "This month's cost is under 70 % of the budget."),
            _check("budget_below_90_percent", "run_summary", "This month's cost is under 90 % of the budget."),
            _check("budget_not_exceeded", "run_summary", "This month's cost is within the budget."),
            _check("qa_pass_rate_at_least_floor", "run_summary", "QA pass rate at or above ANALYTICS_QA_PASS_RATE_FLOOR."),
        ],
        checks=budget_checks, resources=COSTS,
    ),
    tables.mart("project_costs", "The LLM orchestrator's ProjectSummary per project.",
                chart=(_in_llm_currency("Cost by project"), "SELECT project_name, round(total_cost, 2) FROM result_rows"),
                resources=COSTS),
    tables.mart("model_costs", "The LLM orchestrator's ModelSummary per model, with cost share.",
                fallback_views={"llm_model_usage": EMPTY_USAGE}, helper_views=MODEL_USAGE,
                chart=(_in_llm_currency("Cost by model"), "SELECT model_name, round(total_cost, 4) FROM result_rows"),
                resources=COSTS),
    tables.mart(
        "daily_runs", "Runs, tokens, cost and QA per day over the last ANALYTICS_TIMESERIES_DAYS days (zeros for days "
        "without runs).",
        sql=_daily_runs_sql,
        check_specs=[_check("no_cost_spike", "daily_runs",
                            "The newest day's cost is within ANALYTICS_COST_SPIKE_FACTOR × the day before.")],
        checks=cost_spike_check,
        chart=(_in_llm_currency("Cost per day"), "SELECT strftime(date, '%m-%d'), round(cost, 2) FROM result_rows"),
        resources=COSTS,
    ),
    tables.mart(
        "unpriced_models", "Models whose usage has no price (unknown to ANALYTICS_MODEL_PRICES and genai-prices for "
        "the run's provider): runs and tokens, left out of every cost.",
        fallback_views={"llm_model_usage": EMPTY_USAGE}, helper_views=MODEL_USAGE,
        check_specs=[_check("all_usage_priced", "unpriced_models",
                            "Every model used has a price (else its cost is unknown and left out of the sums).")],
        checks=unpriced_usage_check,
    ),
    tables.mart("tag_costs", "Cost and tokens per run tag (key × value, e.g. tenant = acme) per day."),
    tables.mart(
        "tag_budgets", "Each ANALYTICS_BUDGETS budget: the cost of its tag's runs over its rolling window.",
        sql=_tag_budgets_sql,
        check_specs=[
            _check("tag_budgets_below_70_percent", "tag_budgets", "Every tag budget's cost is under 70 % of it."),
            _check("tag_budgets_below_90_percent", "tag_budgets", "Every tag budget's cost is under 90 % of it."),
            _check("tag_budgets_not_exceeded", "tag_budgets", "Every tag budget's cost is within it."),
        ],
        checks=tag_budget_checks, resources=COSTS,
    ),
]
