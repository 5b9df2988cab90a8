"""Exports: the seed's analytics JSON and sectioned CSV, and any warehouse table as CSV/JSON/Parquet."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analytics_pipeline.serving.sql_runner import (
    QueryError,
    QueryResult,
    ResultStream,
    query_session,
    run_query,
    warehouse_tables,
)
from analytics_pipeline.settings import Settings

FORMATS = ("csv", "json", "parquet")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SEED_MARTS = ("run_summary", "project_costs", "model_costs", "daily_runs")
QA_FIELDS = ("total_qa_runs", "qa_passed", "qa_warning", "qa_failed", "qa_error", "qa_not_run", "pass_rate")
SUMMARY_LABELS = [
    ("Total Runs", "total_runs"), ("Total Jobs", "total_jobs"), ("Total Tokens", "total_tokens"),
    ("Total Cost (USD)", "total_cost"), ("Average Cost Per Run (USD)", "avg_cost_per_run"),
    ("Average Duration (s)", "avg_duration_seconds"), ("Jobs Completed", "jobs_completed"),
    ("Jobs Failed", "jobs_failed"), ("Jobs Cancelled", "jobs_cancelled"), ("Jobs Running", "jobs_running"),
    ("Jobs Queued", "jobs_queued"), ("2-Loop Runs", "runs_2loop"), ("3-Loop Runs", "runs_3loop"),
    ("QA Pass Rate", "qa_pass_rate"), ("Monthly Budget (USD)", "monthly_budget"),
    ("Current Month Cost (USD)", "current_month_cost"), ("Budget Remaining (USD)", "budget_remaining"),
    ("Generated At", "generated_at"),
]
PROJECT_COLUMNS = [("Project", "project_name"), ("Runs", "runs_count"), ("Last Run", "last_run_time"),
                   ("Total Tokens", "total_tokens"), ("Total Cost (USD)", "total_cost"),
                   ("Avg Duration (s)", "avg_duration_seconds"), ("QA Passed", "qa_passed"),
                   ("QA Warning", "qa_warning"), ("QA Failed", "qa_failed"), ("QA Not Run", "qa_not_run")]
MODEL_COLUMNS = [("Model", "model_name"), ("Total Tokens", "total_tokens"), ("Total Cost (USD)", "total_cost"),
                 ("Usage Count", "usage_count"), ("Cost Share", "cost_share")]


def export(settings: Settings, marts: list[str], fmt: str, out_dir: Path) -> list[Path]:
    """Write the export files; returns their paths. No marts named = the seed's analytics export."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not marts and fmt in ("json", "csv"):
        tables = {name: _read(settings, name) for name in SEED_MARTS}
        path = out_dir / f"analytics.{fmt}"
        with _replaced(path) as partial:
            partial.write_text(seed_json(tables) if fmt == "json"
                               else seed_csv(tables, settings.currencies.of("llm_runs")))
        return [path]
    names = list(marts) or list(SEED_MARTS)
    require_tables(settings, names)
    paths = []
    for name in names:
        path = out_dir / f"{name}.{fmt}"
        write_table(settings, name, fmt, path)
        paths.append(path)
    return paths


class UnknownTable(QueryError):
    """A name that is not one of the warehouse's tables (the server answers 404)."""


def require_tables(settings: Settings, names: list[str]) -> None:
    """Raise UnknownTable naming every one of ``names`` the warehouse does not have."""
    known = warehouse_tables(settings)
    unknown = [n for n in names if n not in known]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise UnknownTable(f"unknown table{'s' if len(unknown) > 1 else ''} {listed}; "
                           f"exportable: {', '.join(sorted(known))}")


@contextmanager
def table_stream(settings: Settings, name: str) -> Iterator[ResultStream]:
    """A whole warehouse table, read through the read-only SQL runner in record batches; UnknownTable if there is
    none. Errors of opening it (no warehouse, a failing view) come here, before the first batch."""
    require_tables(settings, [name])
    with query_session(settings) as session, session.stream(_whole_table(name)) as result:
        yield result


def write_table(settings: Settings, name: str, fmt: str, path: Path) -> None:
    """A warehouse table to ``path``, batch by batch."""
    with table_stream(settings, name) as result, _replaced(path) as partial:
        if fmt == "parquet":
            with pq.ParquetWriter(partial, result.schema) as writer:
                for batch in result.batches:
                    writer.write_batch(batch)
        else:
            with partial.open("wb") as out:
                for piece in table_pieces(result, fmt):
                    out.write(piece)


