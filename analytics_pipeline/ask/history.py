"""``ask_history``: every question ``ask`` was given, kept in the lake so the success rate can be measured.

One small Parquet file per question (``lake/ask_log/<day>/ask-<id>.parquet``), written like every lake file
(atomically; on S3 uploaded whole), never rewritten. The warehouse serves them as the view ``ask_history``; the
first question of a lake adds that view to the warehouse at once (a later warehouse refresh keeps it).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa

from analytics_pipeline.ask.answer import Answer
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.serving.sql_runner import warehouse_tables
from analytics_pipeline.settings import Settings

VIEW = "ask_history"
SCHEMA = pa.schema([
    ("ask_id", pa.string()),
    ("asked_at", pa.timestamp("us")),
    ("question", pa.string()),
    ("sql", pa.string()),  # the query that ran, or the last one tried
    ("attempts", pa.int32()),  # answers the model gave (at most MAX_ATTEMPTS)
    ("outcome", pa.string()),  # answered | failed | model_error
    ("error", pa.string()),  # why the last attempt failed; NULL when answered
    ("result_rows", pa.int64()),
    ("seconds", pa.float64()),  # the whole question: prompt, model, queries
    ("model_seconds", pa.float64()),
    ("query_seconds", pa.float64()),
    ("model", pa.string()),
    ("endpoint", pa.string()),  # scheme, host and path of the endpoint (never a key), or plugin:<module:factory>
    ("tries", pa.list_(pa.struct([("sql", pa.string()), ("error", pa.string())]))),
])


def record(settings: Settings, answer: Answer) -> str:
    """Append the answer to the lake's ask log; returns its key under the lake."""
    lake = StorageRoot.of_lake(settings)
    ask_id = f"{answer.asked_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
    key = layout.ask_log_file(answer.asked_at.date().isoformat(), ask_id)
    row = pa.Table.from_pylist([{
        "ask_id": ask_id, "asked_at": answer.asked_at, "question": answer.question, "sql": answer.sql or None,
        "attempts": len(answer.attempts), "outcome": answer.outcome, "error": answer.error or None,
        "result_rows": len(answer.result.rows) if answer.result is not None else None,
        "seconds": answer.seconds, "model_seconds": answer.model_seconds, "query_seconds": answer.query_seconds,
        "model": answer.model, "endpoint": answer.endpoint,
        "tries": [{"sql": a.sql or None, "error": a.error or None} for a in answer.attempts],
    }], schema=SCHEMA)
    con = connect(lake)
    try:
        con.register("ask_row", row)
        write_parquet(con, lake, "SELECT * FROM ask_row", key)
    finally:
        con.close()
    _serve_history(settings, lake)
    return key


def _serve_history(settings: Settings, lake: StorageRoot) -> None:
    """The warehouse gets its ``ask_history`` view with the lake's first question; while another pipeline process
    holds the data dir, its next warehouse refresh adds it."""
    from analytics_pipeline.lake.data_dir import DataDirBusy, data_dir_lock
    from analytics_pipeline.serving.warehouse import build_warehouse
    from analytics_pipeline.sources.registry import SOURCE_SPECS

    if not Path(settings.warehouse_path).exists() or VIEW in warehouse_tables(settings):
        return  # no warehouse yet: the first run makes it, with the view
    try:
        with data_dir_lock(settings):  # a view that cannot be bound is left out, as the warehouse asset does
            build_warehouse(lake, settings.warehouse_path, settings.schema, SOURCE_SPECS, unbound={})
    except DataDirBusy:
        pass
