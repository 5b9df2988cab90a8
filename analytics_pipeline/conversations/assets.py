"""Conversation tables (seeds 001, 003) built on the redacted raw layer, and the PII guard."""

from functools import partial

import dagster as dg
import duckdb

from analytics_pipeline.conversations.intents import LOW_CONFIDENCE
from analytics_pipeline.ingestion.assets import raw_asset_key
from analytics_pipeline.ingestion.specs.conversations import PII_PATTERNS
from analytics_pipeline.lake.duck import scalar, sql_literal
from analytics_pipeline.settings import load_settings
from analytics_pipeline.table_assets import TableSpec, build_lake_table, package_sql, utc_now

RAW = raw_asset_key("conversations")
INTENTS = dg.AssetKey("intents")
SESSIONS = dg.AssetKey("conversation_sessions")
EMPTY_INTENTS = ("SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS session_id, NULL::VARCHAR AS user_id, "
                 "NULL::VARCHAR AS agent_id, NULL::TIMESTAMP AS event_time, NULL::VARCHAR AS query, "
                 "NULL::VARCHAR AS intent, NULL::VARCHAR AS sub_intent, NULL::DOUBLE AS confidence WHERE false")


conversations_sql = partial(package_sql, __package__)


# The look-back windows every insight mart is computed for.
TIMEFRAMES = """SELECT * FROM (VALUES
    ('24h', INTERVAL 1 DAY), ('7d', INTERVAL 7 DAY), ('30d', INTERVAL 30 DAY), ('90d', INTERVAL 90 DAY))
    t(timeframe, span)"""
# Each session's intents in order, computed in one place for the flow, drop-off and journey tables.
SESSION_INTENT_PATHS = conversations_sql("session_intent_paths")


def pii_scan(con: duckdb.DuckDBPyConnection) -> list[dg.AssetCheckResult]:
    """Every stored free-text column of the raw layer, searched for what the redaction removes."""
    text_columns = ["query", "response_summary", "data"]
    conditions = " OR ".join(
        [f"regexp_matches({column}, {sql_literal(pattern)})" for column in text_columns for pattern, _ in PII_PATTERNS]
        # user ids are hashes by construction (a hex digest may hold long digit runs): only e-mails count there
        + [f"regexp_matches(user_id, {sql_literal(PII_PATTERNS[0][0])})"]
    )
    found = scalar(con, f"SELECT count(*) FROM conversation_events WHERE {conditions}")
    return [dg.AssetCheckResult(
        check_name="no_pii_in_stored_text", passed=found == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"events_with_pii": found},
        description="no e-mail, phone, card number or name found in stored text" if not found
        else f"{found} stored events still hold PII: check the redaction patterns",
    )]


lake_tables = [
    build_lake_table(TableSpec(
        name="conversation_sessions", layer="processed", group="conversations", deps=[RAW],
        description="One row per session: user (pseudonymised), agent, channel, turns, resolution, escalation.",
        sql=lambda: conversations_sql("conversation_sessions"),
        check_specs=[dg.AssetCheckSpec("no_pii_in_stored_text", asset="conversation_sessions",
                                       description="A scan of the stored conversation text finds no PII.")],
        checks=pii_scan,
        chart=("Sessions by agent", "SELECT coalesce(agent_id, '?'), count(*) FROM result_rows GROUP BY 1 ORDER BY 2 DESC"),
    )),
    *[build_lake_table(TableSpec(
        name=name, layer="processed", group="conversations", deps=[INTENTS, SESSIONS], description=description,
        sql=lambda name=name: conversations_sql(name), fallback_views={"intents": EMPTY_INTENTS},
        helper_views={"session_intent_paths": SESSION_INTENT_PATHS},
    )) for name, description in [
        ("intent_flows", "Intent sequence per session → frequency, success rate, average completion time."),
        ("next_intent_probabilities", "N-gram intent transitions with probabilities (n = 0, 1, 2) for next-intent guidance."),
        ("user_profiles", "Per user: sessions, average session length, common intents, last active."),
        ("weekly_flow_analysis", "Weekly dead ends and shortest paths to resolution."),
    ]],
    *[build_lake_table(TableSpec(
        name=name, layer="marts", group="conversation_insights", deps=[INTENTS, SESSIONS], description=description,
        sql=lambda name=name: conversations_sql(name, now=utc_now(), human_cost=load_settings().human_interaction_cost,
                                                 low_confidence=LOW_CONFIDENCE),
        fallback_views={"intents": EMPTY_INTENTS},
        helper_views={"timeframes": TIMEFRAMES, "session_intent_paths": SESSION_INTENT_PATHS},
    )) for name, description in [
        ("conversation_insights", "Conversations, average turns, completion rate, response time, automation rate "
                                  "and cost savings per timeframe (24h/7d/30d/90d) and agent."),
        ("nlu_insights", "Intent distribution, confidence, low-confidence and fallback rates per timeframe and agent."),
        ("drop_off_points", "Abandoned sessions by last intent, per timeframe and agent."),
        ("user_journeys", "Each session's intent path, timing and outcome."),
    ]],
]
