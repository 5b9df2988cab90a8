-- Landing lines → one envelope per change record: batches unnested, back-to-back records split,
-- base64 Kinesis payloads decoded; every line that is not a record keeps its text for the quarantine.
lines AS (
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
            WHEN left(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), 1) = '[' THEN json_extract(text, '$[*]')
            WHEN contains(text, '"Records"') AND json_type(text, '$.Records') = 'ARRAY'
                THEN json_extract(text, '$.Records[*]')
        END AS members
    FROM values_
),
members_ AS (
    SELECT file_seq, file, line_no, part_no, NULL::INTEGER AS member_no, text, is_json, issue FROM containers
    WHERE members IS NULL
    UNION ALL
    SELECT file_seq, file, line_no, part_no, unnest(range(1, len(members) + 1))::INTEGER AS member_no,
           unnest(members)::VARCHAR AS text, true AS is_json, NULL AS issue
    FROM containers WHERE members IS NOT NULL
),
elements AS (  -- (line, record) names one record: the records of back-to-back parts are numbered across the line
    SELECT file_seq, file, line_no, member_no AS record_no, text, is_json, issue FROM members_ WHERE part_no IS NULL
    UNION ALL
    SELECT file_seq, file, line_no,
           row_number() OVER (PARTITION BY file_seq, line_no ORDER BY part_no, member_no NULLS FIRST)::INTEGER,
           text, is_json, issue
    FROM members_ WHERE part_no IS NOT NULL
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
                         "Keys": {{"claim_id": {{"S": "VARCHAR", "N": "VARCHAR"}}}},
                         "NewImage": "JSON", "OldImage": "JSON"}}}}') END AS r
    FROM decoded
)
