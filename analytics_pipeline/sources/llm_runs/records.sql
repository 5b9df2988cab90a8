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
            "total_cost": "VARCHAR", "models": "JSON", "provider": "VARCHAR", "tags": "JSON"}}') END AS r
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
        -- a models entry may hold its provider's usage object as it came ("usage"): its names count as if the entry
        -- carried them (a name the entry carries itself comes first); README: LLM runs input lists the names
        CASE WHEN json_type(r.models) = 'ARRAY' THEN json_transform(to_json(list_transform(json_extract(r.models, '$[*]'),
            lambda e: CASE WHEN json_type(e, '$.usage') = 'OBJECT' THEN json_merge_patch(json_extract(e, '$.usage'), e)
                           ELSE e END)), '[{{
            "model": "VARCHAR", "model_name": "VARCHAR", "name": "VARCHAR", "provider": "VARCHAR",
            "cost": "VARCHAR", "cost_usd": "VARCHAR",
            "input_tokens": "VARCHAR", "prompt_tokens": "VARCHAR", "inputTokens": "VARCHAR", "promptTokenCount": "VARCHAR",
            "output_tokens": "VARCHAR", "completion_tokens": "VARCHAR", "outputTokens": "VARCHAR",
            "candidatesTokenCount": "VARCHAR", "thoughtsTokenCount": "VARCHAR",
            "cache_read_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR", "reasoning_tokens": "VARCHAR",
            "cached_tokens": "VARCHAR", "cache_read_input_tokens": "VARCHAR", "cache_creation_input_tokens": "VARCHAR",
            "cacheReadInputTokens": "VARCHAR", "cacheWriteInputTokens": "VARCHAR", "cachedContentTokenCount": "VARCHAR",
            "prompt_tokens_details": {{"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR"}},
            "input_tokens_details": {{"cached_tokens": "VARCHAR", "cache_write_tokens": "VARCHAR"}},
            "completion_tokens_details": {{"reasoning_tokens": "VARCHAR"}},
            "output_tokens_details": {{"reasoning_tokens": "VARCHAR", "thinking_tokens": "VARCHAR"}}}}]') END AS raw_models,
        CASE WHEN json_type(r.tags) = 'OBJECT' THEN CAST(r.tags AS MAP(VARCHAR, JSON)) END AS raw_tags
    FROM parsed
),
counted AS (
    -- Each entry's token counts, as given (text) and as integers. Anthropic's cache_read_input_tokens and
    -- cache_creation_input_tokens (Bedrock's cacheRead/WriteInputTokens) are counted beside its input_tokens, and
    -- Gemini's thoughtsTokenCount beside its candidatesTokenCount; every other provider's cached and reasoning tokens
    -- are counted within the input and output tokens, as genai-prices' Usage counts them.
    SELECT *,
        list_transform(raw_models, lambda m: {{
            'model': coalesce(m.model, m.model_name, m.name),
            'provider': lower(trim(coalesce(m.provider, r.provider))),
            'cost': coalesce(m.cost, m.cost_usd),
            'given': [m.input_tokens, m.prompt_tokens, m.inputTokens, m.promptTokenCount,
                      m.output_tokens, m.completion_tokens, m.outputTokens, m.candidatesTokenCount, m.thoughtsTokenCount,
                      m.cache_read_tokens, m.cache_write_tokens, m.reasoning_tokens, m.cached_tokens,
                      m.cache_read_input_tokens, m.cache_creation_input_tokens,
                      m.cacheReadInputTokens, m.cacheWriteInputTokens, m.cachedContentTokenCount,
                      m.prompt_tokens_details.cached_tokens, m.prompt_tokens_details.cache_write_tokens,
                      m.input_tokens_details.cached_tokens, m.input_tokens_details.cache_write_tokens,
                      m.completion_tokens_details.reasoning_tokens, m.output_tokens_details.reasoning_tokens,
                      m.output_tokens_details.thinking_tokens],
            'input_tokens': CAST(list_sum([
                TRY_CAST(coalesce(m.input_tokens, m.prompt_tokens, m.inputTokens, m.promptTokenCount) AS BIGINT),
                TRY_CAST(m.cache_read_input_tokens AS BIGINT), TRY_CAST(m.cache_creation_input_tokens AS BIGINT),
                TRY_CAST(m.cacheReadInputTokens AS BIGINT), TRY_CAST(m.cacheWriteInputTokens AS BIGINT)]) AS BIGINT),
            'output_tokens': CAST(list_sum([
                TRY_CAST(coalesce(m.output_tokens, m.completion_tokens, m.outputTokens, m.candidatesTokenCount) AS BIGINT),
                TRY_CAST(m.thoughtsTokenCount AS BIGINT)]) AS BIGINT),
            'cache_read_tokens': TRY_CAST(coalesce(m.cache_read_tokens, m.cache_read_input_tokens, m.cacheReadInputTokens,
                m.prompt_tokens_details.cached_tokens, m.input_tokens_details.cached_tokens, m.cached_tokens,
                m.cachedContentTokenCount) AS BIGINT),
            'cache_write_tokens': TRY_CAST(coalesce(m.cache_write_tokens, m.cache_creation_input_tokens,
                m.cacheWriteInputTokens, m.prompt_tokens_details.cache_write_tokens,
                m.input_tokens_details.cache_write_tokens) AS BIGINT),
            'reasoning_tokens': TRY_CAST(coalesce(m.reasoning_tokens, m.completion_tokens_details.reasoning_tokens,
                m.output_tokens_details.reasoning_tokens, m.output_tokens_details.thinking_tokens,
                m.thoughtsTokenCount) AS BIGINT)}}) AS entries
    FROM shaped
),
typed AS (
    SELECT *,
        list_transform(entries, lambda m: {{
            'model': m.model, 'provider': m.provider,
            'input_tokens': m.input_tokens, 'output_tokens': m.output_tokens,
            'cache_read_tokens': m.cache_read_tokens, 'cache_write_tokens': m.cache_write_tokens,
            'reasoning_tokens': m.reasoning_tokens,
            'cost': finite_double(m.cost)}}) AS models_,
        -- the first entry (1-based) that cannot be read, and the first whose counts cannot be; 0 for none
        coalesce(list_position(list_transform(entries, lambda m:
            list_bool_or(list_transform(m.given, lambda v: v IS NOT NULL AND TRY_CAST(v AS BIGINT) IS NULL))
            OR (m.cost IS NOT NULL AND finite_double(m.cost) IS NULL)
            OR m.model IS NULL), true), 0) AS bad_model,
        coalesce(list_position(list_transform(entries, lambda m:
            list_bool_or(list_transform(m.given, lambda v: TRY_CAST(v AS BIGINT) < 0))
            OR coalesce(m.cache_read_tokens, 0) + coalesce(m.cache_write_tokens, 0) > coalesce(m.input_tokens, 0)
            OR coalesce(m.reasoning_tokens, 0) > coalesce(m.output_tokens, 0)), true), 0) AS impossible_model,
        list_filter(map_entries(raw_tags), lambda t: json_type(t.value) IN ('OBJECT', 'ARRAY')) AS bad_tags,
        parse_time(r.started_at) AS started_at_,
        parse_time(r.finished_at) AS finished_at_,
        parse_time(r.created_at) AS created_at_,
        parse_time(r.updated_at) AS updated_at_,
        finite_double(r.duration_seconds) AS duration_,
        finite_double(r.total_cost) AS total_cost_
    FROM counted
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
            CASE WHEN bad_model > 0
                 THEN problem({reason.invalid_model_entry},
                              'models entry without a model name or with non-numeric tokens/cost: '
                              -- the entry's fields with a value, as read (its usage object's names among them)
                              || json_merge_patch('{{}}', to_json(raw_models[bad_model]))) END,
            CASE WHEN impossible_model > 0 AND bad_model = 0
                 THEN problem({reason.invalid_model_entry},
                              'models entry with negative tokens, or more cached tokens than input tokens or reasoning '
                              || 'tokens than output tokens: '
                              || json_merge_patch('{{}}', to_json(raw_models[impossible_model]))) END,
            CASE WHEN r.tags IS NOT NULL AND json_type(r.tags) NOT IN ('OBJECT', 'NULL')
                 THEN problem({reason.wrong_type}, 'tags is not an object of names and values: ' || r.tags) END,
            CASE WHEN len(bad_tags) > 0
                 THEN problem({reason.wrong_type},
                              'tags.' || bad_tags[1].key || ' is not a text, number or true/false: '
                              || bad_tags[1].value) END,
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
    {record_provenance},
    CASE WHEN problems IS NOT NULL THEN text END AS original_text
FROM checked
