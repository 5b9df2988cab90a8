-- DynamoDB Streams change records of the claims table → one typed row per record.
-- Input: the envelope CTEs, built from landing lines (claims_envelopes_from_lines.sql) or, for clean
-- JSON-lines files, straight from DuckDB's JSON reader (claims_envelopes_from_json.sql). Output: the raw_claims
-- columns plus error_reason (a reason code, NULL for good rows), reason_detail and original_text (only for bad
-- rows) and extra_kinds (the types of the sampled extra attributes, for staging's promoted columns).
-- This is a str.format template: claims.py fills in the known attributes (their JSON structure,
-- typed columns, type checks) and the accepted event-time range; literal braces are doubled.
WITH {envelopes},
records AS (
    SELECT *,
        r.dynamodb.NewImage AS new_image,
        coalesce(r.dynamodb.NewImage, r.dynamodb.OldImage) AS image,
        TRY_CAST(r.dynamodb.ApproximateCreationDateTime AS DOUBLE) AS created_raw
    FROM envelopes
),
typed AS (
    SELECT *,
        json_transform(image, '{known_attribute_struct}') AS a,
        r.dynamodb.Keys AS k,  -- read typed by the envelope
        epoch_to_timestamp(created_raw) AS event_time_
    FROM records
),
converted AS (
    SELECT *, {known_attribute_columns} FROM typed
),
checked AS (
    SELECT *,
        nullif(concat_ws('; ',
            shape_problem(issue, is_json, json_kind, text, 'a change record'),
            CASE WHEN json_kind = 'OBJECT' AND r.dynamodb IS NULL AND r.eventName IS NULL
                 THEN problem({reason.unknown_shape}, 'unknown record shape: no "dynamodb" or "eventName" key') END,
            CASE WHEN json_kind = 'OBJECT' AND (r.dynamodb IS NOT NULL OR r.eventName IS NOT NULL) THEN concat_ws('; ',
                CASE WHEN r.eventID IS NULL OR r.eventID = '' THEN problem({reason.missing_key}, 'missing key eventID') END,
                CASE WHEN r.eventName IS NULL THEN problem({reason.missing_key}, 'missing key eventName')
                     WHEN r.eventName NOT IN ('INSERT', 'MODIFY', 'REMOVE')
                     THEN problem({reason.unknown_event_type}, 'unknown eventName ' || to_json(r.eventName)) END,
                CASE WHEN r.dynamodb.ApproximateCreationDateTime IS NULL
                     THEN problem({reason.missing_key}, 'missing key dynamodb.ApproximateCreationDateTime')
                     WHEN created_raw IS NULL OR isnan(created_raw) OR isinf(created_raw)
                     THEN problem({reason.invalid_time}, 'dynamodb.ApproximateCreationDateTime is not a number: '
                                  || r.dynamodb.ApproximateCreationDateTime)
                     WHEN event_time_ < TIMESTAMP '{min_event_time}' OR event_time_ > TIMESTAMP '{max_event_time}'
                     THEN problem({reason.time_out_of_range}, 'event time ' || event_time_
                                  || ' outside the accepted range {min_event_time} .. {max_event_time}') END,
                CASE WHEN r.eventName IN ('INSERT', 'MODIFY') AND r.dynamodb.NewImage IS NULL
                     THEN problem({reason.missing_key}, 'missing key dynamodb.NewImage for ' || r.eventName)
                     WHEN r.eventName = 'REMOVE' AND image IS NULL AND r.dynamodb.Keys IS NULL
                     THEN problem({reason.missing_key}, 'missing keys dynamodb.OldImage and dynamodb.Keys for REMOVE')
                     -- DuckDB writes the image minified, so an object starts with a brace: only other texts are parsed
                     WHEN image IS NOT NULL AND NOT starts_with(image, '{{') AND json_type(image) <> 'OBJECT'
                     THEN problem({reason.wrong_type}, 'dynamodb image is not an object') END,
                CASE WHEN coalesce(k.claim_id.S, k.claim_id.N, a.claim_id.S, a.claim_id.N) IS NULL
                     THEN problem({reason.missing_key}, 'missing key claim_id') END,
                {known_attribute_errors}
            ) END
        ), '') AS problems  -- each code US detail (quarantine_reasons.py), '; '-separated; NULL for a good record
    FROM converted
),
extras AS (
    SELECT *, {extras_sampled} AS extras_sampled FROM checked
)
SELECT
    r.eventID AS event_id,
    r.eventName AS event_type,
    event_time_ AS event_time,
    CAST(event_time_ AS DATE) AS event_date,
    r.dynamodb.SequenceNumber AS sequence_number,
    r.eventSource AS event_source,
    r.awsRegion AS aws_region,
    coalesce(r.tableName, {table_name_from_arn}) AS table_name,
    coalesce(k.claim_id.S, k.claim_id.N, a.claim_id.S, a.claim_id.N) AS claim_id,
    {known_attribute_names_csv},
    r.eventName = 'REMOVE' AS is_removed,
    {extra_attributes} AS extra_attributes,
    {extra_kinds} AS extra_kinds,
    {record_provenance},
    CASE WHEN problems IS NOT NULL THEN text END AS original_text
FROM extras
