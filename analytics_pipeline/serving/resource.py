"""The ``warehouse`` resource: ``warehouse.duckdb`` as a dagster-duckdb ``DuckDBResource``, read-only.

Every reader of the warehouse (assets, checks, ``sql``, ``serve``, exports, the notebook API) opens it
here, with one configuration: read-only, no extension install or autoload, a memory limit, the lake's
folder or S3 prefix as the only place outside the file it may read, and the configuration locked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from analytics_pipeline.lake.duck import sql_literal
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import (
    DEFAULT_QUERY_MAX_ROWS,
    DEFAULT_QUERY_TIMEOUT_SECONDS,
    DEFAULT_S3_MAX_RETRIES,
    Settings,
)
from analytics_pipeline.sources.registry import SOURCE_NAMES

# Set at connect time (DuckDB refuses the directory allow-list and the lock before the database starts:
# those follow in ``connect``).
READ_ONLY_CONFIG = {
    "access_mode": "READ_ONLY",
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}
_OPENING = threading.Lock()


class WarehouseResource(DuckDBResource):
    """``warehouse.duckdb`` (``database``), the schema naming its views, and the lake its views read."""

    schema_name: str = Field(default="analytics", description="The schema that names the views (ANALYTICS_SCHEMA).")
    lake_uri: str = Field(default="", description="The lake the views read: the only place outside the file a "
                                                  "connection may read.")
    s3_endpoint_url: str = Field(default="", description="S3 endpoint of the lake, when it is on S3.")
    s3_max_retries: int = Field(default=DEFAULT_S3_MAX_RETRIES, description="Retries of a failed S3 call "
                                                                            "(ANALYTICS_S3_MAX_RETRIES).")
    query_timeout_seconds: float = Field(default=DEFAULT_QUERY_TIMEOUT_SECONDS, description="A query is interrupted "
                                         "after this (ANALYTICS_QUERY_TIMEOUT_SECONDS).")
    query_max_rows: int = Field(default=DEFAULT_QUERY_MAX_ROWS, description="The most rows a result holds in memory "
                                "(ANALYTICS_QUERY_MAX_ROWS).")
    currencies: dict[str, str] = Field(default_factory=dict, description="The currency of each source's amounts, "
                                       "as the dashboards name it (ANALYTICS_CURRENCY).")

    @classmethod
    def for_settings(cls, settings: Settings, schema_name: str | None = None) -> WarehouseResource:
        return cls(database=settings.warehouse_path, schema_name=schema_name or settings.schema,
                   lake_uri=settings.lake_uri, s3_endpoint_url=settings.s3_endpoint_url,
                   s3_max_retries=settings.s3_max_retries,
                   connection_config={**READ_ONLY_CONFIG, "memory_limit": settings.query_memory_limit},
                   query_timeout_seconds=settings.query_timeout_seconds, query_max_rows=settings.query_max_rows,
                   currencies={source: settings.currencies.of(source) for source in SOURCE_NAMES})

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self.connect()
        try:
            yield con
        finally:
            con.close()

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection whose only reads outside the file are the lake's; the caller closes it.

        Connections opened at the same time in one process (a dashboard's parallel widgets, concurrent
        API requests) share one database instance, so the instance is configured and locked, and the S3
        filesystem registered, once, by whichever opens it first. The views exist unqualified in ``main``
        too, so no search path is needed."""
        lake = StorageRoot(self.lake_uri, self.s3_endpoint_url, self.s3_max_retries)
        with _OPENING:
            con = duckdb.connect(self.database, read_only=True, config={**READ_ONLY_CONFIG, **self.connection_config})
            try:
                if not con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
                    con.execute("SET GLOBAL TimeZone = 'UTC'")
                    con.execute(f"SET allowed_directories = [{sql_literal(lake.path() + '/')}]")
                    con.execute("SET enable_external_access = false")
                    con.execute("SET lock_configuration = true")
                if lake.is_s3 and not con.filesystem_is_registered(lake.fs.protocol[0]):
                    con.register_filesystem(lake.fs)
            except BaseException:
                con.close()
                raise
        return con
