"""Benchmark: LLM orchestrator runs from landing files to marts, through the real pipeline.

Writes ≥ 100 k run documents (plus their job snapshots) with the demo producer into a fresh data
dir, then times `run_pipeline` (sensors → staging → raw partitions → priced usage → marts →
warehouse) in-process, and records runs/s and peak RSS in benchmarks/README.md.

    uv run python benchmarks/llm_runs.py [--runs 100000] [--no-readme]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import fresh_env, machine, publish  # noqa: E402  (same folder, shared reporting)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "llm_runs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    fresh_env(WORK)
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
        f"Machine: {machine()}",
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
    publish("llm_runs.py", "LLM runs, landing → marts", "\n".join(lines), args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
