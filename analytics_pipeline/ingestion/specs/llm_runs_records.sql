-- Orchestrator run documents and job-state snapshots (seed 004) → one typed row per record.
-- Input: landing_lines(file_seq, file, line_no, text, issue). A str.format template: literal braces
-- are doubled; llm_runs.py fills in {known_keys_null_patch}, {min_event_time}, {max_event_time}.
-- A record is a run when it has run_id (or id) and run fields; a job snapshot when it has job_id only.
-- Missing optional fields are NULLs; a present field of the wrong type quarantines the record.
WITH lines AS (
    SELECT *, issue IS NULL AND json_valid(text) AS is_json FROM landing_lines
),
containers AS (
    SELECT *,
        CASE
            WHEN NOT is_json THEN NULL
            WHEN left(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), 1) = '[' THEN json_extract(text, '$[*]')
            -- a document may carry both lists: every member of each is a record
            WHEN json_type(text, '$.runs') = 'ARRAY' OR json_type(text, '$.jobs') = 'ARRAY' THEN list_concat(
                CASE WHEN json_type(text, '$.runs') = 'ARRAY' THEN json_extract(text, '$.runs[*]') ELSE []::JSON[] END,
                CASE WHEN json_type(text, '$.jobs') = 'ARRAY' THEN json_extract(text, '$.jobs[*]') ELSE []::JSON[] END)
        END AS members
    FROM lines
),
elements AS (
    SELECT file_seq, file, line_no, NULL::INTEGER AS record_no, text, is_json, issue FROM containers
    WHERE members IS NULL
    UNION ALL
    SELECT file_seq, file, line_no, unnest(range(1, len(members) + 1))::INTEGER AS record_no,
           unnest(members)::VARCHAR AS text, true AS is_json, NULL AS issue
    FROM containers WHERE members IS NOT NULL
),
parsed AS (
    SELECT *,
        CASE WHEN is_json THEN json_type(text) END AS json_kind,
        CASE WHEN is_json THEN md5(json(text)) END AS content_hash,  -- the document, whitespace and spelling aside
        CASE WHEN is_json THEN json_type(text, '$.qa') = 'OBJECT'
                               AND list_filter(json_keys(text, '$.qa'), lambda k: k <> 'status') <> [] END AS has_qa_details,
        CASE WHEN is_json THEN json_transform(text, '{{
            "run_id": "VARCHAR", "id": "VARCHAR", "job_id": "VARCHAR", "project": "VARCHAR",
            "project_name": "VARCHAR", "started_at": "VARCHAR", "finished_at": "VARCHAR",
            "created_at": "VARCHAR", "updated_at": "VARCHAR", "duration_seconds": "VARCHAR",
            "mode": "VARCHAR", "status": "VARCHAR", "qa_status": "VARCHAR", "qa": {{"status": "VARCHAR"}},
            "total_cost": "VARCHAR", "models": "JSON"}}') END AS r
    FROM elements
),
shaped AS (
    SELECT *,
        CASE
            WHEN json_kind <> 'OBJECT' THEN NULL
            WHEN r.job_id IS NOT NULL AND coalesce(r.run_id, r.id) IS NULL THEN 'job'
            WHEN r.job_id IS NOT NULL AND r.models IS NULL AND r.qa_status IS NULL AND r.mode IS NULL THEN 'job'
            WHEN coalesce(r.run_id, r.id) IS NOT NULL THEN 'run'
        END AS record_kind,
        CASE WHEN json_type(r.models) = 'ARRAY' THEN json_transform(r.models, '[{{
            "model": "VARCHAR", "model_name": "VARCHAR", "name": "VARCHAR",
            "input_tokens": "VARCHAR", "prompt_tokens": "VARCHAR",
            "output_tokens": "VARCHAR", "completion_tokens": "VARCHAR",
            "cost": "VARCHAR", "cost_usd": "VARCHAR"}}]') END AS raw_models
    FROM parsed
),
typed AS (
    SELECT *,
        list_transform(raw_models, lambda m: {{
            'model': coalesce(m.model, m.model_name, m.name),
            'input_tokens': TRY_CAST(coalesce(m.input_tokens, m.prompt_tokens) AS BIGINT),
            'output_tokens': TRY_CAST(coalesce(m.output_tokens, m.completion_tokens) AS BIGINT),
            'cost': finite_double(coalesce(m.cost, m.cost_usd))}}) AS models_,
        list_filter(raw_models, lambda m:
            (coalesce(m.input_tokens, m.prompt_tokens) IS NOT NULL
                AND TRY_CAST(coalesce(m.input_tokens, m.prompt_tokens) AS BIGINT) IS NULL)
            OR (coalesce(m.output_tokens, m.completion_tokens) IS NOT NULL
                AND TRY_CAST(coalesce(m.output_tokens, m.completion_tokens) AS BIGINT) IS NULL)
            OR (coalesce(m.cost, m.cost_usd) IS NOT NULL AND finite_double(coalesce(m.cost, m.cost_usd)) IS NULL)
            OR coalesce(m.model, m.model_name, m.name) IS NULL) AS bad_models,
        parse_time(r.started_at) AS started_at_,
        parse_time(r.finished_at) AS finished_at_,
        parse_time(r.created_at) AS created_at_,
        parse_time(r.updated_at) AS updated_at_,
        finite_double(r.duration_seconds) AS duration_,
        finite_double(r.total_cost) AS total_cost_
    FROM shaped
),
timed AS (
    SELECT *,
        CASE record_kind
            WHEN 'run' THEN coalesce(started_at_, finished_at_)
            WHEN 'job' THEN coalesce(updated_at_, finished_at_, started_at_, created_at_) END AS event_time_
    FROM typed
),
checked AS (
    SELECT *,
        nullif(concat_ws('; ',
            shape_problem(issue, is_json, json_kind, text, 'a run or job document'),
            CASE WHEN json_kind = 'OBJECT' AND record_kind IS NULL
                 THEN problem({reason.unknown_shape},
                              'unknown record shape: neither a run (run_id) nor a job snapshot (job_id)') END,
            unread(r.started_at, started_at_, {reason.invalid_time}, 'started_at is not a time: ' || r.started_at),
            unread(r.finished_at, finished_at_,
                   {reason.invalid_time}, 'finished_at is not a time: ' || r.finished_at),
            unread(r.created_at, created_at_, {reason.invalid_time}, 'created_at is not a time: ' || r.created_at),
            unread(r.updated_at, updated_at_, {reason.invalid_time}, 'updated_at is not a time: ' || r.updated_at),
            unread(r.duration_seconds, duration_,
                   {reason.wrong_type}, 'duration_seconds is not a number: ' || r.duration_seconds),
            unread(r.total_cost, total_cost_, {reason.wrong_type}, 'total_cost is not a number: ' || r.total_cost),
            CASE WHEN r.models IS NOT NULL AND json_type(r.models) <> 'ARRAY'
                 THEN problem({reason.wrong_type}, 'models is not a list') END,
            CASE WHEN len(bad_models) > 0
                 THEN problem({reason.invalid_model_entry},
                              'models entry without a model name or with non-numeric tokens/cost: '
                              || json_merge_patch('{{}}', to_json(bad_models[1]))) END,  -- the entry's fields with a value
            CASE WHEN record_kind IS NOT NULL AND event_time_ IS NULL
                 THEN problem({reason.missing_key},
                              'missing time: a run needs started_at or finished_at, a job one of its timestamps') END,
            CASE WHEN event_time_ < TIMESTAMP '{min_event_time}' OR event_time_ > TIMESTAMP '{max_event_time}'
                 THEN problem({reason.time_out_of_range},
                              'event time ' || event_time_ || ' outside the accepted range {min_event_time} .. {max_event_time}') END
        ), '') AS problems  -- each code US detail (quarantine_reasons.py), '; '-separated; NULL for a good record
    FROM timed
)
SELECT
    -- A run or job is delivered again as it progresses (running, finished, QA'd, priced): every delivery that
    -- differs is a version of its own, and only the identical document (whitespace, number and escape spelling
    -- aside) is a duplicate. Which version counts is decided later (llm_runs.py: LATEST_RUN_VERSION).
    CASE WHEN record_kind IS NOT NULL
         THEN CASE record_kind WHEN 'run' THEN coalesce(r.run_id, r.id) ELSE r.job_id END || '@' || left(content_hash, 20)
    END AS event_id,
    record_kind,
    event_time_ AS event_time,
    CAST(event_time_ AS DATE) AS event_date,
    CASE WHEN record_kind = 'run' THEN coalesce(r.run_id, r.id) ELSE r.run_id END AS run_id,
    r.job_id AS job_id,
    coalesce(r.project, r.project_name) AS project,
    lower(r.status) AS status,
    r.mode AS mode,
    lower(coalesce(r.qa_status, r.qa.status)) AS qa_status,
    started_at_ AS started_at,
    finished_at_ AS finished_at,
    created_at_ AS created_at,
    updated_at_ AS updated_at,
    coalesce(duration_, date_diff('millisecond', started_at_, finished_at_) / 1000.0) AS duration_seconds,
    models_ AS models,
    total_cost_ AS reported_total_cost,
    -- beyond the typed columns, every attribute is kept; of the qa object, its details (status is qa_status)
    nullif(json_merge_patch(CASE WHEN json_kind = 'OBJECT' THEN text END, '{known_keys_null_patch}',
                            CASE WHEN has_qa_details THEN '{{"qa": {{"status": null}}}}' ELSE '{{"qa": null}}' END), '{{}}') AS extra_attributes,
    file AS source_file,
    line_no AS source_line,
    record_no AS source_record,
    file_seq,
    reason_code(problems) AS error_reason,
    reason_detail(problems) AS reason_detail,
    CASE WHEN problems IS NOT NULL THEN text END AS original_text
FROM checked
