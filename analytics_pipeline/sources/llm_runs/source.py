"""The LLM runs domain (seed 004) as wired into the code location: its spec, demo producer and assets."""

import dagster as dg

from analytics_pipeline.sources.llm_runs.assets import SPEC, lake_tables, model_usage
from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
from analytics_pipeline.sources.source import Source

# "This month" and the daily window move at midnight even when no new run arrives.
daily_refresh = dg.ScheduleDefinition(
    name="llm_marts_daily_refresh",
    target=dg.AssetSelection.assets(*[t.key for t in lake_tables]),
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Recompute the LLM marts just after midnight UTC (budget month, time-series window).",
)

SOURCE = Source(spec=SPEC, demo=llm_runs_landing_files, daily_tables=[model_usage], lake_tables=lake_tables,
                  schedules=[daily_refresh])
