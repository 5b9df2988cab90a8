"""No landing entry can stop or exhaust ingestion: each class of hostile entry becomes quarantine rows (or a
recorded skip) while the batch's other records land, and one source's failure leaves the others running.

Classes: entries that are not regular files; entries the system will not read; JSON nested deeper than Python
parses (every source); lines and files over the size limits, plain or gzip (a small gzip file that inflates to a
gigabyte); names that mark hidden or unfinished files; files written to while their batch reads them; a source whose
lake state is corrupt.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
import zlib
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.landing_lines import (
    KEPT_OF_A_LONG_LINE,
    NOT_A_REGULAR_FILE,
    ReadLimits,
    _split_lines,
)
from analytics_pipeline.ingestion.manifest import HIDDEN, NOT_LANDING_TYPE, landing_scan, pending_files
from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.ingestion.test_claims_formats import (
    DAY,
    SOURCE,
    ClaimsLake,
    query,
)
from analytics_pipeline_tests.lakes import lake_root, landing_root
from analytics_pipeline_tests.peak_memory import run_measuring_peak
from analytics_pipeline_tests.records import insert, jsonl

NEWLINE = re.compile(rb"\r\n|\r|\n")


def good_lines(*ids: int) -> bytes:
    return jsonl([insert(f"good-{n}", f"c-{n}", DAY, hour=n) for n in ids])


def errors(claims: ClaimsLake) -> list[dict]:
    from analytics_pipeline_tests.ingestion.test_claims_formats import query

    glob = claims.lake.path(f"errors/{SOURCE}/*.parquet")
    return query(f"SELECT file, line, reason, reason_detail, original_text FROM read_parquet('{glob}') "
                 "ORDER BY file, line")


def test_an_entry_that_is_not_a_regular_file_is_one_row_and_is_never_opened(lake_env):
    claims = ClaimsLake.from_settings(lake_env)
    claims.land("a.jsonl", good_lines(1, 2))
    fifo = Path(claims.landing.path(SOURCE, "pipe.jsonl"))
    os.mkfifo(fifo)
    done = threading.Event()
    outcome: dict = {}

    def stage():
        outcome["result"] = claims.ingest()
        done.set()

    worker = threading.Thread(target=stage, daemon=True)
    worker.start()
    if not done.wait(120):  # opening the FIFO for reading would block forever: unblock it, then fail
        with open(fifo, "wb"):
            pass
        worker.join(30)
        raise AssertionError("staging opened the FIFO and waited for a writer")
    result = outcome["result"]
    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 2, 1)
    (row,) = errors(claims)
    assert (row["file"], row["reason"], row["reason_detail"]) == (
        f"{SOURCE}/pipe.jsonl", "not_a_regular_file", NOT_A_REGULAR_FILE)



@pytest.mark.parametrize("kind", ["dangling link", "loop of links", "no permission"])
def test_an_entry_the_system_will_not_read_is_one_row_and_the_rest_lands(lake_env, kind):
    claims = ClaimsLake.from_settings(lake_env)
    claims.land("a.jsonl", good_lines(1, 2))
    entry = Path(claims.landing.path(SOURCE, "b.jsonl"))
    if kind == "dangling link":
        entry.symlink_to(entry.with_name("gone.jsonl"))
    elif kind == "loop of links":
        entry.symlink_to(entry.with_name("c.jsonl"))
        entry.with_name("c.jsonl").symlink_to(entry)
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads a file whatever its mode")
        entry.write_bytes(good_lines(3))
        entry.chmod(0)
    listed = {f.key for f in claims.landing.list_files(SOURCE)}
    result = claims.ingest()
    rows = errors(claims)
    assert {r["file"] for r in rows} == listed - {f"{SOURCE}/a.jsonl"} and f"{SOURCE}/b.jsonl" in listed
    assert all(r["reason"] == "unreadable_file" and r["reason_detail"].startswith(
        "unreadable file: the system would not read it (") for r in rows), rows
    assert (result.figures.landed, result.figures.quarantined) == (2, len(rows))

@hypothesis_settings(max_examples=5, deadline=None)
@given(depth=st.integers(min_value=2_000, max_value=60_000), first=st.booleans())
def test_json_nested_deeper_than_python_parses_is_quarantined_and_the_rest_lands(tmp_path_factory, depth, first):
    from analytics_pipeline.lake.storage import StorageRoot

    base = tmp_path_factory.mktemp("deep")
    claims = ClaimsLake(StorageRoot(str(base / "landing")), StorageRoot(str(base / "lake")))
    deep = ('{"eventID": "deep", "dynamodb": {"NewImage": ' + '{"a": ' * depth + "1" + "}" * depth + "}}").encode()
    lines = [deep, good_lines(1).strip()] if first else [good_lines(1).strip(), deep]
    claims.land("deep.jsonl", b"\n".join(lines) + b"\n")
    result = claims.ingest()
    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (2, 1, 1)
    (row,) = errors(claims)
    assert row["line"] == (1 if first else 2) and row["original_text"] == deep.decode()
    assert (row["reason"], row["reason_detail"]) == (  # JSON to DuckDB, however deep
        "missing_key", "missing key eventName; missing key dynamodb.ApproximateCreationDateTime; missing key claim_id")



GOOD_RECORD = {  # one record each source takes in
    SOURCE: insert("good", "c-good", DAY),
    "llm_runs": {"run_id": "r-good", "project": "p", "started_at": f"{DAY}T10:00:00Z", "status": "completed"},
    "conversations": {"event_id": "e-good", "event_type": "user_message", "timestamp": f"{DAY}T10:00:00Z",
                      "session_id": "s-1", "user_id": "u-1", "data": {"text": "hello"}},
}


@hypothesis_settings(max_examples=12, deadline=None)
@given(source=st.sampled_from(sorted(GOOD_RECORD)), depth=st.integers(min_value=2_000, max_value=120_000),
       first=st.booleans(), gzipped=st.booleans(), shape=st.sampled_from(["object", "array"]))
def test_json_nested_deeper_than_python_parses_never_stops_any_source(tmp_path_factory, source, depth, first,
                                                                      gzipped, shape):
    """Every source, plain or gzip, the deep line first (the planner's peek) or after a good one (the fast path's
    sample of the file's head): the deep record is one quarantine row and the good one lands."""
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.sources.conversations.resource import ConversationsResource
    from analytics_pipeline.sources.registry import SOURCE_SPECS

    base = tmp_path_factory.mktemp("deep")
    landing, lake = StorageRoot(str(base / "landing")), StorageRoot(str(base / "lake"))
    opening, closing = ('{"a": ', "}") if shape == "object" else ("[", "]")
    deep = ('{"deep": ' + opening * depth + "1" + closing * depth + "}").encode()
    good = json.dumps(GOOD_RECORD[source]).encode()
    data = b"\n".join([deep, good] if first else [good, deep]) + b"\n"
    landing.write_bytes(gzip.compress(data) if gzipped else data, source, "deep.jsonl" + (".gz" if gzipped else ""))
    (spec,) = [s for s in SOURCE_SPECS if s.name == source]
    if spec.prepare_resource:  # the conversations parse takes its pseudonym key from its resource, as in a run
        resource = ConversationsResource(pseudonym_key="deep-json-" + "k" * 32)
        spec = replace(spec, prepare=partial(spec.prepare, **{spec.prepare_resource: resource}))
    result = stage_batch(lake, landing, spec, landing.list_files(source), "2024-01-01")
    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (2, 1, 1)
    (row,) = query(f"SELECT line, original_text FROM read_parquet('{lake.path(f'errors/{source}/*.parquet')}')")
    assert row["line"] == (1 if first else 2) and row["original_text"] == deep.decode()


def test_a_record_of_thousands_of_attributes_costs_bounded_memory_and_keeps_them_all(lake_env):
    """20,000 attributes beyond the typed ones in one 0.6 MB line (5,000 took 3.4 GB to stage: a column each, and
    the whole text parsed again per attribute): the run stays small, the record lands with every attribute in
    extra_attributes, and the other records' attribute is still promoted."""
    landing = landing_root(lake_env)
    wide = insert("wide", "c-wide", DAY, **{f"attr_{n}": "x" for n in range(20_000)})
    landing.write_bytes(jsonl([insert("plain", "c-plain", DAY, hour=1, policy_number="P-1"), wide]), SOURCE, "w.jsonl")
    result, peak_mb = run_measuring_peak([sys.executable, "-m", "analytics_pipeline.cli", "run"],
                                         env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0, result.stdout.decode()
    assert peak_mb < 900, f"peak {peak_mb:.0f} MB"
    settings = load_settings()
    rows = run_query(settings, "SELECT event_id, policy_number, len(json_keys(extra_attributes)) FROM claims "
                               "ORDER BY event_id").rows
    assert rows == [("plain", "P-1", 1), ("wide", None, 20_000)]
    columns = {name for name, *_ in run_query(settings, "DESCRIBE claims").rows}
    assert "policy_number" in columns and "attr_0" not in columns


def test_a_batch_adds_at_most_100_columns_those_most_records_carry(lake_env):
    from analytics_pipeline.ingestion.staging import MAX_PROMOTED_PER_BATCH

    claims = ClaimsLake.from_settings(lake_env)
    records = [insert(f"e-{n}", f"c-{n}", DAY, hour=n % 24, common="c", **{f"rare_{n:03d}": "r"}) for n in range(150)]
    claims.land("many.jsonl", jsonl(records))
    result = claims.stage()
    assert len(result.promoted_columns) == MAX_PROMOTED_PER_BATCH == 100
    assert "common" in result.promoted_columns
    assert result.figures.landed == 150

def _reference(data: bytes, max_line_bytes: int) -> list[tuple[bytes, int]]:
    pieces = NEWLINE.split(data)
    if pieces and pieces[-1] == b"":
        pieces.pop()
    return [(p[:KEPT_OF_A_LONG_LINE] if len(p) > max_line_bytes else p, len(p)) for p in pieces]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(st.binary(max_size=300).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                             st.sampled_from([b"\n", b"\r\n", b"\r"])), max_size=30),
    tail=st.binary(max_size=50).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=20),
    limit=st.integers(min_value=1, max_value=400),
)
def test_streamed_lines_split_like_the_whole_file_whatever_the_block_boundaries(lines, tail, cuts, limit):
    """LF, CRLF (also split between two blocks) and lone CR end a line; a line over the limit keeps its start."""
    data = b"".join(text + end for text, end in lines) + tail
    blocks, at = [], 0
    for cut in cuts:
        blocks.append(data[at:at + cut])
        at += cut
    blocks.append(data[at:])
    assert list(_split_lines(iter(blocks), limit)) == _reference(data, limit)


