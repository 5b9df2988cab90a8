"""Keyed tables, maintained incrementally: rows per entity (claim, session, run, job), recomputed only for the
entities a change touched.

A keyed table's SQL computes each entity's rows from that entity's rows alone (windows and groups by the key).
So after new raw days (or re-delivered, late, re-classified ones), it runs the same SQL over the touched
entities' whole histories — the days the entity index says they have rows on — and replaces their rows.
The table is stored in buckets by the entity's first day (``<layer>/<table>/first_day=D/part-0.parquet``):
a change rewrites the buckets of the touched entities, mostly the newest days, so its cost follows the new
data and the touched entities' histories, never the number of days in the lake.

A full rebuild from the raw layer runs instead when the table has never been built, when its SQL (or a raw
view it reads) changed, when an input day disappeared (retention), or when the run is tagged ``analytics/full_refresh=true``
(``analytics-pipeline run --full-refresh``, the ``full_refresh_job``). Both ways give the same rows; the
tests compare them row for row.
"""


import hashlib
import json
from dataclasses import dataclass

import dagster as dg
import duckdb

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import sql_list, sql_literal
from analytics_pipeline.lake.entity_index import (
    read_json,
    register_first_days,
    register_touched,
    update_index,
)
from analytics_pipeline.lake.parquet import write_parquet, write_partitions
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.lake.tables import day_files
from analytics_pipeline.lake.views import lake_views, register_empty_source, register_lake_views
from analytics_pipeline.platform.table_assets import (
    TableSpec,
    table_metadata,
    table_run,
    whole_lake_asset,
)

FULL_REFRESH_TAG = "analytics/full_refresh"
BUCKET = layout.BUCKET_COLUMN
DAY = layout.PARTITION_COLUMN
BUCKET_SUMMARY_METADATA = "bucket_summary"  # the view of a keyed table's totals per bucket (TableSpec.bucket_summary)
# Bumped when the way keyed tables are stored or updated changes: every table is then rebuilt once.
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class EntityKey:
    """What a keyed table is keyed by and what its SQL reads.

    The source's raw views (e.g. ``claims``) and the day-partitioned tables in ``partitioned_inputs``
    (``processed/intents``) are read for the touched entities' days only; the keyed tables in
    ``keyed_inputs`` (``processed/conversation_sessions``) for their buckets only. Changes to the raw
    layer and to the partitioned inputs touch entities.
    """

    spec: SourceSpec
    key: str
    partitioned_inputs: tuple[str, ...] = ()
    keyed_inputs: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.spec.name


