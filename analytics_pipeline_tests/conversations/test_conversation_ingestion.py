"""Conversation events land typed, PII-free and pseudonymised; bad events are quarantined with reasons."""

import json

import duckdb
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.settings import load_settings
from analytics_pipeline.sources.conversations.spec import conversations_spec
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.lakes import conversations_resource

QUERY_WITH_PII = ("How do I fix low oil pressure? my name is John Smith, call +44 20 7946 0958 or 555-123-4567, "
                  "mail john.smith@corp.co.uk, card 4111 1111 1111 1111")


def eventbridge(event_id, detail_type, session, user, query=None, **metadata) -> dict:
    detail = {"session_id": session, "user_id": user, "agent_id": "agent-turbine-ops",
              "metadata": {"timestamp": "2026-03-02T10:30:00Z", **metadata}}
    if query is not None:
        detail["query"] = query
    return {"version": "0", "id": event_id, "detail-type": detail_type, "source": "turbine.assistant",
            "time": "2026-03-02T10:30:05Z", "detail": detail}


def plain(event_id, event_type, session, user, **fields) -> dict:
    return {"event_id": event_id, "event_type": event_type, "timestamp": "2026-03-02T10:31:00Z",
            "session_id": session, "user_id": user, "agent_id": "agent-turbine-ops", **fields}


def stage(settings, events: list, extra_lines: str = ""):
    landing, lake = landing_root(settings), lake_root(settings)
    landing.write_bytes(("\n".join(json.dumps(e) for e in events) + "\n" + extra_lines).encode(),
                        "conversations", "events.jsonl")
    result = stage_batch(lake, landing, conversations_spec().given(conversations_resource()),
                         landing.list_files("conversations"), "2024-01-01")
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{lake.path('staging/conversations/*/*.parquet')}') "
                      f"ORDER BY event_id").fetchall() if result.figures.landed else []
    columns = [d[0] for d in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet("
                                        f"'{lake.path('staging/conversations/*/*.parquet')}')").fetchall()] if rows else []
    return result, [dict(zip(columns, r)) for r in rows], lake


@pytest.fixture
def keyed(lake_env, monkeypatch):
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "test-key-" + "x" * 32)
    return lake_env


def test_both_shapes_land_typed_and_redacted(keyed):
    result, rows, _ = stage(keyed, [
        eventbridge("e1", "Query Processed", "s1", "bob@example.com", QUERY_WITH_PII, turn=1,
                    confidence_score=0.85, response_time_ms=420, channel="web"),
        plain("e2", "message_received", "s1", "user-7", data={"text": "Startup procedure for SMT60 at 1500 rpm?"},
              channel="web", confidence="0.6", response_time_ms=300),
        eventbridge("e3", "Session Completed", "s1", "bob@example.com"),
        eventbridge("e4", "Feedback Submitted", "s1", "bob@example.com"),
    ])
    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (4, 4, 0)
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["e1"]["query"] == ("How do I fix low oil pressure? my name is [NAME], call [PHONE] or [PHONE], "
                                   "mail [EMAIL], card [CARD]")
    assert (by_id["e1"]["event_type"], by_id["e1"]["confidence"], by_id["e1"]["turn"]) == ("query", 0.85, 1)
    assert by_id["e2"]["query"] == "Startup procedure for SMT60 at 1500 rpm?"  # numbers that are not PII stay
    assert (by_id["e3"]["event_type"], by_id["e4"]["event_type"]) == ("session_completed", "feedback_submitted")
    assert all(r["user_id"].startswith("u_") and "@" not in r["user_id"] for r in rows)
    assert by_id["e1"]["user_id"] == by_id["e3"]["user_id"] != by_id["e2"]["user_id"]


def test_no_pii_anywhere_in_the_stored_files(keyed):
    _, _, lake = stage(keyed, [eventbridge("e1", "Query Processed", "s1", "bob@example.com", QUERY_WITH_PII)],
                       extra_lines='{"event_id": "bad", "event_type": "x", "session_id": "s", "timestamp": "never", '
                                   '"user_id": "carol@example.com", "data": {"text": "card 4111-1111-1111-1111"}}\n')
    for f in lake.list_files(""):
        data = lake.read_bytes(f.key)
        for secret in (b"bob@example.com", b"carol@example.com", b"4111", b"John Smith", b"7946"):
            assert secret not in data, (f.key, secret)



