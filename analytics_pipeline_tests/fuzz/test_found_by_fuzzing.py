"""The cases the fuzzing found, kept as plain examples (each was a crash or a miscount before its fix)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from analytics_pipeline_tests.fuzz.landing_fuzz import LandingFileCase, check, deep, fresh_workdir, ingest
from analytics_pipeline_tests.records import insert

RECORD = json.dumps(insert("e-1", "c-1", "2024-03-01")).encode()
RUN = {"run_id": "r-1", "started_at": "2024-03-01T10:00:00Z", "models": []}
JOB = {"job_id": "j-1", "status": "completed", "updated_at": "2024-03-01T10:00:00Z"}


def ingested(source: str, name: str, data: bytes):
    with fresh_workdir() as workdir:
        accounting = ingest(source, [LandingFileCase(name, data)], Path(workdir))
    check(accounting)
    return accounting


def test_a_line_of_tabs_is_blank_not_a_record():
    assert ingested("claims", "a.jsonl", RECORD + b"\n\t\n \t\r\n").records_in == 1


@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json.gz"])
def test_deeply_nested_json_is_quarantined_not_a_crash(name):
    data = deep(5000) + b"\n" + RECORD + b"\n"
    accounting = ingested("claims", name, gzip.compress(data) if name.endswith(".gz") else data)
    assert (accounting.records_in, accounting.quarantined, accounting.raw_rows) == (2, 1, 1)


def test_a_lone_carriage_return_ends_a_line_on_every_path():
    data = RECORD + b"\r" + RECORD.replace(b"e-1", b"e-2") + b"\n"
    assert ingested("claims", "cr.jsonl", data).raw_rows == 2  # the DuckDB line scan
    assert ingested("claims", "cr-cut.jsonl.gz", gzip.compress(data)[:-4]).raw_rows == 2  # the Python split


def test_a_document_with_runs_and_jobs_keeps_both():
    accounting = ingested("llm_runs", "both.json", json.dumps({"runs": [RUN], "jobs": [JOB]}, indent=2).encode())
    assert (accounting.records_in, accounting.raw_rows) == (2, 2)


@pytest.mark.parametrize("source, items", [
    ("claims", [insert("a", "c-1", "2024-03-01"), insert("b", "c-2", "2024-03-01")]),
    ("llm_runs", [RUN, {**RUN, "run_id": "r-2"}]),
    ("conversations", [{"event_id": f"e-{n}", "event_type": "query", "timestamp": "2024-03-01T10:00:00Z",
                        "session_id": "s-1"} for n in (1, 2)]),
])
def test_an_array_after_whitespace_is_still_a_batch(source, items):
    """A pretty-printed array document that starts with a newline, and an array line indented by a tab."""
    document = ingested(source, "batch.json", b"\n" + json.dumps(items, indent=2).encode())
    line = ingested(source, "batch.jsonl", b"\t" + json.dumps(items).encode() + b"\n")
    assert (document.raw_rows, line.raw_rows) == (2, 2)


@pytest.mark.parametrize("literal", [b"Infinity", b"-Infinity", b"NaN", b"1e999", b'"Infinity"', b'"nan"'])
def test_numbers_that_are_not_finite_are_quarantined(literal):
    status = b'"status": {"S": "SUBMITTED"}'
    claim = RECORD.replace(status, b'"claim_amount": {"N": ' + literal + b"}, " + status)
    run = json.dumps({**RUN, "total_cost": "X"}).encode().replace(b'"X"', literal)
    event = (b'{"event_id": "e-1", "event_type": "query", "timestamp": "2024-03-01T10:00:00Z", "session_id": "s-1", '
             b'"confidence": ' + literal + b"}")
    for source, line in [("claims", claim), ("llm_runs", run), ("conversations", event)]:
        accounting = ingested(source, "inf.jsonl", line + b"\n")
        assert (accounting.records_in, accounting.quarantined) == (1, 1), (source, accounting)


def test_extra_attribute_names_that_are_no_json_path_do_not_stop_the_batch():
    """An empty name, a backslash, a quote or a "*" in an attribute name: the record lands, the name is kept."""
    names = ["", "a\\", "*", 'c"d', "e\\\"f", "$", "[0]"]
    records = []
    for n, name in enumerate(names):
        record = insert(f"e-{n}", f"c-{n}", "2024-03-01")
        record["dynamodb"]["NewImage"][name] = {"N": "5"}
        records.append(json.dumps(record).encode())
    accounting = ingested("claims", "names.jsonl", b"\n".join(records) + b"\n")
    assert (accounting.records_in, accounting.raw_rows) == (len(names), len(names))
