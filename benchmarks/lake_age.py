"""Benchmark: what one new day of data costs as the lake ages (the whole `analytics-pipeline run` process).

    cd /work/main && uv run python benchmarks/lake_age.py [--sizes 0,4400000,11000000] [--records 1100000] [--keep]

Lakes. For every size in ``--sizes`` a lake is built by ONE ``analytics-pipeline run`` process (timed, with
the peak resident memory of its process tree: "building the lake") over landing copies of
``ingest_claims.py``'s stream file (``--records`` records, default 1.1 M). Copy k has its own claim ids
(``CLM{k:02d}-…``) and event ids (``k{k:02d}…``) and all its times moved k × 31 days EARLIER: the stream
record's ``ApproximateCreationDateTime`` and every date/time string of its images (``created_at``,
``updated_at``, ``incident_date``). Earlier, not later: staging quarantines events after the end of today
(UTC) and the stream file already ends in October 2026, so copy 0 (the file itself) is always the newest
and every lake ends on the same day; a 4.4 M lake spans ~4 × 31 days, an 11 M lake ~10 × 31 days. A size
that is not a multiple of ``--records`` ends with a partial copy. Size 0, always measured, is an empty lake (a data dir after
one run on an empty landing zone). Built lakes are kept under ``benchmarks/.work/lake_age/lakes/`` keyed by
size, base records and dataset versions; ``--keep`` reuses them (otherwise they are rebuilt).

New data. Two files of 2,000 records each (``--new-records``), for the two days after the lake's last day:
new claims of that day (the demo generator's lifecycles, cut at the end of the day) plus ``--modify``
(default 300) MODIFY records of the claims touched last in the lake (copy 0's newest claims not removed),
so keyed state per claim is touched. The files are the same for every size (the empty lake gets MODIFY
records of claims it has never seen).

Measurement. For each lake (restored from its snapshot with ``cp -a``, landing files hard-linked): drop the
first file into ``landing/claims/new/``, time the whole ``analytics-pipeline run`` process (start to exit)
and its tree's peak RSS; then drop the second file and run again (the steady state). ``--repeat`` rounds
(default 2) go through all sizes in turn; each figure is the best round (every round is listed). Reported
per size: new-file seconds and ratio to the empty lake (target ≤ 1.5 ×), peak MB (target < 1 GB), and the
build time (target ≤ 100 s for the 4.4 M lake). Results are printed and written into this script's section
of ``benchmarks/README.md``. Nothing is asserted about the times.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import subprocess
import sys
import time
from array import array
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import ingest_claims
from report import machine, publish
from run_end_to_end import (
    base_dataset,
    code_version,
    each,
    mixed_versions,
    package_fingerprint,
    phases_text,
    place,
    timed_run,
)
from scale_10m import du

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "lake_age"
RUN = WORK / "run"                 # every lake is built and measured at this path (the lake holds absolute paths)
RECIPE_VERSION = 1                 # bump when copies, new-day files or the lake build change
SHIFT_DAYS = 31
DEFAULT_SIZES = "0,4400000,11000000"
TARGET_RATIO, TARGET_PEAK_MB, TARGET_BUILD_S, TARGET_BUILD_SIZE = 1.5, 1000, 100, 4_400_000
TITLE = "the cost of one new day as the lake ages"

_TIMES = re.compile(rb'"ApproximateCreationDateTime":(\d+)|"S":"(\d{4}-\d\d-\d\d)')
_CREATED = re.compile(rb'"ApproximateCreationDateTime":(\d+)')


# --------------------------------------------------------------------------- landing copies of the stream file

def rewrite(chunk: bytes, copy: int, dates: dict[bytes, bytes]) -> bytes:
    """Records of copy ``copy``: own claim ids and event ids; times ``copy`` × 31 days earlier (copy 0 keeps them)."""
    chunk = chunk.replace(b'"CLM-', b'"CLM%02d-' % copy).replace(b'{"eventID":"', b'{"eventID":"k%02d' % copy)
    if copy == 0:
        return chunk
    seconds = copy * SHIFT_DAYS * 86400

    def shifted(m: re.Match) -> bytes:
        if m.group(1) is not None:
            return b'"ApproximateCreationDateTime":%d' % (int(m.group(1)) - seconds)
        day = m.group(2)
        if day not in dates:
            dates[day] = (date.fromisoformat(day.decode()) - timedelta(days=copy * SHIFT_DAYS)).isoformat().encode()
        return b'"S":"' + dates[day]

    return _TIMES.sub(shifted, chunk)


def write_copy(base: str, copy: int, folder: str, limit: int, records_per_file: int, gz: bool) -> dict:
    """Copy ``copy`` of the first ``limit`` records of ``base`` into ``folder``: one JSON-lines file, or gzip parts."""
    out = Path(folder)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    dates: dict[bytes, bytes] = {}
    written = part = in_part = 0
    sink = None

    def open_part():
        name = f"part-{part:04d}.jsonl.gz" if gz else f"stream-records-copy-{copy:02d}.jsonl"
        return gzip.open(out / name, "wb", compresslevel=1) if gz else open(out / name, "wb")

    with open(base, "rb") as source:
        lines: list[bytes] = []
        for line in source:
            if written + len(lines) >= limit:
                break
            lines.append(line)
            if len(lines) < 10_000:
                continue
            sink, part, in_part = _flush(lines, copy, dates, sink, open_part, part, in_part, records_per_file if gz else 0)
            written += len(lines)
            lines = []
        if lines:
            sink, part, in_part = _flush(lines, copy, dates, sink, open_part, part, in_part, records_per_file if gz else 0)
            written += len(lines)
    if sink is not None:
        sink.close()
    files = sorted(out.iterdir())
    meta = {"records": written, "files": len(files), "bytes": sum(f.stat().st_size for f in files)}
    (out.parent / f"{out.name}.json").write_text(json.dumps(meta))  # written last: the copy is complete
    return meta


def _flush(lines, copy, dates, sink, open_part, part, in_part, per_file):
    """Write ``lines`` (rewritten) to the current part, starting a new part every ``per_file`` records (0: never)."""
    if sink is None:
        sink = open_part()
    sink.write(rewrite(b"".join(lines), copy, dates))
    in_part += len(lines)
    if per_file and in_part >= per_file:
        sink.close()
        part, in_part, sink = part + 1, 0, None
    return sink, part, in_part


def copy_plan(size: int, records: int) -> list[tuple[int, int]]:
    """(copy, records) of the copies a lake of ``size`` records holds."""
    full, rest = divmod(size, records)
    return [(k, records) for k in range(full)] + ([(full, rest)] if rest else [])


def copy_folder(key: str, copy: int, limit: int, records: int, gz: bool) -> Path:
    return WORK / f"copies-{key}-{'gz' if gz else 'jsonl'}" / (f"copy-{copy:02d}" + (f"-first-{limit}" if limit < records else ""))


def ensure_copies(base: Path, key: str, plans: list[tuple[int, int]], records: int, gz: bool, per_file: int) -> None:
    """Write the landing copies the lakes need, unless a complete one is there (they are deterministic)."""
    todo = [(k, n) for k, n in sorted(set(plans))
            if not (copy_folder(key, k, n, records, gz).parent / f"{copy_folder(key, k, n, records, gz).name}.json").exists()]
    if not todo:
        return
    started = time.monotonic()
    print(f"writing {len(todo)} landing copies of {base.name} ({'gzip parts' if gz else 'one JSON-lines file each'}) ...",
          flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(write_copy, [str(base)] * len(todo), [k for k, _ in todo],
                             [str(copy_folder(key, k, n, records, gz)) for k, n in todo], [n for _, n in todo],
                             [per_file] * len(todo), [gz] * len(todo)))
    print(f"  wrote {sum(d['records'] for d in done):,} records, {sum(d['bytes'] for d in done) / 1e9:.2f} GB "
          f"in {time.monotonic() - started:.0f} s", flush=True)


# --------------------------------------------------------------------------- the new-day files

def recent_claims(base: Path, count: int) -> tuple[date, list[dict]]:
    """The base file's last event day, and the ``count`` claims it touched last (not removed), newest first,
    each with its latest image, in copy 0's ids (the newest copy of every lake)."""
    offsets, times = array("q"), array("q")
    position = 0
    with open(base, "rb") as source:
        for line in source:
            offsets.append(position)
            times.append(int(_CREATED.search(line).group(1)))
            position += len(line)
    last_day = datetime.fromtimestamp(max(times), timezone.utc).date()
    seen: set[str] = set()
    chosen: list[dict] = []
    with open(base, "rb") as source:
        for i in sorted(range(len(times)), key=times.__getitem__, reverse=True):
            source.seek(offsets[i])
            record = json.loads(rewrite(source.readline(), 0, {}))
            claim = record["dynamodb"]["Keys"]["claim_id"]["S"]
            if claim in seen:
                continue
            seen.add(claim)
            if record["eventName"] != "REMOVE" and "NewImage" in record["dynamodb"]:
                chosen.append({"claim_id": claim, "image": record["dynamodb"]["NewImage"], "time": times[i]})
                if len(chosen) == count:
                    break
    return last_day, chosen


