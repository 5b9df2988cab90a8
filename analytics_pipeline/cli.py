"""``analytics-pipeline``: demo, run, sql, ask, export, reprice, suggest, serve, retention, compact, dev."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from analytics_pipeline.dashboards.definition import DashboardDefinitionError
from analytics_pipeline.platform.metadata import human_number
from analytics_pipeline.serving.exports import FORMATS, json_rows
from analytics_pipeline.settings import Settings, SettingsError, load_settings
from analytics_pipeline.sources.registry import SOURCE_NAMES


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = None
    try:
        settings = load_settings(sources=SOURCE_NAMES)
        return args.handler(args, settings)
    except (UserError, SettingsError, DashboardDefinitionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the one place that turns failures into one line
        if not _is_environment_error(err):
            raise
        where = _s3_context(err, settings) + _database_context(err, settings)
        print(f"error: {where}{_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The console script. After a failure it exits without the interpreter's teardown: a failed step's
    traceback stays referenced inside Dagster and s3fs, and DuckDB's bindings would print every object
    it holds as a "leaked instance" — dozens of lines after the one-line error."""
    code = main()
    if code == 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="analytics-pipeline", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="write synthetic landing files, then run the pipeline")
    demo.add_argument("--days", type=_positive_int, default=14, help="days of history (default 14)")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--force", action="store_true", help="write demo files even if landing already has files")
    demo.set_defaults(handler=_demo)

    run = sub.add_parser("run", help="bring the lake up to date with the landing zone")
    run.add_argument("--full-refresh", action="store_true",
                     help="then recompute every derived table from the raw layer (after changing a mart's logic)")
    run.set_defaults(handler=_run)

    export = sub.add_parser("export", help="export tables; without names, the LLM runs analytics (analytics.json/.csv)")
    export.add_argument("marts", nargs="*", metavar="MART",
                        help="tables to export (default: the LLM runs analytics, as the orchestrator exports it — "
                             "summary, projects, models, timeseries — as analytics.json or analytics.csv; claims and "
                             "conversations: name their tables)")
    export.add_argument("--format", choices=FORMATS, default="json")
    export.add_argument("--out", default=None, help="output folder (default: <data dir>/exports)")
    export.set_defaults(handler=_export)

    reprice = sub.add_parser("reprice", help="recompute computed LLM costs for a period with the current prices")
    reprice.add_argument("--from", dest="start", required=True, type=_day, help="first day (YYYY-MM-DD)")
    reprice.add_argument("--to", dest="end", required=True, type=_day, help="last day (YYYY-MM-DD)")
    reprice.set_defaults(handler=_reprice)

    sql = sub.add_parser("sql", help="run a read-only query on the warehouse")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--dialect", choices=("duckdb", "athena"), default="duckdb")
    sql.set_defaults(handler=_sql)

    ask = sub.add_parser("ask", help="answer a question in plain language: a language model you bring writes the SQL "
                                     "(ANALYTICS_LLM_BASE_URL and ANALYTICS_LLM_MODEL, or ANALYTICS_LLM_PLUGIN)")
    ask.add_argument("question")
    ask.add_argument("--format", choices=("table", "json"), default="table")
    ask.set_defaults(handler=_ask)

    guide = sub.add_parser("suggest", help="the likeliest next intents after a sequence of intents")
    guide.add_argument("intents", nargs="+", metavar="INTENT")
    guide.add_argument("--user", default=None, help="a (pseudonymised) user id to personalise with")
    guide.set_defaults(handler=_suggest)

    retention = sub.add_parser("retention", help="list what ANALYTICS_RETENTION puts past its period; --apply deletes it")
    retention.add_argument("--apply", action="store_true", help="delete the listed files (default: dry run)")
    retention.set_defaults(handler=_retention)

    reingest = sub.add_parser("reingest", help="take a source's landing files in again at the next run (after raw "
                                               "records were lost: the check raw_rows_accounted says so)")
    reingest.add_argument("source", choices=SOURCE_NAMES, help="the source whose landing files are read again")
    reingest.set_defaults(handler=_reingest)

    compact = sub.add_parser("compact", help="rewrite small quarantine, manifest and raw ledger files into few files")
    compact.add_argument("--min-files", type=_positive_int, default=None,
                         help="compact a day/month once it holds this many small files (default 4)")
    compact.set_defaults(handler=_compact)
    serve = sub.add_parser("serve", help="serve the dashboards (HTML) and their JSON API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.set_defaults(handler=_serve)

    dev = sub.add_parser("dev", help="start the Dagster UI and daemon (`dagster dev`) with DAGSTER_HOME under the data dir")
    dev.add_argument("--host", default="127.0.0.1", help="address the UI binds (default 127.0.0.1, this machine only)")
    dev.add_argument("--port", type=int, default=3000, help="port of the UI (default 3000)")
    dev.set_defaults(handler=_dev)
    return parser


def _is_environment_error(err: Exception) -> bool:
    """Failures of the machine, the network or a run: reported, not a bug in this program. A full or damaged disk
    also reaches here as a database's own error (Dagster's SQLite storage, wrapped by SQLAlchemy; a DuckDB file)."""
    import sqlite3

    import duckdb
    from botocore.exceptions import BotoCoreError, ClientError

    from analytics_pipeline.lake.data_dir import DataDirBusy
    from analytics_pipeline.runner import RunFailed
    from analytics_pipeline.sources.llm_runs.prices import PriceTableError

    return _caused_by(err, (sqlite3.DatabaseError, duckdb.IOException)) or isinstance(
        err, (OSError, BotoCoreError, ClientError, RunFailed, DataDirBusy, PriceTableError))


def _caused_by(err: BaseException, kinds: tuple[type, ...]) -> bool:
    chain, seen = err, 0
    while chain is not None and seen < 10:
        if isinstance(chain, kinds):
            return True
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    return False


def _database_context(err: BaseException, settings: Settings | None) -> str:
    """Where an error of Dagster's SQLite databases comes from: SQLite says "disk I/O error" on a full disk."""
    import sqlite3

    if settings is None or not _caused_by(err, (sqlite3.DatabaseError,)):
        return ""
    return f"the Dagster database under {settings.dagster_home} (a full disk, or a damaged file?): "


_S3_SIGNS = re.compile(r"s3://|endpoint URL|An error occurred \(|\[Errno 121\]|Remote I/O|(Read|Connect) timeout|botocore|s3fs")


def _s3_context(err: BaseException, settings: Settings | None) -> str:
    """``S3 at <endpoint>: `` when the lake or landing zone is on S3 and the failure came from talking to it."""
    from botocore.exceptions import BotoCoreError, ClientError

    if settings is None or not (settings.lake_uri.startswith("s3://") or settings.landing_uri.startswith("s3://")):
        return ""
    chain, seen = err, 0
    while chain is not None and seen < 10:
        if isinstance(chain, (BotoCoreError, ClientError)) or _S3_SIGNS.search(str(chain)):
            return f"S3 at {settings.s3_endpoint_url or 'AWS'}: "
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    return ""


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _demo(args, settings: Settings) -> int:
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.sources.registry import all_sources

    settings = _demo_partitions_start(settings, args.days)
    landing = StorageRoot.of_landing(settings)
    for source, generate in ((s.name, s.demo) for s in all_sources()):
        existing = landing.list_files(source)
        if existing and not args.force:
            print(f"landing/{source} already holds {len(existing)} files; not adding demo data (use --force to add)")
            continue
        started, count, size = time.monotonic(), 0, 0
        for name, data in generate(days=args.days, seed=args.seed):
            landing.write_bytes(data, source, name)
            count, size = count + 1, size + len(data)
        print(f"wrote {count} demo files ({size / 1e6:.1f} MB) to {landing.path(source)} "
              f"in {time.monotonic() - started:.1f}s")
    return _run(args, settings)


def _demo_partitions_start(settings: Settings, days: int) -> Settings:
    """The daily partitions of a fresh demo start at its window's first day, not at ANALYTICS_PARTITIONS_START's
    default (2024-01-01): otherwise the UI shows ~1,050 empty days of every daily asset as missing. Kept in the data
    dir (``partitions_start``); left alone when the variable is set, or the lake already holds data from before."""
    from analytics_pipeline.lake.freshness import raw_days
    from analytics_pipeline.lake.storage import StorageRoot
    from analytics_pipeline.settings import (
        record_partitions_start,
        recorded_partitions_start,
    )

    first = (datetime.now(timezone.utc).date() - timedelta(days=days)).isoformat()
    if settings.partitions_start_set or settings.data_dir.startswith("s3://"):
        return settings
    recorded = recorded_partitions_start(settings.data_dir)
    if recorded is None:
        lake = StorageRoot.of_lake(settings)
        if any(raw_days(lake, source) for source in SOURCE_NAMES):
            return settings  # a lake from before: its partitions keep the start they were made with
    elif recorded <= first:
        return settings
    record_partitions_start(settings.data_dir, first)
    print(f"daily partitions start at {first}, the demo window's first day ({settings.data_dir}/partitions_start; "
          "ANALYTICS_PARTITIONS_START overrides it)")
    return load_settings(sources=SOURCE_NAMES)


def _run(args, settings: Settings) -> int:
    from analytics_pipeline.ingestion.manifest import skipped_summary
    from analytics_pipeline.runner import records_before_start, run_pipeline

    started = time.monotonic()
    reports = run_pipeline(settings, progress=lambda line: print(f"  {line}", flush=True),
                           full_refresh=getattr(args, "full_refresh", False))
    header = ("source", "files", "records in", "landed", "quarantined", "duplicates", "days", "data through")
    figures = [r.figures for r in reports]
    rows = [(r.source, f.files, f.records_in, f.landed, f.quarantined, f.duplicates, r.days, r.data_through or "-")
            for r, f in zip(reports, figures)]
    print()
    print(_table(header, rows))
    for r in reports:
        if r.carried_over:
            print(f"{r.source}: records in counts {r.carried_over:,} rows an earlier, interrupted run (or the `dev` "
                  "daemon) had staged; this run merged them")
        if r.merged_elsewhere:
            print(f"{r.source}: records in leaves out {r.merged_elsewhere:,} rows this run staged whose merge another "
                  "process (the `dev` daemon) did")
        if r.skipped:
            print(f"{r.source}: {skipped_summary(r.skipped)} (hidden or unfinished names, or not .json/.jsonl/.ndjson)")
        if r.deferred:
            print(f"{r.source}: {len(r.deferred)} landing files changed while this run read them, left for a later "
                  f"run (once they are still): {', '.join(r.deferred[:5])}{', ...' if len(r.deferred) > 5 else ''}")
        if r.figures.reasons:
            print(f"{r.source}: quarantined {', '.join(f'{n:,} {reason}' for reason, n in r.figures.reasons.items())} "
                  "(ingest_errors: reason, reason_detail)")
    print(f"\ndone in {time.monotonic() - started:.1f}s; warehouse: {settings.warehouse_path}")
    site = os.path.join(settings.data_dir, "site", "index.html")
    print(f"dashboards: {site} (or `analytics-pipeline serve`)" if os.path.exists(site)
          else "dashboards: none yet (they are made with the first data)")
    for source, (count, first) in records_before_start(settings).items():
        print(f"warning: {source}: {count:,} records from {first} on are before the partitions start "
              f"{settings.partitions_start} and were quarantined (kept in ingest_errors): to take them in, set "
              f"ANALYTICS_PARTITIONS_START={first} (or edit {settings.data_dir}/partitions_start) and run "
              f"`analytics-pipeline reingest {source}`, then `run`", file=sys.stderr)
    for r in reports:
        if r.lost:  # a warning, not a failure: a loss that cannot be read again would fail every later run
            print(f"warning: {r.source}: raw_rows_accounted: {r.lost}", file=sys.stderr)
    failed = [r for r in reports if r.error]
    for r in failed:
        print(f"error: {_s3_context(r.exception, settings)}{r.source}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _export(args, settings: Settings) -> int:
    from pathlib import Path

    from analytics_pipeline.serving.exports import export
    from analytics_pipeline.serving.sql_runner import QueryError

    out = Path(args.out) if args.out else Path(settings.data_dir) / "exports"
    _views_here(settings)
    try:
        paths = export(settings, args.marts, args.format, out)
    except QueryError as err:
        raise UserError(str(err)) from None
    for path in paths:
        print(path)
    if not args.marts:  # the files' names (the orchestrator's own) do not say which domain they hold
        print("note: these are the LLM runs analytics (summary, projects, models, timeseries); claims and "
              "conversations are exported by naming their tables, e.g. `export claims_current conversation_insights`",
              file=sys.stderr)
    return 0


def _reprice(args, settings: Settings) -> int:
    from analytics_pipeline.sources.llm_runs.prices import GENAI_PRICES
    from analytics_pipeline.runner import rematerialize_days

    if args.end < args.start:
        raise UserError("--to is before --from")
    days = [args.start + timedelta(days=n) for n in range((args.end - args.start).days + 1)]
    rematerialize_days(settings, "llm_runs", [d.isoformat() for d in days],
                       progress=lambda line: print(f"  {line}", flush=True))
    overrides = f" and the overrides of {settings.model_prices_path}" if settings.model_prices_path else ""
    print(f"re-priced {len(days)} days ({args.start} .. {args.end}) with {GENAI_PRICES}{overrides}")
    return 0


def _suggest(args, settings: Settings) -> int:
    from analytics_pipeline.serving.guidance import NextIntentGuide
    from analytics_pipeline.serving.sql_runner import QueryError

    try:
        guide = NextIntentGuide.from_warehouse(settings)
    except QueryError as err:
        raise UserError(str(err)) from None
    unknown = guide.unknown_intents(args.intents)
    if unknown:  # an answer from the overall mix would look like advice about an intent nobody has seen
        raise UserError(f"unknown intent{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                        f"known: {', '.join(guide.known_intents)}")
    started = time.perf_counter()
    suggestions = guide.suggest(args.intents, args.user)
    elapsed_us = (time.perf_counter() - started) * 1e6
    print(_table(("next intent", "probability", "based on"),
                 [(s.intent, round(s.probability, 4), s.basis) for s in suggestions]))
    print(f"\nlookup: {elapsed_us:.0f} µs")
    return 0


def _views_here(settings: Settings) -> None:
    """The warehouse's views hold absolute paths: after the data dir moved, rebuild them before reading."""
    import duckdb

    from analytics_pipeline.serving.warehouse import views_follow_the_data_dir

    try:
        before = views_follow_the_data_dir(settings)
    except duckdb.Error as err:  # a damaged or unreadable warehouse: one line, as every reader of it says
        raise UserError(_one_line(err)) from None
    if before is not None:
        print(f"note: the warehouse's views read {before}, not this data dir's lake (was the data dir moved or "
              f"copied?): rebuilt them for {settings.lake_uri}", file=sys.stderr)


def _sql(args, settings: Settings) -> int:
    from analytics_pipeline.serving.exports import unique_names
    from analytics_pipeline.serving.sql_runner import QueryError, run_query

    _views_here(settings)
    try:
        result = run_query(settings, args.query, args.dialect, truncate=True)
    except QueryError as err:
        raise UserError(str(err)) from None
    if args.format == "csv":  # RFC 4180: with CRLF line ends the csv module also quotes a cell holding a CR
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    elif args.format == "json":
        print(json.dumps(json_rows(unique_names(result.columns), result.rows), indent=2, allow_nan=False))
    else:
        print(_table(result.columns, result.rows))
    if result.truncated:
        print(f"note: only the first {len(result.rows):,} rows: {result.truncated}; add a LIMIT or an aggregate, "
              "or `export` the table", file=sys.stderr)
    return 0


def _ask(args, settings: Settings) -> int:
    from analytics_pipeline.ask.answer import ANSWERED, as_json, ask, failure, summary
    from analytics_pipeline.ask.history import record
    from analytics_pipeline.ask.models import configured_model
    from analytics_pipeline.serving.sql_runner import QueryError

    model = configured_model(settings.language_model)
    _views_here(settings)
    try:
        answer = ask(settings, args.question, model)
    except QueryError as err:  # no warehouse to ask about
        raise UserError(str(err)) from None
    if args.format == "json":
        print(json.dumps(as_json(answer), indent=2, allow_nan=False))
    elif answer.sql:
        print(f"{answer.sql}\n")
        if answer.outcome == ANSWERED:
            print(f"{_table(answer.result.columns, answer.result.rows)}\n\n{summary(answer)}")
    record(settings, answer)
    if answer.outcome != ANSWERED:
        print(f"error: {failure(answer)}", file=sys.stderr)
        return 1
    if answer.result.truncated:
        print(f"note: only the first {len(answer.result.rows):,} rows: {answer.result.truncated}", file=sys.stderr)
    return 0


def _retention(args, settings: Settings) -> int:
    from analytics_pipeline.runner import refresh_lake, run_operation

    report = run_operation(settings, "retention_job", "lake_retention", {"apply": args.apply})
    print(f"retention rules: {report.rules} (ANALYTICS_RETENTION); today {report.today} UTC")
    print(_table(("layer", "source", "day", "files", "bytes", "rows"), report.rows_for_table()))
    totals = f"{report.files} files, {report.bytes:,} bytes, {report.rows:,} rows"
    if not report.applied:
        print(f"\ndry run: would delete {totals}; run with --apply to delete")
        return 0
    if report.lake_changed:
        refresh_lake(settings)
    kept = f"; kept {len(report.kept_changed)} files replaced since listing" if report.kept_changed else ""
    print(f"\ndeleted {totals}{kept}" + ("; lake tables and views refreshed" if report.lake_changed else ""))
    return 0


def _reingest(args, settings: Settings) -> int:
    from analytics_pipeline.runner import reingest

    report = reingest(settings, args.source)
    print(f"{args.source}: forgot {report.manifests} manifest files; the next `analytics-pipeline run` reads "
          f"{report.landing_files} landing files again (records already in the lake count as duplicates). "
          f"Moved to {settings.lake_uri.rstrip('/')}/{report.folder}/.")
    if report.damaged:
        print(f"{len(report.damaged)} manifests could not be read ({', '.join(report.damaged[:3])}"
              f"{', ...' if len(report.damaged) > 3 else ''}): moved aside too; the quarantine files were kept (records "
              "quarantined again will show twice in ingest_errors)")
    if report.gone:
        print(f"{len(report.gone)} files taken in before are no longer in the landing zone ({', '.join(report.gone[:3])}"
              f"{', ...' if len(report.gone) > 3 else ''}): their records cannot be read again, and the quarantine "
              "files were kept (records quarantined again will show twice in ingest_errors)")
    return 0


def _compact(args, settings: Settings) -> int:
    from analytics_pipeline.runner import run_operation

    config = {} if args.min_files is None else {"min_files": args.min_files}
    results = run_operation(settings, "compaction_job", "lake_compaction", config)
    print(_table(("layer", "source", "bucket", "files in", "bytes in", "files out", "bytes out", "rows"),
                 [(r.layer, r.source, r.bucket, r.files_in, r.bytes_in, 1, r.bytes_out, r.rows_out) for r in results]))
    print(f"\ncompacted {sum(r.files_in for r in results)} files into {len(results)}")
    return 0


def _serve(args, settings: Settings) -> int:
    from analytics_pipeline.dashboards.site import site_dir
    from analytics_pipeline.web.server import make_server

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number (0-65535)")
    _views_here(settings)
    server = make_server(settings, args.host, args.port)
    host, port = server.server_address[:2]
    if not (site_dir(settings) / "data").is_dir():
        print(f"no dashboards under {site_dir(settings)} yet: run `analytics-pipeline demo` or `run`; "
              "they appear here when generated", flush=True)
    _stop_on_sigterm()  # before the line that says it serves: whoever waits for it may send SIGTERM right after
    print(f"serving dashboards on http://{host}:{port}/ (API: /api/v1/dashboards); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


# `dagster dev` warns at every start that it is superseded by `dg dev` (dagster-dg-cli). `dg dev` loads a dg project
# (a [tool.dg] section, a defs/ package), not this repository's workspace.yaml; until the project moves to that
# layout, `dagster dev` is what runs the UI, and its warning (the start of its message, for this warning only) is
# silenced here so that a start prints what matters.
_DEV_SUPERSEDED = "ignore:Function `dev_command` is superseded:FutureWarning"


def _stop_on_sigterm() -> None:
    """SIGTERM (``kill``, ``docker stop``, systemd) stops the server, whatever the parent process left behind: a
    signal mask and an ignored disposition are inherited, so a server started by a process that blocked or ignored
    SIGTERM for a moment (as some libraries do around starting helper processes) would not stop on it otherwise."""

    def stop(signum, frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _dev(args, settings: Settings) -> int:
    from analytics_pipeline.runner import dagster_instance

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number (1-65535)")
    dagster_instance(settings)
    warnings = [w for w in os.environ.get("PYTHONWARNINGS", "").split(",") if w]
    os.environ["PYTHONWARNINGS"] = ",".join([*warnings, _DEV_SUPERSEDED])
    # Like `serve`: dispositions set to "ignore" and blocked signals survive exec and pass on to the UI, the
    # daemon and the code server, so `dev` started by a process that ignored or blocked them (a script, a CI
    # step, nohup) would not stop on Ctrl-C or SIGTERM. Python installs its KeyboardInterrupt handler only for
    # a SIGINT that is not ignored; `dagster dev` turns SIGTERM into the same shutdown of its processes.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    os.execvp("dagster", ["dagster", "dev", "--host", args.host, "--port", str(args.port)])
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Rows for people: NULL says so (an empty text stays blank), floats are rounded (``human_number``); the csv and
    json formats keep every digit."""
    cells = [[str(h) for h in header]] + [[NULL if v is None else _fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths)) for row in cells[1:]]
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines)


NULL = "NULL"


def _fmt(value) -> str:
    return human_number(value) if isinstance(value, float) else str(value)


def _numeric(text: str) -> bool:
    if text == NULL:
        return True  # aligned with the numbers of its column
    try:
        float(text)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    console()
