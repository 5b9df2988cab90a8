"""Benchmark: DynamoDB stream records (one big JSON-lines file) → Parquet, three ways, one run.

    cd /work/main && uv run python benchmarks/ingest_claims.py [--records N] [--keep]

Paths measured on the same file, each in a fresh subprocess (so peak RSS is its own):

- ``bare``    one DuckDB statement: read_json with a typed structure → partitioned Snappy Parquet
              (the architecture's anchor, ~300 k records/s on a 2-core machine);
- ``ours``    the real ``raw_claims`` path: ``stage_batch`` then ``merge_day`` for every staged day,
              into a fresh lake (optionally again with ``ANALYTICS_DUCKDB_MEMORY_LIMIT``);
- ``python``  a per-record transform as the seed's Lambda does it: ``json.loads`` per line, boto3's
              ``TypeDeserializer``, a dict of the extracted metrics, Parquet written by pyarrow in batches
              (the anchor's ~20 k records/s).

The input file is built from the demo generator's internals (``analytics_pipeline.sources.claims.demo``): its
claim lifecycles rendered as DynamoDB Streams records, one per line, every record valid and unique, so
all three paths see exactly the same work. It is cached in ``benchmarks/.work/`` (``--keep`` reuses it).
Results are printed and written into the results section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
README = HERE / "README.md"
RESULTS_START = "<!-- results:start (written by benchmarks/ingest_claims.py) -->"
RESULTS_END = "<!-- results:end -->"

DATASET_VERSION = 1                      # bump when the file's content recipe changes
DATA_START = datetime(2026, 9, 7, tzinfo=timezone.utc)   # a Monday
LIFECYCLE_END = DATA_START + timedelta(weeks=8)          # the generator's "end": no event after it
CLAIMS_PER_WEEKDAY = 8000
PARTITIONS_START = "2024-01-01"
SOURCE = "claims"
ANCHOR_BARE, ANCHOR_PYTHON = 300_000, 20_000             # records/s from ARCHITECTURE.md


# --------------------------------------------------------------------------- the input file

def dataset_path(records: int) -> Path:
    return WORK / "landing" / SOURCE / f"stream-records-{records}.jsonl"


def cached_dataset(records: int) -> dict | None:
    """The cached file's description if it was built for ``records`` by this recipe and is intact."""
    path = dataset_path(records)
    meta_path = path.with_suffix(".meta.json")
    if not (path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("version") != DATASET_VERSION or meta.get("records") != records or path.stat().st_size != meta["bytes"]:
        return None
    return meta


def worker_build(args: argparse.Namespace) -> dict:
    """Write ``args.records`` stream records, one JSON object per line, from the demo generator's internals."""
    from analytics_pipeline.platform.demo_window import poisson_arrivals
    from analytics_pipeline.sources.claims import demo as gen

    records = args.records
    path = dataset_path(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("stream-records-*"):
        stale.unlink()
    started = time.perf_counter()
    written = claim_ids = 0
    sequence = 10**20
    kinds: dict[str, int] = {}
    with open(path, "w", encoding="utf-8") as out:
        week = 0
        while written < records:
            # One week of claims at a time keeps the generator's memory bounded; lifecycles run on past
            # the week (up to LIFECYCLE_END) as they would in the table, so days overlap a little.
            rng = random.Random(f"bench-claims-{week}")
            start = DATA_START + timedelta(weeks=week)
            events = []
            arrivals = poisson_arrivals(rng, start, start + timedelta(weeks=1), CLAIMS_PER_WEEKDAY, gen.DAY_FACTORS,
                                        gen.UK_HOUR_WEIGHTS, local_time=lambda hour: hour + gen._uk_offset(hour))
            for t in arrivals:
                claim_ids += 1
                events.extend(gen._claim_events(rng, f"CLM-{claim_ids:07d}", t, LIFECYCLE_END))
            events.sort(key=lambda e: e["time"])
            for event in events[: records - written]:
                sequence += rng.randint(100, 99999)
                event["seq"] = str(sequence)
                out.write(json.dumps(gen._stream_record(event), separators=(",", ":")))
                out.write("\n")
                kinds[event["eventName"]] = kinds.get(event["eventName"], 0) + 1
            written += min(len(events), records - written)
            week += 1
            print(f"  week {week}: {written:,} records", flush=True)
    meta = {"version": DATASET_VERSION, "records": records, "bytes": path.stat().st_size, "claims": kinds.get("INSERT", 0),
            "event_names": kinds, "build_seconds": round(time.perf_counter() - started, 1)}
    path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
    return meta


# --------------------------------------------------------------------------- workers (one subprocess each)

_DDB = "STRUCT(S VARCHAR, N VARCHAR, \"BOOL\" BOOLEAN, \"NULL\" BOOLEAN)"
# Every attribute the seed's Lambda extracts (the same set as the claims spec), with its kind.
_BARE_ATTRIBUTES = {
    "status": "text", "claim_amount": "number", "payout_amount": "number", "ai_recommended_payout": "number",
    "textract_cost": "number", "bedrock_cost": "number", "total_aws_cost": "number",
    "textract_operation": "text", "fraud_score": "number", "confidence_score": "number",
    "ai_agreement_flag": "text", "adjuster_override": "boolean", "override_justification": "text",
    "processing_duration_ms": "number", "vehicle_type": "text", "region": "text",
    "incident_date": "date", "created_at": "timestamp", "updated_at": "timestamp",
}
_BARE_CAST = {
    "text": "{v}.S", "number": "TRY_CAST({v}.N AS DOUBLE)", "boolean": "{v}.\"BOOL\"",
    "date": "TRY_CAST({v}.S AS DATE)", "timestamp": "TRY_CAST({v}.S AS TIMESTAMP)",
}


def bare_statement(file: str, out_dir: str) -> str:
    image = ", ".join(f"{name} {_DDB}" for name in ["claim_id", *_BARE_ATTRIBUTES])
    columns = {
        "eventID": "VARCHAR", "eventName": "VARCHAR", "eventSource": "VARCHAR", "awsRegion": "VARCHAR",
        "dynamodb": f"STRUCT(ApproximateCreationDateTime DOUBLE, SequenceNumber VARCHAR, "
                    f"Keys STRUCT(claim_id {_DDB}), NewImage STRUCT({image}))",
    }
    columns_sql = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    attrs = ",\n           ".join(
        _BARE_CAST[kind].format(v=f"dynamodb.NewImage.{name}") + f" AS {name}" for name, kind in _BARE_ATTRIBUTES.items()
    )
    return f"""COPY (
    SELECT eventID AS event_id, eventName AS event_type,
           make_timestamp(CAST(dynamodb.ApproximateCreationDateTime * 1e6 AS BIGINT)) AS event_time,
           CAST(event_time AS DATE) AS event_date,
           dynamodb.SequenceNumber AS sequence_number, eventSource AS event_source, awsRegion AS aws_region,
           coalesce(dynamodb.Keys.claim_id.S, dynamodb.NewImage.claim_id.S) AS claim_id,
           {attrs},
           eventName = 'REMOVE' AS is_removed
    FROM read_json('{file}', format = 'newline_delimited', columns = {columns_sql})
) TO '{out_dir}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date))"""


def worker_bare(args: argparse.Namespace) -> dict:
    import duckdb

    con = duckdb.connect(config={"threads": os.cpu_count()})
    con.execute("SET TimeZone = 'UTC'")
    started, cpu = time.perf_counter(), _cpu_seconds()
    rows = con.execute(bare_statement(args.file, args.out)).fetchall()[0][0]
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    return {"records": rows, "rows_out": rows, "seconds": seconds, "cpu_seconds": cpu, "threads": threads,
            "peak_kb": _peak_rss_kb()}


class _TracedConnection:
    """Forwards to a DuckDB connection, timing every ``execute`` (profiling only; not used when measuring)."""

    def __init__(self, con, log: list):
        self._con, self._log = con, log

    def execute(self, query, *params):
        started = time.perf_counter()
        self._con.execute(query, *params)
        self._log.append((time.perf_counter() - started, " ".join(str(query).split())[:400]))
        return self

    def __getattr__(self, name):
        return getattr(self._con, name)


def worker_ours(args: argparse.Namespace) -> dict:
    import duckdb
    import pandas  # noqa: F401  (DuckDB's register() imports it; a Dagster process has it loaded already)

    from analytics_pipeline.ingestion import raw_merge, staging
    from analytics_pipeline.ingestion.raw_merge import merge_day
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.sources.claims.spec import claims_spec

    trace: list = []
    if args.profile:
        for module in (staging, raw_merge):
            real = module.connect
            module.connect = lambda *a, _real=real, **k: _TracedConnection(_real(*a, **k), trace)
    landing, lake = StorageRoot(args.landing), StorageRoot(args.out)
    files = [f for f in landing.list_files(SOURCE) if f.key == args.key]
    assert len(files) == 1, f"{args.key} not found under {args.landing}"
    started, cpu = time.perf_counter(), _cpu_seconds()
    batch = stage_batch(lake, landing, claims_spec(), files, PARTITIONS_START, now=LIFECYCLE_END.replace(tzinfo=None))
    staged_at = time.perf_counter()
    stage_peak = _reset_peak_rss()
    merged = [merge_day(lake, SOURCE, day) for day in sorted(batch.days)]
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    figures = batch.figures
    return {
        "records": figures.records_in, "seconds": seconds, "cpu_seconds": cpu, "stage_seconds": staged_at - started,
        "merge_seconds": seconds - (staged_at - started), "stage_peak_kb": stage_peak, "merge_peak_kb": _peak_rss_kb(),
        "peak_kb": max(stage_peak, _peak_rss_kb()),
        "staged": figures.landed, "quarantined": figures.quarantined, "duplicates": figures.duplicates,
        "rows_out": sum(m.partition_rows for m in merged), "days": len(merged),
        "threads": duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0],
        "memory_limit": os.environ.get("ANALYTICS_DUCKDB_MEMORY_LIMIT") or "DuckDB default (80 % of RAM)",
        "trace": [(round(s, 3), q) for s, q in trace],
    }


def worker_python(args: argparse.Namespace) -> dict:
    """The seed's Lambda, per record: parse, deserialize the DynamoDB image, keep the metrics; Parquet per day."""
    from datetime import date
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    schema = pa.schema(
        [("event_id", pa.string()), ("event_type", pa.string()), ("event_time", pa.timestamp("us")),
         ("sequence_number", pa.string()), ("event_source", pa.string()), ("aws_region", pa.string()),
         ("claim_id", pa.string())]
        + [(name, {"text": pa.string(), "number": pa.float64(), "boolean": pa.bool_(), "date": pa.date32(),
                   "timestamp": pa.timestamp("us")}[kind]) for name, kind in _BARE_ATTRIBUTES.items()]
        + [("is_removed", pa.bool_())]
    )

    def convert(value, kind):
        if value is None:
            return None
        if kind == "number":
            return float(value) if isinstance(value, Decimal) else None
        if kind == "text":
            return str(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else None
        try:
            if kind == "date":
                return date.fromisoformat(value[:10])
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except (TypeError, ValueError):
            return None

    writers: dict[str, pq.ParquetWriter] = {}
    buffers: dict[str, list] = {}
    buffered = 0

    def flush():
        for day, rows in buffers.items():
            if day not in writers:
                folder = Path(args.out) / f"event_date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                writers[day] = pq.ParquetWriter(folder / "part-0.parquet", schema, compression="snappy")
            writers[day].write_table(pa.Table.from_pylist(rows, schema=schema))
        buffers.clear()

    started, cpu = time.perf_counter(), _cpu_seconds()
    records = 0
    with open(args.file, "rb") as lines:
        for line in lines:
            if args.limit and records >= args.limit:
                break
            records += 1
            record = json.loads(line)
            ddb = record["dynamodb"]
            image = ddb.get("NewImage") or ddb.get("OldImage") or {}
            item = {name: deserializer.deserialize(value) for name, value in image.items()}
            keys = {name: deserializer.deserialize(value) for name, value in ddb.get("Keys", {}).items()}
            event_time = datetime.fromtimestamp(float(ddb["ApproximateCreationDateTime"]), timezone.utc).replace(tzinfo=None)
            row = {
                "event_id": record["eventID"], "event_type": record["eventName"], "event_time": event_time,
                "sequence_number": ddb.get("SequenceNumber"), "event_source": record.get("eventSource"),
                "aws_region": record.get("awsRegion"), "claim_id": keys.get("claim_id") or item.get("claim_id"),
                "is_removed": record["eventName"] == "REMOVE",
            }
            for name, kind in _BARE_ATTRIBUTES.items():
                row[name] = convert(item.get(name), kind)
            buffers.setdefault(event_time.date().isoformat(), []).append(row)
            buffered += 1
            if buffered >= 100_000:
                flush()
                buffered = 0
    flush()
    for writer in writers.values():
        writer.close()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return {"records": records, "rows_out": records, "seconds": seconds, "cpu_seconds": cpu, "days": len(writers),
            "peak_kb": _peak_rss_kb()}


def code_fingerprint() -> str:
    """A hash of the ingestion and lake code a worker imports: other people edit it while benchmarks run."""
    import hashlib

    digest = hashlib.sha256()
    package = HERE.parent / "analytics_pipeline"
    for path in sorted([*package.glob("ingestion/**/*.py"), *package.glob("ingestion/**/*.sql"), *package.glob("lake/*.py")]):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> int:
    """VmHWM so far, then reset it (Linux ``clear_refs`` 5) so the next phase's peak is its own."""
    peak = _peak_rss_kb()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return peak


WORKERS = {"build": worker_build, "bare": worker_bare, "ours": worker_ours, "python": worker_python}


# --------------------------------------------------------------------------- driver

def run_worker(kind: str, extra: list[str], env: dict | None = None, label: str | None = None) -> dict:
    """Run one path in a fresh interpreter and collect its result; its outputs are removed afterwards.

    Peak RSS is the child's own VmHWM (also bounded below by wait4's ru_maxrss): the driver builds
    nothing big itself, so a fork does not hand the child a large parent's high-water mark.
    """
    label = label or kind
    out = WORK / f"out-{label}"
    cwd = WORK / f"cwd-{label}"               # DuckDB spills to ./.tmp: keep it under .work/
    for folder in (out, cwd):
        shutil.rmtree(folder, ignore_errors=True)
    cwd.mkdir(parents=True)
    result_file = cwd / "result.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--out", str(out),
               "--result", str(result_file), *extra]
    load = Path("/proc/loadavg").read_text().split()[0]
    child = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{label} failed (wait status {status})")
    result = json.loads(result_file.read_text())
    result["peak_rss_mb"] = max(usage.ru_maxrss, result.get("peak_kb", 0)) / 1024
    result["label"], result["load_before"] = label, float(load)
    for folder in (out, cwd):
        shutil.rmtree(folder, ignore_errors=True)
    if kind != "build":
        print(f"  {label:<13} {result['records']:>9,} records {result['seconds']:7.1f} s "
              f"{result['records'] / result['seconds']:>9,.0f}/s  cpu {result['cpu_seconds']:6.1f} s  "
              f"peak {result['peak_rss_mb']:>6,.0f} MB  (load before {load})", flush=True)
    return result


def machine() -> dict:
    import duckdb
    import pyarrow

    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if ":" in line:
            key, value = (part.strip() for part in line.split(":", 1))
            fields.setdefault(key, value)
    cpu = fields.get("model name", "unknown CPU")
    if fields.get("cpu family"):
        cpu += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:"))
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024**2, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
            "kernel": platform.release(), "code": _code_version()}


