"""Asset metadata a person reads in the Dagster UI: small tables and bar charts in Markdown."""

from __future__ import annotations

import dagster as dg
import duckdb

_BAR_WIDTH = 30


def markdown_table(con: duckdb.DuckDBPyConnection, query: str, limit: int = 20) -> dg.MetadataValue:
    cursor = con.execute(f"SELECT * FROM ({query}) LIMIT {limit}")
    return markdown_rows([d[0] for d in cursor.description], cursor.fetchall())


def markdown_rows(names: list[str], rows: list[tuple], limit: int = 20) -> dg.MetadataValue:
    """Rows already in hand as a Markdown table (the first ``limit`` of them)."""
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:limit]]
    return dg.MetadataValue.md("\n".join(lines))


def markdown_bars(con: duckdb.DuckDBPyConnection, query: str, title: str) -> dg.MetadataValue:
    """A horizontal bar chart of a (label, value) query, drawn with block characters."""
    return dg.MetadataValue.md(bar_chart_markdown(con.execute(query).fetchall(), title))


def bar_chart_markdown(rows: list[tuple], title: str, fmt=None) -> str:
    """(label, value) rows as horizontal bars of block characters; ``fmt`` formats the values."""
    fmt = fmt or _cell
    top = max((float(v or 0) for _, v in rows), default=0.0) or 1.0
    lines = [f"**{title}**", "", "```"]
    width = max((len(str(label)) for label, _ in rows), default=0)
    for label, value in rows:
        bar = "█" * max(1 if value else 0, round(_BAR_WIDTH * float(value or 0) / top))
        lines.append(f"{str(label).ljust(width)}  {bar} {fmt(value)}")
    lines.append("```")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else str(value).replace("|", "\\|")