def day_events(n: int, day: date, new_records: int, claims: list[dict]) -> list[dict]:
    """Day ``day``'s stream changes: ``len(claims)`` MODIFY records of known claims (their images move on, so
    ``claims`` holds the latest images afterwards) and new claims' lifecycles up to ``new_records`` in all."""
    from analytics_pipeline.platform.demo_window import poisson_arrivals
    from analytics_pipeline.sources.claims import demo as gen

    rng = random.Random(f"lake-age-{RECIPE_VERSION}-{day.isoformat()}-{n}")
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    end = start + timedelta(days=1) - timedelta(seconds=1)
    events = []
    for claim in claims:
        t = start + timedelta(seconds=rng.randint(7 * 3600, 21 * 3600))
        old = claim["image"]
        status = old["status"]["S"]
        new = {**old, "status": gen._s("PAID" if status == "APPROVED" else status), "updated_at": gen._s(gen._iso(t)),
               "processing_duration_ms": gen._n(float(old.get("processing_duration_ms", {}).get("N", 0))
                                                + rng.randint(50, 400), 0)}
        events.append(gen._change(rng, "MODIFY", t, claim["claim_id"], new, old))
        claim["image"] = new
    wanted, per_day, fresh = new_records - len(claims), max(new_records, 1), []
    while wanted > 0 and len(fresh) < wanted:
        arrivals = poisson_arrivals(rng, start, end, per_day, gen.DAY_FACTORS, gen.UK_HOUR_WEIGHTS,
                                    local_time=lambda hour: hour + gen._uk_offset(hour))
        fresh = [e for i, t in enumerate(arrivals, 1) for e in gen._claim_events(rng, f"CLMNEW{n}-{i:06d}", t, end)]
        per_day *= 2
    fresh.sort(key=lambda e: e["time"])
    events = sorted(events + fresh[:max(wanted, 0)], key=lambda e: e["time"])
    sequence = 10**20 + n * 10**14           # after every sequence number of the stream file (10**20 + ~10**11)
    for event in events:
        sequence += rng.randint(100, 99999)
        event["seq"] = str(sequence)
    return events


