"""A Lambda reading the Kinesis stream gets each DynamoDB change record base64-encoded in kinesis.data."""

import base64
import json

import duckdb

from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline_tests.conftest import lake_root, landing_root
from analytics_pipeline_tests.records import epoch, image, kinesis_record


def kinesis_event(*payloads: bytes) -> dict:
    return {"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": str(n),
                                     "data": base64.b64encode(p).decode()}, "eventSource": "aws:kinesis"}
                        for n, p in enumerate(payloads)]}


def test_base64_kinesis_payloads_are_decoded_and_bad_ones_quarantined(lake_env):
    record = kinesis_record("k-1", "INSERT", epoch("2026-03-01", 9) * 1000, "C-1", new=image("C-1", claim_amount=12.5))
    event = kinesis_event(json.dumps(record).encode(), b"not json", b"\xff\xfe")
    landing, lake = landing_root(lake_env), lake_root(lake_env)
    landing.write_bytes(json.dumps(event).encode() + b"\n", "claims", "lambda.jsonl")

    result = stage_batch(lake, landing, claims_spec(), landing.list_files("claims"), "2024-01-01")

    assert (result.figures.records_in, result.figures.landed, result.figures.quarantined) == (3, 1, 2)
    staged = duckdb.sql(f"SELECT event_id, claim_id, claim_amount, event_time::VARCHAR FROM "
                        f"'{lake.path('staging/claims/*/*.parquet')}'").fetchall()
    assert staged == [("k-1", "C-1", 12.5, "2026-03-01 09:00:00")]
    errors = duckdb.sql(f"SELECT record, reason, reason_detail FROM '{lake.path('errors/claims/*.parquet')}' "
                        "ORDER BY record").fetchall()
    assert errors == [(2, "invalid_json", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
                      (3, "unknown_shape", 'unknown record shape: no "dynamodb" or "eventName" key')]
