"""Turn landing files into one relation of JSON texts: ``landing_lines(file_seq, file, line_no, text, issue)``.

Three ways in, one relation out:
- line files (JSON Lines, ``.gz`` or not) are scanned by DuckDB's CSV reader, one column per line;
- whole-document files (a pretty-printed Lambda batch) become one row holding the document;
- files DuckDB cannot scan as UTF-8 lines (invalid UTF-8, the 0x1F separator inside a line, a
  truncated gzip stream) are split in Python so every line keeps its exact text and gets an ``issue``.
Lines end at LF, CRLF or a lone CR on every path; blank lines (only spaces, tabs, CRs) are not records;
``line_no`` counts the file's non-empty lines from 1.
A local landing file that is a link leading outside the landing zone is never read: it becomes one
quarantine row saying so (a landing key is only ever data, never a path the lake writes to).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from analytics_pipeline.lake.duck import sql_list
from analytics_pipeline.lake.storage import StorageRoot

_SEPARATOR = "\x1f"
_BLANK = b" \t\r"  # a line of only these is blank: not a record (both the DuckDB scan and the Python split)
_BLANK_SQL = "' ' || chr(9) || chr(13)"
# Where a line ends: LF, CRLF or a lone CR, as DuckDB's line scan splits them (it cannot be told otherwise).
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_PEEK_BYTES = 256 * 1024  # also the sample the fast path learns from (sample_values)
OUTSIDE_LANDING_ZONE = "refused: the file is a link that leads outside the landing zone; it was not read"
_GLOB_CHARACTERS = "*?[{"
_LINES_SCHEMA = pa.schema(
    [("file_seq", pa.int32()), ("file", pa.string()), ("line_no", pa.int64()),
     ("text", pa.string()), ("issue", pa.string())]
)


@dataclass(frozen=True)
class LandingFile:
    seq: int
    key: str
    path: str

    @property
    def compression(self) -> str:
        return "gzip" if self.key.endswith(".gz") else "none"


def csv_line_scan(paths: list[str], compression: str) -> str:
    """DuckDB table function text reading every line of ``paths`` as one VARCHAR."""
    return (
        f"read_csv({sql_list(paths)}, columns={{'line': 'VARCHAR', 'overflow': 'VARCHAR'}}, header=false, "
        f"delim='{_SEPARATOR}', quote='', escape='', auto_detect=false, strict_mode=false, "
        f"null_padding=true, new_line='\\n', filename=true, compression='{compression}')"
    )


def _read(root: StorageRoot, f: LandingFile, limit: int | None = None) -> tuple[bytes, str | None]:
    """The file's (decompressed) bytes, at most ``limit`` of them, and what went wrong if the stream ends early."""
    with root.fs.open(f.path, "rb") as stream:
        if f.compression != "gzip":
            return (stream.read() if limit is None else stream.read(limit)), None
        if limit is not None:  # a peek: decompress only what is asked for
            try:
                return gzip.GzipFile(fileobj=stream).read(limit), None
            except (EOFError, OSError, zlib.error) as exc:
                return b"", f"unreadable file: {exc}"
        data = stream.read()
    return _gunzip(data)


