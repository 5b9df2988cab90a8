"""Where generated dashboards live: ``<data dir>/site/`` (local, beside ``warehouse.duckdb``).

    site/index.html                 the index of every generated dashboard
    site/dashboards/<id>.html       one self-contained page per dashboard
    site/data/<id>.json             the widget data ``serve`` answers ``/api/v1/dashboards/<id>`` with
    site/static/                    Chart.js, the pages' script and style (``dashboards/static``), for pages
                                    opened from disk

Each file is written beside its final name and renamed into place, so readers (``serve``, a browser)
see the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

from analytics_pipeline.dashboards.render import STATIC_DIR, render_dashboard, render_index, static_files
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings


def site_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "site"


def publish(site: Path, doc: dict) -> dict[str, Path]:
    """Write the dashboard's JSON and HTML (``publish_index`` then lists every dashboard)."""
    root = StorageRoot(str(site))
    root.write_bytes(json.dumps(doc, allow_nan=False, separators=(",", ":")).encode(), "data", f"{doc['id']}.json")
    root.write_bytes(render_dashboard(doc).encode(), "dashboards", f"{doc['id']}.html")
    return {"data": site / "data" / f"{doc['id']}.json", "page": site / "dashboards" / f"{doc['id']}.html",
            "index": site / "index.html"}


def publish_index(site: Path) -> None:
    """Rebuild the index from every dashboard's JSON (once per generation, after the dashboards), and the
    pages' static files beside it."""
    publish_static(site)
    StorageRoot(str(site)).write_bytes(render_index(read_documents(site)).encode(), "index.html")


def publish_static(site: Path) -> None:
    """Copy the package's static files (Chart.js, dashboard.js, dashboard.css, licences) to ``site/static/``
    where they differ, so pages opened from disk load the same files ``serve`` answers ``/static/`` with."""
    root = StorageRoot(str(site))
    for name in static_files():
        content = (STATIC_DIR / name).read_bytes()
        target = site / "static" / name
        if not target.is_file() or target.read_bytes() != content:
            root.write_bytes(content, "static", name)


def prune(site: Path, keep: set[str]) -> list[str]:
    """Remove the files of dashboards that are no longer defined (their YAML file was deleted)."""
    gone = sorted(p.stem for p in (site / "data").glob("*.json") if p.stem not in keep)
    for dashboard_id in gone:
        (site / "data" / f"{dashboard_id}.json").unlink(missing_ok=True)
        (site / "dashboards" / f"{dashboard_id}.html").unlink(missing_ok=True)
    return gone


def read_documents(site: Path) -> list[dict]:
    folder = site / "data"
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

