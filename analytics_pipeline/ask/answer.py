"""A question → the model's SQL → the rows, through the SQL runner's read-only gate and limits.

The model sees the warehouse's views (``schema``) and the question. Its query runs like ``analytics-pipeline sql``
runs one (``run_query``: the gate, the time, row and memory limits); when it cannot run (refused by the gate,
unknown column, too slow, ...) or the answer holds no query, the error goes back to the model, which tries again:
at most ``MAX_ATTEMPTS`` answers per question.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from analytics_pipeline.ask.models import ChatModel, ModelError
from analytics_pipeline.ask.prompt import NO_SQL, first_messages, retry_message, sql_of
from analytics_pipeline.ask.schema import schema_text, warehouse_views
from analytics_pipeline.serving.exports import json_rows, unique_names
from analytics_pipeline.serving.sql_runner import QueryError, QueryResult, run_query
from analytics_pipeline.settings import Settings

MAX_ATTEMPTS = 3
ANSWERED, FAILED, MODEL_ERROR = "answered", "failed", "model_error"


@dataclass(frozen=True)
class Attempt:
    sql: str
    error: str  # "" when the query ran


@dataclass
class Answer:
    """What became of a question: ``outcome`` is answered, failed (no runnable SQL in ``MAX_ATTEMPTS`` answers) or
    model_error (the model could not be asked; ``error`` says why)."""

    question: str
    model: str
    endpoint: str
    asked_at: datetime
    outcome: str = FAILED
    attempts: list[Attempt] = field(default_factory=list)
    result: QueryResult | None = None
    error: str = ""
    seconds: float = 0.0
    model_seconds: float = 0.0
    query_seconds: float = 0.0

    @property
    def sql(self) -> str:
        """The last query tried (the one that ran, when answered)."""
        return next((a.sql for a in reversed(self.attempts) if a.sql), "")


def ask(settings: Settings, question: str, model: ChatModel) -> Answer:
    """Ask ``model`` for SQL answering ``question`` and run it; never raises for the model's or the query's failures
    (they are the answer's outcome), only for a warehouse that cannot be read at all (QueryError)."""
    started = time.perf_counter()
    asked_at = datetime.now(timezone.utc).replace(tzinfo=None)
    answer = Answer(question, model.name, getattr(model, "endpoint", ""), asked_at)
    messages = first_messages(schema_text(warehouse_views(settings)), question)
    try:
        for _ in range(MAX_ATTEMPTS):
            asked = time.perf_counter()
            reply = model.chat(messages)
            answer.model_seconds += time.perf_counter() - asked
            sql, error = sql_of(reply), NO_SQL
            if sql:
                ran = time.perf_counter()
                try:
                    answer.result = run_query(settings, sql, truncate=True)
                    error = ""
                except QueryError as err:
                    error = str(err)
                answer.query_seconds += time.perf_counter() - ran
            answer.attempts.append(Attempt(sql, error))
            if not error:
                answer.outcome = ANSWERED
                break
            answer.error = error
            messages += [{"role": "assistant", "content": reply}, retry_message(error)]
    except ModelError as err:
        answer.outcome, answer.error = MODEL_ERROR, str(err)
    if answer.outcome == ANSWERED:
        answer.error = ""
    answer.seconds = time.perf_counter() - started
    return answer


def summary(answer: Answer) -> str:
    """One line: rows, time (model and query), attempts, model."""
    tries = f"{len(answer.attempts)} attempt{'s' if len(answer.attempts) != 1 else ''}"
    rows = f"{len(answer.result.rows):,} rows" if answer.result is not None else answer.outcome.replace("_", " ")
    return (f"{rows} in {answer.seconds:.1f} s (model {answer.model_seconds:.1f} s, "
            f"query {answer.query_seconds:.2f} s); {tries}; model {answer.model}")


def failure(answer: Answer) -> str:
    """Why a question got no rows, in one line."""
    if answer.outcome == MODEL_ERROR:
        return answer.error
    return f"no query that runs in {len(answer.attempts)} answers of the model; the last: {answer.error}"


def as_json(answer: Answer) -> dict:
    """The answer for programs (``ask --format json``): rows keyed by column as ``sql --format json`` gives them."""
    result = answer.result
    return {
        "question": answer.question, "outcome": answer.outcome, "sql": answer.sql or None,
        "columns": result.columns if result is not None else None,
        "rows": json_rows(unique_names(result.columns), result.rows) if result is not None else None,
        "truncated": (result.truncated or None) if result is not None else None,
        "error": failure(answer) if answer.outcome != ANSWERED else None,
        "attempts": len(answer.attempts), "seconds": round(answer.seconds, 3),
        "model_seconds": round(answer.model_seconds, 3), "query_seconds": round(answer.query_seconds, 3),
        "model": answer.model,
    }
