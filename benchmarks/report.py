"""Shared benchmark reporting and set-up: the machine line, a script's section of benchmarks/README.md,
and a fresh data dir with an environment that points at it (and at nothing inherited)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal")) / 1024 / 1024
    import duckdb

    return (f"{model}, {os.cpu_count()} cores, {memory:.1f} GB RAM; Python {sys.version.split()[0]}, "
            f"DuckDB {duckdb.__version__}.")


def write_section(script: str, title: str, body: str) -> None:
    """Write (or replace) this script's section of benchmarks/README.md, between its markers."""
    slug = Path(script).stem.replace("_", "-")
    start, end = f"<!-- {slug}:start -->", f"<!-- {slug}:end -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    section = f"## `{script}`: {title}\n\n{start}\n{body}\n{end}\n"
    if start in text:
        head, rest = text.split(start, 1)
        head = head.rsplit(f"## `{script}`", 1)[0]
        text = head + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)


def publish(script: str, title: str, body: str, no_readme: bool) -> None:
    """Print the results, and write them into the script's README section unless ``no_readme``."""
    print(body)
    if not no_readme:
        write_section(script, title, body)


def point_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Point this process's environment at ``data_dir``: every inherited ``ANALYTICS_*`` variable dropped,
    ``ANALYTICS_DATA_DIR`` and ``DAGSTER_HOME`` under it, plus ``extra``. Returns a copy of the environment."""
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        del os.environ[name]
    os.environ.update({"ANALYTICS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(Path(data_dir) / "dagster_home"),
                       **extra})
    return dict(os.environ)


def fresh_env(work: Path, **extra: str) -> dict[str, str]:
    """``work`` removed, and the environment pointed at it (``point_env``). Returns a copy of the environment."""
    shutil.rmtree(work, ignore_errors=True)
    return point_env(work, **extra)
