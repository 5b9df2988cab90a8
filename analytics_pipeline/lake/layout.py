"""Where each layer of the lake lives, relative to the lake root.

    raw/<source>/event_date=YYYY-MM-DD/part-0.parquet      typed, deduplicated change records
    staging/<source>/event_date=YYYY-MM-DD/batch-<id>.parquet  parsed, waiting for the day's merge
    errors/<source>/batch-<id>.parquet                     quarantined records with reasons
    manifests/<source>/batch-<id>.parquet                  which landing files a batch took in
    ledger/<source>/entry-<id>.parquet                     rows and file version each raw day was published with
    processed/<asset>/...  marts/<asset>/...               derived tables: data.parquet, one file per
                                                           event day, or (keyed tables) one per entity first day
    state/...                                              bookkeeping of incremental tables (not a view)
    ask_log/YYYY-MM-DD/ask-<id>.parquet                    one file per question `ask` answered or not (append-only)
"""

from __future__ import annotations

PARTITION_COLUMN = "event_date"
# Keyed tables (one row or rows per claim, session, run, job) are stored by the day their entity first appears.
BUCKET_COLUMN = "first_day"


def partition_day(key: str) -> str | None:
    """The event day of a file in a day's folder (``…/event_date=D/<file>``), else None."""
    parts = key.split("/")
    prefix = f"{PARTITION_COLUMN}="
    return parts[-2][len(prefix):] if len(parts) >= 2 and parts[-2].startswith(prefix) else None


def raw_partition(source: str, day: str) -> str:
    return f"raw/{source}/{PARTITION_COLUMN}={day}/part-0.parquet"


def raw_glob(source: str) -> str:
    return f"raw/{source}/*/*.parquet"


def staging_day(source: str, day: str) -> str:
    return f"staging/{source}/{PARTITION_COLUMN}={day}"


def staging_file(source: str, day: str, batch_id: str) -> str:
    return f"{staging_day(source, day)}/batch-{batch_id}.parquet"


def errors_file(source: str, batch_id: str) -> str:
    return f"errors/{source}/batch-{batch_id}.parquet"


def manifest_file(source: str, batch_id: str) -> str:
    return f"manifests/{source}/batch-{batch_id}.parquet"


LEDGER = "ledger"


def ledger_file(source: str, entry_id: str) -> str:
    return f"{LEDGER}/{source}/entry-{entry_id}.parquet"


ASK_LOG = "ask_log"


def ask_log_file(day: str, ask_id: str) -> str:
    return f"{ASK_LOG}/{day}/ask-{ask_id}.parquet"


def ask_log_glob() -> str:
    return f"{ASK_LOG}/*/*.parquet"


def table_file(layer: str, asset: str, partition: str | None = None) -> str:
    """One file per unpartitioned table, one per partition for partitioned ones."""
    if partition is None:
        return f"{layer}/{asset}/data.parquet"
    return f"{layer}/{asset}/{PARTITION_COLUMN}={partition}/part-0.parquet"


def table_glob(layer: str, asset: str, partitioned: bool) -> str:
    """Day partitions, or every file of the table: ``data.parquet`` and (keyed tables) its buckets, so a view
    stays valid when a keyed table moves between one file (empty) and buckets."""
    return f"{layer}/{asset}/*/*.parquet" if partitioned else f"{layer}/{asset}/**/*.parquet"


def keyed_state(layer: str, asset: str) -> str:
    """What a keyed table has taken in so far (input day versions, rows per bucket)."""
    return f"state/tables/{layer}/{asset}.json"