def full_refresh_requested(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"


def build_keyed_table(table: TableSpec, entity: EntityKey) -> dg.AssetsDefinition:
    """An unpartitioned asset over the whole lake whose rows per entity are updated when that entity changes."""
    spec = entity.spec
    sql = table.sql()
    reads = table.lake_views_read(sql)
    known = set(spec.views()) | {_name(f) for f in (*entity.partitioned_inputs, *entity.keyed_inputs)}
    if reads - known:
        raise ValueError(f"keyed table {table.name} reads {sorted(reads - known)}: declare them in its EntityKey")

    @dg.asset(**whole_lake_asset(spec, table, sql, storage=f"keyed by {entity.key}, format {FORMAT_VERSION}"
                                                        f"{_summary_text(table)}"),
              metadata={BUCKET_SUMMARY_METADATA: table.bucket_summary[0]} if table.bucket_summary else None)
    def keyed_table(context: dg.AssetExecutionContext):
        with table_run(context, table) as (run_table, root, con):
            with root.exclusive(f"{table.layer}/{table.name}"):
                update = KeyedUpdate(con, root, run_table, entity, reads, full_refresh_requested(context))
                summary = update.run()
            if table.check_views:  # lake views only the checks read (not inputs of the table)
                register_lake_views(con, root, [entity.spec], only=table.check_lake_views)
                run_table.prepare_connection(con, check_views=True)
            checks = list(run_table.checks(con)) if run_table.checks else []
            metadata = update.metadata(summary)
            yield dg.MaterializeResult(metadata=metadata)
            yield from checks

    return keyed_table


def bucket_summaries(assets: list[dg.AssetsDefinition]) -> dict[str, str]:
    """The views of keyed tables' totals per bucket → the table that keeps them."""
    return {str(spec.metadata[BUCKET_SUMMARY_METADATA]): spec.key.to_user_string()
            for a in assets for spec in a.specs if BUCKET_SUMMARY_METADATA in spec.metadata}


def _summary_text(table: TableSpec) -> str:
    """What the table keeps per bucket besides its rows (part of its definition: a change rebuilds it)."""
    return "\nsummary {}: {}".format(*table.bucket_summary) if table.bucket_summary else ""


def _name(folder: str) -> str:
    return folder.rsplit("/", 1)[-1]


class KeyedUpdate:
    """One update of a keyed table: full or incremental, decided from what the table has taken in."""

    def __init__(self, con: duckdb.DuckDBPyConnection, root: StorageRoot, table: TableSpec, entity: EntityKey,
                 reads: set[str], full_refresh: bool):
        self.con, self.root, self.table, self.entity, self.reads = con, root, table, entity, reads
        self.full_refresh = full_refresh
        self.folder = f"{table.layer}/{table.name}"
        self.state_key = layout.keyed_state(table.layer, table.name)

    def run(self) -> dict:
        con, root, entity = self.con, self.root, self.entity
        raw = day_files(root, f"raw/{entity.source}")
        update_index(con, root, entity.source, entity.key, raw)
        self._register_newest_raw_day(raw)
        files = {f"raw/{entity.source}": raw, **{f: day_files(root, f) for f in entity.partitioned_inputs}}
        versions = {folder: {day: f.version for day, f in found.items()} for folder, found in files.items()}
        self._hold_back_what_keyed_inputs_lack(versions)
        definition = f"{FORMAT_VERSION}\n{self.table.sql()}\n{self._source_views_read()}{_summary_text(self.table)}"
        fingerprint = hashlib.sha256(definition.encode()).hexdigest()[:16]
        state = read_json(root, self.state_key)
        buckets = self._buckets()
        reason = self._full_reason(state, fingerprint, versions, buckets)
        if reason:
            root.delete(self.state_key)  # a rebuild killed half-way must not be mistaken for an update
            summary = self._rebuild(buckets)
            summary["reason"] = reason
        else:
            changed = sorted({day for folder, days in versions.items() for day, version in days.items()
                              if state["inputs"].get(folder, {}).get(day) != version})
            if not changed:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE result_rows AS {self._empty_result()}")
                self._register_table_view(buckets)
                return {"mode": "unchanged", "rows": sum(state["buckets"].values()), "entities": 0, "days_read": 0,
                        "buckets_written": 0}
            summary = self._update(changed, files, buckets, dict(state["buckets"]))
        counts = summary.pop("counts")
        self._keep_schema_when_empty(sum(counts.values()) == 0)
        stored = self._buckets()
        self._write_bucket_summary(stored, summary.pop("rewritten"), summary["mode"] == "full")
        root.write_bytes(json.dumps({"fingerprint": fingerprint, "inputs": versions, "buckets": counts},
                                    sort_keys=True).encode(), self.state_key)
        self._register_table_view(stored)
        return summary

    def _source_views_read(self) -> str:
        """The definitions of the raw views the SQL reads: a change to one (e.g. which version of a run counts)
        is a change of the table's SQL, so the table is rebuilt."""
        spec = self.entity.spec
        return "\n".join(f"{name}: {sql}" for name, sql in sorted(spec.views().items()) if name in self.reads)

    def _hold_back_what_keyed_inputs_lack(self, versions: dict) -> None:
        """A day version a keyed input has not taken in yet is recorded as pending, so the day counts as changed
        again once the input has caught up (whatever order the assets are materialized in)."""
        for folder in self.entity.keyed_inputs:
            layer, name = folder.split("/")
            taken = (read_json(self.root, layout.keyed_state(layer, name)) or {}).get("inputs", {})
            for input_folder, days in versions.items():
                if input_folder not in taken and taken:
                    continue  # the keyed input does not read this folder
                for day, version in days.items():
                    if taken.get(input_folder, {}).get(day) != version:
                        days[day] = f"pending:{version}"

    def _register_newest_raw_day(self, raw: dict) -> None:
        """``newest_raw_day``: the source's newest raw partition (the data-through time checks read)."""
        if raw:
            path = self.root.path(raw[max(raw)].key)
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW newest_raw_day AS SELECT * FROM read_parquet("
                             f"{sql_literal(path)}, hive_partitioning = false)")
        else:
            self.con.execute("CREATE OR REPLACE TEMP VIEW newest_raw_day AS SELECT NULL::TIMESTAMP AS event_time WHERE false")

    def _full_reason(self, state: dict | None, fingerprint: str, versions: dict, buckets: dict) -> str | None:
        if self.full_refresh:
            return "full refresh requested"
        if state is None:
            return "first build"
        if state.get("fingerprint") != fingerprint:
            return "the table's SQL changed"
        if any(set(state["inputs"].get(folder, {})) - set(days) for folder, days in versions.items()):
            return "input days were removed"
        if set(state["buckets"]) != set(buckets):
            return "the stored buckets differ from the table's state"
        return None

    def _keep_schema_when_empty(self, empty: bool, name: str | None = None, rows: str = "result_rows") -> None:
        """An empty table is one empty ``data.parquet``, so its view (and SQL reading it) still has its columns;
        the file goes once the table has buckets (it is also what a lake from before keyed tables holds)."""
        single = layout.table_file(self.table.layer, name or self.table.name)
        if empty:
            write_parquet(self.con, self.root, f"SELECT * FROM ({rows}) WHERE false", single)
        elif self.root.exists(single):
            self.root.delete(single)

    def _write_bucket_summary(self, stored: dict[str, str], rewritten: set[str], full: bool) -> None:
        """The totals of the buckets just written (all of them after a full rebuild; ``stored``: the table's buckets
        now), replacing theirs; a bucket the table no longer has loses its totals."""
        if not self.table.bucket_summary:
            return
        name, sql = self.table.bucket_summary
        folder = f"{self.table.layer}/{name}"
        summarized = set(self._buckets(folder))
        paths = [self.root.path(stored[b]) for b in sorted(rewritten) if b in stored]
        rows = (f"SELECT * FROM read_parquet({sql_list(paths)}, union_by_name = true, hive_partitioning = true, "
                f"hive_types = {{'{BUCKET}': DATE}})" if paths
                else f"SELECT *, NULL::DATE AS {BUCKET} FROM result_rows WHERE false")
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW bucket_rows AS {rows}")
        replace = summarized if full else summarized & rewritten
        write_partitions(self.con, self.root, sql, folder, BUCKET, replace=replace)
        self._keep_schema_when_empty(not stored, name, f"SELECT * EXCLUDE ({BUCKET}) FROM ({sql})")

    def _buckets(self, folder: str | None = None) -> dict[str, str]:
        """The table's stored buckets (or those of ``folder``): first day → file key."""
        folder = folder or self.folder
        prefix = f"{folder}/{BUCKET}="
        return {f.key[len(prefix):].split("/", 1)[0]: f.key for f in self.root.list_files(folder)
                if f.key.startswith(prefix) and f.key.endswith("/part-0.parquet")}

    # ------------------------------------------------------------------ full rebuild
    def _rebuild(self, buckets: dict[str, str]) -> dict:
        con, root, entity = self.con, self.root, self.entity
        register_lake_views(con, root, [entity.spec], only=self.reads)
        self.table.prepare_connection(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE result_rows AS {self.table.sql()}")
        register_first_days(con, root, entity.source, entity.key)
        counts = write_partitions(
            con, root,
            f"SELECT r.*, coalesce(f.first_day, DATE '1970-01-01') AS {BUCKET} FROM result_rows r "
            f"LEFT JOIN entity_first_days f ON r.{entity.key} = f.entity",
            self.folder, BUCKET, replace=set(buckets))
        return {"mode": "full", "rows": sum(counts.values()), "entities": None, "days_read": None,
                "buckets_written": len(counts), "counts": counts, "rewritten": set(counts)}

    # ------------------------------------------------------------------ incremental update
    def _update(self, changed: list[str], files: dict, buckets: dict[str, str], counts: dict[str, int]) -> dict:
        con, root, entity, key = self.con, self.root, self.entity, self.entity.key
        touched = register_touched(con, root, entity.source, key, changed)
        days = [str(d) for (d,) in con.execute("SELECT DISTINCT unnest(days) FROM touched_entities ORDER BY 1").fetchall()]
        self._register_restricted_views(files, days)
        self.table.prepare_connection(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE result_rows AS {self.table.sql()}")
        changed_list = "[" + ", ".join(f"DATE {sql_literal(d)}" for d in changed) + "]::DATE[]"
        # Buckets to rewrite: an entity's rows sit in the bucket of its first day. Before this change that was one
        # of the changed days or the earliest of its unchanged days; after it, the earliest of all its days — so
        # those buckets hold every touched entity's old rows and will hold its new ones.
        rewrite = {str(b) for (b,) in con.execute(f"""
            SELECT DISTINCT b FROM (
                SELECT unnest(list_filter(days, lambda d: list_contains({changed_list}, d))) AS b FROM touched_entities
                UNION ALL SELECT list_min(list_filter(days, lambda d: NOT list_contains({changed_list}, d))) FROM touched_entities)
            WHERE b IS NOT NULL""").fetchall()}
        old = [root.path(buckets[b]) for b in sorted(rewrite) if b in buckets]
        kept = (f"SELECT o.* FROM read_parquet({sql_list(old)}, union_by_name = true, hive_partitioning = true, "
                f"hive_types = {{'{BUCKET}': DATE}}) o ANTI JOIN touched_entities t ON o.{key} = t.entity"
                if old else None)
        new = (f"SELECT r.*, t.first_day AS {BUCKET} FROM result_rows r "
               f"JOIN touched_entities t ON r.{key} = t.entity")
        query = f"{kept} UNION ALL BY NAME {new}" if kept else new
        written = write_partitions(con, root, query, self.folder, BUCKET, replace=rewrite & set(buckets))
        for bucket in rewrite:
            counts.pop(bucket, None)
        counts.update(written)
        return {"mode": "incremental", "rows": sum(counts.values()), "entities": touched, "days_read": len(days),
                "buckets_written": len(written), "counts": counts, "changed_days": changed,
                "rewritten": rewrite | set(written)}

    def _register_restricted_views(self, files: dict, days: list[str]) -> None:
        """The views the SQL reads, holding only the touched entities' rows."""
        con, root, entity = self.con, self.root, self.entity
        only_touched = f"{entity.key} IN (SELECT entity FROM touched_entities)"
        spec = entity.spec
        raw = files[f"raw/{entity.source}"]
        raw_paths = [root.path(raw[d].key) for d in days if d in raw]
        if set(spec.views()) & self.reads:
            if raw_paths:
                scan = (f"(SELECT * FROM read_parquet({sql_list(raw_paths)}, union_by_name = true, hive_partitioning = true, "
                        f"hive_types = {{'{DAY}': DATE}}) WHERE {only_touched})")
                for name, view in spec.views().items():
                    con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {view.format(raw=scan)}')
            else:
                register_empty_source(con, spec)
        for folder in entity.partitioned_inputs:
            paths = [root.path(files[folder][d].key) for d in days if d in files[folder]]
            if paths and _name(folder) in self.reads:
                con.execute(f'CREATE OR REPLACE TEMP VIEW "{_name(folder)}" AS SELECT * FROM read_parquet('
                            f"{sql_list(paths)}, union_by_name = true, hive_partitioning = true, "
                            f"hive_types = {{'{DAY}': DATE}}) WHERE {only_touched}")
        if entity.keyed_inputs:
            first_days = {str(d) for (d,) in con.execute("SELECT DISTINCT first_day FROM touched_entities").fetchall()}
            for folder in entity.keyed_inputs:
                prefix = f"{folder}/{BUCKET}="
                paths = [root.path(f.key) for f in root.list_files(folder)
                         if f.key.startswith(prefix) and f.key[len(prefix):].split("/")[0] in first_days]
                if _name(folder) in self.reads:
                    # no bucket of theirs: one file of the input still gives the view its columns (it filters to nothing)
                    paths = paths or [root.path(f.key) for f in root.list_files(folder) if f.key.endswith(".parquet")][:1]
                    con.execute(f'CREATE OR REPLACE TEMP VIEW "{_name(folder)}" AS SELECT * FROM read_parquet('
                                f"{sql_list(paths)}, union_by_name = true, hive_partitioning = false) WHERE {only_touched}")

    def _empty_result(self) -> str:
        """No rows: what the checks read is empty too."""
        spec = self.entity.spec
        register_empty_source(self.con, spec)
        return "SELECT NULL AS nothing WHERE false"

    def _register_table_view(self, buckets: dict[str, str]) -> None:
        """``table_rows``: the whole stored table, for the preview and chart."""
        single = layout.table_file(self.table.layer, self.table.name)
        keys = list(buckets.values()) or ([single] if self.root.exists(single) else [])
        if keys:
            paths = sql_list([self.root.path(k) for k in keys])
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW table_rows AS SELECT * FROM read_parquet({paths}, "
                             "union_by_name = true, hive_partitioning = false)")
        else:
            self.con.execute("CREATE OR REPLACE TEMP TABLE table_rows AS SELECT * FROM result_rows")
        if self.table.bucket_summary:  # the totals beside the table, for its chart: the warehouse's view of them
            name = self.table.bucket_summary[0]
            found = lake_views(self.root, [self.entity.spec], only={name})
            if found:
                totals = found[0].sql
            else:  # none stored (deleted by hand): no totals, with their columns
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW bucket_rows AS SELECT *, NULL::DATE AS {BUCKET} "
                                 "FROM table_rows WHERE false")
                totals = f"SELECT * EXCLUDE ({BUCKET}) FROM ({self.table.bucket_summary[1]})"
            self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {totals}')

    def metadata(self, summary: dict) -> dict:
        """The preview and chart show the whole table (``result_rows`` is renamed to ``recomputed_rows``)."""
        recomputed = int(self.con.execute("SELECT count(*) FROM result_rows").fetchall()[0][0])
        self.con.execute("ALTER TABLE result_rows RENAME TO recomputed_rows")
        self.con.execute("CREATE TEMP VIEW result_rows AS SELECT * FROM table_rows")
        metadata = table_metadata(self.con, self.table, summary["rows"])
        metadata["update"] = dg.MetadataValue.text(summary["mode"] + (f" ({summary['reason']})" if "reason" in summary else ""))
        metadata["rows_recomputed"] = recomputed
        metadata["buckets_written"] = summary["buckets_written"]
        if summary.get("entities") is not None:
            metadata["entities_touched"] = summary["entities"]
            metadata["days_read"] = summary["days_read"]
        if summary.get("changed_days"):
            metadata["changed_days"] = dg.MetadataValue.json(summary["changed_days"][:100])
        return metadata
