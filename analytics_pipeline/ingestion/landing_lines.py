"""Turn landing files into one relation of JSON texts: ``landing_lines(file_seq, file, line_no, text, issue)``.

Three ways in, one relation out:
- line files (JSON Lines, ``.gz`` or not) are scanned by DuckDB's CSV reader, one column per line;
- whole-document files (a pretty-printed Lambda batch) become one row holding the document;
- files DuckDB cannot scan as UTF-8 lines (invalid UTF-8, the 0x1F separator inside a line, a
  truncated gzip stream) are split in Python so every line keeps its exact text and gets an ``issue`` (a problem
  as quarantine_reasons.py writes one: its reason code and detail).
Lines end at LF, CRLF or a lone CR on every path; blank lines (only spaces, tabs, CRs) are not records;
``line_no`` counts the file's non-empty lines from 1.
A local landing file that is a link leading outside the landing zone, or that is not a regular file (a FIFO,
a socket, a device), is never read: it becomes one quarantine row saying so (a landing key is only ever data,
never a path the lake writes to).

What one landing entry can cost is bounded (``ReadLimits``): files split in Python are read as a stream and
their rows go to a table of the batch's own database file, not to memory; a line longer than
``max_line_bytes`` becomes a quarantine row keeping its first 64 KiB; a file holding more than
``max_file_bytes`` (decompressed) is refused whole with one row naming the limit.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from analytics_pipeline.lake import quarantine_reasons as reasons
from analytics_pipeline.lake.duck import sql_list
from analytics_pipeline.lake.storage import StorageRoot

_SEPARATOR = "\x1f"
_BLANK = b" \t\r"  # a line of only these is blank: not a record (both the DuckDB scan and the Python split)
_BLANK_SQL = "' ' || chr(9) || chr(13)"
# Where a line ends: LF, CRLF or a lone CR, as DuckDB's line scan splits them (it cannot be told otherwise).
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_PEEK_BYTES = 256 * 1024  # also the sample the fast path learns from (sample_values)
OUTSIDE_LANDING_ZONE = "refused: the file is a link that leads outside the landing zone; it was not read"
NOT_A_REGULAR_FILE = "refused: the entry is not a regular file (a FIFO, socket or device); it was not read"
UNREADABLE_ENTRY = ("unreadable file: the system would not read it ({error}); none of it was taken in: once it "
                    "reads, touch it (or `analytics-pipeline reingest`) so that a run takes it again")
KEPT_OF_A_LONG_LINE = 64 * 1024  # bytes of an over-long line kept as its quarantined text
_STREAM_BYTES = 1024 * 1024  # what the Python path reads and decompresses at a time
_ROWS_PER_INSERT = 20_000
_GLOB_CHARACTERS = "*?[{"
_LINES_SCHEMA = pa.schema(
    [("file_seq", pa.int32()), ("file", pa.string()), ("line_no", pa.int64()),
     ("text", pa.string()), ("issue", pa.string())]
)


@dataclass(frozen=True)
class ReadLimits:
    """What one landing file may hold (``ANALYTICS_MAX_LINE_BYTES``, ``ANALYTICS_MAX_FILE_BYTES``)."""

    max_line_bytes: int = 16 * 1024**2
    max_file_bytes: int = 8 * 1024**3

    def too_big(self, size: int) -> str:
        """The quarantine detail of a file holding ``size`` bytes (or more: ``size`` read when it was stopped)."""
        return (f"refused: the file holds more than {self.max_file_bytes:,} bytes (ANALYTICS_MAX_FILE_BYTES), "
                f"{size:,} read{' when it was stopped' if size > self.max_file_bytes else ''}; none of its lines "
                "were taken in: split it, or raise the limit")

    def too_long(self, size: int) -> str:
        """The quarantine detail of a line of ``size`` bytes."""
        return (f"line of {size:,} bytes is longer than {self.max_line_bytes:,} (ANALYTICS_MAX_LINE_BYTES); "
                f"its first {KEPT_OF_A_LONG_LINE // 1024} KiB are kept as its text")


@dataclass(frozen=True)
class LandingFile:
    seq: int
    key: str
    path: str
    size: int = 0  # bytes as stored (compressed for .gz)

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


def _read(root: StorageRoot, f: LandingFile, limit: int) -> tuple[bytes, str | None]:
    """The file's first ``limit`` (decompressed) bytes, and what went wrong if the stream ends early."""
    with root.fs.open(f.path, "rb") as stream:
        if f.compression != "gzip":
            return stream.read(limit), None
        try:  # decompress only what is asked for
            return gzip.GzipFile(fileobj=stream).read(limit), None
        except (EOFError, OSError, zlib.error) as exc:
            return b"", f"unreadable file: {exc}"