def test_a_line_longer_than_the_limit_keeps_its_start_and_the_others_land(lake_env):
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.sources.claims.spec import claims_spec
    from analytics_pipeline_tests.ingestion.test_claims_formats import (
        NOW,
        PARTITIONS_START,
    )

    claims = ClaimsLake.from_settings(lake_env)
    long_record = json.dumps(insert("long", "c-long", DAY, override_justification="x" * 300_000)).encode()
    for name, compress in (("plain.jsonl", bytes), ("zipped.jsonl.gz", gzip.compress)):
        claims.land(name, compress(good_lines(1) + long_record + b"\n" + good_lines(2)))
    files = claims.landing.list_files(SOURCE)
    result = stage_batch(claims.lake, claims.landing, claims_spec(), files, PARTITIONS_START, now=NOW,
                         limits=ReadLimits(max_line_bytes=100_000))
    claims.merge_staged()
    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (6, 2, 2, 2)
    rows = errors(claims)
    assert [(r["file"], r["line"]) for r in rows] == [(f"{SOURCE}/plain.jsonl", 2), (f"{SOURCE}/zipped.jsonl.gz", 2)]
    for row in rows:
        assert row["reason"] == "line_too_long"
        assert row["reason_detail"].startswith(f"line of {len(long_record):,} bytes is longer than 100,000")
        assert row["original_text"] == long_record[:KEPT_OF_A_LONG_LINE].decode()


