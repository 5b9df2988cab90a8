"""Claims ingestion, end to end on real files: every delivery shape AWS produces lands typed.

Each test writes DynamoDB Streams change records into a temporary landing folder, runs the real
``stage_batch`` and ``merge_day``, and reads the Parquet they wrote back with DuckDB.

The helpers at the top (``ClaimsLake``, ``query``, ``line``) are shared with
``test_claims_bad_input.py``.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import date, datetime

import duckdb
import pytest

from analytics_pipeline.ingestion.raw_merge import MergeResult, merge_day
from analytics_pipeline.ingestion.staging import BatchResult, stage_batch
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.records import (
    epoch,
    image,
    insert,
    jsonl,
    kinesis_record,
    stream_record,
)

SOURCE = "claims"
PARTITIONS_START = "2024-01-01"
# A fixed "now" keeps the accepted event-time range (and the reasons that quote it) stable.
NOW = datetime(2024, 6, 1)
DAY = "2024-03-01"
NOON = datetime(2024, 3, 1, 12, 0)


# --------------------------------------------------------------------------- shared helpers


def query(sql: str) -> list[dict]:
    """Rows of ``sql`` as dicts, from a fresh connection (the whole result is fetched)."""
    con = duckdb.connect()
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    return [dict(zip(names, row)) for row in rows]


def column_types(path: str) -> dict[str, str]:
    return {r["column_name"]: r["column_type"] for r in query(f"DESCRIBE SELECT * FROM read_parquet('{path}')")}


def line(record) -> bytes:
    """One JSON Lines line."""
    return (json.dumps(record) + "\n").encode()


class ClaimsLake:
    """A landing folder and a lake on local disk, driven through the real staging and merge."""

    def __init__(self, landing: StorageRoot, lake: StorageRoot):
        self.landing = landing
        self.lake = lake

    @classmethod
    def from_settings(cls, settings: Settings) -> ClaimsLake:
        return cls(landing_root(settings), lake_root(settings))

    def land(self, name: str, data: bytes) -> None:
        self.landing.write_bytes(data, SOURCE, name)

    def stage(self, *names: str, now: datetime = NOW) -> BatchResult:
        """Stage the landed files called ``names`` (all of them when none is named) as one batch."""
        files = self.landing.list_files(SOURCE)
        if names:
            wanted = {f"{SOURCE}/{n}" for n in names}
            files = [f for f in files if f.key in wanted]
            assert len(files) == len(wanted), "a named file was never landed"
        result = stage_batch(self.lake, self.landing, claims_spec(), files, PARTITIONS_START, now=now)
        figures = result.figures
        assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates, result
        assert sum(result.days.values()) == figures.landed, result
        return result

    def merge(self, day: str) -> MergeResult:
        result = merge_day(self.lake, SOURCE, day)
        assert result.figures.records_in == result.figures.landed + result.figures.duplicates, result
        return result

    def merge_staged(self) -> dict[str, MergeResult]:
        """Merge every day that has staged files."""
        days = sorted({f.key.split("/")[2].removeprefix("event_date=") for f in self.lake.list_files(f"staging/{SOURCE}")})
        return {day: self.merge(day) for day in days}

    def ingest(self, *names: str) -> BatchResult:
        """Stage then merge: the whole path from landing to raw."""
        result = self.stage(*names)
        self.merge_staged()
        return result

    # ---- reading what was written

    def raw_partition(self, day: str) -> str:
        return self.lake.path(f"raw/{SOURCE}/event_date={day}/part-0.parquet")

    def raw_days(self) -> list[str]:
        return [f.key.split("/")[2].removeprefix("event_date=") for f in self.lake.list_files(f"raw/{SOURCE}")
                if f.key.endswith("/part-0.parquet")]

    def raw(self, columns: str = "*", order_by: str = "event_id") -> list[dict]:
        """Every raw row (with ``event_date`` from the partition path)."""
        if not self.raw_days():
            return []
        glob = self.lake.path(f"raw/{SOURCE}/*/*.parquet")
        return query(f"SELECT {columns} FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true) "
                     f"ORDER BY {order_by}")

    def raw_by_id(self) -> dict[str, dict]:
        return {r["event_id"]: r for r in self.raw()}

    def staging_file(self, day: str, result: BatchResult) -> str:
        return self.lake.path(f"staging/{SOURCE}/event_date={day}/batch-{result.batch_id}.parquet")

    def errors_file(self, result: BatchResult) -> str:
        return self.lake.path(f"errors/{SOURCE}/batch-{result.batch_id}.parquet")

    def errors(self, result: BatchResult) -> list[dict]:
        if not result.figures.quarantined:
            assert not self.lake.exists(f"errors/{SOURCE}/batch-{result.batch_id}.parquet")
            return []
        return query(f"SELECT * FROM read_parquet('{self.errors_file(result)}') ORDER BY line, record NULLS FIRST")

    def manifest(self, result: BatchResult) -> list[dict]:
        path = self.lake.path(f"manifests/{SOURCE}/batch-{result.batch_id}.parquet")
        return query(f"SELECT * FROM read_parquet('{path}') ORDER BY file")


@pytest.fixture
def claims(lake_env: Settings) -> ClaimsLake:
    return ClaimsLake.from_settings(lake_env)


def positions(rows: list[dict]) -> dict[str, tuple]:
    """event_id → (source_file, source_line, source_record)."""
    return {r["event_id"]: (r["source_file"], r["source_line"], r["source_record"]) for r in rows}


# --------------------------------------------------------------------------- delivery shapes

T0 = epoch(DAY)  # 2024-03-01 12:00:00 UTC, in seconds


def _changes(make=stream_record, scale: int = 1) -> list[dict]:
    """An INSERT, a MODIFY and a REMOVE, as ``make`` shapes them (``scale`` 1000 for milliseconds)."""
    return [
        make("evt-ins", "INSERT", T0 * scale, "c-1", new=image("c-1", claim_amount=100.5)),
        make("evt-mod", "MODIFY", (T0 + 60) * scale, "c-1",
             new=image("c-1", status="APPROVED", claim_amount=90), old=image("c-1", claim_amount=100.5)),
        make("evt-rem", "REMOVE", (T0 + 120) * scale, "c-2", old=image("c-2", status="CLOSED", claim_amount=7)),
    ]


EXPECTED_CHANGES = [
    # event_id, event_type, event_time, claim_id, status, claim_amount, is_removed
    ("evt-ins", "INSERT", datetime(2024, 3, 1, 12, 0), "c-1", "SUBMITTED", 100.5, False),
    ("evt-mod", "MODIFY", datetime(2024, 3, 1, 12, 1), "c-1", "APPROVED", 90.0, False),
    ("evt-rem", "REMOVE", datetime(2024, 3, 1, 12, 2), "c-2", "CLOSED", 7.0, True),
]
ONE_PER_LINE = [(1, None), (2, None), (3, None)]
ALL_ON_LINE_1 = [(1, 1), (1, 2), (1, 3)]


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


SHAPES = {
    # id: (file name, file bytes, (line, record) of each change)
    "jsonl": ("changes.jsonl", jsonl(_changes()), ONE_PER_LINE),
    "jsonl-crlf": ("changes.jsonl", jsonl(_changes()).replace(b"\n", b"\r\n"), ONE_PER_LINE),
    "jsonl-no-final-newline": ("changes.jsonl", jsonl(_changes()).rstrip(b"\n"), ONE_PER_LINE),
    "lambda-batch-pretty-document": ("batch.json", json.dumps({"Records": _changes()}, indent=2).encode(),
                                     ALL_ON_LINE_1),
    "lambda-batch-one-line": ("batch.json", line({"Records": _changes()}), ALL_ON_LINE_1),
    "lambda-batches-one-per-line": ("batches.jsonl",
                                    line({"Records": _changes()[:2]}) + line({"Records": _changes()[2:]}),
                                    [(1, 1), (1, 2), (2, 1)]),
    "kinesis-milliseconds": ("kinesis.jsonl", jsonl(_changes(kinesis_record, 1000)), ONE_PER_LINE),
    "concatenated-one-line": ("firehose-1", "".join(json.dumps(r) for r in _changes()).encode(), ALL_ON_LINE_1),
    "concatenated-kinesis-with-spaces": ("firehose-2",
                                         " ".join(json.dumps(r) for r in _changes(kinesis_record, 1000)).encode()
                                         + b"\n", ALL_ON_LINE_1),
    "gzip-jsonl": ("changes.jsonl.gz", _gzip(jsonl(_changes())), ONE_PER_LINE),
    "gzip-lambda-batch-pretty": ("batch.json.gz", _gzip(json.dumps({"Records": _changes()}, indent=2).encode()),
                                 ALL_ON_LINE_1),
    "gzip-concatenated-kinesis": ("firehose-3.gz",
                                  _gzip("".join(json.dumps(r) for r in _changes(kinesis_record, 1000)).encode()),
                                  ALL_ON_LINE_1),
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_every_delivery_shape_lands_the_same_typed_rows(claims: ClaimsLake, shape: str) -> None:
    name, data, where = SHAPES[shape]
    claims.land(name, data)

    result = claims.stage()
    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (3, 3, 0, 0)
    assert result.days == {DAY: 3}
    assert claims.lake.exists(f"staging/{SOURCE}/event_date={DAY}/batch-{result.batch_id}.parquet")

    merged = claims.merge(DAY)
    assert (merged.figures.records_in, merged.figures.landed, merged.figures.duplicates,
            merged.partition_rows) == (3, 3, 0, 3)
    assert not claims.lake.list_files(f"staging/{SOURCE}"), "merged staging files are removed"

    rows = claims.raw(order_by="event_time")
    assert [(r["event_id"], r["event_type"], r["event_time"], r["claim_id"], r["status"], r["claim_amount"],
             r["is_removed"]) for r in rows] == EXPECTED_CHANGES
    assert [r["event_date"] for r in rows] == [date(2024, 3, 1)] * 3
    assert [(r["source_file"], r["source_line"], r["source_record"]) for r in rows] == [
        (f"{SOURCE}/{name}", ln, rec) for ln, rec in where]
    assert {r["table_name"] for r in rows} == {"ICPA_Claims"}
    assert {r["aws_region"] for r in rows} == {"eu-west-2"}
    assert claims.errors(result) == []


def test_concatenated_records_on_several_lines_keep_their_line_numbers(claims: ClaimsLake) -> None:
    """Lines of back-to-back records mixed with plain lines: each record keeps its own line."""
    ins, mod, rem = _changes()
    extra = insert("evt-4", "c-4", DAY, hour=13)
    data = (json.dumps(ins) + json.dumps(mod) + "\n" + json.dumps(rem) + "\n"
            + json.dumps(extra) + " " + json.dumps(insert("evt-5", "c-5", DAY, hour=14)) + "\n").encode()
    claims.land("firehose-mixed", data)

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (5, 5, 0)
    f = f"{SOURCE}/firehose-mixed"
    assert positions(claims.raw()) == {
        "evt-ins": (f, 1, 1), "evt-mod": (f, 1, 2), "evt-rem": (f, 2, None), "evt-4": (f, 3, 1), "evt-5": (f, 3, 2)}


# --------------------------------------------------------------------------- typed values


@pytest.fixture
def non_utc_local_time(monkeypatch: pytest.MonkeyPatch):
    """Run in a local time zone far from UTC: nothing in the lake may depend on it."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_typed_columns_have_the_right_types_and_utc_values(claims: ClaimsLake, non_utc_local_time) -> None:
    full = image(
        "c-1", status="IN_REVIEW",
        claim_amount=1234.56, payout_amount=1000, ai_recommended_payout="987.5",  # N, integral N, number as S
        textract_cost=0.0015, bedrock_cost=0.02, total_aws_cost=0.0215, fraud_score=0.25, confidence_score=0.9,
        processing_duration_ms=1500, textract_operation="AnalyzeDocument", ai_agreement_flag="AGREE",
        adjuster_override=True, override_justification=None, vehicle_type="SUV", region="north",
        incident_date="2024-02-28",
        created_at="2024-03-01T23:30:00Z",             # Z
        updated_at="2024-03-02T04:45:00.250+05:30",     # offset, fractional seconds
    )
    records = [
        stream_record("evt-1", "INSERT", epoch(DAY, 23, 30), "c-1", new=full),
        stream_record("evt-2", "MODIFY", epoch(DAY, 23, 45), "c-2",
                      new=image("c-2", adjuster_override=False, created_at="2024-03-01T10:00:00-04:00",
                                updated_at=epoch(DAY, 23, 45))),  # N epoch seconds
    ]
    claims.land("typed.jsonl", jsonl(records))

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (2, 2, 0, 0)
    assert result.days == {DAY: 2}, "23:30 UTC is still 1 March, whatever the local time zone"
    types = column_types(claims.raw_partition(DAY))
    assert {c: types[c] for c in [
        "event_id", "event_type", "event_time", "claim_id", "status", "claim_amount", "payout_amount",
        "ai_recommended_payout", "fraud_score", "processing_duration_ms", "adjuster_override", "created_at",
        "updated_at", "incident_date", "is_removed", "extra_attributes"]} == {
        "event_id": "VARCHAR", "event_type": "VARCHAR", "event_time": "TIMESTAMP", "claim_id": "VARCHAR",
        "status": "VARCHAR", "claim_amount": "DOUBLE", "payout_amount": "DOUBLE", "ai_recommended_payout": "DOUBLE",
        "fraud_score": "DOUBLE", "processing_duration_ms": "DOUBLE", "adjuster_override": "BOOLEAN",
        "created_at": "TIMESTAMP", "updated_at": "TIMESTAMP", "incident_date": "DATE", "is_removed": "BOOLEAN",
        "extra_attributes": "JSON"}

    first, second = claims.raw()
    assert {k: first[k] for k in [
        "event_id", "event_type", "event_time", "event_date", "claim_id", "status", "claim_amount", "payout_amount",
        "ai_recommended_payout", "textract_cost", "bedrock_cost", "total_aws_cost", "fraud_score",
        "confidence_score", "processing_duration_ms", "textract_operation", "ai_agreement_flag",
        "adjuster_override", "override_justification", "vehicle_type", "region", "incident_date", "created_at",
        "updated_at", "is_removed", "extra_attributes"]} == {
        "event_id": "evt-1", "event_type": "INSERT", "event_time": datetime(2024, 3, 1, 23, 30),
        "event_date": date(2024, 3, 1), "claim_id": "c-1", "status": "IN_REVIEW", "claim_amount": 1234.56,
        "payout_amount": 1000.0, "ai_recommended_payout": 987.5, "textract_cost": 0.0015, "bedrock_cost": 0.02,
        "total_aws_cost": 0.0215, "fraud_score": 0.25, "confidence_score": 0.9, "processing_duration_ms": 1500.0,
        "textract_operation": "AnalyzeDocument", "ai_agreement_flag": "AGREE", "adjuster_override": True,
        "override_justification": None, "vehicle_type": "SUV", "region": "north",
        "incident_date": date(2024, 2, 28), "created_at": datetime(2024, 3, 1, 23, 30),
        "updated_at": datetime(2024, 3, 1, 23, 15, 0, 250000), "is_removed": False, "extra_attributes": None}
    assert (second["event_type"], second["claim_id"], second["adjuster_override"], second["created_at"],
            second["updated_at"]) == ("MODIFY", "c-2", False, datetime(2024, 3, 1, 14, 0),
                                      datetime(2024, 3, 1, 23, 45))


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (1709294400, datetime(2024, 3, 1, 12, 0)),                           # seconds (int)
        (1709294400.25, datetime(2024, 3, 1, 12, 0, 0, 250000)),             # seconds (float)
        (1709294400123, datetime(2024, 3, 1, 12, 0, 0, 123000)),             # milliseconds
        ("1709294400", datetime(2024, 3, 1, 12, 0)),                         # seconds as a JSON string
        (1709337599, datetime(2024, 3, 1, 23, 59, 59)),                      # last second of the UTC day
    ],
    ids=["seconds", "float-seconds", "milliseconds", "seconds-as-string", "end-of-utc-day"],
)
def test_event_time_is_utc_from_seconds_or_milliseconds(claims: ClaimsLake, created, expected) -> None:
    claims.land("t.jsonl", line(stream_record("evt-t", "INSERT", created, "c-1", new=image("c-1"))))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed) == (1, 1)
    assert result.days == {expected.date().isoformat(): 1}
    assert result.data_through == expected
    [row] = claims.raw()
    assert (row["event_time"], row["event_date"]) == (expected, expected.date())


