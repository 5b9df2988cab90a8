"""The conversations source: assistant turns and conversation events (seeds 001, 003).

PII never reaches the lake: free text (queries, responses, event data, even the original text of a
rejected record) is redacted in the parse statement, and user ids are replaced by a keyed hash
(SHA-256 over the secret key and the id). The key comes from ``ANALYTICS_PSEUDONYM_KEY``; when it is
not set, a random key is created once under the data dir (``.pseudonym_key``, mode 0600) so
pseudonyms stay stable across runs without a key in any file of the project. A run gets both from the
``conversations`` resource (resource.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from analytics_pipeline.lake.duck import python_function, sql_literal
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.settings import DEFAULT_PHONE_REGIONS
from analytics_pipeline.sources.conversations.user_ids_in_text import (
    pseudonymise_user_ids,
    user_id_values,
)
from analytics_pipeline.sources.conversations.vocabulary import (
    BOT_RESPONSE_EVENTS,
    KNOWN_EVENT_TYPES,
    SEED_EVENT_TYPES,
    USER_TURN_EVENTS,
    sql_tuple,
)
from analytics_pipeline.sources.conversations.phone_numbers import (
    redact_phone_numbers_sql,
    register_phone_number_redaction,
)

if TYPE_CHECKING:
    from analytics_pipeline.sources.conversations.resource import ConversationsResource

_NAME_WORD = r"\p{L}[\p{L}\p{M}'’-]*"
_CAPITALISED_WORD = r"\p{Lu}[\p{L}\p{M}'’-]*"
# A name goes on while capitalised words follow, with the particles between them, so no surname is left behind
# (María José García López, Ludwig van Beethoven, Jean de la Fontaine, Siobhán Ní Bhriain, Ahmed bin Rashid).
_PARTICLE = r"(?:d[aeiou]s?|del|della|der|den|la|le|van|von|ter|ten|zu|y|al|el|bin|bint|ibn|abu)"
_MORE_PARTS = rf"(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_CAPITALISED_WORD}){{0,3}}"
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD})?{_MORE_PARTS}"
_CAPITALISED_NAME = rf"{_CAPITALISED_WORD}(?:\s+{_CAPITALISED_WORD})?{_MORE_PARTS}"
# Order matters: card numbers before phone numbers (both are digit runs). RE2 syntax (DuckDB). Phone numbers in
# other shapes are then found by libphonenumber (phone_numbers.py).
PII_PATTERNS = [
    (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
    (r"\b(?:\d[ -]?){12,18}\d\b", "[CARD]"),
    # with its trunk prefix in brackets after the country code: +44 (0)1224 571255
    (r"(?:\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?)?(?:\(\d{2,5}\)[ .-]?|\b\d{2,5}[ .-])\d{3,4}[ .-]?\d{3,4}\b", "[PHONE]"),
    (r"\+\d{7,14}\b", "[PHONE]"),  # compact international: +447700900123
    # Names in any alphabet (Zoë, Łukasz, O’Brien, Jean-Luc): after a strong cue in any case ...
    (r"\b((?i:my name is|my name's|call me))\s+" + _NAME, r"\1 [NAME]"),
    # ... and after a weak one only when capitalised ("I am Siobhán", not "I am unable")
    (r"\b((?i:i am|i['’]m|this is))\s+" + _CAPITALISED_NAME, r"\1 [NAME]"),
]


def pii_patterns_sql(argument: str = "x") -> str:
    expression = argument
    for pattern, replacement in PII_PATTERNS:
        expression = f"regexp_replace({expression}, {sql_literal(pattern)}, {sql_literal(replacement)}, 'g')"
    return expression


def redact_pii_sql(argument: str = "x") -> str:
    """The patterns, then libphonenumber on what they leave, for texts with a long enough run of digits."""
    return redact_phone_numbers_sql(argument, pii_patterns_sql(argument))


MIN_KEY_CHARACTERS = 32
KEY_FILE = ".pseudonym_key"  # in the data dir
MASKED_ID_PREFIX = "pii_"
# A user id's pseudonym: 'u_' and the first 24 hex digits of SHA-256 over the key, chr(31) and the id (the SQL macro
# pseudonym and pseudonym_of below compute the same).
PSEUDONYM_PREFIX, PSEUDONYM_DIGITS = "u_", 24
PSEUDONYM_SHAPE = re.compile(rf"{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_DIGITS}}}")


class PseudonymKeyError(ValueError):
    """The pseudonym key is missing or too short to keep pseudonyms from being reversed."""


def pseudonym_key(key: str, key_file: str | Path) -> str:
    """``key`` (``ANALYTICS_PSEUDONYM_KEY``) unless empty, else the key in ``key_file`` (the data dir's
    ``.pseudonym_key``), created once (random, mode 0600).

    The file is written whole beside its name and linked into place, so a kill, a full disk or two processes
    starting at once never leave an empty or half-written key; a key shorter than 32 characters is refused
    (with an empty key, anyone with a list of user ids could recompute the pseudonyms)."""
    if key:
        return _strong(key, "ANALYTICS_PSEUDONYM_KEY")
    path = Path(key_file)
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


def pseudonym_of(key: str) -> Callable[[str], str]:
    """The SQL macro ``pseudonym`` in Python."""
    def pseudonym(user_id: str) -> str:
        digest = hashlib.sha256(f"{key}\x1f{user_id}".encode()).hexdigest()
        return PSEUDONYM_PREFIX + digest[:PSEUDONYM_DIGITS]
    return pseudonym


def raw_user_ids(text: str) -> list[str]:
    """The values under a user key in ``text`` that are not pseudonyms (what the PII check looks for)."""
    return [value for value in user_id_values(text) if not PSEUDONYM_SHAPE.fullmatch(value)]


def prepare_connection(con: duckdb.DuckDBPyConnection, rows: bool = True,
                       conversations: ConversationsResource | None = None) -> None:
    """The redaction and pseudonymisation macros, configured by ``conversations`` (the run's resource; outside a
    run, e.g. a script, one made with ``ConversationsResource.for_settings``); the key is bound as a variable,
    never written into SQL. ``rows=False``: the parse only gives an empty relation its columns, so neither key nor
    regions are needed."""
    if rows and conversations is None:
        raise ValueError("the conversations parse needs the conversations resource (its pseudonym key and phone "
                         "regions): stage with SourceSpec.given(ConversationsResource.for_settings(settings))")
    key = conversations.key() if rows else ""
    con.execute("SET VARIABLE pseudonym_key = ?", [key])
    register_phone_number_redaction(con, tuple(conversations.phone_regions) if rows else DEFAULT_PHONE_REGIONS)
    con.execute(f"CREATE OR REPLACE TEMP MACRO redact_pii(x) AS {redact_pii_sql()}")
    con.execute("CREATE OR REPLACE TEMP MACRO pseudonym(x) AS CASE WHEN x IS NULL THEN NULL ELSE "
                f"'{PSEUDONYM_PREFIX}' || left(sha256(getvariable('pseudonym_key') || chr(31) || x), "
                f"{PSEUDONYM_DIGITS}) END")
    # An id (event, session, agent) is kept as written unless the redaction would change it: then it becomes a
    # keyed hash of itself, so ids stay distinct (and stable) without the e-mail or phone number in them.
    con.execute(f"CREATE OR REPLACE TEMP MACRO pii_masked_id(x) AS CASE WHEN x IS NULL OR redact_pii(x) = x THEN x "
                f"ELSE '{MASKED_ID_PREFIX}' || left(sha256(getvariable('pseudonym_key') || chr(30) || x), 24) END")
    # The user ids in a rejected record's text, in any form, replaced by their pseudonyms (the text is then
    # redacted): Python, as it reads the text token by token, and called for rejected records only.
    python_function(con, "user_ids_pseudonymised_with", _pseudonymised_user_ids, ["VARCHAR", "VARCHAR"], "VARCHAR",
                    side_effects=False)
    con.execute("CREATE OR REPLACE TEMP MACRO pseudonymised_user_ids(text) AS "
                "user_ids_pseudonymised_with(text, getvariable('pseudonym_key'))")


def _pseudonymised_user_ids(text: str, key: str) -> str:
    return pseudonymise_user_ids(text, pseudonym_of(key))


# A user turn with the answer that followed it: EventBridge carries both in one event; seed 003 and the older SDK
# send the answer as the session's next event (bot_response, response_sent).
_TURNS = f"""SELECT event_id, event_time, event_date, session_id, user_id, agent_id, channel, platform, query,
       coalesce(response_summary, answer.response_summary) AS response_summary, turn,
       coalesce(confidence, answer.confidence) AS confidence,
       coalesce(response_time_ms, answer.response_time_ms) AS response_time_ms, sentiment, source_file, source_line
