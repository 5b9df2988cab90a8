"""``training_data``: (query, intent, confidence) as JSON Lines for external training (seed 001)."""

import json

import dagster as dg

from analytics_pipeline.conversations.intents import intents
from analytics_pipeline.lake.duck import connect
from analytics_pipeline.lake.resource import LakeResource
from analytics_pipeline.lake.views import register_lake_views
from analytics_pipeline.sources import SOURCE_SPECS

TRAINING_DATA_KEY = "processed/training_data/training_data.jsonl"
MIN_CONFIDENCE = 0.8


@dg.asset(
    name="training_data", group_name="conversations", kinds={"json"}, deps=[intents.key],
    automation_condition=dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.in_progress() & ~dg.AutomationCondition.any_deps_in_progress(),
    description=f"Distinct (query, intent, confidence) with confidence ≥ {MIN_CONFIDENCE}, as JSON Lines under "
                f"lake/{TRAINING_DATA_KEY}: redacted text only, for training a better classifier elsewhere.",
)
def training_data(context: dg.AssetExecutionContext, lake: LakeResource):
    root = lake.lake_root()
    con = connect(root)
    try:
        register_lake_views(con, root, SOURCE_SPECS)
        exists = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'intents'").fetchall()[0][0]
        rows = con.execute(
            f"""SELECT query, intent, max(confidence) AS confidence FROM intents
                WHERE confidence >= {MIN_CONFIDENCE} GROUP BY query, intent ORDER BY query, intent"""
        ).fetchall() if exists else []
    finally:
        con.close()
    text = "".join(json.dumps({"query": q, "intent": i, "confidence": round(c, 4)}) + "\n" for q, i, c in rows)
    root.write_bytes(text.encode(), TRAINING_DATA_KEY)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(rows), "path": root.path(TRAINING_DATA_KEY)})
