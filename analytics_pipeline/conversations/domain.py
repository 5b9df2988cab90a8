"""The conversations domain (seeds 001, 003) as wired into the code location.

Today: ingestion (EventBridge envelopes and analytics events, PII redacted, user ids pseudonymised)
into ``raw_conversations`` and the views ``conversation_events`` / ``conversation_turns``. The
learning layer (intents, flows, sequences, profiles, guidance) and the insight marts build on it.
"""

from analytics_pipeline.conversations.assets import lake_tables
from analytics_pipeline.domain import SourceDomain
from analytics_pipeline.ingestion.specs.conversations import conversations_spec

CONVERSATIONS = SourceDomain(spec=conversations_spec(), lake_tables=lake_tables)
