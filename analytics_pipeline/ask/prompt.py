"""What is said to the language model, and how its SQL is read from what it answers.

The system message puts what changes between questions (the time) last, so an endpoint that caches prompt prefixes
can reuse the rules and the schema.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

SYSTEM = """You translate questions about an analytics warehouse into one DuckDB SQL query.

Rules:
- Answer with exactly one read-only query (SELECT or WITH ... SELECT) in a ```sql code block, nothing else.
- Read only the views listed below, by their names as given; no files, URLs or table functions (range and
  generate_series are allowed).
- DuckDB SQL: date_trunc, date_diff('day', a, b), current_date, interval '7 days', quantile_cont, FILTER (WHERE ...),
  QUALIFY, list and struct functions.
- Prefer a mart or summary view over recomputing from raw change records when one holds the answer.
- Keep full precision: do not round unless the question asks for it. Rates and shares are fractions 0 to 1 unless
  the question asks for a percentage.
- Name every computed column.
- Order the rows when the question asks for a ranking or a "top N"; add LIMIT for "top N".
- Times are UTC; "today" is current_date.

The warehouse's views:

{schema}

Now is {now} UTC.
"""

RETRY = """That query failed: {error}

Write a corrected query for the same question, again as one ```sql code block."""

NO_SQL = "the answer holds no SQL query"

_FENCED = re.compile(r"```[ \t]*(?:sql|duckdb|postgresql|postgres)?[ \t]*\n(.*?)```", re.IGNORECASE | re.DOTALL)
_THINKING = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.IGNORECASE | re.DOTALL)
_BARE_QUERY = re.compile(r"^\s*(SELECT|WITH|FROM)\b", re.IGNORECASE)


def first_messages(schema: str, question: str, now: datetime | None = None) -> list[dict[str, str]]:
    now = now or datetime.now(timezone.utc)
    system = SYSTEM.format(schema=schema, now=now.strftime("%Y-%m-%d %H:%M"))
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def retry_message(error: str) -> dict[str, str]:
    return {"role": "user", "content": RETRY.format(error=error)}


def sql_of(answer: str) -> str:
    """The query in a model's answer: its (last) fenced code block, or the whole answer when that is bare SQL.
    A reasoning model's ``<think>`` block is left out. "" when there is none."""
    text = _THINKING.sub("", answer or "").strip()
    blocks = [b.strip() for b in _FENCED.findall(text) if b.strip()]
    if blocks:
        return blocks[-1]
    return text if _BARE_QUERY.match(text) else ""
