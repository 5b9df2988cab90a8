"""``analytics-pipeline serve`` as a real process, for the tests that talk to it over HTTP or signal it."""

import os
import subprocess
import sys


def start_serve(**popen) -> tuple[subprocess.Popen, str]:
    """``analytics-pipeline serve --port 0`` as a real process, once it says it serves: (process, base URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "analytics_pipeline.cli", "serve", "--port", "0"],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)
    lines = [proc.stdout.readline()]
    while lines[-1] and "serving dashboards on" not in lines[-1]:  # a note that no dashboards exist yet may come first
        lines.append(proc.stdout.readline())
    if "serving dashboards on http://127.0.0.1:" not in lines[-1]:
        proc.kill()
        proc.wait()
        raise AssertionError(f"serve did not start: {lines}")
    return proc, lines[-1].split("on ", 1)[1].split("/ ", 1)[0]
