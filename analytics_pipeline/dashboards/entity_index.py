"""The index's list of dashboards per entity: one card per dashboard and kind of entity, linking each entity's
page. Added to the page ``render.render_index`` draws (before ``</body>``), with its classes and nothing else, so
the index keeps one look whatever draws it."""

from __future__ import annotations

from html import escape
from itertools import groupby

from analytics_pipeline.dashboards.entities import entity_stem


def with_entity_index(index_html: str, docs: list[dict], folder: str) -> str:
    """``index_html`` with a section per entity kind listing ``docs`` (entity documents, pages in ``folder``/)."""
    if not docs:
        return index_html
    key = lambda d: (d["entity"]["label"], d["category"], d["template_name"], d["id"])  # noqa: E731
    sections = []
    for label, of_kind in groupby(sorted(docs, key=key), key=lambda d: d["entity"]["label"]):
        cards = []
        for (_, _, name, dashboard_id), pages in groupby(of_kind, key=key):
            pages = sorted(pages, key=lambda d: d["entity"]["id"])
            links = " · ".join(
                f'<a href="{escape(folder)}/{escape(entity_stem(d))}.html" data-entity="{escape(d["entity"]["id"])}">'
                f'{escape(d["entity"]["id"])}</a>' + (" (failed)" if d["status"] == "failed" else "")
                for d in pages)
            cards.append(f'<div class="card" data-dashboard="{escape(dashboard_id)}" '
                         f'data-entity-kind="{escape(pages[0]["entity"]["kind"])}"><h2>{escape(name)}</h2>'
                         f'<p class="desc">One page per {escape(label.lower())}: {len(pages)}</p>'
                         f'<div class="meta">{links}</div></div>')
        sections.append(f'<h2 class="category">Per {escape(label.lower())}</h2><div class="index-grid">'
                        f'{"".join(cards)}</div>')
    section = f'<section class="entity-index">{"".join(sections)}</section>'
    head, marker, tail = index_html.rpartition("</body>")
    return f"{head}{section}{marker}{tail}" if marker else index_html + section
