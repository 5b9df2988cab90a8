"""Self-contained HTML: one page per dashboard and an index. Inline CSS and SVG only, so a page opens
from disk or from ``serve`` without any network; export links point at the ``serve`` API."""

from __future__ import annotations

from html import escape

from analytics_pipeline.dashboards import svg
from analytics_pipeline.dashboards.formatting import format_value

WIDTH_BY_SPAN = {1: 270, 2: 560, 3: 860, 4: 1160}
STATUS_LABELS = {"ready": "Ready", "partial": "Some widgets failed", "failed": "Failed"}

CSS = """
*{box-sizing:border-box}body{margin:0;background:#f3f5f8;color:#1f2933;font:14px/1.45 Inter,"Segoe UI",Helvetica,Arial,sans-serif}
a{color:#2563a8;text-decoration:none}a:hover{text-decoration:underline}
.top{background:#17263c;color:#fff;padding:18px 32px;display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-end;justify-content:space-between}
.top h1{margin:2px 0 4px;font-size:24px;font-weight:600;letter-spacing:-.01em}.top a{color:#9cc3ee}
.crumb{font-size:12px;color:#9fb3c8;text-transform:uppercase;letter-spacing:.06em}
.chips span{display:inline-block;margin-right:6px;padding:2px 10px;border-radius:999px;background:#25406a;color:#d8e6f6;font-size:12px}
.stamp{text-align:right;font-size:12px;color:#c9d6e3;line-height:1.6}.stamp b{color:#fff;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600}
.badge.ready{background:#d3f9d8;color:#2b8a3e}.badge.partial{background:#fff3bf;color:#b35c00}.badge.failed{background:#ffe3e3;color:#c92a2a}
.desc-bar{padding:14px 32px 0;color:#52606d;max-width:1240px}
.grid{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:16px;padding:16px 32px 24px;max-width:1260px}
.card{background:#fff;border:1px solid #e1e6ec;border-radius:10px;padding:14px 16px 12px;box-shadow:0 1px 2px rgba(16,24,40,.05);min-width:0}
.span-1{grid-column:span 1}.span-2{grid-column:span 2}.span-3{grid-column:span 3}.span-4{grid-column:span 4}
.card h3{margin:0 0 2px;font-size:13px;font-weight:600;color:#323f4b}
.card .desc{margin:0 0 8px;font-size:12px;color:#7b8794}
.kpi .value{font-size:30px;font-weight:650;letter-spacing:-.02em;margin:6px 0 2px;color:#102a43}
.kpi .sub{font-size:12px;color:#616e7c}.good{color:#2b8a3e}.bad{color:#c92a2a}
.kpi dl{display:grid;grid-template-columns:auto auto;gap:2px 10px;margin:8px 0 0;font-size:12px;color:#52606d}
.kpi dt{color:#7b8794}.kpi dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
figure.chart{margin:4px 0 0}figure.chart svg{width:100%;height:auto;display:block}
.gauge figure.chart svg{max-width:260px;margin:0 auto}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:#52606d;margin:2px 0 4px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.pie-wrap{display:flex;gap:18px;align-items:center}.pie-wrap figure{flex:0 0 190px}.pie-wrap .legend{flex-direction:column;flex:1}
.pie-wrap .legend span{display:flex;justify-content:space-between;gap:10px}.pie-wrap .legend em{font-style:normal;color:#7b8794;font-variant-numeric:tabular-nums}
table{width:100%;border-collapse:collapse;font-size:12.5px}th{text-align:left;font-weight:600;color:#52606d;border-bottom:2px solid #e1e6ec;padding:6px 8px;white-space:nowrap}
td{padding:5px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}td.nowrap{white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:#f7f9fb}.table-wrap{max-height:420px;overflow:auto}.more{font-size:12px;color:#7b8794;margin-top:6px}
.budget .figures{display:flex;gap:28px;flex-wrap:wrap;font-size:13px;margin:6px 0 2px}.budget .figures b{font-size:20px;display:block;color:#102a43}
.empty{padding:26px 8px;text-align:center;color:#9aa5b1;font-size:13px}
.card.failed{border-color:#ffc9c9;background:#fffafa}.error{color:#c92a2a;font-size:12.5px;margin-top:8px;word-break:break-word}
.error code{display:block;margin-top:4px;color:#862e2e;background:#fff0f0;padding:6px 8px;border-radius:6px;white-space:pre-wrap}
footer{padding:4px 32px 32px;color:#616e7c;font-size:12.5px;max-width:1260px}footer .exports a{margin-right:4px}
.index-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:16px;padding:16px 32px;max-width:1260px}
.index-grid .card h2{margin:0 0 4px;font-size:17px}.index-grid .meta{font-size:12px;color:#7b8794;margin-top:8px}
h2.category{margin:18px 32px 0;font-size:13px;color:#52606d;text-transform:uppercase;letter-spacing:.06em}
@media (max-width:900px){.grid{grid-template-columns:repeat(2,minmax(0,1fr))}.span-3,.span-4{grid-column:span 2}}
@media (max-width:560px){.grid{grid-template-columns:1fr}.span-1,.span-2,.span-3,.span-4{grid-column:span 1}}
"""


