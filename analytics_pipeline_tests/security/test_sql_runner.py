"""The SQL runner (``analytics-pipeline sql``, dashboards, exports) is read-only and bounded.

Against the session's demo warehouse: statements that write, attach, install or load extensions,
copy or export out, change settings, or read files and URLs are refused with one clear line, and
nothing is written; the same statements sent straight to the runner's connection (past the
sqlglot gate) fail inside DuckDB too; the warehouse's own views, which read the lake's Parquet,
keep working; a query is interrupted at the time limit and stopped at the memory limit.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.serving.sql_runner import QueryError, locked_connection, run_query
from analytics_pipeline.settings import Settings, SettingsError, load_settings

SECRET = "hunter2-do-not-leak"


@pytest.fixture
def outside(use_demo_lake: Settings, tmp_path: Path) -> Path:
    """A folder outside the lake holding a secret in every format DuckDB reads."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text(f"password\n{SECRET}\n")
    (folder / "secret.json").write_text(f'{{"password": "{SECRET}"}}\n')
    con = duckdb.connect()
    con.execute(f"COPY (SELECT '{SECRET}' AS password) TO '{folder / 'secret.parquet'}'")
    con.close()
    return folder


def refused(settings: Settings, query: str, dialect: str = "duckdb") -> str:
    with pytest.raises(QueryError) as caught:
        run_query(settings, query, dialect)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and SECRET not in message, message
    return message


WRITES = [
    ("CREATE TABLE t AS SELECT 1", "only read-only queries"),
    ("INSERT INTO claims SELECT * FROM claims", "only read-only queries"),
    ("DROP VIEW claims", "only read-only queries"),
    ("DELETE FROM claims", "only read-only queries"),
    ("UPDATE claims SET status = 'x'", "only read-only queries"),
    ("ATTACH '{out}/x.duckdb' AS x", "only read-only queries"),
    ("DETACH warehouse", "only read-only queries"),
    ("INSTALL httpfs", "only read-only queries"),
    ("LOAD httpfs", "only read-only queries"),
    ("COPY (SELECT * FROM claims) TO '{out}/copy.csv'", "only read-only queries"),
    ("COPY claims TO '{out}/copy.parquet' (FORMAT PARQUET)", "only read-only queries"),
    ("EXPORT DATABASE '{out}/export'", "cannot parse"),  # sqlglot has no EXPORT: refused all the same
    ("PRAGMA enable_external_access", "only read-only queries"),
    ("SET enable_external_access = true", "only read-only queries"),
    ("SET memory_limit = '100GB'", "only read-only queries"),
    ("CALL pragma_version()", "only read-only queries"),
    ("SELECT 1; COPY (SELECT 1) TO '{out}/two.csv'", "exactly one statement"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "only read-only queries"),
]
FILE_READS = [
    "SELECT * FROM read_csv('{out}/secret.csv')",
    "SELECT * FROM read_csv_auto('{out}/secret.csv')",
    "SELECT * FROM read_json('{out}/secret.json')",
    "SELECT * FROM read_json_auto('{out}/secret.json')",
    "SELECT * FROM read_ndjson_objects('{out}/secret.json')",
    "SELECT * FROM read_parquet('{out}/secret.parquet')",
    "SELECT * FROM parquet_scan('{out}/secret.parquet')",
    "SELECT * FROM parquet_metadata('{out}/secret.parquet')",
    "SELECT * FROM read_text('{out}/secret.csv')",
    "SELECT content FROM read_blob('{out}/secret.csv')",
    "SELECT * FROM glob('{out}/*')",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM sniff_csv('{out}/secret.csv')",
    "SELECT * FROM query('SELECT * FROM read_csv(''{out}/secret.csv'')')",
    "SELECT * FROM '{out}/secret.csv'",
    'SELECT * FROM "{out}/secret.csv"',
    "SELECT * FROM 'https://example.com/secret.csv'",
    "SELECT * FROM claims, LATERAL (SELECT * FROM read_text('{out}/secret.csv'))",
    "SELECT (SELECT content FROM read_text('{out}/secret.csv')) AS leak",
    "WITH x AS (SELECT * FROM read_csv('{out}/secret.csv')) SELECT * FROM x",
    "SELECT * FROM claims WHERE claim_id IN (SELECT password FROM read_csv('{out}/secret.csv'))",
]


@pytest.mark.parametrize("query, message", WRITES)
def test_writing_attaching_installing_copying_and_settings_are_refused(outside, use_demo_lake, query, message):
    assert message in refused(use_demo_lake, query.format(out=outside))
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv", "secret.json", "secret.parquet"]


@pytest.mark.parametrize("query", FILE_READS)
def test_reading_files_and_urls_is_refused(outside, use_demo_lake, query):
    message = refused(use_demo_lake, query.format(out=outside))
    assert "may not be used" in message or "looks like a file or URL" in message


@pytest.mark.parametrize("query", [
    "SELECT * FROM read_csv('{out}/secret.csv')",
    "SELECT * FROM \"AwsDataCatalog\".\"default\".read_text('{out}/secret.csv')",
])
def test_athena_dialect_goes_through_the_same_gate(outside, use_demo_lake, query):
    with pytest.raises(QueryError):
        run_query(use_demo_lake, query.format(out=outside), "athena")


