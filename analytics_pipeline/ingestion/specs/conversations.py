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
import tempfile
from importlib import resources
from pathlib import Path

import duckdb

from analytics_pipeline.ingestion.source_spec import SourceSpec
from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.settings import load_settings

_NAME_WORD = r"\p{L}[\p{L}\p{M}'’-]*"
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD})?"
_CAPITALISED_WORD = r"\p{Lu}[\p{L}\p{M}'’-]*"
_CAPITALISED_NAME = rf"{_CAPITALISED_WORD}(?:\s+{_CAPITALISED_WORD})?"
# Order matters: card numbers before phone numbers (both are digit runs). RE2 syntax (DuckDB).
PII_PATTERNS = [
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    (r"\b(?:\d[ -]?){12,18}\d\b", "[CARD]"),
    (r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\b\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,4}\b", "[PHONE]"),
    (r"\+\d{7,14}\b", "[PHONE]"),  # compact international: +447700900123
    # Names in any alphabet (Zoë, Łukasz, O’Brien, Jean-Luc): after a strong cue in any case ...
    (r"\b((?i:my name is|my name's|call me))\s+" + _NAME, r"\1 [NAME]"),
    # ... and after a weak one only when capitalised ("I am Siobhán", not "I am unable")
    (r"\b((?i:i am|i['’]m|this is))\s+" + _CAPITALISED_NAME, r"\1 [NAME]"),
]


def redact_pii_sql(argument: str = "x") -> str:
    expression = argument
    for pattern, replacement in PII_PATTERNS:
        expression = f"regexp_replace({expression}, {sql_literal(pattern)}, {sql_literal(replacement)}, 'g')"
    return expression


MIN_KEY_CHARACTERS = 32
MASKED_ID_PREFIX = "pii_"
# A user id written as a JSON string in a record's text: "user_id": "…" (or userId, user).
USER_ID_IN_TEXT = r'"(?:user_id|userId|user)"\s*:\s*"((?:[^"\\]|\\.)*)"'


class PseudonymKeyError(ValueError):
    """The pseudonym key is missing or too short to keep pseudonyms from being reversed."""


def pseudonym_key() -> str:
    """``ANALYTICS_PSEUDONYM_KEY``, or the data dir's ``.pseudonym_key``, created once (random, mode 0600).

    The file is written whole beside its name and linked into place, so a kill, a full disk or two processes
    starting at once never leave an empty or half-written key; a key shorter than 32 characters is refused
    (with an empty key, anyone with a list of user ids could recompute the pseudonyms)."""
    key = os.environ.get("ANALYTICS_PSEUDONYM_KEY")
    if key is not None and key != "":
        return _strong(key, "ANALYTICS_PSEUDONYM_KEY")
    path = Path(load_settings().data_dir) / ".pseudonym_key"
    if not path.exists():
        _create_key(path)
    return _strong(path.read_text().strip(), str(path))


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, written = tempfile.mkstemp(prefix=".pseudonym_key.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp creates it with mode 0600
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(written, path)  # atomic, and fails if another process linked its key first: that one counts
        except FileExistsError:
            pass
    finally:
        os.unlink(written)


def _strong(key: str, where: str) -> str:
    if len(key) < MIN_KEY_CHARACTERS:
        raise PseudonymKeyError(
            f"the pseudonym key in {where} has {len(key)} characters, fewer than {MIN_KEY_CHARACTERS}: pseudonyms made "
            "with it could be reversed. Set ANALYTICS_PSEUDONYM_KEY to a long random value, or, if no conversations "
            "were taken in with this data dir yet, delete the file so a new key is made")
    return key


def prepare_connection(con: duckdb.DuckDBPyConnection, rows: bool = True) -> None:
    """The redaction and pseudonymisation macros; the key is bound as a variable, never written into SQL.
    ``rows=False``: the parse only gives an empty relation its columns, so no key is read (nor needed)."""
    con.execute("SET VARIABLE pseudonym_key = ?", [pseudonym_key() if rows else ""])
    con.execute(f"CREATE OR REPLACE TEMP MACRO redact_pii(x) AS {redact_pii_sql()}")
    con.execute("CREATE OR REPLACE TEMP MACRO pseudonym(x) AS "
                "CASE WHEN x IS NULL THEN NULL ELSE 'u_' || left(sha256(getvariable('pseudonym_key') || chr(31) || x), 24) END")
    # An id (event, session, agent) is kept as written unless the redaction would change it: then it becomes a
    # keyed hash of itself, so ids stay distinct (and stable) without the e-mail or phone number in them.
    con.execute(f"CREATE OR REPLACE TEMP MACRO pii_masked_id(x) AS CASE WHEN x IS NULL OR redact_pii(x) = x THEN x "
                f"ELSE '{MASKED_ID_PREFIX}' || left(sha256(getvariable('pseudonym_key') || chr(30) || x), 24) END")
    # The user id values in a rejected record's text, replaced by their pseudonyms (the text is then redacted).
    con.execute("CREATE OR REPLACE TEMP MACRO pseudonymised_user_ids(t) AS "
                f"list_reduce(list_prepend(t, regexp_extract_all(t, {sql_literal(USER_ID_IN_TEXT)}, 1)), "
                "lambda acc, id: replace(acc, '\"' || id || '\"', '\"' || pseudonym(id) || '\"'))")


def conversations_spec() -> SourceSpec:
    return SourceSpec(
        name="conversations",
        records_sql_template=resources.files(__package__).joinpath("conversations_records.sql").read_text(),
        entity_key="session_id",
        description="The operators' AI assistant's conversation events: EventBridge envelopes and analytics events",
        prepare=prepare_connection,
        raw_views={
            "conversation_events": "SELECT * FROM {raw}",
            "conversation_turns": "SELECT event_id, event_time, event_date, session_id, user_id, agent_id, channel, "
            "platform, query, response_summary, turn, confidence, response_time_ms, sentiment, source_file, source_line "
            "FROM {raw} WHERE query IS NOT NULL AND event_type IN ('query', 'message_received')",
        },
    )