def test_an_event_type_is_a_label_like_any_other_and_holds_no_pii(keyed):
    """Any event type but the vocabulary's is redacted, an EventBridge detail-type before it becomes one: an
    e-mail there would otherwise land as ``escalated_to_jane_doe_example_com``, past the e-mail pattern."""
    _, rows, lake = stage(keyed, [
        eventbridge("e1", "Escalated to jane.doe@example.com", "s1", "user-1"),
        plain("e2", "call 07700 900123 back", "s1", "user-1"),
        plain("e3", "user_message", "s1", "user-1", data={"text": "hello"}),
        eventbridge("e4", "Query Processed", "s1", "user-1", "hello"),
    ])
    types = {r["event_id"]: r["event_type"] for r in rows}
    assert types == {"e1": "escalated_to_email_", "e2": "call [PHONE] back", "e3": "user_message", "e4": "query"}
    for f in lake.list_files(""):
        data = lake.read_bytes(f.key)
        assert not [secret for secret in (b"jane", b"example", b"900123") if secret in data], f.key

# Numbers the regular expressions miss, each valid in its region: libphonenumber finds them in the national formats of
# the regions of ANALYTICS_PHONE_REGIONS, and any region's numbers written with the country code.
NATIONAL_FORMATS = {"FR": ("01 42 68 53 00", "01.42.68.53.00", "01 23 45 67 89"),
                    "IN": ("098765 43210", "098765-43210", "98765 43210"),
                    "DE": ("030/901820", "0171/1234567"),
                    "GB": ("02079460958",),
                    "US": ("4155550132",)}
WITH_COUNTRY_CODE = ("+33 1 42 68 53 00", "+33 (0)1 42 68 53 00", "+91 98765 43210", "+1 4155550132")
# ... and numbers the regular expressions found before, still redacted whole
FOUND_BEFORE = ("07700 900123", "020.7946.0958", "(415) 555-0132", "415.555.0132", "+44 (0)1224 571255",
                "022 2778 8000", "030 901820", "+49 (0)30 901820", "+49 171 1234567", "+447700900123")
NOT_PHONE_NUMBERS = ("Work order WO-234567 raised at 2026-12-05 10:32 for the SMT130 on GT-11",
                     "Speed 3,412 rpm, EGT 512 °C, vibration 14.7 mm/s, lube oil 18 psi, 2026-12-05T10:32:00Z",
                     "Claim amount £12,500.00 approved on 05/12/2026; ticket INC8481040, doc OP-123",
                     "HMI version 1.13.2 since 2026-11-30 22:15:07; 23,000 fired hours, 1,234,567 kWh")


def stored_queries(settings, texts: list[str]) -> list[str]:
    """Each text staged as a query of its own; the stored queries in the same order."""
    _, rows, _ = stage(settings, [eventbridge(f"e{n:03d}", "Query Processed", "s1", "user-1", text)
                                  for n, text in enumerate(texts)])
    return [row["query"] for row in rows]


def test_phone_numbers_in_the_national_formats_of_the_configured_regions_are_redacted(keyed, monkeypatch):
    monkeypatch.setenv("ANALYTICS_PHONE_REGIONS", "GB,US,DE,FR,IN")
    numbers = [n for formats in NATIONAL_FORMATS.values() for n in formats] + [*WITH_COUNTRY_CODE, *FOUND_BEFORE]
    stored = stored_queries(keyed, [f"Ring me on {n} after the shift" for n in numbers] + list(NOT_PHONE_NUMBERS))
    assert stored[:len(numbers)] == ["Ring me on [PHONE] after the shift"] * len(numbers), list(zip(numbers, stored))
    assert stored[len(numbers):] == list(NOT_PHONE_NUMBERS)  # order ids, times, readings, amounts, versions stay


def test_by_default_the_uk_and_us_formats_are_searched_and_every_country_code(keyed):
    others = [NATIONAL_FORMATS["FR"][0], NATIONAL_FORMATS["IN"][0], NATIONAL_FORMATS["DE"][0]]
    texts = [f"Ring me on {n} after the shift"
             for n in [*NATIONAL_FORMATS["GB"], *NATIONAL_FORMATS["US"], *WITH_COUNTRY_CODE, *others]]
    expected = ["Ring me on [PHONE] after the shift"] * (len(texts) - len(others)) + texts[-len(others):]
    assert stored_queries(keyed, texts) == expected  # other countries' national formats need their region


