"""The warehouse as the language model is shown it: every view with its description, columns, types and notes.

Columns and types are read from the warehouse itself (so they are what a query will see); descriptions come from
the view's asset (its ``TableSpec`` description), a comment on the view or column (``COMMENT ON``, if a warehouse
has them), and ``schema_notes.yaml`` for what neither says (raw views, units, the seeds' value lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb
import yaml

from analytics_pipeline.serving.sql_runner import QueryError, locked_connection
from analytics_pipeline.settings import Settings
from analytics_pipeline.sources.registry import SOURCE_NAMES

_COLUMNS = """
SELECT v.view_name, v.comment, c.column_name, c.data_type, c.comment
FROM duckdb_views() v
JOIN duckdb_columns() c ON c.schema_name = v.schema_name AND c.table_name = v.view_name
WHERE NOT v.internal AND v.schema_name = 'main'
ORDER BY v.view_name, c.column_index
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    note: str = ""


@dataclass(frozen=True)
class View:
    name: str
    description: str
    columns: tuple[Column, ...]


def warehouse_views(settings: Settings) -> list[View]:
    """Every view of the warehouse (unqualified names, as queries use them), described."""
    if not Path(settings.warehouse_path).exists():
        raise QueryError(f"no warehouse at {settings.warehouse_path}: run `analytics-pipeline run` (or `demo`) first")
    try:
        con = locked_connection(settings)
    except duckdb.Error as err:
        raise QueryError(str(err).strip().splitlines()[0]) from None
    try:
        rows = con.execute(_COLUMNS).fetchall()
    finally:
        con.close()
    notes, descriptions = schema_notes(), asset_descriptions()
    by_view: dict[str, tuple[str, list[Column]]] = {}
    for view, view_comment, column, kind, column_comment in rows:
        view_notes = notes["views"].get(view, {})
        if view not in by_view:
            description = view_notes.get("description") or view_comment or descriptions.get(view, "")
            by_view[view] = (" ".join(_in_currencies(str(description), settings).split()), [])
        note = view_notes.get("columns", {}).get(column) or column_comment or ""
        by_view[view][1].append(Column(column, kind, _in_currencies(str(note), settings)))
    return [View(name, description, tuple(columns)) for name, (description, columns) in by_view.items()]


def _in_currencies(note: str, settings: Settings) -> str:
    """A note with ``{<source>_currency}`` replaced by that source's ISO 4217 code (``ANALYTICS_CURRENCY``)."""
    for source in SOURCE_NAMES:
        note = note.replace(f"{{{source}_currency}}", settings.currencies.of(source))
    return note


def schema_text(views: list[View]) -> str:
    """The views as the prompt shows them: a heading line per view, its columns, then the notes on its columns;
    notes on columns that several views share come once, first."""
    present = {c.name for view in views for c in view.columns}
    common = [f"- {name}: {note}" for name, note in schema_notes()["columns"].items() if name in present]
    blocks = ["Columns of these names mean the same in every view:\n" + "\n".join(common)] if common else []
    for view in views:
        lines = [f"### {view.name}" + (f": {view.description}" if view.description else ""),
                 "columns: " + ", ".join(f"{c.name} {c.type}" for c in view.columns)]
        lines += [f"- {c.name}: {c.note}" for c in view.columns if c.note]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@cache
def schema_notes() -> dict:
    notes = yaml.safe_load(resources.files("analytics_pipeline.ask").joinpath("schema_notes.yaml").read_text())
    return {"columns": notes.get("columns") or {}, "views": notes.get("views") or {}}


@cache
def asset_descriptions() -> dict[str, str]:
    """Each lake table's description, as its asset declares it (the Dagster UI shows the same text)."""
    from analytics_pipeline.sources.registry import all_sources

    found = {}
    for source in all_sources():
        found.update({table.name: table.description for table in source.daily_tables})
        for asset in (*source.lake_tables, *source.other_assets):
            for spec in asset.specs:
                if spec.description:
                    found[spec.key.to_user_string()] = spec.description
    return found