def _gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; keep what a truncated or corrupt stream still yields."""
    out, rest = [], data
    try:
        while rest:
            decompressor = zlib.decompressobj(wbits=31)
            out.append(decompressor.decompress(rest))
            if not decompressor.eof:
                return b"".join(out), "unreadable file: the gzip stream is truncated"
            rest = decompressor.unused_data
    except zlib.error as exc:
        return b"".join(out), f"unreadable file: corrupt gzip data ({exc})"
    return b"".join(out), None


@dataclass
class FilePlan:
    """How each landing file of a batch is read."""

    scanned: list[LandingFile] = field(default_factory=list)  # DuckDB's line scan
    line_counts: dict[int, int] = field(default_factory=dict)  # seq → rows the line scan returns
    fast: list[LandingFile] = field(default_factory=list)  # scanned files that look like one record per line
    heads: dict[int, bytes] = field(default_factory=dict)  # seq → the first bytes of each fast file
    python_rows: list[tuple] = field(default_factory=list)  # documents and files split in Python


def plan_files(con: duckdb.DuckDBPyConnection, root: StorageRoot, files: list[LandingFile]) -> FilePlan:
    plan = FilePlan()
    candidates: list[tuple[LandingFile, bytes]] = []  # files that look like lines, with their heads
    for f in files:
        if _leads_outside(root, f):  # never read: one quarantine row says why
            plan.python_rows.append((f.seq, f.key, 1, "", OUTSIDE_LANDING_ZONE))
            continue
        mode, head = _classify(root, f)
        if mode == "document":
            plan.python_rows.extend(_document_rows(root, f))
        elif mode == "python":
            plan.python_rows.extend(_python_rows(root, f))
        else:
            candidates.append((f, head))
    counts = _line_counts(con, [f for f, _ in candidates])
    for f, head in candidates:
        lines = counts[f.seq]
        if lines is None:  # DuckDB cannot scan it as UTF-8 lines of one column
            plan.python_rows.extend(_python_rows(root, f))
            continue
        plan.scanned.append(f)
        plan.line_counts[f.seq] = lines
        if _one_record_per_line(head):
            plan.fast.append(f)
            plan.heads[f.seq] = head
    return plan


def _leads_outside(root: StorageRoot, f: LandingFile) -> bool:
    """A local landing file whose real path is not below the landing root (a symlink out of it)."""
    if root.is_s3:
        return False
    base = os.path.realpath(root.uri)
    return os.path.commonpath([base, os.path.realpath(f.path)]) != base


def _classify(root: StorageRoot, f: LandingFile) -> tuple[str, bytes]:
    """'lines' (DuckDB may scan it), 'document' or 'python' (split in Python), from the file's first bytes."""
    if any(c in f.path for c in _GLOB_CHARACTERS):  # DuckDB would expand the name as a pattern
        return "python", b""
    head, problem = _read(root, f, _PEEK_BYTES)
    if problem:
        return "python", head
    first_lines = [line for line in head.split(b"\n") if line.strip(_BLANK)][:2]
    if head.lstrip()[:1] in (b"{", b"[") and not any(_holds_json_values(line) for line in first_lines):
        return "document", head
    return "lines", head


# A file's rows in the line scan, and those that overflow its one column (a line holding the 0x1F separator).
# Summing the lines' lengths makes DuckDB read (and so check the UTF-8 of) every line, not only count them.
_LINES_AND_OVERFLOWS = "count(*), count(overflow) + 0 * sum(strlen(line))"


def _line_counts(con: duckdb.DuckDBPyConnection, files: list[LandingFile]) -> dict[int, int | None]:
    """seq → the rows DuckDB's line scan gives for the file, None where it cannot scan it.

    One scan per compression counts the lines of all its files (a query per file cost 0.6 s for the demo's 333
    claims files, against 0.03 s). If that scan fails (one file is not UTF-8, a gzip stream is cut, ...), or does
    not name every row's file as it was asked to, each of its files is counted alone.
    """
    counts: dict[int, int | None] = {}
    for compression, group in by_compression(files).items():
        try:
            found = {path: (lines, overflowing) for path, lines, overflowing in con.execute(
                f"""SELECT filename, {_LINES_AND_OVERFLOWS}
                    FROM {csv_line_scan([f.path for f in group], compression)} GROUP BY filename""").fetchall()}
        except duckdb.Error:
            found = None
        if found is None or not set(found) <= {f.path for f in group}:
            found = {f.path: _lines_of(con, f) for f in group}
        for f in group:
            lines, overflowing = found.get(f.path) or (0, 0)
            counts[f.seq] = None if lines is None or overflowing else lines
    return counts


def _lines_of(con: duckdb.DuckDBPyConnection, f: LandingFile) -> tuple[int | None, int]:
    """(rows, rows that overflow the one column) of DuckDB's line scan of ``f``; (None, 0) if it cannot scan it."""
    try:
        return tuple(con.execute(
            f"SELECT {_LINES_AND_OVERFLOWS} FROM {csv_line_scan([f.path], f.compression)}"
        ).fetchall()[0])
    except duckdb.Error:
        return None, 0


def sample_lines(plan: FilePlan, files: list[LandingFile], limit: int = 1000) -> list[bytes]:
    """Up to ``limit`` whole lines from the heads of ``files`` (the last line of a head may be cut)."""
    lines: list[bytes] = []
    for f in files:
        lines += [line for line in plan.heads.get(f.seq, b"").split(b"\n")[:-1] if line.strip()]
        if len(lines) >= limit:
            break
    return lines[:limit]


def _one_record_per_line(head: bytes) -> bool:
    """The first line is one plain record (not a batch, an array or a Kinesis envelope)."""
    first = next((line for line in head.split(b"\n") if line.strip()), b"")
    return first.lstrip()[:1] == b"{" and b'"Records"' not in first and b'"kinesis"' not in first and _is_json(first)


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):  # deeply nested JSON is still JSON to DuckDB, but not for this peek
        return False
    return True


