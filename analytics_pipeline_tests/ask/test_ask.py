"""`analytics-pipeline ask` against an OpenAI-compatible server on 127.0.0.1 answering from a script, on a copy of
the demo lake: rows, SQL and time printed; the error sent back to the model; writes refused by the gate; a slow and
an unreachable endpoint; no model configured; a plugin; the key never shown; every question in ``ask_history``."""

from __future__ import annotations

import json
import re
import socket
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from analytics_pipeline.ask.prompt import sql_of
from analytics_pipeline.cli import main
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.ask.chat_server import Reply, chat_server, scripted, sql_reply

KEY = "sk-ask-test-Qx7Lm2Vb9Tz4"
MODEL = "test-sql-model"
PER_STATUS = "SELECT status, count(*) AS claims FROM claims_current GROUP BY status ORDER BY status"


def question(text: str) -> str:
    """A question no other test asks, so its ask_history row is its own."""
    return f"{text} [{uuid.uuid4().hex[:8]}]"


def use_endpoint(monkeypatch: pytest.MonkeyPatch, url: str, **extra: str) -> None:
    monkeypatch.setenv("ANALYTICS_LLM_BASE_URL", url)
    monkeypatch.setenv("ANALYTICS_LLM_MODEL", MODEL)
    monkeypatch.setenv("ANALYTICS_LLM_API_KEY", KEY)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def history(asked: str) -> dict:
    """The ask_history row of a question."""
    result = run_query(load_settings(), f"SELECT * FROM ask_history WHERE question = '{asked}'")
    (row,) = result.rows
    return dict(zip(result.columns, row, strict=True))


