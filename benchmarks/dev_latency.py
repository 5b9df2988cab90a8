"""Benchmark: how long a user of `analytics-pipeline dev` waits from dropping a file to querying it.

    cd /work/main && uv run python benchmarks/dev_latency.py [--sizes 0,4400000] [--records 1100000] [--repeat 2]

Lakes: ``lake_age.py``'s, for every size in ``--sizes`` (size 0, an empty lake, is always measured): its cached
snapshot under ``benchmarks/.work/lake_age/lakes/`` when there is one (same size, base records, recipe), otherwise
built by ``lake_age.py``'s own functions (one ``analytics-pipeline run`` over the landing copies of
``ingest_claims.py``'s stream file) and kept there for both scripts. New data: ``lake_age.py``'s two new-day files
(2,000 records each, for the two days after the lake's last day).

A round, for each lake in turn: the snapshot is restored (``lake_age.restore``) at this script's own data dir,
``benchmarks/.work/dev_latency/run/`` (never lake_age.py's run folder, so the two scripts can run at the same time
once the lakes exist), and its ``warehouse.duckdb`` is rebuilt there with the pipeline's ``build_warehouse`` (the
snapshot's views name files under lake_age.py's folder). Then ``analytics-pipeline dev`` starts there
(``ANALYTICS_DATA_DIR`` = that folder, so ``DAGSTER_HOME`` is under it; the webserver on a free port of 127.0.0.1
through ``analytics-pipeline dev --host --port``). The script waits until dev is up and idle: the webserver answers, the claims
sensors and the automation sensor have ticked since the start, no run is queued or in progress, and every one of
those sensors has ticked (and skipped) since the last run ended, so whatever dev does at start-up on an existing lake
is over (``--startup-timeout``; its runs are printed). Then the first new-day file is hard-linked into
``<data dir>/landing/claims/`` (it appears whole) and ``warehouse.duckdb`` is polled every 0.5 s, through a new
read-only connection each time (a refresh swaps the file in), until BOTH

- ``SELECT count(*) FROM claims WHERE event_date = <the file's day>`` equals the file's record count ("raw
  queryable"), and
- every claim of the file is in ``claims_current`` with its last event on that day ("claims_current"),

or ``--timeout``, or dev has been idle for ``--stuck-after`` seconds without getting there (it will not by itself).
Then it waits for idle again (the drop's last run ended, the sensors looked once more and skipped), drops the second
new-day file (the next day, dev already warm) and does the same. Dev is stopped (SIGTERM to its process group,
SIGKILL after 20 s) at the end of every round, also on errors, Ctrl-C and SIGTERM. Reported per lake and file:
drop → raw queryable and drop → claims_current seconds (best round; every round is listed), drop → the last run
launched by the drop ended, the peak resident memory of dev's whole process tree between the drop and
claims_current (``proc_tree.TreePeak``), and the runs the drop launched (failed runs with their errors, read from
the instance). Nothing is asserted about the times. Results are printed and written into this script's section of
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import ingest_claims
import lake_age
import yaml
from proc_tree import TreePeak, _children, tree_rss_bytes
from report import machine, publish
from run_end_to_end import BIN, base_dataset, code_version, package_fingerprint, place
from scale_10m import clean_env

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "dev_latency"
RUN = WORK / "run"        # the data dir dev runs on: this script's own, so it never clobbers lake_age.py's run folder
DEFAULT_SIZES = "0,4400000"
TITLE = "drop a file → queryable under `analytics-pipeline dev`"
WATCHED = ("claims_landing_sensor", "claims_staged_days_sensor", "lake_automation")
POLL_S, STOP_GRACE_S = 0.5, 20


class DevDied(RuntimeError):
    """`analytics-pipeline dev` exited while it was being measured."""


# --------------------------------------------------------------------------- inputs (lake_age.py's lakes and files)

def inputs(args, sizes: list[int]) -> tuple[str, dict, dict[int, dict]]:
    """The lake key, the new-day files and every size's lake: lake_age.py's cache, or built by its functions.
    ingest_claims.py's stream file is only needed (and built: that replaces a cached file of another size) when
    a lake or the new-day files are not cached yet."""
    key = f"r{args.records}-d{ingest_claims.DATASET_VERSION}-v{lake_age.RECIPE_VERSION}"   # as lake_age.main
    missing = [s for s in sizes if args.rebuild or not all(p.exists() for p in lake_age.lake_paths(s, key, args.gzip))]
    days = None
    if ingest_claims.cached_dataset(args.records) is None and not missing:
        try:   # cached new-day files never read the stream file
            days = lake_age.ensure_new_days(ingest_claims.dataset_path(args.records), key, args.new_records, args.modify)
        except OSError:
            days = None
    if days is None or missing:
        base, _ = base_dataset(args.records)
        days = lake_age.ensure_new_days(base, key, args.new_records, args.modify)
        lake_age.ensure_copies(base, key, [c for s in missing for c in lake_age.copy_plan(s, args.records)],
                               args.records, args.gzip, args.records_per_file)
    newest = days["files"][-1]["day"]
    if date.fromisoformat(newest) > datetime.now(timezone.utc).date():
        raise SystemExit(f"the second new day ({newest}) is after today (UTC): staging would quarantine its records")
    if missing and lake_age.RUN.exists():
        raise SystemExit(f"{lake_age.RUN.relative_to(ROOT)} exists: lake_age.py may be building or measuring there; "
                         f"the {', '.join(f'{s:,}' for s in missing)}-record lake(s) would be built there too. Wait for "
                         "it (or remove the folder if nothing uses it) and run again.")
    lakes = {s: lake_age.lake(s, key, args.records, args.gzip, args.memory_limit, keep=not args.rebuild) for s in sizes}
    return key, days, lakes


def file_claims(path: str) -> list[str]:
    """The distinct claim ids of a new-day file."""
    with open(path, encoding="utf-8") as source:
        return sorted({json.loads(line)["dynamodb"]["Keys"]["claim_id"]["S"] for line in source if line.strip()})


# --------------------------------------------------------------------------- the data dir

@contextmanager
def lake_age_run_at(path: Path):
    """lake_age.py's functions with their run folder at ``path`` (they read ``lake_age.RUN`` when called)."""
    saved, lake_age.RUN = lake_age.RUN, path
    try:
        yield
    finally:
        lake_age.RUN = saved