def _holds_json_values(line: bytes) -> bool:
    """True if the line is one JSON value or several written back to back."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return False
    decoder, position = json.JSONDecoder(), 0
    try:
        while position < len(text):
            _, position = decoder.raw_decode(text, position)
            while position < len(text) and text[position].isspace():
                position += 1
    except (ValueError, RecursionError):
        return False
    return True


def _python_rows(root: StorageRoot, f: LandingFile) -> list[tuple]:
    data, problem = _read(root, f)
    rows, line_no = [], 0
    pieces = _NEWLINE.split(data)
    if problem and pieces:
        tail = pieces.pop()  # the line the stream was cut in
        rows_tail = [(tail, problem)] if tail.strip(_BLANK) else [(b"", problem)]
    else:
        rows_tail = []
    for raw in pieces:
        line_no += 1 if raw else 0
        if raw.strip(_BLANK):
            rows.append((f.seq, f.key, line_no, *_decode(raw)))
    for tail, reason in rows_tail:
        rows.append((f.seq, f.key, line_no + 1, tail.decode("utf-8", "replace"), reason))
    return rows


def _decode(raw: bytes) -> tuple[str, str | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), "invalid UTF-8"


def _document_rows(root: StorageRoot, f: LandingFile) -> list[tuple]:
    """One row for a valid JSON document; anything else is read line by line instead."""
    data, problem = _read(root, f)
    text, issue = _decode(data)
    if problem or issue:
        return _python_rows(root, f)
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return _python_rows(root, f)
    return [(f.seq, f.key, 1, text, None)]


def register_landing_lines(
    con: duckdb.DuckDBPyConnection, plan: FilePlan, scanned: list[LandingFile],
    only_lines: dict[int, list[int]] | None = None,
) -> None:
    """Create the temp view ``landing_lines`` over the plan's Python rows and the ``scanned`` files.

    ``only_lines``: file seq → the only line numbers wanted of that scanned file (the rest were read already).
    """
    con.register("landing_lines_python", pa.Table.from_pylist(
        [dict(zip(_LINES_SCHEMA.names, r)) for r in plan.python_rows], schema=_LINES_SCHEMA))
    only_lines = only_lines or {}
    con.register("landing_only_lines", pa.table({
        "file_seq": pa.array([seq for seq, lines in only_lines.items() for _ in lines], pa.int32()),
        "line_no": pa.array([n for lines in only_lines.values() for n in lines], pa.int64())}))
    selects = ["SELECT * FROM landing_lines_python"]
    for n, (compression, group) in enumerate(by_compression(scanned).items()):
        name = f"landing_line_files_{n}"
        register_row_offsets(con, name, group, plan.line_counts)
        wanted = ""
        if any(f.seq in only_lines for f in group):
            wanted = f"""AND (file_seq NOT IN ({", ".join(str(seq) for seq in only_lines)})
                          OR (file_seq, line_no) IN (SELECT file_seq, line_no FROM landing_only_lines))"""
        selects.append(
            f"""SELECT file_seq, file, line_no, text, issue FROM (
                    SELECT f.file_seq, f.file, s.rn - f.row_offset AS line_no, s.line AS text, NULL AS issue
                    FROM (SELECT row_number() OVER () AS rn, filename, line
                          FROM {csv_line_scan([f.path for f in group], compression)}) s
                    JOIN {name} f ON f.path = s.filename)
                WHERE CASE WHEN left(text, 1) IN (' ', chr(9), chr(13)) THEN trim(text, {_BLANK_SQL}) <> ''
                           ELSE text <> '' END {wanted}"""
        )
    con.execute("CREATE OR REPLACE TEMP VIEW landing_lines AS " + "\nUNION ALL\n".join(selects))


def by_compression(files: list[LandingFile]) -> dict[str, list[LandingFile]]:
    groups: dict[str, list[LandingFile]] = {}
    for f in files:
        groups.setdefault(f.compression, []).append(f)
    return groups


def register_row_offsets(con: duckdb.DuckDBPyConnection, name: str, files: list[LandingFile],
                   line_counts: dict[int, int]) -> None:
    """``name(path, file_seq, file, row_offset)``: a scan of ``files`` in this order numbers its rows
    1..N across all of them; row number − row_offset is the line number within the file. This keeps
    line numbers streaming (no window over the text)."""
    offsets, total = [], 0
    for f in files:
        offsets.append(total)
        total += line_counts[f.seq]
    con.register(name, pa.table({
        "path": [f.path for f in files], "file_seq": pa.array([f.seq for f in files], pa.int32()),
        "file": [f.key for f in files], "row_offset": pa.array(offsets, pa.int64())}))
