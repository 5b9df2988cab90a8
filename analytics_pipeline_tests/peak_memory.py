"""A command's own peak memory, measured from a small parent process.

A child's ``ru_maxrss`` includes the resident size of the process that forked it (Linux keeps the high-water
mark across exec), so a command started straight from a test suite that has grown to a gigabyte reports a
gigabyte. A small wrapper process starts the command and reads its children's peak instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

_WRAPPER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
            "sys.exit(code)")


def run_measuring_peak(args: list[str], **run_kwargs) -> tuple[subprocess.CompletedProcess, float]:
    """``subprocess.run(args, **run_kwargs)`` through the wrapper; returns the result and the command's peak in MB."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        result = subprocess.run([sys.executable, "-c", _WRAPPER, str(peak_file), *args], check=False, **run_kwargs)
        return result, int(peak_file.read_text()) / 1024
