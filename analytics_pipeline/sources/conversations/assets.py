"""Conversation tables (seeds 001, 003) built on the redacted raw layer, and the PII guard."""

from datetime import timedelta
from functools import partial

import dagster as dg

from analytics_pipeline.platform.source_tables import SourceTables
from analytics_pipeline.platform.table_assets import package_sql, reading, utc_now
from analytics_pipeline.sources.conversations import vocabulary as v
from analytics_pipeline.sources.conversations.pii_check import (
    CHECK_NAME,
    check_spec,
    sessions_scan,
    written_rows_scan,
)
from analytics_pipeline.sources.conversations.resource import DEFAULT_CONVERSATIONS, ConversationsResource
from analytics_pipeline.sources.conversations.spec import SPEC

EMPTY_INTENTS = ("SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS session_id, NULL::VARCHAR AS user_id, "
                 "NULL::VARCHAR AS agent_id, NULL::TIMESTAMP AS event_time, NULL::VARCHAR AS query, "
                 "NULL::VARCHAR AS intent, NULL::VARCHAR AS sub_intent, NULL::DOUBLE AS confidence, "
                 "NULL::DATE AS event_date WHERE false")


# conversations_sql(name, **values): a conversations SQL file, the event vocabulary filled in.
conversations_sql = partial(
    package_sql, __package__,
    user_turns=v.sql_tuple(v.USER_TURN_EVENTS),
    session_ends=v.sql_tuple(v.SESSION_END_EVENTS),
    escalations=v.sql_tuple(v.ESCALATION_EVENTS),
    completions=v.sql_tuple(v.COMPLETION_EVENTS),
    seed_event_types=v.sql_tuple(v.SEED_EVENT_TYPES),
    low_confidence=v.LOW_CONFIDENCE,
    fallback=v.FALLBACK_INTENT,
)
tables = SourceTables(SPEC, conversations_sql, groups={"processed": "conversations", "marts": "conversation_insights"})


# The look-back windows every insight mart is computed for (seed 003's dashboard timeframes).
TIMEFRAME_DAYS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}
TIMEFRAMES = "SELECT * FROM (VALUES {}) t(timeframe, span, days)".format(
    ", ".join(f"('{name}', INTERVAL {days} DAY, {days})" for name, days in TIMEFRAME_DAYS.items()))
LONGEST_TIMEFRAME = timedelta(days=max(TIMEFRAME_DAYS.values()))


def _insights_sql(name: str, conversations: ConversationsResource = DEFAULT_CONVERSATIONS) -> str:
    now = utc_now()
    return conversations_sql(name, now=now, oldest_day=(now - LONGEST_TIMEFRAME).date(),
                             human_cost=conversations.human_interaction_cost)


def _empty_daily(name: str) -> str:
    """The per-day table's columns, no rows: its view before its first partition."""
    return f"SELECT * FROM ({reading(conversations_sql(name), 'conversation_events')}) WHERE false"


def _seed_insights_sql(name: str, conversations: ConversationsResource = DEFAULT_CONVERSATIONS) -> str:
    """A seed-003 mart over its windows ending now: the per-day tables for whole days, the raw events of the
    days the windows cut (window_rows.sql)."""
    now = utc_now()
    today = now.date()
    edge_days = ", ".join(f"DATE '{today - timedelta(days=d)}'" for d in (0, *TIMEFRAME_DAYS.values()))

    def window_rows(daily: str) -> str:
        return conversations_sql("window_rows", daily=daily, edge_rows=reading(conversations_sql(daily), "edge_events"),
                                 now=now, today=today, oldest_day=today - LONGEST_TIMEFRAME, edge_days=edge_days)

    return conversations_sql(
        name, now=now, human_cost=conversations.human_interaction_cost,
        window_sessions=f"WITH window_activity AS ({window_rows('session_activity_daily')})\n"
                        + conversations_sql("window_sessions"),
        window_classifications=window_rows("intent_classifications_daily"))


def _pii_checked(table: str) -> dict:
    """A table's no_pii_in_stored_text check over the rows each update writes (pii_check.py); a daily table's is
    evaluated per day."""
    return {"check_specs": [check_spec(table)], "checks": written_rows_scan, "resources": ("conversations",)}


