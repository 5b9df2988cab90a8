-- DynamoDB Streams change records of the claims table → one typed row per record.
-- Input: landing_lines(file_seq, file, line_no, text, issue). Output columns: the raw_claims
-- columns plus error_reason (NULL for good rows) and original_text (only for bad rows).
-- This is a str.format template: claims.py fills in the known attributes (their JSON structure,
-- typed columns, type checks) and the accepted event-time range; literal braces are doubled.
WITH lines AS (
    SELECT *, issue IS NULL AND json_valid(text) AS is_json FROM landing_lines
),
concatenated AS (  -- Firehose without a delimiter writes records back to back
    SELECT file_seq, file, line_no, text, issue, parts
    FROM (
        SELECT *, string_split(regexp_replace(text, '\}}\s*\{{', '}}' || chr(30) || '{{', 'g'), chr(30)) AS parts
        FROM lines
        WHERE NOT is_json AND issue IS NULL AND regexp_matches(text, '\}}\s*\{{')
    )
    WHERE list_bool_and(list_transform(parts, lambda p: json_valid(p)))
),
values_ AS (
    SELECT l.file_seq, l.file, l.line_no, NULL::INTEGER AS part_no, l.text, l.is_json, l.issue
    FROM lines l ANTI JOIN concatenated c ON c.file_seq = l.file_seq AND c.line_no = l.line_no
    UNION ALL
    SELECT file_seq, file, line_no, unnest(range(1, len(parts) + 1))::INTEGER AS part_no,
           unnest(parts) AS text, true AS is_json, NULL AS issue
    FROM concatenated
),
containers AS (
    SELECT *,
        CASE
            WHEN NOT is_json THEN NULL
            WHEN left(ltrim(text), 1) = '[' THEN json_extract(text, '$[*]')
            WHEN contains(text, '"Records"') AND json_type(text, '$.Records') = 'ARRAY'
                THEN json_extract(text, '$.Records[*]')
        END AS members
    FROM values_
),
elements AS (
    SELECT file_seq, file, line_no, part_no AS record_no, text, is_json, issue FROM containers
    WHERE members IS NULL
    UNION ALL
    SELECT file_seq, file, line_no, unnest(range(1, len(members) + 1))::INTEGER AS record_no,
           unnest(members)::VARCHAR AS text, true AS is_json, NULL AS issue
    FROM containers WHERE members IS NOT NULL
),
decoded AS (  -- a Lambda reading the Kinesis stream gets each change record base64-encoded in kinesis.data
    SELECT file_seq, file, line_no, record_no, issue,
           CASE WHEN kinesis_text IS NOT NULL THEN kinesis_text ELSE text END AS text,
           CASE WHEN kinesis_text IS NOT NULL THEN json_valid(kinesis_text) ELSE is_json END AS is_json
    FROM (
        SELECT *, CASE WHEN is_json AND contains(text, '"kinesis"') AND json_type(text, '$.kinesis.data') = 'VARCHAR'
                       THEN TRY(decode(from_base64(json_extract_string(text, '$.kinesis.data'))))
                  END AS kinesis_text
        FROM elements)
),
envelopes AS (
    SELECT *,
        CASE WHEN is_json THEN json_type(text) END AS json_kind,
        CASE WHEN is_json THEN json_transform(text, '{{
            "eventID": "VARCHAR", "eventName": "VARCHAR", "eventSource": "VARCHAR",
            "awsRegion": "VARCHAR", "eventSourceARN": "VARCHAR", "tableName": "VARCHAR",
            "dynamodb": {{"ApproximateCreationDateTime": "VARCHAR", "SequenceNumber": "VARCHAR",
                         "ApproximateCreationDateTimePrecision": "VARCHAR",
                         "Keys": "JSON", "NewImage": "JSON", "OldImage": "JSON"}}}}') END AS r
    FROM decoded
),
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
        json_transform(r.dynamodb.Keys, '{{"claim_id": {{"S": "VARCHAR", "N": "VARCHAR"}}}}') AS k,
        epoch_to_timestamp(created_raw) AS event_time_
    FROM records
),
checked AS (
    SELECT *,
        nullif(concat_ws('; ',
            issue,
            CASE WHEN issue IS NULL AND NOT is_json THEN 'invalid JSON' END,
            CASE WHEN is_json AND json_kind <> 'OBJECT'
                 THEN 'unknown record shape: a JSON ' || json_kind_name(json_kind) || ', not a change record' END,
            CASE WHEN json_kind = 'OBJECT' AND r.dynamodb IS NULL AND r.eventName IS NULL
                 THEN 'unknown record shape: no "dynamodb" or "eventName" key' END,
            CASE WHEN json_kind = 'OBJECT' AND (r.dynamodb IS NOT NULL OR r.eventName IS NOT NULL) THEN concat_ws('; ',
                CASE WHEN r.eventID IS NULL OR r.eventID = '' THEN 'missing key eventID' END,
                CASE WHEN r.eventName IS NULL THEN 'missing key eventName'
                     WHEN r.eventName NOT IN ('INSERT', 'MODIFY', 'REMOVE')
                     THEN 'unknown eventName ' || to_json(r.eventName) END,
                CASE WHEN r.dynamodb.ApproximateCreationDateTime IS NULL
                     THEN 'missing key dynamodb.ApproximateCreationDateTime'
                     WHEN created_raw IS NULL OR isnan(created_raw) OR isinf(created_raw)
                     THEN 'dynamodb.ApproximateCreationDateTime is not a number: '
                          || r.dynamodb.ApproximateCreationDateTime
                     WHEN event_time_ < TIMESTAMP '{min_event_time}' OR event_time_ > TIMESTAMP '{max_event_time}'
                     THEN 'event time ' || event_time_ || ' outside the accepted range {min_event_time} .. {max_event_time}' END,
                CASE WHEN r.eventName IN ('INSERT', 'MODIFY') AND r.dynamodb.NewImage IS NULL
                     THEN 'missing key dynamodb.NewImage for ' || r.eventName
                     WHEN r.eventName = 'REMOVE' AND image IS NULL AND r.dynamodb.Keys IS NULL
                     THEN 'missing keys dynamodb.OldImage and dynamodb.Keys for REMOVE'
                     WHEN image IS NOT NULL AND json_type(image) <> 'OBJECT'
                     THEN 'dynamodb image is not an object' END,
                CASE WHEN coalesce(k.claim_id.S, k.claim_id.N, a.claim_id.S, a.claim_id.N) IS NULL
                     THEN 'missing key claim_id' END,
                {known_attribute_errors}
            ) END
        ), '') AS error_reason
    FROM typed
)
SELECT
    r.eventID AS event_id,
    r.eventName AS event_type,
    event_time_ AS event_time,
    CAST(event_time_ AS DATE) AS event_date,
    r.dynamodb.SequenceNumber AS sequence_number,
    r.eventSource AS event_source,
    r.awsRegion AS aws_region,
    coalesce(r.tableName, regexp_extract(r.eventSourceARN, ':table/([^/]+)', 1)) AS table_name,
    coalesce(k.claim_id.S, k.claim_id.N, a.claim_id.S, a.claim_id.N) AS claim_id,
    {known_attribute_columns},
    r.eventName = 'REMOVE' AS is_removed,
    nullif(json_merge_patch(image, '{known_attribute_names_null_patch}'), '{{}}') AS extra_attributes,
    file AS source_file,
    line_no AS source_line,
    record_no AS source_record,
    file_seq,
    error_reason,
    CASE WHEN error_reason IS NOT NULL THEN text END AS original_text
FROM checked