def _page(title: str, header: str, body: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head>"
            f"<body>{header}{body}</body></html>\n")


def render_dashboard(doc: dict) -> str:
    chips = "".join(f"<span>{escape(doc[k])}</span>" for k in ("audience", "category"))
    header = (
        '<header class="top"><div><div class="crumb"><a href="../index.html">Dashboards</a> / '
        f'{escape(doc["category"])}</div><h1>{escape(doc["title"])}</h1><div class="chips">{chips}</div></div>'
        f'<div class="stamp">{_badge(doc["status"])}<br>Data through <b>{escape(_when(doc["data_through"]))}</b>'
        f'<br>Generated {escape(_when(doc["generated_at"]))}</div></header>')
    description = f'<p class="desc-bar">{escape(doc["description"])}</p>' if doc["description"] else ""
    cards = "".join(_card(w) for w in doc["widgets"])
    exports = " · ".join(f'{escape(t)} (<a href="/api/v1/export/{escape(t)}.csv">CSV</a>, '
                         f'<a href="/api/v1/export/{escape(t)}.json">JSON</a>)' for t in doc["tables"])
    footer = (f'<footer><div class="exports">Export: {exports}</div>'
              f'<div>Widget data: <a href="/api/v1/dashboards/{escape(doc["id"])}">/api/v1/dashboards/'
              f'{escape(doc["id"])}</a> · {doc["widget_count"]} widgets, {doc["widgets_failed"]} failed · '
              f'generated in {doc["generation_ms"]:.0f} ms</div></footer>')
    return _page(f'{doc["title"]} · dashboards', header, f'{description}<main class="grid">{cards}</main>{footer}')


def render_index(docs: list[dict]) -> str:
    header = ('<header class="top"><div><div class="crumb">analytics_pipeline</div><h1>Dashboards</h1>'
              f'<div class="chips"><span>{len(docs)} dashboards</span></div></div></header>')
    sections = []
    for category in sorted({d["category"] for d in docs}):
        cards = []
        for d in sorted((d for d in docs if d["category"] == category), key=lambda d: (d["audience"], d["title"])):
            failed = f', {d["widgets_failed"]} failed' if d["widgets_failed"] else ""
            cards.append(
                f'<div class="card" data-dashboard="{escape(d["id"])}"><h2><a href="dashboards/{escape(d["id"])}.html">'
                f'{escape(d["title"])}</a></h2><div class="chips">{_badge(d["status"])} '
                f'<span class="sub">for {escape(d["audience"])}</span></div>'
                f'<p class="desc">{escape(d["description"])}</p><div class="meta">{d["widget_count"]} widgets'
                f'{failed} · data through '
                f'{escape(_when(d["data_through"]))} · generated {escape(_when(d["generated_at"]))} · '
                f'<a href="/api/v1/dashboards/{escape(d["id"])}">JSON</a></div></div>')
        sections.append(f'<h2 class="category">{escape(category)}</h2><div class="index-grid">{"".join(cards)}</div>')
    return _page("Dashboards", header, "".join(sections) or '<p class="empty">No dashboards generated yet.</p>')


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
    return w["options"].get("currency", "USD")


