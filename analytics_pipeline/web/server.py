"""``analytics-pipeline serve``: the dashboards' HTML pages and a JSON API, answered from memory.

The generated files under ``<data dir>/site/`` are held in memory and re-read when they change (a
background thread checks once a second), so a request never waits for a query: pages and dashboard data come straight
from bytes in memory. Only the export endpoints query the warehouse (read-only).

    GET /                                   index page
    GET /dashboards/{id}.html               a dashboard page
    GET /static/{name}                      the pages' scripts (Chart.js, vendored) and style, from the package
    GET /api/v1/dashboards[?category=&audience=]   the list, with status and freshness
    GET /api/v1/dashboards/{id}             a dashboard's widget data
    GET /api/v1/export/{mart}.csv|.json     a warehouse table, streamed (chunked) batch by batch
    GET /api/v1/{entity}                    the ids of a kind of entity (project, agent, region) with dashboards
    GET /api/v1/{entity}/{id}/dashboards[?category=&audience=]   an entity's dashboards: template, category,
                                            target audience, widget count, generation status, data freshness
    GET /api/v1/{entity}/{id}/dashboards/{template_id}   a dashboard's widget data for one entity
    GET /entities/{kind}.{key}.{template_id}.html   its page

Unknown entity kinds, ids and templates are a 404 whose JSON says what exists. Path segments are decoded one by
one, so an id may hold any character (``/`` as ``%2F``).

HEAD answers every GET path with the same headers. Every answer carries ``X-Content-Type-Options: nosniff``,
``X-Frame-Options: DENY`` and a Content-Security-Policy that lets the pages load scripts and style from this
server and nothing else: no inline script or style (the pages hold none), no request to anywhere. A connection
that sends nothing for ``IDLE_SECONDS`` (between keep-alive requests too), stalls a read or write for
``IO_SECONDS``, or has not sent a request's line and headers whole ``IDLE_SECONDS + IO_SECONDS`` after the last
answer (a request trickled in a byte at a time) is closed, and at most ``MAX_CONNECTIONS`` are served at once: past that a new connection is
answered 503 and closed at once, so idle sockets can neither pile up nor use up the process's open files.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from analytics_pipeline.dashboards.entities import document_api_path, entity_api_path, entity_stem
from analytics_pipeline.dashboards.render import STATIC_DIR, render_index, static_files
from analytics_pipeline.dashboards.site import ENTITIES, GENERATING, site_dir
from analytics_pipeline.serving.exports import UnknownTable, table_pieces, table_stream
from analytics_pipeline.serving.sql_runner import QueryError
from analytics_pipeline.settings import Settings

JSON, HTML = "application/json", "text/html; charset=utf-8"
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}  # else text/plain
SUMMARY_FIELDS = ("id", "title", "audience", "category", "description", "status", "generated_at", "data_through",
                  "widget_count", "widgets_failed")
LIST_FILTERS = ("category", "audience")
IDLE_SECONDS = 5.0  # waiting for a request (a keep-alive connection between requests, too)
IO_SECONDS = 30.0  # one read or write of a request under way
MAX_CONNECTIONS = 64  # served at once; the process keeps most of its open files (often 256 or 1024) for the rest
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
_BUSY_BODY = b'{"error":"too many connections; try again shortly","status":503}'
BUSY = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        + "".join(f"{key}: {value}\r\n" for key, value in SECURITY_HEADERS.items())
        + f"Connection: close\r\nContent-Length: {len(_BUSY_BODY)}\r\n\r\n").encode() + _BUSY_BODY


@dataclass
class Snapshot:
    """Everything the server answers with, ready as bytes."""

    index: bytes = b""
    pages: dict[str, bytes] = field(default_factory=dict)
    documents: dict[str, bytes] = field(default_factory=dict)
    summaries: list[dict] = field(default_factory=list)
    listing: bytes = b""
    entities: dict[str, EntityKind] = field(default_factory=dict)  # kind → its entities' dashboards
    entity_pages: dict[str, bytes] = field(default_factory=dict)  # file stem → page


@dataclass
class EntityDashboards:
    """One entity's dashboards: their documents by template id (None while its first is being generated),
    summaries (sorted) and the listing, ready as bytes."""

    documents: dict[str, bytes | None] = field(default_factory=dict)
    summaries: list[dict] = field(default_factory=list)
    listing: bytes = b""


@dataclass
class EntityKind:
    label: str
    entities: dict[str, EntityDashboards] = field(default_factory=dict)  # entity id → its dashboards
    listing: bytes = b""


class SiteCache:
    """The site folder in memory; a background thread reloads it when a file in it changes (every ``interval`` s)."""

    def __init__(self, site: Path, interval: float = 1.0):
        self.site, self.interval = site, interval
        self._signature = None
        self._files = _Files()
        self._snapshot = Snapshot()
        self._stop = threading.Event()
        self.refresh()
        threading.Thread(target=self._watch, name="site-watch", daemon=True).start()

    def get(self) -> Snapshot:
        return self._snapshot

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a file vanished or is half-edited: keep serving, look again next round
                continue

    def refresh(self) -> None:
        files = sorted(p for p in self.site.glob("**/*") if p.is_file() and not p.name.startswith("."))
        stats = {p: p.stat() for p in files}
        signature = [(str(p), st.st_mtime_ns, st.st_size) for p, st in stats.items()]
        if signature != self._signature:
            self._files.keep(stats)
            self._snapshot = _load(self.site, self._files)  # one assignment: readers see the old snapshot or the new one
            self._signature = signature


class _Files:
    """The site's files as last read, each re-read only when its size or modification time changed (a
    generation of hundreds of entity pages rewrites a few files at a time)."""

    def __init__(self):
        self._read: dict[Path, tuple[tuple[int, int], bytes, object]] = {}
        self._stats: dict[Path, os.stat_result] = {}

    def keep(self, stats: dict[Path, os.stat_result]) -> None:
        self._stats = stats
        for gone in set(self._read) - set(stats):
            del self._read[gone]

    def glob(self, folder: Path, pattern: str) -> list[Path]:
        return sorted(p for p in self._stats if p.parent == folder and p.match(pattern))

    def has(self, path: Path) -> bool:
        return path in self._stats

    def raw(self, path: Path) -> bytes:
        return self._entry(path)[1]

    def json(self, path: Path):
        """The file's JSON, or None when it is not JSON (a file being replaced by hand: the next check reads it)."""
        return self._entry(path)[2]

    def _entry(self, path: Path) -> tuple[tuple[int, int], bytes, object]:
        stat = self._stats.get(path) or path.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
        entry = self._read.get(path)
        if entry is None or entry[0] != signature:
            raw = path.read_bytes()
            try:
                parsed = json.loads(raw) if path.suffix == ".json" else None
            except ValueError:
                parsed = None
            entry = self._read[path] = (signature, raw, parsed)
        return entry