def restore(size: int, key: str, gz: bool) -> Path:
    """The lake's snapshot at this script's RUN (lake_age.restore: ``cp -a``, landing hard-linked, so the size:mtime
    markers of the lake's state stay valid), and its warehouse rebuilt there: the snapshot's views name files under
    lake_age.py's run folder, the only absolute paths in it besides the run history."""
    with lake_age_run_at(RUN):
        data = lake_age.restore(size, key, gz)
    started = time.monotonic()
    env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"))
    code = ("from analytics_pipeline.sources.registry import SOURCE_SPECS\n"
            "from analytics_pipeline.lake.storage import StorageRoot\n"
            "from analytics_pipeline.serving.warehouse import build_warehouse\n"
            "from analytics_pipeline.settings import load_settings\n"
            "s = load_settings()\n"
            "print(len(build_warehouse(StorageRoot(s.lake_uri, s.s3_endpoint_url), s.warehouse_path, s.schema, SOURCE_SPECS)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=data, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"rebuilding the warehouse of the restored {size:,}-record lake failed:\n{done.stderr[-3000:]}")
    print(f"restored the {size:,}-record lake at {data.relative_to(ROOT)}; warehouse rebuilt there "
          f"({done.stdout.strip().splitlines()[-1]} views, {time.monotonic() - started:.1f} s)", flush=True)
    return data


@contextmanager
def only_instance():
    """One dev_latency.py at a time (they share RUN)."""
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f"another dev_latency.py holds {(WORK / 'lock').relative_to(ROOT)}") from None
        yield


# --------------------------------------------------------------------------- dev: start, stop

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_workspace(data: Path) -> None:
    """The project's workspace.yaml in the data dir, its working directory made absolute: dev runs with the data
    dir as its working directory, so DuckDB spills (``./.tmp``) land there and not in the checkout."""
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    for entry in workspace["load_from"]:
        for spec in entry.values():
            if isinstance(spec, dict) and "working_directory" in spec:
                spec["working_directory"] = str((ROOT / spec["working_directory"]).resolve())
    (data / "workspace.yaml").write_text(yaml.safe_dump(workspace))


