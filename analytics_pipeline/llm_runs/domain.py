"""The LLM runs domain (seed 004) as wired into the code location."""

import dagster as dg

from analytics_pipeline.domain import SourceDomain
from analytics_pipeline.ingestion.specs.llm_runs import llm_runs_spec
from analytics_pipeline.llm_runs.assets import lake_tables, model_usage

# "This month" and the daily window move at midnight even when no new run arrives.
daily_refresh = dg.ScheduleDefinition(
    name="llm_marts_daily_refresh",
    target=dg.AssetSelection.assets(*[t.key for t in lake_tables]),
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Recompute the LLM marts just after midnight UTC (budget month, time-series window).",
)

LLM_RUNS = SourceDomain(spec=llm_runs_spec(), daily_assets=[model_usage], lake_tables=lake_tables,
                        schedules=[daily_refresh])
