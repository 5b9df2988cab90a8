"""Soak: many SIGKILLs and S3 faults against real `analytics-pipeline run` processes; count records lost.

    uv run python benchmarks/fault_soak.py [--kills 30] [--s3-runs 6] [--claims-per-day 80]

Kills: demo claims landing files arrive in several deliveries; every run is SIGKILLed either at a
random moment (uniform over a clean run's duration) or at a random publish step (the N-th
``os.replace``/``os.remove`` of lake files, through the test helper ``kill_at.py``). After every kill
a reader must see whole files only (no duplicate event id in raw, every view answers). At the end
one run completes and its views are compared with a clean run's on the same files.

S3: landing and lake on a moto server on 127.0.0.1 behind the fault proxy; each run gets random
faults (5xx on a share of PUTs/GETs, a slow server, the server down for a while); runs that fail
are rerun once the faults clear, and the final views are compared with the clean run's.

Figures (records tried, faults injected, records lost) go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
WORK = HERE / ".work" / "soak"

from report import fresh_env, machine, publish  # noqa: E402

from analytics_pipeline.serving.sql_runner import run_query  # noqa: E402
from analytics_pipeline.settings import load_settings  # noqa: E402
from analytics_pipeline_tests import lake_state  # noqa: E402
from analytics_pipeline_tests.faults.s3_proxy import FaultProxy  # noqa: E402
from analytics_pipeline_tests.s3_server import moto_server  # noqa: E402

KILL_POINTS = [  # (os call, pattern) — the publish steps of every kind of write
    ("replace", r"\.tmp -> .*/staging/"), ("replace", r"\.tmp -> .*/errors/"), ("replace", r"\.tmp -> .*/manifests/"),
    ("replace", r" -> .*/raw/"), ("remove", r"/staging/"), ("replace", r"\.tmp -> .*/marts/"),
    ("replace", r"\.tmp -> .*/processed/"), ("replace", r"\.tmp -> .*/warehouse\.duckdb$"),
]


def fresh_settings(data: Path, **extra: str):
    """Settings of an empty data dir (removed first), from an environment with only ``extra`` besides it."""
    fresh_env(data, **extra)
    return load_settings()


def write_landing(data: Path, claims_per_day: int, days: int) -> list[tuple[str, bytes]]:
    from analytics_pipeline.sources.claims.demo import claims_landing_files

    files = list(claims_landing_files(days=days, seed=23, claims_per_day=claims_per_day))
    for name, body in files:
        path = data / "landing" / "claims" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return files


def _chunks(items: list, n: int) -> list[list]:
    """``items`` cut into ``n`` consecutive runs. Delivering them out of order would change which copy of a
    redelivered record is kept (the first to arrive), and so its provenance columns, not its data."""
    size = -(-len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


def clean_reference(args) -> tuple:
    data = WORK / "clean"
    settings = fresh_settings(data)
    files = write_landing(data, args.claims_per_day, args.days)
    started = time.monotonic()
    done = lake_state.run_cli(settings, "run", timeout=1800)
    assert done.returncode == 0, done.stderr
    seconds = time.monotonic() - started
    records = run_query(settings, "SELECT count(*) FROM claims").rows[0][0]
    records_in = sum(body.count(b"\n") for _, body in files)
    return settings, seconds, records, records_in, files


def kill_soak(args, reference, clean_seconds: float, files: list) -> dict:
    data = WORK / "kills"
    settings = fresh_settings(data)
    rng = random.Random(args.seed)
    deliveries = _chunks(files, args.deliveries)  # in the producers' order, as files arrive
    delivered, kills, timed, at_points, finished, checks = 0, 0, 0, 0, 0, 0
    for n in range(args.kills):
        if delivered < len(deliveries) and n % max(1, args.kills // args.deliveries) == 0:
            lake_state.copy_landing(reference, settings, [f"claims/{name}" for name, _ in deliveries[delivered]])
            delivered += 1
        if rng.random() < 0.5:
            call, pattern = rng.choice(KILL_POINTS)
            proc = subprocess.run([sys.executable, str(lake_state.KILL_AT), call, pattern, str(rng.randint(1, 3)), "--",
                                   "run"], env=lake_state.run_env(settings), capture_output=True, timeout=1800)
            killed = proc.returncode == -signal.SIGKILL
            at_points += killed
        else:
            proc = subprocess.Popen([str(lake_state.CLI), "run"], env=lake_state.run_env(settings),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                proc.wait(timeout=rng.uniform(1.0, clean_seconds))
                killed = False
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                killed = True
            timed += killed
        kills += killed
        finished += not killed
        lake_state.assert_nothing_partial_visible(settings)
        checks += 1
        print(f"  kill soak {n + 1}/{args.kills}: {'killed' if killed else 'finished'}", flush=True)
    while delivered < len(deliveries):
        lake_state.copy_landing(reference, settings, [f"claims/{name}" for name, _ in deliveries[delivered]])
        delivered += 1
    done = lake_state.run_cli(settings, "run", timeout=1800)
    assert done.returncode == 0, done.stderr
    same = lake_state.view_fingerprints(settings) == lake_state.view_fingerprints(reference)
    rows, distinct = run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM claims").rows[0]
    return {"kills": kills, "timed": timed, "at_points": at_points, "finished": finished, "checks": checks,
            "same": same, "rows": rows, "duplicates": rows - distinct, "leftover_tmp": len(lake_state.leftovers(settings))}


def s3_soak(args, reference) -> dict:
    import boto3

    data = WORK / "s3"
    os.environ.update(AWS_ACCESS_KEY_ID="soak", AWS_SECRET_ACCESS_KEY="soak", AWS_DEFAULT_REGION="us-east-1")
    with moto_server() as upstream:
        proxy = FaultProxy(upstream)
        rng = random.Random(args.seed + 1)
        try:
            client = boto3.client("s3", endpoint_url=upstream)
            client.create_bucket(Bucket="soak")
            settings = fresh_settings(data, ANALYTICS_LANDING_URI="s3://soak/landing", ANALYTICS_LAKE_URI="s3://soak/lake",
                                      ANALYTICS_S3_ENDPOINT_URL=proxy.endpoint)
            keys = lake_state.landing_keys(reference)
            batches = _chunks(keys, args.s3_runs)
            failed_runs = succeeded = one_line = 0
            for n, batch in enumerate(batches):
                for key in batch:
                    client.put_object(Bucket="soak", Key=f"landing/{key}", Body=(Path(reference.landing_uri) / key).read_bytes())
                proxy.delay = rng.choice([0.0, 0.005, 0.02])
                proxy.fail("PUT", rng.choice([500, 503]), fraction=rng.uniform(0.05, 0.25))
                proxy.fail("GET", rng.choice([500, 503]), fraction=rng.uniform(0.002, 0.01))  # DuckDB reads in many GETs
                if rng.random() < 0.3:
                    proxy.fail({"PUT", "POST"}, 500, path=rng.choice(["/lake/raw/", "/lake/manifests/", "/lake/marts/"]))
                outage = rng.random() < 0.3
                if outage:
                    proxy.down()
                done = lake_state.run_cli(settings, "run", timeout=1800)
                proxy.up()
                proxy.heal()
                if done.returncode != 0:
                    failed_runs += 1
                    one_line += done.stderr.startswith(f"error: S3 at {proxy.endpoint}: ") and done.stderr.count("\n") == 1
                    print(f"    {done.stderr.strip()[:300]}", flush=True)
                else:
                    succeeded += 1
                print(f"  S3 soak {n + 1}/{len(batches)}: exit {done.returncode}, faults so far {sum(proxy.injected.values())}",
                      flush=True)
            done = lake_state.run_cli(settings, "run", timeout=1800)
            assert done.returncode == 0, done.stderr
            ignore = lake_state.STORAGE_COLUMNS
            ours, clean = lake_state.view_fingerprints(settings, ignore), lake_state.view_fingerprints(reference, ignore)
            differing = sorted(v for v in ours.keys() | clean.keys() if ours.get(v) != clean.get(v))
            same = not differing
            print(f"  views that differ from the clean run: {differing}", flush=True)
            rows, distinct = run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM claims").rows[0]
            return {"runs": len(batches), "failed_runs": failed_runs, "succeeded": succeeded, "one_line": one_line,
                    "injected": dict(proxy.injected), "requests": sum(proxy.requests.values()), "same": same, "rows": rows,
                    "differing": differing,
                    "duplicates": rows - distinct}
        finally:
            proxy.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--deliveries", type=int, default=5)
    parser.add_argument("--s3-runs", type=int, default=6)
    parser.add_argument("--claims-per-day", type=int, default=80)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    when = datetime.now(timezone.utc)
    started = time.monotonic()
    reference, clean_seconds, records, records_in, files = clean_reference(args)
    print(f"clean run: {clean_seconds:.0f} s, {records:,} records landed of {records_in:,} lines", flush=True)
    kills = kill_soak(args, reference, clean_seconds, files) if args.kills else None
    s3 = s3_soak(args, reference) if args.s3_runs else None
    lines = [
        f"Run {when:%Y-%m-%d %H:%M} UTC · `uv run python benchmarks/fault_soak.py --kills {args.kills} "
        f"--s3-runs {args.s3_runs} --claims-per-day {args.claims_per_day} --days {args.days} --seed {args.seed}` · "
        f"{(time.monotonic() - started) / 60:.0f} min in all",
        "",
        f"Machine: {machine()}",
        "",
        f"Input: {len(files)} demo claims landing files ({args.days} days, {records_in:,} text lines, with the demo's "
        f"duplicates and broken lines); a clean run lands {records:,} records in {clean_seconds:.0f} s.",
        "",
        "| soak | faults injected | runs | records tried | records in the end | records lost | duplicates | views = clean run |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    if kills:
        lines.append(
            f"| SIGKILL, local lake ({args.deliveries} deliveries) | {kills['kills']} kills ({kills['at_points']} at publish "
            f"steps, {kills['timed']} at random moments) | {args.kills + 1} | {records:,} | {kills['rows']:,} | "
            f"{records - kills['rows']:,} | {kills['duplicates']} | {'yes' if kills['same'] else '**no**'} |")
    if s3:
        injected = ", ".join(f"{v} × {k}" for k, v in sorted(s3["injected"].items()))
        lines.append(
            f"| S3 faults (proxy before moto) | {sum(s3['injected'].values())} faulty responses ({injected}) of "
            f"{s3['requests']:,} requests; outages and slow responses at random | {s3['runs'] + 1} "
            f"({s3['failed_runs']} failed cleanly) | {records:,} | {s3['rows']:,} | {records - s3['rows']:,} | "
            f"{s3['duplicates']} | {'yes' if s3['same'] else '**no**: ' + ', '.join(s3['differing'])} |")
    lines.append("")
    if kills:
        lines.append(f"After each of the {kills['checks']} kills a reader saw whole files only (no event id twice in raw, "
                     f"every view answered); {kills['leftover_tmp']} orphaned `.tmp` files were left on disk, "
                     "invisible to the views (they match no `*.parquet` glob).")
    if s3:
        lines.append(f"{s3['one_line']} of the {s3['failed_runs']} failed S3 runs ended with one line "
                     "`error: S3 at <endpoint>: …` and exit code 1.")
    publish("fault_soak.py", "kills and S3 faults, records lost", "\n".join(lines), args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
