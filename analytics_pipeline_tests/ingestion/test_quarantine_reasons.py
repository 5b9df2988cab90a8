"""Quarantine reasons group: ``ingest_errors.reason`` is one short code of a documented list, the record's values
are in ``reason_detail``; rows written before the codes read through the view with a code of their own."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import string
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from analytics_pipeline.ingestion.landing_lines import ReadLimits
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.quarantine_reasons import CODES, REASONS
from analytics_pipeline.lake.views import register_lake_views
from analytics_pipeline.sources.claims.spec import CLAIM_ATTRIBUTES, claims_spec
from analytics_pipeline.sources.conversations.spec import conversations_spec
from analytics_pipeline.sources.llm_runs.spec import llm_runs_spec
from analytics_pipeline_tests.lakes import conversations_resource, lake_root, landing_root
from analytics_pipeline_tests.records import epoch, insert

NOW = datetime(2024, 6, 1)
DAY = "2024-03-01"
PER_KIND = 25
LIMITS = ReadLimits(max_line_bytes=4096, max_file_bytes=400_000)
REPO = Path(__file__).resolve().parents[2]


def word(rng: random.Random, letters: str = string.ascii_lowercase) -> str:
    return "".join(rng.choice(letters) for _ in range(rng.randint(3, 12)))


# --------------------------------------------------------------------------- bad records, by source and kind
# Each maker gives (the record's line, its expected code, text its detail must hold). Values are random, so
# the details differ from record to record while the codes do not.


def claims_bad(rng: random.Random, n: int) -> dict[str, list[tuple[bytes, str, str]]]:
    def record(**attributes) -> dict:
        return insert(f"bad-{n}-{rng.random()}", f"c-{rng.randint(1, 10**6)}", DAY, hour=rng.randint(0, 23),
                      **attributes)

    def dumped(r: dict) -> bytes:
        return json.dumps(r).encode()

    def missing() -> tuple[bytes, str, str]:
        r = record()
        key = rng.choice(["eventID", "eventName", "ApproximateCreationDateTime", "NewImage", "claim_id"])
        if key in ("eventID", "eventName"):
            r.pop(key)
        elif key == "claim_id":
            r["dynamodb"]["Keys"].pop("claim_id")
            r["dynamodb"]["NewImage"].pop("claim_id")
        else:
            r["dynamodb"].pop(key)
        where = "" if key in ("eventID", "eventName", "claim_id") else "dynamodb."
        return dumped(r), "missing_key", f"missing key {where}{key}"

    def wrong_type() -> tuple[bytes, str, str]:
        name = rng.choice([a for a, kind in CLAIM_ATTRIBUTES.items() if kind in ("number", "boolean")])
        r, value = record(), {"S": word(rng)}
        r["dynamodb"]["NewImage"][name] = value
        return (dumped(r), "wrong_type",
                f"attribute {name} is not a {CLAIM_ATTRIBUTES[name]}: {json.dumps(value, separators=(',', ':'))}")

    def unknown_event() -> tuple[bytes, str, str]:
        name = word(rng, string.ascii_uppercase)
        return dumped(record() | {"eventName": name}), "unknown_event_type", f'unknown eventName "{name}"'

    def bad_time() -> tuple[bytes, str, str]:
        r, value = record(), word(rng)
        r["dynamodb"]["ApproximateCreationDateTime"] = value
        return dumped(r), "invalid_time", f"dynamodb.ApproximateCreationDateTime is not a number: {value}"

    def out_of_range() -> tuple[bytes, str, str]:
        r = record()
        r["dynamodb"]["ApproximateCreationDateTime"] = epoch(rng.choice(["2019-05-02", "2023-12-30", "2031-01-09"]),
                                                              rng.randint(0, 23))
        return dumped(r), "time_out_of_range", "outside the accepted range 2024-01-01 00:00:00 .. 2024-06-01 23:59:59"

    def shape() -> tuple[bytes, str, str]:
        value = rng.choice([rng.randint(-10**6, 10**6), word(rng), {word(rng): word(rng)}, rng.random()])
        return json.dumps(value).encode(), "unknown_shape", "unknown record shape: "

    def cut() -> tuple[bytes, str, str]:
        text = dumped(record())
        return text[:rng.randint(1, len(text) - 2)], "invalid_json", "invalid JSON: "

    def not_utf8() -> tuple[bytes, str, str]:
        text = dumped(record(region="REGION"))
        bad = bytes([rng.randint(0xF8, 0xFF)])
        return text.replace(b"REGION", b"Z" + bad + b"rich"), "invalid_utf8", f"invalid UTF-8: byte 0x{bad.hex()}"

    def too_long() -> tuple[bytes, str, str]:
        text = dumped(record(override_justification="x" * rng.randint(5000, 9000)))
        return text, "line_too_long", f"line of {len(text):,} bytes is longer than 4,096"

    makers = [missing, wrong_type, unknown_event, bad_time, out_of_range, shape, cut, not_utf8, too_long]
    return {maker.__name__: [maker() for _ in range(PER_KIND)] for maker in makers}


def llm_runs_bad(rng: random.Random) -> dict[str, list[tuple[bytes, str, str]]]:
    def run(**fields) -> dict:
        return {"run_id": f"run-{rng.random()}", "project": word(rng),
                "started_at": f"{DAY}T0{rng.randint(0, 9)}:00:00Z", "status": "completed", "models": [{"model": "gpt-4o", "input_tokens": 10, "output_tokens": 5}]} | fields

    def line(record) -> bytes:
        return json.dumps(record).encode()

    def bad_time():
        field, value = rng.choice(["started_at", "finished_at"]), word(rng)
        return line(run(**{field: value})), "invalid_time", f"{field} is not a time: {value}"

    def bad_number():
        field, value = rng.choice(["total_cost", "duration_seconds"]), word(rng)
        return line(run(**{field: value})), "wrong_type", f"{field} is not a number: {value}"

    def bad_entry():
        value = word(rng)
        return (line(run(models=[{"model": "gpt-4o", "input_tokens": value}])), "invalid_model_entry",
                f'"input_tokens":"{value}"')

    def impossible_entry():
        tokens = rng.randint(10, 99)
        entry = rng.choice([{"input_tokens": -tokens}, {"input_tokens": tokens, "cache_read_tokens": tokens + 1},
                            {"output_tokens": tokens, "reasoning_tokens": tokens + 1}])
        return (line(run(models=[{"model": "gpt-4o", **entry}])), "invalid_model_entry",
                json.dumps({k: str(v) for k, v in entry.items()}, separators=(",", ":"))[1:-1])  # as read: text

    def bad_tags():
        value = word(rng)
        return (line(run(tags={"tenant": {"name": value}})), "wrong_type",
                f'tags.tenant is not a text, number or true/false: {{"name":"{value}"}}')

    def no_time():
        return line({"run_id": f"run-{rng.random()}", "project": word(rng)}), "missing_key", "missing time"

    def shape():
        return line({word(rng): word(rng)}), "unknown_shape", "neither a run (run_id) nor a job snapshot"

    def out_of_range():
        return line(run(started_at=f"20{rng.randint(10, 23)}-0{rng.randint(1, 9)}-11T10:00:00Z")), \
            "time_out_of_range", "outside the accepted range"

    makers = [bad_time, bad_number, bad_entry, impossible_entry, bad_tags, no_time, shape, out_of_range]
    return {maker.__name__: [maker() for _ in range(PER_KIND)] for maker in makers}


def conversations_bad(rng: random.Random) -> dict[str, list[tuple[bytes, str, str]]]:
    def event(**fields) -> dict:
        return {"event_id": f"e-{rng.random()}", "event_type": "message_received", "timestamp": f"{DAY}T10:31:00Z",
                "session_id": f"s-{rng.randint(1, 99)}", "user_id": word(rng), "data": {"text": word(rng)}} | fields

    def line(record) -> bytes:
        return json.dumps(record).encode()

    def missing():
        key = rng.choice(["event_id", "session_id", "timestamp"])
        return line({k: v for k, v in event().items() if k != key}), "missing_key", f"missing key {key}"

    def bad_time():
        return line(event(timestamp=word(rng))), "invalid_time", "timestamp is not a time"

    def bad_number():
        field = rng.choice(["confidence", "response_time_ms", "duration_ms"])
        return line(event(**{field: word(rng)})), "wrong_type", f"{field} is not a number"

    def out_of_range():
        return line(event(timestamp=f"20{rng.randint(10, 23)}-0{rng.randint(1, 9)}-11T10:00:00Z")), \
            "time_out_of_range", "outside the accepted range"

    def cut():
        text = line(event())
        return text[:rng.randint(1, len(text) - 2)], "invalid_json", "invalid JSON: "

    makers = [missing, bad_time, bad_number, out_of_range, cut]
    return {maker.__name__: [maker() for _ in range(PER_KIND)] for maker in makers}


def land_lines(landing, source: str, name: str, lines: list[bytes]) -> None:
    landing.write_bytes(b"\n".join(lines) + b"\n", source, name)


@pytest.fixture
def quarantined(lake_env, monkeypatch, tmp_path) -> tuple[list[dict], dict]:
    """Every source's landing files full of bad records of every kind (and hostile files), staged; the
    ``ingest_errors`` rows and, by (source, file, line), the expected (code, detail part)."""
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "test-key-" + "q" * 32)
    rng = random.Random(14)
    landing, lake = landing_root(lake_env), lake_root(lake_env)
    expected: dict[tuple[str, str, int], tuple[str, str]] = {}
    good = json.dumps(insert("good-1", "c-good", DAY)).encode()
    made = [("claims", claims_bad(rng, 0)), ("llm_runs", llm_runs_bad(rng)), ("conversations", conversations_bad(rng))]
    for source, kinds in made:
        for kind, records in kinds.items():
            lines = [good] if source == "claims" else []
            for text, code, detail in records:
                lines.append(text)
                expected[(source, f"{source}/{kind}.jsonl", len(lines))] = (code, detail)
            land_lines(landing, source, f"{kind}.jsonl", lines)
    # whole files, claims: cut gzip streams, files over the limit, FIFOs, links out of the landing zone
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(good + b"\n")
    for n in range(3):
        records = [json.dumps(insert(f"gz-{n}-{i}", f"c-{i}", DAY)).encode() for i in range(40 + n)]
        compressed = gzip.compress(b"\n".join(records) + b"\n", mtime=0)
        landing.write_bytes(compressed[: len(compressed) // 2], "claims", f"cut-{n}.jsonl.gz")
        landing.write_bytes(b"x" * (LIMITS.max_file_bytes + 1 + n), "claims", f"big-{n}.jsonl")
        expected[("claims", f"claims/big-{n}.jsonl", 1)] = ("file_too_large", f"{LIMITS.max_file_bytes + 1 + n:,} read")
        os.mkfifo(landing.path("claims", f"pipe-{n}.jsonl"))
        expected[("claims", f"claims/pipe-{n}.jsonl", 1)] = ("not_a_regular_file", "not a regular file")
        os.symlink(outside, landing.path("claims", f"link-{n}.jsonl"))
        expected[("claims", f"claims/link-{n}.jsonl", 1)] = ("link_outside_landing", "outside the landing zone")
    specs = [claims_spec(), llm_runs_spec(), conversations_spec().given(conversations_resource())]
    for spec in specs:
        stage_batch(lake, landing, spec, landing.list_files(spec.name), "2024-01-01", now=NOW, limits=LIMITS)
    con = connect(lake)
    register_lake_views(con, lake, specs, only={"ingest_errors"})
    cursor = con.execute("SELECT * FROM ingest_errors")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    con.close()
    for row in rows:  # the cut gzip streams: their line number is where the stream broke
        if row["file"].startswith("claims/cut-"):
            expected[(row["source"], row["file"], row["line"])] = ("unreadable_file", "the gzip stream is truncated")
    return rows, expected


def test_many_different_bad_records_give_few_short_documented_reasons(quarantined):
    rows, expected = quarantined
    assert {(r["source"], r["file"], r["line"]) for r in rows} == set(expected)  # every bad record, nothing else
    reasons = {r["reason"] for r in rows}
    details = {r["reason_detail"] for r in rows}
    assert reasons <= CODES and all(len(reason) <= 40 for reason in reasons)
    assert len(reasons) == len({code for code, _ in expected.values()}) <= 15
    assert len(details) > 10 * len(reasons)  # the values are in the detail, not in the code
    for r in rows:
        code, part = expected[(r["source"], r["file"], r["line"])]
        assert (r["reason"], part in (r["reason_detail"] or "")) == (code, True), r
        assert r["reason_detail"].strip() and r["reason_detail"] != r["reason"]


def test_group_by_reason_gives_one_line_per_code(quarantined, lake_env):
    rows, _ = quarantined
    by_reason = {}
    for r in rows:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1
    con = connect(lake_root(lake_env))
    register_lake_views(con, lake_root(lake_env), [claims_spec(), llm_runs_spec(), conversations_spec()],
                        only={"ingest_errors"})
    grouped = dict(con.execute("SELECT reason, count(*) FROM ingest_errors GROUP BY 1").fetchall())
    con.close()
    assert grouped == by_reason and max(len(line) for line in grouped) <= 40


# --------------------------------------------------------------------------- rows written before the codes

# (the long reason text an earlier version wrote, the code the view gives it)
OLDER_TEXTS = [
    ("refused: the file is a link that leads outside the landing zone; it was not read", "link_outside_landing"),
    ("refused: the entry is not a regular file (a FIFO, socket or device); it was not read", "not_a_regular_file"),
    ("refused: the file holds more than 100 bytes (ANALYTICS_MAX_FILE_BYTES), 120 read; none of its lines were "
     "taken in: split it, or raise the limit", "file_too_large"),
    ("unreadable file: the gzip stream is truncated", "unreadable_file"),
    ("line of 20,000,000 bytes is longer than 16,777,216 (ANALYTICS_MAX_LINE_BYTES); its first 64 KiB are kept as "
     "its text", "line_too_long"),
    ("invalid UTF-8", "invalid_utf8"),
    ("invalid JSON", "invalid_json"),
    ("unknown record shape: a JSON number, not a change record", "unknown_shape"),
    ('missing key eventID; attribute claim_amount is not a number: {"N":"abc"}', "missing_key"),
    ("missing keys dynamodb.OldImage and dynamodb.Keys for REMOVE", "missing_key"),
    ("missing time: a run needs started_at or finished_at, a job one of its timestamps", "missing_key"),
    ('unknown eventName "UPSERT"', "unknown_event_type"),
    ("dynamodb.ApproximateCreationDateTime is not a number: yesterday", "invalid_time"),
    ("started_at is not a time: soon", "invalid_time"),
    ("missing or invalid time", "invalid_time"),
    ("event time 2023-12-31 23:59:59 outside the accepted range 2024-01-01 00:00:00 .. 2024-06-01 23:59:59",
     "time_out_of_range"),
    ('attribute created_at is not a timestamp: {"S":"x"}', "wrong_type"),
    ("total_cost is not a number: cheap", "wrong_type"),
    ("models is not a list", "wrong_type"),
    ("dynamodb image is not an object", "wrong_type"),
    ('models entry without a model name or with non-numeric tokens/cost: {"model":null}', "invalid_model_entry"),
    ("a text no version wrote", "unclassified"),
]


def _older_file(path: Path, texts: list[str]) -> None:
    """A quarantine file as staging wrote it before the codes: the text in ``reason``, no ``reason_detail``."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (source VARCHAR, batch_id VARCHAR, file VARCHAR, line BIGINT, record INTEGER, "
                "reason VARCHAR, original_text VARCHAR, event_id VARCHAR, event_time TIMESTAMP)")
    con.executemany("INSERT INTO t VALUES ('claims', 'old', 'claims/old.jsonl', ?, NULL, ?, '{}', NULL, NULL)",
                    [[n, text] for n, text in enumerate(texts, start=1)])
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    con.close()


