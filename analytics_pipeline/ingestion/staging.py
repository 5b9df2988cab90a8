"""Take a batch of landing files into the lake's staging area.

One batch = the files one sensor tick (or one manual materialization) picked up. Parsing is one
DuckDB statement over all of them; good rows go to ``staging/<source>/event_date=D/``, bad rows
to ``errors/<source>/``, and a manifest records which files (with their ETag/size) the batch
took, so a file is never taken twice. The batch id is a hash of the files, so re-running the
same batch rewrites the same objects: idempotent by construction.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow as pa

from analytics_pipeline.ingestion.figures import RecordFigures
from analytics_pipeline.ingestion.landing_lines import (
    FilePlan,
    LandingFile,
    ReadLimits,
    by_compression,
    plan_files,
    register_landing_lines,
    sample_lines,
)
from analytics_pipeline.ingestion.work_folder import batch_work_folder
from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect, on_cursors, scalar, sql_literal
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.source_spec import SourceSpec
from analytics_pipeline.lake.storage import StorageRoot, StoredFile

# Columns of the parse that only staging reads; only the claims parse writes ``extra_kinds`` (see _extra_kinds).
_BOOKKEEPING = ["file_seq", "error_reason", "reason_detail", "original_text", "extra_kinds"]
_PROMOTABLE = {"S": "VARCHAR", "N": "DOUBLE", "BOOL": "BOOLEAN"}
MAX_PROMOTED_PER_BATCH = 100  # columns a batch may add; more cost memory per column in every write (see below)
MAX_KEYS_SCANNED_PER_RECORD = 1000  # a record with more attributes beyond the typed ones promotes none of them
# The fast path's rows, in a temporary file read once per staged day: not compressed (reading it back costs less)
# and in small row groups, so a day's read skips the others' (1.1 M claims records: staging 8.9 s against 9.7 s
# with the lake's Snappy and 122,880-row groups; see benchmarks/README.md).
_BATCH_FILE_OPTIONS = "FORMAT PARQUET, COMPRESSION UNCOMPRESSED, ROW_GROUP_SIZE 16384"


@dataclass
class BatchResult:
    """A batch's figures (its landed rows are the ones it staged), plus where the rows went."""

    source: str
    batch_id: str
    figures: RecordFigures = field(default_factory=RecordFigures)
    days: dict[str, int] = field(default_factory=dict)  # staged rows by event day
    data_through: datetime | None = None
    promoted_columns: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # landing keys that changed while read: left for a later batch


def batch_id_for(files: list[StoredFile]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.key):
        digest.update(f"{f.key}\0{f.etag}\0{f.size}\0{f.mtime}\n".encode())
    return digest.hexdigest()[:16]


def stage_batch(
    lake: StorageRoot,
    landing: StorageRoot,
    spec: SourceSpec,
    files: list[StoredFile],
    partitions_start: str,
    now: datetime | None = None,
    limits: ReadLimits = ReadLimits(),
) -> BatchResult:
    """Parse ``files`` (keys relative to the landing root) and stage the result.

    A file written to (or removed) while the batch read it is left out and the batch read again without it: its
    lines, and the line numbers of the files read after it, cannot be trusted, and one file that keeps growing must
    not hold back the others. It stays pending (``BatchResult.deferred``): a later batch takes it once it is still.
    """
    files = sorted(files, key=lambda f: f.key)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    deferred: list[str] = []
    while True:
        result = BatchResult(source=spec.name, batch_id=batch_id_for(files), figures=RecordFigures(files=len(files)),
                             deferred=deferred)
        if not files:
            return result
        try:
            _stage_once(lake, landing, spec, files, result, partitions_start, now, limits)
        except LandingFileChanged as changed:  # raised before the batch writes anything
            deferred += changed.keys
            files = [f for f in files if f.key not in changed.keys]
            continue
        return result