def _code_version() -> str:
    """The commit measured, and whether the ingestion code differs from it (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "analytics_pipeline/ingestion", "analytics_pipeline/lake"],
                               cwd=HERE.parent, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in ingestion/lake" if dirty else "")


def summarize(runs: list[dict]) -> dict:
    """The fastest run of a path (contention on a shared machine only ever slows a run down), all wall times, max peak."""
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["all_seconds"] = [round(r["seconds"], 1) for r in runs]
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["stage_peak_mb"] = max(r.get("stage_peak_kb", 0) for r in runs) / 1024
    best["merge_peak_mb"] = max(r.get("merge_peak_kb", 0) for r in runs) / 1024
    return best


def rate(r: dict) -> float:
    return r["records"] / r["seconds"]


def table(rows: list[dict], bare: dict, python: dict) -> list[str]:
    lines = ["| path | records | seconds (best round) | records/s | vs bare | vs per-record Python | CPU s | "
             "vs bare, by CPU | peak RSS (highest round) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cpu_ratio = (bare["cpu_seconds"] / bare["records"]) / (r["cpu_seconds"] / r["records"])
        lines.append(f"| {r['title']} | {r['records']:,} | {r['seconds']:.1f} | {rate(r):,.0f} | {rate(r) / rate(bare):.2f} | "
                     f"{rate(r) / rate(python):.2f} | {r['cpu_seconds']:.0f} | {cpu_ratio:.2f} | {r['peak_rss_mb']:,.0f} MB |")
    return lines


def report(args, meta: dict, host: dict, rows: list[dict], when: str, loads: list[float], trace: list | None) -> str:
    bare = next(r for r in rows if r["label"] == "bare")
    python = next(r for r in rows if r["label"] == "python")
    ours = [r for r in rows if r["label"].startswith("ours")]
    rerun = "uv run python benchmarks/ingest_claims.py --keep" + (f" --records {args.records}" if args.records != 1_100_000 else "")
    out = [
        f"Run {when}, code {host['code']} · `{rerun}` · best of {args.repeat} interleaved rounds per path.",
        "",
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['ram_gb']} GB RAM, Linux {host['kernel']}; "
        f"Python {host['python']}, DuckDB {host['duckdb']}, pyarrow {host['pyarrow']}. "
        f"1-minute load average before the runs: {min(loads):.1f} to {max(loads):.1f} (the machine is shared).",
        "",
        f"Input: {meta['records']:,} DynamoDB Streams records (NEW_AND_OLD_IMAGES), one JSON object per line, "
        f"{meta['bytes'] / 1e9:.2f} GB ({meta['bytes'] / meta['records']:,.0f} bytes/record; the anchor file has 1,418), "
        f"{meta['event_names'].get('INSERT', 0):,} claims: " + ", ".join(f"{k} {v:,}" for k, v in sorted(meta["event_names"].items())) + ".",
        "",
        *table(rows, bare, python),
        "",
    ]
    for r in rows:
        out.append(f"- {r['title']}: wall seconds per round {r['all_seconds']}.")
    for r in ours:
        speed_ok, memory_ok = rate(r) / rate(bare) >= 0.5, r["peak_rss_mb"] < 1000  # 1 GB read strictly (MB here are MiB)
        out.append(
            f"- **{r['title']}** (best round): stage_batch {r['stage_seconds']:.1f} s, merge_day × {r['days']} days "
            f"{r['merge_seconds']:.1f} s; peak RSS in stage_batch {r['stage_peak_mb']:,.0f} MB, in the merges "
            f"{r['merge_peak_mb']:,.0f} MB; {r['staged']:,} staged, {r['quarantined']:,} quarantined, "
            f"{r['duplicates']:,} duplicates, {r['rows_out']:,} rows in raw; DuckDB threads {r['threads']}, "
            f"memory limit: {r['memory_limit']}. Targets: ≥ 0.5 × bare **{'met' if speed_ok else 'not met'}**, "
            f"peak < 1 GB (1,000 MB) **{'met' if memory_ok else 'not met'}**."
        )
    out.append(
        f"- Bare ran with DuckDB threads = {bare['threads']} (the core count); it reads {meta['bytes'] / meta['records'] * rate(bare) / 1e6:,.0f} MB/s "
        f"of JSON. ARCHITECTURE.md's anchors (1.42 KB/record, another 2-core machine): bare ~{ANCHOR_BARE:,}/s, "
        f"per-record Python ~{ANCHOR_PYTHON:,}/s; here {rate(bare):,.0f}/s and {rate(python):,.0f}/s. Compare ratios, not rates."
    )
    if python["records"] < meta["records"]:
        out.append(f"- Per-record Python was measured on the first {python['records']:,} records only (`--python-records`).")
    if trace:
        out += ["", "Our path, DuckDB statements by kind (one extra traced run, not in the table):", "",
                "| seconds | calls | statement |", "|---:|---:|---|"]
        out += [f"| {seconds:.1f} | {calls} | `{statement}` |".replace("||", "\\|\\|") for seconds, calls, statement in trace]
    return "\n".join(out)


def statement_kinds(trace: list) -> list[tuple[float, int, str]]:
    """Traced statements grouped by their text with literals blanked, costliest first."""
    import re

    kinds: dict[str, list] = {}
    for seconds, query in trace:
        key = re.sub(r"'[^']*'", "'…'", query)
        key = re.sub(r"-- DynamoDB Streams change records.*", "<claims_records.sql>", key)[:120]
        entry = kinds.setdefault(key, [0.0, 0])
        entry[0] += seconds
        entry[1] += 1
    return sorted(((s, n, k) for k, (s, n) in kinds.items() if s >= 0.1), reverse=True)


def write_readme(section: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    if RESULTS_START not in text:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + RESULTS_START + "\n" + RESULTS_END + "\n"
    before, rest = text.split(RESULTS_START, 1)
    after = rest.split(RESULTS_END, 1)[1] if RESULTS_END in rest else "\n"
    README.write_text(before + RESULTS_START + "\n" + section + "\n" + RESULTS_END + after)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_100_000, help="records in the input file (default 1,100,000)")
    parser.add_argument("--keep", action="store_true", help="reuse the cached input file if it was built for --records")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; each path reports its best (default 3)")
    parser.add_argument("--python-records", type=int, default=0,
                        help="measure the per-record Python path on this many leading records only (default: all)")
    parser.add_argument("--memory-limit", default="700MB",
                        help="ANALYTICS_DUCKDB_MEMORY_LIMIT for the extra run of our path (default 700MB)")
    parser.add_argument("--limited-run", choices=["auto", "always", "never"], default="auto",
                        help="also run our path with --memory-limit: if its peak reaches 1 GB (auto), always, never")
    parser.add_argument("--profile", action="store_true",
                        help="one more run of our path timing every DuckDB statement it executes (reported apart)")
    parser.add_argument("--no-readme", action="store_true", help="print the results only")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the README results from the last run (benchmarks/.work/last-results.json)")
    # internal: one path in a child process
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        fingerprint = code_fingerprint()
        result = WORKERS[args.worker](args)
        result["code_fingerprint"] = fingerprint
        Path(args.result).write_text(json.dumps(result))
        return
    if args.report_only:
        saved = json.loads((WORK / "last-results.json").read_text())
        section = report(argparse.Namespace(**saved["args"]), saved["meta"], saved["machine"], saved["rows"],
                         saved["when"], saved["loads"], saved["trace"])
        print(section)
        write_readme(section)
        return

    env_limit = os.environ.get("ANALYTICS_DUCKDB_MEMORY_LIMIT")
    WORK.mkdir(parents=True, exist_ok=True)
    file = dataset_path(args.records)
    meta = cached_dataset(args.records) if args.keep else None
    if meta:
        print(f"reusing {file.relative_to(HERE.parent)} ({meta['bytes'] / 1e9:.2f} GB)", flush=True)
    else:
        print(f"building {args.records:,} stream records into {file.relative_to(HERE.parent)} ...", flush=True)
        meta = run_worker("build", ["--records", str(args.records)])
        print(f"built {meta['bytes'] / 1e9:.2f} GB ({meta['bytes'] / meta['records']:,.0f} bytes/record) "
              f"in {meta['build_seconds']} s", flush=True)
    landing = WORK / "landing"
    key = str(file.relative_to(landing))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()
    print(f"machine: {host}", flush=True)

    ours_args = ["--landing", str(landing), "--key", key]
    paths = {
        "bare": ("bare", ["--file", str(file)], None, "bare DuckDB statement"),
        "ours": ("ours", ours_args, None, "ours: stage_batch + merge_day"
                 + (f" (ANALYTICS_DUCKDB_MEMORY_LIMIT={env_limit})" if env_limit else "")),
        "python": ("python", ["--file", str(file), "--limit", str(args.python_records)], None,
                   "per-record Python (the claims Lambda's way)"),
    }
    limited = ("ours", ours_args, {"ANALYTICS_DUCKDB_MEMORY_LIMIT": args.memory_limit},
               f"ours, ANALYTICS_DUCKDB_MEMORY_LIMIT={args.memory_limit}")
    if args.limited_run == "always":
        paths["ours-limited"] = limited
    runs: dict[str, list[dict]] = {}
    for round_no in range(1, args.repeat + 1):
        print(f"round {round_no}/{args.repeat}", flush=True)
        for label, (kind, extra, env, _) in list(paths.items()):
            runs.setdefault(label, []).append(run_worker(kind, extra, env, label))
            if label == "ours" and args.limited_run == "auto" and "ours-limited" not in paths \
                    and runs["ours"][-1]["peak_rss_mb"] >= 1024:
                paths["ours-limited"] = limited
                runs["ours-limited"] = [run_worker(*limited[:3], "ours-limited")]
    rows = []
    for label, (_, _, _, title) in paths.items():
        row = summarize(runs[label])
        row["title"] = title + (f", first {row['records']:,} records" if label == "python" and row["records"] < meta["records"] else "")
        if row["rows_out"] != row["records"] or (label != "python" and row["records"] != meta["records"]):
            print(f"WARNING: {label} read {row['records']:,} records and wrote {row['rows_out']:,} rows; "
                  f"the file has {meta['records']:,}")
        rows.append(row)
    order = ["bare", "ours", "ours-limited", "python"]
    rows.sort(key=lambda r: order.index(r["label"]))

    trace = None
    if args.profile:
        print("profiling our path (every DuckDB statement timed)", flush=True)
        traced = run_worker("ours", [*ours_args, "--profile"], None, "ours-profile")
        trace = statement_kinds(traced["trace"])
    loads = [r["load_before"] for label in runs for r in runs[label]]
    fingerprints = sorted({r["code_fingerprint"] for label in runs if label.startswith("ours") for r in runs[label]})
    host["code"] += f" (ingestion/lake fingerprint {', '.join(fingerprints)})"
    if len(fingerprints) > 1:
        print(f"WARNING: the ingestion code changed during the run ({', '.join(fingerprints)}); rerun when it is quiet")
        host["code"] += " — CHANGED DURING THE RUN, numbers mix versions"
    section = report(args, meta, host, rows, when, loads, trace)
    print()
    print(section)
    (WORK / "last-results.json").write_text(json.dumps(
        {"args": vars(args), "meta": meta, "machine": host, "when": when, "loads": loads, "rows": rows, "runs": runs,
         "trace": trace}, indent=2, default=str))
    if not args.no_readme:
        write_readme(section)
        print(f"\nresults written to {README.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