def test_claim_id_comes_from_keys(claims: ClaimsLake) -> None:
    """Keys name the item; a NewImage without claim_id, or a numeric key, still gives the claim id."""
    no_id_in_image = image("ignored")
    del no_id_in_image["claim_id"]
    numeric_key = stream_record("evt-n", "MODIFY", T0, "x", new=image("x"))
    numeric_key["dynamodb"]["Keys"] = {"claim_id": {"N": "42"}}
    numeric_key["dynamodb"]["NewImage"]["claim_id"] = {"N": "42"}
    claims.land("keys.jsonl", jsonl([stream_record("evt-k", "MODIFY", T0, "c-from-keys", new=no_id_in_image),
                                     numeric_key]))

    claims.ingest()

    assert {r["event_id"]: r["claim_id"] for r in claims.raw()} == {"evt-k": "c-from-keys", "evt-n": "42"}


def test_remove_records_land_removed_with_old_image_attributes(claims: ClaimsLake) -> None:
    old = image("c-9", status="CLOSED", claim_amount=250, adjuster_override=True, region="south",
                updated_at="2024-03-01T11:00:00Z")
    claims.land("removes.jsonl", jsonl([
        stream_record("evt-rem", "REMOVE", T0, "c-9", old=old),
        kinesis_record("evt-rem-k", "REMOVE", (T0 + 1) * 1000, "c-8", old=image("c-8", status="WITHDRAWN")),
        stream_record("evt-mod", "MODIFY", T0 + 2, "c-9", new=image("c-9", status="REOPENED"), old=old),
    ]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 3, 0)
    rows = claims.raw_by_id()
    rem = rows["evt-rem"]
    assert (rem["event_type"], rem["is_removed"], rem["claim_id"], rem["status"], rem["claim_amount"],
            rem["adjuster_override"], rem["region"], rem["updated_at"]) == (
        "REMOVE", True, "c-9", "CLOSED", 250.0, True, "south", datetime(2024, 3, 1, 11, 0))
    assert (rows["evt-rem-k"]["is_removed"], rows["evt-rem-k"]["status"]) == (True, "WITHDRAWN")
    assert (rows["evt-mod"]["is_removed"], rows["evt-mod"]["status"]) == (False, "REOPENED"), \
        "INSERT/MODIFY read the NewImage, not the OldImage"


def test_remove_record_with_keys_only_has_no_extra_attributes(claims: ClaimsLake) -> None:
    """A stream with KEYS_ONLY view type sends a REMOVE without images: the claim id comes from the keys, and there
    are no attributes beyond the typed ones (not a JSON object of the typed names set to null)."""
    claims.land("keys-only.jsonl", jsonl([stream_record("evt-rem", "REMOVE", T0, "c-9")]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (1, 1, 0)
    rem = claims.raw_by_id()["evt-rem"]
    assert (rem["is_removed"], rem["claim_id"], rem["status"], rem["extra_attributes"]) == (True, "c-9", None, None)


# --------------------------------------------------------------------------- attributes beyond the typed ones

EXTRA_TYPED = {
    "tags": {"SS": ["urgent", "glass"]},
    "scores": {"NS": ["1", "2.5"]},
    "address": {"M": {"city": {"S": "Leeds"}, "zip": {"N": "12345"}}},
    "history": {"L": [{"S": "opened"}, {"N": "3"}, {"BOOL": False}]},
    "scan": {"B": "aGVsbG8="},
    "scans": {"BS": ["aGVsbG8=", "d29ybGQ="]},
}
EXTRA_SCALARS = {"notes": {"S": "call back"}, "priority": {"N": "3"}, "vip": {"BOOL": True}}


def test_extra_attributes_are_kept_and_scalars_promoted(claims: ClaimsLake) -> None:
    new = image("c-1", claim_amount=10) | EXTRA_TYPED | EXTRA_SCALARS
    claims.land("extra.jsonl", jsonl([
        stream_record("evt-x", "INSERT", T0, "c-1", new=new),
        insert("evt-plain", "c-2", DAY),
    ]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (2, 2, 0)
    assert {"notes", "priority", "vip"} <= set(result.promoted_columns)
    rows = claims.raw_by_id()
    x = rows["evt-x"]
    assert json.loads(x["extra_attributes"]) == EXTRA_TYPED | EXTRA_SCALARS, \
        "every attribute beyond the typed ones is kept, exactly as DynamoDB typed it"
    assert (x["claim_amount"], x["status"]) == (10.0, "SUBMITTED"), "typed attributes stay typed columns"
    assert (x["notes"], x["priority"], x["vip"]) == ("call back", 3.0, True)
    assert rows["evt-plain"]["extra_attributes"] is None
    assert (rows["evt-plain"]["notes"], rows["evt-plain"]["priority"], rows["evt-plain"]["vip"]) == (None, None, None)
    types = column_types(claims.raw_partition(DAY))
    assert (types["notes"], types["priority"], types["vip"]) == ("VARCHAR", "DOUBLE", "BOOLEAN")


def test_extra_attributes_beyond_the_sampled_head_of_a_file_are_kept(claims: ClaimsLake) -> None:
    """The fast path learns the extra attribute names from a file's first lines; records further down with
    other names (or names that need quoting, or clash ignoring case) are kept all the same."""
    filler = [insert(f"evt-{n}", f"c-{n}", DAY, n % 24, policy_number=f"P-{n}") for n in range(600)]
    late = image("c-late", policy_number="P-late", late_note="seen only here", **{"odd name": 1, "Policy_Number": "x"})
    claims.land("long.jsonl", jsonl([*filler, stream_record("evt-late", "INSERT", T0, "c-late", new=late)]))
    assert claims.landing.list_files(SOURCE)[0].size > 300_000, "the last record lies beyond the sampled head"

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (601, 601, 0)
    rows = claims.raw_by_id()
    assert json.loads(rows["evt-late"]["extra_attributes"]) == {
        "policy_number": {"S": "P-late"}, "late_note": {"S": "seen only here"}, "odd name": {"N": "1"},
        "Policy_Number": {"S": "x"}}
    assert json.loads(rows["evt-7"]["extra_attributes"]) == {"policy_number": {"S": "P-7"}}
    assert rows["evt-late"]["late_note"] == "seen only here"


def test_promoted_scalar_that_is_null_in_some_records_keeps_its_type(claims: ClaimsLake) -> None:
    """DynamoDB writes a cleared attribute as {"NULL": true}; that is a missing value, not a new kind."""
    claims.land("nulls.jsonl", jsonl([
        insert("evt-1", "c-1", DAY, notes="call back", priority=3, vip=True),
        insert("evt-2", "c-2", DAY, notes=None, priority=None, vip=None),
    ]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed) == (2, 2)
    rows = claims.raw_by_id()
    assert json.loads(rows["evt-2"]["extra_attributes"]) == {
        "notes": {"NULL": True}, "priority": {"NULL": True}, "vip": {"NULL": True}}
    assert [(rows[e]["notes"], rows[e]["priority"], rows[e]["vip"]) for e in ["evt-1", "evt-2"]] == [
        ("call back", 3.0, True), (None, None, None)]
    types = column_types(claims.raw_partition(DAY))
    assert (types["notes"], types["priority"], types["vip"]) == ("VARCHAR", "DOUBLE", "BOOLEAN")


@pytest.mark.parametrize("odd_values", [False, True], ids=["typed-values", "with-untyped-values"])
def test_promoted_types_come_from_every_record_not_the_sample(claims: ClaimsLake, odd_values: bool) -> None:
    """Staging reads the types of sampled extra attributes from the parse's list, not by parsing the JSON again
    (with an untyped value among them, it parses them all); the promoted columns must be what a parse of every
    record's ``extra_attributes`` gives."""
    odd = [{"odd": {"X": "1"}}, {"odd": "plain"}] if odd_values else [{}, {}]
    records = [
        # sampled names: mixed (S here, N and NULL below), flag (BOOL) and odd (not one typed DynamoDB value)
        stream_record("evt-1", "INSERT", T0, "c-1", new=image("c-1", mixed="a", flag=True) | odd[0]),
        stream_record("evt-2", "INSERT", T0, "c-2", new=image("c-2", mixed=2, flag=False) | odd[1]),
        insert("evt-3", "c-3", DAY, mixed=None),
        # an attribute the sample does not show sends this record's image through the patch: flag is N there
        *[insert(f"evt-f{n}", f"c-f{n}", DAY, flag=n % 2 == 0) for n in range(600)],
        stream_record("evt-late", "INSERT", T0, "c-late", new=image("c-late", flag=7, unsampled="u")),
    ]
    claims.land("kinds.jsonl", jsonl(records))
    assert claims.landing.list_files(SOURCE)[0].size > 300_000, "the last record lies beyond the sampled head"

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (604, 604, 0)
    assert {"mixed", "flag", "unsampled"} <= set(result.promoted_columns)
    rows = claims.raw_by_id()
    assert [json.loads(rows[e]["mixed"]) if rows[e]["mixed"] else None for e in ["evt-1", "evt-2", "evt-3"]] == [
        {"S": "a"}, {"N": "2"}, {"NULL": True}], "S and N across records: the whole typed value, as JSON text"
    if odd_values:
        assert (rows["evt-1"]["odd"], rows["evt-2"]["odd"]) == ('"1"', None), "only X is a type: a plain string has none"
        assert json.loads(rows["evt-2"]["extra_attributes"])["odd"] == "plain", "it is kept all the same"
    assert (json.loads(rows["evt-f0"]["flag"]), json.loads(rows["evt-late"]["flag"])) == ({"BOOL": True}, {"N": "7"}), \
        "BOOL in the listed records and N in the patched one: not a BOOLEAN column"
    assert rows["evt-late"]["unsampled"] == "u"
    types = column_types(claims.raw_partition(DAY))
    assert (types["mixed"], types["flag"], types["unsampled"]) == ("VARCHAR", "VARCHAR", "VARCHAR")


# --------------------------------------------------------------------------- duplicates


def test_records_of_back_to_back_batches_on_one_line_are_distinct_records(claims: ClaimsLake) -> None:
    """Two Lambda batches written back to back on one line: their records are numbered across the line, so
    a record that repeats an earlier one is the only duplicate (the other batch's record is not taken for one)."""
    a, b = insert("evt-a", "c-1", DAY), insert("evt-b", "c-2", DAY)
    line = json.dumps({"Records": [a]}) + json.dumps({"Records": [b]})
    claims.land("batches.jsonl", (json.dumps(a) + "\n" + line + "\n").encode())

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (3, 2, 0, 1)
    rows = claims.raw_by_id()
    assert sorted(rows) == ["evt-a", "evt-b"]
    assert (rows["evt-a"]["source_line"], rows["evt-b"]["source_line"], rows["evt-b"]["source_record"]) == (1, 2, 2)


def test_a_line_the_json_reader_skips_does_not_shift_the_next_files_lines(claims: ClaimsLake) -> None:
    """A spaces-only line is a line to DuckDB's line scan but nothing to its JSON reader: the file holding it
    leaves the fast path, and the next file of the batch keeps its own line numbers."""
    claims.land("a.jsonl", (json.dumps(insert("evt-1", "c-1", DAY)) + "\n   \n"
                            + json.dumps(insert("evt-2", "c-2", DAY)) + "\n").encode())
    claims.land("b.jsonl", jsonl([insert("evt-3", "c-3", DAY), insert("evt-4", "c-4", DAY)]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (4, 4, 0)
    rows = claims.raw_by_id()
    assert [(rows[e]["source_file"].rsplit("/", 1)[-1], rows[e]["source_line"]) for e in sorted(rows)] == [
        ("a.jsonl", 1), ("a.jsonl", 3), ("b.jsonl", 1), ("b.jsonl", 2)]


def test_a_batch_line_inside_a_file_of_plain_records_is_read_again_alone(claims: ClaimsLake) -> None:
    """The JSON reader takes the file for one record per line; the Lambda batch on line 2 is not one record, so
    the line path reads that line again (and only that line) and lands both of its records."""
    records = [insert(f"evt-{n}", f"c-{n}", DAY, n) for n in range(4)]
    claims.land("mixed-shapes.jsonl", line(records[0]) + line({"Records": [records[1], records[2]]}) + line(records[3]))

    result = claims.ingest()

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (4, 4, 0)
    file = f"{SOURCE}/mixed-shapes.jsonl"
    assert positions(claims.raw()) == {
        "evt-0": (file, 1, None), "evt-1": (file, 2, 1), "evt-2": (file, 2, 2), "evt-3": (file, 3, None)}


def test_line_numbers_hold_when_files_are_read_in_parallel(claims: ClaimsLake) -> None:
    """The fast path numbers lines from the order its table keeps, not with a window over the scan. DuckDB's JSON
    reader splits a large file (here ~70 MB) between threads, and the small files after it are read meanwhile:
    every row still names its own file and line."""
    expected = {}
    for f, (count, padding) in enumerate([(24_000, 2_500), (300, 10), (5, 10), (2_000, 100)]):
        records = [insert(f"evt-{f}-{n}", f"c-{f}-{n}", DAY, override_justification="x" * padding)
                   for n in range(count)]
        claims.land(f"part-{f}.jsonl", jsonl(records))
        expected.update({r["eventID"]: (f"part-{f}.jsonl", n) for n, r in enumerate(records, 1)})

    result = claims.ingest()

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined) == (len(expected), len(expected), 0)
    found = {r["event_id"]: (r["source_file"].rsplit("/", 1)[-1], r["source_line"])
             for r in claims.raw("event_id, source_file, source_line")}
    assert found == expected


def test_duplicates_in_one_file_land_once(claims: ClaimsLake) -> None:
    first = insert("evt-1", "c-1", DAY, status="SUBMITTED")
    claims.land("dups.jsonl", jsonl([first, insert("evt-2", "c-2", DAY), first,
                                     insert("evt-1", "c-1", DAY, status="REPLAYED")]))

    result = claims.stage()
    merged = claims.merge(DAY)

    figures = result.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (4, 2, 0, 2)
    assert (merged.figures.records_in, merged.figures.landed, merged.figures.duplicates,
            merged.partition_rows) == (2, 2, 0, 2)
    rows = claims.raw()
    assert [r["event_id"] for r in rows] == ["evt-1", "evt-2"]
    assert (rows[0]["source_line"], rows[0]["status"]) == (1, "SUBMITTED"), "the first occurrence wins"


def test_duplicates_across_two_files_of_one_batch_land_once(claims: ClaimsLake) -> None:
    claims.land("a.jsonl", jsonl([insert("evt-1", "c-1", DAY), insert("evt-2", "c-2", DAY)]))
    claims.land("b.jsonl", jsonl([insert("evt-2", "c-2", DAY), insert("evt-3", "c-3", DAY)]))

    result = claims.stage()
    merged = claims.merge(DAY)

    assert (result.figures.records_in, result.figures.landed, result.figures.duplicates) == (4, 3, 1)
    assert (merged.figures.landed, merged.figures.duplicates, merged.partition_rows) == (3, 0, 3)
    assert positions(claims.raw()) == {
        "evt-1": ("claims/a.jsonl", 1, None), "evt-2": ("claims/a.jsonl", 2, None),
        "evt-3": ("claims/b.jsonl", 2, None)}


@pytest.mark.parametrize("merge_between_batches", [True, False], ids=["merge-each-batch", "merge-once"])
def test_duplicates_across_two_batches_land_once(claims: ClaimsLake, merge_between_batches: bool) -> None:
    claims.land("a.jsonl", jsonl([insert(f"evt-{i}", f"c-{i}", DAY, hour=i) for i in (1, 2, 3)]))
    claims.land("b.jsonl", jsonl([insert(f"evt-{i}", f"c-{i}", DAY, hour=i) for i in (2, 3, 4)]))

    first = claims.stage("a.jsonl")
    merges = [claims.merge(DAY)] if merge_between_batches else []
    second = claims.stage("b.jsonl")
    merges.append(claims.merge(DAY))

    assert first.batch_id != second.batch_id
    for batch in (first, second):
        figures = batch.figures
        assert (figures.records_in, figures.landed, figures.duplicates) == (3, 3, 0), "no duplicate inside a batch"
    assert sum(m.figures.duplicates for m in merges) == 2
    assert sum(m.figures.landed for m in merges) == 4
    assert merges[-1].partition_rows == 4
    assert [r["event_id"] for r in claims.raw()] == ["evt-1", "evt-2", "evt-3", "evt-4"]
    assert {r["source_file"] for r in claims.raw() if r["event_id"] in ("evt-2", "evt-3")} == {"claims/a.jsonl"}


# --------------------------------------------------------------------------- partitions and idempotency


def test_records_of_several_days_split_into_their_partitions(claims: ClaimsLake) -> None:
    claims.land("days.jsonl", jsonl([
        stream_record("evt-a", "INSERT", epoch("2024-03-01", 23, 59) + 59, "c-1", new=image("c-1")),
        stream_record("evt-b", "INSERT", epoch("2024-03-02", 0, 0), "c-2", new=image("c-2")),
        kinesis_record("evt-c", "MODIFY", epoch("2024-03-02", 18) * 1000, "c-1", new=image("c-1")),
        insert("evt-d", "c-3", "2024-03-05", hour=7),
    ]))

    result = claims.stage()
    assert result.days == {"2024-03-01": 1, "2024-03-02": 2, "2024-03-05": 1}
    for day in result.days:
        assert claims.lake.exists(f"staging/{SOURCE}/event_date={day}/batch-{result.batch_id}.parquet")
    merged = claims.merge_staged()

    assert {day: m.figures.landed for day, m in merged.items()} == result.days
    assert claims.raw_days() == ["2024-03-01", "2024-03-02", "2024-03-05"]
    expected = {"2024-03-01": ["evt-a"], "2024-03-02": ["evt-b", "evt-c"], "2024-03-05": ["evt-d"]}
    for day, ids in expected.items():
        rows = query(f"SELECT event_id, CAST(event_time AS DATE) AS d FROM read_parquet('{claims.raw_partition(day)}') "
                     "ORDER BY event_time")
        assert [r["event_id"] for r in rows] == ids
        assert {r["d"].isoformat() for r in rows} == {day}


def _idempotency_batch(claims: ClaimsLake) -> None:
    claims.land("a.jsonl", jsonl([insert(f"evt-{i}", f"c-{i}", f"2024-03-0{1 + i % 3}", hour=i, extra_note=f"n{i}")
                                  for i in range(9)]) + b"not json\n")
    claims.land("b.json", json.dumps({"Records": _changes()}, indent=2).encode())
    claims.land("c.jsonl.gz", _gzip(jsonl(_changes(kinesis_record, 1000))))  # duplicates of b.json's records


def _sorted_rows(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted((k, repr(v)) for k, v in r.items())) for r in rows)


def test_running_the_same_batch_twice_changes_nothing(claims: ClaimsLake) -> None:
    _idempotency_batch(claims)
    first = claims.ingest()
    raw_bytes = {f.key: claims.lake.read_bytes(f.key) for f in claims.lake.list_files(f"raw/{SOURCE}")}
    raw_rows = claims.raw()
    errors = claims.errors(first)

    second = claims.stage()
    merges = claims.merge_staged()

    figures = first.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (16, 12, 1, 3)
    assert second == first, "same files, same batch id, same counts"
    assert {m.figures.landed for m in merges.values()} == {0}
    assert sum(m.figures.duplicates for m in merges.values()) == first.figures.landed
    assert {f.key: claims.lake.read_bytes(f.key) for f in claims.lake.list_files(f"raw/{SOURCE}")} == raw_bytes, \
        "raw partitions are byte for byte what the first run wrote"
    assert claims.raw() == raw_rows
    assert claims.errors(second) == errors
    assert not claims.lake.list_files(f"staging/{SOURCE}")


def test_the_same_batch_in_a_fresh_lake_gives_the_same_tables(claims: ClaimsLake, tmp_path) -> None:
    _idempotency_batch(claims)
    first = claims.ingest()

    other = ClaimsLake(claims.landing, StorageRoot(str(tmp_path / "other-lake")))
    second = other.ingest()

    assert second == first
    assert other.raw_days() == claims.raw_days()
    assert _sorted_rows(other.raw()) == _sorted_rows(claims.raw())
    assert _sorted_rows(other.errors(second)) == _sorted_rows(claims.errors(first))
    for day in claims.raw_days():
        assert other.lake.read_bytes(f"raw/{SOURCE}/event_date={day}/part-0.parquet") == \
            claims.lake.read_bytes(f"raw/{SOURCE}/event_date={day}/part-0.parquet")
