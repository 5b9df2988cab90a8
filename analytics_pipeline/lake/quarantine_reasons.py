"""Why a landing record was quarantined: a short code that groups (``ingest_errors.reason``) and the problem in
words, with the field names, values and sizes involved (``ingest_errors.reason_detail``).

The codes are defined here and only here. The parse SQL names them as ``{reason.<code>}`` (filled in by
``SourceSpec.records_sql``; a misspelt code fails every parse), Python by the constants below, and the
``ingest_errors`` view maps the long reason texts written before the codes to them (``older_text``).

A record with several problems is counted under the first found (the checks run: shape, keys, event time, types)
and its detail names them all, ``; ``-separated. Inside the parse a problem is one text, its code, US (0x1F) and
its detail (the SQL macro ``problem``, :func:`issue` in Python); a record's problems are joined as before, and the
macros ``reason_code`` and ``reason_detail`` split them when the row is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace

_CODE_END = "\x1f"  # never in a detail: problem() and issue() blank it out


@dataclass(frozen=True)
class Reason:
    code: str
    meaning: str
    older_text: str  # RE2 pattern: the start of the reason text rows quarantined before the codes hold


REASONS: list[Reason] = []


def _reason(code: str, meaning: str, older_text: str = "") -> str:
    REASONS.append(Reason(code, meaning, older_text))
    return code


# Landing entries and lines (landing_lines.py)
LINK_OUTSIDE_LANDING = _reason("link_outside_landing", "the landing entry is a link leading outside the landing "
                               "zone: it was not read", r"refused: the file is a link")
NOT_A_REGULAR_FILE = _reason("not_a_regular_file", "the landing entry is a FIFO, socket or device: it was not read",
                             r"refused: the entry is not a regular file")
FILE_TOO_LARGE = _reason("file_too_large", "the file holds more than ANALYTICS_MAX_FILE_BYTES (decompressed): "
                         "refused whole, one row", r"refused: the file holds more than")
UNREADABLE_FILE = _reason("unreadable_file", "the gzip stream is corrupt or cut off: the lines before the break "
                          "land, the line it breaks in is this row; or the system would not read the file at all "
                          "(permissions, a dangling link): one row", r"unreadable file")
LINE_TOO_LONG = _reason("line_too_long", "the line is longer than ANALYTICS_MAX_LINE_BYTES: its first 64 KiB are "
                        "kept as its text", r"line of [0-9,]+ bytes is longer than")
INVALID_UTF8 = _reason("invalid_utf8", "the line is not UTF-8 (its text keeps U+FFFD for the bad bytes)",
                       r"invalid UTF-8")
# Records (specs/*_records.sql)
INVALID_JSON = _reason("invalid_json", "the line is not JSON (cut off, garbage, records broken apart)",
                       r"invalid JSON")
UNKNOWN_SHAPE = _reason("unknown_shape", "JSON, but not a record of the source (a string, a number, an object "
                        "without the keys that make a record)", r"unknown record shape")
MISSING_KEY = _reason("missing_key", "a key the record needs is absent or empty (its id, type, time, key attribute)",
                      r"missing (key|keys|time)\b")
UNKNOWN_EVENT_TYPE = _reason("unknown_event_type", "the event type is not one the source has (claims: eventName "
                             "other than INSERT, MODIFY, REMOVE)", r"unknown eventName")
INVALID_TIME = _reason("invalid_time", "a field the event time is read from holds something that is not a time",
                       r"(missing or invalid time|\w+ is not a time:|dynamodb\.ApproximateCreationDateTime is not)")
TIME_OUT_OF_RANGE = _reason("time_out_of_range", "the event time is before the partitions start "
                            "(ANALYTICS_PARTITIONS_START) or after the end of today (UTC)", r"event time .* outside")
WRONG_TYPE = _reason("wrong_type", "a field's value is not of its type (a number, boolean, date, list or object)",
                     r"(attribute \S+ is not a|\w+ is not a number|models is not a list|dynamodb image is not)")
INVALID_MODEL_ENTRY = _reason("invalid_model_entry", "an entry of a run's models has no model name, tokens or "
                              "cost that are not numbers, or token counts that cannot be (negative, more cached "
                              "than input tokens, more reasoning than output tokens)", r"models entry with")
UNCLASSIFIED = _reason("unclassified", "only a row quarantined before the codes, whose reason text this version "
                       "does not know (the text is its detail)")

CODES = frozenset(r.code for r in REASONS)
# For the parse SQL's {reason.<code>}: each code as a SQL literal.
SQL_LITERALS = SimpleNamespace(**{code: f"'{code}'" for code in CODES})

_US = f"chr({ord(_CODE_END)})"
QUARANTINE_MACROS = f"""
CREATE OR REPLACE TEMP MACRO problem(code, detail) AS code || {_US} || translate(coalesce(detail, code), {_US}, ' ');
-- what is wrong with a record before its fields are read: an issue of the line, not JSON, not an object
CREATE OR REPLACE TEMP MACRO shape_problem(issue, is_json, json_kind, text, what) AS
    CASE WHEN issue IS NOT NULL THEN issue
         WHEN NOT is_json THEN problem('{INVALID_JSON}', 'invalid JSON' || coalesce(': ' || json_error(text), ''))
         WHEN json_kind <> 'OBJECT' THEN problem('{UNKNOWN_SHAPE}',
             'unknown record shape: a JSON ' || json_kind_name(json_kind) || ', not ' || what) END;
-- a field that was given but could not be read as its type
CREATE OR REPLACE TEMP MACRO unread(given, parsed, code, detail) AS
    CASE WHEN given IS NOT NULL AND parsed IS NULL THEN problem(code, detail) END;
CREATE OR REPLACE TEMP MACRO reason_code(problems) AS split_part(problems, {_US}, 1);
CREATE OR REPLACE TEMP MACRO reason_detail(problems) AS regexp_replace(problems, '[a-z0-9_]+' || {_US}, '', 'g');
"""


def issue(code: str, detail: str) -> str:
    """A problem found in Python (a refused file, a line too long), as the parse SQL's ``problem`` writes one."""
    if code not in CODES:
        raise ValueError(f"{code!r} is not a quarantine reason code")
    return code + _CODE_END + detail.replace(_CODE_END, " ")


def json_error(text: str | None) -> str | None:
    """Where ``text`` stops being JSON, in Python's words (``Expecting ',' delimiter: line 1 column 80 (char
    79)``), for the detail of an invalid_json row; None where Python reads it (DuckDB is stricter: NaN) or gives up."""
    if text is None:
        return None
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        return str(err)
    except (ValueError, RecursionError):
        return None
    return None


def older_reason_sql(reason: str, detail: str) -> tuple[str, str]:
    """SQL for a quarantine row's (code, detail): rows written before the codes hold the long text in ``reason``
    and no detail; their code is the one whose ``older_text`` their text starts with, their detail that text."""
    codes = ", ".join(f"'{code}'" for code in sorted(CODES))
    known = " ".join(f"WHEN regexp_matches({reason}, '^{r.older_text}') THEN '{r.code}'"
                     for r in REASONS if r.older_text)
    return (f"CASE WHEN {reason} IN ({codes}) THEN {reason} {known} ELSE '{UNCLASSIFIED}' END",
            f"CASE WHEN {reason} IN ({codes}) THEN {detail} ELSE {reason} END")
