"""Charts drawn as inline SVG by this project (no JavaScript, no CDN): bars, lines, doughnuts, gauges,
heatmaps and the budget bar. Every mark carries a ``<title>`` so the browser shows its value on hover."""

from __future__ import annotations

import math
from html import escape

from analytics_pipeline.dashboards.formatting import format_value, short_date_labels

AXIS, GRID, TEXT, MUTED = "#9aa5b1", "#e6eaef", "#1f2933", "#616e7c"
FONT = 'font-family="Inter, Segoe UI, Helvetica, Arial, sans-serif"'
LEVEL_COLOURS = {"ok": "#2f9e44", "warning": "#f59f00", "critical": "#e03131", "none": "#adb5bd"}


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
            f'preserveAspectRatio="xMidYMid meet" {FONT} font-size="12">' + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 12, fill: str = MUTED,
          extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" {extra}>'
            f"{escape(text)}</text>")


def nice_ticks(low: float, high: float, count: int = 5, whole: bool = False) -> list[float]:
    """Round axis ticks covering [low, high]; ``whole``: counts, so no step below 1."""
    if high == low:
        high = low + (abs(low) or 1)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1, math.ceil(step))
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _value_axis(values: list[float], fmt: str, stacked_totals: list[float] | None = None) -> list[float]:
    finite = [v for v in (stacked_totals or values) if v is not None]
    low, high = min(finite + [0.0]), max(finite + [0.0])
    return nice_ticks(low, high, whole=fmt == "integer")