def test_a_file_over_the_limit_is_refused_whole_with_one_row(lake_env):
    from analytics_pipeline.ingestion.staging import stage_batch
    from analytics_pipeline.sources.claims.spec import claims_spec
    from analytics_pipeline_tests.ingestion.test_claims_formats import (
        NOW,
        PARTITIONS_START,
    )

    claims = ClaimsLake.from_settings(lake_env)
    many = jsonl([insert(f"many-{n}", f"c-{n}", DAY) for n in range(2_000)])
    claims.land("big.jsonl", many)  # refused by its size on disk
    claims.land("big.jsonl.gz", gzip.compress(many))  # refused by what it inflates to (DuckDB's line scan)
    claims.land("bad-utf8.jsonl.gz", gzip.compress(many + b"\xff\n"))  # ... and when split in Python
    claims.land("ok.jsonl", good_lines(1, 2))
    limit = len(many) // 2
    result = stage_batch(claims.lake, claims.landing, claims_spec(), claims.landing.list_files(SOURCE),
                         PARTITIONS_START, now=NOW, limits=ReadLimits(max_file_bytes=limit))
    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (5, 2, 3)
    rows = errors(claims)
    assert {r["file"] for r in rows} == {f"{SOURCE}/big.jsonl", f"{SOURCE}/big.jsonl.gz", f"{SOURCE}/bad-utf8.jsonl.gz"}
    assert all(r["line"] == 1 and r["reason"] == "file_too_large"
               and r["reason_detail"].startswith(f"refused: the file holds more than {limit:,} bytes") for r in rows)


