"""Numbers as a reader expects them: thousands separators, currency symbols, percentages, durations."""

from __future__ import annotations

import datetime as dt
import math

from analytics_pipeline.currencies import symbol as currency_symbol


def format_value(value, fmt: str = "number", currency: str = "USD") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)) or fmt in ("text", "date"):
        return _text(value, fmt)
    if fmt == "percent":
        return f"{value * 100:.1f}%"
    if fmt == "currency":
        sign = "-" if value < 0 else ""
        return f"{sign}{currency_symbol(currency)}{_money(abs(value))}"
    if fmt == "ms":
        return _duration(value / 1000.0)
    if fmt == "seconds":
        return _duration(value)
    if fmt == "minutes":
        return _duration(value * 60.0)
    if fmt == "integer" or (fmt == "number" and float(value).is_integer() and abs(value) >= 1):
        return f"{round(value):,}"
    if fmt == "decimal":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def _money(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 1 or value == 0 or round(value, 2) == value:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def _duration(seconds: float) -> str:
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    if abs(seconds) < 3600:
        return f"{seconds / 60:.1f} min"
    if abs(seconds) < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _text(value, fmt: str) -> str:
    text = str(value)
    if isinstance(value, str) and len(text) >= 19 and text[10:11] == "T":  # ISO timestamps read better with a space
        text = text[:19].replace("T", " ")
    return text


def short_date_labels(labels: list[str]) -> list[str]:
    """``2026-11-07`` → ``11-07`` (the seed's MM-DD axis) when every label is a date of one year."""
    try:
        days = [dt.date.fromisoformat(x) for x in labels]
    except (TypeError, ValueError):
        return labels
    if not days or len({d.year for d in days}) != 1:
        return labels
    return [d.strftime("%m-%d") for d in days]


def currency_prefix(currency: str) -> str:
    """What ``format_value`` writes before an amount in ``currency``: ``£``, ``$``, ``CHF ``."""
    return format_value(1.0, "currency", currency).removesuffix("1.00")


def money_decimals(values: list) -> int:
    """One precision for a column of amounts: cents when any amount is a unit or more, else enough decimals for
    two significant digits of the smallest (at most 6): ``£0.00015`` beside ``£0.00150``, not ``£0.0002``."""
    amounts = [abs(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v]
    if not amounts or max(amounts) >= 1:
        return 2
    return min(6, max(2, 1 - math.floor(math.log10(min(amounts)))))


def format_money(value, currency: str, decimals: int) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return format_value(value, "currency", currency)
    return f"{'-' if value < 0 else ''}{currency_prefix(currency)}{abs(value):,.{decimals}f}"
