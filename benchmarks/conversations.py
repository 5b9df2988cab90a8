"""Benchmark: conversation events through raw → intents → patterns, next-intent lookup latency, and one new day.

Writes demo conversations (by default 1,500 sessions/day over 145 days, ≈1 M events, the window ending at 00:00
UTC yesterday) into a fresh data dir, times `run_pipeline` (staging, PII redaction, raw partitions, intent
classification, flows, transitions, profiles, insights, views) in-process, then times 10,000
`NextIntentGuide.suggest` lookups. Then the cost of one new day (yesterday, UTC: a day's sessions at
--sessions-per-day from the same producer with another seed) as the whole `analytics-pipeline run` process, into an
empty lake and into the lake just built (benchmarks/new_day.py). Records all of it in README.md.

    uv run python benchmarks/conversations.py [--sessions-per-day 1500] [--days 145] [--no-new-day] [--no-readme]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import fresh_env, machine, publish  # noqa: E402  (same folder, shared reporting)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "conversations"
NEW_DAY_WORK = HERE / ".work" / "conversations-new-day"
GENERATOR = "analytics_pipeline.sources.conversations.demo:conversations_landing_files"
PSEUDONYM_KEY = "benchmark-key-" + "0" * 32
SEED, NEW_DAY_SEED = 3, 103


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions-per-day", type=int, default=1500)
    parser.add_argument("--days", type=int, default=145, help="days of the lake (default 145: ≈1 M events)")
    parser.add_argument("--no-new-day", action="store_true", help="only the build and the lookups")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    fresh_env(WORK, ANALYTICS_PSEUDONYM_KEY=PSEUDONYM_KEY)
    import new_day  # noqa: E402  (same folder; imports run_end_to_end, ingest_claims, scale_10m)

    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.guidance import NextIntentGuide
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    big_end, new_end = new_day.windows()
    # generated in a spawned process: the producer holds the whole window in memory, which is not the pipeline's
    made = new_day.write_landing(GENERATOR, Path(settings.landing_uri) / "conversations", collect="user_id",
                                 days=args.days, seed=SEED, end=big_end, sessions_per_day=args.sessions_per_day)
    files, size = made["files"], made["bytes"]

    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda _: None)
    seconds = time.monotonic() - started
    (report,) = [r for r in reports if r.source == "conversations"]
    figures = report.figures
    queries = run_query(settings, "SELECT count(*) FROM intents").rows[0][0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    guide = NextIntentGuide.from_warehouse(settings)
    intents = [r[0] for r in run_query(settings, "SELECT DISTINCT intent FROM intents").rows]
    rng = random.Random(1)
    latencies = []
    for _ in range(10_000):
        history = rng.choices(intents, k=rng.randint(1, 3))
        t = time.perf_counter()
        guide.suggest(history, None)
        latencies.append((time.perf_counter() - t) * 1e6)
    quantiles = statistics.quantiles(latencies, n=100)

    lines = [
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/conversations.py "
        f"--sessions-per-day {args.sessions_per_day} --days {args.days}`",
        "",
        f"Machine: {machine()}",
        "",
        f"Input: {files} landing files ({size / 1e6:.0f} MB; generated in {made['seconds']:.0f} s by a separate "
        f"process), {figures.records_in:,} events over {args.days} days ending {big_end:%Y-%m-%d %H:%M} UTC "
        f"(data through {report.data_through or '-'}), {queries:,} user queries classified.",
        "",
        "| what | value |",
        "|---|---:|",
        f"| landing → raw → intents → flows/transitions/profiles/insights → views, wall seconds | {seconds:.1f} |",
        f"| events/s | {figures.records_in / seconds:,.0f} |",
        f"| peak RSS of the process | {peak_mb:,.0f} MB |",
        f"| next-intent lookup p50 (10,000 lookups, table in memory) | {quantiles[49]:.1f} µs |",
        f"| next-intent lookup p95 | {quantiles[94]:.1f} µs |",
        "",
        f"Records in {figures.records_in:,} = landed {figures.landed:,} + quarantined {figures.quarantined:,} "
        f"+ duplicates {figures.duplicates:,}.",
    ]
    problems = []
    if not args.no_new_day:
        del guide
        nd = new_day.new_day("conversations", GENERATOR, WORK, NEW_DAY_WORK, end=new_end, seed=NEW_DAY_SEED,
                             big_through=report.data_through,
                             extra_env={"ANALYTICS_PSEUDONYM_KEY": PSEUDONYM_KEY}, collect="user_id",
                             sessions_per_day=args.sessions_per_day)
        problems = list(nd["problems"])
        users, known = nd["made"]["collected"], set(made["collected"])
        entities = (f"{sum(u in known for u in users)} of its {len(users)} user ids already have sessions in the big "
                    f"lake (profiles and per-user tables touched, same pseudonym key); its sessions and events are all "
                    f"new (another seed: the producer cannot continue the big lake's sessions).")
        lines += new_day.report_lines(
            "conversations", nd, f"{figures.records_in:,} events, {report.days} event days", new_day.du(WORK / "lake"),
            entities, report.data_through)
    publish("conversations.py", "conversations: raw → intents → patterns, guidance latency, one new day",
            "\n".join(lines), args.no_readme)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
