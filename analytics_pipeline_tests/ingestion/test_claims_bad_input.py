"""Claims ingestion, bad input: each bad record is quarantined with its reason, nothing else is lost.

Most tests write a file of three lines — a good record, the bad input, a good record — and check
that the bad one lands in ``errors/claims/batch-<id>.parquet`` with its reason code, the exact detail, file,
line and original text, that both good records reach the raw partition, and that every record is
counted (``records_in == staged + quarantined + duplicates`` and ``records_in`` is the number of
records written, so nothing disappears silently).
"""

from __future__ import annotations

import copy
import gzip
import json
import zlib
from datetime import datetime, timezone

import pytest

from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.ingestion.test_claims_formats import DAY, SOURCE, ClaimsLake, positions
from analytics_pipeline_tests.records import epoch, insert, jsonl

FILE = "mixed.jsonl"
ERROR_COLUMNS = {"source", "batch_id", "file", "line", "record", "reason", "reason_detail", "original_text"}


@pytest.fixture
def claims(lake_env: Settings) -> ClaimsLake:
    return ClaimsLake.from_settings(lake_env)


def good(n: int) -> bytes:
    """The n-th good record, as a line without its newline."""
    return json.dumps(insert(f"good-{n}", f"c-{n}", DAY, hour=n)).encode()


def mutated(change) -> str:
    """A valid INSERT record (event id ``bad-1``) after ``change(record)``, as one JSON line."""
    record = copy.deepcopy(insert("bad-1", "c-bad", DAY))
    change(record)
    return json.dumps(record)


def new_image(record: dict) -> dict:
    return record["dynamodb"]["NewImage"]


def assert_bad_line_quarantined(
    claims: ClaimsLake,
    bad: str | bytes,
    reason: str,
    detail: str,
    *,
    exact: bool = True,
    original_text: str | None = None,
    lines: list[bytes] | None = None,
    bad_line_no: int = 2,
) -> dict:
    """Land ``lines`` (default: good 1, ``bad``, good 2), stage and merge; check the bad line is the one error.

    Returns the error row. ``reason`` is its code, ``detail`` its detail (or, not ``exact``, how the detail starts);
    ``original_text`` defaults to the bad line exactly as written.
    """
    bad_bytes = bad.encode() if isinstance(bad, str) else bad
    if lines is None:
        lines = [good(1), bad_bytes, good(2)]
    claims.land(FILE, b"\n".join(lines) + b"\n")

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (3, 2, 1, 0), result
    [error] = claims.errors(result)
    assert ERROR_COLUMNS <= set(error)
    assert (error["source"], error["batch_id"], error["file"], error["line"], error["record"]) == (
        SOURCE, result.batch_id, f"{SOURCE}/{FILE}", bad_line_no, None)
    assert error["reason"] == reason
    if exact:
        assert error["reason_detail"] == detail
    else:
        assert error["reason_detail"].startswith(detail), error["reason_detail"]
    expected_text = bad_bytes.decode("utf-8") if original_text is None else original_text
    assert error["original_text"] == expected_text
    good_lines = [n for n in (1, 2, 3) if n != bad_line_no]
    assert positions(claims.raw()) == {
        "good-1": (f"{SOURCE}/{FILE}", good_lines[0], None), "good-2": (f"{SOURCE}/{FILE}", good_lines[1], None)}
    return error


# --------------------------------------------------------------------------- lines that are not JSON


def test_invalid_json_line(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, '{"eventID": "bad-1", "eventName": INSERT}', "invalid_json",
                                "invalid JSON: Expecting value: line 1 column 35 (char 34)")


def test_truncated_line(claims: ClaimsLake) -> None:
    # the detail says where the text stops being JSON: here, at its end
    assert_bad_line_quarantined(claims, mutated(lambda r: None)[:80], "invalid_json",
                                "invalid JSON: Expecting ':' delimiter: line 1 column 81 (char 80)")


