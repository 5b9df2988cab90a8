"""PII in any text field of a conversation event (ids, labels, free text), or in a record that is quarantined,
never reaches the lake; ids that held PII stay distinct; the check scans every stored text; the digit-run filter
before libphonenumber lets every number through."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import duckdb
import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from analytics_pipeline.definitions import build_definitions
from analytics_pipeline.sources.conversations.phone_numbers import register_phone_number_redaction
from analytics_pipeline.sources.conversations.pii_check import CHECK_NAME, scan_texts
from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.runner import dagster_instance, run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.conversations.pii_checks import checked_tables, pii_evaluations
from analytics_pipeline_tests.lakes import landing_root

DAY = "2024-03-01"
FIELDS = ["session_id", "agent_id", "event_type", "channel", "platform", "location", "sentiment", "query", "user_id"]

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
emails = st.builds(lambda a, b, tld: f"{a}.{b}@{b}mail.{tld}", names, names, st.sampled_from(["com", "co.uk", "io"]))
PHONE_REGIONS = "GB,US,DE,FR,IN"
# Valid numbers of those regions in national formats the regular expressions miss (libphonenumber finds them).
national_phones = st.one_of(
    st.builds(lambda a, b, c, d, sep: f"01{sep}4{a}{sep}{b:02d}{sep}{c:02d}{sep}{d:02d}",  # France
              st.integers(0, 9), st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.sampled_from(" .")),
    st.builds(lambda a, b, sep: f"098{a}{sep}{b}", st.integers(100, 999), st.integers(10000, 99999),  # India
              st.sampled_from(" -")),
    st.builds(lambda a: f"030/{a}", st.integers(100000, 99999999)),  # Germany
    st.builds(lambda a, b: f"415{a}{b:04d}", st.integers(200, 999), st.integers(0, 9999)))  # the US, in one block
phones = st.one_of(
    st.builds(lambda cc, n: f"+{cc}{n}", st.sampled_from(["44", "1", "48", "353"]), st.integers(10**8, 10**10 - 1)),
    st.builds(lambda a, b, c: f"0{a} {b} {c}", st.integers(1000, 9999), st.integers(100, 999), st.integers(1000, 9999)),
    st.builds(lambda a, b: f"(0{a}) {b}", st.integers(10, 999), st.integers(100000, 9999999)),
    national_phones)
cards = st.builds(lambda g: " ".join(f"{x:04d}" for x in g), st.lists(st.integers(1000, 9999), min_size=4, max_size=4))
pii = st.one_of(emails, phones, cards)


@st.composite
def events(draw):
    """Events each carrying PII in one field, plus one rejected record (a bad timestamp) carrying it."""
    drawn, run = [], uuid.uuid4().hex[:8]  # examples share the lake: ids of their own
    for n in range(draw(st.integers(min_value=2, max_value=6))):
        field, secret = draw(st.sampled_from(FIELDS)), draw(pii)
        event = {"event_id": f"e-{run}-{n}", "event_type": "user_message", "timestamp": f"{DAY}T10:{n:02d}:00Z",
                 "session_id": f"s-{run}-{n}", "user_id": f"user-{n}", "agent_id": "agent-1", "channel": "web",
                 "platform": "ios", "sentiment": "neutral", "data": {"text": "hello"}}
        event[field] = f"{field} of {secret}" if field not in ("session_id", "user_id") else secret
        drawn.append((event, secret))
    rejected_secret = draw(pii)
    rejected = {"event_id": f"e-{run}-bad", "event_type": "user_message", "timestamp": "not a time",
                "session_id": "s-bad", "user_id": rejected_secret, "data": {"text": f"call me on {draw(phones)}"}}
    return drawn, rejected, rejected_secret


@hypothesis_settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=events())
def test_pii_in_any_field_is_never_stored_and_the_check_scans_it_all(lake_env, monkeypatch, case):
    drawn, rejected, rejected_secret = case
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "pii-everywhere-" + "k" * 32)
    monkeypatch.setenv("ANALYTICS_PHONE_REGIONS", PHONE_REGIONS)
    landing = landing_root(lake_env)
    for f in landing.list_files("conversations"):
        landing.delete(f.key)
    lines = [json.dumps(e) for e, _ in drawn] + [json.dumps(rejected)]
    landing.write_bytes(("\n".join(lines) + "\n").encode(), "conversations", f"batch-{abs(hash(tuple(lines)))}.jsonl")

    run_pipeline(load_settings(), progress=lambda _: None)

    settings = load_settings()
    columns = [r[0] for r in run_query(settings, "DESCRIBE conversation_events").rows if r[1] == "VARCHAR"]
    ids = ", ".join(f"'{e['event_id']}'" for e, _ in drawn)
    stored = run_query(settings, f"SELECT {', '.join(columns)} FROM conversation_events WHERE event_id IN ({ids})").rows
    assert len(stored) == len(drawn)
    quarantined = [r[0] for r in run_query(
        settings, "SELECT original_text FROM ingest_errors WHERE source = 'conversations'").rows]
    texts = [str(v) for row in stored for v in row if v is not None] + quarantined
    for secret in [s for _, s in drawn] + [rejected_secret]:
        assert not any(secret in text for text in texts), secret
    assert any('"user_id": "u_' in text for text in quarantined)  # the rejected record's user id, pseudonymised
    sessions = run_query(settings, f"SELECT count(DISTINCT session_id) FROM conversation_events WHERE event_id IN ({ids})")
    assert sessions.rows[0][0] == len({e["session_id"] for e, _ in drawn})  # ids that held PII stay distinct
    instance = dagster_instance(settings)
    check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("conversation_sessions"), CHECK_NAME)])
    evaluation = next(iter(check.values())).event.dagster_event.event_specific_data
    assert evaluation.passed, evaluation.metadata
    scanned = evaluation.metadata["columns_scanned"].value
    assert set(FIELDS) | {"ingest_errors.original_text", "ingest_errors.reason_detail"} <= set(scanned)
    # every other table of the source ran the check over what it wrote: every text column of the table
    for table, evaluations in pii_evaluations(settings).items():
        assert evaluations and all(e.passed for e in evaluations), (table, evaluations)
        if table == "training_data":
            continue  # JSON Lines, no view
        text_columns = {r[0] for r in run_query(settings, f"DESCRIBE {table}").rows
                        if r[1] in ("VARCHAR", "JSON") and r[0] != "source_file"}
        scanned = {c.removeprefix(f"{table}.") for e in evaluations for c in e.metadata["columns_scanned"].value}
        assert text_columns <= scanned, (table, text_columns - scanned)


def test_every_conversations_table_carries_the_pii_check():
    tables = checked_tables()
    assert len(tables) >= 15
    checks = build_definitions().resolve_asset_graph().asset_check_keys
    for key in tables:
        assert dg.AssetCheckKey(key, CHECK_NAME) in checks, key


introductions = st.builds(lambda cue, words: f"{cue} {' '.join(words)}", st.sampled_from(["My name is", "I'm", "I’m",
                                                                                        "This is", "call me"]),
                          st.lists(st.builds(lambda w: w[0].upper() + w[1:], names), min_size=1, max_size=2))
compact_phones = st.builds(lambda cc, n: f"+{cc}{n}", st.sampled_from(["44", "1", "33", "48", "353", "91"]),
                           st.integers(10**8, 10**10 - 1))
SHAPES = {  # a table's text column of each kind, holding ``secret`` in one of its texts
    "text": "SELECT 'ok' AS label, $secret AS note",
    "json": "SELECT 'ok' AS label, json_object('text', $secret, 'n', 1) AS note",
    "struct": "SELECT 'ok' AS label, {'at': TIMESTAMP '2024-03-01 10:00:00', 'intent': $secret} AS last_event",
    "list": "SELECT 'ok' AS label, ['procedure', $secret] AS path",
    "list of structs": "SELECT 'ok' AS label, [{'step': 1, 'text': 'hi'}, {'step': 2, 'text': $secret}] AS steps",
    "struct of lists": "SELECT 'ok' AS label, {'words': ['a', $secret], 'n': 2} AS bag",
    "map": "SELECT 'ok' AS label, MAP {'first': 'hello', 'second': $secret} AS labels",
}


@pytest.fixture(scope="module")
def connections():
    """``connection(regions)``: a connection with the phone number functions of ``regions`` registered (or, for
    ``"redaction"``, the conversations' whole redaction), made once and shared by a test's examples: making one took
    longer than the queries an example runs (18 ms against 2.5 ms)."""
    from analytics_pipeline.sources.conversations.spec import prepare_connection

    made: dict[str, duckdb.DuckDBPyConnection] = {}

    def connection(regions: str) -> duckdb.DuckDBPyConnection:
        if regions not in made:
            made[regions] = duckdb.connect()
            if regions == "redaction":
                prepare_connection(made[regions], rows=False)
            else:
                register_phone_number_redaction(made[regions], tuple(regions.split(",")))
        return made[regions]

    yield connection
    for con in made.values():
        con.close()


@hypothesis_settings(max_examples=150, deadline=None)
@given(secret=st.one_of(pii, introductions, compact_phones, national_phones), shape=st.sampled_from(sorted(SHAPES)))
def test_the_check_finds_pii_in_any_text_a_table_holds(connections, secret, shape):
    """Whatever the column's type (text, JSON, struct, list, map, nested), a text holding PII is found, and the same
    rows without it pass."""
    con = connections(PHONE_REGIONS)
    for text, expected in ((f"see {secret} now", 1), ("see the procedure now", 0)):
        con.execute(f"CREATE OR REPLACE TABLE result_rows AS {SHAPES[shape].replace('$secret', sql_literal(text))}")
        scanned, found = scan_texts(con, "result_rows")
        assert found == expected, (shape, text, scanned)
        assert "label" in scanned and len(scanned) >= 2


letters = st.characters(categories=["Ll"], exclude_characters="ıſ")  # dotless i and long s have no plain capital
name_words = st.builds(lambda first, rest, join, tail: first.upper() + "".join(rest) + join + tail,
                       letters, st.lists(letters, min_size=1, max_size=8), st.sampled_from(["", "'", "’", "-"]),
                       st.text(alphabet=letters, min_size=0, max_size=6)).filter(lambda w: w[0].isupper())
cues = st.sampled_from(["My name is", "my name is", "Call me", "I'm", "I’m", "I am", "This is", "this is"])


particles = st.lists(st.sampled_from(["de", "la", "del", "van", "von", "der", "da", "dos", "al", "bin", "y"]),
                     max_size=2)
# more parts of a name: surnames of several words (García López), with particles (van Beethoven, de la Fontaine)
more_parts = st.lists(st.builds(lambda words, word: " ".join([*words, word]), particles, name_words), max_size=3)


@hypothesis_settings(max_examples=300, deadline=None)
@given(cue=cues, words=st.lists(name_words, min_size=1, max_size=2), more=more_parts,
       after=st.sampled_from(["", ".", ", thanks", "!", " and I need help"]))
def test_names_in_any_alphabet_after_an_introduction_are_redacted_whole(connections, cue, words, more, after):
    name = " ".join(words + more)
    redacted = connections("redaction").execute("SELECT redact_pii(?)", [f"Hello! {cue} {name}{after}"]).fetchone()[0]
    head = f"Hello! {cue} [NAME]"
    assert redacted.startswith(head), (name, redacted)
    # What follows the name stays, but for a word that could go on with it: the redaction's RE2 patterns have no
    # look-ahead to tell "My name is Ann and I ..." from "my name is ann lee" (a lowercase surname after a strong
    # cue) or a capitalised "I" from a surname, so "and I" may go too. Nothing of the name may stay.
    rest = redacted[len(head):]
    assert after.endswith(rest) and not set(name.split()) & set(rest.split()), (name, redacted)


def _written_numbers() -> list[str]:
    """libphonenumber's example numbers of every region and kind, with the country code in every style (the
    shortest has 6 digits: +989601), and in the national format for the regions searched."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.supported_types_for_region(region):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                styles = [PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164, PhoneNumberFormat.RFC3966]
                if region in PHONE_REGIONS.split(","):
                    styles.append(PhoneNumberFormat.NATIONAL)
                found += [phonenumbers.format_number(number, style) for style in styles]
    return found


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _as_written(number: str, separator: str, full_width: bool) -> str:
    text = number.replace(" ", separator)
    return text.translate(FULL_WIDTH) if full_width else text


