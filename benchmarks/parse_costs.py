"""What each guarantee of the claims parse costs, in instructions, against the bare statement.

    cd /work/main && uv run python benchmarks/ingest_claims.py --records 1100000   # once: builds the input file
    cd /work/main && uv run python benchmarks/parse_costs.py [--records 20000]

Wall times on a shared 2-core machine move by up to 50 % within an hour, so small differences between SQL
variants cannot be timed. This script counts instructions instead: each variant runs in its own process under
``valgrind --tool=callgrind`` with DuckDB on one thread, over the first ``--records`` records of the benchmark's
input file; the same process doing nothing but its imports is subtracted. The count is the same whatever else the
machine does.

Variants (all read the same records and write Parquet):
- ``bare``: the benchmark's bare statement (read_json with a typed structure → partitioned Snappy Parquet);
- ``ours``: the claims parse exactly as staging runs it (the fast path's statement, to the batch's uncompressed
  file); staging then writes the day files, which this does not count;
- ``ours - X``: the same statement with one guarantee taken out, to show what that guarantee costs;
- ``ours - all of the above, day files from the parse``: every guarantee above taken out and the rows written
  straight to day files (no second pass): what is left of our parse when only the JSON text of the images remains.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ingest_claims import _BARE_ATTRIBUTES, _DDB, bare_statement, dataset_path  # noqa: E402

SOURCE_RECORDS = 1_100_000


def variants(sample: Path) -> dict[str, str]:
    """Variant name → the statement it runs (``{out}`` is its output folder)."""
    import duckdb

    from analytics_pipeline.ingestion.landing_lines import (
        LandingFile,
        plan_files,
        sample_lines,
    )
    from analytics_pipeline.ingestion.staging import (
        _BATCH_FILE_OPTIONS as BATCH_FILE_OPTIONS,
    )
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.sources.claims.spec import claims_spec

    spec = claims_spec()
    landing_file = LandingFile(seq=0, key=sample.name, path=str(sample))
    plan = plan_files(duckdb.connect(), StorageRoot(str(sample.parent)), [landing_file])  # as staging plans it
    sampled = spec.sample_values(sample_lines(plan, [landing_file]))

    def parse(old_image: bool = True, **changes: str) -> str:
        envelopes = spec.json_envelopes_template
        if not old_image:
            envelopes = envelopes.replace(", OldImage JSON", "")
            assert envelopes != spec.json_envelopes_template
        sql = dataclasses.replace(spec, json_envelopes_template=envelopes).records_sql(
            datetime(2020, 1, 1), datetime(2027, 1, 1), [str(sample)], "none", {**sampled, **changes})
        return sql if old_image else sql.replace("r.dynamodb.OldImage", "NULL::JSON")

    no_extras = {"extras_sampled": "true", "extra_attributes": "NULL::JSON", "extra_kinds": "NULL::VARCHAR",
                 "known_attribute_struct": re.sub(r', "[^"]+": "JSON"', "", sampled["known_attribute_struct"])}
    lean = parse(old_image=False, known_attribute_errors="NULL", **no_extras)
    return {
        "bare": bare_statement(str(sample), "{out}"),
        "bare, images read as JSON text then json_transform": bare_with_json_images(str(sample)),
        "bare, images read as JSON text then json_transform, + json_keys": bare_with_json_images(str(sample), True),
        "ours": f"COPY ({parse()}) TO '{{out}}/rows.parquet' ({BATCH_FILE_OPTIONS})",
        "ours - OldImage (REMOVE records would need another read)":
            f"COPY ({parse(old_image=False)}) TO '{{out}}/rows.parquet' ({BATCH_FILE_OPTIONS})",
        "ours - typed attributes' checks":
            f"COPY ({parse(known_attribute_errors='NULL')}) TO '{{out}}/rows.parquet' ({BATCH_FILE_OPTIONS})",
        "ours - extra attributes (detected, kept, typed for promotion)":
            f"COPY ({parse(**no_extras)}) TO '{{out}}/rows.parquet' ({BATCH_FILE_OPTIONS})",
        "ours - all of the above, day files from the parse":
            f"""COPY (SELECT *, CASE WHEN error_reason IS NULL THEN event_date::VARCHAR ELSE 'rejected' END AS part
                      FROM ({lean})) TO '{{out}}' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (part))""",
    }


def bare_with_json_images(sample: str, keys: bool = False) -> str:
    """The bare statement, but reading the images as JSON text and typing them with json_transform: what it takes
    to see an image's attributes beyond the typed ones, and the OldImage of REMOVE records, as ours reads them
    (``keys``: and to list the attributes, as detecting those beyond the typed ones needs)."""
    statement = bare_statement(sample, "{out}")
    typed_image = "NewImage STRUCT(" + ", ".join(f"{name} {_DDB}" for name in ["claim_id", *_BARE_ATTRIBUTES]) + ")"
    structure = json.dumps({name: {"S": "VARCHAR", "N": "VARCHAR", "BOOL": "BOOLEAN", "NULL": "BOOLEAN"}
                            for name in ["claim_id", *_BARE_ATTRIBUTES]})
    start, end = statement.index("FROM read_json("), statement.rindex(")\n) TO") + 1
    assert typed_image in statement[start:end]
    scan = statement[start + len("FROM "):end].replace(typed_image, "NewImage JSON, OldImage JSON")
    image = "coalesce(dynamodb.NewImage, dynamodb.OldImage)"
    select = statement[:start].replace("dynamodb.NewImage.", "img.")
    if keys:
        select = select.replace("eventName = 'REMOVE' AS is_removed", "eventName = 'REMOVE' AS is_removed, "
                                f"len(json_keys({image})) AS image_keys")
        assert "image_keys" in select
    return f"{select}FROM (SELECT *, json_transform({image}, '{structure}') AS img FROM {scan}){statement[end:]}"


def worker(name: str, sample: str, out: str) -> None:
    """Run one variant on one DuckDB thread (``name`` "" runs nothing: the imports' baseline)."""
    from analytics_pipeline.lake.duck import connect
    from analytics_pipeline.lake.storage import StorageRoot

    statements = variants(Path(sample))  # the baseline does all the Python work too
    con = connect(StorageRoot(out), StorageRoot(out))
    con.execute("SET threads = 1")
    if name:
        con.execute(statements[name].replace("{out}", out)).fetchall()


def instructions(name: str, sample: Path) -> int:
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
             "--worker", name, "--sample", str(sample), "--out", out],
            capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode or not found:
        raise SystemExit(f"{name or 'baseline'} failed:\n{run.stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--worker"), parser.add_argument("--sample"), parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args.worker, args.sample, args.out)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    source = dataset_path(SOURCE_RECORDS)
    if not source.exists():
        raise SystemExit(f"{source} is missing: run benchmarks/ingest_claims.py --records {SOURCE_RECORDS} first")
    sample = source.with_name(f"first-{args.records}.jsonl")
    with source.open("rb") as full, sample.open("wb") as part:
        for _, line in zip(range(args.records), full):
            part.write(line)
    baseline = instructions("", sample)
    print(f"{args.records:,} records, one DuckDB thread; instructions net of the process's imports "
          f"({baseline / 1e9:.2f} G)\n")
    print("| variant | instructions | × bare |\n|---|---:|---:|")
    bare = None
    for name in variants(sample):
        net = instructions(name, sample) - baseline
        bare = bare or net
        print(f"| {name} | {net / 1e9:.3f} G | {net / bare:.2f} |", flush=True)
    os.remove(sample)


if __name__ == "__main__":
    main()