def test_truncated_last_line_without_final_newline(claims: ClaimsLake) -> None:
    """A file cut off mid-record: the partial record is quarantined, the lines before it land."""
    partial = mutated(lambda r: None)[:80]
    claims.land(FILE, good(1) + b"\n" + good(2) + b"\n" + partial.encode())

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 2, 1)
    [error] = claims.errors(result)
    assert (error["line"], error["reason"], error["original_text"]) == (3, "invalid_json", partial)
    assert error["reason_detail"].startswith("invalid JSON: ")
    assert sorted(r["event_id"] for r in claims.raw()) == ["good-1", "good-2"]


@pytest.mark.parametrize("bad, detail", [
    ('{"eventID": "bad-1", "eventName": "INS', "Unterminated string starting at: line 1 column 35 (char 34)"),
    ("{not json at all", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("{}{", "Extra data: line 1 column 3 (char 2)")], ids=["truncated", "garbage", "broken-concatenation"])
def test_bad_first_line_does_not_swallow_the_rest_of_the_file(claims: ClaimsLake, bad: str, detail: str) -> None:
    """A JSON Lines file whose first line is broken is still read line by line; the detail says where it breaks."""
    assert_bad_line_quarantined(claims, bad, "invalid_json", f"invalid JSON: {detail}",
                                lines=[bad.encode(), good(1), good(2)], bad_line_no=1)


def test_invalid_utf8_bytes_in_a_line(claims: ClaimsLake) -> None:
    # "Zürich" written in Latin-1 by a misconfigured producer: 0xFC is not UTF-8.
    bad = mutated(lambda r: new_image(r).update(region={"S": "Zurich"})).encode().replace(b"Zurich", b"Z\xfcrich")
    # A VARCHAR cannot hold the invalid byte: it is kept as U+FFFD, everything else exactly as written.
    at = bad.index(b"\xfc")
    error = assert_bad_line_quarantined(claims, bad, "invalid_utf8",
                                        f"invalid UTF-8: byte 0xfc at offset {at:,} of the line (invalid start byte)",
                                        original_text=bad.decode("utf-8", "replace"))
    assert "Z\ufffdrich" in error["original_text"]


def test_files_duckdb_cannot_scan_do_not_disturb_the_others_in_their_batch(claims: ClaimsLake) -> None:
    """The line counts of a batch's files come from one scan; a file that scan cannot read (invalid UTF-8) or
    that holds DuckDB's separator (0x1F) is read in Python, and every other file keeps its own lines."""
    latin1 = mutated(lambda r: new_image(r).update(region={"S": "Zurich"})).encode().replace(b"Zurich", b"Z\xfcrich")
    separator = mutated(lambda r: r.update(eventID="bad-2")).replace('", "eventName"', '",\x1f"eventName"', 1).encode()
    clean = [json.dumps(insert(f"clean-{n}", f"c-clean-{n}", DAY, hour=n)).encode() for n in range(1, 5)]
    claims.land("a-clean.jsonl", b"\n".join(clean[:2]) + b"\n")
    claims.land("b-latin1.jsonl", good(1) + b"\n" + latin1 + b"\n")
    claims.land("c-separator.jsonl", separator + b"\n" + good(2) + b"\n")
    claims.land("d-clean.jsonl", b"\n\n".join(clean[2:]) + b"\n")

    result = claims.ingest()

    figures = result.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined) == (4, 8, 6, 2)
    errors = {e["file"]: (e["line"], e["reason"]) for e in claims.errors(result)}
    assert errors == {f"{SOURCE}/b-latin1.jsonl": (2, "invalid_utf8"),
                      f"{SOURCE}/c-separator.jsonl": (1, "invalid_json")}
    assert positions(claims.raw()) == {
        "clean-1": (f"{SOURCE}/a-clean.jsonl", 1, None), "clean-2": (f"{SOURCE}/a-clean.jsonl", 2, None),
        "good-1": (f"{SOURCE}/b-latin1.jsonl", 1, None), "good-2": (f"{SOURCE}/c-separator.jsonl", 2, None),
        "clean-3": (f"{SOURCE}/d-clean.jsonl", 1, None), "clean-4": (f"{SOURCE}/d-clean.jsonl", 2, None)}
    assert [(m["file"], m["records_in"], m["quarantined"]) for m in claims.manifest(result)] == [
        (f"{SOURCE}/a-clean.jsonl", 2, 0), (f"{SOURCE}/b-latin1.jsonl", 2, 1),
        (f"{SOURCE}/c-separator.jsonl", 2, 1), (f"{SOURCE}/d-clean.jsonl", 2, 0)]


