"""The console script: the seed's Athena queries verbatim, output formats, one-line errors."""

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from analytics_pipeline.cli import main

TEXTRACT_SAVINGS = """
SELECT
    SUM(CASE
        WHEN textract_operation = 'detect_text'
        THEN (0.0015 - 0.00015)
        ELSE 0
    END) AS total_textract_savings_gbp,
    COUNT(*) AS total_claims,
    AVG(total_aws_cost) AS avg_cost_per_claim
FROM icpa_analytics_db.claims
WHERE event_type = 'INSERT';
"""

HARD_CASES = """
SELECT
    claim_id,
    ai_recommended_payout,
    payout_amount,
    ABS(payout_amount - ai_recommended_payout) AS payout_difference,
    confidence_score,
    fraud_score,
    override_justification
FROM icpa_analytics_db.claims
WHERE adjuster_override = true
  AND ai_agreement_flag = 'DISAGREE'
  AND override_justification IS NOT NULL
ORDER BY ABS(payout_amount - ai_recommended_payout) DESC
LIMIT 50;
"""

BOTTLENECKS = """
WITH status_transitions AS (
    SELECT
        claim_id,
        status,
        CAST(updated_at AS TIMESTAMP) AS status_time,
        LAG(CAST(updated_at AS TIMESTAMP)) OVER (PARTITION BY claim_id ORDER BY updated_at) AS prev_status_time,
        LAG(status) OVER (PARTITION BY claim_id ORDER BY updated_at) AS prev_status
    FROM icpa_analytics_db.claims
    WHERE event_type = 'MODIFY'
)
SELECT
    prev_status AS from_status,
    status AS to_status,
    COUNT(*) AS transitions,
    AVG(DATE_DIFF('second', prev_status_time, status_time)) AS avg_seconds,
    APPROX_PERCENTILE(DATE_DIFF('second', prev_status_time, status_time), 0.95) AS p95_seconds
FROM status_transitions
WHERE prev_status_time IS NOT NULL
GROUP BY prev_status, status
ORDER BY avg_seconds DESC;
"""


