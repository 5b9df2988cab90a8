"""Benchmark: conversation events through raw → intents → patterns, and next-intent lookup latency.

Writes demo conversations into a fresh data dir, times `run_pipeline` (staging, PII redaction, raw
partitions, intent classification, flows, transitions, profiles, insights, views) in-process, then
times 10,000 `NextIntentGuide.suggest` lookups; records events/s and lookup p50/p95 in README.md.

    uv run python benchmarks/conversations.py [--sessions-per-day 1500] [--days 14] [--no-readme]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions-per-day", type=int, default=1500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    fresh_env(WORK, ANALYTICS_PSEUDONYM_KEY="benchmark-key-" + "0" * 32)
    from analytics_pipeline.conversations.guidance import NextIntentGuide
    from analytics_pipeline.demo.conversations import conversations_landing_files
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.runner import run_pipeline
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    landing = StorageRoot(settings.landing_uri)
    files = size = 0
    for name, data in conversations_landing_files(days=args.days, seed=3, sessions_per_day=args.sessions_per_day):
        landing.write_bytes(data, "conversations", name)
        files, size = files + 1, size + len(data)

    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda _: None)
    seconds = time.monotonic() - started
    (report,) = [r for r in reports if r.source == "conversations"]
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

    body = "\n".join([
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/conversations.py "
        f"--sessions-per-day {args.sessions_per_day} --days {args.days}`",
        "",
        f"Machine: {machine()}",
        "",
        f"Input: {files} landing files ({size / 1e6:.0f} MB), {report.records_in:,} events over {args.days} days, "
        f"{queries:,} user queries classified.",
        "",
        "| what | value |",
        "|---|---:|",
        f"| landing → raw → intents → flows/transitions/profiles/insights → views, wall seconds | {seconds:.1f} |",
        f"| events/s | {report.records_in / seconds:,.0f} |",
        f"| peak RSS of the process | {peak_mb:,.0f} MB |",
        f"| next-intent lookup p50 (10,000 lookups, table in memory) | {quantiles[49]:.1f} µs |",
        f"| next-intent lookup p95 | {quantiles[94]:.1f} µs |",
        "",
        f"Records in {report.records_in:,} = landed {report.landed:,} + quarantined {report.quarantined:,} "
        f"+ duplicates {report.duplicates:,}.",
    ])
    publish("conversations.py", "conversations: raw → intents → patterns, guidance latency", body, args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
