"""``serve`` answers with real HTTP requests on 127.0.0.1: pages, the dashboard API, exports, errors; every
answer carries the security headers and HEAD answers like GET; idle connections are closed and bounded; exports
stream in chunks."""

import csv
import http.client
import io
import json
import re
import resource
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.cli import main
from analytics_pipeline.dashboards.render import STATIC_DIR
from analytics_pipeline.serving.exports import csv_cell, json_rows
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.web.server import IDLE_SECONDS, make_server
from analytics_pipeline_tests.dashboards.serve_process import start_serve


def _get(base: str, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture
def running(request):
    """Start a server for the given settings; yields a function returning its base URL."""
    servers = []

    def start(settings, **kwargs) -> str:
        server = make_server(settings, "127.0.0.1", 0, **kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_dashboard_api_answers_from_the_generated_files(use_dashboards_lake, running):
    base = running(use_dashboards_lake)
    status, content_type, body = _get(base, "/api/v1/dashboards")
    listing = json.loads(body)
    assert status == 200 and content_type == "application/json"
    ids = {d["id"] for d in listing["dashboards"]}
    assert {"financial_operations", "model_performance", "operational_efficiency", "conversation_insights",
            "llm_costs"} <= ids and listing["count"] == len(ids)
    assert all(d["status"] == "ready" and d["generated_at"] and d["widget_count"] > 0 for d in listing["dashboards"])

    claims = json.loads(_get(base, "/api/v1/dashboards?category=claims")[2])
    assert {d["id"] for d in claims["dashboards"]} == {"financial_operations", "model_performance",
                                                       "operational_efficiency"}
    cfo = json.loads(_get(base, "/api/v1/dashboards?category=Claims&audience=cfo")[2])
    assert [d["id"] for d in cfo["dashboards"]] == ["financial_operations"]

    site = Path(use_dashboards_lake.data_dir) / "site"
    with ThreadPoolExecutor(8) as pool:  # concurrent clients get the same bytes as the file
        answers = list(pool.map(lambda i: _get(base, "/api/v1/dashboards/llm_costs"), range(40)))
    assert {a[0] for a in answers} == {200}
    assert {a[2] for a in answers} == {(site / "data" / "llm_costs.json").read_bytes()}

    status, content_type, page = _get(base, "/dashboards/llm_costs.html")
    assert status == 200 and content_type.startswith("text/html") and b"LLM cost and budget" in page
    assert _get(base, "/")[2] == (site / "index.html").read_bytes()


def test_the_pages_scripts_and_style_are_served_from_the_package(use_dashboards_lake, running):
    """What a page loads from ``../static/`` is answered under /static/ with its type: the package's own bytes."""
    base = running(use_dashboards_lake)
    page = _get(base, "/dashboards/llm_costs.html")[2].decode()
    loaded = re.findall(r'(?:src|href)="\.\./static/([^"]+)"', page)
    assert loaded == ["dashboard.css", "chart.umd.min.js", "chartjs-chart-matrix.min.js", "dashboard.js"]
    for name in loaded:
        status, content_type, body = _get(base, f"/static/{name}")
        expected = "text/css" if name.endswith(".css") else "text/javascript"
        assert (status, content_type) == (200, f"{expected}; charset=utf-8")
        assert body == (STATIC_DIR / name).read_bytes()
    assert _get(base, "/static/chart.js.LICENSE.md")[1] == "text/plain; charset=utf-8"
    for missing in ("/static/nothing.js", "/static/../render.py", "/static/%2e%2e/render.py", "/static/"):
        got, content_type, body = _get(base, missing)
        assert got == 404 and content_type == "application/json", missing


def test_unknown_ids_and_bad_parameters_are_json_errors(use_dashboards_lake, running):
    base = running(use_dashboards_lake)
    for path, status, message in [("/api/v1/dashboards/no_such_board", 404, "unknown dashboard 'no_such_board'"),
                                  ("/dashboards/no_such_board.html", 404, "no dashboard page"),
                                  ("/api/v1/export/no_such_table.csv", 404, "unknown table 'no_such_table'"),
                                  ("/api/v1/export/run_summary.xlsx", 404, "exports are"),
                                  ("/api/v1/dashboards?colour=red", 400, "unknown parameter(s) colour"),
                                  ("/nowhere", 404, "no such path")]:
        got, content_type, body = _get(base, path)
        assert (got, content_type) == (status, "application/json"), path
        assert message in json.loads(body)["error"], path


def test_exports_are_the_warehouse_tables(use_dashboards_lake, running):
    base = running(use_dashboards_lake)
    expected = run_query(use_dashboards_lake, "SELECT project_name, runs_count FROM project_costs ORDER BY 1").rows
    status, content_type, body = _get(base, "/api/v1/export/project_costs.csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert status == 200 and content_type.startswith("text/csv")
    assert sorted((r["project_name"], int(r["runs_count"])) for r in rows) == expected
    records = json.loads(_get(base, "/api/v1/export/project_costs.json")[2])
    assert sorted((r["project_name"], r["runs_count"]) for r in records) == expected


def test_new_and_changed_files_are_served_without_a_restart(use_dashboards_lake, running, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(Path(use_dashboards_lake.data_dir) / "site", copy / "site")
    base = running(replace(use_dashboards_lake, data_dir=str(copy)), refresh_interval=0.05)
    assert _get(base, "/api/v1/dashboards/extra")[0] == 404
    doc = json.loads((copy / "site" / "data" / "llm_costs.json").read_text())
    (copy / "site" / "data" / "extra.json").write_text(json.dumps({**doc, "id": "extra", "title": "Extra"}))
    deadline = time.monotonic() + 10
    while _get(base, "/api/v1/dashboards/extra")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(_get(base, "/api/v1/dashboards/extra")[2])["title"] == "Extra"
    assert "extra" in {d["id"] for d in json.loads(_get(base, "/api/v1/dashboards")[2])["dashboards"]}


def test_serve_binds_loopback_and_a_taken_port_is_one_line_exit_1(lake_env, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: OSError: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert main(["serve", "--port", "70000"]) == 2


def _inherit_blocked_and_ignored_sigterm() -> None:
    """In the child before exec: what a parent that blocks or ignores SIGTERM for a moment passes on."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def test_serve_stops_on_sigterm_even_if_its_parent_blocked_and_ignored_it(lake_env):
    proc, _ = start_serve(preexec_fn=_inherit_blocked_and_ignored_sigterm)
    try:
        proc.terminate()
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy")
KNOWN_PATHS = ["/", "/index.html", "/dashboards/llm_costs.html", "/api/v1/dashboards", "/api/v1/dashboards/llm_costs",
               "/api/v1/dashboards?category=claims", "/api/v1/export/project_costs.csv", "/api/v1/export/claims.json",
               "/api/v1/export/nothing.csv", "/api/v1/export/x.xlsx", "/nowhere", "/api/v1/dashboards?colour=1",
               "/static/chart.umd.min.js", "/static/dashboard.css", "/static/nothing.js"]


@pytest.fixture
def serve_process(use_dashboards_lake):
    proc, base = start_serve()
    yield proc, base
    proc.terminate()
    proc.wait(timeout=10)


def _ask(base: str, method: str, path: str) -> tuple[int, dict, bytes]:
    host, port = base.removeprefix("http://").split(":")
    con = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        con.request(method, path)
        response = con.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        con.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.one_of(st.sampled_from(KNOWN_PATHS),
                      st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40).map(lambda p: "/" + p)))
def test_every_answer_carries_the_security_headers_and_head_answers_like_get(serve_process, path):
    _, base = serve_process
    status, headers, _ = _ask(base, "GET", path)
    assert {h: headers.get(h) for h in SECURITY_HEADERS} == {
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; "
                                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"}, (path, headers)
    head_status, head_headers, head_body = _ask(base, "HEAD", path)
    assert head_body == b"" and head_status == status
    assert {k: v for k, v in head_headers.items() if k != "Date"} == {k: v for k, v in headers.items() if k != "Date"}


def test_http_servers_own_errors_carry_the_security_headers_too(serve_process):
    _, base = serve_process
    host, port = base.removeprefix("http://").split(":")
    for request in (b"NONSENSE\r\n\r\n", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head = answer.split(b"\r\n\r\n")[0].decode()
        assert head.split()[1] in ("400", "501", "505") and all(f"{h}: " in head for h in SECURITY_HEADERS), head


def _fewer_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        while sock.recv(65536):
            pass  # a 503 answer, then the end
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_connections_neither_stop_service_nor_use_up_open_files(use_dashboards_lake):
    """300 connections that send nothing, against a server allowed 256 open files: it answers at once (200, or
    503 while it is full), closes the idle ones after IDLE_SECONDS, and then serves as before."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    proc, base = start_serve(preexec_fn=_fewer_open_files)
    host, port = base.removeprefix("http://").split(":")
    idle = []
    try:
        for _ in range(300):
            idle.append(socket.create_connection((host, int(port)), timeout=IDLE_SECONDS + 5))
        started = time.monotonic()
        status, headers, _ = _ask(base, "GET", "/api/v1/dashboards")
        assert status in (200, 503) and headers["X-Content-Type-Options"] == "nosniff"
        assert time.monotonic() - started < 2
        assert all(_closed_by_server(s) for s in idle)
        assert _ask(base, "GET", "/api/v1/dashboards")[0] == 200 and proc.poll() is None
        with socket.create_connection((host, int(port)), timeout=IDLE_SECONDS + 5) as kept_alive:
            kept_alive.sendall(b"GET /api/v1/dashboards HTTP/1.1\r\nHost: x\r\n\r\n")
            started = time.monotonic()
            assert _closed_by_server(kept_alive) and IDLE_SECONDS - 1 < time.monotonic() - started < IDLE_SECONDS + 3
    finally:
        for sock in idle:
            sock.close()
        proc.terminate()
        proc.wait(timeout=10)


def test_exports_stream_in_chunks_and_hold_the_tables_rows(use_dashboards_lake, serve_process):
    _, base = serve_process
    for table in ("claims", "project_costs", "conversation_sessions"):
        expected = run_query(use_dashboards_lake, f"SELECT * FROM {table}")
        status, headers, body = _ask(base, "GET", f"/api/v1/export/{table}.csv")
        assert status == 200 and headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in headers
        rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
        assert rows == [expected.columns] + [[csv_cell(v) for v in row] for row in expected.rows]
        status, _, body = _ask(base, "GET", f"/api/v1/export/{table}.json")
        assert status == 200 and json.loads(body) == json_rows(expected.columns, expected.rows)
    with ThreadPoolExecutor(20) as pool:  # 20 at once: each streams on its own connection
        answers = list(pool.map(lambda _: _ask(base, "GET", "/api/v1/export/claims.csv"), range(20)))
    assert len({(a[0], a[2]) for a in answers}) == 1 and answers[0][0] == 200


def test_a_request_trickled_in_a_byte_at_a_time_is_cut_off_at_its_deadline(use_dashboards_lake):
    """Each byte comes well within a read's timeout, but the request's line and headers must be whole within
    IDLE + IO seconds: a connection cannot hold one of the server's slots by sending slowly."""
    server = make_server(use_dashboards_lake, "127.0.0.1", 0)
    server.RequestHandlerClass.timeout, server.RequestHandlerClass.io_timeout = 1.0, 2.0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        with socket.create_connection((host, port), timeout=15) as slow:
            started = time.monotonic()
            slow.sendall(b"GET /api/v1/dashboards HTTP/1.1\r\nHost: x\r\n")
            sent = b""
            try:
                for byte in b"X-Slow: " + b"a" * 40:
                    time.sleep(0.5)
                    slow.sendall(bytes([byte]))
                    sent += bytes([byte])
            except (BrokenPipeError, ConnectionResetError):
                pass
            assert _closed_by_server(slow)
            assert 2.5 < time.monotonic() - started < 6, time.monotonic() - started
            assert len(sent) < 12
        assert _get(f"http://{host}:{port}", "/api/v1/dashboards")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
