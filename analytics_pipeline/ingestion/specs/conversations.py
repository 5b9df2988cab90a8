"""The conversations source: assistant turns and conversation events (seeds 001, 003).

PII never reaches the lake: free text (queries, responses, event data, even the original text of a
rejected record) is redacted in the parse statement, and user ids are replaced by a keyed hash
(SHA-256 over the secret key and the id). The key comes from ``ANALYTICS_PSEUDONYM_KEY``; when it is
not set, a random key is created once under the data dir (``.pseudonym_key``, mode 0600) so
pseudonyms stay stable across runs without a key in any file of the project.
"""

from __future__ import annotations

import os
import secrets
from importlib import resources
from pathlib import Path

import duckdb

from analytics_pipeline.ingestion.source_spec import SourceSpec
from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.settings import load_settings

# Order matters: card numbers before phone numbers (both are digit runs).
PII_PATTERNS = [
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    (r"\b(?:\d[ -]?){12,18}\d\b", "[CARD]"),
    (r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\b\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,4}\b", "[PHONE]"),
    (r"(?i)\b(my name is|i am|i'm|this is) ([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b", r"\1 [NAME]"),
]


def redact_pii_sql(argument: str = "x") -> str:
    expression = argument
    for pattern, replacement in PII_PATTERNS:
        expression = f"regexp_replace({expression}, {sql_literal(pattern)}, {sql_literal(replacement)}, 'g')"
    return expression


def pseudonym_key() -> str:
    key = os.environ.get("ANALYTICS_PSEUDONYM_KEY")
    if key:
        return key
    path = Path(load_settings().data_dir) / ".pseudonym_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def prepare_connection(con: duckdb.DuckDBPyConnection) -> None:
    """The redaction and pseudonymisation macros; the key is bound as a variable, never written into SQL."""
    con.execute("SET VARIABLE pseudonym_key = ?", [pseudonym_key()])
    con.execute(f"CREATE OR REPLACE TEMP MACRO redact_pii(x) AS {redact_pii_sql()}")
    con.execute("CREATE OR REPLACE TEMP MACRO pseudonym(x) AS "
                "CASE WHEN x IS NULL THEN NULL ELSE 'u_' || left(sha256(getvariable('pseudonym_key') || chr(31) || x), 24) END")


def conversations_spec() -> SourceSpec:
    return SourceSpec(
        name="conversations",
        records_sql_template=resources.files(__package__).joinpath("conversations_records.sql").read_text(),
        entity_key="session_id",
        description="Assistant conversation events: EventBridge envelopes and analytics events (seeds 001, 003)",
        prepare=prepare_connection,
        raw_views={
            "conversation_events": "SELECT * FROM {raw}",
            "conversation_turns": "SELECT event_id, event_time, event_date, session_id, user_id, agent_id, channel, "
            "platform, query, response_summary, turn, confidence, response_time_ms, sentiment, source_file, source_line "
            "FROM {raw} WHERE query IS NOT NULL AND event_type IN ('query', 'message_received')",
        },
    )
