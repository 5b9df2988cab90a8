"""Soak: the fuzz tests of every source's parser, run much longer, with figures for benchmarks/README.md.

Same generators and invariants as ``analytics_pipeline_tests/fuzz`` (hostile landing files → the real
``stage_batch`` and ``merge_day`` into a fresh local lake per batch), with new random examples, more and
bigger files (lines up to a few MB). A crash or a broken invariant is counted and the first one of each
source is printed; the run then goes on. Exits 1 if anything was lost or crashed.

    uv run python benchmarks/fuzz_soak.py [--examples 300] [--seed 1] [--no-readme]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings, strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine, publish  # noqa: E402  (same folder, shared reporting)

from analytics_pipeline_tests.fuzz.landing_fuzz import (  # noqa: E402
    SPECS, check, expected_records, faults, fresh_workdir, ingest, landing_files,
)


def soak(source: str, examples: int, random_seed: int) -> dict:
    totals: Counter = Counter()
    census: Counter = Counter()
    first_failure: list[str] = []

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(files=st.lists(landing_files(source, max_lines=40, huge_bytes=3_000_000), min_size=1, max_size=5))
    def batch(files) -> None:
        files = list({f.name: f for f in files}.values())
        totals["batches"] += 1
        totals["files"] += len(files)
        totals["records tried"] += sum(expected_records(source, f.name, f.data) for f in files)
        for f in files:
            census.update(faults(source, f))
        try:
            with fresh_workdir() as workdir:
                accounting = ingest(source, files, Path(workdir))
        except Exception:  # noqa: BLE001 - counted and reported, the soak goes on
            totals["crashes"] += 1
            first_failure[:] = first_failure or [traceback.format_exc(limit=3) + f"\n{files!r}"[:2000]]
            return
        totals["landed"] += accounting.raw_rows
        totals["quarantined"] += accounting.error_rows
        totals["duplicates"] += accounting.duplicates_in_batch + accounting.duplicates_in_merge
        totals["records lost"] += abs(accounting.lost)
        try:
            check(accounting)
        except AssertionError as err:
            totals["invariant violations"] += 1
            first_failure[:] = first_failure or [f"{err}"[:2000] + f"\n{files!r}"[:2000]]

    started = time.perf_counter()
    batch()
    totals["seconds"] = round(time.perf_counter() - started, 1)
    if first_failure:
        print(f"--- first failure ({source}) ---\n{first_failure[0]}", file=sys.stderr)
    return {"totals": totals, "census": census}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=300, help="random batches per source (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("ANALYTICS_PSEUDONYM_KEY", "fuzz-soak-key")
    results = {}
    for source in SPECS:
        print(f"{source}: {args.examples} batches ...", flush=True)
        results[source] = soak(source, args.examples, args.seed)
        print(f"  {dict(results[source]['totals'])}", flush=True)
    body = _report(results, args)
    publish("fuzz_soak.py", "hostile landing files through every parser", body, args.no_readme)
    bad = sum(r["totals"][k] for r in results.values() for k in ("crashes", "invariant violations", "records lost"))
    return 1 if bad else 0


def _report(results: dict, args) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    columns = ["batches", "files", "records tried", "landed", "quarantined", "duplicates", "records lost",
               "crashes", "invariant violations", "seconds"]
    lines = [f"Run {now} · `uv run python benchmarks/fuzz_soak.py --examples {args.examples} --seed {args.seed}`",
             "", f"Machine: {machine()}", "",
             "| source | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
    for source, r in results.items():
        lines.append(f"| {source} | " + " | ".join(f"{r['totals'][c]:,}" if isinstance(r['totals'][c], int)
                                                      else str(r['totals'][c]) for c in columns) + " |")
    census: Counter = sum((r["census"] for r in results.values()), Counter())
    lines += ["", "Faults injected (all sources): " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(census.items())),
              "", "Every batch: records tried (counted from the files by the documented contract) = records in = "
              "rows in raw + rows in errors + duplicates; the manifest counts each file the same way."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
