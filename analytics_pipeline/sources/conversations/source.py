"""The conversations domain (seeds 001, 003) as wired into the code location: its spec, demo producer and assets.

Ingestion (EventBridge envelopes and analytics events, PII redacted, user ids pseudonymised) into
``raw_conversations`` and the views ``conversation_events`` / ``conversation_turns`` / ``analytics_events``.
The learning layer (intents, flows, sequences, profiles, guidance), the session-outcome marts and seed 003's
own marts (over its AnalyticsEvent stream, summed from per-day tables) build on it.
"""

import dagster as dg

from analytics_pipeline.platform.partitions import event_day_partitions
from analytics_pipeline.sources.conversations.assets import (
                                  SPEC,
                                  daily_tables,
                                  lake_tables,
)
from analytics_pipeline.sources.conversations.demo import conversations_landing_files
from analytics_pipeline.sources.conversations.intents import intent_model, intents
from analytics_pipeline.sources.conversations.training_data import training_data
from analytics_pipeline.sources.source import Source

intents_job = dg.define_asset_job("intents_job", selection=[intents.key], partitions_def=event_day_partitions,
                                  description="Classify a day's queries.")
# Like the seed's 2 AM Intent Extraction Lambda: yesterday's queries, once the day is complete.
intents_schedule = dg.build_schedule_from_partitioned_job(intents_job, hour_of_day=2, minute_of_hour=0,
                                                          default_status=dg.DefaultScheduleStatus.RUNNING)

SOURCE = Source(
    spec=SPEC, demo=conversations_landing_files, daily_assets=[intents, *daily_tables], lake_tables=lake_tables,
    schedules=[intents_schedule], other_assets=[intent_model, training_data], jobs=[intents_job],
    follow_ups=[training_data],
)
