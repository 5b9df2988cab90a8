"""Where generated dashboards live: ``<data dir>/site/`` (local, beside ``warehouse.duckdb``).

    site/index.html                 the index of every generated dashboard
    site/dashboards/<id>.html       one self-contained page per dashboard
    site/data/<id>.json             the widget data ``serve`` answers ``/api/v1/dashboards/<id>`` with
    site/entities/<kind>.<key>.<id>.json|.html   a dashboard for one entity (``entities.py``): its data
                                    (``/api/v1/<kind>/<entity id>/dashboards/<id>``) and page
    site/generating/<id>.json       while a dashboard's entity pages are regenerated: which ones
    site/static/                    Chart.js, the pages' script and style (``dashboards/static``), for pages
                                    opened from disk

Each file is written beside its final name and renamed into place, so readers (``serve``, a browser)
see the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from analytics_pipeline.dashboards.entities import entity_stem
from analytics_pipeline.dashboards.entity_index import with_entity_index
from analytics_pipeline.dashboards.render import STATIC_DIR, render_dashboard, render_index, static_files
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings


ENTITIES, GENERATING = "entities", "generating"


def site_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "site"


def publish(site: Path, doc: dict) -> dict[str, Path]:
    """Write the dashboard's JSON and HTML (``publish_index`` then lists every dashboard)."""
    root = StorageRoot(str(site))
    root.write_bytes(json.dumps(doc, allow_nan=False, separators=(",", ":")).encode(), "data", f"{doc['id']}.json")
    root.write_bytes(render_dashboard(doc).encode(), "dashboards", f"{doc['id']}.html")
    return {"data": site / "data" / f"{doc['id']}.json", "page": site / "dashboards" / f"{doc['id']}.html",
            "index": site / "index.html"}


def publish_entity(site: Path, doc: dict) -> dict[str, Path]:
    """Write a dashboard's document and page for one entity (``doc["entity"]``)."""
    root, stem = StorageRoot(str(site)), entity_stem(doc)
    root.write_bytes(json.dumps(doc, allow_nan=False, separators=(",", ":")).encode(), ENTITIES, f"{stem}.json")
    # one folder below the site's top, like site/dashboards/: its scripts and style are ../static/
    root.write_bytes(render_dashboard(doc, root="../").encode(), ENTITIES, f"{stem}.html")
    return entity_paths(site, doc)


def entity_paths(site: Path, doc: dict) -> dict[str, Path]:
    stem = entity_stem(doc)
    return {"data": site / ENTITIES / f"{stem}.json", "page": site / ENTITIES / f"{stem}.html"}


def entity_documents(site: Path, dashboard_id: str | None = None) -> list[dict]:
    """The entity documents (of one dashboard, or all), sorted by file name."""
    folder = site / ENTITIES
    pattern = f"*.*.{dashboard_id}.json" if dashboard_id else "*.*.*.json"
    docs = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or being replaced meanwhile: regenerated or listed next time
        if isinstance(doc, dict) and isinstance(doc.get("entity"), dict) and entity_stem(doc) == path.stem:
            docs.append(doc)
    return docs


def remove_entity(site: Path, doc: dict) -> None:
    for path in entity_paths(site, doc).values():
        path.unlink(missing_ok=True)


def mark_generating(site: Path, dashboard_id: str, kind: str, entity_ids: list[str]) -> None:
    """Say which entity pages of the dashboard are being regenerated (``serve`` lists them as generating)."""
    marker = {"id": dashboard_id, "kind": kind, "entities": entity_ids,
              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    StorageRoot(str(site)).write_bytes(json.dumps(marker).encode(), GENERATING, f"{dashboard_id}.json")


def generation_done(site: Path, dashboard_id: str) -> None:
    (site / GENERATING / f"{dashboard_id}.json").unlink(missing_ok=True)


def generating(site: Path) -> list[dict]:
    """The markers of ``mark_generating`` still in place."""
    markers = []
    for path in sorted((site / GENERATING).glob("*.json")):
        try:
            marker = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(marker, dict) and isinstance(marker.get("entities"), list):
            markers.append(marker)
    return markers


def publish_index(site: Path) -> None:
    """Rebuild the index from every dashboard's JSON (once per generation, after the dashboards), with the
    dashboards per entity listed after them, and the pages' static files beside it."""
    publish_static(site)
    page = with_entity_index(render_index(read_documents(site)), entity_documents(site), ENTITIES)
    StorageRoot(str(site)).write_bytes(page.encode(), "index.html")


def publish_static(site: Path) -> None:
    """Copy the package's static files (Chart.js, dashboard.js, dashboard.css, licences) to ``site/static/``
    where they differ, so pages opened from disk load the same files ``serve`` answers ``/static/`` with."""
    root = StorageRoot(str(site))
    for name in static_files():
        content = (STATIC_DIR / name).read_bytes()
        target = site / "static" / name
        if not target.is_file() or target.read_bytes() != content:
            root.write_bytes(content, "static", name)


def prune(site: Path, keep: set[str], entity_kinds: dict[str, str] | None = None) -> list[str]:
    """Remove the files of dashboards that are no longer defined (their YAML file was deleted); with
    ``entity_kinds`` (dashboard id → its entity's name), also the entity pages of dashboards no longer declaring
    that entity."""
    gone = sorted(p.stem for p in (site / "data").glob("*.json") if p.stem not in keep)
    for dashboard_id in gone:
        (site / "data" / f"{dashboard_id}.json").unlink(missing_ok=True)
        (site / "dashboards" / f"{dashboard_id}.html").unlink(missing_ok=True)
    if entity_kinds is not None:
        for path in sorted(p for p in (site / ENTITIES).glob("*.*.*.*") if p.suffix in (".json", ".html")):
            kind, _, dashboard_id = path.stem.split(".", 2)
            if entity_kinds.get(dashboard_id) != kind:
                path.unlink(missing_ok=True)
        for path in sorted((site / GENERATING).glob("*.json")):
            if path.stem not in entity_kinds:
                path.unlink(missing_ok=True)
    return gone


def read_documents(site: Path) -> list[dict]:
    folder = site / "data"
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

