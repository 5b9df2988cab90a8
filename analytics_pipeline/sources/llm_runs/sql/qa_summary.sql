-- QA across all runs; pass rate = passed / (passed + warning + failed), as in the seed.
SELECT
    count(*) FILTER (WHERE qa_status <> 'not_run') AS total_qa_runs,
    count(*) FILTER (WHERE qa_status = 'passed') AS qa_passed,
    count(*) FILTER (WHERE qa_status = 'warning') AS qa_warning,
    count(*) FILTER (WHERE qa_status = 'failed') AS qa_failed,
    count(*) FILTER (WHERE qa_status = 'error') AS qa_error,
    count(*) FILTER (WHERE qa_status = 'not_run') AS qa_not_run,
    coalesce(count(*) FILTER (WHERE qa_status = 'passed')
             / nullif(count(*) FILTER (WHERE qa_status IN ('passed', 'warning', 'failed')), 0), 0.0) AS pass_rate
FROM llm_run_costs