def _stage_once(lake: StorageRoot, landing: StorageRoot, spec: SourceSpec, files: list[StoredFile],
                result: BatchResult, partitions_start: str, now: datetime, limits: ReadLimits) -> None:
    # The batch's rows go to files in a temporary folder, not to memory: the fast path's to a Parquet file, the
    # line path's to a DuckDB file, so memory holds only what a statement works on (1.1 M claims records would
    # take ~600 MB of memory; see benchmarks/README.md).
    with batch_work_folder() as work:
        con = connect(lake, landing, database=os.path.join(work, "batch.duckdb"))
        try:
            _stage(con, lake, landing, spec, files, result, partitions_start, now, work, limits)
        finally:
            con.close()


def _stage(con, lake: StorageRoot, landing: StorageRoot, spec: SourceSpec, files: list[StoredFile],
           result: BatchResult, partitions_start: str, now: datetime, work: str, limits: ReadLimits) -> None:
    landing_files = [LandingFile(seq=i, key=f.key, path=landing.path(f.key), size=f.size) for i, f in enumerate(files)]
    if spec.prepare:
        spec.prepare(con)
    plan = plan_files(con, landing, landing_files, limits)
    _parse(con, spec, plan, datetime.fromisoformat(partitions_start), _end_of_day(now), work)
    _unchanged_while_read(landing, spec.name, files)  # the landing files are read; nothing is written yet
    _quarantine(con, lake, spec, result)
    _stage_good_rows(con, lake, spec, result)
    _write_manifest(con, lake, spec, files, result)


CHANGED_WHILE_READ = ("deferred: the file changed or went away while its batch read it; a later batch takes it in "
                      "once it is still (write landing files under a name starting with . or _, then rename them)")


class LandingFileChanged(RuntimeError):
    """Landing files (``keys``) were written to while the batch read them: their lines (and the line numbers of the
    files read after them) cannot be trusted, so the batch is read again without them."""

    def __init__(self, keys: list[str]):
        super().__init__(f"{', '.join(keys[:5])}{' and more' if len(keys) > 5 else ''} changed or went away while "
                         "the batch read it")
        self.keys = keys


def _unchanged_while_read(landing: StorageRoot, source: str, files: list[StoredFile]) -> None:
    now = {f.key: f.version for f in landing.list_files(source)}
    changed = [f.key for f in files if now.get(f.key) != f.version]
    if changed:
        raise LandingFileChanged(changed)


def _end_of_day(now: datetime) -> datetime:
    """The newest accepted event time: the end of today (UTC), today's partition being the newest."""
    return datetime.combine(now.date(), datetime.max.time()).replace(microsecond=0)


def _parse(con, spec: SourceSpec, plan: FilePlan, earliest: datetime, latest: datetime, work: str) -> None:
    """Create ``parsed``: every record of the batch, typed, with its error reason (if any).

    JSON-lines files take the fast path (DuckDB's JSON reader, one parse per line). A file whose fast read
    does not account for every line is read again through the line path, which keeps positions and original
    text for the quarantine; of a file with bad records, only their lines are.
    """
    parts, fast_done, bad_lines = [], set(), {}
    for n, (compression, group) in enumerate(by_compression(plan.fast if spec.has_fast_path else []).items()):
        rows_file = os.path.join(work, f"fast_rows_{n}.parquet")
        sampled = spec.sample_values(sample_lines(plan, group)) if spec.sample_values else None
        records = spec.records_sql(earliest, latest, [f.path for f in group], compression, sampled)
        con.execute(f"COPY ({records}) TO {sql_literal(rows_file)} ({_BATCH_FILE_OPTIONS})").fetchall()
        done, bad = _fast_rows(con, f"fast_rows_{n}", rows_file, group, plan.line_counts)
        fast_done.update(done)
        bad_lines.update(bad)
        parts.append(f"SELECT * FROM fast_rows_{n}")
    slow = [f for f in plan.scanned if f.seq not in fast_done or f.seq in bad_lines]
    if slow or plan.python_rows or not parts:
        register_landing_lines(con, plan, slow, only_lines=bad_lines)
        con.execute(f"CREATE TABLE slow_rows AS {spec.records_sql(earliest, latest)}")
        parts.append("SELECT * FROM slow_rows")
    # a view, not a copy: the rows live once, in the files and tables above. Tables and views of the batch live
    # in the connection's own database (not TEMP), so the staging writers' cursors see them too.
    con.execute("CREATE VIEW parsed AS " + " UNION ALL BY NAME ".join(parts))


