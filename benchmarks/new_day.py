"""What one new day of demo data costs: into an empty lake and into a big one, each as the whole
`analytics-pipeline run` process. Shared by conversations.py and llm_runs.py.

Windows. Staging quarantines events after the end of today (UTC), so the new day is yesterday (UTC) and the big
lake's window ends at 00:00 UTC yesterday (``windows``): its last event day is the day before the new day.

Demo files are generated in a fresh (spawned) process (``write_landing``): the producers hold a whole window in
memory, which must not count in the peak of the process that times the build.

``new_day``: the new day's files (same producer, its own seed, one day's volume, ``end`` = the end of that day) are
written once under ``<work>/files``, then hard-linked into ``landing/<source>/new-day/`` of
- an EMPTY lake: ``<work>/empty-lake``, a data dir after one ``analytics-pipeline run`` on an empty landing zone;
- the BIG lake (the data dir the calling benchmark built),
and after each drop the console script ``analytics-pipeline run`` is timed from before its process starts to its
exit, with the peak resident memory of its process tree (``run_end_to_end.run_process``, ``proc_tree.TreePeak``).
The hourly file names of the new day and of the big lake's last hour can coincide, hence the ``new-day/`` folder.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from importlib import import_module
from pathlib import Path

from run_end_to_end import code_version, mixed_versions, package_fingerprint, place, run_process
from scale_10m import clean_env, du

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_RATIO, TARGET_PEAK_MB = 1.5, 1000
NEW_FOLDER = "new-day"


def windows(now: datetime | None = None) -> tuple[datetime, datetime]:
    """(end of the big lake's window, end of the new day): 00:00 UTC yesterday and 00:00 UTC today."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(hour=0, minute=0, second=0,
                                                                                  microsecond=0)
    return today - timedelta(days=1), today


# --------------------------------------------------------------------------- demo files, in a child process

def _write(generator: str, kwargs: dict, folder: str, collect: str | None) -> dict:
    module, name = generator.split(":")
    generate = getattr(import_module(module), name)
    pattern = re.compile(rb'"' + collect.encode() + rb'":\s*"([^"]*)"') if collect else None
    out, started, files, size, found = Path(folder), time.monotonic(), 0, 0, set()
    for relative, data in generate(**kwargs):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files, size = files + 1, size + len(data)
        if pattern is not None:
            found.update(v.decode() for v in pattern.findall(gzip.decompress(data) if relative.endswith(".gz") else data))
    return {"files": files, "bytes": size, "seconds": time.monotonic() - started, "collected": sorted(found)}


