"""Benchmark: LLM orchestrator runs from landing files to marts through the real pipeline, and one new day.

Writes ≥ 100 k run documents (plus their job snapshots) over 30 days, the window ending at 00:00 UTC yesterday,
with the demo producer into a fresh data dir, then times `run_pipeline` (sensors → staging → raw partitions →
priced usage → marts → warehouse) in-process. Then the cost of one new day (yesterday, UTC: one day's runs at the
same runs per day from the same producer with another seed) as the whole `analytics-pipeline run` process, into an
empty lake and into the lake just built (benchmarks/new_day.py). Records runs/s, peaks and the new-day ratio in
benchmarks/README.md.

    uv run python benchmarks/llm_runs.py [--runs 100000] [--days 30] [--no-new-day] [--no-readme]
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
NEW_DAY_WORK = HERE / ".work" / "llm_runs-new-day"
GENERATOR = "analytics_pipeline.sources.llm_runs.demo:llm_runs_landing_files"
SEED, NEW_DAY_SEED = 1, 101


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--no-new-day", action="store_true", help="only the build")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    fresh_env(WORK)
    import new_day  # noqa: E402  (same folder; imports run_end_to_end, ingest_claims, scale_10m)

    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    big_end, new_end = new_day.windows()
    # the producer has quieter weekends: ask for a third more per day to land at least --runs runs
    runs_per_day = int(args.runs / args.days * 1.35) + 1
    # generated in a spawned process: the producer holds the whole window in memory, which is not the pipeline's
    made = new_day.write_landing(GENERATOR, Path(settings.landing_uri) / "llm_runs", collect="project",
                                 days=args.days, seed=SEED, end=big_end, runs_per_day=runs_per_day)
    files, size, generated = made["files"], made["bytes"], made["seconds"]

    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda _: None)
    seconds = time.monotonic() - started
    (report,) = [r for r in reports if r.source == "llm_runs"]
    figures = report.figures
    runs = run_query(settings, "SELECT total_runs FROM run_summary").rows[0][0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    query_started = time.monotonic()
    run_query(settings, "SELECT * FROM project_costs")
    query_ms = (time.monotonic() - query_started) * 1000

    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/llm_runs.py --runs {args.runs}"
        + (f" --days {args.days}" if args.days != 30 else "") + "`",
        "",
        f"Machine: {machine()}",
        "",
        f"Input: {files} landing files ({size / 1e6:.0f} MB; generated in {generated:.0f} s by a separate process), "
        f"{figures.records_in:,} records (run documents + job snapshots) over {args.days} days ending "
        f"{big_end:%Y-%m-%d %H:%M} UTC (data through {report.data_through or '-'}; {runs_per_day:,} runs per weekday "
        f"asked), {runs:,} runs landed.",
        "",
        "| what | value |",
        "|---|---:|",
        f"| landing → marts, wall seconds (`run_pipeline`: staging, {report.days} day partitions, marts, views) | {seconds:.1f} |",
        f"| runs/s | {runs / seconds:,.0f} |",
        f"| records/s (runs + job snapshots) | {figures.records_in / seconds:,.0f} |",
        f"| peak RSS of the process | {peak_mb:,.0f} MB |",
        f"| reading a mart afterwards (`SELECT * FROM project_costs`) | {query_ms:.0f} ms |",
        "",
        f"Records in {figures.records_in:,} = landed {figures.landed:,} + quarantined {figures.quarantined:,} "
        f"+ duplicates {figures.duplicates:,}.",
    ]
    problems = []
    if not args.no_new_day:
        nd = new_day.new_day("llm_runs", GENERATOR, WORK, NEW_DAY_WORK, end=new_end, seed=NEW_DAY_SEED,
                             big_through=report.data_through,
                             collect="project", runs_per_day=runs_per_day)
        problems = list(nd["problems"])
        projects, known = nd["made"]["collected"], set(made["collected"])
        entities = (f"Its runs belong to {sum(p in known for p in projects)} of the big lake's {len(known)} projects "
                    f"(per-project marts and budgets touched); its runs and jobs are all new (another seed: the "
                    f"producer does not finish the big lake's runs still running at its end).")
        lines += new_day.report_lines(
            "llm_runs", nd, f"{figures.records_in:,} records ({runs:,} runs), {report.days} event days",
            new_day.du(WORK / "lake"), entities, report.data_through)
    publish("llm_runs.py", "LLM runs, landing → marts, one new day", "\n".join(lines), args.no_readme)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