def _load(site: Path, files: _Files) -> Snapshot:
    documents, summaries, templates = {}, [], {}
    for path in files.glob(site / "data", "*.json"):
        doc = files.json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            continue  # not a generated dashboard document (or one being replaced by hand)
        documents[doc["id"]], templates[doc["id"]] = files.raw(path), doc
        summaries.append({**{k: doc.get(k) for k in SUMMARY_FIELDS}, "url": f"/api/v1/dashboards/{doc['id']}",
                          "page": f"/dashboards/{doc['id']}.html"})
    summaries.sort(key=lambda s: (str(s["category"]), str(s["audience"]), str(s["title"])))
    pages = {p.stem: files.raw(p) for p in files.glob(site / "dashboards", "*.html")}
    index = files.raw(site / "index.html") if files.has(site / "index.html") else render_index([]).encode()
    return Snapshot(index=index, pages=pages, documents=documents, summaries=summaries,
                    listing=_json({"count": len(summaries), "dashboards": summaries}),
                    entities=_entities(site, files, templates),
                    entity_pages={p.stem: files.raw(p) for p in files.glob(site / ENTITIES, "*.html")})


def _entities(site: Path, files: _Files, templates: dict[str, dict]) -> dict[str, EntityKind]:
    """The entity documents by kind and id, and the pages being generated (``site/generating/``); ``templates``:
    the dashboards' all-entities documents by id (what an entity's first page, still being generated, is)."""
    kinds: dict[str, EntityKind] = {}
    for path in files.glob(site / ENTITIES, "*.json"):
        doc = files.json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("entity"), dict) or entity_stem(doc) != path.stem:
            continue
        kind = kinds.setdefault(doc["entity"]["kind"], EntityKind(str(doc["entity"].get("label") or "")))
        entity = kind.entities.setdefault(doc["entity"]["id"], EntityDashboards())
        entity.documents[doc["id"]] = files.raw(path)
        entity.summaries.append(_entity_summary(doc))
    for path in files.glob(site / GENERATING, "*.json"):
        marker = files.json(path)
        if not isinstance(marker, dict) or not isinstance(marker.get("entities"), list):
            continue
        template = templates.get(marker.get("id"), {})
        kind = kinds.setdefault(str(marker.get("kind")), EntityKind(""))
        for entity_id in map(str, marker["entities"]):
            entity = kind.entities.setdefault(entity_id, EntityDashboards())
            pending = [s for s in entity.summaries if s["template_id"] == marker.get("id")]
            for summary in pending:
                summary["generation_status"] = "generating"
            if not pending:  # its first page: listed, with what the template says
                entity.documents[str(marker.get("id"))] = None
                entity.summaries.append(_entity_summary(
                    {**template, "id": str(marker.get("id")), "status": None, "generated_at": None, "data_through": None,
                     "widget_count": None, "widgets_failed": None,
                     "entity": {"kind": marker.get("kind"), "id": entity_id}}, "generating"))
    for name, kind in kinds.items():
        for entity_id, entity in kind.entities.items():
            entity.summaries.sort(key=lambda s: (str(s["category"]), str(s["target_audience"]),
                                                 str(s["template_name"]), s["template_id"]))
            entity.listing = _json({"entity": name, "id": entity_id, "count": len(entity.summaries),
                                    "dashboards": entity.summaries})
        kind.listing = _json({"entity": name, "count": len(kind.entities), "entities": [
            {"id": entity_id, "dashboards": len(entity.summaries), "url": entity_api_path(name, entity_id)}
            for entity_id, entity in sorted(kind.entities.items())]})
    return kinds


