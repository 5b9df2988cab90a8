-- The fast path for clean JSON-lines files: DuckDB's JSON reader parses each line once into the same
-- envelope struct the line path builds. Files where this does not account for every line (or that hold a
-- bad record) are re-read through the line path, which keeps positions and original text.
-- No row number and no join here: a window over the scan would run the whole statement on one thread, and a
-- join may reorder the rows. The rows are written in scan order; staging then gives each row its file and line
-- from its file name and row number in what was written (staging._fast_rows).
scanned AS (
    SELECT *
    FROM read_json({fast_paths}, format = 'newline_delimited', filename = true, ignore_errors = true,
                   compression = '{fast_compression}', columns = {{
        'eventID': 'VARCHAR', 'eventName': 'VARCHAR', 'eventSource': 'VARCHAR', 'awsRegion': 'VARCHAR',
        'eventSourceARN': 'VARCHAR', 'tableName': 'VARCHAR',
        'dynamodb': 'STRUCT(ApproximateCreationDateTime VARCHAR, SequenceNumber VARCHAR,
                            ApproximateCreationDateTimePrecision VARCHAR,
                            Keys STRUCT(claim_id STRUCT(S VARCHAR, N VARCHAR)), NewImage JSON, OldImage JSON)'}})
),
envelopes AS (
    SELECT NULL::INTEGER AS file_seq, s.filename AS file, NULL::BIGINT AS line_no, NULL::INTEGER AS record_no, NULL::VARCHAR AS text,
           true AS is_json, NULL::VARCHAR AS issue, 'OBJECT' AS json_kind,
           {{'eventID': s.eventID, 'eventName': s.eventName, 'eventSource': s.eventSource, 'awsRegion': s.awsRegion,
             'eventSourceARN': s.eventSourceARN, 'tableName': s.tableName, 'dynamodb': s.dynamodb}} AS r
    FROM scanned s
)
