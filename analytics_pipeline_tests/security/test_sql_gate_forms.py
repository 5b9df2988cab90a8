"""The gate sees through every form that names a file where a table goes: any statement that may run (a query,
DESCRIBE, SUMMARIZE, SHOW, nested in one another) with any way of naming a file (a string, a quoted name, a
file-reading function) is refused, for the lake's own files as for any other: by the sqlglot gate alone, and by
the second wall alone, DuckDB's own parse tree of the query, when the sqlglot gate is skipped (``checked=True``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.serving.sql_runner import QueryError, query_session, run_query, to_duckdb_sql
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.security.test_sql_runner import SECRET, outside  # noqa: F401 - a fixture

STATEMENTS = [
    "SUMMARIZE {t}", "SUMMARIZE TABLE {t}", "DESCRIBE {t}", "DESCRIBE TABLE {t}", "SHOW {t}", "SHOW TABLES FROM {t}",
    "SELECT * FROM {t}", "FROM {t}", "SELECT * FROM (SUMMARIZE {t})", "SELECT * FROM (DESCRIBE {t})",
    "SUMMARIZE SELECT * FROM {t}", "DESCRIBE (FROM {t})", "SUMMARIZE (SELECT * FROM {t} LIMIT 1)",
    "WITH x AS (FROM {t}) SELECT * FROM x", "SELECT count(*) FROM claims WHERE claim_id IN (SELECT * FROM {t})",
    "SELECT * FROM claims, LATERAL (FROM {t}) LIMIT 1", "SELECT (SELECT count(*) FROM {t}) AS n",
    "PIVOT {t} ON 1 USING count(*)", "SELECT * FROM claims UNION ALL BY NAME FROM {t}",
]
FILE_NAMES = ["'{p}'", '"{p}"', "read_parquet('{p}')", "read_csv('{p}')", "read_text('{p}')", "read_blob('{p}')",
              "parquet_metadata('{p}')", "glob('{p}')", "read_json_auto('{p}')", "sniff_csv('{p}')"]


def _files(settings: Settings, elsewhere: Path) -> list[str]:
    lake = sorted(str(p) for p in Path(settings.lake_uri).rglob("*") if p.is_file())
    assert any(p.endswith(".parquet") for p in lake)
    return [*lake[:: max(1, len(lake) // 20)], *(str(p) for p in sorted(elsewhere.iterdir()))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_file_named_where_a_table_goes_is_refused_by_both_walls(use_demo_lake, outside, data):  # noqa: F811
    statement = data.draw(st.sampled_from(STATEMENTS))
    case = data.draw(st.sampled_from([str.upper, str.lower, lambda s: s]))
    file = data.draw(st.sampled_from(FILE_NAMES)).format(p=data.draw(st.sampled_from(_files(use_demo_lake, outside))))
    query = case(statement).replace("{T}", "{t}").format(t=file)

    with pytest.raises(QueryError):
        to_duckdb_sql(query, "duckdb")  # the sqlglot gate alone
    with pytest.raises(QueryError) as caught:
        run_query(use_demo_lake, query)
    assert len(str(caught.value).splitlines()) == 1 and SECRET not in str(caught.value)
    with query_session(use_demo_lake) as session, pytest.raises(QueryError) as caught:
        session.run(query, checked=True)  # past the sqlglot gate: DuckDB's parse tree alone
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("query", ["SUMMARIZE claims", "DESCRIBE claims", "SHOW TABLES", "SHOW ALL TABLES",
                                   "SELECT * FROM (SUMMARIZE claims)", "DESCRIBE (SELECT claim_id FROM claims)",
                                   "SUMMARIZE SELECT claim_id FROM claims", "SELECT * FROM range(3)",
                                   "SELECT * FROM duckdb_views()", "SELECT unnest([1, 2])"])
def test_what_looks_at_the_warehouse_passes_both_walls(use_demo_lake, query):
    assert run_query(use_demo_lake, query).rows
    with query_session(use_demo_lake) as session:
        assert session.run(query, checked=True).rows