def bar_or_line_chart(data: dict, width: int, height: int, currency: str) -> str:
    labels = short_date_labels(data["labels"])
    datasets, fmt = data["datasets"], data.get("format", "number")
    if data.get("horizontal") and data["chart_type"] == "bar":
        return _horizontal_bars(labels, datasets, fmt, width, currency)
    line, stacked = data["chart_type"] == "line", data.get("stacked") and data["chart_type"] == "bar"
    values = [v for ds in datasets for v in ds["data"] if v is not None]
    totals = [sum(ds["data"][i] or 0 for ds in datasets) for i in range(len(labels))] if stacked else None
    ticks = _value_axis(values, fmt, totals)
    y_label_width = max(len(format_value(t, fmt, currency, compact=True)) for t in ticks) * 7 + 14
    left, right, top, bottom = max(44, y_label_width), 14, 12, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = ticks[0], ticks[-1]

    def y(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    body = []
    for t in ticks:
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y(t) + 4, format_value(t, fmt, currency, compact=True), "end", 11))
    body.append(f'<line x1="{left}" x2="{width - right}" y1="{y(max(lo, 0)):.1f}" y2="{y(max(lo, 0)):.1f}" '
                f'stroke="{AXIS}"/>')
    n = max(len(labels), 1)
    slot = plot_w / n
    every = max(1, math.ceil(n / max(1, plot_w // 58)))
    for i, lab in enumerate(labels):
        if i % every == 0:
            body.append(_text(left + slot * (i + 0.5), height - bottom + 16,
                              _clip(lab, max(4, int(slot * every / 6.5))), size=11))
    if data.get("x_label"):
        body.append(_text(left + plot_w / 2, height - 6, data["x_label"], size=11, fill=TEXT))
    if line:
        for ds in datasets:
            points = [(left + slot * (i + 0.5), y(v), v, labels[i]) for i, v in enumerate(ds["data"]) if v is not None]
            if not points:
                continue
            path = " ".join(f"{'M' if k == 0 else 'L'}{px:.1f},{py:.1f}" for k, (px, py, _, _) in enumerate(points))
            if len(datasets) == 1:
                base = y(max(lo, 0))
                area = path + f" L{points[-1][0]:.1f},{base:.1f} L{points[0][0]:.1f},{base:.1f} Z"
                body.append(f'<path d="{area}" fill="{ds["borderColor"]}" fill-opacity="0.12" stroke="none"/>')
            body.append(f'<path class="mark" d="{path}" fill="none" stroke="{ds["borderColor"]}" stroke-width="2.2" '
                        f'stroke-linejoin="round"/>')
            radius = 3 if len(points) <= 45 else 1.5
            for px, py, v, lab in points:
                body.append(f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="{radius}" fill="#fff" '
                            f'stroke="{ds["borderColor"]}" stroke-width="1.6"><title>{escape(lab)} · '
                            f'{escape(ds["label"])}: {escape(format_value(v, fmt, currency))}</title></circle>')
    else:
        groups = 1 if stacked else len(datasets)
        bar_w = min(48.0, slot * 0.72 / groups)
        for i, lab in enumerate(labels):
            base = 0.0
            for k, ds in enumerate(datasets):
                v = ds["data"][i]
                if not v:
                    continue
                x0 = left + slot * i + (slot - bar_w * groups) / 2 + (0 if stacked else k * bar_w)
                start, end = (base, base + v) if stacked else (0.0, v)
                top_y, bottom_y = min(y(start), y(end)), max(y(start), y(end))
                body.append(f'<rect class="mark" x="{x0:.1f}" y="{top_y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                            f'height="{max(bottom_y - top_y, 0.5):.1f}" rx="2" fill="{ds["borderColor"]}">'
                            f'<title>{escape(lab)} · {escape(ds["label"])}: {escape(format_value(v, fmt, currency))}'
                            f"</title></rect>")
                base += v if stacked else 0
    return _svg(width, height, body, data.get("x_label", "chart"))


def _horizontal_bars(labels, datasets, fmt, width, currency) -> str:
    row_h = 26 if len(datasets) == 1 else 16 * len(datasets) + 8
    left = min(width // 3, max(len(x) for x in labels) * 7 + 16) if labels else 80
    top, bottom, right = 8, 28, 70
    height = top + bottom + row_h * len(labels)
    values = [v for ds in datasets for v in ds["data"] if v is not None]
    ticks = _value_axis(values, fmt)
    lo, hi = ticks[0], ticks[-1]
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    body = []
    for t in ticks:
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - bottom}" stroke="{GRID}"/>')
        body.append(_text(x(t), height - bottom + 16, format_value(t, fmt, currency, compact=True), size=11))
    bar_h = (row_h - 8) / len(datasets)
    for i, lab in enumerate(labels):
        y0 = top + i * row_h + 4
        body.append(_text(left - 8, y0 + (row_h - 8) / 2 + 4, _clip(lab, (left - 16) // 7), "end", 12, TEXT))
        for k, ds in enumerate(datasets):
            v = ds["data"][i]
            if v is None:
                continue
            x0, x1 = sorted((x(0 if lo <= 0 else lo), x(v)))
            body.append(f'<rect class="mark" x="{x0:.1f}" y="{y0 + k * bar_h:.1f}" width="{max(x1 - x0, 0.5):.1f}" '
                        f'height="{bar_h - 2:.1f}" rx="2" fill="{ds["borderColor"]}"><title>{escape(lab)} · '
                        f'{escape(ds["label"])}: {escape(format_value(v, fmt, currency))}</title></rect>')
            body.append(_text(x1 + 5, y0 + k * bar_h + bar_h / 2 + 3, format_value(v, fmt, currency, compact=True),
                              "start", 11))
    return _svg(width, height, body, "bar chart")


def doughnut(data: dict, size: int, currency: str) -> str:
    ds = data["datasets"][0]
    values = [max(v or 0, 0) for v in ds["data"]]
    total = sum(values)
    cx = cy = size / 2
    outer, inner = size / 2 - 4, (size / 2 - 4) * (0.58 if data["chart_type"] == "doughnut" else 0)
    body, angle = [], -math.pi / 2
    for lab, v, colour in zip(data["labels"], values, ds["backgroundColor"]):
        if v <= 0:
            continue
        sweep = 2 * math.pi * v / total
        title = f"<title>{escape(lab)}: {escape(format_value(v, data.get('format', 'number'), currency))} " \
                f"({v / total:.1%})</title>"
        if sweep >= 2 * math.pi - 1e-9:
            body.append(f'<circle class="mark" cx="{cx}" cy="{cy}" r="{(outer + inner) / 2:.1f}" fill="none" '
                        f'stroke="{colour}" stroke-width="{outer - inner:.1f}">{title}</circle>')
        else:
            body.append(f'<path class="mark" d="{_arc(cx, cy, outer, inner, angle, angle + sweep)}" fill="{colour}" '
                        f'stroke="#fff" stroke-width="1.5">{title}</path>')
        angle += sweep
    if inner:
        body.append(_text(cx, cy + 2, format_value(total, data.get("format", "number"), currency, compact=True),
                          size=20, fill=TEXT, extra='font-weight="600"'))
        body.append(_text(cx, cy + 20, "total", size=11))
    return _svg(size, size, body, "doughnut chart")


def _arc(cx, cy, r_out, r_in, a0, a1) -> str:
    large = 1 if a1 - a0 > math.pi else 0
    p = lambda r, a: f"{cx + r * math.cos(a):.2f},{cy + r * math.sin(a):.2f}"  # noqa: E731
    if r_in <= 0:
        return f"M{cx},{cy} L{p(r_out, a0)} A{r_out:.2f},{r_out:.2f} 0 {large} 1 {p(r_out, a1)} Z"
    return (f"M{p(r_out, a0)} A{r_out:.2f},{r_out:.2f} 0 {large} 1 {p(r_out, a1)} "
            f"L{p(r_in, a1)} A{r_in:.2f},{r_in:.2f} 0 {large} 0 {p(r_in, a0)} Z")


def gauge(data: dict, currency: str) -> str:
    width, height, r = 240, 150, 96
    cx, cy = width / 2, 120
    low, high, value = data["min"], data["max"], data["value"]
    fraction = 0.0 if value is None else min(max((value - low) / ((high - low) or 1), 0.0), 1.0)
    target = data.get("target")
    good = target is None or value is None or (
        value >= target if data.get("direction", "higher") != "lower" else value <= target)
    colour = LEVEL_COLOURS["ok" if good else "critical"]
    body = [f'<path d="{_arc(cx, cy, r, r - 18, math.pi, 2 * math.pi)}" fill="{GRID}"/>']
    if fraction > 0:
        body.append(f'<path class="mark" d="{_arc(cx, cy, r, r - 18, math.pi, math.pi + math.pi * fraction)}" '
                    f'fill="{colour}"><title>{escape(format_value(value, data["format"], currency))}</title></path>')
    if target is not None:
        a = math.pi + math.pi * min(max((target - low) / ((high - low) or 1), 0), 1)
        body.append(f'<line class="mark" x1="{cx + (r - 22) * math.cos(a):.1f}" y1="{cy + (r - 22) * math.sin(a):.1f}" '
                    f'x2="{cx + (r + 4) * math.cos(a):.1f}" y2="{cy + (r + 4) * math.sin(a):.1f}" stroke="{TEXT}" '
                    f'stroke-width="2.5"><title>target {escape(format_value(target, data["format"], currency))}'
                    f"</title></line>")
    body.append(_text(cx, cy - 14, format_value(value, data["format"], currency), size=24, fill=TEXT,
                      extra='font-weight="600"'))
    body.append(_text(cx - r + 9, cy + 18, format_value(low, data["format"], currency, compact=True), size=11))
    body.append(_text(cx + r - 9, cy + 18, format_value(high, data["format"], currency, compact=True), size=11))
    if target is not None:
        body.append(_text(cx, cy + 18, f"target {format_value(target, data['format'], currency)}", size=11))
    return _svg(width, height, body, "gauge")


def heatmap(data: dict, width: int, currency: str) -> str:
    xs, ys = data["x_labels"], data["y_labels"]
    left, top, bottom = min(160, max(len(v) for v in ys) * 7 + 14), 8, 58
    cell_w = (width - left - 10) / max(len(xs), 1)
    cell_h = 24
    height = top + cell_h * len(ys) + bottom
    low, high = data["min"] or 0, data["max"] or 1
    body = []
    for p in data["datasets"][0]["data"]:
        if p["x"] not in xs or p["y"] not in ys or p["v"] is None:
            continue
        i, j = xs.index(p["x"]), ys.index(p["y"])
        shade = (p["v"] - low) / ((high - low) or 1)
        body.append(f'<rect class="mark" x="{left + i * cell_w + 1:.1f}" y="{top + j * cell_h + 1}" '
                    f'width="{cell_w - 2:.1f}" height="{cell_h - 2}" rx="2" fill="{_blue(shade)}"><title>'
                    f'{escape(p["y"])} · {escape(p["x"])}: {escape(format_value(p["v"], data["format"], currency))}'
                    f"</title></rect>")
    for j, lab in enumerate(ys):
        body.append(_text(left - 6, top + j * cell_h + cell_h / 2 + 4, _clip(lab, 22), "end", 11, TEXT))
    every = max(1, math.ceil(len(xs) / max(1, (width - left) // 34)))
    for i, lab in enumerate(xs):
        if i % every == 0:
            body.append(_text(left + (i + 0.5) * cell_w, top + cell_h * len(ys) + 14,
                              _clip(lab, max(3, int(cell_w * every / 6.5))), size=11))
    legend_y = height - 22
    gradient = "".join(f'<stop offset="{k * 25}%" stop-color="{_blue(k / 4)}"/>' for k in range(5))
    body.append(f'<defs><linearGradient id="heat-{id(data)}">{gradient}</linearGradient></defs>')
    body.append(f'<rect x="{left}" y="{legend_y}" width="160" height="9" rx="2" fill="url(#heat-{id(data)})"/>')
    body.append(_text(left, legend_y + 21, format_value(low, data["format"], currency, compact=True), "start", 10))
    body.append(_text(left + 160, legend_y + 21, format_value(high, data["format"], currency, compact=True), "end", 10))
    body.append(_text(width - 10, legend_y + 8, f"{data.get('y_label', '')} × {data.get('x_label', '')}", "end", 11))
    return _svg(width, height, body, "heatmap")


def budget_bar(data: dict, width: int) -> str:
    height, left, right, top = 64, 4, 22, 14
    track = width - left - right
    ratio = data["ratio"] if data["ratio"] is not None else 1.0 if data["level"] == "critical" else 0.0
    colour = LEVEL_COLOURS[data["level"]]
    scale = max(1.0, ratio)
    body = [f'<rect x="{left}" y="{top}" width="{track}" height="18" rx="9" fill="{GRID}"/>']
    body.append(f'<rect class="mark" x="{left}" y="{top}" width="{max(track * ratio / scale, 4):.1f}" height="18" '
                f'rx="9" fill="{colour}"><title>{ratio:.1%} of the budget used</title></rect>')
    for mark in (data["warn_at"], data["alert_at"], 1.0):
        mx = left + track * mark / scale
        body.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{top - 4}" y2="{top + 22}" stroke="{MUTED}" '
                    f'stroke-dasharray="3,2"/>')
        body.append(_text(mx, top + 38, f"{mark:.0%}", size=11))
    return _svg(width, height, body, "budget")


def _blue(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    a, b = (239, 244, 250), (8, 69, 148)
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * t):02x}" for k in range(3))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