written = st.builds(_as_written, st.sampled_from(_written_numbers()),
                    st.sampled_from([" ", ".", "-", "/", "", "  ", " - "]), st.booleans())
digit_runs = st.text(alphabet="0123456789 .-/()+x", min_size=1, max_size=16)
words = st.sampled_from(["call", "on", "SMT", "WO-", "session-", "ab", "x", "ext.", "+", "(", ")", "£", "é", "Ж",
                         "号"])
separators = st.sampled_from(["", " ", "-", ".", "/", ", "])


@hypothesis_settings(max_examples=400, deadline=None)
@example(pieces=[("call +989601", " now")], regions="GB,US")  # as few digits as a number has
@example(pieces=[("WO-", ""), ("4155550132", "")], regions="GB,US")  # right after a dash (not a letter)
@example(pieces=[("（０２０）７９４６ ０９５８", "")], regions="GB,US")  # full-width
@example(pieces=[("a" + "0" * 420 + "4155550132", "")], regions="GB,US")  # after the matcher's longest candidate
@given(pieces=st.lists(st.tuples(st.one_of(written, digit_runs, words), separators), min_size=1, max_size=6),
       regions=st.sampled_from([PHONE_REGIONS, "GB,US"]))
def test_the_digit_run_filter_lets_through_every_text_libphonenumber_finds_a_number_in(connections, pieces, regions):
    text = "".join(piece + separator for piece, separator in pieces)
    searched, redacted = connections(regions).execute("SELECT may_hold_phone_number($1), phone_numbers_replaced($1)",
                                                      [text]).fetchone()
    assert searched or redacted == text, text