def test_lone_surrogate_escape_in_a_sampled_line(claims: ClaimsLake) -> None:
    """Python's json reads "\\ud800" (half of a UTF-16 pair); DuckDB does not. The line is in the sample the fast
    path learns from (attribute names, stream ARNs), which must not take it into the query."""
    bad = mutated(lambda r: r.update(eventSourceARN="arn:aws:dynamodb:eu-west-2:1:table/Bad\ud800/stream/x"))
    assert "\\ud800" in bad
    # Python reads the line, so its detail can only say it is not JSON (to DuckDB)
    assert_bad_line_quarantined(claims, bad, "invalid_json", "invalid JSON")


def test_line_with_the_0x1f_control_character(claims: ClaimsLake) -> None:
    """0x1F is DuckDB's line-scan separator here; a line holding it keeps its exact text (and line number)."""
    bad = mutated(lambda r: None).replace('", "eventName"', '",\x1f"eventName"', 1)
    assert "\x1f" in bad
    assert_bad_line_quarantined(claims, bad, "invalid_json", "invalid JSON: Expecting property name enclosed in double "
                                "quotes: line 1 column 21 (char 20)")


def test_0x1f_inside_a_string_value_is_kept_exactly(claims: ClaimsLake) -> None:
    """The separator inside a string does not split or mangle the line."""
    record = insert("odd-1", "c-odd", DAY, region="north\x1fsouth")
    claims.land(FILE, good(1) + b"\n" + json.dumps(record, ensure_ascii=False).encode() + b"\n" + good(2) + b"\n")

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.quarantined) == (3, 0)
    rows = claims.raw_by_id()
    assert rows["odd-1"]["region"] == "north\x1fsouth"
    assert {e: rows[e]["source_line"] for e in rows} == {"good-1": 1, "odd-1": 2, "good-2": 3}


# --------------------------------------------------------------------------- JSON that is not a change record


def test_json_string_line_is_an_unknown_shape(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, '"INSERT c-1"', "unknown_shape",
                                "unknown record shape: a JSON string, not a change record")


def test_json_array_of_numbers_is_an_unknown_shape(claims: ClaimsLake) -> None:
    """A top-level array is read as a batch: each element is a record of its own, each one quarantined."""
    claims.land(FILE, good(1) + b"\n[1, 2, 3]\n" + good(2) + b"\n")

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (5, 2, 3, 0)
    errors = claims.errors(result)
    assert [(e["file"], e["line"], e["record"], e["reason"], e["reason_detail"], e["original_text"])
            for e in errors] == [
        (f"{SOURCE}/{FILE}", 2, n, "unknown_shape", "unknown record shape: a JSON number, not a change record", str(n))
        for n in (1, 2, 3)]
    assert sorted(r["event_id"] for r in claims.raw()) == ["good-1", "good-2"]


def test_object_that_is_not_a_change_record(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, '{"claim_id": "c-1", "status": "OPEN"}', "unknown_shape",
                                'unknown record shape: no "dynamodb" or "eventName" key')


# --------------------------------------------------------------------------- change records with a bad envelope


def test_missing_event_id(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, mutated(lambda r: r.pop("eventID")), "missing_key", "missing key eventID")


def test_missing_approximate_creation_date_time(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, mutated(lambda r: r["dynamodb"].pop("ApproximateCreationDateTime")),
                                "missing_key", "missing key dynamodb.ApproximateCreationDateTime")