def _entity_summary(doc: dict, generation_status: str | None = None) -> dict:
    """An entity's dashboard in its listing, with seed 002's fields."""
    entity = doc["entity"]
    status = doc.get("status")
    return {
        "template_id": doc["id"],
        "template_name": doc.get("template_name") or doc.get("title"),
        "category": doc.get("category"),
        "target_audience": doc.get("audience"),
        "description": doc.get("description"),
        "widget_count": doc.get("widget_count"),
        "widgets_failed": doc.get("widgets_failed"),
        "status": status,
        "generation_status": generation_status or ("failed" if status == "failed" else "ready"),
        "data_freshness": {"data_through": doc.get("data_through"), "generated_at": doc.get("generated_at")},
        "url": document_api_path(doc),
        "page": f"/{ENTITIES}/{entity_stem(doc)}.html" if entity.get("key") else None,
    }


def _json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class DashboardHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse the connection
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (Nagle × delayed ACK)
    server_version = "analytics-pipeline"
    default_request_version = "HTTP/1.0"  # a request line too broken to say is still answered with headers
    timeout = IDLE_SECONDS
    io_timeout = IO_SECONDS
    cache: SiteCache
    settings: Settings
    static: dict[str, tuple[str, bytes]]  # name → (content type, bytes)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader: left open, it would keep the socket's file open after close
        self._reader = _RequestReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self.connection.settimeout(self.timeout)  # waiting for the next request
        self._headers_sent = False
        # the request line and headers arrive whole within this, however they trickle in (a byte every few seconds
        # would pass every read's timeout and hold a connection, of MAX_CONNECTIONS, for days)
        self._reader.deadline = time.monotonic() + self.timeout + self.io_timeout
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.connection.settimeout(self.io_timeout)  # a request has begun: its headers, and the answer
        try:
            return super().parse_request()
        finally:
            self._reader.deadline = None
            self.connection.settimeout(self.io_timeout)

    def do_HEAD(self) -> None:  # noqa: N802 - the http.server protocol
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        parts = urlsplit(self.path)
        path, query = unquote(parts.path).rstrip("/") or "/", parse_qs(parts.query)
        snapshot = self.cache.get()
        if path in ("/", "/index.html"):
            return self._send(200, HTML, snapshot.index)
        if path.startswith("/static/"):
            found = self.static.get(path.removeprefix("/static/"))
            return self._send(200, *found) if found else self._error(404, f"no static file {path}")
        if path.startswith("/dashboards/"):
            page = snapshot.pages.get(path.removeprefix("/dashboards/").removesuffix(".html"))
            return self._send(200, HTML, page) if page else self._error(404, f"no dashboard page {path}")
        if path == "/api/v1/dashboards":
            return self._listing(snapshot, query)
        if path.startswith("/api/v1/dashboards/"):
            dashboard_id = path.removeprefix("/api/v1/dashboards/")
            doc = snapshot.documents.get(dashboard_id)
            return self._send(200, JSON, doc) if doc else self._error(404, f"unknown dashboard {dashboard_id!r}")
        if path.startswith("/api/v1/export/"):
            return self._export(path.removeprefix("/api/v1/export/"))
        if path.startswith(f"/{ENTITIES}/"):
            page = snapshot.entity_pages.get(path.removeprefix(f"/{ENTITIES}/").removesuffix(".html"))
            return self._send(200, HTML, page) if page else self._error(404, f"no dashboard page {path}")
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        if segments[:2] == ["api", "v1"] and len(segments) >= 3:
            return self._entity(snapshot, segments[2:], query)
        return self._error(404, f"no such path {path}")

    def _entity(self, snapshot: Snapshot, segments: list[str], query: dict) -> None:
        """/api/v1/{kind}, /api/v1/{kind}/{id}/dashboards and /api/v1/{kind}/{id}/dashboards/{template_id}."""
        name = segments[0]
        kind = snapshot.entities.get(name)
        if kind is None:
            known = ", ".join(sorted(snapshot.entities)) or "none generated yet"
            return self._error(404, f"unknown entity kind {name!r}; kinds with dashboards: {known}")
        if len(segments) == 1:
            return self._send(200, JSON, kind.listing)
        if len(segments) not in (3, 4) or segments[2] != "dashboards":
            return self._error(404, f"an entity's dashboards are /api/v1/{name}/<id>/dashboards[/<template_id>]")
        entity = kind.entities.get(segments[1])
        if entity is None:
            return self._error(404, f"unknown {name} {segments[1]!r}: /api/v1/{name} lists the {name}s with dashboards")
        if len(segments) == 3:
            return self._filtered(entity.summaries, entity.listing, query, {"entity": name, "id": segments[1]})
        if segments[3] not in entity.documents:
            return self._error(404, f"{name} {segments[1]!r} has no dashboard {segments[3]!r}; it has: "
                                    f"{', '.join(sorted(entity.documents))}")
        doc = entity.documents[segments[3]]
        if doc is None:  # its first page is being generated
            return self._send(202, JSON, _json({"id": segments[3], "entity": {"kind": name, "id": segments[1]},
                                                "generation_status": "generating", "status": 202}))
        return self._send(200, JSON, doc)

    def _listing(self, snapshot: Snapshot, query: dict) -> None:
        return self._filtered(snapshot.summaries, snapshot.listing, query)

    def _filtered(self, summaries: list[dict], listing: bytes, query: dict, head: dict | None = None) -> None:
        """A listing (already sorted), or with ``?category=&audience=`` the summaries matching them (any case)."""
        unknown = sorted(set(query) - set(LIST_FILTERS))
        if unknown:
            return self._error(400, f"unknown parameter(s) {', '.join(unknown)}; filters: {', '.join(LIST_FILTERS)}")
        if not query:
            return self._send(200, JSON, listing)
        fields = {"category": "category", "audience": "audience" if head is None else "target_audience"}
        chosen = [s for s in summaries
                  if all(str(s[fields[k]]).lower() in {v.lower() for v in query[k]} for k in query)]
        return self._send(200, JSON, _json({**(head or {}), "count": len(chosen), "dashboards": chosen}))

    def _export(self, name: str) -> None:
        """The table streamed in HTTP chunks, a record batch at a time. An error before the first batch is a JSON
        error; one part-way closes the connection without the last chunk, so the client sees the answer cut short."""
        mart, _, fmt = name.rpartition(".")
        if fmt not in ("csv", "json") or not mart:
            return self._error(404, f"exports are /api/v1/export/<table>.csv or .json, not {name!r}")
        try:
            with table_stream(self.settings, mart) as result:
                content_type = "text/csv; charset=utf-8" if fmt == "csv" else JSON
                self._start(200, content_type, {"Transfer-Encoding": "chunked",
                                                "Content-Disposition": f'attachment; filename="{mart}.{fmt}"'})
                if self.command == "HEAD":
                    return None
                keep_alive, self.close_connection = not self.close_connection, True  # until the last chunk is out
                for piece in table_pieces(result, fmt):
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = not keep_alive
        except UnknownTable as err:
            return self._error(404, str(err))
        except QueryError as err:
            if self._headers_sent:
                return None  # the connection closes: the chunked answer stays incomplete
            return self._error(503, str(err))

    def _error(self, status: int, message: str) -> None:
        self._send(status, JSON, _json({"error": message, "status": status}))

    def _send(self, status: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
        self._start(status, content_type, {"Content-Length": str(len(body)), **(headers or {})})
        if self.command != "HEAD":
            self.wfile.write(body)

    def _start(self, status: int, content_type: str, headers: dict) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def end_headers(self) -> None:
        """Every answer, http.server's own errors included, carries the security headers."""
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        self._headers_sent = True
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet: no line per request
        pass


class _RequestReader(io.RawIOBase):
    """The connection's bytes, each read bounded by the socket's timeout and, while a request's line and headers are
    being read, by their ``deadline`` too."""

    def __init__(self, sock: socket.socket):
        self._sock, self.deadline = sock, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request's line and headers did not arrive in time")
            if left < (self._sock.gettimeout() or left + 1):
                self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class DashboardServer(ThreadingHTTPServer):
    """Serves each connection on its own thread, at most ``MAX_CONNECTIONS`` at once."""

    daemon_threads = True
    request_queue_size = 128
    cache: SiteCache | None = None
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        super().server_activate()
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            return self._refuse(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 without waiting on the client: the accept loop must not stall on a slow one."""
        request.setblocking(False)
        try:
            request.recv(65536)  # what already arrived, so that closing does not reset the connection first
        except OSError:
            pass
        try:
            request.send(BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """A client that went away or stalled is no error of the server's; anything else is reported as usual."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        if self.cache:
            self.cache.stop()


def make_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000,
                refresh_interval: float = 1.0) -> DashboardServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving."""
    cache = SiteCache(site_dir(settings), refresh_interval)
    static = {name: (STATIC_TYPES.get(Path(name).suffix, "text/plain; charset=utf-8"),
                     (STATIC_DIR / name).read_bytes()) for name in static_files()}
    handler = type("Handler", (DashboardHandler,), {"cache": cache, "settings": settings, "static": static})
    try:
        server = DashboardServer((host, port), handler)
    except OSError as err:
        cache.stop()
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    server.cache = cache
    return server
