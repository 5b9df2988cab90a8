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


def human_number(value: float) -> str:
    """A float as people read it: at most 4 decimals (39.4104, 0.25, 1234567.5), 3 significant digits below
    0.001 (0.000123); no exponent. Machines (csv, json) get every digit instead."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value and abs(value) < 0.001:
        return f"{value:.3g}"
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def rounded(value: float | None, digits: int = 4) -> dg.MetadataValue:
    """A float metadata value rounded for the UI (0.1234 rather than 0.12341234000000002)."""
    return dg.MetadataValue.float(float("nan") if value is None else round(float(value), digits))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return "NULL" if value is None else str(value).replace("|", "\\|")