def test_the_phone_regions_are_libphonenumbers_codes_or_a_one_line_error(lake_env, monkeypatch, capsys):
    monkeypatch.setenv("ANALYTICS_PHONE_REGIONS", " de, fr ,DE")
    assert load_settings().phone_regions == ("DE", "FR")
    monkeypatch.setenv("ANALYTICS_PHONE_REGIONS", "uk,us,XX")
    assert main(["run"]) == 2
    assert capsys.readouterr().err == ("error: ANALYTICS_PHONE_REGIONS: UK, XX are not a region code libphonenumber "
                                       "knows (ISO 3166, such as GB, US, DE, FR, IN) (the United Kingdom is GB)\n")


def test_pseudonyms_depend_on_the_key(keyed, monkeypatch):
    _, first, _ = stage(keyed, [plain("e1", "session_started", "s1", "user-7")])
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "another-key-" + "y" * 32)
    lake_root(keyed).delete("staging")
    landing_root(keyed).delete("conversations")
    _, second, _ = stage(keyed, [plain("e1", "session_started", "s1", "user-7")])
    assert first[0]["user_id"] != second[0]["user_id"]


@pytest.mark.parametrize("event, reason, detail", [
    (plain("e1", "message_received", None, "u"), "missing_key", "missing key session_id"),
    ({"event_type": "message_received", "timestamp": "2026-03-02T10:31:00Z", "session_id": "s"},
     "missing_key", "missing key event_id"),
    (plain("e1", "message_received", "s", "u", confidence="high"), "wrong_type", "confidence is not a number"),
    ({"hello": 1}, "unknown_shape",
     "unknown record shape: neither an EventBridge envelope (detail-type) nor an analytics event (event_type)"),
    ({**plain("e1", "message_received", "s", "u"), "timestamp": "yesterday"}, "invalid_time",
     "timestamp is not a time"),
    # a detail names the field, never its value (which may be PII): the value is in the redacted original text
    ({**plain("e1", "message_received", "s", "u"), "timestamp": "ask bob@example.com"}, "invalid_time",
     "timestamp is not a time"),
    ({k: v for k, v in plain("e1", "message_received", "s", "u").items() if k != "timestamp"}, "missing_key",
     "missing key timestamp"),
    ({"id": "e1", "detail-type": "Query Processed", "time": "soon", "detail": {"session_id": "s"}}, "invalid_time",
     "time (of the envelope) is not a time"),
])
def test_bad_events_are_quarantined_with_their_reason(keyed, event, reason, detail):
    result, _, lake = stage(keyed, [event])
    assert (result.figures.records_in, result.figures.quarantined) == (1, 1)
    found = duckdb.sql(f"SELECT reason, reason_detail FROM '{lake.path('errors/conversations/*.parquet')}'").fetchall()
    assert found == [(reason, detail)]


def test_sessions_table_and_pii_guard_through_the_pipeline(keyed):
    import dagster as dg

    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query

    events = [
        eventbridge("e1", "Query Processed", "s1", "bob@example.com", QUERY_WITH_PII, turn=1, confidence_score=0.5),
        eventbridge("e2", "Query Processed", "s1", "bob@example.com", "and the procedure?", turn=2,
                    confidence_score=0.9),
        {**eventbridge("e3", "Session Completed", "s1", "bob@example.com"),
         "detail": {"session_id": "s1", "user_id": "bob@example.com", "turns": 2, "resolved": True,
                    "escalated": False, "metadata": {"timestamp": "2026-03-02T10:45:00Z"}}},
        plain("p1", "session_started", "s2", "user-9", channel="teams"),
        plain("p2", "message_received", "s2", "user-9", data={"text": "vibration alarm on bearing 2"}),
        plain("p3", "escalated_to_human", "s2", "user-9"),
    ]
    landing_root(keyed).write_bytes(("\n".join(json.dumps(e) for e in events) + "\n").encode(), "conversations", "a.jsonl")
    reports = {r.source: r for r in run_pipeline(keyed, progress=lambda _: None)}
    assert (reports["conversations"].figures.records_in, reports["conversations"].figures.landed) == (6, 6)
    sessions = {r[0]: r[1:] for r in run_query(
        keyed, "SELECT session_id, user_turns, turns, escalated, resolved, completed FROM conversation_sessions").rows}
    assert sessions == {"s1": (2, 2, False, True, True), "s2": (1, 1, True, False, False)}
    instance = dg.DagsterInstance.get()
    key = dg.AssetCheckKey(dg.AssetKey("conversation_sessions"), "no_pii_in_stored_text")
    (latest,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    assert latest.status.value == "SUCCEEDED"
    assert run_query(keyed, "SELECT count(*) FROM conversation_turns").rows[0][0] == 3