def write_landing(generator: str, folder: Path, collect: str | None = None, **kwargs) -> dict:
    """The demo producer ``generator`` ("module:function") called with ``kwargs``, its files written under ``folder``
    by a spawned process; returns files, bytes, seconds and the distinct values of the JSON key ``collect``."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_write, generator, kwargs, str(folder), collect).result()


# --------------------------------------------------------------------------- timed runs

def timed_run(data: Path, source: str, label: str, extra_env: dict[str, str]) -> dict:
    """``analytics-pipeline run`` on the data dir ``data`` (no inherited ``ANALYTICS_*`` variable but ``extra_env``):
    run_end_to_end.run_process's seconds and peak, plus ``source``'s own summary row."""
    env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"), **extra_env)
    load, before = os.getloadavg()[0], package_fingerprint()
    print(f"{label}: analytics-pipeline run (data dir {data.relative_to(ROOT)}) ...", flush=True)
    r = run_process(env, cwd=data)
    rows = {line.split()[0]: line for line in r["summary_lines"]}
    if source not in rows:
        raise SystemExit(f"analytics-pipeline run printed no summary row for {source}:\n" + "\n".join(r["summary_lines"]))
    fields = rows[source].split()
    counts = dict(zip(("files", "records_in", "landed", "quarantined", "duplicates", "days"), map(int, fields[1:7])))
    result = {"seconds": r["seconds"], "peak_mb": r["peak_bytes"] / 2**20, "samples": r["samples"], **counts,
              "data_through": " ".join(fields[7:]), "row": rows[source], "header": r["summary_header"],
              "label": label, "load_before": load, "fingerprint": before, "fingerprint_after": package_fingerprint()}
    print(f"  -> {label}: {result['seconds']:.1f} s, peak {result['peak_mb']:,.0f} MB; "
          f"{source}: {counts['files']} files, {counts['records_in']:,} in, {counts['landed']:,} landed, "
          f"{counts['quarantined']:,} quarantined, {counts['duplicates']:,} duplicates, {counts['days']} days", flush=True)
    return result


def _drop(files: Path, landing: Path) -> None:
    for f in sorted(p for p in files.rglob("*") if p.is_file()):
        place(f, landing / f.relative_to(files))


def new_day(source: str, generator: str, big: Path, work: Path, *, end: datetime, seed: int, big_through: str,
            extra_env: dict[str, str] | None = None, collect: str | None = None, **volume) -> dict:
    """One new day (``end`` - 1 day .. ``end``) of ``generator``'s files into an empty lake, then into the big lake at
    ``big`` (whose data runs through ``big_through``); both runs timed. ``volume``: the producer's per-day argument
    (sessions_per_day= or runs_per_day=)."""
    extra_env = extra_env or {}
    day = (end - timedelta(days=1)).date()
    shutil.rmtree(work, ignore_errors=True)
    print(f"generating the new day {day} (seed {seed}, {volume}) ...", flush=True)
    made = write_landing(generator, work / "files", collect, days=1, seed=seed, end=end, **volume)
    empty = work / "empty-lake"
    (empty / "landing" / source).mkdir(parents=True)
    fixed = timed_run(empty, source, "empty lake: one run on an empty landing zone", extra_env)
    _drop(work / "files", empty / "landing" / source / NEW_FOLDER)
    first = timed_run(empty, source, f"empty lake + new day {day}", extra_env)
    _drop(work / "files", big / "landing" / source / NEW_FOLDER)
    second = timed_run(big, source, f"big lake + new day {day}", extra_env)
    problems = []
    if not last_event_day_ok(big_through, day):
        problems.append(f"the big lake's data runs through {big_through}, not before the new day {day}")
    if fixed["files"] or fixed["records_in"]:
        problems.append(f"the run on an empty landing zone took in {fixed['files']} files")
    for r in (first, second):
        if r["files"] != made["files"]:
            problems.append(f"{r['label']}: {r['files']} files taken in, {made['files']} dropped")
        if r["landed"] == 0:
            problems.append(f"{r['label']}: nothing landed ({r['records_in']:,} records in)")
    if any(first[k] != second[k] for k in ("records_in", "landed", "quarantined", "duplicates", "days")):
        problems.append("the same files gave different counts in the empty and the big lake: "
                        f"{first['row']!r} vs {second['row']!r}")
    for p in problems:
        print(f"WARNING: {p}", flush=True)
    return {"day": day, "seed": seed, "volume": volume, "made": made, "fixed": fixed, "empty": first, "big": second,
            "problems": problems, "code": f"{code_version()} (package fingerprint {fixed['fingerprint']})"}


# --------------------------------------------------------------------------- report

def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report_lines(source: str, nd: dict, big_holds: str, big_bytes: int, entities: str, last_day: str) -> list[str]:
    """The README lines for ``new_day``'s result: ``big_holds`` says what the big lake holds (records, days),
    ``entities`` which existing entities the new day touches, ``last_day`` the big lake's newest event time."""
    e, b, fixed, made = nd["empty"], nd["big"], nd["fixed"], nd["made"]
    ratio = b["seconds"] / e["seconds"]
    peak = max(e["peak_mb"], b["peak_mb"])
    loads = [r["load_before"] for r in (fixed, e, b)]
    volume = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in nd["volume"].items())
    lines = [
        "",
        f"**One new day into an empty lake and into this lake** (the whole `analytics-pipeline run` process; code "
        f"{nd['code']}; 1-minute load average before the runs {min(loads):.1f} to {max(loads):.1f}):",
        "",
        f"New day: {nd['day']} ({nd['day']:%A}; the big lake's data runs through {last_day or '-'}), same demo producer, seed "
        f"{nd['seed']}, {volume}: {made['files']} landing files ({made['bytes'] / 1e6:.1f} MB), "
        f"{e['records_in']:,} records in = landed {e['landed']:,} + quarantined {e['quarantined']:,} + duplicates "
        f"{e['duplicates']:,}, {e['days']} event day(s). {entities}",
        "",
        "| lake | holds | new day: seconds | × empty lake | peak RSS (process tree) |",
        "|---|---|---:|---:|---:|",
        f"| empty (a data dir after one run on an empty landing zone) | nothing | {e['seconds']:.1f} | 1.00 | "
        f"{e['peak_mb']:,.0f} MB |",
        f"| big (the lake built above, {big_bytes / 1e6:,.0f} MB on disk) | {big_holds} | {b['seconds']:.1f} | "
        f"{ratio:.2f} | {b['peak_mb']:,.0f} MB |",
        "",
        f"- Targets: big lake ≤ {TARGET_RATIO} × the empty lake {_met(ratio <= TARGET_RATIO)} ({ratio:.2f} ×); "
        f"peak < 1 GB {_met(peak < TARGET_PEAK_MB)} ({peak:,.0f} MB).",
        f"- The run that made the empty lake (nothing landed): {fixed['seconds']:.1f} s, peak {fixed['peak_mb']:,.0f} MB.",
        f"- Summary rows: empty lake `{' '.join(e['row'].split())}`; big lake `{' '.join(b['row'].split())}` "
        f"(source files records-in landed quarantined duplicates days data-through).",
    ]
    lines += [f"- Problem: {p}" for p in nd["problems"]]
    versions = mixed_versions([fixed, e, b])
    if len(versions) > 1:
        lines.append(f"- **The package changed during these runs** (fingerprints {', '.join(versions)}).")
    lines += [
        "",
        "Method: the new day's files are generated once and hard-linked into `landing/" + source + "/new-day/` of "
        "each lake; each run is the console script `analytics-pipeline run` (`ANALYTICS_DATA_DIR` = the lake's data "
        "dir, `DAGSTER_HOME` under it, no other inherited `ANALYTICS_*` variable), timed from before its process "
        "starts to its exit, its peak the resident memory of its whole process tree sampled every 0.2 s. One run "
        "per lake, on a shared machine: the ratio moves with the load.",
    ]
    return lines


def last_event_day_ok(last: str, day: date) -> bool:
    """Whether the big lake's newest event (``data through``) is before the new day."""
    return bool(last) and last[:10] < day.isoformat()
