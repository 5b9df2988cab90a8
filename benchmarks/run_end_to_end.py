"""Benchmark: the whole `analytics-pipeline run` process on the 1.1 M-record stream file, beside the bare DuckDB statement.

    cd /work/main && uv run python benchmarks/run_end_to_end.py [--records 1100000] [--repeat 2] [--memory-limit 1GB]

What it measures, in interleaved rounds (``--repeat``, default 2), on the same file in the same run:

- ``bare``  ``ingest_claims.py``'s anchor: one DuckDB statement, read_json → partitioned Parquet, in a fresh
            subprocess; its time covers the statement only, its peak is the worker's own high-water mark;
- ``run``   the console script ``analytics-pipeline run`` as a subprocess, in a fresh data dir
            (``ANALYTICS_DATA_DIR`` under ``benchmarks/.work/end_to_end/``, ``DAGSTER_HOME`` under it) whose
            landing zone (``<data dir>/landing/claims/``) holds the stream file (hard-linked): timed from before
            the process starts to its exit (interpreter start-up, imports, Dagster instance, sensors, staging,
            day merges, daily marts, whole-lake tables, warehouse views, dashboards), with the peak resident
            memory of its whole process tree sampled from /proc every 0.2 s;
- ``empty`` (unless ``--no-empty``) the same command on an empty landing zone: the fixed cost of a run.

Every round checks the run's own summary line: records in = landed = the file's records, nothing quarantined,
no duplicates. The stream file is ``ingest_claims.py``'s (built or reused from ``benchmarks/.work/``).
Results (best round per path plus every round) are printed and written into this script's section of
``benchmarks/README.md``. Nothing is asserted about the times.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import ingest_claims
from proc_tree import TreePeak
from report import machine, publish
from scale_10m import clean_env, du

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "end_to_end"
BIN = Path(sys.executable).parent  # the venv's bin: its console script `analytics-pipeline`
DEFAULT_RECORDS = 1_100_000
TITLE = "the whole `analytics-pipeline run` process vs the bare DuckDB statement"


# --------------------------------------------------------------------------- shared with lake_age.py

def base_dataset(records: int) -> tuple[Path, dict]:
    """``ingest_claims.py``'s stream file of ``records`` records (built in a subprocess unless cached), its meta."""
    meta = ingest_claims.cached_dataset(records)
    if meta is None:
        print(f"building {records:,} stream records with ingest_claims.py's builder "
              f"(~3 min for 1.1 M; replaces any cached file of another size) ...", flush=True)
        meta = ingest_claims.run_worker("build", ["--records", str(records)])
        meta = ingest_claims.cached_dataset(records) or meta
    path = ingest_claims.dataset_path(records)
    print(f"stream file: {path.relative_to(ROOT)} ({meta['bytes'] / 1e9:.2f} GB, {records:,} records)", flush=True)
    return path, meta


def package_dir() -> Path:
    """Where ``analytics_pipeline`` is imported from (this checkout, unless PYTHONPATH puts another first)."""
    return Path(importlib.util.find_spec("analytics_pipeline").origin).parent


def package_fingerprint() -> str:
    """A hash of the imported ``analytics_pipeline`` package (code, SQL, YAML, JSON): the run imports all of it,
    and other people edit it while benchmarks run."""
    digest = hashlib.sha256()
    package = package_dir()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".sql", ".yaml", ".json", ".jsonl")
                       and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def code_version() -> str:
    """The commit, and whether the package differs from it (read-only git calls)."""
    if package_dir() != ROOT / "analytics_pipeline":
        return f"analytics_pipeline imported from {package_dir()} (not this checkout)"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "analytics_pipeline"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in analytics_pipeline/" if dirty else "")


