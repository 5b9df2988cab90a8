"""Runs whose process died (SIGKILL, OOM killer, power cut) without telling Dagster.

``analytics-pipeline run`` executes jobs inside its own process. Killed mid-run, it leaves its run
in STARTED in DAGSTER_HOME, holding its pool slot (``raw_<source>_writer``, ``warehouse_writer``):
the next run would wait for that slot forever, and sensors would think work is on its way.
Every run the CLI starts is tagged with its process; a later ``run`` marks the runs of processes
that no longer exist as failed and frees their slots. Runs started elsewhere (``dagster dev``'s
run launcher) carry no tag and are left to Dagster.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

PROCESS_TAG = "analytics/process"
_UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
               dg.DagsterRunStatus.CANCELING]


def _start_ticks(pid: int) -> str | None:
    """When the process started (clock ticks since boot); None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> str:
    """``host:pid:start`` — unique even when the pid is reused later."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid()) or ''}"


def _is_alive(process: str) -> bool:
    host, _, rest = process.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: not ours to judge
    if Path("/proc").is_dir():
        ticks = _start_ticks(int(pid))
        return ticks is not None and (not started or not ticks or ticks == started)  # "" = unreadable
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished CLI runs whose process is gone as failed and free their pool slots; returns their ids."""
    released = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_UNFINISHED)):
        process = run.tags.get(PROCESS_TAG, "")
        if not process or _is_alive(process):
            continue
        instance.report_run_failed(run, f"the process that ran it ({process}) ended without finishing it")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released
