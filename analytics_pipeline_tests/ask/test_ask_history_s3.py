"""The ask log on an S3 lake (moto on 127.0.0.1): written like every lake file, served as ``ask_history``, and each
new question read by the view without rebuilding it."""

from __future__ import annotations

from datetime import datetime

from analytics_pipeline.ask.answer import Answer, Attempt
from analytics_pipeline.ask.history import record
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.serving.warehouse import build_warehouse
from analytics_pipeline.sources.registry import SOURCE_SPECS
from analytics_pipeline_tests.lakes import lake_root


def test_questions_are_kept_in_an_s3_lake_and_served(s3_lake_env):
    settings, lake = s3_lake_env, lake_root(s3_lake_env)
    first = Answer("How many claims?", "m1", "http://127.0.0.1:1/v1", datetime(2026, 12, 1, 9), outcome="answered",
                   attempts=[Attempt("SELECT 1", "")], seconds=1.5)
    key = record(settings, first)  # before any warehouse exists: the first run will serve it
    assert key.startswith("ask_log/2026-12-01/ask-20261201T090000-") and lake.exists(key)
    assert "ask_history" in build_warehouse(lake, settings.warehouse_path, settings.schema, SOURCE_SPECS)

    second = Answer("Which region?", "m2", "plugin:p:f", datetime(2026, 12, 2, 10), outcome="failed",
                    attempts=[Attempt("SELEC 1", "cannot parse"), Attempt("", "the answer holds no SQL query")],
                    error="the answer holds no SQL query")
    record(settings, second)
    rows = run_query(settings, "SELECT question, outcome, attempts, sql, error, model, tries FROM ask_history "
                               "ORDER BY asked_at").rows
    assert rows == [
        ("How many claims?", "answered", 1, "SELECT 1", None, "m1", [{"sql": "SELECT 1", "error": None}]),
        ("Which region?", "failed", 2, "SELEC 1", "the answer holds no SQL query", "m2",
         [{"sql": "SELEC 1", "error": "cannot parse"}, {"sql": None, "error": "the answer holds no SQL query"}]),
    ]
    assert len([f for f in lake.list_files("ask_log") if f.key.endswith(".parquet")]) == 2
