"""Query results → widget data: Chart.js v4 ``{labels, datasets}`` for charts, and KPI, table, gauge,
heatmap (the chartjs-chart-matrix ``{x, y, v}`` points) and budget shapes.

Each builder reads its columns from the widget's ``options`` (``x``, ``series``, ``pivot``, ``value``, ...)
and falls back to the column order of the query, so a plain ``SELECT label, value`` needs no options.
"""

from __future__ import annotations

from analytics_pipeline.dashboards.definition import Widget
from analytics_pipeline.serving.exports import json_value

PALETTE = ["#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7",
           "#9C755F", "#BAB0AC"]


class WidgetDataError(ValueError):
    """The query ran but its result does not fit the widget (e.g. a column named in options is missing)."""


def label(name: str, options: dict) -> str:
    return (options.get("labels") or {}).get(name) or name.replace("_", " ").capitalize()


def widget_data(widget: Widget, columns: list[str], rows: list[tuple]) -> dict:
    rows = [tuple(json_value(v) for v in row) for row in rows]
    builder = {"kpi-card": _kpi, "bar-chart": _chart, "line-chart": _chart, "pie-chart": _pie, "table": _table,
               "gauge": _gauge, "heatmap": _heatmap, "budget-bar": _budget}[widget.type]
    return builder(widget, columns, rows)


def _column(columns: list[str], options: dict, key: str, default_index: int) -> str:
    name = options.get(key)
    if name is None:
        if default_index >= len(columns):
            raise WidgetDataError(f"the query returns {len(columns)} column(s); this widget needs at least "
                                  f"{default_index + 1}")
        return columns[default_index]
    if name not in columns:
        raise WidgetDataError(f"options.{key}: column {name!r} is not in the result ({', '.join(columns)})")
    return name


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _kpi(widget: Widget, columns, rows) -> dict:
    o = widget.options
    value_col = _column(columns, o, "value", 0)
    row = dict(zip(columns, rows[0])) if rows else {}
    compare_col = o.get("compare")
    if compare_col is not None:
        _column(columns, o, "compare", 0)
    shown = o["details"] if "details" in o else [c for c in columns if c not in (value_col, compare_col)]
    missing = [c for c in shown if c not in columns]
    if missing:
        raise WidgetDataError(f"options.details: column(s) {', '.join(missing)} not in the result")
    value, target = row.get(value_col), o.get("target")
    higher_is_better = o.get("direction", "higher") != "lower"
    meets = None
    if target is not None and _number(value) is not None:
        meets = value >= target if higher_is_better else value <= target
    change = None
    if compare_col and _number(value) is not None and _number(row.get(compare_col)):
        change = (value - row[compare_col]) / abs(row[compare_col])
    return {"value": value, "format": o.get("format", "number"), "target": target, "meets_target": meets,
            "compare": row.get(compare_col) if compare_col else None, "change": change,
            "compare_label": o.get("compare_label", "vs previous"),
            "details": [{"label": label(c, o), "value": row.get(c),
                         "format": (o.get("formats") or {}).get(c, "number")} for c in shown]}


def _chart(widget: Widget, columns, rows) -> dict:
    o = widget.options
    x = _column(columns, o, "x", 0)
    xi = columns.index(x)
    labels = _unique([r[xi] for r in rows])
    if o.get("pivot"):
        group = _column(columns, o, "pivot", 1)
        y = _column(columns, o, "y", next((i for i, c in enumerate(columns) if c not in (x, group)), len(columns)))
        gi, yi = columns.index(group), columns.index(y)
        by_key = {(r[xi], r[gi]): r[yi] for r in rows}
        series = [(str(g), [by_key.get((lab, g)) for lab in labels]) for g in _unique([r[gi] for r in rows])]
    else:
        names = o.get("series") or [c for c in columns if c != x]
        for name in names:
            if name not in columns:
                raise WidgetDataError(f"options.series: column {name!r} is not in the result ({', '.join(columns)})")
        if not names:
            raise WidgetDataError("a chart needs a label column and at least one value column")
        series = [(label(n, o), [r[columns.index(n)] for r in rows]) for n in names]
    chart_type = "line" if widget.type == "line-chart" else "bar"
    datasets = []
    for n, (name, data) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        datasets.append({"label": name, "data": [_number(v) for v in data], "borderColor": colour,
                         "backgroundColor": colour + ("33" if chart_type == "line" else "")})
    return {"chart_type": chart_type, "labels": [_label_text(v) for v in labels], "datasets": datasets,
            "format": o.get("format", "number"), "stacked": bool(o.get("stacked")),
            "horizontal": bool(o.get("horizontal")), "x_label": o.get("x_label", label(x, o)),
            "y_label": o.get("y_label", "")}


