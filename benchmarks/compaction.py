"""Benchmark: what small manifest files cost the landing sensor, and what compaction gives back.

The landing sensor reads every manifest of its source on every tick (``taken_files``). One staging
batch writes one manifest, so a source fed a file a minute gains 1,440 manifests a day. This writes
N one-batch manifests (the real schema, through the real Parquet writer) into a fresh local lake,
times ``taken_files`` and a count over the ``ingested_files`` view SQL (median of 5), compacts
with the real ``compact``, and times both again. Results go to README.md.

    uv run python benchmarks/compaction.py [--batches 1440 5000] [--no-readme]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine, publish  # noqa: E402  (same folder, shared reporting)

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "compaction"


def _median_seconds(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _measure(batches: int) -> dict:
    from analytics_pipeline.ingestion.manifest import taken_files
    from analytics_pipeline.lake import layout
    from analytics_pipeline.lake.duck import connect, scalar
    from analytics_pipeline.lake.parquet import write_parquet
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.lake.views import lake_views
    from analytics_pipeline.operations.compaction import compact, plan_compaction

    shutil.rmtree(WORK, ignore_errors=True)
    lake = StorageRoot(str(WORK / "lake"))
    con = connect(lake)
    for n in range(batches):
        batch = f"{n:016x}"
        con.register("manifest_rows", pa.table({
            "source": ["claims"], "batch_id": [batch], "file": [f"claims/2026/11/21/stream-{n:06d}.jsonl.gz"],
            "etag": [""], "size": [48_000 + n], "mtime": [1.7e9 + 60 * n], "records_in": [200], "quarantined": [0]}))
        write_parquet(con, lake, "SELECT * FROM manifest_rows", layout.manifest_file("claims", batch))
        con.unregister("manifest_rows")
    con.close()
    view = next(v.sql for v in lake_views(lake, []) if v.name == "ingested_files")

    def count_view() -> int:
        c = connect(lake)
        try:
            return scalar(c, f"SELECT count(*) FROM ({view})")
        finally:
            c.close()

    result = {"batches": batches,
              "bytes_before": sum(f.size for f in lake.list_files("manifests")),
              "sensor_before": _median_seconds(lambda: taken_files(lake, "claims")),
              "view_before": _median_seconds(count_view)}
    started = time.perf_counter()
    outputs = [compact(lake, group) for group in plan_compaction(lake, ["claims"])]
    result["compaction_seconds"] = time.perf_counter() - started
    result["files_after"] = len(lake.list_files("manifests"))
    result["bytes_after"] = sum(f.size for f in lake.list_files("manifests"))
    result["sensor_after"] = _median_seconds(lambda: taken_files(lake, "claims"))
    result["view_after"] = _median_seconds(count_view)
    assert len(taken_files(lake, "claims")) == batches and count_view() == batches
    assert sum(o.rows_out for o in outputs) == batches
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1440, 5000])
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    rows = [_measure(n) for n in args.batches]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC · `uv run python benchmarks/compaction.py "
        f"--batches {' '.join(map(str, args.batches))}`",
        "",
        f"Machine: {machine()} Local disk; medians of 5.",
        "",
        "| manifests (one per batch) | sensor read before | after compaction | `ingested_files` count before "
        "| after | compaction | files after | bytes before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batches']:,} | {r['sensor_before']:.2f} s | {r['sensor_after'] * 1000:.0f} ms "
            f"| {r['view_before']:.2f} s | {r['view_after'] * 1000:.0f} ms | {r['compaction_seconds']:.1f} s "
            f"| {r['files_after']} | {r['bytes_before'] / 1e6:.1f} MB → {r['bytes_after'] / 1e6:.2f} MB |")
    body = "\n".join(lines)
    publish("compaction.py", "small manifest files vs the landing sensor", body, args.no_readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
