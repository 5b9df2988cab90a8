"""``training_data``: (query, intent, confidence) as JSON Lines for external training (seed 001)."""

import dagster as dg

from analytics_pipeline.lake import layout
from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.parquet import write_parquet
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.tables import has_files, parquet_scan
from analytics_pipeline.sources.conversations.pii_check import check_spec, written_rows_scan
from analytics_pipeline.sources.conversations.resource import ConversationsResource

TRAINING_DATA_KEY = "processed/training_data/training_data.jsonl"
MIN_CONFIDENCE = 0.8


@dg.asset(
    name="training_data", group_name="conversations", kinds={"json"}, deps=[dg.AssetKey("intents")],
    automation_condition=dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.in_progress() & ~dg.AutomationCondition.any_deps_in_progress(),
    description=f"Distinct (query, intent, confidence) with confidence ≥ {MIN_CONFIDENCE}, as JSON Lines under "
                f"lake/{TRAINING_DATA_KEY}: redacted text only, for training a better classifier elsewhere.",
    check_specs=[check_spec("training_data")],
)
def training_data(context: dg.AssetExecutionContext, lake: LakeResource, conversations: ConversationsResource):
    root = lake.lake_root()
    source = (parquet_scan(root, layout.table_glob("processed", "intents", partitioned=True))
              if has_files(root, "processed/intents")
              else "(SELECT NULL::VARCHAR AS query, NULL::VARCHAR AS intent, NULL::DOUBLE AS confidence WHERE false)")
    con = connect(root)
    try:
        con.execute(f"""CREATE TEMP TABLE result_rows AS
            SELECT query, intent, round(max(confidence), 4) AS confidence FROM {source}
            WHERE confidence >= {MIN_CONFIDENCE} GROUP BY query, intent ORDER BY query, intent""")
        rows = write_parquet(con, root, "SELECT * FROM result_rows", TRAINING_DATA_KEY, copy_options="FORMAT JSON")
        checks = written_rows_scan(con, conversations)
    finally:
        con.close()
    yield dg.MaterializeResult(metadata={"dagster/row_count": rows, "path": root.path(TRAINING_DATA_KEY)})
    yield from checks