def start_dev(data: Path, port: int, memory_limit: str, log: Path) -> subprocess.Popen:
    extra = {"ANALYTICS_DUCKDB_MEMORY_LIMIT": memory_limit} if memory_limit else {}
    env = clean_env(ANALYTICS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"), **extra)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:   # the child holds its own descriptor
        return subprocess.Popen([str(BIN / "analytics-pipeline"), "dev", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=data, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += tree.get(pid, [])
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_dev(proc: subprocess.Popen) -> str:
    """SIGTERM to dev's process group, SIGKILL (group and every process of its tree) after 20 s."""
    pids = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        proc.poll()
        if not any(_alive(pid) for pid in pids):
            return f"stopped by SIGTERM (exit {proc.returncode})"
        time.sleep(0.2)
    left = [pid for pid in pids if _alive(pid)]
    for kill in ([lambda: os.killpg(proc.pid, signal.SIGKILL)]
                 + [lambda pid=pid: os.kill(pid, signal.SIGKILL) for pid in left]):
        try:
            kill()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return f"**SIGKILLed** after {STOP_GRACE_S} s ({len(left)} processes left after SIGTERM)"


def wait_webserver(proc: subprocess.Popen, port: int, timeout: float, log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise DevDied(f"analytics-pipeline dev exited ({proc.returncode}) before its webserver answered:\n"
                          + tail(log))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the webserver did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


def tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- the instance (read from this process)

class Instance:
    """The dev instance's runs, sensor ticks and run errors, read from DAGSTER_HOME."""

    ACTIVE = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")

    def __init__(self, home: Path):
        from dagster import DagsterInstance
        from dagster._core.instance.ref import InstanceRef

        self.instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        self.seen: dict[str, str] = {}

    def close(self) -> None:
        self.instance.dispose()

    def runs_since(self, since: float) -> list:
        import dagster as dg

        records = self.instance.get_run_records(
            filters=dg.RunsFilter(created_after=datetime.fromtimestamp(since, timezone.utc)))
        return sorted(records, key=lambda r: r.create_timestamp.timestamp())

    def active(self) -> list:
        import dagster as dg

        return self.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus[s] for s in self.ACTIVE]))

    def latest_ticks(self) -> dict[str, object]:
        """Each watched sensor's latest tick (None before its first)."""
        ticks: dict[str, object] = {name: None for name in WATCHED}
        for state in self.instance.all_instigator_state():
            if state.name in ticks:
                found = self.instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                if found and (ticks[state.name] is None or found[0].timestamp > ticks[state.name].timestamp):
                    ticks[state.name] = found[0]
        return ticks

    def errors(self, run_id: str) -> list[str]:
        from dagster import DagsterEventType

        found = []
        for entry in self.instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
            event = entry.dagster_event
            error = getattr(event.event_specific_data, "error", None) if event else None
            text = (error.message.strip() if error else (event.message if event else entry.user_message)) or "?"
            found.append(f"{event.step_key + ': ' if event and event.step_key else ''}{text}")
        return found

    def report_changes(self, runs: list, origin: float, label: str) -> None:
        """Print runs that appeared or changed status since the last call (seconds from ``origin``)."""
        for r in runs:
            status = r.dagster_run.status.value
            if self.seen.get(r.dagster_run.run_id) != status:
                self.seen[r.dagster_run.run_id] = status
                print(f"    [{label} +{time.time() - origin:6.1f}s] run {r.dagster_run.run_id[:8]} "
                      f"{describe_job(r.dagster_run)}: {status}", flush=True)


def describe_job(run) -> str:
    """The job; for the automation's runs the assets they materialize (the dashboards counted, not named)."""
    name = run.job_name
    if name.startswith("__ASSET_JOB") and run.asset_selection:
        keys = sorted(k.to_user_string() for k in run.asset_selection)
        boards = [k for k in keys if k.startswith("dashboard_")]
        keys = [k for k in keys if not k.startswith("dashboard_")] + ([f"{len(boards)} dashboards"] if boards else [])
        name = "automation: " + (" + ".join(keys) if len(keys) <= 6 else f"{len(keys)} assets ({', '.join(keys[:4])}, …)")
    partition = run.tags.get("dagster/partition") or (
        f"{run.tags['dagster/asset_partition_range_start']}…{run.tags['dagster/asset_partition_range_end']}"
        if "dagster/asset_partition_range_start" in run.tags else "")
    return name + (f" [{partition}]" if partition else "")


def run_rows(inst: Instance, runs: list, origin: float) -> list[dict]:
    rows = []
    for r in runs:
        run = r.dagster_run
        row = {"run_id": run.run_id, "job": describe_job(run), "status": run.status.value,
               "created_s": r.create_timestamp.timestamp() - origin,
               "start_s": r.start_time - origin if r.start_time else None,
               "end_s": r.end_time - origin if r.end_time else None}
        if run.status.value in ("FAILURE", "CANCELED"):
            row["errors"] = inst.errors(run.run_id)
        rows.append(row)
    return rows


class Watch:
    """Dev's activity since ``since``: the runs created since, the watched sensors' latest ticks, and whether dev is
    quiet: no run queued or in progress anywhere, and every watched sensor's latest tick began after ``since`` and
    after the last of those runs ended, and skipped (or failed)."""

    def __init__(self, inst: Instance, proc: subprocess.Popen, since: float, label: str):
        self.inst, self.proc, self.since, self.label = inst, proc, since, label
        self.ticked_s: float | None = None
        self.failed_ticks: dict[str, str] = {}
        self.runs: list = []
        self.last_end = since

    def quiet(self) -> bool:
        if self.proc.poll() is not None:
            raise DevDied(f"analytics-pipeline dev exited ({self.proc.returncode}) ({self.label})")
        self.runs = self.inst.runs_since(self.since)
        self.inst.report_changes(self.runs, self.since, self.label)
        ticks = self.inst.latest_ticks()
        if self.ticked_s is None and all(t is not None and t.timestamp >= self.since for t in ticks.values()):
            self.ticked_s = time.time() - self.since
            if "start-up" in self.label:
                print(f"    [{self.label} +{self.ticked_s:6.1f}s] sensors ticked: "
                      + "; ".join(f"{n} {t.status.value}" + (f" ({t.skip_reason})" if t.skip_reason else "")
                                  for n, t in ticks.items()), flush=True)
        for name, t in ticks.items():
            if t is not None and t.timestamp >= self.since and t.status.value == "FAILURE" and t.error:
                self.failed_ticks.setdefault(name, t.error.message.strip().splitlines()[0][:300])
        self.last_end = max([self.since] + [r.end_time for r in self.runs if r.end_time])
        return (self.ticked_s is not None and not self.inst.active()
                and all(t.timestamp > self.last_end and t.status.value in ("SKIPPED", "FAILURE") for t in ticks.values()))

    def result(self, idle: bool) -> dict:
        return {"idle_s": time.time() - self.since if idle else None, "idle_timed_out": not idle,
                "last_run_end_s": self.last_end - self.since if idle and self.runs else None,
                "ticked_s": self.ticked_s, "runs": run_rows(self.inst, self.runs, self.since),
                "failed_ticks": self.failed_ticks}


def wait_idle(watch: Watch, timeout: float) -> dict:
    """Until dev is quiet (``Watch.quiet``), or ``timeout`` seconds after ``watch.since``."""
    while True:
        if watch.quiet():
            return watch.result(idle=True)
        if time.time() - watch.since > timeout:
            return watch.result(idle=False)
        time.sleep(1)


# --------------------------------------------------------------------------- the measurement

def query_state(warehouse: Path, day: str, claims: list[str]) -> tuple[int | None, int | None, str]:
    """(rows of ``day`` in claims, claims of the file in claims_current with their last event on ``day`` or
    later, a note on what failed) through a new read-only connection."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except (duckdb.Error, OSError) as err:     # not there yet, locked, or swapped while opening
        return None, None, f"open: {str(err).splitlines()[0][:120]}"
    notes, counts = [], []
    try:
        for sql, params in ((f"SELECT count(*) FROM claims WHERE event_date = DATE '{day}'", []),
                            (f"SELECT count(*) FROM claims_current WHERE last_event_date >= DATE '{day}' "
                             "AND claim_id IN (SELECT unnest($1::VARCHAR[]))", [claims])):
            try:
                counts.append(con.execute(sql, params).fetchone()[0])
            except duckdb.Error as err:       # no such view yet (an empty lake), or a file replaced mid-read
                counts.append(None)
                notes.append(str(err).splitlines()[0][:120])
    finally:
        con.close()
    return counts[0], counts[1], "; ".join(notes)


def drop_and_wait(inst: Instance, proc: subprocess.Popen, data: Path, file: dict, claims: list[str],
                  timeout: float, stuck_after: float, label: str) -> dict:
    warehouse = data / "warehouse.duckdb"
    idle_mb = tree_rss_bytes(proc.pid) / 2**20
    raw_s = current_s = quiet_since = None
    stuck = False
    last = (None, None, "")
    with TreePeak(proc.pid) as peak:
        dropped = time.time()
        place(Path(file["path"]), data / "landing" / "claims" / Path(file["path"]).name)
        print(f"  {label}: dropped {Path(file['path']).name} ({file['records']:,} records, {len(claims):,} claims) "
              f"into landing/claims/; dev's tree holds {idle_mb:,.0f} MB", flush=True)
        watch = Watch(inst, proc, dropped, label)
        while True:
            tick = time.time()
            raw, current, note = query_state(warehouse, file["day"], claims)
            if raw_s is None and raw == file["records"]:
                raw_s = tick - dropped
                print(f"    [{label} +{raw_s:6.1f}s] raw queryable: {raw:,} rows of {file['day']} in claims", flush=True)
            if current_s is None and current == len(claims):
                current_s = tick - dropped
                print(f"    [{label} +{current_s:6.1f}s] claims_current holds the file's {current:,} claims", flush=True)
            last = (raw, current, note)
            if raw_s is not None and current_s is not None:
                break
            if watch.quiet():   # nothing runs and the sensors see nothing to do: dev will not get there by itself
                quiet_since = tick if quiet_since is None else quiet_since
                if tick - quiet_since >= stuck_after:
                    stuck = True
                    print(f"    [{label}] STUCK: dev idle for {stuck_after:.0f} s, not queryable: claims rows {raw}, "
                          f"claims_current {current}" + (f" ({note})" if note else ""), flush=True)
                    break
            else:
                quiet_since = None
            if tick - dropped > timeout:
                print(f"    [{label}] TIMEOUT after {timeout:.0f} s: claims rows {raw}, claims_current {current}"
                      + (f" ({note})" if note else ""), flush=True)
                break
            time.sleep(max(0.0, POLL_S - (time.time() - tick)))
        peak_ready = peak.peak
    after = watch.result(idle=True) if stuck else wait_idle(watch, timeout)
    result = {"label": label, "day": file["day"], "records": file["records"], "claims": len(claims),
              "raw_s": raw_s, "current_s": current_s, "timed_out": raw_s is None or current_s is None,
              "stuck": stuck, "last_counts": last[:2], "last_note": last[2], "peak_mb": peak_ready / 2**20,
              "idle_before_mb": idle_mb, **after}
    print(f"  -> {label}: raw {fmt(raw_s)} s, claims_current {fmt(current_s)} s, last run ended "
          f"+{fmt(after['last_run_end_s'])} s, peak {result['peak_mb']:,.0f} MB, {len(after['runs'])} runs"
          + (" (idle not reached)" if after["idle_timed_out"] else ""), flush=True)
    for row in after["runs"]:
        for error in row.get("errors", []):
            print(f"     run {row['run_id'][:8]} {row['job']} {row['status']}: {error}", flush=True)
    return result


def session(size: int, round_no: int, key: str, args, days: dict, claims: list[list[str]]) -> dict:
    """One round on one lake: restore, start dev, wait for idle, drop the new-day files in turn, stop dev."""
    label = f"{size:,} r{round_no}"
    data = restore(size, key, args.gzip)
    write_workspace(data)
    port = free_port()
    log = WORK / f"dev-{size}-round{round_no}.log"
    load = os.getloadavg()[0]
    started = time.time()
    proc = start_dev(data, port, args.memory_limit, log)
    print(f"{label}: analytics-pipeline dev (pid {proc.pid}, 127.0.0.1:{port}, data dir "
          f"{data.relative_to(ROOT)}, log {log.relative_to(ROOT)}) ...", flush=True)
    inst = None
    result = {"size": size, "round": round_no, "load_before": load, "drops": [], "problems": []}
    try:
        with TreePeak(proc.pid) as peak:
            up_s = wait_webserver(proc, port, args.startup_timeout, log)
            print(f"    [{label} +{up_s:6.1f}s] webserver answers", flush=True)
            inst = Instance(data / "dagster_home")
            startup = wait_idle(Watch(inst, proc, started, f"{label} start-up"), args.startup_timeout)
            startup_peak = peak.peak / 2**20
        result["startup"] = {"up_s": up_s, "peak_mb": startup_peak, **startup}
        print(f"  -> {label} start-up: webserver {up_s:.1f} s, sensors ticked {fmt(startup['ticked_s'])} s, idle "
              f"{fmt(startup['idle_s'])} s, {len(startup['runs'])} runs, peak {startup_peak:,.0f} MB", flush=True)
        for row in startup["runs"]:
            print(f"     start-up run {row['run_id'][:8]} {row['job']}: {row['status']}"
                  + "".join(f"\n       error: {e}" for e in row.get("errors", [])), flush=True)
        if startup.get("idle_timed_out"):
            result["problems"].append(f"{label}: dev not idle {args.startup_timeout:.0f} s after its start")
            return result
        for n, (file, ids) in enumerate(zip(days["files"][:args.files], claims), 1):
            drop = drop_and_wait(inst, proc, data, file, ids, args.timeout, args.stuck_after, f"{label} file {n}")
            drop["file"] = n
            result["drops"].append(drop)
            if drop["timed_out"]:
                why = (f"dev went idle without it (nothing ran for {args.stuck_after:.0f} s)" if drop["stuck"]
                       else f"not within {args.timeout:.0f} s")
                result["problems"].append(
                    f"{label}, file {n} ({file['day']}): not queryable, {why}: {drop['last_counts'][0]} rows of the day "
                    f"in claims (of {file['records']:,}), {drop['last_counts'][1]} of its {len(ids):,} claims in "
                    f"claims_current{'; the query said: ' + drop['last_note'] if drop['last_note'] else ''}")
            if drop["idle_s"] is None:
                result["problems"].append(f"{label}, file {n}: dev not idle within {args.timeout:.0f} s of the drop")
                break
    except (DevDied, TimeoutError) as err:
        result["problems"].append(f"{label}: {err}")
        print(f"ERROR {label}: {err}\n{tail(log)}", flush=True)
    finally:
        result["stopped"] = stop_dev(proc)
        print(f"  {label}: dev {result['stopped']}", flush=True)
        if inst is not None:
            inst.close()
    for part in [result.get("startup", {}), *result["drops"]]:
        for row in part.get("runs", []):
            for error in row.get("errors", []):
                result["problems"].append(f"{label}: run {row['run_id'][:8]} {row['job']} {row['status']}: "
                                          f"{error.splitlines()[0][:400]}")
        for name, error in part.get("failed_ticks", {}).items():
            result["problems"].append(f"{label}: sensor {name} failed: {error}")
    if "SIGKILL" in result["stopped"]:
        result["problems"].append(f"{label}: dev {result['stopped']}")
    return result


# --------------------------------------------------------------------------- report

def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def run_summary(runs: list[dict]) -> str:
    """Each run: job, status, and when it was created / ended, in seconds from the drop (or dev's start)."""
    return "; ".join(f"{r['job']} {r['status'].lower()} (+{r['created_s']:.1f} → "
                     + (f"+{r['end_s']:.1f} s)" if r.get("end_s") is not None else "not ended)")
                     for r in runs) or "none"


def report(args, when: str, host: str, code: str, fingerprints: list[str], days: dict, lakes: dict[int, dict],
           sessions: list[dict], problems: list[str], wall: float) -> str:
    sizes = sorted(lakes)
    defaults = {"sizes": DEFAULT_SIZES, "records": 1_100_000, "repeat": 2, "files": 2, "new_records": 2000,
                "modify": 300, "timeout": 900.0, "stuck_after": 60.0, "startup_timeout": 900.0, "memory_limit": ""}
    command = "uv run python benchmarks/dev_latency.py" + "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}" for name, default in defaults.items()
        if getattr(args, name) != default) + (" --gzip" if args.gzip else "") + (" --rebuild" if args.rebuild else "")
    loads = [s["load_before"] for s in sessions]
    files = days["files"][:args.files]
    lines = [
        f"Run {when}, code {code} · `{command}` · best of {args.repeat} rounds per lake · {wall / 60:.1f} min in all.",
        "",
        f"Machine: {host} 1-minute load average before dev started: {min(loads):.1f} to {max(loads):.1f} "
        "(the machine is shared).",
        "",
        f"Lakes: `lake_age.py`'s ({args.records:,}-record copies of `ingest_claims.py`'s stream file, each ending on "
        f"{days['last_day']}). Files dropped, in turn, into `landing/claims/` of a running dev: "
        + ", then ".join(f"{f['day']} ({f['records']:,} records: "
                         f"{', '.join(f'{k} {v:,}' for k, v in sorted(f['event_names'].items()))})" for f in files)
        + ".",
        "",
        "| lake (records) | file (day) | drop → raw queryable, s | drop → claims_current, s | drop → last run ended, s "
        "| peak RSS of dev, MB | runs launched |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    details = []
    for size in sizes:
        mine = [s for s in sessions if s["size"] == size]
        for n, file in enumerate(files, 1):
            drops = [d for s in mine for d in s["drops"] if d["file"] == n]
            done = [d for d in drops if not d["timed_out"]]
            if not drops:
                lines.append(f"| {size:,} | {n} ({file['day']}) | not reached | | | | |")
                continue
            best = min(done, key=lambda d: d["current_s"]) if done else drops[0]
            counts = sorted({len(d["runs"]) for d in drops})
            lines.append(
                f"| {size:,} | {n} ({file['day']}) | "
                f"{fmt(min((d['raw_s'] for d in drops if d['raw_s'] is not None), default=None))} | "
                f"{fmt(best['current_s']) if done else ('never: dev went idle' if best['stuck'] else 'timeout')} | "
                f"{fmt(best['last_run_end_s'])} | "
                f"{max(d['peak_mb'] for d in drops):,.0f} | {' / '.join(map(str, counts))} |")
            details.append(
                f"- **{size:,}**, file {n}: every round, s: raw [{', '.join(fmt(d['raw_s']) for d in drops)}], "
                f"claims_current [{', '.join(fmt(d['current_s']) for d in drops)}]; dev's tree before the drop "
                f"{max(d['idle_before_mb'] for d in drops):,.0f} MB. Runs of the best round: {run_summary(best['runs'])}.")
        for s in mine:
            st = s.get("startup")
            if st:
                details.append(
                    f"- **{size:,}**, dev start-up (round {s['round']}): webserver answered after {st['up_s']:.1f} s, "
                    f"sensors ticked after {fmt(st['ticked_s'])} s, idle after {fmt(st['idle_s'])} s, peak "
                    f"{st['peak_mb']:,.0f} MB; runs: {run_summary(st['runs'])}. Dev {s['stopped']}.")
    for size in sizes:
        m = lakes[size]
        details.append(f"- **{size:,}**, lake: {m['days']} event days, {m['lake_bytes'] / 1e9:.2f} GB, built {m['built']} "
                       f"at {m['code']} in {m['seconds']:.0f} s{' (cached by lake_age.py)' if m['reused'] else ''}.")
    lines += ["", *details]
    lines += [f"- Problem: {p}" for p in problems]
    if len(fingerprints) > 1:
        lines.append(f"- **The package changed during the run** (fingerprints {', '.join(fingerprints)}): the rounds "
                     "mix code versions.")
    lines += [
        "",
        "Method: each round restores every lake in turn from `lake_age.py`'s snapshot (`cp -a`, landing files "
        "hard-linked) into `benchmarks/.work/dev_latency/run/`, rebuilds its `warehouse.duckdb` there (the pipeline's "
        "`build_warehouse`: the snapshot's views name lake_age.py's folder), and starts `analytics-pipeline dev` on it (console script, `ANALYTICS_DATA_DIR` = the restored "
        "data dir, `DAGSTER_HOME` under it, webserver on a free port of 127.0.0.1 via `dev --port`, working "
        "directory the data dir with the project's `workspace.yaml`). Dev counts as idle when its webserver answers, no "
        "run is queued or in progress, and the claims landing and staged-days sensors and the `lake_automation` "
        "sensor have each ticked and skipped since the last run ended (start-up runs on an existing lake are waited "
        "out). A file is dropped whole (hard link) into `landing/claims/`; `warehouse.duckdb` is then opened read-only "
        f"every {POLL_S} s (a new connection each time: a refresh swaps the file in) until `claims` has the file's "
        "records on its day (raw queryable) and `claims_current` has every claim of the file with its last event on "
        f"that day, so the figures are ±{POLL_S} s. Drop → last run ended is when the last run the drop launched "
        "finished (then the second file, the next day, is dropped into the same dev). The peak is the resident "
        "memory of dev's whole process tree (webserver, daemon, code server, run workers) from the drop to "
        "claims_current, sampled every 0.2 s. Each figure is the best round (contention only slows dev down); runs "
        "launched counts, for every round, the runs created between the drop and idle (scheduled jobs such as "
        "`freshness_checks_job` or `compaction_job` included when they fall in that window). Failed runs are listed with their errors from the instance.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"lake sizes in records, comma-separated (default {DEFAULT_SIZES})")
    parser.add_argument("--records", type=int, default=1_100_000, help="records of the stream file copied (default 1,100,000)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds (lake restored, dev restarted); best is reported (default 2)")
    parser.add_argument("--files", type=int, choices=(1, 2), default=2, help="new-day files dropped per round (default 2)")
    parser.add_argument("--new-records", type=int, default=2000, help="records per new-day file (default 2,000)")
    parser.add_argument("--modify", type=int, default=300, help="MODIFY records of the lake's latest claims per file (default 300)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds from a drop to queryable / idle (default 900)")
    parser.add_argument("--stuck-after", type=float, default=60.0,
                        help="stop waiting for a drop when dev has been idle this many seconds without it (default 60)")
    parser.add_argument("--startup-timeout", type=float, default=900.0, help="seconds from dev's start to idle (default 900)")
    parser.add_argument("--rebuild", action="store_true", help="build the lakes anew (default: reuse lake_age.py's cached ones)")
    parser.add_argument("--gzip", action="store_true", help="lake_age.py's gzip-landed lakes instead of the JSON-lines ones")
    parser.add_argument("--records-per-file", type=int, default=100_000, help="records per gzip part when a lake is built (default 100,000)")
    parser.add_argument("--memory-limit", default="", help="ANALYTICS_DUCKDB_MEMORY_LIMIT for dev and builds (default: unset)")
    parser.add_argument("--no-readme", action="store_true", help="print the results only")
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()} | {0})

    def terminate(signum, frame):
        raise SystemExit(128 + signum)   # runs the finally blocks: dev is stopped

    signal.signal(signal.SIGTERM, terminate)
    with only_instance():
        return measure(args, sizes)


def measure(args, sizes: list[int]) -> int:
    started = time.monotonic()
    key, days, lakes = inputs(args, sizes)
    claims = [file_claims(f["path"]) for f in days["files"][:args.files]]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    before = package_fingerprint()
    code = f"{code_version()} (package fingerprint {before})"
    host = machine()
    print(f"code {code}; machine: {host}", flush=True)
    problems = [p for s in sizes for p in lakes[s]["problems"]]
    sessions = []
    try:
        for round_no in range(1, args.repeat + 1):
            print(f"round {round_no}/{args.repeat}", flush=True)
            for size in sizes:
                s = session(size, round_no, key, args, days, claims)
                sessions.append(s)
                problems += s["problems"]
    finally:
        shutil.rmtree(RUN, ignore_errors=True)
    fingerprints = sorted({before, package_fingerprint()})
    for p in problems:
        print(f"WARNING: {p}", flush=True)
    if len(fingerprints) > 1:
        print("WARNING: the analytics_pipeline package changed during the run; rerun when it is quiet", flush=True)
    body = report(args, when, host, code, fingerprints, days, lakes, sessions, problems, time.monotonic() - started)
    print()
    publish("dev_latency.py", TITLE, body, args.no_readme)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
