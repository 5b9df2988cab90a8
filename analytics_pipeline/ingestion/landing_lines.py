"""Turn landing files into one relation of JSON texts: ``landing_lines(file_seq, file, line_no, text, issue)``.

Three ways in, one relation out:
- line files (JSON Lines, ``.gz`` or not) are scanned by DuckDB's CSV reader, one column per line;
- whole-document files (a pretty-printed Lambda batch) become one row holding the document;
- files DuckDB cannot scan as UTF-8 lines (invalid UTF-8, the 0x1F separator inside a line)
  are split in Python so every line keeps its exact text and gets an ``issue``.
Blank lines are not records; ``line_no`` counts the file's non-empty lines from 1.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from analytics_pipeline.lake.duck import scalar

from analytics_pipeline.lake.storage import StorageRoot

_SEPARATOR = "\x1f"
_PEEK_BYTES = 64 * 1024
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
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return (
        f"read_csv([{quoted}], columns={{'line': 'VARCHAR', 'overflow': 'VARCHAR'}}, header=false, "
        f"delim='{_SEPARATOR}', quote='', escape='', auto_detect=false, strict_mode=false, "
        f"null_padding=true, new_line='\\n', filename=true, compression='{compression}')"
    )


def _open_text_bytes(root: StorageRoot, f: LandingFile, limit: int | None = None) -> bytes:
    with root.fs.open(f.path, "rb") as raw:
        stream = gzip.GzipFile(fileobj=raw) if f.compression == "gzip" else raw
        return stream.read() if limit is None else stream.read(limit)


def _classify(con: duckdb.DuckDBPyConnection, root: StorageRoot, f: LandingFile) -> tuple[str, str | None]:
    """'lines', 'document' or 'python', with the reason a file cannot be read at all."""
    try:
        head = _open_text_bytes(root, f, _PEEK_BYTES)
    except (OSError, EOFError, zlib.error) as exc:
        return "unreadable", f"unreadable file: {exc}"
    first_line = head.split(b"\n", 1)[0].strip()
    starts_document = head.lstrip()[:1] in (b"{", b"[")
    if starts_document and not _is_json(first_line):
        return "document", None
    try:
        bad = scalar(con, 
            f"SELECT count(overflow) + 0 * sum(strlen(line)) FROM {csv_line_scan([f.path], f.compression)}"
        )
    except duckdb.Error:
        return "python", None
    return ("python" if bad else "lines"), None


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _python_lines(root: StorageRoot, f: LandingFile) -> list[tuple]:
    rows, line_no = [], 0
    for raw in _open_text_bytes(root, f).split(b"\n"):
        raw = raw.rstrip(b"\r")
        if not raw:
            continue
        line_no += 1
        if not raw.strip():
            continue
        try:
            rows.append((f.seq, f.key, line_no, raw.decode("utf-8"), None))
        except UnicodeDecodeError:
            rows.append((f.seq, f.key, line_no, raw.decode("utf-8", "replace"), "invalid UTF-8"))
    return rows


def _document_rows(root: StorageRoot, f: LandingFile) -> list[tuple]:
    data = _open_text_bytes(root, f)
    try:
        return [(f.seq, f.key, 1, data.decode("utf-8"), None)]
    except UnicodeDecodeError:
        return [(f.seq, f.key, 1, data.decode("utf-8", "replace"), "invalid UTF-8")]


def register_landing_lines(
    con: duckdb.DuckDBPyConnection, root: StorageRoot, files: list[LandingFile]
) -> None:
    """Create the temp view ``landing_lines`` over ``files`` (in ``seq`` order)."""
    by_mode: dict[str, list[LandingFile]] = {}
    python_rows: list[tuple] = []
    for f in files:
        mode, problem = _classify(con, root, f)
        if mode == "unreadable":
            python_rows.append((f.seq, f.key, 1, _best_effort_text(root, f), problem))
        elif mode == "document":
            python_rows.extend(_document_rows(root, f))
        elif mode == "python":
            try:
                python_rows.extend(_python_lines(root, f))
            except (OSError, EOFError, zlib.error) as exc:
                python_rows.append((f.seq, f.key, 1, _best_effort_text(root, f), f"unreadable file: {exc}"))
        else:
            by_mode.setdefault(f.compression, []).append(f)
    extra = pa.Table.from_pylist(
        [dict(zip(_LINES_SCHEMA.names, r)) for r in python_rows], schema=_LINES_SCHEMA
    )
    con.register("landing_lines_python", extra)
    selects = ["SELECT * FROM landing_lines_python"]
    seq_of = {f.path: f.seq for f in files}
    key_of = {f.path: f.key for f in files}
    con.register(
        "landing_file_names",
        pa.table({"path": list(seq_of), "file_seq": list(seq_of.values()), "file": list(key_of.values())}),
    )
    for compression, group in by_mode.items():
        scan = csv_line_scan([f.path for f in group], compression)
        selects.append(
            f"""SELECT file_seq, file, line_no, text, issue FROM (
                    SELECT n.file_seq, n.file, s.line AS text, NULL AS issue,
                           s.rn - min(s.rn) OVER (PARTITION BY s.filename) + 1 AS line_no
                    FROM (SELECT row_number() OVER () AS rn, filename, line FROM {scan}) s
                    JOIN landing_file_names n ON n.path = s.filename)
                WHERE trim(text) <> ''"""
        )
    con.execute("CREATE OR REPLACE TEMP VIEW landing_lines AS " + "\nUNION ALL\n".join(selects))


def _best_effort_text(root: StorageRoot, f: LandingFile) -> str:
    try:
        return root.fs.cat_file(f.path)[: 1 << 20].decode("utf-8", "replace")
    except OSError as exc:
        return f"<could not read: {exc}>"