@pytest.mark.parametrize("statement", [
    "SELECT * FROM read_csv('{out}/secret.csv')",
    "SELECT * FROM '{out}/secret.csv'",
    "SELECT content FROM read_text('{out}/secret.csv')",
    "SELECT * FROM glob('{out}/*')",
    "SELECT * FROM read_csv('https://example.com/secret.csv')",
    "COPY (SELECT 1) TO '{out}/copy.csv'",
    "ATTACH '{out}/x.duckdb' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "CREATE TABLE t AS SELECT 1",
])
def test_the_connection_itself_refuses_what_the_gate_refuses(outside, use_demo_lake, statement):
    """Defence in depth: past the gate, DuckDB's settings stop the same statements."""
    con = locked_connection(use_demo_lake)
    try:
        with pytest.raises(duckdb.Error) as caught:
            con.execute(statement.format(out=outside)).fetchall()
        assert SECRET not in str(caught.value)
        assert con.execute("SELECT count(*) FROM claims").fetchall()[0][0] > 0  # the views still read the lake
    finally:
        con.close()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv", "secret.json", "secret.parquet"]


def test_describe_summarize_and_show_tables_look_without_touching_anything(use_demo_lake):
    settings = use_demo_lake
    columns = {row[0] for row in run_query(settings, "DESCRIBE claims").rows}
    assert {"event_id", "claim_id", "claim_amount", "event_date"} <= columns
    assert {row[0] for row in run_query(settings, "DESCRIBE SELECT claim_id FROM claims_current").rows} == {"claim_id"}
    assert "claim_amount" in {row[0] for row in run_query(settings, "SUMMARIZE claims").rows}
    assert {"claims", "claims_current", "ingest_errors"} <= {row[0] for row in run_query(settings, "SHOW TABLES").rows}
    assert {row[0] for row in run_query(settings, "DESCRIBE claims", "athena").rows} == columns


@pytest.mark.parametrize("query", [
    "DESCRIBE SELECT * FROM read_csv('{out}/secret.csv')",
    "SUMMARIZE SELECT * FROM read_text('{out}/secret.csv')",
    "DESCRIBE '{out}/secret.csv'",
    "SHOW DATABASES",
    "SHOW '{out}/secret.csv'",
])
def test_describe_and_show_cannot_read_files(outside, use_demo_lake, query):
    message = refused(use_demo_lake, query.format(out=outside))
    assert SECRET not in message and ("may not be used" in message or "looks like a file" in message
                                      or "only read-only queries" in message)


def test_the_warehouse_views_over_the_lake_keep_working(use_demo_lake):
    settings = use_demo_lake
    assert run_query(settings, "SELECT count(*) FROM claims").rows[0][0] > 0
    assert run_query(settings, f"SELECT count(*) FROM {settings.schema}.claims_current").rows[0][0] > 0
    assert run_query(settings, "SELECT count(*) FROM ingest_errors").rows[0][0] >= 0
    assert run_query(settings, "SELECT sum(x) FROM range(10) t(x)").rows == [(45,)]
    assert run_query(settings, "SELECT count(*) FROM unnest([1, 2, 3])").rows == [(3,)]
    assert run_query(settings, "SELECT count(*) FROM claims", "athena").rows[0][0] > 0
    assert ("claims",) in run_query(settings, "SELECT view_name FROM duckdb_views() WHERE NOT internal").rows
    assert run_query(settings, "SELECT count(*) FROM pragma_table_info('claims')").rows[0][0] > 10


def test_a_query_is_interrupted_at_the_time_limit(use_demo_lake, monkeypatch, capsys):
    message = str(pytest.raises(QueryError, run_query, use_demo_lake, "SELECT count(*) FROM range(1000000000000)",
                                timeout_seconds=0.5).value)
    assert message == "query exceeded the 0.5 s limit (ANALYTICS_QUERY_TIMEOUT_SECONDS)"
    monkeypatch.setenv("ANALYTICS_QUERY_TIMEOUT_SECONDS", "0.5")
    assert main(["sql", "SELECT count(*) FROM range(1000000000000) a"]) == 2
    assert capsys.readouterr().err == "error: query exceeded the 0.5 s limit (ANALYTICS_QUERY_TIMEOUT_SECONDS)\n"


def test_a_query_is_stopped_at_the_memory_limit(use_demo_lake, monkeypatch):
    monkeypatch.setenv("ANALYTICS_QUERY_MEMORY_LIMIT", "64MB")
    message = str(pytest.raises(QueryError, run_query, load_settings(),
                                "SELECT list(x) FROM range(100000000) t(x)").value)
    assert message == "query exceeded the memory limit of 64MB (ANALYTICS_QUERY_MEMORY_LIMIT)"


@pytest.mark.parametrize("name, value", [
    ("ANALYTICS_QUERY_MEMORY_LIMIT", "lots"), ("ANALYTICS_QUERY_MEMORY_LIMIT", "1GB; SET x=1"),
    ("ANALYTICS_QUERY_TIMEOUT_SECONDS", "soon"), ("ANALYTICS_QUERY_TIMEOUT_SECONDS", "0"),
])
def test_bad_limits_are_setting_errors(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