@contextmanager
def _replaced(path: Path) -> Iterator[Path]:
    """A partial file beside ``path`` to write: it becomes ``path`` when the block ends, and is removed if the block
    fails (a full disk, a query that stops part-way), so an export is whole or absent."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def table_pieces(result: ResultStream, fmt: str) -> Iterator[bytes]:
    """A table as UTF-8 pieces, one per record batch: JSON (a list of records; twin column names made unique the
    way DuckDB does, ``a``, ``a_1``) or CSV (RFC 4180, header row first; text cells that a spreadsheet would run
    as a formula are neutralised, see ``csv_cell``)."""
    if fmt == "json":
        names, first = unique_names(result.columns), True
        yield b"["
        for batch in result.batches:
            records = [json.dumps(record, indent=2, allow_nan=False).replace("\n", "\n  ")
                       for record in json_rows(names, _batch_rows(batch))]
            if records:
                yield (("\n  " if first else ",\n  ") + ",\n  ".join(records)).encode()
                first = False
        yield b"]" if first else b"\n]"
        return
    yield _csv_text([[csv_cell(c) for c in result.columns]])
    for batch in result.batches:
        yield _csv_text([csv_cell(v) for v in row] for row in _batch_rows(batch))


def _whole_table(name: str) -> str:
    return 'SELECT * FROM "' + name.replace('"', '""') + '"'


def _batch_rows(batch: pa.RecordBatch) -> list[tuple]:
    return list(zip(*(column.to_pylist() for column in batch.columns)))


def _csv_text(rows) -> bytes:
    """RFC 4180 lines (CRLF): the csv module quotes a cell holding a CR only when CR is in the line terminator."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def csv_cell(value) -> str:
    """A value as an export's CSV cell. Text that starts like a formula (``=``, ``+``, ``-``, ``@``, tab or carriage
    return) gets a leading single quote, as OWASP recommends against CSV injection, so a spreadsheet shows it as
    text instead of running it; numbers are left alone (a number cannot hold a formula)."""
    if value is None:
        return ""
    if not isinstance(value, (int, float, str)):
        value = json_value(value)
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return "" if value is None else str(value)


def unique_names(columns: list[str]) -> list[str]:
    """Column names made unique as DuckDB does when it must: a second ``a`` becomes ``a_1`` (then ``a_2``...)."""
    seen, names = set(), []
    for name in columns:
        unique, n = name, 0
        while unique in seen:
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique)
        names.append(unique)
    return names


def read_table(settings: Settings, name: str) -> QueryResult:
    """A whole warehouse table in memory, through the read-only SQL runner; UnknownTable if there is none."""
    require_tables(settings, [name])
    return _read(settings, name)


def _read(settings: Settings, name: str) -> QueryResult:
    return run_query(settings, _whole_table(name))


def _records(result: QueryResult) -> list[dict]:
    return json_rows(result.columns, result.rows)


def json_rows(result_columns: list[str], rows: list[tuple]) -> list[dict]:
    """Rows as JSON-ready dicts (see json_value)."""
    return [{c: json_value(v) for c, v in zip(result_columns, row)} for row in rows]


def json_value(value):
    """A DuckDB value as JSON-ready Python: numbers stay numbers (decimals become floats; NaN and infinities
    become null, JSON has none), dates and times ISO-8601 text, intervals seconds, lists and structs element
    by element, anything else its text."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


def seed_json(tables: dict[str, QueryResult]) -> str:
    summary = (_records(tables["run_summary"]) or [{}])[0]
    qa = {field: summary.pop(f"qa_{field}" if not field.startswith("qa_") else field, None) for field in QA_FIELDS}
    summary["qa_summary"] = qa
    document = {
        "summary": summary,
        "projects": _records(tables["project_costs"]),
        "models": _records(tables["model_costs"]),
        "timeseries": _records(tables["daily_runs"]),
    }
    return json.dumps(document, indent=2, allow_nan=False)


def seed_csv(tables: dict[str, QueryResult], currency: str = "USD") -> str:
    """The seed's CSV; its money headers name ``currency`` (the seed's "(USD)" by default)."""
    def named(label: str) -> str:
        return label.replace("(USD)", f"({currency})")

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    summary = (_records(tables["run_summary"]) or [{}])[0]
    writer.writerows([["OVERALL SUMMARY"], ["Metric", "Value"]])
    writer.writerows([named(label), csv_cell(summary.get(key))] for label, key in SUMMARY_LABELS)
    for title, columns, table in (("PER-PROJECT SUMMARY", PROJECT_COLUMNS, "project_costs"),
                                  ("PER-MODEL SUMMARY", MODEL_COLUMNS, "model_costs")):
        writer.writerows([[], [title], [named(label) for label, _ in columns]])
        writer.writerows([csv_cell(row.get(key)) for _, key in columns] for row in _records(tables[table]))
    return buffer.getvalue()