class _Unreadable(Exception):
    """The stream ended early or is corrupt; the message is the quarantine detail."""


class _TooBig(Exception):
    """The file holds more bytes than it may; args: (bytes read)."""


def _stream(root: StorageRoot, f: LandingFile, max_bytes: int) -> Iterator[bytes]:
    """The file's (decompressed) bytes, a block at a time, every gzip member in turn; raises ``_Unreadable`` after
    what a truncated or corrupt stream still yields, ``_TooBig`` once more than ``max_bytes`` came out."""
    read = 0
    for block in _blocks(root, f):
        read += len(block)
        if read > max_bytes:
            raise _TooBig(read)
        yield block


def _blocks(root: StorageRoot, f: LandingFile) -> Iterator[bytes]:
    with root.fs.open(f.path, "rb") as stream:
        if f.compression != "gzip":
            while block := stream.read(_STREAM_BYTES):
                yield block
            return
        member, started = zlib.decompressobj(wbits=31), False
        while data := stream.read(_STREAM_BYTES):
            while data:
                started = True
                try:
                    out = member.decompress(data, _STREAM_BYTES)  # bounded: a small file may inflate to gigabytes
                except zlib.error as exc:
                    raise _Unreadable(f"unreadable file: corrupt gzip data ({exc})") from None
                if out:
                    yield out
                if member.eof:
                    data = member.unused_data
                    member, started = zlib.decompressobj(wbits=31), False
                else:
                    data = member.unconsumed_tail
        if started:
            raise _Unreadable("unreadable file: the gzip stream is truncated")


@dataclass
class FilePlan:
    """How each landing file of a batch is read."""

    scanned: list[LandingFile] = field(default_factory=list)  # DuckDB's line scan
    line_counts: dict[int, int] = field(default_factory=dict)  # seq → rows the line scan returns
    fast: list[LandingFile] = field(default_factory=list)  # scanned files that look like one record per line
    heads: dict[int, bytes] = field(default_factory=dict)  # seq → the first bytes of each fast file
    python_rows: int = 0  # rows of documents and files split in Python (table landing_lines_python)


class _PythonRows:
    """Rows of files split in Python, inserted in chunks into ``landing_lines_python`` (a table of the batch's
    database, so a big file's rows spill to disk instead of filling memory)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.pending, self.count = con, [], 0
        columns = ", ".join(f"{f.name} {'INTEGER' if f.name == 'file_seq' else 'BIGINT' if f.name == 'line_no' else 'VARCHAR'}"
                            for f in _LINES_SCHEMA)
        con.execute(f"CREATE OR REPLACE TABLE landing_lines_python ({columns})")

    def add(self, row: tuple) -> None:
        self.pending.append(row)
        self.count += 1
        if len(self.pending) >= _ROWS_PER_INSERT:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.con.register("landing_lines_chunk", pa.Table.from_pylist(
                [dict(zip(_LINES_SCHEMA.names, r)) for r in self.pending], schema=_LINES_SCHEMA))
            self.con.execute("INSERT INTO landing_lines_python SELECT * FROM landing_lines_chunk")
            self.con.unregister("landing_lines_chunk")
            self.pending = []

    def drop_file(self, seq: int) -> None:
        """Forget the rows added for file ``seq`` (it is refused whole)."""
        self.flush()
        removed = self.con.execute("DELETE FROM landing_lines_python WHERE file_seq = ?", [seq]).fetchall()[0][0]
        self.count -= removed


def plan_files(con: duckdb.DuckDBPyConnection, root: StorageRoot, files: list[LandingFile],
               limits: ReadLimits = ReadLimits()) -> FilePlan:
    plan, rows = FilePlan(), _PythonRows(con)
    candidates: list[tuple[LandingFile, bytes]] = []  # files that look like lines, with their heads
    for f in files:
        with _read_or_refused(root, f, rows):
            refusal = _refusal(root, f, limits)
            if refusal:  # never read: one quarantine row says why
                rows.add((f.seq, f.key, 1, "", refusal))
                continue
            mode, head = _classify(root, f)
            if mode == "document":
                _document_rows(root, f, rows, limits)
            elif mode == "python":
                _python_rows(root, f, rows, limits)
            else:
                candidates.append((f, head))
    counts = _line_counts(con, [f for f, _ in candidates])
    for f, head in candidates:
        lines, size, longest = counts[f.seq]
        if lines is None or longest > limits.max_line_bytes:  # not UTF-8 lines of one column, or one is too long
            with _read_or_refused(root, f, rows):
                _python_rows(root, f, rows, limits)
            continue
        if size > limits.max_file_bytes:  # a gzip file that inflates beyond the limit
            rows.add((f.seq, f.key, 1, "", reasons.issue(reasons.FILE_TOO_LARGE, limits.too_big(size))))
            continue
        plan.scanned.append(f)
        plan.line_counts[f.seq] = lines
        if _one_record_per_line(head):
            plan.fast.append(f)
            plan.heads[f.seq] = head
    rows.flush()
    plan.python_rows = rows.count
    return plan


@contextmanager
def _read_or_refused(root: StorageRoot, f: LandingFile, rows: _PythonRows) -> Iterator[None]:
    """A local file the system will not read (no permission, a dangling link or a loop of links, an I/O error)
    becomes one quarantine row instead of failing its batch on every retry. On S3 an error is the store's (down,
    throttled), not the file's: it fails the batch, which the next run tries again."""
    try:
        yield
    except OSError as err:
        if root.is_s3:
            raise
        rows.drop_file(f.seq)
        rows.add((f.seq, f.key, 1, "", reasons.issue(reasons.UNREADABLE_FILE, UNREADABLE_ENTRY.format(
            error=f"{type(err).__name__}: {err.strerror or err}"))))