def _pie(widget: Widget, columns, rows) -> dict:
    o = widget.options
    li = columns.index(_column(columns, o, "label", 0))
    vi = columns.index(_column(columns, o, "value", 1))
    colours = [PALETTE[n % len(PALETTE)] for n in range(len(rows))]
    return {"chart_type": "doughnut" if o.get("donut", True) else "pie",
            "labels": [_label_text(r[li]) for r in rows],
            "datasets": [{"label": label(columns[vi], o), "data": [_number(r[vi]) for r in rows],
                          "backgroundColor": colours}],
            "format": o.get("format", "number")}


def _table(widget: Widget, columns, rows) -> dict:
    o = widget.options
    limit = int(o.get("limit", 50))
    formats = o.get("formats") or {}
    return {"columns": [{"name": c, "label": label(c, o), "format": formats.get(c, _guess_format(rows, i))}
                        for i, c in enumerate(columns)],
            "rows": [list(r) for r in rows[:limit]], "total_rows": len(rows)}


def _gauge(widget: Widget, columns, rows) -> dict:
    o = widget.options
    value = rows[0][columns.index(_column(columns, o, "value", 0))] if rows else None
    low, high = o.get("min", 0), o.get("max", 100)
    return {"value": _number(value), "min": low, "max": high, "target": o.get("target"),
            "direction": o.get("direction", "higher"), "format": o.get("format", "number")}


def _heatmap(widget: Widget, columns, rows) -> dict:
    o = widget.options
    xi, yi, vi = (columns.index(_column(columns, o, key, n)) for n, key in enumerate(("x", "y", "value")))
    x_labels = [str(v) for v in (o.get("x_order") or _natural(_unique([r[xi] for r in rows])))]
    y_labels = [str(v) for v in (o.get("y_order") or _unique([r[yi] for r in rows]))]
    points = [{"x": _label_text(r[xi]), "y": _label_text(r[yi]), "v": _number(r[vi])} for r in rows]
    values = [p["v"] for p in points if p["v"] is not None]
    return {"x_labels": x_labels, "y_labels": y_labels,
            "datasets": [{"label": label(columns[vi], o), "data": points}],
            "min": min(values, default=None), "max": max(values, default=None), "format": o.get("format", "number"),
            "x_label": o.get("x_label", label(columns[xi], o)), "y_label": o.get("y_label", label(columns[yi], o))}


def _budget(widget: Widget, columns, rows) -> dict:
    o = widget.options
    row = rows[0] if rows else ()
    spent = _number(row[columns.index(_column(columns, o, "value", 0))]) if row else None
    budget = _number(row[columns.index(_column(columns, o, "limit", 1))]) if row else None
    warn, alert = o.get("warn_at", 0.7), o.get("alert_at", 0.9)
    if spent is None or budget is None:
        ratio, level = None, "none"
    elif budget > 0:
        ratio = spent / budget
        level = "critical" if ratio >= alert else "warning" if ratio >= warn else "ok"
    else:  # a zero budget is a budget: any spend exceeds it
        ratio, level = None, "critical" if spent > 0 else "ok"
    return {"value": spent, "limit": budget, "ratio": ratio, "level": level, "warn_at": warn, "alert_at": alert,
            "remaining": budget - spent if level != "none" else None, "format": o.get("format", "currency"),
            "currency": o.get("currency", "USD")}


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


def _natural(values: list) -> list:
    return sorted(values) if values and all(isinstance(v, (int, float)) for v in values) else values


def _label_text(value) -> str:
    return "(none)" if value is None else str(value)


def _guess_format(rows: list[tuple], index: int) -> str:
    sample = next((r[index] for r in rows if r[index] is not None), None)
    if isinstance(sample, bool) or not isinstance(sample, (int, float)):
        return "text"
    return "integer" if isinstance(sample, int) else "decimal"