def sql_json(capsys, *args) -> list[dict]:
    assert main(["sql", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def icpa_schema(use_demo_lake, monkeypatch):
    monkeypatch.setenv("ANALYTICS_SCHEMA", "icpa_analytics_db")
    return use_demo_lake


def test_seed_textract_savings_query_runs_verbatim(icpa_schema, capsys):
    (row,) = sql_json(capsys, TEXTRACT_SAVINGS, "--dialect", "athena")
    (expected,) = sql_json(capsys, "SELECT count(*) FILTER (WHERE textract_operation = 'detect_text') AS d, "
                           "count(*) AS n FROM claims WHERE event_type = 'INSERT'")
    assert row["total_claims"] == expected["n"] > 0
    assert row["total_textract_savings_gbp"] == pytest.approx(expected["d"] * 0.00135)


def test_seed_hard_cases_query_runs_verbatim(icpa_schema, capsys):
    rows = sql_json(capsys, HARD_CASES, "--dialect", "athena")
    assert 0 < len(rows) <= 50
    differences = [r["payout_difference"] for r in rows]
    known = [d for d in differences if d is not None]
    assert known and known == sorted(known, reverse=True)
    assert differences == known + [None] * (len(differences) - len(known))  # denied (no payout): last, as in Athena


def test_seed_bottleneck_query_runs_verbatim(icpa_schema, capsys):
    rows = sql_json(capsys, BOTTLENECKS, "--dialect", "athena")
    pairs = {(r["from_status"], r["to_status"]) for r in rows}
    assert ("AI_ASSESSED", "ADJUSTER_REVIEW") in pairs
    review = next(r for r in rows if r["from_status"] == "ADJUSTER_REVIEW")
    assert review["avg_seconds"] > 600  # the adjuster review is the bottleneck
    assert all(r["p95_seconds"] >= 0 for r in rows)


def test_csv_and_table_formats(use_demo_lake, capsys):
    assert main(["sql", "SELECT status, count(*) AS n FROM claims_current GROUP BY 1 ORDER BY 1", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["status", "n"] and len(rows) > 3
    assert main(["sql", "SELECT 1 AS one"]) == 0
    assert capsys.readouterr().out.splitlines()[0].strip() == "one"


@pytest.mark.parametrize(
    "query, message",
    [
        ("DROP VIEW claims", "only read-only queries"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
        # sqlglot cannot read it either: DuckDB's parse error is shown, not sqlglot's internals
        ("SELEC * FROM claims", 'Parser Error: syntax error at or near "SELEC"'),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        # DuckDB's hints stay on the one line
        ("SELECT * FROM claim", 'Catalog Error: Table with name claim does not exist! Did you mean "claims"?'),
        ("SELECT claim_idd FROM claims", 'not found in FROM clause! Candidate bindings: "claim_id"'),
    ],
)
def test_user_mistakes_are_one_line_errors(use_demo_lake, capsys, query, message):
    assert main(["sql", query]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert "<class" not in err and "LINE 1" not in err


def test_sql_before_any_run_says_what_to_do(lake_env, capsys):
    assert main(["sql", "SELECT 1"]) == 2
    assert "run `analytics-pipeline run`" in capsys.readouterr().err


def _ignore_and_block_sigint_sigterm() -> None:
    """In the child before exec: what a non-interactive parent (a script, nohup, a CI step) passes on."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError {
    __typename ... on RepositoryLocation { repositories { jobs { name } } } ... on PythonError { message } } } } } }"""


def _code_location(port: int) -> dict:
    """The UI's one code location, as its GraphQL API reports it."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", json.dumps({"query": LOCATIONS}).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        (entry,) = json.load(answer)["data"]["workspaceOrError"]["locationEntries"]
    return entry


def test_dev_serves_on_the_given_port_and_stops_on_sigterm_though_its_parent_ignored_it(lake_env, tmp_path):
    port = _free_port()
    log = tmp_path / "dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "analytics_pipeline.cli", "dev", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_ignore_and_block_sigint_sigterm,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(1)
        # the code location (definitions.py's lazy defs) loads, with its jobs
        while (location := _code_location(port))["loadStatus"] != "LOADED":
            assert proc.poll() is None and time.monotonic() < deadline, (location, log.read_text())
            time.sleep(1)
        loaded = location["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        assert {"refresh_job", "intents_job", "claims_daily_job"} <= {
            job["name"] for repository in loaded["repositories"] for job in repository["jobs"]}
        proc.terminate()
        proc.wait(timeout=60)  # the UI, the daemon and the code server shut down
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
        assert "SupersessionWarning" not in log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_table_format_shows_null_and_rounds_floats_while_csv_and_json_keep_every_digit(use_demo_lake, capsys):
    query = "SELECT 39.41042230000002::DOUBLE AS x, NULL::VARCHAR AS n, '' AS empty, 0.000123456::DOUBLE AS tiny"
    assert main(["sql", query]) == 0
    header, _, row = capsys.readouterr().out.splitlines()
    assert row.split() == ["39.4104", "NULL", "0.000123"]  # the empty text stays blank
    assert main(["sql", query, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "39.41042230000002,,,0.000123456"
    (record,) = sql_json(capsys, query)
    assert record == {"x": 39.41042230000002, "n": None, "empty": "", "tiny": 0.000123456}
    # values as they are, for programs: only export and serve neutralise formula cells (for spreadsheets)
    assert main(["sql", "SELECT '=1+1' AS f, -5 AS n, '@x' AS a", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "=1+1,-5,@x"


PARTITIONS_OF_A_NEW_PROCESS = """
import dagster as dg
from analytics_pipeline.definitions import defs
keys = defs().resolve_assets_def("raw_claims").partitions_def.get_partition_keys()
done = set(dg.DagsterInstance.get().get_materialized_partitions(dg.AssetKey("raw_claims")))
print(" ".join(keys))
print(" ".join(sorted(set(keys) - done)))
"""


def test_demo_partitions_start_at_its_window_and_earlier_records_are_kept_with_a_warning(lake_env, capsys):
    from datetime import datetime, timedelta, timezone

    from analytics_pipeline.sources.claims.demo import claims_landing_files
    from analytics_pipeline_tests.lakes import landing_root

    def window_start() -> str:
        return (datetime.now(timezone.utc).date() - timedelta(days=2)).isoformat()

    before = window_start()
    assert main(["demo", "--days", "2"]) == 0
    first = re.search(r"daily partitions start at (\S+), the demo window's first day", capsys.readouterr().out)[1]
    assert first in (before, window_start())  # the demo may start on either side of midnight UTC
    assert (Path(lake_env.data_dir) / "partitions_start").read_text().strip() == first
    # what `dev` loads: the partitions start at the window's first day, and none is missing but a day without
    # claims: the window's first or last day holds only minutes when the demo runs near midnight UTC
    # (`demo` at 23:55 UTC has no claim on its first day, at 00:02 none yet today)
    env = {k: v for k, v in os.environ.items() if k != "ANALYTICS_PARTITIONS_START"}
    keys, missing = (line.split() for line in subprocess.run(
        [sys.executable, "-c", PARTITIONS_OF_A_NEW_PROCESS], env=env, capture_output=True, text=True,
        check=True).stdout.split("\n")[:2])
    (claim_days,) = sql_json(capsys, "SELECT list(DISTINCT event_date::VARCHAR) AS days FROM claims")
    assert keys[0] == first and len(keys) <= 4 and set(keys[1:-1]) <= set(claim_days["days"])
    assert missing == [day for day in keys if day not in claim_days["days"]]

    early = datetime.fromisoformat(first) - timedelta(days=3)
    for name, data in claims_landing_files(days=1, seed=5, end=early, claims_per_day=4):
        landing_root(lake_env).write_bytes(data, "claims", f"early/{name.rsplit('/', 1)[-1]}")
    assert main(["run"]) == 0
    out, err = capsys.readouterr()
    assert f"before the partitions start {first} and were quarantined" in err and "reingest claims" in err
    assert re.search(r"^claims: quarantined [0-9,]+ time_out_of_range\b", out, re.MULTILINE), out
    # nothing lost: every early record is in ingest_errors, with its text and the reason
    (record,) = sql_json(capsys, f"SELECT count(*) AS n, count(original_text) AS kept, "
                                 f"count(*) FILTER (WHERE reason = 'time_out_of_range') AS early FROM ingest_errors "
                                 f"WHERE source = 'claims' AND event_time < '{first}'")
    assert record["n"] == record["kept"] == record["early"] > 0