def test_rows_quarantined_before_the_codes_read_with_a_code_and_their_text_as_detail(lake_env):
    lake = lake_root(lake_env)
    _older_file(Path(lake.path("errors/claims/batch-old.parquet")), [text for text, _ in OLDER_TEXTS])
    con = connect(lake)
    register_lake_views(con, lake, [claims_spec()], only={"ingest_errors"})
    only_old = con.execute("SELECT line, reason, reason_detail FROM ingest_errors ORDER BY line").fetchall()
    assert only_old == [(n, code, text) for n, (text, code) in enumerate(OLDER_TEXTS, start=1)]

    # a new batch beside it: one column more, and the old rows still group with the new ones
    landing = landing_root(lake_env)
    landing.write_bytes(b'{"eventID": "x"\n"just a string"\n', "claims", "new.jsonl")
    stage_batch(lake, landing, claims_spec(), landing.list_files("claims"), "2024-01-01", now=NOW)
    register_lake_views(con, lake, [claims_spec()], only={"ingest_errors"})
    grouped = dict(con.execute("SELECT reason, count(*) FROM ingest_errors WHERE reason IN ('invalid_json', "
                               "'unknown_shape') GROUP BY 1").fetchall())
    assert grouped == {"invalid_json": 2, "unknown_shape": 2}
    columns = [d[0] for d in con.execute("SELECT * FROM ingest_errors LIMIT 0").description]
    assert columns[:8] == ["source", "batch_id", "file", "line", "record", "reason", "reason_detail", "original_text"]
    con.close()


# --------------------------------------------------------------------------- one list, documented


def test_every_code_is_documented_where_users_and_ask_read_them():
    docs = "\n".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
                     if p.exists())
    assert CODES <= set(re.findall(r"^\| `([a-z0-9_]+)` \|", docs, re.MULTILINE))  # a row of the reasons' table
    notes = (REPO / "analytics_pipeline" / "ask" / "schema_notes.yaml").read_text()
    assert all(code in notes for code in CODES)
    assert len(REASONS) == len(CODES)  # no code defined twice


def test_the_parse_sql_names_codes_only_through_the_list():
    """A code written as a literal in the SQL would escape the list; ``{reason.<code>}`` cannot."""
    sql = (REPO / "analytics_pipeline" / "ingestion" / "specs")
    for path in sql.glob("*.sql"):
        assert not re.search(r"problem\(\s*'", path.read_text()), path.name
    with pytest.raises(AttributeError, match="missing_kee"):
        claims_spec().__class__(name="x", records_sql_template="SELECT {reason.missing_kee}", entity_key="k",
                                description="").records_sql(NOW, NOW)
