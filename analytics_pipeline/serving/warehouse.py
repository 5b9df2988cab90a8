"""``warehouse.duckdb``: views only, over the lake's Parquet (no crawler, no copies).

The file is rebuilt beside the live one and swapped in with a rename, so readers never wait
for a refresh and never see a half-built catalogue. Every view exists twice: in the configured
schema (``ANALYTICS_SCHEMA``, default ``analytics``) and unqualified in ``main``.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import duckdb

from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.views import lake_views
from analytics_pipeline.settings import Settings

# Views defined over other views: name → (the view they read, SQL with {schema} for its schema).
DERIVED_VIEWS = {
    # the seed's names for the flow tables
    "flows": ("intent_flows", "SELECT * FROM {schema}.intent_flows"),
    "sequences": ("next_intent_probabilities", "SELECT * FROM {schema}.next_intent_probabilities"),
    "claims_by_status": (
        "claims_by_region_status",
        "SELECT status, sum(claims)::BIGINT AS claims, coalesce(sum(claims) FILTER (WHERE removed), 0)::BIGINT "
        "AS removed_claims FROM {schema}.claims_by_region_status GROUP BY status ORDER BY claims DESC",
    ),
}
# Derived views whose rows are few (a count per status): a dashboard may copy them once for several widgets.
SMALL_DERIVED_VIEWS = frozenset({"claims_by_status"})


def build_warehouse(lake: StorageRoot, warehouse_path: str, schema: str, specs: list[SourceSpec],
                    unbound: dict[str, str] | None = None) -> list[str]:
    """Rebuild the warehouse file with every view the lake backs; returns the view names.

    A view DuckDB cannot create (a corrupt or truncated Parquet file under it) fails the build, unless
    ``unbound`` is given: then that view (and the views over it) is left out, its error put in ``unbound``,
    and the rest of the lake stays queryable."""
    views = lake_views(lake, specs)
    Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{warehouse_path}.{uuid.uuid4().hex}.tmp"
    con = connect(lake, database=tmp)
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
        names = [v.name for v in views if _created(con, schema, v.name, v.sql, unbound)]
        for name, (reads, sql) in DERIVED_VIEWS.items():
            if reads in names and _created(con, schema, name, sql.format(schema=_ident(schema)), unbound):
                names.append(name)
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    con.close()
    os.replace(tmp, warehouse_path)
    return names


def _created(con, schema: str, name: str, sql: str, unbound: dict[str, str] | None) -> bool:
    if unbound is None:
        _create_view(con, schema, name, sql)
        return True
    try:
        _create_view(con, schema, name, sql)
    except duckdb.Error as err:
        unbound[name] = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return False
    return True


def _create_view(con, schema: str, name: str, sql: str) -> None:
    con.execute(f"CREATE OR REPLACE VIEW {_ident(schema)}.{_ident(name)} AS {sql}")
    if schema != "main":
        con.execute(f"CREATE OR REPLACE VIEW main.{_ident(name)} AS SELECT * FROM {_ident(schema)}.{_ident(name)}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def describe_views(warehouse_path: str) -> list[tuple[str, str]]:
    with duckdb.connect(warehouse_path, read_only=True) as con:
        return con.execute(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall()


_READ_PATH = re.compile(r"read_parquet\(\[?'([^']*)'")


def views_elsewhere(warehouse_path: str, lake: StorageRoot) -> str | None:
    """A lake path the warehouse's views read that is not under ``lake`` (the data dir was moved or copied since
    the views were made: they hold absolute paths), or None."""
    if not Path(warehouse_path).exists():
        return None
    con = duckdb.connect(warehouse_path, read_only=True)
    try:
        definitions = [sql for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
    finally:
        con.close()
    here = lake.path().rstrip("/") + "/"
    for sql in definitions:
        for path in _READ_PATH.findall(sql or ""):
            if not path.startswith(here):
                return path
    return None


def views_follow_the_data_dir(settings: Settings) -> str | None:
    """If the warehouse's views read another place than this data dir's lake (the data dir was moved or copied),
    rebuild them here; returns the place they read before, or None when they were right."""
    from analytics_pipeline.lake.data_dir import data_dir_lock
    from analytics_pipeline.sources.registry import SOURCE_SPECS

    lake = StorageRoot.of_lake(settings)
    before = views_elsewhere(settings.warehouse_path, lake)
    if before is not None:
        with data_dir_lock(settings):
            build_warehouse(lake, settings.warehouse_path, settings.schema, SOURCE_SPECS)
    return before
