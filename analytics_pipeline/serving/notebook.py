"""``Warehouse``: the lake's views from Python (a notebook), as pandas DataFrames or Arrow tables.

    from analytics_pipeline import Warehouse

    wh = Warehouse()                  # the data dir of ANALYTICS_DATA_DIR, else ./data
    wh.tables()                       # the views
    wh.query("SELECT status, count(*) AS claims FROM claims_current GROUP BY status")  # a DataFrame
    wh.arrow("SELECT * FROM daily_runs")                                            # a pyarrow Table

Read-only, through the same gate and limits as ``analytics-pipeline sql``: one query of the warehouse's
views, ``ANALYTICS_QUERY_TIMEOUT_SECONDS``, ``ANALYTICS_QUERY_MAX_ROWS`` and ``ANALYTICS_QUERY_MEMORY_LIMIT``
(a bigger result is a ``QueryError``: aggregate, add a LIMIT, or ``export`` the table).
"""

from __future__ import annotations

import os
import warnings

import pandas as pd
import pyarrow as pa

from analytics_pipeline.serving.sql_runner import QueryError, run_query
from analytics_pipeline.settings import Settings, load_settings
from analytics_pipeline.sources.registry import SOURCE_NAMES

__all__ = ["QueryError", "Warehouse"]


class Warehouse:
    """The warehouse of a data dir (``data_dir``, else ``ANALYTICS_DATA_DIR``, else ``./data``); the other
    settings come from the environment as for the CLI. ``dialect``: ``duckdb`` or ``athena`` (Presto SQL)."""

    def __init__(self, data_dir: str | os.PathLike | None = None, *, dialect: str = "duckdb",
                 settings: Settings | None = None):
        from analytics_pipeline.serving.warehouse import views_follow_the_data_dir

        environ = {**os.environ, **({"ANALYTICS_DATA_DIR": os.fspath(data_dir)} if data_dir is not None else {})}
        self.settings = settings or load_settings(environ, sources=SOURCE_NAMES)
        self.dialect = dialect
        moved_from = views_follow_the_data_dir(self.settings)
        if moved_from is not None:
            warnings.warn(f"the warehouse's views read {moved_from}, not this data dir's lake: rebuilt them for "
                          f"{self.settings.lake_uri}", stacklevel=2)

    def query(self, sql: str, *, dialect: str | None = None, timeout_seconds: float | None = None) -> pd.DataFrame:
        """The result of one read-only query as a DataFrame (columns by position: two may share a name)."""
        return self.arrow(sql, dialect=dialect, timeout_seconds=timeout_seconds).to_pandas()

    def arrow(self, sql: str, *, dialect: str | None = None, timeout_seconds: float | None = None) -> pa.Table:
        """The result of one read-only query as an Arrow table."""
        return run_query(self.settings, sql, dialect or self.dialect, timeout_seconds=timeout_seconds,
                         python_rows=False).arrow

    def tables(self) -> pd.DataFrame:
        """The views a query may read, with their column counts."""
        return self.query("SELECT v.view_name AS name, count(c.column_name) AS columns "
                          "FROM duckdb_views() v JOIN duckdb_columns() c ON c.table_name = v.view_name "
                          "AND c.schema_name = v.schema_name WHERE NOT v.internal AND v.schema_name = 'main' "
                          "GROUP BY v.view_name ORDER BY v.view_name", dialect="duckdb")

    def __repr__(self) -> str:
        return f"Warehouse({self.settings.warehouse_path!r})"
