"""Builders for DynamoDB Streams change records, shaped exactly as AWS emits them."""

from __future__ import annotations

import json
from datetime import datetime, timezone


def epoch(day: str, hour: int = 12, minute: int = 0) -> int:
    return int(datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00").replace(tzinfo=timezone.utc).timestamp())


def image(claim_id: str, status: str = "SUBMITTED", **attributes) -> dict:
    """A NewImage/OldImage: plain Python values become typed DynamoDB attribute values."""
    values = {"claim_id": claim_id, "status": status, **attributes}
    return {name: typed(value) for name, value in values.items()}


def typed(value) -> dict:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: typed(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [typed(v) for v in value]}
    return {"S": str(value)}


def stream_record(event_id: str, event_name: str, created: float, claim_id: str, new: dict | None = None,
                  old: dict | None = None) -> dict:
    """A record as a Lambda receives it from DynamoDB Streams (ApproximateCreationDateTime in seconds)."""
    dynamodb = {"ApproximateCreationDateTime": created, "Keys": {"claim_id": {"S": claim_id}},
                "SequenceNumber": "1" + event_id.encode().hex()[:20], "SizeBytes": 100,
                "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {"eventID": event_id, "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-2", "dynamodb": dynamodb,
            "eventSourceARN": "arn:aws:dynamodb:eu-west-2:123456789012:table/ICPA_Claims/stream/2026-01-01T00:00:00.000"}


def kinesis_record(event_id: str, event_name: str, created_ms: int, claim_id: str, new: dict | None = None,
                   old: dict | None = None) -> dict:
    """The Kinesis-Data-Streams-for-DynamoDB shape Firehose delivers (milliseconds)."""
    record = stream_record(event_id, event_name, created_ms, claim_id, new, old)
    return {"awsRegion": "eu-west-2", "eventID": event_id, "eventName": event_name, "userIdentity": None,
            "recordFormat": "application/json", "tableName": "ICPA_Claims",
            "dynamodb": {**record["dynamodb"], "ApproximateCreationDateTimePrecision": "MILLISECOND"},
            "eventSource": "aws:dynamodb"}


def jsonl(records: list) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def insert(event_id: str, claim_id: str, day: str, hour: int = 12, **attributes) -> dict:
    return stream_record(event_id, "INSERT", epoch(day, hour), claim_id, new=image(claim_id, **attributes))
