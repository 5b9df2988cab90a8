"""The conversations domain (seeds 001, 003) as wired into the code location: its spec, demo producer and assets.

Ingestion (EventBridge envelopes and analytics events, PII redacted, user ids pseudonymised) into
``raw_conversations`` and the views ``conversation_events`` / ``conversation_turns`` / ``analytics_events``.
The learning layer (intents, flows, sequences, profiles, guidance), the session-outcome marts and seed 003's
own marts (over its AnalyticsEvent stream, summed from per-day tables) build on it.
"""

import dagster as dg

from analytics_pipeline.sources.conversations.assets import (
                                  SPEC,
                                  daily_tables,
                                  lake_tables,
)
from analytics_pipeline.sources.conversations.demo import conversations_landing_files
from analytics_pipeline.sources.conversations.intents import intent_model, intents
from analytics_pipeline.sources.conversations.training_data import training_data
from analytics_pipeline.sources.source import Source


def intents_jobs(partitions: dg.PartitionsDefinition) -> tuple[list, list[dg.ScheduleDefinition]]:
    """``intents_job`` over the daily partitions and its schedule."""
    job = dg.define_asset_job("intents_job", selection=[dg.AssetKey(intents.name)], partitions_def=partitions,
                              description="Classify a day's queries.")
    # Like the seed's 2 AM Intent Extraction Lambda: yesterday's queries, once the day is complete.
    schedule = dg.build_schedule_from_partitioned_job(job, hour_of_day=2, minute_of_hour=0,
                                                      default_status=dg.DefaultScheduleStatus.RUNNING)
    return [job], [schedule]


SOURCE = Source(
    spec=SPEC, demo=conversations_landing_files, daily_tables=[intents, *daily_tables], lake_tables=lake_tables,
    other_assets=[intent_model, training_data], follow_ups=[training_data], daily_jobs=intents_jobs,
)
