"""``from analytics_pipeline import Warehouse``: the warehouse's views as pandas DataFrames and Arrow tables, read-only
through the same gate and limits as ``sql``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

from analytics_pipeline import Warehouse
from analytics_pipeline.serving.sql_runner import QueryError, run_query
from analytics_pipeline.settings import Settings


def test_a_query_is_a_dataframe_with_the_rows_sql_gives(use_demo_lake: Settings):
    sql = "SELECT status, count(*) AS claims FROM claims_current GROUP BY status ORDER BY claims DESC, status"
    frame = Warehouse().query(sql)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["status", "claims"]
    assert list(frame.itertuples(index=False, name=None)) == run_query(use_demo_lake, sql).rows
    assert frame["claims"].sum() == run_query(use_demo_lake, "SELECT count(*) FROM claims_current").rows[0][0] > 0


def test_arrow_tables_athena_sql_and_the_view_list(use_demo_lake: Settings):
    warehouse = Warehouse(use_demo_lake.data_dir)
    table = warehouse.arrow("SELECT claim_id FROM claims_current ORDER BY claim_id LIMIT 3")
    assert isinstance(table, pa.Table) and table.num_rows == 3
    athena = warehouse.query("SELECT date_format(from_iso8601_timestamp('2024-03-01T10:00:00Z'), '%Y-%m') AS m",
                             dialect="athena")
    assert athena["m"].tolist() == ["2024-03"]
    views = warehouse.tables()
    assert {"claims", "claims_current", "ingest_errors"} <= set(views["name"]) and (views["columns"] > 0).all()


def test_columns_stay_by_position_and_only_reads_pass_the_gate(use_demo_lake: Settings, monkeypatch):
    warehouse = Warehouse()
    assert warehouse.query("SELECT 1 AS a, 2 AS a, 3 AS b").values.tolist() == [[1, 2, 3]]
    for statement in ["DROP VIEW claims", "COPY claims TO '/tmp/out.csv'", "SELECT * FROM read_csv('/etc/passwd')"]:
        with pytest.raises(QueryError):
            warehouse.query(statement)
    assert warehouse.query("SELECT count(*) AS n FROM claims")["n"][0] > 0  # the view is still there
    monkeypatch.setenv("ANALYTICS_QUERY_MAX_ROWS", "10")
    with pytest.raises(QueryError, match="more than 10 rows"):
        Warehouse().query("SELECT * FROM range(11)")


def test_a_copied_data_dir_is_readable_and_says_its_views_were_rebuilt(use_demo_lake: Settings, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(use_demo_lake.data_dir, copy, ignore=shutil.ignore_patterns("dagster_home"))
    with pytest.warns(UserWarning, match="rebuilt them"):
        moved = Warehouse(copy)
    sql = "SELECT count(*) AS n FROM claims"
    assert moved.query(sql)["n"][0] == Warehouse(use_demo_lake.data_dir).query(sql)["n"][0]


def test_importing_the_package_stays_light():
    code = "import sys, analytics_pipeline; print('dagster' in sys.modules, 'duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
