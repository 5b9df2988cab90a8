"""An asset registers only the lake views its SQL reads: the same definitions as the whole catalogue's."""

import duckdb

from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.views import lake_views, register_lake_views, views_read
from analytics_pipeline.sources.registry import SOURCE_SPECS


def test_views_read_names_tables_not_ctes():
    sql = ("WITH recent AS (SELECT * FROM claims WHERE event_date > DATE '2024-01-01') "
           "SELECT * FROM recent JOIN claims_current USING (claim_id) WHERE claim_id IN (SELECT claim_id FROM hard_cases)")
    assert views_read(sql) == {"claims", "claims_current", "hard_cases"}


def test_only_the_named_views_with_the_definitions_of_the_whole_catalogue(use_demo_lake):
    lake = StorageRoot(use_demo_lake.lake_uri)
    every = lake_views(lake, SOURCE_SPECS)
    names = [v.name for v in every]
    assert {"claims", "ingest_errors", "ingested_files", "claims_current", "financial_ops_daily"} <= set(names)
    for only in [{"claims"}, {"claims_current", "hard_cases"}, {"financial_ops_daily", "claims", "ingest_errors"},
                 {"ingested_files"}, {"llm_runs", "intents"}, set(), set(names)]:
        assert lake_views(lake, SOURCE_SPECS, only) == [v for v in every if v.name in only], only


def _temp_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()}


def test_registered_views_answer_and_a_source_without_data_gets_empty_views(use_demo_lake):
    lake = StorageRoot(use_demo_lake.lake_uri)
    con = connect(lake)
    try:
        register_lake_views(con, lake, SOURCE_SPECS, only={"claims", "claims_current"})
        assert _temp_views(con) == {"claims", "claims_current"}
        assert con.execute("SELECT count(*) FROM claims").fetchall()[0][0] > 0
        # the demo lake has no LLM runs: the views the SQL reads exist, empty, with their columns
        register_lake_views(con, lake, SOURCE_SPECS, only={"llm_runs"})
        assert {"llm_runs", "llm_job_snapshots"} <= _temp_views(con)
        assert con.execute("SELECT count(*), count(run_id) FROM llm_runs").fetchall() == [(0, 0)]
    finally:
        con.close()
    con = connect(lake)
    try:
        register_lake_views(con, lake, SOURCE_SPECS)
        every = {v.name for v in lake_views(lake, SOURCE_SPECS)}
        assert every | {"llm_runs", "conversation_events"} <= _temp_views(con)
    finally:
        con.close()