def _refusal(root: StorageRoot, f: LandingFile, limits: ReadLimits) -> str | None:
    """Why the file is not read at all (its quarantine issue), if it is not."""
    if _leads_outside(root, f):
        return reasons.issue(reasons.LINK_OUTSIDE_LANDING, OUTSIDE_LANDING_ZONE)
    if not root.is_s3 and not stat.S_ISREG(os.stat(f.path).st_mode):  # reading a FIFO would wait forever
        return reasons.issue(reasons.NOT_A_REGULAR_FILE, NOT_A_REGULAR_FILE)
    if f.compression != "gzip" and f.size > limits.max_file_bytes:
        return reasons.issue(reasons.FILE_TOO_LARGE, limits.too_big(f.size))
    return None


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


# A file's rows in the line scan, those that overflow its one column (a line holding the 0x1F separator), its
# bytes and its longest line. Summing the lines' lengths makes DuckDB read (and so check the UTF-8 of) every line, not only count them.
_LINES_AND_OVERFLOWS = "count(*), count(overflow), coalesce(sum(strlen(line) + 1), 0), coalesce(max(strlen(line)), 0)"


def _line_counts(con: duckdb.DuckDBPyConnection, files: list[LandingFile]) -> dict[int, tuple[int | None, int, int]]:
    """seq → (the rows DuckDB's line scan gives for the file, None where it cannot scan it; its bytes; its longest
    line).

    One scan per compression counts the lines of all its files (a query per file cost 0.6 s for the demo's 333
    claims files, against 0.03 s). If that scan fails (one file is not UTF-8, a gzip stream is cut, ...), or does
    not name every row's file as it was asked to, each of its files is counted alone.
    """
    counts: dict[int, tuple[int | None, int, int]] = {}
    for compression, group in by_compression(files).items():
        try:
            found = {path: counts for path, *counts in con.execute(
                f"""SELECT filename, {_LINES_AND_OVERFLOWS}
                    FROM {csv_line_scan([f.path for f in group], compression)} GROUP BY filename""").fetchall()}
        except duckdb.Error:
            found = None
        if found is None or not set(found) <= {f.path for f in group}:
            found = {f.path: _lines_of(con, f) for f in group}
        for f in group:
            lines, overflowing, size, longest = found.get(f.path) or (0, 0, 0, 0)
            counts[f.seq] = (None if lines is None or overflowing else lines), size, longest
    return counts


def _lines_of(con: duckdb.DuckDBPyConnection, f: LandingFile) -> tuple[int | None, int, int, int]:
    """(rows, rows that overflow the one column, bytes, longest line) of DuckDB's line scan of ``f``; (None, 0, 0, 0)
    if it cannot scan it."""
    try:
        return tuple(con.execute(
            f"SELECT {_LINES_AND_OVERFLOWS} FROM {csv_line_scan([f.path], f.compression)}"
        ).fetchall()[0])
    except duckdb.Error:
        return None, 0, 0, 0


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