def _fast_rows(con, name: str, rows_file: str, files: list[LandingFile],
               line_counts: dict[int, int]) -> tuple[list[int], dict[int, list[int]]]:
    """The view ``name`` over the fast path's good rows, with each row's file and line.

    Returns the seqs of the files it reads and, for those with bad records, the lines to read again through the
    line path (which keeps their text and tells what is wrong with them); the other files are read again whole.

    The parse wrote its rows to ``rows_file`` in scan order (DuckDB preserves insertion order), one file after
    another, holding the path DuckDB read in ``source_file``. So a row's line is its row number in ``rows_file``
    minus its file's first row number, plus one: no window over the scan, which would run it on one thread.
    The JSON reader gives one row per non-blank line (a line it cannot read as a record is a row of NULLs,
    which fails the checks), so the numbers hold for a file with a row for every one of its lines.
    """
    scan = f"read_parquet({sql_literal(rows_file)}, file_row_number = true, hive_partitioning = false)"
    found = {path: (first, rows, bad) for path, first, rows, bad in con.execute(
        f"""SELECT source_file, min(file_row_number), count(*),
                   list(file_row_number ORDER BY file_row_number) FILTER (WHERE error_reason IS NOT NULL)
            FROM {scan} GROUP BY 1""").fetchall()}
    read = [f for f in files if f.path in found and found[f.path][1] == line_counts[f.seq]]
    bad_lines = {f.seq: [row - found[f.path][0] + 1 for row in found[f.path][2]] for f in read if found[f.path][2]}
    con.register(f"{name}_found", pa.table({
        "path": [f.path for f in read], "file_seq": pa.array([f.seq for f in read], pa.int32()),
        "file": [f.key for f in read], "first_row": pa.array([found[f.path][0] for f in read], pa.int64())}))
    con.execute(f"CREATE TABLE {name}_files AS SELECT * FROM {name}_found")  # a table: the writers' cursors read it
    con.unregister(f"{name}_found")
    con.execute(
        f"""CREATE VIEW {name} AS
            SELECT r.* EXCLUDE (file_row_number) REPLACE (
                f.file_seq AS file_seq, f.file AS source_file, r.file_row_number - f.first_row + 1 AS source_line)
            FROM {scan} r JOIN {name}_files f ON f.path = r.source_file
            WHERE r.error_reason IS NULL"""
    )
    return [f.seq for f in read], bad_lines


