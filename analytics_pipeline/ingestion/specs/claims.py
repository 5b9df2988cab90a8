"""The claims source: DynamoDB Streams change records of the ``ICPA_Claims`` table (seed 000).

The attributes the seed's stream processor extracts are typed columns; every other attribute
is kept in ``extra_attributes`` and, when scalar, promoted to a column of its own, so the
schema grows additively the way the Glue crawler grew it.
"""

from __future__ import annotations

import json
import re
from importlib import resources

from analytics_pipeline.ingestion.quarantine_reasons import WRONG_TYPE
from analytics_pipeline.ingestion.source_spec import SourceSpec
from analytics_pipeline.lake.duck import sql_literal

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

# The DynamoDB types json_transform reads of a typed attribute: those its conversion takes, plus NULL (a cleared
# value). A value of any other type (M, L, SS, BOOL for a number, ...) reads as a struct of NULLs, which the
# attribute's check reports. Fewer fields are less work for json_transform.
_READ_TYPES = {
    "text": ("S", "N", "BOOL", "NULL"),
    "number": ("N", "S", "NULL"),
    "boolean": ("BOOL", "S", "N", "NULL"),
    "timestamp": ("S", "N", "NULL"),
    "date": ("S", "NULL"),
}
_CLAIM_ID_TYPES = ("S", "N")

_CONVERSIONS = {
    "text": "coalesce({v}.S, {v}.N, {v}.BOOL)",
    "number": "finite_double(coalesce({v}.N, {v}.S))",
    "boolean": "dynamodb_boolean({v})",
    "timestamp": "coalesce(TRY_CAST(TRY_CAST({v}.S AS TIMESTAMPTZ) AS TIMESTAMP), "
    "epoch_to_timestamp(TRY_CAST({v}.N AS DOUBLE)))",
    "date": "coalesce(TRY_CAST({v}.S AS DATE), TRY_CAST(TRY_CAST({v}.S AS TIMESTAMPTZ) AS DATE))",
}


# Attributes beyond the typed ones that a sample of the files shows are read by the same json_transform
# (a second parse of every image costs more than the typed columns do); names that would need quoting
# or clash with another name ignoring case are left to the fallback.
_MAX_SAMPLED_ATTRIBUTES = 100
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _struct(extras: list[str] = ()) -> str:
    def value(types: tuple[str, ...]) -> dict[str, str]:
        return {t: "VARCHAR" for t in types}

    attrs = {"claim_id": value(_CLAIM_ID_TYPES), **{name: value(_READ_TYPES[kind]) for name, kind in CLAIM_ATTRIBUTES.items()}}
    return json.dumps({**attrs, **{name: "JSON" for name in extras}})


def _field(name: str) -> str:
    return 'a."' + name.replace('"', '""') + '"'


def _extras(extras: list[str] = ()) -> dict[str, str]:
    """Template values for the image's attributes beyond the typed ones.

    ``extras_sampled`` (a good row whose every image key is a typed or a sampled attribute) is worked out once;
    ``extra_attributes`` (JSON, NULL when there are none) is then written from the sampled attributes
    json_transform already read. Otherwise (an attribute the sample did not show, a repeated key, a JSON null)
    the typed attributes are patched out of the image. ``extra_kinds`` lists each sampled attribute present with
    the start of its JSON text up to the first colon (``name:{"S",other:{"N"``; DuckDB writes the JSON minified),
    which names its DynamoDB type, so staging can tell which attributes to promote without parsing
    ``extra_attributes`` again (see staging._extra_kinds); NULL where the image was patched.
    """
    accounted = " + ".join(f"({_field(n)} IS NOT NULL)::INT" for n in ["claim_id", *CLAIM_ATTRIBUTES, *extras])
    # a NULL operand makes || NULL, and concat_ws skips NULLs: no CASE per attribute
    members = ", ".join(f"{sql_literal(json.dumps(n) + ':')} || {_field(n)}" for n in extras)
    from_sample = f"nullif('{{' || concat_ws(',', {members}) || '}}', '{{}}')" if extras else "NULL"
    patched = f"nullif(json_merge_patch(image, {sql_literal(_null_patch())}), '{{}}')"
    kinds = ", ".join(f"{sql_literal(n + ':')} || split_part({_field(n)}, ':', 1)" for n in extras)
    listed_kinds = f"concat_ws(',', {kinds})" if extras else "''"
    return {
        "extras_sampled": f"CASE WHEN problems IS NULL THEN len(json_keys(image)) = {accounted} END",
        "extra_attributes": f"CASE WHEN extras_sampled THEN {from_sample} WHEN NOT extras_sampled THEN {patched} END",
        "extra_kinds": f"CASE WHEN extras_sampled THEN {listed_kinds} END",
    }


