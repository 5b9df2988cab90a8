"""The claims source: DynamoDB Streams change records of the ``ICPA_Claims`` table (seed 000).

The attributes the seed's stream processor extracts are typed columns; every other attribute
is kept in ``extra_attributes`` and, when scalar, promoted to a column of its own, so the
schema grows additively the way the Glue crawler grew it.
"""

from __future__ import annotations

import json
from importlib import resources

from analytics_pipeline.ingestion.source_spec import SourceSpec

# attribute → kind; kinds map to a DuckDB type and a conversion from the DynamoDB value.
CLAIM_ATTRIBUTES: dict[str, str] = {
    "status": "text",
    "claim_amount": "number",
    "payout_amount": "number",
    "ai_recommended_payout": "number",
    "textract_cost": "number",
    "bedrock_cost": "number",
    "total_aws_cost": "number",
    "textract_operation": "text",
    "fraud_score": "number",
    "confidence_score": "number",
    "ai_agreement_flag": "text",
    "adjuster_override": "boolean",
    "override_justification": "text",
    "processing_duration_ms": "number",
    "vehicle_type": "text",
    "region": "text",
    "incident_date": "date",
    "created_at": "timestamp",
    "updated_at": "timestamp",
}

_DYNAMODB_VALUE = {
    "S": "VARCHAR", "N": "VARCHAR", "BOOL": "VARCHAR", "NULL": "VARCHAR",
    "M": "JSON", "L": "JSON", "SS": "JSON", "NS": "JSON", "B": "VARCHAR", "BS": "JSON",
}

_CONVERSIONS = {
    "text": "coalesce({v}.S, {v}.N, {v}.BOOL)",
    "number": "finite_double(coalesce({v}.N, {v}.S))",
    "boolean": "dynamodb_boolean({v})",
    "timestamp": "coalesce(TRY_CAST(TRY_CAST({v}.S AS TIMESTAMPTZ) AS TIMESTAMP), "
    "epoch_to_timestamp(TRY_CAST({v}.N AS DOUBLE)))",
    "date": "coalesce(TRY_CAST({v}.S AS DATE), TRY_CAST(TRY_CAST({v}.S AS TIMESTAMPTZ) AS DATE))",
}


def _struct() -> str:
    attrs = {"claim_id": _DYNAMODB_VALUE, **{name: _DYNAMODB_VALUE for name in CLAIM_ATTRIBUTES}}
    return json.dumps(attrs)


def _columns() -> str:
    return ",\n    ".join(
        _CONVERSIONS[kind].format(v=f"a.{name}") + f" AS {name}" for name, kind in CLAIM_ATTRIBUTES.items()
    )


def _errors() -> str:
    """A present, non-NULL attribute whose converted column is NULL did not convert."""
    checks = []
    for name, kind in CLAIM_ATTRIBUTES.items():
        checks.append(
            f"CASE WHEN a.{name} IS NOT NULL AND a.{name}.\"NULL\" IS NULL AND {name} IS NULL "
            f"THEN 'attribute {name} is not a {kind}: ' || left(json_extract(image, '$.{name}')::VARCHAR, 200) END"
        )
    return ",\n                ".join(checks)


def _null_patch() -> str:
    return json.dumps({name: None for name in ["claim_id", *CLAIM_ATTRIBUTES]})


def claims_spec() -> SourceSpec:
    sql = resources.files(__package__)
    return SourceSpec(
        name="claims",
        records_sql_template=sql.joinpath("claims_records.sql").read_text(),
        line_envelopes_template=sql.joinpath("claims_envelopes_from_lines.sql").read_text(),
        json_envelopes_template=sql.joinpath("claims_envelopes_from_json.sql").read_text(),
        template_values={
            "known_attribute_struct": _struct(),
            "known_attribute_columns": _columns(),
            "known_attribute_errors": _errors(),
            "known_attribute_names_null_patch": _null_patch(),
            "known_attribute_names_csv": ", ".join(CLAIM_ATTRIBUTES),
            "known_attribute_names": "[" + ", ".join(f"'{name}'" for name in ["claim_id", *CLAIM_ATTRIBUTES]) + "]",
        },
        entity_key="claim_id",
        description="DynamoDB Streams change records of the claims table (seed 000)",
    )
