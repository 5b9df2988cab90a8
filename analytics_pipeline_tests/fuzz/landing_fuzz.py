"""Hostile landing files for every source, an independent count of the records they hold, and the
lake's own accounting of where each record went.

Used by the property-based tests (``test_parsers_fuzz.py``) and the soak (``benchmarks/fuzz_soak.py``).

A generated file is a list of lines; each line knows how many records it holds by the documented
contract (docs/inputs.md, "Quarantine"), not by asking the parser: a JSON line is one record, a container
line (a JSON array; a claims ``{"Records": [...]}`` batch; an llm_runs ``{"runs"|"jobs": [...]}``
document; a conversations ``{"events": [...]}`` document) holds one record per member, claims
objects written back to back hold one each, anything else (invalid JSON or UTF-8, a cut-off line) is
one record to quarantine, and blank lines hold none. ``expected_records`` applies the same contract
to the bytes of any file, so a mutated or cut file is counted the same way.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
from hypothesis import strategies as st

from analytics_pipeline.ingestion.raw_merge import merge_day
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline.sources.conversations.spec import conversations_spec
from analytics_pipeline.sources.llm_runs.spec import llm_runs_spec
from analytics_pipeline_tests.lakes import conversations_resource
from analytics_pipeline_tests.records import image, stream_record

PARTITIONS_START = "2024-01-01"
NOW = datetime(2024, 6, 1)
DAYS = ["2024-03-01", "2024-03-02", "2023-12-31", "2024-07-01"]  # two in range, one too old, one in the future
SPECS = {"claims": claims_spec, "llm_runs": llm_runs_spec, "conversations": conversations_spec}
CONTAINER_KEYS = {"claims": ("Records",), "llm_runs": ("runs", "jobs"), "conversations": ("events",)}

# --------------------------------------------------------------------------- values

_ids = st.sampled_from([f"id-{n}" for n in range(6)])  # few ids: duplicates happen
_days = st.sampled_from(DAYS)
_hours = st.integers(0, 23)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
    st.text(max_size=30), st.sampled_from(["", "null", "NaN", "1e999", "2024-03-01", "-1", "\u0000", "\ud7ff"]),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _iso(day: str, hour: int) -> str:
    return f"{day}T{hour:02d}:00:00Z"


def _epoch(day: str, hour: int) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00").timestamp())


@st.composite
def claims_records(draw) -> dict:
    event_id, claim_id, day, hour = draw(_ids), draw(_ids), draw(_days), draw(_hours)
    kind = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    attrs = draw(st.dictionaries(st.sampled_from(["claim_amount", "status", "fraud_score", "adjuster_override",
                                                  "incident_date", "created_at", "region", "policy_number",
                                                  "Odd Name", "documents", "", "a\\b", "*", 'q"t']),
                                 json_values, max_size=4))
    img = image(claim_id, **attrs)
    created = _epoch(day, hour) * draw(st.sampled_from([1, 1000, 1_000_000]))
    return stream_record(event_id, kind, created, claim_id, new=None if kind == "REMOVE" else img,
                         old=img if kind != "INSERT" else None)


@st.composite
def llm_runs_records(draw) -> dict:
    day, hour = draw(_days), draw(_hours)
    if draw(st.booleans()):
        return {"job_id": draw(_ids), "project": draw(st.text(max_size=10)), "status": "completed",
                "created_at": _iso(day, hour), "updated_at": _iso(day, hour)}
    models = [{"model": draw(st.sampled_from(["gpt-4o", "claude-sonnet-4", "x"])),
               "input_tokens": draw(st.integers(0, 10**6)), "output_tokens": draw(st.integers(0, 10**6)),
               "cost": draw(st.floats(0, 10))} for _ in range(draw(st.integers(0, 2)))]
    return {"run_id": draw(_ids), "project": draw(st.text(max_size=10)), "started_at": _iso(day, hour),
            "finished_at": _iso(day, hour), "mode": "2-loop", "status": "completed",
            "qa_status": draw(st.sampled_from(["passed", "failed", "PASSED"])), "models": models}


@st.composite
def conversations_records(draw) -> dict:
    day, hour = draw(_days), draw(_hours)
    text = draw(st.sampled_from(["reset my password", "my name is Ann Lee, mail ann@example.com",
                                 "card 4111 1111 1111 1111", ""])) + draw(st.text(max_size=20))
    if draw(st.booleans()):
        return {"version": "0", "id": draw(_ids), "detail-type": draw(st.sampled_from(["Query Processed",
                                                                                    "Session Completed", "Other !"])),
                "time": _iso(day, hour), "detail": {"session_id": draw(_ids), "user_id": draw(_ids), "query": text,
                                                    "metadata": {"confidence_score": draw(st.floats(0, 1))}}}
    return {"event_id": draw(_ids), "event_type": "message_received", "timestamp": _iso(day, hour),
            "session_id": draw(_ids), "user_id": draw(_ids), "data": {"text": text}, "confidence": draw(_scalars)}


RECORDS = {"claims": claims_records, "llm_runs": llm_runs_records, "conversations": conversations_records}


@st.composite
def mutated(draw, records) -> dict:
    """A valid record with one key dropped or replaced by any JSON value (at the top or one level down)."""
    record = draw(records())
    target = record
    nested = [k for k, v in record.items() if isinstance(v, dict)]
    if nested and draw(st.booleans()):
        target = record[draw(st.sampled_from(sorted(nested)))]
    if target:
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    return record


# --------------------------------------------------------------------------- lines and files


def _dumps(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def lines(draw, source: str, huge_bytes: int = 300_000) -> bytes:
    records = RECORDS[source]
    kind = draw(st.sampled_from(["record", "record", "record", "mutated", "mutated", "json", "text", "bytes",
                                 "blank", "container", "concatenated", "huge", "deep", "cut", "kinesis"]))
    if kind == "record":
        return _dumps(draw(records()))
    if kind == "mutated":
        return _dumps(draw(mutated(records)))
    if kind == "json":
        return _dumps(draw(json_values))
    if kind == "text":
        return draw(st.text(max_size=40)).replace("\n", " ").encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=40)).replace(b"\n", b" ")
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t "]))
    if kind == "container":
        members = draw(st.lists(st.one_of(records(), json_values), max_size=3))
        keys = draw(st.sampled_from([(), *((k,) for k in CONTAINER_KEYS[source]), CONTAINER_KEYS[source]]))
        if not keys:
            return _dumps(members)
        extra = draw(st.sampled_from([{}, {"v": 1}]))
        return _dumps({key: members[n::len(keys)] for n, key in enumerate(keys)} | extra)
    if kind == "concatenated":
        glue = draw(st.sampled_from([b"", b" "]))
        return glue.join(_dumps(r) for r in draw(st.lists(records(), min_size=2, max_size=3)))
    if kind == "huge":
        record = draw(records())
        record["padding"] = "x" * draw(st.integers(huge_bytes // 2, huge_bytes))
        return _dumps(record)
    if kind == "kinesis":  # a Kinesis envelope whose base64 payload is a record, or any bytes
        payload = draw(st.one_of(records().map(_dumps), st.binary(max_size=30)))
        return _dumps({"kinesis": {"data": base64.b64encode(payload).decode()}, "eventSource": "aws:kinesis"})
    if kind == "deep":
        return deep(draw(st.sampled_from([64, 1000, 5000])))
    line = _dumps(draw(records()))  # "cut": a line broken off mid-record
    return line[: draw(st.integers(1, max(1, len(line) - 1)))]


_SUFFIXES = [".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz"]


@dataclass(frozen=True)
class LandingFileCase:
    name: str
    data: bytes


@st.composite
def landing_files(draw, source: str, max_lines: int = 12, huge_bytes: int = 300_000) -> LandingFileCase:
    shape = draw(st.sampled_from(["lines", "lines", "lines", "document", "empty"]))
    if shape == "document":  # a pretty-printed batch document
        members = draw(st.lists(RECORDS[source](), max_size=4))
        key = CONTAINER_KEYS[source][0]
        text = json.dumps({key: members} if draw(st.booleans()) else members, indent=2).encode()
    elif shape == "empty":
        text = draw(st.sampled_from([b"", b"\n", b"\n \n\r\n"]))
    else:
        body = draw(st.lists(lines(source, huge_bytes), max_size=max_lines))
        text = draw(st.sampled_from([b"\n", b"\r\n"])).join(body) + draw(st.sampled_from([b"", b"\n"]))
    suffix = draw(st.sampled_from(_SUFFIXES))
    data = text
    if suffix.endswith(".gz"):
        data = gzip.compress(text, mtime=0)
        damage = draw(st.integers(0, 5))
        if damage == 0 and len(data) > 2:  # a truncated upload
            data = data[: draw(st.integers(1, len(data) - 1))]
        elif damage == 1:  # named .gz, but not gzip at all
            data = text
        elif damage == 2:  # two gzip members back to back (a valid stream)
            data += gzip.compress(draw(lines(source, huge_bytes)) + b"\n", mtime=0)
    return LandingFileCase(f"f{draw(st.integers(0, 10**6))}{suffix}", data)


# --------------------------------------------------------------------------- the contract, counted independently


def _json(text: str):
    """The parsed value, or ``_INVALID`` when ``text`` is not one JSON value.

    JSON as DuckDB's reader takes it: Python's parser (which, like DuckDB, accepts NaN and Infinity),
    and for what it refuses, DuckDB's own verdict (it also accepts trailing commas, ``inf``, ``nan``);
    a value valid to DuckDB that Python cannot take apart (nesting past its recursion limit) is opaque."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    valid, normal = _duckdb().execute(
        "SELECT json_valid($1), CASE WHEN json_valid($1) THEN json($1)::VARCHAR END", [text]).fetchall()[0]
    if not valid:
        return _INVALID
    try:
        return json.loads(normal)
    except (ValueError, RecursionError):
        return _OPAQUE