def place(source: Path, target: Path) -> None:
    """``source`` at ``target``: a hard link (the pipeline only reads landing files), a copy across devices."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def run_process(env: dict, cwd: Path) -> dict:
    """``analytics-pipeline run`` (the venv's console script) as a subprocess: wall seconds from before it starts
    to its exit, the peak RSS of its process tree (proc_tree.TreePeak), when its phases began, its summary rows."""
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "analytics-pipeline"), "run"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    phases: dict[str, float] = {}
    output: list[str] = []
    with TreePeak(proc.pid) as peak:
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            if not _NOISE.search(line):
                print(f"  [{time.monotonic() - started:7.1f}s] {line}", end="", flush=True)
            for phase, mark in _PHASES:
                if mark.search(line):
                    phases.setdefault(phase, time.monotonic() - started)
        proc.wait()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        tail = "\n".join(line for line in output if not _NOISE.search(line))[-3000:]
        raise SystemExit(f"analytics-pipeline run failed (exit {proc.returncode}) in {cwd}:\n{tail}")
    summary = _summary(output)
    if "claims" not in summary:
        raise SystemExit("analytics-pipeline run printed no summary row for claims:\n" + "\n".join(output[-20:]))
    files, records_in, landed, quarantined, duplicates, days = summary["claims"]["counts"]
    return {"seconds": seconds, "phases": phases, "peak_bytes": peak.peak, "samples": peak.samples,
            "files": files, "records_in": records_in, "landed": landed, "quarantined": quarantined,
            "duplicates": duplicates, "days": days, "summary_header": summary.pop("header")["line"],
            "summary_lines": [r["line"] for r in summary.values()]}


# Progress lines that start a phase: the first day merge ends staging; the whole-lake tables end the merges.
_PHASES = (("staged", re.compile(r"^\s*claims:? days? ")), ("merged", re.compile(r"whole-lake")))
# Dagster's import-time warnings (kept in the output, not echoed).
_NOISE = re.compile(r"Warning: |return fn\(|warnings\.warn|Found multiple backfill|BackfillPolicy\(|^\s*$")


def _summary(output: list[str]) -> dict:
    """The run's closing table: source → its line and (files, records in, landed, quarantined, duplicates, days)."""
    rows: dict[str, dict] = {}
    header = next((i for i, line in enumerate(output) if line.startswith("source") and "records in" in line), None)
    if header is None:
        return rows
    rows["header"] = {"line": output[header]}
    for line in output[header + 2:]:
        fields = line.split()
        if len(fields) < 7 or not all(f.isdigit() for f in fields[1:7]):
            break
        rows[fields[0]] = {"line": line, "counts": tuple(int(f) for f in fields[1:7])}
    return rows


def timed_run(data: Path, memory_limit: str, label: str) -> dict:
    """``analytics-pipeline run`` on the data dir ``data``, no inherited ``ANALYTICS_*`` variable (see run_process)."""
    extra = {"ANALYTICS_DUCKDB_MEMORY_LIMIT": memory_limit} if memory_limit else {}
    env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"), **extra)
    load = os.getloadavg()[0]
    before = package_fingerprint()
    print(f"{label}: analytics-pipeline run (data dir {data.relative_to(ROOT)}) ...", flush=True)
    result = run_process(env, cwd=data)
    result.update(label=label, load_before=load, fingerprint=before, fingerprint_after=package_fingerprint(),
                  peak_mb=result["peak_bytes"] / 2**20)
    print(f"  -> {label}: {result['seconds']:.1f} s, peak {result['peak_mb']:,.0f} MB; its summary:", flush=True)
    for line in [result["summary_header"], *result["summary_lines"]]:
        print(f"     {line}", flush=True)
    return result


def phases_text(r: dict) -> str:
    staged, merged = r["phases"].get("staged"), r["phases"].get("merged")
    if staged is None or merged is None:
        return "-"
    return (f"start-up + staging {staged:.1f} s, day merges + daily marts {merged - staged:.1f} s, "
            f"whole-lake tables + views {r['seconds'] - merged:.1f} s")


def each(runs: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in runs)


def mixed_versions(runs: list[dict]) -> list[str]:
    return sorted({r["fingerprint"] for r in runs} | {r["fingerprint_after"] for r in runs})


# --------------------------------------------------------------------------- this benchmark

def fresh_data_dir(file: Path | None) -> Path:
    data = WORK / "data"
    shutil.rmtree(data, ignore_errors=True)
    (data / "landing" / "claims").mkdir(parents=True)
    if file is not None:
        place(file, data / "landing" / "claims" / file.name)
    return data


def check(r: dict, records: int) -> list[str]:
    problems = []
    if r["records_in"] != records:
        problems.append(f"records in {r['records_in']:,} ≠ {records:,}")
    if r["landed"] != records:
        problems.append(f"landed {r['landed']:,} ≠ records {records:,}")
    if r["quarantined"] or r["duplicates"]:
        problems.append(f"{r['quarantined']:,} quarantined, {r['duplicates']:,} duplicates (expected none)")
    return problems


def report(args, meta: dict, when: str, host: str, code: str, bare: list[dict], ours: list[dict],
           empty: list[dict], problems: list[str], wall: float) -> str:
    best_bare = min(bare, key=lambda r: r["seconds"])
    best = min(ours, key=lambda r: r["seconds"])
    records = meta["records"]
    command = "uv run python benchmarks/run_end_to_end.py" + (f" --records {records}" if records != DEFAULT_RECORDS else "") \
        + (f" --repeat {args.repeat}" if args.repeat != 2 else "") + (f" --memory-limit {args.memory_limit}" if args.memory_limit else "")
    loads = [r["load_before"] for r in (*bare, *ours, *empty)]
    lines = [
        f"Run {when}, code {code} · `{command}` · best of {args.repeat} interleaved rounds per path · "
        f"{wall / 60:.1f} min in all.",
        "",
        f"Machine: {host} 1-minute load average before the runs: {min(loads):.1f} to {max(loads):.1f} "
        "(the machine is shared).",
        "",
        f"Input: `ingest_claims.py`'s stream file, {records:,} DynamoDB Streams records, {meta['bytes'] / 1e9:.2f} GB "
        f"of JSON lines ({meta['bytes'] / records:,.0f} bytes/record); " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(meta["event_names"].items())) + ".",
        "",
        "| path | records | seconds (best round) | records/s | × bare (bare s / this s) | peak RSS (highest round) | every round, s |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| bare DuckDB statement (statement only) | {best_bare['records']:,} | {best_bare['seconds']:.1f} | "
        f"{best_bare['records'] / best_bare['seconds']:,.0f} | 1.00 | {max(r['peak_rss_mb'] for r in bare):,.0f} MB | "
        f"{each(bare)} |",
        f"| `analytics-pipeline run`, whole process{' (ANALYTICS_DUCKDB_MEMORY_LIMIT=' + args.memory_limit + ')' if args.memory_limit else ''} "
        f"| {best['records_in']:,} | {best['seconds']:.1f} | {records / best['seconds']:,.0f} | "
        f"{best_bare['seconds'] / best['seconds']:.2f} | {max(r['peak_mb'] for r in ours):,.0f} MB (process tree) | "
        f"{each(ours)} |",
    ]
    if empty:
        best_empty = min(empty, key=lambda r: r["seconds"])
        lines.append(f"| `analytics-pipeline run` on an empty landing zone (fixed cost) | 0 | {best_empty['seconds']:.1f} | - | - | "
                     f"{max(r['peak_mb'] for r in empty):,.0f} MB (process tree) | {each(empty)} |")
    lines += [
        "",
        f"- Landed = records in = {records:,}, nothing quarantined, no duplicates, in every round: "
        f"**{'yes' if not problems else 'NO'}**. The best round's own summary rows:",
        "",
        "  ```",
        *[f"  {line}" for line in [best["summary_header"], *best["summary_lines"]]],
        "  ```",
        "",
        f"- Where the best round's time went (from its progress lines): {phases_text(best)}; "
        f"lake on disk {best['lake_bytes'] / 1e9:.2f} GB.",
    ]
    if empty:
        lines.append(f"- Without the fixed cost of a run (best empty run {best_empty['seconds']:.1f} s), the run took "
                     f"{best['seconds'] - best_empty['seconds']:.1f} s: "
                     f"{best_bare['seconds'] / max(best['seconds'] - best_empty['seconds'], 1e-9):.2f} × bare.")
    lines += [f"- Problem: {p}" for p in problems]
    versions = mixed_versions([*ours, *empty])
    if len(versions) > 1:
        lines.append(f"- **The package changed during the run** (fingerprints {', '.join(versions)}): the rounds mix code versions.")
    lines += [
        "",
        "Method: each path runs in a fresh process, in rounds (bare, then the run, then the empty run). Bare is "
        "`ingest_claims.py`'s worker: its seconds cover the one statement (not interpreter start-up or imports), its "
        "peak is the worker's `VmHWM`. The run is the console script `analytics-pipeline run` in a new data dir "
        "(`ANALYTICS_DATA_DIR`, `DAGSTER_HOME` under it, the stream file hard-linked into `landing/claims/`); its seconds "
        "run from before the process starts until it exits, and its peak is the resident memory of the whole process "
        "tree, sampled every 0.2 s. × bare = bare seconds / the path's seconds (1.00 = as fast as the statement). "
        "Each path reports its fastest round (contention on a shared machine only slows a run down) and its "
        "highest peak.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records in the stream file (default 1,100,000)")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; each path reports its best (default 2)")
    parser.add_argument("--memory-limit", default="", help="ANALYTICS_DUCKDB_MEMORY_LIMIT for the runs (default: unset)")
    parser.add_argument("--no-empty", action="store_true", help="skip the run on an empty landing zone")
    parser.add_argument("--no-readme", action="store_true", help="print the results only")
    args = parser.parse_args(argv)

    started = time.monotonic()
    file, meta = base_dataset(args.records)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    code = f"{code_version()} (package fingerprint {package_fingerprint()})"
    host = machine()
    print(f"code {code}; machine: {host}", flush=True)
    bare, ours, empty, problems = [], [], [], []
    for round_no in range(1, args.repeat + 1):
        print(f"round {round_no}/{args.repeat}", flush=True)
        b = ingest_claims.run_worker("bare", ["--file", str(file)], None, "bare")
        bare.append(b)
        data = fresh_data_dir(file)
        r = timed_run(data, args.memory_limit, f"run, round {round_no}")
        r["lake_bytes"] = du(data / "lake")
        problems += [f"round {round_no}: {p}" for p in check(r, args.records)]
        ours.append(r)
        if not args.no_empty:
            empty.append(timed_run(fresh_data_dir(None), args.memory_limit, f"empty run, round {round_no}"))
        shutil.rmtree(WORK / "data", ignore_errors=True)
    for p in problems:
        print(f"WARNING: {p}", flush=True)
    if len(mixed_versions([*ours, *empty])) > 1:
        print("WARNING: the analytics_pipeline package changed during the run; rerun when it is quiet", flush=True)
    body = report(args, meta, when, host, code, bare, ours, empty, problems, time.monotonic() - started)
    print()
    publish("run_end_to_end.py", TITLE, body, args.no_readme)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
