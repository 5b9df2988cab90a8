"""Landing object names are data, never paths the lake writes to.

Files with hostile names (``../../x``, ``..%2f``, a leading ``/``, ``//``, NUL, newline, quotes,
glob characters, unicode, very long names) are staged and merged by the real ``stage_batch`` and
``merge_day``, on local disk and on S3 (moto on 127.0.0.1). Afterwards: nothing exists outside the
landing zone and the lake that was not there before; everything the lake holds has a name from the
lake's layout (hashes and days, never a landing name); each file's record landed once, under the
file's exact key; the manifest lists every key exactly as it was listed. A local symlink that leads
out of the landing zone is not read: the manifest takes it, with one quarantine row saying why.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import boto3
import duckdb

from analytics_pipeline.ingestion.landing_lines import OUTSIDE_LANDING_ZONE
from analytics_pipeline.ingestion.raw_merge import merge_day
from analytics_pipeline.ingestion.staging import BatchResult, stage_batch
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.records import insert

DAY = "2024-03-01"
LAKE_LAYOUT = re.compile(
    r"((staging/claims/event_date=\d{4}-\d{2}-\d{2}/batch-[0-9a-f]{16}"
    r"|raw/claims/event_date=\d{4}-\d{2}-\d{2}/part-0"
    r"|errors/claims/batch-[0-9a-f]{16}|manifests/claims/batch-[0-9a-f]{16}"
    r"|ledger/claims/entry-[0-9a-f]{16})\.parquet"  # the raw ledger's entry of each merge
    r"|\.locks/raw__claims__event_date=\d{4}-\d{2}-\d{2}__part-0\.parquet\.lock)"  # the day's merge lock
)
# Names a local folder can hold (no "/" and no NUL inside a name).
LOCAL_NAMES = [
    "..%2f..%2fescape.jsonl", "..\\..\\escape.jsonl", "new\nline.jsonl", "tab\there.jsonl", "q'uote\".jsonl",
    "star*[x]{y}?.jsonl", "$(touch pwned).jsonl", "-rf .jsonl", "ünï cödé 😀.jsonl", "%00nul.jsonl",
    "l" * 249 + ".jsonl", "..jsonl", "...json",
]
# Keys S3 accepts on top of those: dot segments, an empty segment, NUL (the S3 server refuses a newline in a key).
S3_NAMES = [*(n for n in LOCAL_NAMES if "\n" not in n), "../../escape.jsonl", "../../../../lake/raw/claims/x.jsonl",
            "./dot.jsonl", "/abs.jsonl",
            "a/../../b.jsonl", "nul\x00byte.jsonl", "sub/" + "k" * 900 + ".jsonl"]


def record_for(key: str) -> bytes:
    """One valid record whose event id is the landing key, so where it went shows which file it came from."""
    return (json.dumps(insert(key, "c-1", DAY)) + "\n").encode()


def ingest(landing: StorageRoot, lake: StorageRoot) -> BatchResult:
    files = landing.list_files("claims")
    result = stage_batch(lake, landing, claims_spec(), files, "2024-01-01", now=datetime(2024, 6, 1))
    for day in result.days:
        merge_day(lake, "claims", day)
    return result


def lake_rows(lake: StorageRoot, glob: str, columns: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        if lake.is_s3:
            con.register_filesystem(lake.fs)
        return con.execute(f"SELECT {columns} FROM read_parquet('{lake.path(glob)}') ORDER BY 1").fetchall()
    finally:
        con.close()


def assert_each_file_landed_under_its_key(lake: StorageRoot, keys: list[str], result: BatchResult) -> None:
    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (len(keys), len(keys), 0, 0)
    raw = lake_rows(lake, "raw/claims/*/*.parquet", "source_file, event_id")
    assert sorted(raw) == sorted((key, key) for key in keys)
    manifest = lake_rows(lake, "manifests/claims/*.parquet", "file, records_in")
    assert sorted(manifest) == sorted((key, 1) for key in keys)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_local_names_cannot_write_outside_the_lake(lake_env: Settings, tmp_path: Path) -> None:
    landing, lake = landing_root(lake_env), lake_root(lake_env)
    Path(landing.path("claims")).mkdir(parents=True)
    for name in LOCAL_NAMES:  # as a producer drops them (the longest name is at the file system's limit)
        Path(landing.path("claims"), name).write_bytes(record_for(f"claims/{name}"))
    before = tree(tmp_path)

    result = ingest(landing, lake)

    keys = [f"claims/{name}" for name in LOCAL_NAMES]
    assert_each_file_landed_under_its_key(lake, keys, result)
    lake_dir = Path(lake.uri)
    new = {p for p in tree(tmp_path) - before if not (tmp_path / p).is_dir()}
    assert all((tmp_path / p).resolve().is_relative_to(lake_dir) for p in new), sorted(new)
    assert all(LAKE_LAYOUT.fullmatch(str((tmp_path / p).relative_to(lake_dir))) for p in new), sorted(new)
    assert not (Path.cwd() / "pwned").exists() and not any(p.endswith("pwned") for p in tree(tmp_path))


def test_s3_keys_cannot_write_outside_the_lake(s3_lake_env: Settings) -> None:
    landing, lake = landing_root(s3_lake_env), lake_root(s3_lake_env)
    bucket = s3_lake_env.lake_uri.removeprefix("s3://").split("/")[0]
    s3 = boto3.client("s3", endpoint_url=s3_lake_env.s3_endpoint_url)
    for name in S3_NAMES:
        s3.put_object(Bucket=bucket, Key=f"landing/claims/{name}", Body=record_for(f"claims/{name}"))
    landed_keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    buckets_before = {b["Name"] for b in s3.list_buckets()["Buckets"]}

    result = ingest(landing, lake)

    assert_each_file_landed_under_its_key(lake, [f"claims/{name}" for name in S3_NAMES], result)
    after = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, MaxKeys=1000)["Contents"]}
    written = after - landed_keys
    assert written and all(k.startswith("lake/") and LAKE_LAYOUT.fullmatch(k.removeprefix("lake/")) for k in written), \
        sorted(written)
    assert landed_keys <= after  # the landing zone is only read
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == buckets_before


def test_a_symlink_out_of_the_landing_zone_is_not_read(lake_env: Settings, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_bytes(record_for("the secret record") + b"password=hunter2\n")
    landing, lake = landing_root(lake_env), lake_root(lake_env)
    landing.write_bytes(record_for("claims/good.jsonl"), "claims", "good.jsonl")
    os.symlink(secret, Path(landing.path("claims", "link.jsonl")))

    result = ingest(landing, lake)

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (2, 1, 1)
    errors = lake_rows(lake, "errors/claims/*.parquet", "file, line, reason, reason_detail, original_text")
    assert errors == [("claims/link.jsonl", 1, "link_outside_landing", OUTSIDE_LANDING_ZONE, "")]
    assert lake_rows(lake, "raw/claims/*/*.parquet", "event_id") == [("claims/good.jsonl",)]
    assert lake_rows(lake, "manifests/claims/*.parquet", "file, quarantined") == [
        ("claims/good.jsonl", 0), ("claims/link.jsonl", 1)]