FROM (SELECT *, lead(CASE WHEN event_type IN {sql_tuple(BOT_RESPONSE_EVENTS)} THEN struct_pack(response_summary,
                     confidence, response_time_ms) END) OVER (PARTITION BY session_id ORDER BY event_time, event_id) AS answer
      FROM {{raw}} WHERE event_type IN {sql_tuple(USER_TURN_EVENTS + BOT_RESPONSE_EVENTS)})
WHERE query IS NOT NULL AND event_type IN {sql_tuple(USER_TURN_EVENTS)}"""
# Seed 003's AnalyticsEvent stream, under the seed's field names.
_ANALYTICS_EVENTS = f"""SELECT event_id, event_type, event_time AS "timestamp", session_id, user_id, agent_id, data,
       channel, platform, location, duration_ms, response_time_ms, confidence, sentiment, source_file, source_line,
       event_date
FROM {{raw}} WHERE envelope = 'event' AND event_type IN {sql_tuple(SEED_EVENT_TYPES)}"""


def conversations_spec() -> SourceSpec:
    return SourceSpec(
        name="conversations",
        records_sql_template=resources.files(__package__).joinpath("records.sql").read_text(),
        entity_key="session_id",
        description="The operators' AI assistant's conversation events: EventBridge envelopes and analytics events",
        template_values={"bot_responses": sql_tuple(BOT_RESPONSE_EVENTS),
                         "known_event_types": sql_tuple(KNOWN_EVENT_TYPES)},
        prepare=prepare_connection,
        prepare_resource="conversations",
        raw_views={
            "conversation_events": "SELECT * FROM {raw}",
            "conversation_turns": _TURNS,
            "analytics_events": _ANALYTICS_EVENTS,
        },
    )


SPEC = conversations_spec()
