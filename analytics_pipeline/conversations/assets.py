"""Conversation tables (seeds 001, 003) built on the redacted raw layer, and the PII guard."""

from importlib import resources

import dagster as dg
import duckdb

from analytics_pipeline.ingestion.assets import raw_asset_key
from analytics_pipeline.ingestion.specs.conversations import PII_PATTERNS
from analytics_pipeline.lake.duck import scalar, sql_literal
from analytics_pipeline.table_assets import TableSpec, build_lake_table

RAW = raw_asset_key("conversations")


def conversations_sql(name: str, **values) -> str:
    return resources.files(__package__).joinpath("sql", f"{name}.sql").read_text().format(**values)


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
]
