"""The conversations domain (seeds 001, 003) as wired into the code location.

Ingestion (EventBridge envelopes and analytics events, PII redacted, user ids pseudonymised) into
``raw_conversations`` and the views ``conversation_events`` / ``conversation_turns`` / ``analytics_events``.
The learning layer (intents, flows, sequences, profiles, guidance), the session-outcome marts and seed 003's
own marts (over its AnalyticsEvent stream, summed from per-day tables) build on it.
"""

import dagster as dg

from analytics_pipeline.conversations.assets import daily_tables, lake_tables
from analytics_pipeline.conversations.intents import intent_model, intents
from analytics_pipeline.conversations.training_data import training_data
from analytics_pipeline.domain import SourceDomain
from analytics_pipeline.ingestion.specs.conversations import conversations_spec
from analytics_pipeline.partitions import event_day_partitions

intents_job = dg.define_asset_job("intents_job", selection=[intents.key], partitions_def=event_day_partitions,
                                  description="Classify a day's queries.")
# Like the seed's 2 AM Intent Extraction Lambda: yesterday's queries, once the day is complete.
intents_schedule = dg.build_schedule_from_partitioned_job(intents_job, hour_of_day=2, minute_of_hour=0,
                                                          default_status=dg.DefaultScheduleStatus.RUNNING)

CONVERSATIONS = SourceDomain(
    spec=conversations_spec(), daily_assets=[intents, *daily_tables], lake_tables=lake_tables,
    schedules=[intents_schedule], other_assets=[intent_model, training_data], jobs=[intents_job],
    follow_ups=[training_data],
)
