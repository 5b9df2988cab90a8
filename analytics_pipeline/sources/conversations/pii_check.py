"""The PII check ``no_pii_in_stored_text``: every text the lake stores for conversations searched for what the
redaction removes (e-mails, phone and card numbers, introduced names) and for raw user ids in quarantined records.

Each conversations table carries the check over the rows its update wrote (``result_rows``): every text column,
and every text inside a struct, list or map column. ``conversation_sessions``' also searches every text column of
the raw events the update read and the quarantined records' original text and reason detail (``ingest_errors``).
"""

from __future__ import annotations

import dagster as dg
import duckdb

from analytics_pipeline.lake.duck import scalar, sql_literal
from analytics_pipeline.sources.conversations.phone_numbers import (
    holds_phone_number_sql,
    register_phone_number_redaction,
)
from analytics_pipeline.sources.conversations.resource import DEFAULT_CONVERSATIONS, ConversationsResource
from analytics_pipeline.sources.conversations.spec import MASKED_ID_PREFIX, PII_PATTERNS, raw_user_ids

CHECK_NAME = "no_pii_in_stored_text"
CHECK_DESCRIPTION = ("A scan of every text the update wrote (nested ones too) finds no e-mail, phone or card number "
                     "or introduced name.")
# Columns that hold hashes by construction (a hex digest may hold long digit runs): only e-mails count there, and
# an id replaced by its keyed hash (pii_<hex>) is clean.
_HASHED_COLUMNS = {"user_id"}
_ID_COLUMNS = {"event_id", "session_id", "agent_id"}
_NOT_TEXT = {"source_file", "envelope"}  # the landing file's name and the parse's own label
_TEXT_TYPES = {"VARCHAR", "JSON"}


def check_spec(table: str) -> dg.AssetCheckSpec:
    """The check on ``table`` (a daily table's builder makes it a check per event day)."""
    return dg.AssetCheckSpec(CHECK_NAME, asset=table, description=CHECK_DESCRIPTION)


def written_rows_scan(con: duckdb.DuckDBPyConnection,
                      conversations: ConversationsResource = DEFAULT_CONVERSATIONS) -> list[dg.AssetCheckResult]:
    """The check over the rows the update wrote (``result_rows``)."""
    register_phone_number_redaction(con, tuple(conversations.phone_regions))
    scanned, found = scan_texts(con, "result_rows")
    return [dg.AssetCheckResult(
        check_name=CHECK_NAME, passed=found == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"texts_with_pii": found, "columns_scanned": dg.MetadataValue.json(scanned)},
        description="no e-mail, phone, card number or name found in the texts written" if not found
        else f"{found} texts written still hold PII: check the redaction")]


def sessions_scan(con: duckdb.DuckDBPyConnection,
                  conversations: ConversationsResource = DEFAULT_CONVERSATIONS) -> list[dg.AssetCheckResult]:
    """The check of ``conversation_sessions``: its rows written, every text column of the raw events the update
    read, and the original text and reason detail of every quarantined conversations record."""
    register_phone_number_redaction(con, tuple(conversations.phone_regions))
    columns, events = scan_texts(con, "conversation_events")
    quarantine_columns, quarantined = scan_texts(con, "conversation_quarantine")
    table_columns, written = scan_texts(con, "result_rows")
    # a user id in any form under a user key (what the parse pseudonymises) that is not a pseudonym
    user_ids = sum(1 for (text,) in con.execute(
        "SELECT original_text FROM conversation_quarantine WHERE original_text IS NOT NULL").fetchall()
        if raw_user_ids(text))
    total = events + quarantined + written + user_ids
    return [dg.AssetCheckResult(
        check_name=CHECK_NAME, passed=total == 0, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"events_with_pii": events, "quarantined_with_pii": quarantined,
                  "quarantined_with_raw_user_ids": user_ids, "texts_with_pii": written,
                  "columns_scanned": dg.MetadataValue.json(
                      columns + [f"ingest_errors.{c}" for c in quarantine_columns]
                      + [f"conversation_sessions.{c}" for c in table_columns])},
        description="no e-mail, phone, card number, name or raw user id found in stored text" if not total
        else f"{events} stored events, {written} texts of the sessions and {quarantined} quarantined records still "
             f"hold PII, {user_ids} quarantined records a user id that is not pseudonymised: check the redaction")]


def scan_texts(con: duckdb.DuckDBPyConnection, relation: str, prefix: str = "", empty: bool | None = None
               ) -> tuple[list[str], int]:
    """(the texts searched, as ``column`` or ``column.field``; how many hold PII) in ``relation``: its text columns
    (per row), and the texts inside its struct, list and map columns, at any depth (per value).

    An empty relation's columns are named but not searched: binding the patterns costs ~30 ms a column, which an
    update of an empty lake paid for every text of every conversations table (1.9 s of 9 s)."""
    if empty is None:
        empty = scalar(con, f"SELECT count(*) FROM (SELECT 1 FROM {relation} LIMIT 1)") == 0
    columns = [(name, kind) for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
               if name not in _NOT_TEXT]
    flat = [name for name, kind in columns if kind in _TEXT_TYPES]
    scanned = [prefix + name for name in flat]
    found = scalar(con, f"SELECT count(*) FROM {relation} WHERE {holds_pii(flat)}") if flat and not empty else 0
    for name, kind in columns:
        if kind in _TEXT_TYPES or not any(t in kind for t in _TEXT_TYPES):
            continue
        column = _quoted(name)
        values = f"map_entries({column})" if kind.startswith("MAP(") else column
        # one level of structs and lists at a time: a list inside a struct stays a list in a recursive unnest
        inner_scanned, inner_found = scan_texts(
            con, f"(SELECT unnest({values}, recursive := true) FROM {relation})", f"{prefix}{name}.", empty)
        # a list's items come back under the name unnest(...): they are the column's own texts
        scanned += [c if "unnest(" not in c else prefix + name for c in inner_scanned]
        found += inner_found
    return scanned, found


def holds_pii(columns: list[str]) -> str:
    """SQL: true where one of ``columns`` holds what the redaction removes (the phone number functions registered)."""
    conditions = []
    for column in columns:
        text = _quoted(column)
        patterns = [PII_PATTERNS[0][0]] if column in _HASHED_COLUMNS else [p for p, _ in PII_PATTERNS]
        found = " OR ".join(f"regexp_matches({text}, {sql_literal(p)})" for p in patterns)
        if column not in _HASHED_COLUMNS:  # and a number libphonenumber finds (the redaction's last step)
            found += f" OR {holds_phone_number_sql(text)}"
        if column in _ID_COLUMNS:
            found = f"(NOT starts_with({text}, {sql_literal(MASKED_ID_PREFIX)}) AND ({found}))"
        conditions.append(f"coalesce({found}, false)")
    return " OR ".join(conditions) or "false"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
