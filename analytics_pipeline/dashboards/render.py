"""HTML pages: one per dashboard and an index. KPI cards, tables and errors are HTML written here; every chart is a
``<canvas>`` that ``static/dashboard.js`` draws with Chart.js from the dashboard document embedded in the page (the
same JSON ``serve`` answers ``/api/v1/dashboards/<id>`` with), so a page works from ``serve`` and opened from disk.

The page loads its style and scripts from ``<root>static/`` (``root``: the way from the page to the site's top,
``../`` for ``site/dashboards/<id>.html``); nothing inline but JSON data blocks, so the server's
Content-Security-Policy can stay ``script-src 'self'; style-src 'self'``. Export links point at the ``serve`` API.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

from analytics_pipeline.dashboards.entities import document_api_path
from analytics_pipeline.dashboards.formatting import currency_prefix, format_money, format_value, money_decimals

STATIC_DIR = Path(__file__).parent / "static"
STATUS_LABELS = {"ready": "Ready", "partial": "Some widgets failed", "failed": "Failed"}
SCRIPTS = ("chart.umd.min.js", "chartjs-chart-matrix.min.js", "dashboard.js")  # in this order: the plugin needs Chart
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def static_files() -> list[str]:
    """The names of the files under ``static/`` the pages may load (scripts, style) or that go with them (licences)."""
    return sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def _page(title: str, header: str, body: str, root: str, scripts: tuple[str, ...] = ()) -> str:
    tags = "".join(f'<script src="{root}static/{name}" defer></script>' for name in scripts)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<link rel=\"stylesheet\" href=\"{root}static/dashboard.css\">{tags}</head>"
            f"<body>{header}{body}</body></html>\n")


def json_block(element_id: str, value) -> str:
    """A JSON data block (not a script: CSP does not apply); ``<``, ``>`` and ``&`` escaped, so it cannot end early."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_dashboard(doc: dict, root: str = "../") -> str:
    chips = "".join(f"<span>{escape(doc[k])}</span>" for k in ("audience", "category"))
    header = (
        f'<header class="top"><div><div class="crumb"><a href="{root}index.html">Dashboards</a> / '
        f'{escape(doc["category"])}</div><h1>{escape(doc["title"])}</h1><div class="chips">{chips}</div></div>'
        f'<div class="stamp">{_badge(doc["status"])}<br>Data through <b>{escape(_when(doc["data_through"]))}</b>'
        f'<br>Generated {escape(_when(doc["generated_at"]))}</div></header>')
    description = f'<p class="desc-bar">{escape(doc["description"])}</p>' if doc["description"] else ""
    cards = "".join(_card(w) for w in doc["widgets"])
    exports = " · ".join(f'{escape(t)} (<a href="/api/v1/export/{escape(t)}.csv">CSV</a>, '
                         f'<a href="/api/v1/export/{escape(t)}.json">JSON</a>)' for t in doc["tables"])
    api = escape(document_api_path(doc))  # an entity's page: its own document, not the all-entities one
    footer = (f'<footer><div class="exports">Export: {exports}</div>'
              f'<div>Widget data: <a href="{api}">{api}</a> · {doc["widget_count"]} widgets, '
              f'{doc["widgets_failed"]} failed · generated in {doc["generation_ms"]:.0f} ms</div></footer>')
    noscript = '<noscript><p class="noscript">The charts are drawn by JavaScript, which is off.</p></noscript>'
    data = json_block("dashboard-document", doc) + json_block("dashboard-formats", _formats(doc))
    return _page(f'{doc["title"]} · dashboards', header,
                 f'{noscript}{description}<main class="grid">{cards}</main>{footer}{data}', root, SCRIPTS)


