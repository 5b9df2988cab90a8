"""Benchmark: `analytics-pipeline serve` under concurrent load on loopback (seed 002: p95 < 10 ms).

Builds a demo lake (14 days of all three sources, dashboards included) whose LLM runs belong to `--entities`
projects and whose dashboards folder adds `--entity-templates` − 1 copies of `llm_costs` (so that many templates
per project: `dashboard_entities.build_lake`), unless `--data-dir` points at one; starts `serve` as a real process
on 127.0.0.1, and runs N client threads, each with one keep-alive connection, over the dashboard endpoints (the
list, a filtered list, every dashboard's data, every page), then over the per-entity endpoints (every project's
list and filtered list, its data of every template, every page). Reports p50/p95/p99 and requests/s, and the export
endpoint (which queries the warehouse) separately, in benchmarks/README.md.

    uv run python benchmarks/serve_api.py [--clients 1,4,8,16] [--requests 500] [--entities 50]
                                          [--entity-templates 5] [--data-dir DIR] [--no-readme]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine, point_env, publish  # noqa: E402  (same folder, shared reporting)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "serve_api"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8,16", help="concurrent clients (threads), one load per number")
    parser.add_argument("--requests", type=int, default=500, help="requests per client")
    parser.add_argument("--entities", type=int, default=50, help="projects in the demo lake (dashboards per project)")
    parser.add_argument("--entity-templates", type=int, default=5, help="dashboard templates per project")
    parser.add_argument("--data-dir", default=None, help="an existing data dir with generated dashboards")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    data_dir = Path(args.data_dir) if args.data_dir else WORK
    key = {"ANALYTICS_PSEUDONYM_KEY": "benchmark-key-" + "0" * 32}
    if not args.data_dir:
        print(f"building the demo lake ({args.entities} projects, {args.entity_templates} templates each) ...",
              flush=True)
        from dashboard_entities import build_lake  # noqa: E402  (same folder)

        build_lake(WORK, args.entities, args.entity_templates)
    env = {**point_env(data_dir, **key), "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "analytics_pipeline.cli", "serve", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])
        listing = json.loads(_get(port, "/api/v1/dashboards"))
        ids = [d["id"] for d in listing["dashboards"]]
        paths = (["/api/v1/dashboards", "/api/v1/dashboards?category=claims"]
                 + [f"/api/v1/dashboards/{i}" for i in ids] + [f"/dashboards/{i}.html" for i in ids])
        projects = [e["url"] for e in json.loads(_get(port, "/api/v1/project"))["entities"]]
        entity_paths = []
        for url in projects:
            entries = json.loads(_get(port, url))["dashboards"]
            entity_paths += [url, url + "?category=llm%20runs"] + [e["url"] for e in entries] + [e["page"] for e in entries]
        templates = len(entity_paths) // max(1, len(projects)) // 2 - 1
        for path in paths + entity_paths:  # warm up, and every endpoint answers
            _get(port, path)
        clients = list(map(int, args.clients.split(",")))
        loads = {n: _load(port, paths, n, args.requests) for n in clients}
        entity_loads = {n: _load(port, entity_paths, n, args.requests) for n in clients}
        exports = _load(port, ["/api/v1/export/run_summary.json", "/api/v1/export/daily_runs.csv"], 4, 25)
    finally:
        server.terminate()
        server.wait(timeout=10)

    size = sum(len(_read(data_dir / "site" / "data" / f"{i}.json")) for i in ids) / len(ids)
    entity_docs = list((data_dir / "site" / "entities").glob("*.json"))
    entity_size = sum(len(_read(p)) for p in entity_docs) / max(1, len(entity_docs))
    lines = [
        f"Machine: {machine()}",
        "",
        f"`serve` (stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive) on 127.0.0.1 over the demo lake's {len(ids)} "
        f"dashboards (average widget-data document {size / 1024:.1f} KB) and {len(entity_docs)} dashboards per "
        f"entity ({len(projects)} projects × {templates} templates, and the agents' and regions'; average "
        f"{entity_size / 1024:.1f} KB); the clients run on the same 2 cores.",
        "",
        "| load | requests | clients | p50 ms | p95 ms | p99 ms | max ms | requests/s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[_row("dashboards: list, filtered list, each dashboard's data, each page", r, n) for n, r in loads.items()],
        *[_row(f"per project ({len(projects)} × {templates}): its list, filtered list, each template's data, "
               "each page", r, n) for n, r in entity_loads.items()],
        _row("exports (query the warehouse): run_summary.json, daily_runs.csv", exports, 4),
        "",
        "Dashboard retrieval p95: " + ", ".join(f"{r['p95']:.2f} ms with {n} client{'s' if n > 1 else ''}" for n, r in loads.items())
        + "; per project: " + ", ".join(f"{r['p95']:.2f} ms with {n}" for n, r in entity_loads.items())
        + " (the dashboard-retrieval target: 10 ms). Client threads share the 2 cores (and the GIL of their own process)"
        " with the server, so the higher loads measure the machine as much as the server.",
    ]
    publish("serve_api.py", "dashboard API latency under concurrent load", "\n".join(lines), args.no_readme)
    return 0 if not any(r["errors"] for r in [*loads.values(), *entity_loads.values()]) else 1


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _get(port: int, path: str) -> bytes:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        con.request("GET", path)
        response = con.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status} {body[:200]!r}")
        return body
    finally:
        con.close()


def _load(port: int, paths: list[str], clients: int, per_client: int) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)

    def client(offset: int) -> None:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, failed = [], 0
        start_gate.wait()
        for n in range(per_client):
            path = paths[(offset + n) % len(paths)]
            started = time.perf_counter()
            con.request("GET", path)
            response = con.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            failed += response.status != 200
        con.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {"n": len(latencies), "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": latencies[-1],
            "rps": len(latencies) / elapsed, "errors": errors[0]}


def _row(name: str, r: dict, clients: int) -> str:
    return (f"| {name} | {r['n']} | {clients} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | "
            f"{r['rps']:.0f} | {r['errors']} |")


if __name__ == "__main__":
    sys.exit(main())