_DUCKDB: list = []


def _duckdb() -> duckdb.DuckDBPyConnection:
    if not _DUCKDB:
        _DUCKDB.append(duckdb.connect())
    return _DUCKDB[0]


_INVALID = object()
_OPAQUE = object()  # valid JSON, not a container we could see into


def _members(source: str, value) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        lists = [value[key] for key in CONTAINER_KEYS[source] if isinstance(value.get(key), list)]
        if lists:
            return sum(len(members) for members in lists)  # {"runs": [...], "jobs": [...]}: both
    return 1


def line_records(source: str, raw: bytes) -> int:
    """How many records one non-blank line holds."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return 1
    value = _json(text)
    if value is not _INVALID:
        return _members(source, value)
    if source == "claims" and re.search(r"\}\s*\{", text):  # Firehose writes objects back to back
        parts = re.sub(r"\}\s*\{", "}\x1e{", text).split("\x1e")
        values = [_json(p) for p in parts]
        if all(v is not _INVALID for v in values):
            return sum(_members(source, v) for v in values)
    return 1


def _is_blank(raw: bytes) -> bool:
    return not raw.strip(b" \t\r")


def expected_records(source: str, name: str, data: bytes) -> int:
    """Records the file holds by the contract; a cut gzip stream counts its complete lines and one for the cut."""
    truncated = False
    if name.endswith(".gz"):
        data, truncated = _gunzip_prefix(data)
    if not truncated:
        document = _document(data)
        if document is not _INVALID:
            return _members(source, document)
    pieces = re.split(rb"\r\n|\r|\n", data)  # a line ends at LF, CRLF or a lone CR (docs/inputs.md, "Quarantine")
    cut = 0
    if truncated:
        pieces.pop()
        cut = 1
    return sum(line_records(source, p) for p in pieces if not _is_blank(p)) + cut


def _document(data: bytes):
    """A file of several lines that is one JSON value (a pretty-printed batch), else the sentinel."""
    text = _utf8(data)
    if text is not None and text.lstrip()[:1] in ("{", "[") and "\n" in text.strip():
        try:  # strict here: a document DuckDB alone would take is read line by line
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    return _INVALID


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _gunzip_prefix(data: bytes) -> tuple[bytes, bool]:
    out, rest = [], data
    while rest:
        d = zlib.decompressobj(wbits=31)
        try:
            out.append(d.decompress(rest))
        except zlib.error:
            return b"".join(out), True
        if not d.eof:
            return b"".join(out), True
        rest = d.unused_data
    return b"".join(out), False


def faults(source: str, f: LandingFileCase) -> Counter:
    """The hostile constructs a file holds, by kind (for the soak's figures)."""
    found: Counter = Counter()
    data, truncated = _gunzip_prefix(f.data) if f.name.endswith(".gz") else (f.data, False)
    found["truncated gzip file"] += truncated
    found["empty file"] += not data.strip(b" \t\r\n")
    if not truncated and _document(data) is not _INVALID:
        found["pretty-printed document"] += 1
        return found
    for piece in re.split(rb"\r\n|\r|\n", data):
        if _is_blank(piece):
            continue
        text = _utf8(piece)
        found["invalid UTF-8 line"] += text is None
        found["line that is not one JSON value"] += text is not None and _json(text) is _INVALID
        found["line over 100 kB"] += len(piece) > 100_000
        found["line nested over 500 levels"] += piece.count(b"{") > 500
    return found


# --------------------------------------------------------------------------- the lake's accounting


@dataclass
class Accounting:
    """What one batch did, by the run's report and by counting rows in the lake."""

    records_in: int
    staged: int
    quarantined: int
    duplicates_in_batch: int
    duplicates_in_merge: int
    raw_rows: int  # rows in raw/<source>/ after merging every staged day
    error_rows: int  # rows in errors/<source>/
    manifest_records: dict[str, int]  # file → records_in, from the manifest
    expected_per_file: dict[str, int]  # file → records in it, by the contract
    raw_positions_ok: bool  # every raw row points at a file of the batch and a line ≥ 1
    raw_ids_unique: bool

    @property
    def expected(self) -> int:
        """Records in the files, by the contract."""
        return sum(self.expected_per_file.values())

    @property
    def lost(self) -> int:
        """Records neither landed, quarantined nor counted as duplicates (0 when nothing was lost)."""
        return self.expected - (self.raw_rows + self.error_rows + self.duplicates_in_batch + self.duplicates_in_merge)


def ingest(source: str, files: list[LandingFileCase], workdir: Path) -> Accounting:
    """Land ``files`` under ``workdir``, stage them as one batch, merge every staged day, and count."""
    spec: SourceSpec = SPECS[source]()
    spec = spec.given(conversations_resource()) if spec.prepare_resource else spec  # the pseudonym key
    landing, lake = StorageRoot(str(workdir / "landing")), StorageRoot(str(workdir / "lake"))
    unique = {f.name: f for f in files}
    for f in unique.values():
        landing.write_bytes(f.data, source, f.name)
    stored = landing.list_files(source)
    result = stage_batch(lake, landing, spec, stored, PARTITIONS_START, now=NOW)
    merged = [merge_day(lake, source, day) for day in sorted(result.days)]
    con = duckdb.connect()
    try:
        raw = _scan(lake, f"raw/{source}")
        errors = _scan(lake, f"errors/{source}")
        manifest = _scan(lake, f"manifests/{source}")
        raw_rows, positions_ok, ids_unique = con.execute(
            f"SELECT count(*), coalesce(bool_and(source_line >= 1 AND list_contains(?, source_file)), true), "
            f"count(*) = count(DISTINCT event_id) FROM {raw}" if raw else "SELECT 0, true, true",
            [[f"{source}/{n}" for n in unique]] if raw else None).fetchall()[0]
        error_rows = con.execute(f"SELECT count(*) FROM {errors}").fetchall()[0][0] if errors else 0
        per_file = dict(con.execute(f"SELECT file, records_in FROM {manifest}").fetchall()) if manifest else {}
    finally:
        con.close()
    return Accounting(
        records_in=result.figures.records_in, staged=result.figures.landed, quarantined=result.figures.quarantined,
        duplicates_in_batch=result.figures.duplicates, duplicates_in_merge=sum(m.figures.duplicates for m in merged),
        raw_rows=raw_rows, error_rows=error_rows, manifest_records=per_file,
        expected_per_file={f"{source}/{f.name}": expected_records(source, f.name, f.data) for f in unique.values()},
        raw_positions_ok=positions_ok, raw_ids_unique=ids_unique,
    )


def _scan(lake: StorageRoot, prefix: str) -> str | None:
    paths = [lake.path(f.key) for f in lake.list_files(prefix) if f.key.endswith(".parquet")]
    if not paths:
        return None
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def check(accounting: Accounting) -> None:
    """The invariants every batch keeps, whatever its files held."""
    a = accounting
    assert a.records_in == a.expected, f"records in {a.records_in}, the files hold {a.expected}: {a}"
    assert a.records_in == a.staged + a.quarantined + a.duplicates_in_batch, a
    assert a.error_rows == a.quarantined, a
    assert a.raw_rows == a.staged - a.duplicates_in_merge, a
    assert a.lost == 0, a
    assert a.manifest_records == a.expected_per_file, a
    assert a.raw_positions_ok and a.raw_ids_unique, a


def fresh_workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="fuzz-")
