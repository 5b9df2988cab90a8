"""Dashboards per entity (seed 002's dashboards per prospect): a dashboard that declares an ``entity`` is also
generated once per value of it (a project, an agent, a region), each page reading only that entity's rows.

Filtering: every read of an entity table in a widget's SQL becomes a subquery of that table's rows whose entity
column equals the parameter ``$entity``. DuckDB binds the value; it is never written into the SQL, so any text
(quotes, ``'; DROP TABLE ...``) is only a value to compare with.

Regeneration: an entity's fingerprint is, for every entity table, the count and an order-independent hash of
its rows (one grouped query per table for all entities; floats to 12 significant digits), with the definition and
the dashboards code. An entity whose fingerprint is the one its published page was made from keeps its files.

Files: an entity's ``key`` (in file names) is a slug of its value and a hash of it: any value gives a safe,
unique name.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pyarrow as pa
import sqlglot
from sqlglot import exp

if TYPE_CHECKING:
    from analytics_pipeline.dashboards.definition import Dashboard
    from analytics_pipeline.serving.sql_runner import QueryResult

ENTITY_PARAMETER = "entity"  # the one parameter of an entity page's queries: $entity


class EntityFilterError(ValueError):
    """A query an entity page cannot run filtered (it reads a table that has no entity column declared)."""


@dataclass(frozen=True)
class EntityValue:
    """One entity of a dashboard: ``id`` is its value as text (the API's ``{id}``), ``value`` as the table holds
    it (the parameter bound), ``key`` names its files, ``fingerprint`` the data its pages read."""

    kind: str
    id: str
    value: object
    key: str
    fingerprint: str

    @property
    def params(self) -> dict:
        return {ENTITY_PARAMETER: self.value}


def filtered_sql(sql: str, tables: dict[str, str]) -> str:
    """``sql`` with every read of a table of ``tables`` (table → entity column) replaced by that table's rows of
    the entity ``$entity``. A read of any other table is an EntityFilterError: its rows would be every entity's."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    shadowing = sorted(ctes & set(tables))
    if shadowing:
        raise EntityFilterError(f"a WITH query is named {shadowing[0]!r} like an entity table: rename it")
    reads = [t for t in statement.find_all(exp.Table) if t.name and t.name not in ctes]
    for table in reads:
        if table.name not in tables:
            raise EntityFilterError(
                f"reads {table.name}, which entity.tables does not list: list it with the column naming the entity, "
                "or give the widget an entity_sql (or per_entity: false)")
        if table.args.get("db") or table.args.get("catalog"):
            raise EntityFilterError(f"write {table.name}, not {table.sql(dialect='duckdb')}: entity pages filter "
                                    "the unqualified name")
    for table in reads:
        rows = (exp.select("*").from_(exp.to_identifier(table.name, quoted=True))
                .where(exp.column(tables[table.name], quoted=True).eq(exp.Placeholder(this=ENTITY_PARAMETER))))
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
        table.replace(exp.Subquery(this=rows, alias=alias))
    return statement.sql(dialect="duckdb")


def entity_key(entity_id: str) -> str:
    """A file-name-safe, unique name for an entity value."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", entity_id).strip("_-")[:40] or "entity"
    return f"{slug}-{hashlib.sha256(entity_id.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def entity_api_path(kind: str, entity_id: str) -> str:
    """``/api/v1/<kind>/<id>/dashboards``, each segment percent-encoded (an id may hold ``/``)."""
    return f"/api/v1/{quote(kind, safe='')}/{quote(entity_id, safe='')}/dashboards"


def document_api_path(doc: dict) -> str:
    """Where ``serve`` answers a dashboard document: a dashboard's, or one entity's (``doc["entity"]``)."""
    entity = doc.get("entity")
    if not entity:
        return f"/api/v1/dashboards/{quote(doc['id'], safe='')}"
    return f"{entity_api_path(entity['kind'], entity['id'])}/{quote(doc['id'], safe='')}"


def entity_stem(doc: dict) -> str:
    """The file name (without suffix) of an entity document and page: ``<kind>.<key>.<dashboard id>``."""
    return f"{doc['entity']['kind']}.{doc['entity']['key']}.{doc['id']}"


@functools.lru_cache(maxsize=4096)
def names_read(sql: str) -> frozenset[str] | None:
    """Every name ``sql`` uses (columns, tables, aliases, struct fields): a superset of the columns it reads of any
    table. None when its result may hold every column of a table: a ``*`` in its own select list (not in an
    aggregate such as ``count(*)``, nor in a subquery or WITH query, whose columns the outer query names, as in
    the entity filter's ``(SELECT * FROM t WHERE … = $entity) AS t``)."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    for star in statement.find_all(exp.Star):
        if star.find_ancestor(exp.AggFunc) is None and star.find_ancestor(exp.Subquery, exp.CTE) is None:
            return None
    # columns read without being named: a natural join's, a pivot's grouping, COLUMNS('regex'), a whole row (to_json(t))
    if (any(str(join.args.get("method") or "").upper() == "NATURAL" for join in statement.find_all(exp.Join))
            or any(True for _ in statement.find_all(exp.Pivot))
            or any(True for _ in statement.find_all(exp.Columns))
            or any(f.name.upper() == "COLUMNS" for f in statement.find_all(exp.Anonymous))):
        return None
    relations = {t.alias_or_name for t in statement.find_all(exp.Table)} | {
        s.alias for s in statement.find_all(exp.Subquery) if s.alias}
    if any(not c.table and c.name in relations for c in statement.find_all(exp.Column)):
        return None
    return frozenset(identifier.name for identifier in statement.find_all(exp.Identifier))


def queries_names(queries: list[str]) -> frozenset[str] | None:
    """Every name the queries use (``names_read``); None when one may read columns it does not name, or cannot
    be read."""
    names: set[str] = set()
    for sql in queries:
        try:
            used = names_read(sql)
        except sqlglot.errors.SqlglotError:
            return None
        if used is None:
            return None
        names |= used
    return frozenset(names)


def columns_read(queries: list[str], schema_names: list[str], keep: str = "") -> list[str]:
    """The columns of a table (``schema_names``) that ``queries`` may read, with ``keep``; all of them when a
    query may read columns it does not name."""
    names = queries_names(queries)
    return list(schema_names) if names is None else [n for n in schema_names if n in names or n == keep]


def state_query(table: str, column: str, columns: list[str], float_columns: set[str]) -> str:
    """Per entity of ``table``: its id as text, its value, and the count and an order-independent hash of its rows.
    Floating-point columns are hashed to 12 significant digits: a whole-lake mart recomputed sums and averages them
    in another order, which moves their last bits (300.0725217391304 → …305) though the data did not change."""
    col, name = _quoted(column), _quoted(table)
    values = ", ".join(f"printf('%.12g', {_quoted(c)})" if c in float_columns else _quoted(c) for c in columns)
    return (f"SELECT CAST({col} AS VARCHAR) AS entity_id, any_value({col}) AS entity, count(*) AS row_count, "
            f"bit_xor(hash({values})) AS row_hash FROM {name} WHERE {col} IS NOT NULL GROUP BY 1")


def table_states(table: str, column: str, run: Callable[[str], QueryResult], queries: list[str] = ()
                 ) -> dict[str, tuple]:
    """Per entity id of ``table``: (its value, the count and hash of its rows); ``run`` runs one query on the
    warehouse (a QueryError propagates). ``queries``: the entity pages' queries; only the columns they may read are
    hashed (a change to another column changes no page), all columns when none are given."""
    schema = run(f"SELECT * FROM {_quoted(table)} LIMIT 0").arrow.schema
    floats = {f.name for f in schema if pa.types.is_floating(f.type)}
    columns = columns_read(list(queries), schema.names, keep=column) if queries else schema.names
    return {row[0]: row[1:] for row in run(state_query(table, column, columns, floats)).rows}


def entity_values(dashboard: Dashboard, states: dict[tuple[str, str], dict[str, tuple]]) -> list[EntityValue]:
    """The dashboard's entities (those of its first entity table), each with its fingerprint, sorted by id.
    ``states``: ``table_states`` of every (table, column) of the dashboard's entity."""
    entity = dashboard.entity
    tables = [states[pair] for pair in entity.tables.items()]
    digest = definition_digest(dashboard)
    values = []
    for entity_id, (value, _, _) in sorted(tables[0].items()):
        parts = [list(state[entity_id][1:]) if entity_id in state else [0, 0] for state in tables]
        fingerprint = hashlib.sha256(json.dumps([digest, entity_id, parts]).encode()).hexdigest()[:32]
        values.append(EntityValue(entity.name, entity_id, value, entity_key(entity_id), fingerprint))
    return values


def definition_digest(dashboard: Dashboard) -> str:
    """The definition (what its pages compute and show) and the code that makes pages: a change to either makes
    every entity page out of date."""
    definition = dataclasses.asdict(dataclasses.replace(dashboard, source=""))
    return hashlib.sha256(json.dumps([definition, code_digest()], sort_keys=True, default=str).encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """A hash of the dashboards package's files (its code and page assets; not the definitions)."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] != "definitions" and "__pycache__" not in relative.parts:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