def test_a_question_prints_rows_sql_and_time_and_is_kept(ask_lake, monkeypatch, capsys):
    asked = question("How many claims are in each status?")
    expected = run_query(ask_lake, PER_STATUS).rows
    with chat_server(scripted(sql_reply(PER_STATUS))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", asked]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(PER_STATUS + "\n")
    lines = out.splitlines()
    assert lines[2].split() == ["status", "claims"]
    assert [line.split() for line in lines[4:4 + len(expected)]] == [[s, str(n)] for s, n in expected]
    assert re.fullmatch(rf"{len(expected)} rows in [\d.]+ s \(model [\d.]+ s, query [\d.]+ s\); 1 attempt; "
                        rf"model {MODEL}", lines[-1])
    assert err == ""

    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == MODEL and request.body["temperature"] == 0
    system, user = request.messages
    assert user == {"role": "user", "content": asked}
    # the schema: views with their asset's description, columns with types, notes on units and vocabularies
    assert "### claims_current: Latest state per claim" in system["content"]
    assert "status VARCHAR" in system["content"] and "- removed: true when the claim's last record is a REMOVE" \
        in system["content"]
    assert "### financial_ops_daily: CFO view per event day" in system["content"]

    row = history(asked)
    assert (row["outcome"], row["attempts"], row["sql"], row["error"]) == ("answered", 1, PER_STATUS, None)
    assert (row["model"], row["endpoint"], row["result_rows"]) == (MODEL, server.url, len(expected))
    assert row["seconds"] >= row["model_seconds"] > 0 and row["query_seconds"] > 0
    assert row["tries"] == [{"sql": PER_STATUS, "error": None}]


def test_json_for_programs(ask_lake, monkeypatch, capsys):
    asked = question("Claims per status, as JSON")
    with chat_server(scripted(sql_reply(PER_STATUS))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", asked, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert main(["sql", PER_STATUS, "--format", "json"]) == 0
    assert document["rows"] == json.loads(capsys.readouterr().out)
    assert document["columns"] == ["status", "claims"]
    assert (document["question"], document["sql"], document["outcome"], document["attempts"], document["model"]) == \
        (asked, PER_STATUS, "answered", 1, MODEL)
    assert document["error"] is None and document["seconds"] >= document["model_seconds"] >= 0


def test_bad_sql_goes_back_to_the_model_with_its_error(ask_lake, monkeypatch, capsys):
    asked = question("What is the average fraud score of current claims?")
    wrong = "SELECT avg(fraud_scor) FROM claims_current"
    fixed = "SELECT avg(fraud_score) AS avg_fraud FROM claims_current"
    with chat_server(scripted(sql_reply(wrong), sql_reply(fixed))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", asked]) == 0
    out = capsys.readouterr().out
    assert out.startswith(fixed + "\n") and "; 2 attempts;" in out
    first, second = server.requests
    assert second.messages[:3] == first.messages + [{"role": "assistant", "content": sql_reply(wrong)}]
    error_sent = second.messages[3]["content"]
    assert error_sent.startswith("That query failed: ") and "fraud_scor" in error_sent
    row = history(asked)
    assert (row["outcome"], row["attempts"], row["sql"]) == ("answered", 2, fixed)
    assert row["tries"][0]["sql"] == wrong and "fraud_scor" in row["tries"][0]["error"]
    assert row["tries"][1] == {"sql": fixed, "error": None}


def test_writes_are_refused_by_the_gate_and_never_run(ask_lake, monkeypatch, capsys, tmp_path):
    asked = question("Delete the claims, then export them")
    leak = tmp_path / "leak.csv"
    writes = ["DROP VIEW claims_current", f"COPY (SELECT * FROM claims) TO '{leak}' (FORMAT CSV)",
              "CREATE TABLE stolen AS SELECT * FROM claims"]
    with chat_server(scripted(*map(sql_reply, writes))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", asked]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(writes[-1] + "\n")  # the last query tried is shown; no rows
    assert err.startswith("error: no query that runs in 3 answers of the model; the last: only read-only queries")
    assert len(err.strip().splitlines()) == 1
    assert len(server.requests) == 3 and "only read-only queries" in server.requests[2].messages[-1]["content"]
    assert not leak.exists()
    assert run_query(ask_lake, "SELECT count(*) FROM claims_current").rows[0][0] > 0  # still there
    row = history(asked)
    assert (row["outcome"], row["attempts"], row["result_rows"]) == ("failed", 3, None)
    assert [t["sql"] for t in row["tries"]] == writes
    assert all(t["error"].startswith("only read-only queries") for t in row["tries"])


def test_a_slow_endpoint_is_a_clear_error_in_bounded_time(ask_lake, monkeypatch, capsys):
    asked = question("Which region has the most claims?")
    slow = Reply(sql_reply(PER_STATUS), delay=60)
    with chat_server(scripted(slow, slow)) as server:
        use_endpoint(monkeypatch, server.url, ANALYTICS_LLM_TIMEOUT_SECONDS="0.5")
        started = time.monotonic()
        assert main(["ask", asked]) == 1
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: the language model at {server.url} did not answer within 0.5 s " \
                  "(ANALYTICS_LLM_TIMEOUT_SECONDS)\n"
    assert elapsed < 10  # the request and its one retry, not the minute the server would take
    row = history(asked)
    assert (row["outcome"], row["attempts"], row["sql"]) == ("model_error", 0, None)
    assert "did not answer within 0.5 s" in row["error"]


def test_an_unreachable_endpoint_is_a_clear_error(ask_lake, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    asked = question("How many claims were paid?")
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}/v1")
    started = time.monotonic()
    assert main(["ask", asked]) == 1
    assert time.monotonic() - started < 15
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"error: cannot reach the language model at http://127.0.0.1:{port}/v1: ")
    assert history(asked)["outcome"] == "model_error"


@pytest.mark.parametrize("env, says", [
    ({}, "error: no language model configured: set ANALYTICS_LLM_BASE_URL"),
    ({"ANALYTICS_LLM_BASE_URL": "http://127.0.0.1:9/v1"}, "but not ANALYTICS_LLM_MODEL"),
    ({"ANALYTICS_LLM_MODEL": "m"}, "error: no language model configured: set ANALYTICS_LLM_BASE_URL"),
    ({"ANALYTICS_LLM_BASE_URL": "localhost:11434"}, "is not an http(s) URL"),
    ({"ANALYTICS_LLM_BASE_URL": "http://user:pw@127.0.0.1/v1", "ANALYTICS_LLM_MODEL": "m"}, "holds credentials"),
    ({"ANALYTICS_LLM_PLUGIN": "not a plugin"}, "is not package.module:factory"),
    ({"ANALYTICS_LLM_PLUGIN": "no_such_module_here:make"}, "cannot import no_such_module_here"),
])
def test_without_a_usable_model_one_line_says_what_to_set(ask_lake, monkeypatch, capsys, env, says):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    log = Path(ask_lake.lake_uri) / "ask_log"
    before = sorted(log.rglob("*.parquet"))
    assert main(["ask", "How many claims?"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: ") and says in err
    assert sorted(log.rglob("*.parquet")) == before  # nothing was asked


PLUGIN = '''
SEEN = []


class CountingModel:
    name = "rule-based"

    def chat(self, messages):
        SEEN.append(messages)
        if "explode" in messages[1]["content"]:
            raise RuntimeError("the rules have nothing for this")
        return "SELECT count(*) AS claims FROM claims_current"


def make():
    return CountingModel()


def broken():
    raise OSError("no credentials for the rules engine")
'''


def test_a_plugin_model(ask_lake, monkeypatch, capsys, tmp_path):
    module = f"ask_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ANALYTICS_LLM_PLUGIN", f"{module}:make")
    asked = question("How many claims are there?")
    assert main(["ask", asked]) == 0
    out = capsys.readouterr().out
    total = run_query(ask_lake, "SELECT count(*) FROM claims_current").rows[0][0]
    assert out.splitlines()[4].strip() == str(total) and "; 1 attempt; model rule-based" in out
    (messages,) = sys.modules[module].SEEN
    assert "### claims_current: Latest state per claim" in messages[0]["content"]
    row = history(asked)
    assert (row["outcome"], row["model"], row["endpoint"]) == ("answered", "rule-based", f"plugin:{module}:make")

    failing = question("please explode")
    assert main(["ask", failing]) == 1
    err = capsys.readouterr().err
    assert err == f"error: the plugin {module}:make failed: RuntimeError: the rules have nothing for this\n"
    assert history(failing)["outcome"] == "model_error"

    monkeypatch.setenv("ANALYTICS_LLM_PLUGIN", f"{module}:broken")
    assert main(["ask", question("How many claims?")]) == 2
    assert capsys.readouterr().err == (f"error: ANALYTICS_LLM_PLUGIN={module}:broken: broken() failed: OSError: "
                                       "no credentials for the rules engine\n")


def test_the_key_is_never_shown_nor_kept(ask_lake, monkeypatch, capsys):
    """Not in the output, not in an endpoint's error that echoes it, not in the lake, not in the settings' repr."""
    rejected = question("Claims per status, with a wrong key")
    echo = Reply(status=401, error=f"Incorrect API key provided: {KEY}. You can find your key at ...")
    outputs = []
    with chat_server(scripted(sql_reply(PER_STATUS), echo)) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", question("Claims per status")]) == 0
        outputs.append(capsys.readouterr())
        assert main(["ask", rejected, "--format", "json"]) == 1
        outputs.append(capsys.readouterr())
    assert outputs[1].err == f"error: the language model at {server.url} answered 401: Incorrect API key provided: " \
                             "***. You can find your key at ...\n"
    assert json.loads(outputs[1].out)["error"] == outputs[1].err[len("error: "):].strip()
    assert all(KEY not in o.out and KEY not in o.err for o in outputs)
    assert KEY not in repr(load_settings())
    assert history(rejected)["error"].endswith("answered 401: Incorrect API key provided: ***. You can find your "
                                               "key at ...")
    files = list(Path(ask_lake.data_dir).rglob("*"))
    assert files and not any(KEY.encode() in f.read_bytes() for f in files if f.is_file())


@pytest.mark.parametrize("answer, sql", [
    ("```sql\nSELECT 1\n```", "SELECT 1"),
    ("Sure:\n```SQL\nSELECT 1 AS a;\n```\nThis counts.", "SELECT 1 AS a;"),
    ("<think>maybe ```sql\nSELECT 0\n``` no</think>\n```sql\nSELECT 2\n```", "SELECT 2"),
    ("```\nWITH t AS (SELECT 1) SELECT * FROM t\n```", "WITH t AS (SELECT 1) SELECT * FROM t"),
    ("first try:\n```sql\nSELECT 1\n```\nbetter:\n```sql\nSELECT 3\n```", "SELECT 3"),
    ("SELECT 4", "SELECT 4"),
    ("I cannot answer that from these views.", ""),
    ("", ""),
])
def test_the_query_is_read_from_the_models_answer(answer, sql):
    assert sql_of(answer) == sql


def test_before_any_run_says_what_to_do_and_asks_nothing(lake_env, monkeypatch, capsys):
    with chat_server(scripted(sql_reply(PER_STATUS))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", "How many claims?"]) == 2
    assert capsys.readouterr().err.startswith("error: no warehouse at ") and server.requests == []


def test_the_query_limits_apply_to_the_models_queries(ask_lake, monkeypatch, capsys):
    """Too slow: the limit's error goes back to the model; too many rows: the first ones and a note, as `sql` does."""
    asked = question("List every claim id")
    slow = "SELECT sum(a.range * b.range) AS s FROM range(1000000) a, range(1000000) b"
    many = "SELECT claim_id FROM claims_current ORDER BY claim_id"
    with chat_server(scripted(sql_reply(slow), sql_reply(many))) as server:
        use_endpoint(monkeypatch, server.url, ANALYTICS_QUERY_TIMEOUT_SECONDS="0.5", ANALYTICS_QUERY_MAX_ROWS="3")
        assert main(["ask", asked]) == 0
    out, err = capsys.readouterr()
    sent_back = server.requests[1].messages[-1]["content"]
    assert "query exceeded the 0.5 s limit (ANALYTICS_QUERY_TIMEOUT_SECONDS)" in sent_back
    assert out.startswith(many + "\n") and "3 rows in " in out and "; 2 attempts;" in out
    assert err.startswith("note: only the first 3 rows: the result has more than 3 rows (ANALYTICS_QUERY_MAX_ROWS)")
    assert history(asked)["result_rows"] == 3


def test_a_model_that_refuses_a_temperature_is_asked_without_one(ask_lake, monkeypatch, capsys):
    refusal = Reply(status=400, error="Unsupported parameter: 'temperature' is not supported with this model.")
    with chat_server(scripted(refusal, sql_reply(PER_STATUS))) as server:
        use_endpoint(monkeypatch, server.url)
        assert main(["ask", question("Claims per status, from a reasoning model")]) == 0
    assert "; 1 attempt;" in capsys.readouterr().out
    assert [("temperature" in r.body) for r in server.requests] == [True, False]


def test_the_schema_names_each_source_s_currency(ask_lake, monkeypatch):
    from analytics_pipeline.ask.schema import schema_text, warehouse_views
    from analytics_pipeline.settings import load_settings

    monkeypatch.setenv("ANALYTICS_CURRENCY", "EUR,claims=CHF")
    text = schema_text(warehouse_views(load_settings()))
    assert "amount claimed, CHF" in text and "{" + "claims_currency}" not in text and "GBP" not in text