def _quarantine(con, lake: StorageRoot, spec: SourceSpec, result: BatchResult) -> None:
    figures = result.figures
    figures.records_in = scalar(con, "SELECT count(*) FROM parsed")
    figures.quarantined = scalar(con, "SELECT count(*) FROM parsed WHERE error_reason IS NOT NULL")
    if not figures.quarantined:
        return
    figures.reasons = dict(con.execute(
        "SELECT error_reason, count(*) FROM parsed WHERE error_reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall())
    write_parquet(
        con,
        lake,
        f"""SELECT {sql_literal(spec.name)} AS source, {sql_literal(result.batch_id)} AS batch_id,
                   source_file AS file, source_line AS line, source_record AS record,
                   error_reason AS reason, reason_detail, original_text, event_id, event_time
            FROM parsed WHERE error_reason IS NOT NULL
            ORDER BY file_seq, source_line, source_record NULLS FIRST""",
        layout.errors_file(spec.name, result.batch_id),
    )


def _stage_good_rows(con, lake: StorageRoot, spec: SourceSpec, result: BatchResult) -> None:
    columns = {row[0] for row in con.execute("DESCRIBE parsed").fetchall()}
    promoted = _promoted_columns(con, columns) if spec.promotes_typed_attributes else []
    bookkeeping = [name for name in _BOOKKEEPING if name in columns]
    result.promoted_columns = [name for name, _ in promoted]
    extra_select = "".join(f", {expr} AS {name}" for name, expr in promoted)
    # Only the (few) later copies of a repeated event id are listed; the good rows stay where they are.
    con.execute(
        """CREATE TABLE repeated_copies AS
           SELECT file_seq, source_line, source_record FROM (
               SELECT file_seq, source_line, source_record, row_number() OVER (
                   PARTITION BY event_id ORDER BY file_seq, source_line, source_record NULLS FIRST) AS copy
               FROM parsed
               WHERE error_reason IS NULL AND event_id IN (
                   SELECT event_id FROM parsed WHERE error_reason IS NULL GROUP BY 1 HAVING count(*) > 1))
           WHERE copy > 1"""
    )
    later_copies = """ANTI JOIN repeated_copies c
              ON c.file_seq = p.file_seq AND c.source_line = p.source_line
             AND c.source_record IS NOT DISTINCT FROM p.source_record"""
    con.execute(
        f"""CREATE VIEW staged AS
            SELECT p.* EXCLUDE ({", ".join(bookkeeping)}){extra_select}
            FROM parsed p {later_copies if scalar(con, "SELECT count(*) FROM repeated_copies") else ""}
            WHERE p.error_reason IS NULL"""
    )
    days = con.execute(
        "SELECT event_date::VARCHAR, count(*), max(event_time) FROM staged GROUP BY 1 ORDER BY 1"
    ).fetchall()
    result.days = {day: rows for day, rows, _ in days}
    figures = result.figures
    figures.landed = sum(result.days.values())
    figures.duplicates = figures.records_in - figures.quarantined - figures.landed

    def write_day(cursor, day: str) -> None:
        write_parquet(
            cursor,
            lake,
            f"""SELECT * EXCLUDE ({layout.PARTITION_COLUMN}) FROM staged
                WHERE {layout.PARTITION_COLUMN} = DATE {sql_literal(day)} ORDER BY event_time, event_id""",
            layout.staging_file(spec.name, day, result.batch_id),
        )

    # one small sort-and-write per day keeps a core busy only part of the time: the days are written side by side
    on_cursors(con, list(result.days), write_day)
    result.data_through = max((through for _, _, through in days), default=None)


def _promoted_columns(con, columns: set[str]) -> list[tuple[str, str]]:
    """Scalar attributes beyond the typed columns become columns of their own (additive schema): at most
    ``MAX_PROMOTED_PER_BATCH``, those most rows carry (a record of 5,000 attributes made as many columns and took
    3.4 GB to stage); the others stay in ``extra_attributes``."""
    existing = set(columns)
    promoted = []
    found = [(name, kinds, rows) for name, kinds, rows in _extra_kinds(con, columns) if kinds]
    chosen = {name for name, _, _ in sorted(found, key=lambda f: (-f[2], f[0]))[:MAX_PROMOTED_PER_BATCH]}
    for name, kinds, _ in found:
        if name not in chosen:
            continue
        column = re.sub(r"[^a-z0-9_]", "_", name.lower())
        if not column or column[0].isdigit() or column in existing:
            continue
        existing.add(column)
        path = sql_literal('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')
        if len(kinds) == 1 and kinds[0] in _PROMOTABLE:
            value = f"TRY_CAST(json_extract_string(extra_attributes, {path} || '.{kinds[0]}') AS {_PROMOTABLE[kinds[0]]})"
        else:
            inner = f" || '.{kinds[0]}'" if len(kinds) == 1 else ""
            value = f"json_extract(extra_attributes, {path}{inner})::VARCHAR"
        promoted.append((column, value))
    return promoted


# The start of a minified DynamoDB attribute value up to its first colon → its type.
_TYPE_OF_START = {'{"' + kind + '"': kind for kind in ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")}


def _extra_kinds(con, columns: set[str]) -> list[tuple[str, list[str], int]]:
    """(attribute, its DynamoDB types but NULL, rows holding it) for every attribute in the good rows'
    ``extra_attributes``, by name.

    Rows whose parse listed the types of their extra attributes (``extra_kinds``, the claims fast path) are
    summed up by that list: a few distinct values, no JSON parsed. The other rows' ``extra_attributes`` are
    parsed; so are all rows when a listed value was not one typed DynamoDB value.
    """
    use_lists = "extra_kinds" in columns
    found: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    if use_lists:
        for kinds, rows in con.execute(
            "SELECT extra_kinds, count(*) FROM parsed WHERE error_reason IS NULL AND extra_kinds <> '' GROUP BY 1"
        ).fetchall():
            # name:{"T" per attribute. A start holds no colon, so a comma inside one leaves a piece without a colon.
            for item in kinds.split(","):
                name, colon, start = item.partition(":")
                found.setdefault(name, set()).add(_TYPE_OF_START.get(start, "?") if colon else "?")
                counts[name] = counts.get(name, 0) + rows
        if any("?" in kinds for kinds in found.values()):  # a value that is not one typed DynamoDB value
            use_lists, found, counts = False, {}, {}
    rows = con.execute(
        f"""SELECT name, list_distinct(list(kind)) AS kinds, count(*) FROM (
               SELECT name, json_keys(json_extract(extra_attributes, '$."' || replace(replace(name, '\\', '\\\\'), '"', '\\"') || '"'))[1] AS kind
               FROM (SELECT unnest(json_keys(extra_attributes)) AS name, extra_attributes
                     FROM parsed WHERE error_reason IS NULL AND extra_attributes IS NOT NULL
                     -- each key's value is found by parsing the whole text again: a record of thousands of keys
                     -- would cost their square (5,000: 1.2 GB); its attributes stay in extra_attributes
                     AND len(json_keys(extra_attributes)) <= {MAX_KEYS_SCANNED_PER_RECORD}
                     {"AND extra_kinds IS NULL" if use_lists else ""})
               -- no JSON path names "" or a key holding "*" (a wildcard even when quoted): those stay in extra_attributes
               WHERE name <> '' AND NOT contains(name, '*'))
           GROUP BY name"""
    ).fetchall()
    for name, kinds, holding in rows:
        found.setdefault(name, set()).update(kind for kind in kinds if kind is not None)
        counts[name] = counts.get(name, 0) + holding
    return [(name, sorted(kinds - {"NULL"}), counts.get(name, 0)) for name, kinds in sorted(found.items())]


def _write_manifest(con, lake: StorageRoot, spec: SourceSpec, files: list[StoredFile], result: BatchResult) -> None:
    per_file = dict(
        (row[0], row[1:])
        for row in con.execute(
            "SELECT file_seq, count(*), count(*) FILTER (WHERE error_reason IS NOT NULL) FROM parsed GROUP BY 1"
        ).fetchall()
    )
    table = pa.table(
        {
            "source": [spec.name] * len(files),
            "batch_id": [result.batch_id] * len(files),
            "file": [f.key for f in files],
            "etag": [f.etag for f in files],
            "size": [f.size for f in files],
            "mtime": [f.mtime for f in files],
            "records_in": [per_file.get(i, (0, 0))[0] for i in range(len(files))],
            "quarantined": [per_file.get(i, (0, 0))[1] for i in range(len(files))],
        }
    )
    con.register("manifest_rows", table)
    write_parquet(con, lake, "SELECT * FROM manifest_rows", layout.manifest_file(spec.name, result.batch_id))