def render_index(docs: list[dict], root: str = "") -> str:
    header = ('<header class="top"><div><div class="crumb">analytics_pipeline</div><h1>Dashboards</h1>'
              f'<div class="chips"><span>{len(docs)} dashboards</span></div></div></header>')
    sections = []
    for category in sorted({d["category"] for d in docs}):
        cards = []
        for d in sorted((d for d in docs if d["category"] == category), key=lambda d: (d["audience"], d["title"])):
            failed = f', {d["widgets_failed"]} failed' if d["widgets_failed"] else ""
            cards.append(
                f'<div class="card" data-dashboard="{escape(d["id"])}"><h2><a href="{root}dashboards/'
                f'{escape(d["id"])}.html">{escape(d["title"])}</a></h2><div class="chips">{_badge(d["status"])} '
                f'<span class="sub">for {escape(d["audience"])}</span></div>'
                f'<p class="desc">{escape(d["description"])}</p><div class="meta">{d["widget_count"]} widgets'
                f'{failed} · data through '
                f'{escape(_when(d["data_through"]))} · generated {escape(_when(d["generated_at"]))} · '
                f'<a href="/api/v1/dashboards/{escape(d["id"])}">JSON</a></div></div>')
        sections.append(f'<h2 class="category">{escape(category)}</h2><div class="index-grid">{"".join(cards)}</div>')
    return _page("Dashboards", header, "".join(sections) or '<p class="empty">No dashboards generated yet.</p>', root)


def _formats(doc: dict) -> dict:
    """What the page script needs beside the document: the prefix of each currency, as the HTML writes it."""
    codes = {_currency(w) for w in doc["widgets"]}
    return {"currency_symbols": {code: currency_prefix(code) for code in sorted(codes)}}


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(STATUS_LABELS.get(status, status))}</span>'


def _when(value) -> str:
    if not value:
        return "—"
    text = str(value).replace("T", " ")
    return text[:16] + " UTC" if "+00:00" in text or len(text) >= 16 else text


def _card(w: dict) -> str:
    kind = w["type"].split("-")[0]
    head = f'<h3>{escape(w["title"])}</h3>' + (f'<p class="desc">{escape(w["description"])}</p>' if w["description"] else "")
    attrs = f'data-widget="{escape(w["id"])}" data-type="{escape(w["type"])}" data-status="{escape(w["status"])}"'
    if w["status"] != "ready":
        return (f'<section class="card span-{w["span"]} {kind} failed" {attrs}>{head}<div class="error">'
                f'This widget could not be computed.<code>{escape(w["error"] or "")}</code></div></section>')
    try:
        body = {"kpi-card": _kpi, "bar-chart": _chart, "line-chart": _chart, "pie-chart": _pie, "table": _table,
                "gauge": _gauge, "heatmap": _heatmap, "budget-bar": _budget}[w["type"]](w)
    except Exception as err:  # noqa: BLE001 - a widget that cannot be drawn must not take the page down
        body = f'<div class="error">This widget could not be drawn.<code>{escape(type(err).__name__)}: {escape(str(err))}</code></div>'
    return f'<section class="card span-{w["span"]} {kind}" {attrs}>{head}{body}</section>'


def _currency(w: dict) -> str:
    """The widget's currency: its data's (a budget's), else its options' (resolved when generated), else USD."""
    return (w.get("data") or {}).get("currency") or w["options"].get("currency") or "USD"


def _canvas(w: dict) -> str:
    """Where ``dashboard.js`` draws the widget's chart."""
    return (f'<div class="chart-box" data-chart="{escape(w["id"])}"><canvas role="img" '
            f'aria-label="{escape(w["title"])}"></canvas></div>')


def _empty(text: str = "No data yet") -> str:
    return f'<div class="empty">{escape(text)}</div>'