def test_a_gzip_file_that_inflates_to_a_gigabyte_costs_bounded_memory(lake_env, tmp_path):
    """One line of 1 GiB in a 1 MB gzip file: the run quarantines it (first 64 KiB kept) and the rest lands,
    with the whole process tree well under what reading the line would take."""
    landing = landing_root(lake_env)
    landing.write_bytes(good_lines(1, 2), SOURCE, "ok.jsonl")
    compressor = zlib.compressobj(level=9, wbits=31)
    bomb = Path(landing.path(SOURCE, "bomb.jsonl.gz"))
    with open(bomb, "wb") as out:
        out.write(compressor.compress(b'{"eventID": "bomb", "pad": "'))
        chunk = b"x" * (16 * 1024 * 1024)
        for _ in range(64):
            out.write(compressor.compress(chunk))
        out.write(compressor.compress(b'"}\n') + compressor.flush())
    assert bomb.stat().st_size < 4 * 1024 * 1024
    result, peak_mb = run_measuring_peak([sys.executable, "-m", "analytics_pipeline.cli", "run"],
                                         env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0, result.stdout.decode()
    assert peak_mb < 900, f"peak {peak_mb:.0f} MB"  # reading the line whole would take over 3 GB
    settings = load_settings()
    reasons = run_query(settings, "SELECT file, reason, reason_detail, length(original_text) FROM ingest_errors").rows
    assert reasons == [(f"{SOURCE}/bomb.jsonl.gz", "line_too_long",
                        ReadLimits().too_long(1024**3 + len('{"eventID": "bomb", "pad": ""}')), KEPT_OF_A_LONG_LINE)]
    assert run_query(settings, "SELECT count(*) FROM claims").rows == [(2,)]


def test_hidden_unfinished_and_foreign_names_are_reported_as_skipped(lake_env):
    landing = landing_root(lake_env)
    for name in ("a.jsonl", ".a.jsonl.tmp", "_b.jsonl", "_temporary/0/part-0.jsonl", ".hidden/c.jsonl",
                 "notes.txt", "data.csv", "sub/d.ndjson.gz"):
        landing.write_bytes(good_lines(1), SOURCE, name)
    scan = landing_scan(lake_root(lake_env), landing, SOURCE)
    assert sorted(f.key for f in scan.pending) == [f"{SOURCE}/a.jsonl", f"{SOURCE}/sub/d.ndjson.gz"]
    assert dict(scan.skipped) == {
        f"{SOURCE}/.a.jsonl.tmp": HIDDEN, f"{SOURCE}/_b.jsonl": HIDDEN, f"{SOURCE}/_temporary/0/part-0.jsonl": HIDDEN,
        f"{SOURCE}/.hidden/c.jsonl": HIDDEN, f"{SOURCE}/notes.txt": NOT_LANDING_TYPE, f"{SOURCE}/data.csv": NOT_LANDING_TYPE}
    (claims,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == SOURCE]
    assert sorted(claims.skipped) == sorted(scan.skipped)


def test_one_source_failing_leaves_the_others_running_and_the_exit_code_says_so(lake_env, capsys):
    from analytics_pipeline.cli import main

    landing = landing_root(lake_env)
    landing.write_bytes(good_lines(1), SOURCE, "a.jsonl")
    assert main(["run"]) == 0
    manifest = next(f for f in lake_root(lake_env).list_files(f"manifests/{SOURCE}"))
    path = Path(lake_root(lake_env).path(manifest.key))
    path.write_bytes(path.read_bytes()[:100])  # a truncated manifest: claims cannot tell what it took in
    run = {"run_id": "r-1", "project": "p", "started_at": f"{DAY}T10:00:00Z", "status": "completed"}
    landing.write_bytes((json.dumps(run) + "\n").encode(), "llm_runs", "a.jsonl")
    capsys.readouterr()

    assert main(["run"]) == 1
    out, err = capsys.readouterr()
    assert re.search(r"^llm_runs\s+1\s+1\s+1\s", out, re.MULTILINE), out
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: {SOURCE}: ") and manifest.key.rsplit("/", 1)[-1] in line
    assert f"`analytics-pipeline reingest {SOURCE}` moves its manifests aside" in line
    settings = load_settings()
    assert run_query(settings, "SELECT count(*) FROM llm_runs").rows == [(1,)]
    assert run_query(settings, "SELECT count(*) FROM claims").rows == [(1,)]  # the other views still work

    assert main(["reingest", SOURCE]) == 0  # the way out the error names
    assert "1 manifests could not be read" in capsys.readouterr().out
    landing.write_bytes(good_lines(2), SOURCE, "b.jsonl")
    assert main(["run"]) == 0
    out, _ = capsys.readouterr()
    assert re.search(rf"^{SOURCE}\s+2\s+2\s+1\s+0\s+1\s", out, re.MULTILINE), out  # a.jsonl again: a duplicate
    assert run_query(settings, "SELECT count(*) FROM claims").rows == [(2,)]


def test_a_file_written_to_while_the_batch_reads_it_waits_and_the_others_land_with_their_line_numbers(lake_env):
    claims = ClaimsLake.from_settings(lake_env)
    claims.land("growing.jsonl", good_lines(*range(0, 20)))
    claims.land("z-after.jsonl", jsonl([insert("after", "c-x", DAY)]) + b"{not json\n")
    growing = Path(claims.landing.path(SOURCE, "growing.jsonl"))
    line = jsonl([insert("appended", "c-appended", DAY, hour=5)])
    writer = subprocess.Popen([sys.executable, "-c", (  # another process appends a line every millisecond
        "import sys, time\n"
        "while True:\n"
        "    with open(sys.argv[1], 'ab') as out: out.write(sys.argv[2].encode())\n"
        "    time.sleep(0.001)\n"), str(growing), line.decode()])
    try:
        while growing.stat().st_size == len(good_lines(*range(0, 20))):
            pass
        first = claims.ingest()  # the growing file is left out; the batch is read again without it
    finally:
        writer.kill()
        writer.wait()
    assert first.deferred == [f"{SOURCE}/growing.jsonl"]
    assert (first.figures.files, first.figures.records_in, first.figures.landed, first.figures.quarantined) == (1, 2, 1, 1)
    (row,) = errors(claims)
    assert (row["file"], row["line"], row["reason"], row["original_text"]) == (
        f"{SOURCE}/z-after.jsonl", 2, "invalid_json", "{not json")
    assert [f.key for f in pending_files(claims.lake, claims.landing, SOURCE)] == [f"{SOURCE}/growing.jsonl"]

    appended = (growing.stat().st_size - len(good_lines(*range(0, 20)))) // len(line)
    later = claims.ingest("growing.jsonl")  # still now: taken in whole
    assert later.deferred == []
    assert (later.figures.landed, later.figures.duplicates) == (20 + 1, appended - 1)  # copies of one line
    assert claims.raw(columns="count(*) AS n", order_by="n") == [{"n": 22}]


def test_a_run_lists_the_files_it_left_for_later_and_the_other_sources_land(lake_env, capsys):
    """Through `run`: a file that changes while its batch reads it is named in the summary, not an error."""
    from analytics_pipeline.cli import main

    landing = landing_root(lake_env)
    landing.write_bytes(good_lines(1), SOURCE, "a.jsonl")
    growing = Path(landing.path(SOURCE, "growing.jsonl"))
    growing.write_bytes(good_lines(2))
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "while True:\n"
        "    with open(sys.argv[1], 'ab') as out: out.write(sys.argv[2].encode())\n"
        "    time.sleep(0.001)\n"), str(growing), good_lines(3).decode()])
    try:
        while growing.stat().st_size == len(good_lines(2)):
            pass
        code = main(["run"])
    finally:
        writer.kill()
        writer.wait()
    out, err = capsys.readouterr()
    assert code == 0 and "error:" not in err, err
    assert f"{SOURCE}: 1 landing files changed while this run read them, left for a later run (once they are " \
           f"still): {SOURCE}/growing.jsonl" in out
    assert run_query(load_settings(), "SELECT count(*) FROM claims").rows == [(1,)]
