"""Benchmark: 10 M+ claims records through `analytics-pipeline run` with bounded memory; the S3 lake end to end.

    uv run python benchmarks/scale_10m.py [--copies 10] [--memory-limit 2GB] [--s3-records 200000]

Local: the 1.1 M-record stream file of ``ingest_claims.py`` (built or reused from its cache, or ``--base``)
is written ``--copies`` times into gzip landing files, each copy with its own claim ids and event ids,
so 10 copies are 11 M distinct records. Then ``analytics-pipeline run`` (the real sensors, staging
batches, day merges, whole-lake tables and warehouse) runs as a subprocess with
``ANALYTICS_DUCKDB_MEMORY_LIMIT``; the peak RSS of its whole process tree is sampled from /proc.

S3: ``--s3-records`` records of the first copy are uploaded to a moto S3 server on 127.0.0.1, and the
same command runs with the landing zone and the lake on that bucket (landing sensor listing S3, lake
objects on S3, warehouse views over s3:// paths); the counts are read back through those views.

Both runs check records in = landed + quarantined + duplicates and count records lost. Figures go
into this script's section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import ingest_claims
from proc_tree import TreePeak
from report import machine, publish

from analytics_pipeline_tests.s3_server import moto_server

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "scale"
BIN = Path(sys.executable).parent
BASE_RECORDS = 1_100_000  # the size ingest_claims.py builds by default


METHOD = (
    "Method: the 1.1 M-record stream file of `ingest_claims.py` is written `--copies` times as gzip JSON-lines "
    "landing files of 100 k records, each copy with its own claim ids and event ids (so every record is distinct; "
    "the copies share event times, so each event day holds `--copies` × the base day's records). "
    "`analytics-pipeline run` runs as a subprocess with `ANALYTICS_DUCKDB_MEMORY_LIMIT` (DuckDB spills beyond it; "
    "Python, Dagster and Arrow buffers are outside the limit); the resident memory of its whole process tree is "
    "sampled from /proc every 0.2 s. Staging batches are cut at 500 files or 512 MB of (compressed) files. The S3 "
    "run puts the landing zone and the lake in a bucket of a moto server on 127.0.0.1; the warehouse views read "
    "`s3://` paths through s3fs."
)


def write_copy(base: str, copy: int, landing: str, records_per_file: int, limit: int | None) -> tuple[int, int]:
    """Write the base file's records as copy ``copy`` (own claim and event ids) into gzip landing files."""
    folder = Path(landing) / "claims" / "scale" / f"copy-{copy:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    claim_prefix, event_prefix = f'"CLM{copy:02d}-'.encode(), f'{{"eventID":"c{copy:02d}'.encode()
    written = size = part = 0
    chunk: list[bytes] = []

    def flush() -> None:
        nonlocal part, size, chunk
        if chunk:
            path = folder / f"part-{part:04d}.jsonl.gz"
            path.write_bytes(gzip.compress(b"".join(chunk), compresslevel=1))
            size += path.stat().st_size
            part, chunk = part + 1, []

    with open(base, "rb") as source:
        for line in source:
            if limit is not None and written >= limit:
                break
            chunk.append(line.replace(b'"CLM-', claim_prefix).replace(b'{"eventID":"', event_prefix, 1))
            written += 1
            if len(chunk) >= records_per_file:
                flush()
    flush()
    return written, size


def build_landing(base: Path, landing: Path, copies: int, records_per_file: int, limit: int | None = None) -> dict:
    started = time.monotonic()
    shutil.rmtree(landing / "claims", ignore_errors=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(write_copy, [str(base)] * copies, range(copies), [str(landing)] * copies,
                             [records_per_file] * copies, [limit] * copies))
    files = sum(1 for _ in (landing / "claims").rglob("*.jsonl.gz"))
    return {"records": sum(r for r, _ in done), "bytes": sum(s for _, s in done), "files": files,
            "seconds": time.monotonic() - started}


def base_file(args) -> Path:
    if args.base:
        return Path(args.base)
    if ingest_claims.cached_dataset(BASE_RECORDS) is None:
        ingest_claims.worker_build(argparse.Namespace(records=BASE_RECORDS))
    return ingest_claims.dataset_path(BASE_RECORDS)


def run_cli(env: dict, cwd: Path) -> dict:
    """``analytics-pipeline run`` as a subprocess: wall seconds, phase times, peak tree RSS, the claims line."""
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "analytics-pipeline"), "run"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    phases: dict[str, float] = {}
    output = []
    with TreePeak(proc.pid) as peak:
        for line in proc.stdout:
            output.append(line)
            print(f"  [{time.monotonic() - started:7.1f}s] {line}", end="", flush=True)
            if "claims: day" in line:
                phases.setdefault("staged", time.monotonic() - started)
            if "refreshing whole-lake" in line:
                phases.setdefault("merged", time.monotonic() - started)
        proc.wait()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{''.join(output[-20:])}")
    claims = next(line.split() for line in output if line.startswith("claims "))
    files, records_in, landed, quarantined, duplicates, days = map(int, claims[1:7])
    return {"seconds": seconds, "phases": phases, "peak_bytes": peak.peak, "samples": peak.samples,
            "files": files, "records_in": records_in, "landed": landed, "quarantined": quarantined,
            "duplicates": duplicates, "days": days}


def lake_counts(env: dict) -> dict:
    """What the warehouse views hold, read with the `sql` path (in this process, with ``env``)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from analytics_pipeline.serving.sql_runner import run_query
        from analytics_pipeline.settings import load_settings

        settings = load_settings()
        started = time.monotonic()
        rows, distinct = run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM claims").rows[0]
        query_seconds = time.monotonic() - started
        errors = run_query(settings, "SELECT count(*) FROM ingest_errors").rows[0][0] if _has_view(settings, "ingest_errors") else 0
        current = run_query(settings, "SELECT count(*) FROM claims_current").rows[0][0]
        view_sql = run_query(settings, "SELECT sql FROM duckdb_views() WHERE view_name = 'claims' LIMIT 1").rows[0][0]
        return {"rows": rows, "distinct": distinct, "errors": errors, "claims_current": current,
                "count_seconds": query_seconds, "view_on": re.search(r"read_parquet\('([a-z0-9]+://|/)", view_sql).group(1)}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _has_view(settings, name: str) -> bool:
    from analytics_pipeline.serving.sql_runner import warehouse_tables

    return name in warehouse_tables(settings)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(extra)
    return env


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def local_run(args, base: Path) -> dict:
    data = WORK / "local"
    landing = data / "landing"
    if not (args.keep and (landing / "claims").exists()):
        print(f"writing {args.copies} copies of {base} into gzip landing files ...", flush=True)
        built = build_landing(base, landing, args.copies, args.records_per_file)
    else:
        files = list((landing / "claims").rglob("*.jsonl.gz"))
        built = {"records": None, "bytes": sum(f.stat().st_size for f in files), "files": len(files), "seconds": 0.0}
    for stale in ("lake", "dagster_home", "warehouse.duckdb", ".tmp"):
        target = data / stale
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"),
                    ANALYTICS_DUCKDB_MEMORY_LIMIT=args.memory_limit)
    print("analytics-pipeline run (local lake) ...", flush=True)
    result = run_cli(env, cwd=data)
    result.update(built=built, counts=lake_counts(env), lake_bytes=du(data / "lake"))
    return result


def s3_run(args, base: Path) -> dict:
    import boto3

    data = WORK / "s3"
    shutil.rmtree(data, ignore_errors=True)
    staging_landing = data / "landing-files"
    built = build_landing(base, staging_landing, 1, args.records_per_file, limit=args.s3_records)
    with moto_server() as endpoint:
        creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                              region_name="us-east-1")
        client.create_bucket(Bucket="scale")
        for path in sorted(staging_landing.rglob("*.jsonl.gz")):
            client.upload_file(str(path), "scale", f"landing/{path.relative_to(staging_landing)}")
        env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"),
                        ANALYTICS_DUCKDB_MEMORY_LIMIT=args.memory_limit, ANALYTICS_LANDING_URI="s3://scale/landing",
                        ANALYTICS_LAKE_URI="s3://scale/lake", ANALYTICS_S3_ENDPOINT_URL=endpoint, **creds)
        print(f"analytics-pipeline run (landing and lake on S3 at {endpoint}) ...", flush=True)
        result = run_cli(env, cwd=data)
        result.update(built=built, counts=lake_counts(env))
        objects = [o for page in client.get_paginator("list_objects_v2").paginate(Bucket="scale", Prefix="lake/")
                   for o in page.get("Contents", [])]
        result.update(lake_objects=len(objects), lake_bytes=sum(o["Size"] for o in objects))
        return result


def describe(name: str, r: dict, memory_limit: str) -> list[str]:
    c = r["counts"]
    lost = r["records_in"] - r["landed"] - r["quarantined"] - r["duplicates"]
    unaccounted = r["records_in"] - c["rows"] - c["errors"] - r["duplicates"]
    phases = r["phases"]
    staged = phases.get("staged", 0.0)
    merged = phases.get("merged", staged)
    return [
        f"| {name} | {r['records_in']:,} | {r['built']['files']} ({r['built']['bytes'] / 1e9:.2f} GB gz) | {r['seconds']:.0f} "
        f"(staging {staged:.0f}, merges {merged - staged:.0f}, tables + views {r['seconds'] - merged:.0f}) | "
        f"{r['records_in'] / r['seconds']:,.0f} | {r['peak_bytes'] / 2**20:,.0f} MB | {memory_limit} | "
        f"{c['rows']:,} / {c['distinct']:,} | {r['quarantined']:,} | {r['duplicates']:,} | {lost} / {unaccounted} | "
        f"{c['count_seconds']:.2f} s |"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the 1.1 M-record base file (default 10)")
    parser.add_argument("--base", default="", help="an existing stream-records JSON-lines file to copy")
    parser.add_argument("--records-per-file", type=int, default=100_000)
    parser.add_argument("--memory-limit", default="2GB", help="ANALYTICS_DUCKDB_MEMORY_LIMIT for the runs")
    parser.add_argument("--s3-records", type=int, default=200_000, help="records for the S3 run; 0 skips it")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--keep", action="store_true", help="reuse the local landing files of the last run")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()

    base = base_file(args)
    when, code = datetime.now(timezone.utc), ingest_claims._code_version()  # the code the runs import
    results = {}
    if not args.skip_local:
        results["local lake, gzip landing files"] = local_run(args, base)
    if args.s3_records:
        results["S3 (moto on 127.0.0.1): landing + lake on S3"] = s3_run(args, base)
    lines = [
        f"Run {when:%Y-%m-%d %H:%M} UTC, code {code} · "
        f"`uv run python benchmarks/scale_10m.py --copies {args.copies} --memory-limit {args.memory_limit} "
        f"--s3-records {args.s3_records}`" + (f" (base file {args.base})" if args.base else ""),
        "",
        f"Machine: {machine()} Shared with other sessions (load average at the end: "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}).",
        "",
        "| run | records in | landing files | wall s | records/s | peak RSS (process tree) | DuckDB memory limit | "
        "rows in `claims` / distinct event ids | quarantined | duplicates | records lost (report / views) | "
        "`count(*)` over the views |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines += describe(name, r, args.memory_limit)
    lines.append("")
    for name, r in results.items():
        extra = (f"; {r['lake_objects']} lake objects on S3 ({r['lake_bytes'] / 1e6:,.0f} MB), views over `s3://`"
                 if "lake_objects" in r else f"; lake on disk {r['lake_bytes'] / 1e9:.2f} GB")
        lines.append(f"- {name}: {r['files']} files taken, {r['days']} event days merged, "
                     f"{r['counts']['claims_current']:,} claims in `claims_current`; peak sampled {r['samples']} times"
                     f"{extra}; views read `{r['counts']['view_on']}` paths.")
    lines += ["", "Records lost = records in − landed − quarantined − duplicates (from the run's report) / "
              "records in − rows in the `claims` view − rows in `ingest_errors` − duplicates.", "", METHOD]
    publish("scale_10m.py", "10 M+ records with bounded memory; the S3 lake end to end", "\n".join(lines),
            args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