def _python_rows(root: StorageRoot, f: LandingFile, rows: _PythonRows, limits: ReadLimits) -> None:
    """Every non-blank line of ``f`` as a row, read as a stream. A line that is not UTF-8 keeps its text with
    U+FFFD and an issue; a line over the limit keeps its first bytes; the line a broken stream ends in carries
    the stream's problem; a file over the limit is one row instead."""
    line_no = 0
    try:
        for raw, size in _split_lines(_stream(root, f, limits.max_file_bytes), limits.max_line_bytes):
            line_no += 1 if size else 0
            if size > limits.max_line_bytes:
                rows.add((f.seq, f.key, line_no, raw.decode("utf-8", "replace"),
                          reasons.issue(reasons.LINE_TOO_LONG, limits.too_long(size))))
            elif raw.strip(_BLANK):
                rows.add((f.seq, f.key, line_no, *_decode(raw)))
    except _Unreadable as problem:
        tail, _ = problem.args[1] if len(problem.args) > 1 else (b"", 0)
        rows.add((f.seq, f.key, line_no + 1, tail.decode("utf-8", "replace"),
                  reasons.issue(reasons.UNREADABLE_FILE, problem.args[0])))
    except _TooBig as too_big:
        rows.drop_file(f.seq)
        rows.add((f.seq, f.key, 1, "", reasons.issue(reasons.FILE_TOO_LARGE, limits.too_big(too_big.args[0]))))


def _split_lines(blocks: Iterator[bytes], max_line_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(line, its length) for each line of the stream, split at LF, CRLF or a lone CR; a line longer than
    ``max_line_bytes`` is cut to its first ``KEPT_OF_A_LONG_LINE`` bytes (its length counts them all), so memory
    holds at most one line of the limit. If the stream breaks, ``_Unreadable`` is raised again with the
    unfinished line: args (reason, (line, length))."""
    line, size, after_cr = bytearray(), 0, False

    def take(piece: bytes) -> None:
        nonlocal line, size
        size += len(piece)
        if size > max_line_bytes:
            del line[KEPT_OF_A_LONG_LINE:]
            line += piece[:max(0, KEPT_OF_A_LONG_LINE - len(line))]
        else:
            line += piece

    def finished() -> tuple[bytes, int]:
        nonlocal line, size
        done = (bytes(line), size)
        line, size = bytearray(), 0
        return done

    try:
        for block in blocks:
            if after_cr and block.startswith(b"\n"):  # the LF of a CRLF split between two blocks
                block = block[1:]
            after_cr, position = block.endswith(b"\r"), 0
            for separator in _NEWLINE.finditer(block):
                take(block[position:separator.start()])
                yield finished()
                position = separator.end()
            take(block[position:])
    except _Unreadable as problem:
        raise _Unreadable(problem.args[0], finished()) from None
    if size:
        yield finished()


def _decode(raw: bytes) -> tuple[str, str | None]:
    """The text of ``raw`` and, if it is not UTF-8, its quarantine issue naming the first bad byte."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as err:
        detail = f"invalid UTF-8: byte 0x{raw[err.start]:02x} at offset {err.start:,} of the line ({err.reason})"
        return raw.decode("utf-8", "replace"), reasons.issue(reasons.INVALID_UTF8, detail)


def _document_rows(root: StorageRoot, f: LandingFile, rows: _PythonRows, limits: ReadLimits) -> None:
    """One row for a valid JSON document of at most ``max_line_bytes`` (the document is one record's text);
    anything else is read line by line instead."""
    data, problem = bytearray(), None
    try:
        for block in _stream(root, f, limits.max_line_bytes):
            data += block
    except _Unreadable as exc:
        problem = exc
    except _TooBig:  # longer than one record may be: its lines are its records (or its quarantined parts)
        problem = True
    text, issue = (None, None) if problem else _decode(bytes(data))
    if problem or issue:
        _python_rows(root, f, rows, limits)
        return
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        _python_rows(root, f, rows, limits)
        return
    rows.add((f.seq, f.key, 1, text, None))


def register_landing_lines(
    con: duckdb.DuckDBPyConnection, plan: FilePlan, scanned: list[LandingFile],
    only_lines: dict[int, list[int]] | None = None,
) -> None:
    """Create the temp view ``landing_lines`` over the plan's Python rows and the ``scanned`` files.

    ``only_lines``: file seq → the only line numbers wanted of that scanned file (the rest were read already).
    """
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