def sampled_attributes(lines: list[bytes]) -> dict[str, str]:
    """Template values for the fast path, learnt from sampled records: the attributes beyond the typed ones
    they carry, and the table names of their stream ARNs."""
    keys: set[str] = set()
    arns: set[str] = set()
    for line in lines:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # nested deeper than Python parses: DuckDB still reads it
            continue
        if not isinstance(record, dict):
            continue
        arn = record.get("eventSourceARN")
        if isinstance(arn, str) and len(arns) < _MAX_SAMPLED_ARNS and _fits_in_sql(arn):
            arns.add(arn)
        stream = record.get("dynamodb")
        image = (stream.get("NewImage") or stream.get("OldImage")) if isinstance(stream, dict) else None
        if isinstance(image, dict):
            keys.update(image)
    extras = _plain_extras(sorted(keys))
    return {"known_attribute_struct": _struct(extras), **_extras(extras),
            "table_name_from_arn": _table_name_from_arn(sorted(arns))}


# A record names its table only in its stream ARN. A file's records nearly always share one ARN, so the table
# names of the sampled ARNs are worked out here and compared as constants; other ARNs take the regex.
_MAX_SAMPLED_ARNS = 8
_TABLE_IN_ARN = ":table/([^/]+)"


def _fits_in_sql(text: str) -> bool:
    """Python reads a lone surrogate (``"\\ud800"``) as JSON, DuckDB neither as JSON nor in a query's text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _table_name_from_arn(sampled_arns: list[str] = ()) -> str:
    by_regex = f"regexp_extract(r.eventSourceARN, {sql_literal(_TABLE_IN_ARN)}, 1)"
    if not sampled_arns:
        return by_regex
    known = " ".join(
        f"WHEN {sql_literal(arn)} THEN {sql_literal(m.group(1) if (m := re.search(_TABLE_IN_ARN, arn)) else '')}"
        for arn in sampled_arns
    )
    return f"CASE r.eventSourceARN {known} ELSE {by_regex} END"


def _plain_extras(keys: list[str]) -> list[str]:
    taken = {name.lower() for name in ["claim_id", *CLAIM_ATTRIBUTES]}
    lowered: dict[str, int] = {}
    for key in keys:
        lowered[key.lower()] = lowered.get(key.lower(), 0) + 1
    plain = [k for k in keys if _PLAIN_NAME.fullmatch(k) and k.lower() not in taken and lowered[k.lower()] == 1]
    return sorted(plain)[:_MAX_SAMPLED_ATTRIBUTES]


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
            f"THEN problem({sql_literal(WRONG_TYPE)}, "
            f"'attribute {name} is not a {kind}: ' || left(json_extract(image, '$.{name}')::VARCHAR, 200)) END"
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
            **_extras(),
            "table_name_from_arn": _table_name_from_arn(),
            "known_attribute_names_csv": ", ".join(CLAIM_ATTRIBUTES),
        },
        sample_values=sampled_attributes,
        entity_key="claim_id",
        description="DynamoDB Streams change records of the claims system's table (ICPA_Claims)",
    )