def test_non_numeric_approximate_creation_date_time(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(
        claims, mutated(lambda r: r["dynamodb"].update(ApproximateCreationDateTime="yesterday")),
        "invalid_time", "dynamodb.ApproximateCreationDateTime is not a number: yesterday")


def test_unknown_event_name(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, mutated(lambda r: r.update(eventName="UPSERT")), "unknown_event_type",
                                'unknown eventName "UPSERT"')


def test_missing_new_image_on_insert(claims: ClaimsLake) -> None:
    assert_bad_line_quarantined(claims, mutated(lambda r: r["dynamodb"].pop("NewImage")), "missing_key",
                                "missing key dynamodb.NewImage for INSERT")


def test_missing_claim_id(claims: ClaimsLake) -> None:
    def drop_claim_id(record: dict) -> None:
        record["dynamodb"]["Keys"].pop("claim_id")
        new_image(record).pop("claim_id")

    assert_bad_line_quarantined(claims, mutated(drop_claim_id), "missing_key", "missing key claim_id")


@pytest.mark.parametrize("offset_days", [4, 365 * 70], ids=["days-ahead", "decades-ahead"])
def test_event_time_in_the_future(claims: ClaimsLake, offset_days: int) -> None:
    """NOW is 2024-06-01: events after the end of that day (the newest partition) cannot be real yet."""
    created = epoch("2024-06-01", 0) + offset_days * 86400
    when = datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    assert_bad_line_quarantined(
        claims, mutated(lambda r: r["dynamodb"].update(ApproximateCreationDateTime=created)), "time_out_of_range",
        f"event time {when} outside the accepted range 2024-01-01 00:00:00 .. 2024-06-01 23:59:59")


@pytest.mark.parametrize("created", [epoch("2023-12-31", 23, 59) + 59, 1703980800000],
                         ids=["seconds", "milliseconds"])
def test_event_time_before_the_first_partition(claims: ClaimsLake, created: int) -> None:
    when = "2023-12-31 23:59:59" if created < 1e11 else "2023-12-31 00:00:00"
    assert_bad_line_quarantined(
        claims, mutated(lambda r: r["dynamodb"].update(ApproximateCreationDateTime=created)), "time_out_of_range",
        f"event time {when} outside the accepted range 2024-01-01 00:00:00 .. 2024-06-01 23:59:59")


# --------------------------------------------------------------------------- attributes of the wrong type


@pytest.mark.parametrize("value", [{"N": "abc"}, {"S": "abc"}], ids=["N-abc", "S-abc"])
def test_wrong_type_for_a_numeric_attribute(claims: ClaimsLake, value: dict) -> None:
    assert_bad_line_quarantined(claims, mutated(lambda r: new_image(r).update(claim_amount=value)), "wrong_type",
                                f"attribute claim_amount is not a number: {json.dumps(value, separators=(',', ':'))}")


@pytest.mark.parametrize("value", [{"S": "yes"}, {"N": "2"}], ids=["S-yes", "N-2"])
def test_wrong_boolean(claims: ClaimsLake, value: dict) -> None:
    assert_bad_line_quarantined(
        claims, mutated(lambda r: new_image(r).update(adjuster_override=value)), "wrong_type",
        f"attribute adjuster_override is not a boolean: {json.dumps(value, separators=(',', ':'))}")


def test_several_problems_are_all_named(claims: ClaimsLake) -> None:
    """The record counts under its first problem's code; its detail names every problem."""
    def break_twice(record: dict) -> None:
        record.pop("eventID")
        new_image(record)["claim_amount"] = {"N": "abc"}

    assert_bad_line_quarantined(claims, mutated(break_twice), "missing_key",
                                'missing key eventID; attribute claim_amount is not a number: {"N":"abc"}')


# --------------------------------------------------------------------------- whole files


def test_bad_record_inside_a_lambda_batch_document(claims: ClaimsLake) -> None:
    """One bad record of a pretty-printed batch is quarantined alone, with its position in the batch."""
    bad = insert("bad-1", "c-bad", DAY)
    bad["dynamodb"]["NewImage"]["fraud_score"] = {"S": "high"}
    batch = {"Records": [insert("good-1", "c-1", DAY), bad, insert("good-2", "c-2", DAY)]}
    claims.land("batch.json", json.dumps(batch, indent=2).encode())

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 2, 1)
    [error] = claims.errors(result)
    assert (error["file"], error["line"], error["record"], error["reason"], error["reason_detail"]) == (
        f"{SOURCE}/batch.json", 1, 2, "wrong_type", 'attribute fraud_score is not a number: {"S":"high"}')
    assert json.loads(error["original_text"]) == bad
    assert positions(claims.raw()) == {"good-1": ("claims/batch.json", 1, 1), "good-2": ("claims/batch.json", 1, 3)}