def _kpi(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    sub = []
    if d["target"] is not None:
        ok = d["meets_target"]
        cls = "" if ok is None else "good" if ok else "bad"
        sub.append(f'<span class="{cls}">target {escape(format_value(d["target"], d["format"], cur))}</span>')
    if d["change"] is not None:
        arrow = "▲" if d["change"] >= 0 else "▼"
        sub.append(f'{arrow} {abs(d["change"]):.0%} {escape(d["compare_label"])} '
                   f'({escape(format_value(d["compare"], d["format"], cur))})')
    details = "".join(f'<dt>{escape(x["label"])}</dt><dd>{escape(format_value(x["value"], x["format"], cur))}</dd>'
                      for x in d["details"])
    return (f'<div class="value">{escape(format_value(d["value"], d["format"], cur))}</div>'
            f'<div class="sub">{" · ".join(sub)}</div>' + (f"<dl>{details}</dl>" if details else ""))


def _chart(w: dict) -> str:
    d = w["data"]
    values = [v for ds in d["datasets"] for v in ds["data"]]
    if not d["labels"] or all(v is None for v in values):
        return _empty()
    if all(_DATE.match(x) for x in d["labels"]) and not any(values):
        # a time series of zeros (the LLM charts' 30 days without a run): no chart of a flat line
        return _empty(f'Nothing recorded from {d["labels"][0]} to {d["labels"][-1]}: every day is zero')
    return _canvas(w)  # dashboard.js starts a daily axis at the first day with data


def _pie(w: dict) -> str:
    if not sum(v or 0 for v in w["data"]["datasets"][0]["data"]):
        return _empty()
    return _canvas(w)


def _table(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    if not d["rows"]:
        return _empty()
    columns = d["columns"]
    numeric = [c["format"] not in ("text", "date") for c in columns]
    decimals = [money_decimals([row[i] for row in d["rows"]]) if c["format"] == "currency" else None
                for i, c in enumerate(columns)]  # one precision per money column
    head = "".join(f'<th class="{"num" if n else ""}">{escape(c["label"])}</th>' for c, n in zip(columns, numeric))
    rows = "".join(
        "<tr>" + "".join(_td(format_money(v, cur, places) if places is not None else format_value(v, c["format"], cur),
                             c["label"], n)
                         for v, c, n, places in zip(row, columns, numeric, decimals)) + "</tr>"
        for row in d["rows"])
    more = ""
    if d["total_rows"] > len(d["rows"]):
        more = (f'<div class="more">Showing the first {len(d["rows"])} of {d["total_rows"]} rows '
                f'(options.limit); every row: the export links below.</div>')
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{more}'


def _td(text: str, label: str, numeric: bool) -> str:
    cls = "num" if numeric else "nowrap" if len(text) <= 24 else ""
    return f'<td class="{cls}" data-label="{escape(label)}">{escape(text)}</td>'


def _gauge(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    if d["value"] is None:
        return _empty()
    target = ""
    if d["target"] is not None:
        good = d["value"] >= d["target"] if d["direction"] != "lower" else d["value"] <= d["target"]
        target = (f'<div class="sub"><span class="{"good" if good else "bad"}">target '
                  f'{escape(format_value(d["target"], d["format"], cur))}</span></div>')
    return (f'{_canvas(w)}<div class="gauge-value">{escape(format_value(d["value"], d["format"], cur))}</div>'
            f'<div class="gauge-range"><span>{escape(format_value(d["min"], d["format"], cur))}</span>'
            f'<span>{escape(format_value(d["max"], d["format"], cur))}</span></div>{target}')


def _heatmap(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    if not d["datasets"][0]["data"]:
        return _empty()
    scale = (f'<div class="scale"><span>{escape(format_value(d["min"], d["format"], cur))}</span><i></i>'
             f'<span>{escape(format_value(d["max"], d["format"], cur))}</span></div>')
    return _canvas(w) + scale


def _budget(w: dict) -> str:
    d = w["data"]
    cur = _currency(w)
    if d["limit"] is None:
        return _empty("No monthly budget configured (ANALYTICS_MONTHLY_BUDGET)")
    used = f'{d["ratio"]:.0%}' if d["ratio"] is not None else "over budget" if d["level"] == "critical" else "0%"
    money = {key: escape(format_value(d[key], d["format"], cur)) for key in ("value", "limit", "remaining")}
    figures = (f'<div class="figures"><span>Spent this month<b>{money["value"]}</b></span>'
               f'<span>Budget<b>{money["limit"]}</b></span><span>Remaining<b>{money["remaining"]}</b></span>'
               f'<span>Used<b class="level-{escape(d["level"])}">{used}</b></span></div>')
    return figures + _canvas(w)
