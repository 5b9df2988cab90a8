"""A per-day mart's days gathered into one file: the views read it only while it holds the lake's day files, it is
brought up to date from the changed days alone, and it never shows a day the lake no longer holds."""

import os
import tempfile
import time

import duckdb
import pytest

from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.gathered_days import gather_days, gather_marts, is_gathered
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import table_files
from analytics_pipeline.lake.views import lake_views
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.sources.registry import SOURCE_SPECS

TABLE = "visits_daily"
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


def _write_day(lake: StorageRoot, day: str, visits: int, extra_column: bool = False) -> None:
    extra = ", 'new' AS note" if extra_column else ""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "part-0.parquet")
        duckdb.execute(f"COPY (SELECT 'web' AS channel, {visits} AS visits{extra}) TO '{path}' (FORMAT PARQUET)")
        lake.write_bytes(open(path, "rb").read(), "marts", TABLE, f"event_date={day}", "part-0.parquet")


def _view_sql(lake: StorageRoot) -> str:
    (view,) = [v for v in lake_views(lake, SOURCE_SPECS, {TABLE})]
    return view.sql


def _rows(lake: StorageRoot) -> list[tuple]:
    con = connect(lake)
    try:
        return sorted(con.execute(f"SELECT * FROM ({_view_sql(lake)})").fetchall(), key=str)
    finally:
        con.close()


def _gathered(lake: StorageRoot) -> list[str]:
    return sorted(f.key for f in lake.list_files(f"marts/{TABLE}") if is_gathered(f.key))


@pytest.fixture
def lake(tmp_path) -> StorageRoot:
    root = StorageRoot(str(tmp_path / "lake"))
    for n, day in enumerate(DAYS):
        _write_day(root, day, 10 + n)
    return root


def test_the_view_reads_the_gathered_file_only_while_it_holds_the_lakes_days(lake):
    by_day = _rows(lake)
    assert "all_days-" not in _view_sql(lake) and len(by_day) == 3  # nothing gathered yet: the day files
    assert gather_marts(lake) == ([TABLE], {})
    assert "all_days-" in _view_sql(lake) and _rows(lake) == by_day  # same columns, same order, same rows
    assert gather_marts(lake) == ([], {})  # up to date: nothing written

    time.sleep(0.01)
    _write_day(lake, DAYS[1], 99)  # a day rewritten since: the view reads the day files again
    assert "all_days-" not in _view_sql(lake) and 99 in [r[1] for r in _rows(lake)]
    first = _gathered(lake)
    assert gather_marts(lake) == ([TABLE], {})
    assert "all_days-" in _view_sql(lake) and sorted(r[1] for r in _rows(lake)) == [10, 12, 99]
    assert len(_gathered(lake)) == 2 and first[0] in _gathered(lake)  # the one before stays for the old warehouse

    _write_day(lake, "2026-03-04", 7, extra_column=True)  # a new day with a new column: union by name, as the days
    gather_marts(lake)
    assert len(_gathered(lake)) == 2 and first[0] not in _gathered(lake)  # older than the one before: deleted
    rows = _rows(lake)
    assert [r[1] for r in rows if r[2] == "new"] == [7] and len(rows) == 4

    lake.delete("marts", TABLE, f"event_date={DAYS[0]}")  # retention removed a day: never shown from the copy
    assert sorted(r[1] for r in _rows(lake)) == [7, 12, 99]
    gather_marts(lake)
    assert "all_days-" in _view_sql(lake) and sorted(r[1] for r in _rows(lake)) == [7, 12, 99]


def test_only_the_changed_days_are_read_again(lake):
    gather_marts(lake)
    (old,) = _gathered(lake)
    con = connect(lake)
    # the gathered file holds a day's rows as they were: its unchanged days come from it, not from the day files
    con.execute(f"COPY (SELECT 'kept from the gathered file' AS channel, visits, event_date "
                f"FROM read_parquet('{lake.path(old)}')) TO '{lake.path(old)}.new' (FORMAT PARQUET, "
                f"KV_METADATA {{analytics_day_versions: "
                f"'{con.execute(f'''SELECT value FROM parquet_kv_metadata('{lake.path(old)}')''').fetchall()[0][0].decode()}'}})")
    os.replace(lake.path(old) + ".new", lake.path(old))
    time.sleep(0.01)
    _write_day(lake, DAYS[2], 50)
    assert gather_days(con, lake, TABLE, table_files(lake, "marts")[TABLE])
    con.close()
    rows = _rows(lake)
    assert [r for r in rows if r[1] == 50][0][0] == "web"  # the changed day, read from its file
    assert {r[0] for r in rows if r[1] != 50} == {"kept from the gathered file"}


def test_an_unreadable_gathered_file_is_made_again_from_the_day_files(lake):
    gather_marts(lake)
    (old,) = _gathered(lake)
    by_day = sorted(r[1] for r in _rows(lake))
    with open(lake.path(old), "wb") as handle:
        handle.write(b"not parquet")
    time.sleep(0.01)
    _write_day(lake, DAYS[0], 10)  # same rows, a new version: the gathered file is out of date
    assert gather_marts(lake) == ([TABLE], {})
    assert sorted(r[1] for r in _rows(lake)) == by_day


def test_a_table_that_cannot_be_gathered_keeps_no_copy_once_the_views_are_replaced(lake):
    gather_marts(lake)
    time.sleep(0.01)
    with open(lake.path("marts", TABLE, f"event_date={DAYS[0]}", "part-0.parquet"), "wb") as handle:
        handle.write(b"not parquet")  # a corrupt day file: the table cannot be gathered
    written, failed = gather_marts(lake)
    assert not written and TABLE in failed and len(_gathered(lake)) == 1  # the warehouse in use may read it
    assert "all_days-" not in _view_sql(lake)  # the views read the day files (and name the corrupt one)
    assert gather_marts(lake, keep_previous=False)[1].keys() == {TABLE} and _gathered(lake) == []


def test_the_warehouse_reads_every_per_day_mart_from_its_gathered_file(use_demo_lake):
    lake = StorageRoot(use_demo_lake.lake_uri)
    for table in ("financial_ops_daily", "model_performance_daily", "hourly_volume"):
        (view,) = lake_views(lake, SOURCE_SPECS, {table})
        assert "all_days-" in view.sql, table
        gathered = run_query(use_demo_lake, f"SELECT * FROM {table}")
        con = connect(lake)
        days = con.execute(f"SELECT * FROM read_parquet('{lake.path('marts', table, '*', '*.parquet')}', "
                           "union_by_name = true, hive_partitioning = true, hive_types = {'event_date': DATE})")
        columns, rows = [d[0] for d in days.description], days.fetchall()
        con.close()
        assert gathered.columns == columns and sorted(gathered.rows, key=str) == sorted(rows, key=str), table


def test_gathered_on_s3(s3_lake_env):
    lake = StorageRoot.of_lake(s3_lake_env)
    for n, day in enumerate(DAYS):
        _write_day(lake, day, 10 + n)
    assert gather_marts(lake) == ([TABLE], {})
    assert "all_days-" in _view_sql(lake) and sorted(r[1] for r in _rows(lake)) == [10, 11, 12]
    _write_day(lake, DAYS[0], 70)  # another ETag: the day files until the next gathering
    assert "all_days-" not in _view_sql(lake) and sorted(r[1] for r in _rows(lake)) == [11, 12, 70]
    assert gather_marts(lake) == ([TABLE], {}) and len(_gathered(lake)) == 2
    assert "all_days-" in _view_sql(lake) and sorted(r[1] for r in _rows(lake)) == [11, 12, 70]