def ensure_new_days(base: Path, key: str, new_records: int, modify: int) -> dict:
    """The two new-day files (cached: deterministic for the base file and the options)."""
    from analytics_pipeline.sources.claims import demo as gen

    folder = WORK / f"newdays-{key}-n{new_records}-m{modify}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    started = time.monotonic()
    print(f"writing the new-day files ({new_records:,} records each, {modify} MODIFY of the lake's latest claims) ...",
          flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    last_day, claims = recent_claims(base, min(modify, new_records))
    files = []
    for n in (1, 2):
        day = last_day + timedelta(days=n)
        events = day_events(n, day, new_records, claims)
        path = folder / f"claims-{day.isoformat()}.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for event in events:
                out.write(json.dumps(gen._stream_record(event), separators=(",", ":")) + "\n")
        kinds: dict[str, int] = {}
        for event in events:
            kinds[event["eventName"]] = kinds.get(event["eventName"], 0) + 1
        files.append({"path": str(path), "day": day.isoformat(), "records": len(events), "event_names": kinds})
    touched = [datetime.fromtimestamp(c["time"], timezone.utc).date().isoformat() for c in claims]
    meta = {"last_day": last_day.isoformat(), "files": files, "modified_claims": len(claims),
            "modified_claims_last_seen": [min(touched), max(touched)] if touched else [],
            "seconds": round(time.monotonic() - started, 1)}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


# --------------------------------------------------------------------------- lakes

def lake_paths(size: int, key: str, gz: bool) -> tuple[Path, Path]:
    name = f"lake-{size}-{key}-{'gz' if gz else 'jsonl'}"
    return WORK / "lakes" / name, WORK / "lakes" / f"{name}.json"


def build_lake(size: int, key: str, records: int, gz: bool, memory_limit: str) -> dict:
    """One ``analytics-pipeline run`` over the copies of a ``size``-record lake, at ``RUN``; then kept as a snapshot."""
    snapshot, meta_path = lake_paths(size, key, gz)
    meta_path.unlink(missing_ok=True)
    shutil.rmtree(RUN, ignore_errors=True)
    (RUN / "landing" / "claims").mkdir(parents=True)
    for k, n in copy_plan(size, records):
        folder = copy_folder(key, k, n, records, gz)
        for f in sorted(folder.iterdir()):
            place(f, RUN / "landing" / "claims" / "age" / folder.name / f.name)
    r = timed_run(RUN, memory_limit, f"build the {size:,}-record lake")
    problems = []
    if r["records_in"] != size or r["landed"] != size or r["quarantined"] or r["duplicates"]:
        problems.append(f"building the {size:,}-record lake: {r['records_in']:,} in, {r['landed']:,} landed, "
                        f"{r['quarantined']:,} quarantined, {r['duplicates']:,} duplicates")
    shutil.rmtree(RUN / ".tmp", ignore_errors=True)
    shutil.rmtree(snapshot, ignore_errors=True)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    RUN.rename(snapshot)
    meta = {"size": size, "key": key, "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "code": f"{code_version()} (package fingerprint {r['fingerprint']})", "seconds": r["seconds"],
            "peak_mb": r["peak_mb"], "phases": r["phases"], "days": r["days"], "files": r["files"],
            "records_in": r["records_in"], "landed": r["landed"], "lake_bytes": du(snapshot / "lake"),
            "load_before": r["load_before"], "fingerprints": sorted({r["fingerprint"], r["fingerprint_after"]}),
            "problems": problems}
    meta_path.write_text(json.dumps(meta, indent=2))       # written last: the snapshot is complete
    return meta


def lake(size: int, key: str, records: int, gz: bool, memory_limit: str, keep: bool) -> dict:
    snapshot, meta_path = lake_paths(size, key, gz)
    if keep and meta_path.exists() and snapshot.is_dir():
        meta = json.loads(meta_path.read_text())
        print(f"reusing the {size:,}-record lake built {meta['built']} at {meta['code']}", flush=True)
        if package_fingerprint() not in meta["fingerprints"]:
            print(f"WARNING: the {size:,}-record lake was built by other code than the package now (fingerprint "
                  f"{package_fingerprint()}); rebuild it (no --keep) if its layout may have changed", flush=True)
        return {**meta, "reused": True}
    return {**build_lake(size, key, records, gz, memory_limit), "reused": False}


def restore(size: int, key: str, gz: bool) -> Path:
    """The lake's snapshot at ``RUN``: ``cp -a`` of everything but the landing zone, which is hard-linked."""
    snapshot, _ = lake_paths(size, key, gz)
    shutil.rmtree(RUN, ignore_errors=True)
    RUN.mkdir(parents=True)
    for child in snapshot.iterdir():
        flags = "-al" if child.name == "landing" else "-a"
        subprocess.run(["cp", flags, str(child), str(RUN / child.name)], check=True)
    return RUN


def new_file_run(n: int, size: int, file: dict, memory_limit: str) -> tuple[dict, list[str]]:
    place(Path(file["path"]), RUN / "landing" / "claims" / "new" / Path(file["path"]).name)
    r = timed_run(RUN, memory_limit, f"{size:,}-record lake, new day {file['day']} (file {n})")
    problems = []
    if r["records_in"] != file["records"] or r["landed"] != file["records"] or r["quarantined"] or r["duplicates"]:
        problems.append(f"{size:,}-record lake, file {n}: {r['records_in']:,} in, {r['landed']:,} landed, "
                        f"{r['quarantined']:,} quarantined, {r['duplicates']:,} duplicates (expected {file['records']:,} landed)")
    return r, problems


# --------------------------------------------------------------------------- report

def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(args, when: str, host: str, code: str, meta: dict, days: dict, lakes: dict[int, dict],
           runs: dict[int, list[tuple[dict, dict]]], problems: list[str], wall: float) -> str:
    sizes = sorted(lakes)
    best = {s: [min((pair[i] for pair in runs[s]), key=lambda r: r["seconds"]) for i in (0, 1)] for s in sizes}
    empty = best.get(0)
    defaults = {"sizes": DEFAULT_SIZES, "records": 1_100_000, "new_records": 2000, "modify": 300, "repeat": 2,
                "records_per_file": 100_000, "memory_limit": ""}
    command = "uv run python benchmarks/lake_age.py" + "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}" for name, default in defaults.items()
        if getattr(args, name) != default and (name != "records_per_file" or args.gzip)) \
        + (" --gzip" if args.gzip else "") + (" --keep" if args.keep else "")
    loads = [r["load_before"] for s in sizes for pair in runs[s] for r in pair]
    f1, f2 = days["files"]
    lines = [
        f"Run {when}, code {code} · `{command}` · best of {args.repeat} rounds per lake · {wall / 60:.1f} min in all.",
        "",
        f"Machine: {host} 1-minute load average before the new-file runs: {min(loads):.1f} to {max(loads):.1f} "
        "(the machine is shared).",
        "",
        f"Lakes: copies of `ingest_claims.py`'s {meta['records']:,}-record stream file ({meta['bytes'] / 1e9:.2f} GB), copy k "
        f"with its own claim and event ids and its times k × {SHIFT_DAYS} days earlier, landed as "
        f"{'gzip JSON-lines parts of ' + format(args.records_per_file, ',') + ' records' if args.gzip else 'one JSON-lines file per copy'}; "
        f"every lake ends on {days['last_day']}. New files: {f1['day']} then {f2['day']}, {f1['records']:,} records each "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(f1['event_names'].items()))}), the MODIFY records for "
        f"{days['modified_claims']} claims last touched {' to '.join(days['modified_claims_last_seen'])}.",
        "",
        "| lake (records) | event days | lake built in (peak) | new day: seconds | × empty lake | peak RSS | "
        "next day (steady): seconds | × empty lake | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in sizes:
        m, (a, b) = lakes[s], best[s]
        built = "-" if s == 0 else f"{m['seconds']:.0f} s ({m['peak_mb']:,.0f} MB)" + (" (cached)" if m["reused"] else "")
        ratio = [f"{r['seconds'] / e['seconds']:.2f}" if empty else "-" for r, e in zip((a, b), empty or (a, b))]
        lines.append(f"| {s:,} | {m['days']} | {built} | {a['seconds']:.1f} | {ratio[0]} | "
                     f"{max(p[0]['peak_mb'] for p in runs[s]):,.0f} MB | {b['seconds']:.1f} | {ratio[1]} | "
                     f"{max(p[1]['peak_mb'] for p in runs[s]):,.0f} MB |")
    lines.append("")
    for s in sizes:
        m, (a, b) = lakes[s], best[s]
        peak = max(r["peak_mb"] for pair in runs[s] for r in pair)
        ratios = [r["seconds"] / e["seconds"] for r, e in zip((a, b), empty)] if empty else []
        targets = [f"peak < 1 GB {_met(peak < TARGET_PEAK_MB)}"]
        if s and ratios:
            targets.insert(0, f"≤ {TARGET_RATIO} × empty {_met(max(ratios) <= TARGET_RATIO)}")
        if s == TARGET_BUILD_SIZE:
            targets.append(f"built in ≤ {TARGET_BUILD_S} s {_met(m['seconds'] <= TARGET_BUILD_S)}")
        lines.append(
            f"- **{s:,}** records: every round, s: new day [{each([p[0] for p in runs[s]])}], next day "
            f"[{each([p[1] for p in runs[s]])}]; best new-day run: {phases_text(a)}. "
            + ("" if s == 0 else f"Lake: {m['lake_bytes'] / 1e9:.2f} GB on disk, {m['files']} landing files, built "
               f"{m['built']}{' (reused: --keep)' if m['reused'] else ''} at {m['code']}"
               f" ({phases_text(m)}). ") + "Targets: " + ", ".join(targets) + ".")
    lines += [f"- Problem: {p}" for p in problems]
    versions = mixed_versions([r for s in sizes for pair in runs[s] for r in pair])
    if len(versions) > 1:
        lines.append(f"- **The package changed during the new-file runs** (fingerprints {', '.join(versions)}): "
                     "the lakes' figures mix code versions.")
    lines += [
        "",
        "Method: a lake is built by one `analytics-pipeline run` (console script, `ANALYTICS_DATA_DIR` and "
        "`DAGSTER_HOME` under `benchmarks/.work/lake_age/run/`) over all its landing copies, and kept as a snapshot; "
        "size 0 is a data dir after one run on an empty landing zone. Each round restores every lake in turn "
        "(`cp -a`, landing files hard-linked), drops the first new-day file into `landing/claims/new/` and runs "
        "`analytics-pipeline run`, then drops the second and runs again. A run's seconds go from before its process "
        "starts to its exit; its peak is the resident memory of the whole process tree, sampled every 0.2 s. Each "
        "figure is the best round (contention only slows a run down); × empty lake = seconds / the empty lake's "
        "seconds for the same file. Every run's summary row is checked: records in = landed, nothing quarantined, "
        "no duplicates.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"lake sizes in records, comma-separated (default {DEFAULT_SIZES})")
    parser.add_argument("--records", type=int, default=1_100_000, help="records of the stream file copied (default 1,100,000)")
    parser.add_argument("--new-records", type=int, default=2000, help="records per new-day file (default 2,000)")
    parser.add_argument("--modify", type=int, default=300, help="MODIFY records of the lake's latest claims per file (default 300)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds over all lakes; each figure is the best (default 2)")
    parser.add_argument("--keep", action="store_true", help="reuse lakes built before (same size, base file and recipe)")
    parser.add_argument("--gzip", action="store_true", help="land the copies as gzip parts instead of one file per copy")
    parser.add_argument("--records-per-file", type=int, default=100_000, help="records per gzip part (default 100,000)")
    parser.add_argument("--memory-limit", default="", help="ANALYTICS_DUCKDB_MEMORY_LIMIT for every run (default: unset)")
    parser.add_argument("--no-readme", action="store_true", help="print the results only")
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()} | {0})

    started = time.monotonic()
    base, meta = base_dataset(args.records)
    key = f"r{args.records}-d{ingest_claims.DATASET_VERSION}-v{RECIPE_VERSION}"
    days = ensure_new_days(base, key, args.new_records, args.modify)
    newest = days["files"][-1]["day"]
    if date.fromisoformat(newest) > datetime.now(timezone.utc).date():
        raise SystemExit(f"the second new day ({newest}) is after today (UTC): staging would quarantine its records")
    ensure_copies(base, key, [c for s in sizes for c in copy_plan(s, args.records)], args.records, args.gzip,
                  args.records_per_file)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    code = f"{code_version()} (package fingerprint {package_fingerprint()})"
    host = machine()
    print(f"code {code}; machine: {host}", flush=True)

    lakes = {s: lake(s, key, args.records, args.gzip, args.memory_limit, args.keep) for s in sizes}
    problems = [p for s in sizes for p in lakes[s]["problems"]]
    runs: dict[int, list[tuple[dict, dict]]] = {s: [] for s in sizes}
    for round_no in range(1, args.repeat + 1):
        print(f"round {round_no}/{args.repeat}", flush=True)
        for s in sizes:
            restore(s, key, args.gzip)
            first, p1 = new_file_run(1, s, days["files"][0], args.memory_limit)
            second, p2 = new_file_run(2, s, days["files"][1], args.memory_limit)
            runs[s].append((first, second))
            problems += [f"round {round_no}: {p}" for p in p1 + p2]
    shutil.rmtree(RUN, ignore_errors=True)
    for p in problems:
        print(f"WARNING: {p}", flush=True)
    if len(mixed_versions([r for s in sizes for pair in runs[s] for r in pair])) > 1:
        print("WARNING: the analytics_pipeline package changed during the run; rerun when it is quiet", flush=True)
    body = report(args, when, host, code, meta, days, lakes, runs, problems, time.monotonic() - started)
    print()
    publish("lake_age.py", TITLE, body, args.no_readme)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