INTENT_DAYS = "processed/intents"
lake_tables = [
    tables.keyed(
        "conversation_sessions",
        "One row per session: user (pseudonymised), agent, channel, turns, resolution, escalation.",
        check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="conversation_sessions",
                                       description="A scan of every text of the sessions written, of every text column "
                                                   "of the events an update read (all on a full rebuild) and of the "
                                                   "quarantined records' text and reason finds no PII.")],
        checks=sessions_scan, resources=("conversations",),
        fallback_views={"ingest_errors": "SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS original_text, "
                                         "NULL::VARCHAR AS reason_detail WHERE false"},
        check_views={"conversation_quarantine":
                     "SELECT original_text, reason_detail FROM ingest_errors WHERE source = 'conversations'"},
        chart=("Sessions by agent", "SELECT coalesce(agent_id, '?'), count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
    ),
    tables.keyed("session_intent_paths", "Each session's intents in order: path, sequence, first and last intent, "
                 "steps, user.", partitioned_inputs=(INTENT_DAYS,), fallback_views={"intents": EMPTY_INTENTS},
                 **_pii_checked("session_intent_paths")),
    tables.keyed("user_journeys", "Each session's intent path, timing and outcome.", layer="marts",
                 partitioned_inputs=(INTENT_DAYS,),
                 keyed_inputs=("processed/conversation_sessions", "processed/session_intent_paths"),
                 **_pii_checked("user_journeys")),
    tables.lake_table("intent_flows", "Intent sequence per session → frequency, success rate, average completion "
                      "time.", "processed", **_pii_checked("intent_flows")),
    # Its SQL reads only the paths; the sessions stay an input, as they were before dependencies came from the SQL.
    tables.lake_table("next_intent_probabilities", "N-gram intent transitions with probabilities (n = 0, 1, 2) for "
                      "next-intent guidance.", "processed", deps=[dg.AssetKey("conversation_sessions")],
                      **_pii_checked("next_intent_probabilities")),
    tables.lake_table("user_profiles", "Per user: sessions, average session length, common intents, last active.",
                      "processed", **_pii_checked("user_profiles")),
    tables.lake_table("weekly_flow_analysis", "Weekly dead ends and shortest paths to resolution.", "processed",
                      **_pii_checked("weekly_flow_analysis")),
    *[tables.mart(name, description, sql=partial(_insights_sql, name), fallback_views={"intents": EMPTY_INTENTS},
                  helper_views={"timeframes": TIMEFRAMES}, **_pii_checked(name)) for name, description in [
        ("session_outcome_insights", "The project's session-outcome metrics over every session: "
         "conversations, average turns, completion, response time, escalations, automation rate and cost savings per "
         "timeframe (24h/7d/30d/90d) and agent."),
        ("query_intent_insights", "User queries as the project's classifier labelled them: intent "
         "distribution, confidence, low-confidence and fallback rates per timeframe and agent."),
        ("dropped_sessions_by_intent", "Sessions neither resolved nor escalated, by the classified "
         "intent of their last query, per timeframe and agent."),
    ]],
    *[tables.mart(name, description, sql=partial(_seed_insights_sql, name), helper_views={"timeframes": TIMEFRAMES},
                  fallback_views={daily: _empty_daily(daily)}, **_pii_checked(name)) for name, daily, description in [
        ("conversation_insights", "session_activity_daily", "The chat SDK's own conversation metrics over its "
         "AnalyticsEvent stream: conversations, average length, workflow completion rate, response time, messages, "
         "automation rate and cost savings per timeframe (24h/7d/30d/90d) and agent."),
        ("nlu_insights", "intent_classifications_daily", "The chat SDK's own NLU metrics over its intent_classified "
         "events: classifications and share per intent, average confidence, low-confidence and fallback rates per "
         "timeframe and agent."),
        ("drop_off_points", "session_activity_daily", "The chat SDK's own drop-off points: sessions without a "
         "conversation_end by the intent of their last event, per timeframe and agent."),
    ]],
]

# Seed 003's AnalyticsEvent stream per event day, in parts that add up over days: what its marts read.
daily_tables = [
    tables.daily("session_activity_daily", "Per event day × agent × session, the chat SDK's AnalyticsEvents: counts "
                 "by type, response times, escalation to a human, conversation end, the last event and its intent.",
                 layer="processed", **_pii_checked("session_activity_daily")),
    tables.daily("intent_classifications_daily", "Per event day × agent × intent, the chat SDK's intent_classified "
                 "events: classifications, confidence sum and count, low-confidence classifications.",
                 layer="processed", **_pii_checked("intent_classifications_daily")),
]
