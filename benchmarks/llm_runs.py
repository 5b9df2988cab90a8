"""Benchmark: LLM orchestrator runs from landing files to marts, through the real pipeline.

Writes ≥ 100 k run documents (plus their job snapshots) with the demo producer into a fresh data
dir, then times `run_pipeline` (sensors → staging → raw partitions → priced usage → marts →
warehouse) in-process, and records runs/s and peak RSS in benchmarks/README.md.

    uv run python benchmarks/llm_runs.py [--runs 100000] [--no-readme]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "llm_runs"
README = HERE / "README.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    os.environ["ANALYTICS_DATA_DIR"] = str(WORK)
    os.environ["DAGSTER_HOME"] = str(WORK / "dagster_home")
    from analytics_pipeline.demo.llm_runs import llm_runs_landing_files
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    landing = StorageRoot(settings.landing_uri)
    started = time.monotonic()
    files = size = 0
    # the producer has quieter weekends: ask for a third more per day to land at least --runs runs
    for name, data in llm_runs_landing_files(days=args.days, seed=1, runs_per_day=int(args.runs / args.days * 1.35) + 1):
        landing.write_bytes(data, "llm_runs", name)
        files, size = files + 1, size + len(data)
    generated = time.monotonic() - started

    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda _: None)
    seconds = time.monotonic() - started
    (report,) = [r for r in reports if r.source == "llm_runs"]
    runs = run_query(settings, "SELECT total_runs FROM run_summary").rows[0][0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    query_started = time.monotonic()
    run_query(settings, "SELECT * FROM project_costs")
    query_ms = (time.monotonic() - query_started) * 1000

    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/llm_runs.py --runs {args.runs}`",
        "",
        f"Machine: {_machine()}",
        "",
        f"Input: {files} landing files ({size / 1e6:.0f} MB; generated in {generated:.0f} s), "
        f"{report.records_in:,} records (run documents + job snapshots) over {args.days} days, {runs:,} runs landed.",
        "",
        "| what | value |",
        "|---|---:|",
        f"| landing → marts, wall seconds (`run_pipeline`: staging, {report.days} day partitions, marts, views) | {seconds:.1f} |",
        f"| runs/s | {runs / seconds:,.0f} |",
        f"| records/s (runs + job snapshots) | {report.records_in / seconds:,.0f} |",
        f"| peak RSS of the process | {peak_mb:,.0f} MB |",
        f"| reading a mart afterwards (`SELECT * FROM project_costs`) | {query_ms:.0f} ms |",
        "",
        f"Records in {report.records_in:,} = landed {report.landed:,} + quarantined {report.quarantined:,} "
        f"+ duplicates {report.duplicates:,}.",
    ]
    print("\n".join(lines))
    if not args.no_readme:
        _write_section("llm_runs.py", "LLM runs, landing → marts", "\n".join(lines))
    return 0


def _machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal")) / 1024 / 1024
    import duckdb

    return (f"{model}, {os.cpu_count()} cores, {memory:.1f} GB RAM; Python {sys.version.split()[0]}, "
            f"DuckDB {duckdb.__version__}.")


def _write_section(script: str, title: str, body: str) -> None:
    """Write (or replace) this script's section of benchmarks/README.md, between its markers."""
    slug = Path(script).stem.replace("_", "-")
    start, end = f"<!-- {slug}:start -->", f"<!-- {slug}:end -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    section = f"## `{script}`: {title}\n\n{start}\n{body}\n{end}\n"
    if start in text:
        head, rest = text.split(start, 1)
        head = head.rsplit(f"## `{script}`", 1)[0]
        text = head + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
