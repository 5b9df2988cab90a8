"""A user id in any form in the text of a rejected conversations record is pseudonymised before it is stored: the
parse's own SQL (pseudonymised_user_ids, then redact_pii) over ids as strings, numbers, objects and lists, under any
user key spelling, at any depth, in JSON held in a string, in a cut line, a Python dict or a key=value log line."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_pipeline.sources.conversations.resource import ConversationsResource
from analytics_pipeline.sources.conversations.spec import (
    prepare_connection,
    raw_user_ids,
)

KEY = "user-ids-in-quarantine-" + "k" * 32

text_ids = st.from_regex(r"[A-Za-z][A-Za-z0-9]{2,6}[-_.]?[A-Za-z0-9]{3,8}", fullmatch=True)
number_ids = st.integers(10**5, 10**12)
user_keys = st.sampled_from(["user_id", "userId", "UserID", "user-id", "USER_ID", "userid", "uid", "user",
                             "end_user_id", "endUserId", "username", "user id"])


@st.composite
def user_values(draw, user_id):
    """The id as a JSON value: itself, or inside an object or a list."""
    return draw(st.sampled_from([
        user_id, {"id": user_id}, {"id": user_id, "plan": "pro"}, [user_id], {"profile": {"ref": user_id}},
        [{"id": user_id}]]))


@st.composite
def documents(draw):
    """(record, user id): an analytics event carrying a user id under a user key somewhere in it."""
    user_id = draw(st.one_of(text_ids, number_ids))
    value = draw(user_values(user_id))
    holder = {draw(user_keys): value}
    where = draw(st.sampled_from(["top", "detail", "deep", "list", "string"]))
    record = {"event_id": "e-1", "event_type": "user_message", "timestamp": "not a time", "session_id": "s-1"}
    if where == "top":
        record.update(holder)
    elif where == "detail":
        record["detail"] = {"agent_id": "agent-7", **holder}
    elif where == "deep":
        record["data"] = {"context": {"meta": holder, "text": "hello"}}
    elif where == "list":
        record["events"] = [{"kind": "x"}, holder]
    else:
        record["payload"] = json.dumps(holder)  # JSON written into a string
    return record, str(user_id)


@st.composite
def texts(draw):
    """The record as a rejected line may hold it: JSON (compact or indented), cut, a Python dict, or a log line."""
    record, user_id = draw(documents())
    form = draw(st.sampled_from(["json", "indented", "cut", "python", "log"]))
    if form == "log":
        key = draw(user_keys.filter(lambda k: " " not in k))
        return f"2024-03-01T10:00:00Z ERROR bad event {key}={user_id} session=s-1", user_id
    if form == "python":
        return str(record), user_id
    text = json.dumps(record, indent=2 if form == "indented" else None)
    if form == "cut":  # a line cut somewhere after the id (a truncated write)
        end = text.index(user_id) + len(user_id)
        text = text[:draw(st.integers(end, len(text) - 1))]
    return text, user_id


@pytest.fixture(scope="module")
def parse_connection():
    con = duckdb.connect()
    prepare_connection(con, conversations=ConversationsResource(pseudonym_key=KEY))
    yield con
    con.close()


def _whole_word(value: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])")


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=texts())
def test_a_user_id_in_any_form_of_a_rejected_record_is_pseudonymised(parse_connection, case):
    text, user_id = case
    assert raw_user_ids(text), "the check's detector sees the raw id"
    stored, expected = parse_connection.execute(
        "SELECT redact_pii(pseudonymised_user_ids(?)), pseudonym(?)", [text, user_id]).fetchone()
    assert not _whole_word(user_id).search(stored), stored
    assert expected in stored, "replaced by the same pseudonym the stored events carry, not dropped"
    assert raw_user_ids(stored) == [], "the PII check finds nothing left"


def test_text_without_user_ids_is_left_as_written(parse_connection):
    for text in ['{"event_type": "user_message", "timestamp": "not a time", "turn": 3}', "plain words: it's 10:05",
                 '{"user_id": null, "user": ""}', "", '{"cut": "half']:
        assert parse_connection.execute("SELECT pseudonymised_user_ids(?)", [text]).fetchone()[0] == text


@hypothesis_settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(documents(), min_size=3, max_size=6))
def test_the_lake_stores_rejected_records_with_pseudonyms_and_the_check_scans_for_raw_ids(lake_env, monkeypatch, cases):
    import dagster as dg

    from analytics_pipeline.runner import dagster_instance, run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline_tests.lakes import landing_root

    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", KEY)
    landing = landing_root(lake_env)
    good = {"event_id": "e-good", "event_type": "user_message", "timestamp": "2024-03-01T10:00:00Z",
            "session_id": "s-good", "user_id": "someone-else"}
    lines = [json.dumps(good)] + [json.dumps(record) for record, _ in cases]
    lines[-1] = lines[-1][: lines[-1].index(cases[-1][1]) + len(cases[-1][1])]  # the last one cut after its id
    landing.write_bytes(("\n".join(lines) + "\n").encode(), "conversations", f"batch-{abs(hash(tuple(lines)))}.jsonl")

    run_pipeline(lake_env, progress=lambda _: None)

    stored = [text for (text,) in run_query(
        lake_env, "SELECT original_text FROM ingest_errors WHERE source = 'conversations'").rows]
    assert len(stored) >= len(cases)
    for _, user_id in cases:
        assert not any(_whole_word(user_id).search(text) for text in stored), user_id
    check = dagster_instance(lake_env).event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("conversation_sessions"), "no_pii_in_stored_text")])
    evaluation = next(iter(check.values())).event.dagster_event.event_specific_data
    assert evaluation.passed and evaluation.metadata["quarantined_with_raw_user_ids"].value == 0, evaluation.metadata