def _empty() -> str:
    return '<div class="empty">No data yet</div>'


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


def _legend(datasets: list[dict]) -> str:
    if len(datasets) < 2:
        return ""
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{ds["borderColor"]}"></i>{escape(ds["label"])}</span>' for ds in datasets) + "</div>"


def _chart(w: dict) -> str:
    d = w["data"]
    if not d["labels"] or all(v is None for ds in d["datasets"] for v in ds["data"]):
        return _empty()
    height = 300 if w["span"] >= 3 else 260
    drawn = svg.bar_or_line_chart(d, WIDTH_BY_SPAN[w["span"]], height, _currency(w))
    return f'{_legend(d["datasets"])}<figure class="chart">{drawn}</figure>'


def _pie(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    values = d["datasets"][0]["data"]
    total = sum(v or 0 for v in values)
    if not total:
        return _empty()
    legend = "".join(
        f'<span><span><i style="background:{c}"></i>{escape(lab)}</span><em>'
        f'{escape(format_value(v, d["format"], cur))} · {(v or 0) / total:.0%}</em></span>'
        for lab, v, c in zip(d["labels"], values, d["datasets"][0]["backgroundColor"]))
    return (f'<div class="pie-wrap"><figure class="chart">{svg.doughnut(d, 200, cur)}</figure>'
            f'<div class="legend">{legend}</div></div>')


def _table(w: dict) -> str:
    d, cur = w["data"], _currency(w)
    if not d["rows"]:
        return _empty()
    numeric = [c["format"] not in ("text", "date") for c in d["columns"]]
    head = "".join(f'<th class="{"num" if n else ""}">{escape(c["label"])}</th>' for c, n in zip(d["columns"], numeric))
    rows = "".join("<tr>" + "".join(_td(format_value(v, c["format"], cur), n)
                                    for v, c, n in zip(row, d["columns"], numeric)) + "</tr>" for row in d["rows"])
    more = (f'<div class="more">Showing {len(d["rows"])} of {d["total_rows"]} rows</div>'
            if d["total_rows"] > len(d["rows"]) else "")
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>{more}'


def _td(text: str, numeric: bool) -> str:
    cls = "num" if numeric else "nowrap" if len(text) <= 24 else ""
    return f'<td class="{cls}">{escape(text)}</td>'


def _gauge(w: dict) -> str:
    if w["data"]["value"] is None:
        return _empty()
    return f'<figure class="chart">{svg.gauge(w["data"], _currency(w))}</figure>'


def _heatmap(w: dict) -> str:
    d = w["data"]
    if not d["datasets"][0]["data"]:
        return _empty()
    return f'<figure class="chart">{svg.heatmap(d, WIDTH_BY_SPAN[w["span"]], _currency(w))}</figure>'


def _budget(w: dict) -> str:
    d = w["data"]
    cur = d["currency"]
    if d["limit"] is None:
        return '<div class="empty">No monthly budget configured (ANALYTICS_MONTHLY_BUDGET)</div>'
    used = f'{d["ratio"]:.0%}' if d["ratio"] is not None else "over budget" if d["level"] == "critical" else "0%"
    figures = (f'<div class="figures"><span>Spent this month<b>{escape(format_value(d["value"], d["format"], cur))}</b></span>'
               f'<span>Budget<b>{escape(format_value(d["limit"], d["format"], cur))}</b></span>'
               f'<span>Remaining<b>{escape(format_value(d["remaining"], d["format"], cur))}</b></span>'
               f'<span>Used<b style="color:{svg.LEVEL_COLOURS[d["level"]]}">{used}</b></span></div>')
    return f'{figures}<figure class="chart">{svg.budget_bar(d, WIDTH_BY_SPAN[w["span"]])}</figure>'
