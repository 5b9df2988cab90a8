"""Benchmark: dashboards per entity (the target: 10 templates per prospect in < 5 minutes), 10 templates × 50 projects.

Builds a demo lake (14 days of all three sources; the LLM runs spread over `--projects` projects) whose dashboards
folder holds `--templates` − 1 copies of the shipped `llm_costs` dashboard (which declares `entity: project`), so
`--templates` templates are generated per project, besides the shipped dashboards (per agent and per region too).
Then times the generation of every page (`dashboards.refresh.update_site`, as the dashboards asset runs it) from an
empty site with the default parallelism and with one query at a time, again with nothing changed (every entity
page kept), with one project's pages missing (what one project's new data costs the generation), and the whole
`run` after one new run of one project lands. Records the figures in benchmarks/README.md.

`build_lake` is also what `serve_api.py` serves for its per-entity load.

    uv run python benchmarks/dashboard_entities.py [--projects 50] [--templates 10] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import fresh_env, machine, publish  # noqa: E402  (same folder, shared reporting)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "dashboard_entities"
DAYS, SEED = 14, 7
RUNS_PER_PROJECT_DAY = 6  # the LLM runs per project and day asked of the demo producer
TEMPLATE = "llm_costs"


def build_lake(work: Path, projects: int, templates: int) -> dict:
    """A fresh demo lake in ``work`` with ``templates`` - 1 copies of llm_costs in its dashboards folder, built by
    the pipeline (dashboards included). Returns the figures of the build."""
    fresh_env(work, ANALYTICS_PSEUDONYM_KEY="benchmark-key-" + "0" * 32)
    from analytics_pipeline.dashboards.definition import SHIPPED_DIR
    from analytics_pipeline.sources.claims.demo import claims_landing_files
    from analytics_pipeline.sources.conversations.demo import conversations_landing_files
    from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    folder = Path(settings.dashboards_dir)
    folder.mkdir(parents=True, exist_ok=True)
    shipped = (SHIPPED_DIR / f"{TEMPLATE}.yaml").read_text()
    for n in range(2, templates + 1):
        (folder / f"{TEMPLATE}_{n:02d}.yaml").write_text(
            shipped.replace(f"id: {TEMPLATE}\n", f"id: {TEMPLATE}_{n:02d}\n", 1)
            .replace("title: LLM cost and budget\n", f"title: LLM cost and budget ({n:02d})\n", 1))
    landing = StorageRoot(settings.landing_uri)
    end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    sources = {"claims": claims_landing_files(days=DAYS, seed=SEED, end=end),
               "conversations": conversations_landing_files(days=DAYS, seed=SEED, end=end),
               "llm_runs": llm_runs_landing_files(days=DAYS, seed=SEED, end=end, projects=projects,
                                                  runs_per_day=RUNS_PER_PROJECT_DAY * projects)}
    for source, files in sources.items():
        for name, data in files:
            landing.write_bytes(data, source, name)
    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda _: None)
    return {"seconds": time.monotonic() - started, "settings": settings, "end": end,
            "records": {r.source: r.figures.records_in for r in reports}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--templates", type=int, default=10)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    print(f"building the demo lake ({args.projects} projects, {args.templates} project templates) ...", flush=True)
    built = build_lake(WORK, args.projects, args.templates)
    settings = built["settings"]
    from analytics_pipeline.dashboards.definition import dashboard_files, load_dashboards
    from analytics_pipeline.dashboards.entities import entity_key
    from analytics_pipeline.dashboards.generate import MAX_PARALLEL_QUERIES
    from analytics_pipeline.dashboards.refresh import update_site
    from analytics_pipeline.dashboards.site import site_dir
    from analytics_pipeline.definitions import build_definitions
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.serving.warehouse import SMALL_DERIVED_VIEWS
    from analytics_pipeline.platform.table_assets import per_day_marts

    dashboards = load_dashboards(dashboard_files(settings.dashboards_dir))
    small = per_day_marts(build_definitions().assets) | SMALL_DERIVED_VIEWS
    site = site_dir(settings)
    projects = run_query(settings, "SELECT count(DISTINCT project), count(*) FROM llm_run_costs").rows[0]

    def generation(workers: int = MAX_PARALLEL_QUERIES) -> dict:
        started = time.monotonic()
        updates = list(update_site(settings, dashboards, site, small, workers=workers))
        seconds = time.monotonic() - started
        pages = [u.entity_pages for u in updates if u.entity_pages]
        docs = [u.doc for u in updates] + [d for p in pages for d in p.regenerated]
        return {"seconds": seconds, "pages": len(docs), "entity_pages": sum(len(p.regenerated) for p in pages),
                "unchanged": sum(len(p.unchanged) for p in pages),
                "queries": sum(d["widget_count"] for d in docs),
                "failed": sum(d["widgets_failed"] for d in docs),
                "project_pages": sum(len(p.regenerated) for p in pages if p.kind == "project")}

    def empty_site() -> None:
        for folder in ("entities", "data", "dashboards"):
            shutil.rmtree(site / folder, ignore_errors=True)

    print("timing the generation ...", flush=True)
    empty_site()
    cold = generation()
    empty_site()
    serial = generation(workers=1)
    unchanged = generation()
    victim = "project_07"
    for path in (site / "entities").glob(f"project.{entity_key(victim)}.*"):
        path.unlink()
    one = generation()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print("one new run of one project, then `run` ...", flush=True)
    run = {"run_id": "run-benchmark-late", "project": victim, "mode": "2-loop", "status": "completed",
           "qa_status": "passed", "started_at": (built["end"] - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "finished_at": (built["end"] - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "duration_seconds": 600.0, "total_cost": 0.02,
           "models": [{"model": "gpt-4o", "input_tokens": 4000, "output_tokens": 500, "cost": 0.02}]}
    StorageRoot(settings.landing_uri).write_bytes((json.dumps(run) + "\n").encode(), "llm_runs", "late/runs.jsonl")
    started = time.monotonic()
    run_pipeline(settings, progress=lambda _: None)
    run_seconds = time.monotonic() - started
    regenerated = sorted({p.name.split(".")[1] for p in (site / "entities").glob("project.*.json")
                          if p.stat().st_mtime > time.time() - run_seconds})

    templates = sum(1 for d in dashboards if d.entity and d.entity.name == "project")
    rows = [
        ("every page from an empty site, " f"{MAX_PARALLEL_QUERIES} queries at a time", cold),
        ("every page from an empty site, one query at a time", serial),
        ("nothing changed (every entity page kept)", unchanged),
        (f"one project's pages missing ({victim})", one),
    ]
    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/dashboard_entities.py"
        + (f" --projects {args.projects}" if args.projects != 50 else "")
        + (f" --templates {args.templates}" if args.templates != 10 else "") + "`",
        "",
        f"Machine: {machine()} Shared with other work while measured (2 cores).",
        "",
        f"Lake: {DAYS} days of the demo's three sources ({', '.join(f'{k} {v:,}' for k, v in built['records'].items())} "
        f"records in; built with every dashboard in {built['seconds']:.0f} s), {projects[1]:,} LLM runs of "
        f"{projects[0]} projects. Dashboards: {len(dashboards)} ({templates} templates per project: the shipped "
        f"`llm_costs` and {templates - 1} copies; per agent `conversation_insights`, per region `model_performance` "
        "and `operational_efficiency`; `financial_operations` for all only).",
        "",
        "| generation (`update_site`, as the dashboards asset runs it) | s | pages generated | of which per entity "
        "(per project) | entity pages kept | widget queries | failed widgets |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {name} | {r['seconds']:.1f} | {r['pages']} | {r['entity_pages']} ({r['project_pages']}) | "
          f"{r['unchanged']} | {r['queries']:,} | {r['failed']} |" for name, r in rows],
        "",
        f"{templates} templates × {projects[0]} projects = {templates * projects[0]} project pages: "
        f"**{cold['seconds']:.0f} s** from an empty site with every other page (the target for 10 templates per "
        f"prospect: < 5 minutes); {serial['seconds']:.0f} s one query at a time. Peak RSS of the process "
        f"{peak_mb:,.0f} MB. One new run of {victim} landed, then `run_pipeline` (staging, its day's partitions, "
        f"marts, views, every dashboard): {run_seconds:.1f} s, rewriting the project pages of "
        f"{', '.join(regenerated) or 'no project'} only.",
    ]
    publish("dashboard_entities.py", "dashboards per entity, 10 templates × 50 projects", "\n".join(lines),
            args.no_readme)
    return 0 if not cold["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