@pytest.mark.parametrize("count", [300, 3000], ids=["small", "larger-than-the-64k-peek"])
def test_truncated_gzip_file(claims: ClaimsLake, count: int) -> None:
    """A .gz cut off in transit: the lines that decompress whole land, the cut-off tail is quarantined."""
    records = [insert(f"gz-{i:04d}", f"c-{i}", DAY, hour=i % 24, claim_amount=i) for i in range(count)]
    compressed = gzip.compress(jsonl(records), mtime=0)
    cut = compressed[: len(compressed) // 2]
    readable = zlib.decompressobj(wbits=31).decompress(cut)  # everything before the cut
    complete, _, tail = readable.rpartition(b"\n")
    assert complete and tail, "the cut falls inside a line"
    landed_ids = [json.loads(text)["eventID"] for text in complete.split(b"\n")]
    claims.land("part.jsonl.gz", cut)
    claims.land(FILE, good(1) + b"\n")

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined) == (len(landed_ids) + 2, len(landed_ids) + 1, 1)
    [error] = claims.errors(result)
    assert (error["file"], error["line"]) == (f"{SOURCE}/part.jsonl.gz", len(landed_ids) + 1)
    assert (error["reason"], error["reason_detail"]) == (
        "unreadable_file", "unreadable file: the gzip stream is truncated")
    assert error["original_text"] == tail.decode()
    assert sorted(r["event_id"] for r in claims.raw()) == sorted(landed_ids + ["good-1"])


@pytest.mark.parametrize("content", [b"", b"\n", b"\n\n\r\n\n"], ids=["empty", "one-newline", "blank-lines"])
def test_file_without_records(claims: ClaimsLake, content: bytes) -> None:
    """A file with no record is taken (it is in the manifest with 0 records) without any error row."""
    claims.land("nothing.jsonl", content)
    claims.land(FILE, good(1) + b"\n" + good(2) + b"\n")

    result = claims.ingest()

    figures = result.figures
    assert (figures.files, figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (2, 2, 2, 0, 0)
    assert claims.errors(result) == []
    assert [(m["file"], m["records_in"], m["quarantined"]) for m in claims.manifest(result)] == [
        (f"{SOURCE}/{FILE}", 2, 0), (f"{SOURCE}/nothing.jsonl", 0, 0)]
    assert sorted(r["event_id"] for r in claims.raw()) == ["good-1", "good-2"]


def test_blank_lines_between_records_are_not_records(claims: ClaimsLake) -> None:
    """Blank lines are skipped; ``line`` counts the non-empty lines (landing_lines.py's documented rule)."""
    bad = '{"eventID": "bad-1"'
    claims.land(FILE, good(1) + b"\n\n\r\n" + bad.encode() + b"\n\n" + good(2) + b"\n\n")

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 2, 1)
    [error] = claims.errors(result)
    assert (error["line"], error["reason"], error["reason_detail"], error["original_text"]) == (
        2, "invalid_json", "invalid JSON: Expecting ',' delimiter: line 1 column 20 (char 19)", bad)
    assert positions(claims.raw()) == {"good-1": (f"{SOURCE}/{FILE}", 1, None), "good-2": (f"{SOURCE}/{FILE}", 3, None)}


def test_leading_blank_line_does_not_change_how_the_file_is_read(claims: ClaimsLake) -> None:
    """A JSON Lines file that starts with a blank line is still read line by line."""
    bad = b'{"eventID": "bad-1"'
    assert_bad_line_quarantined(claims, bad, "invalid_json", "invalid JSON: Expecting ',' delimiter", exact=False,
                                lines=[b"", good(1), bad, good(2)])
