"""A run delivered again as it progresses: the most complete version counts, once."""

import json
from datetime import datetime, timedelta, timezone

from analytics_pipeline.runner import run_pipeline
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline_tests.conftest import landing_root

YESTERDAY = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()


def run_doc(**fields) -> dict:
    return {"run_id": "r-1", "project": "docs_bot", "started_at": f"{YESTERDAY}T10:00:00Z", "mode": "2-loop", **fields}


def test_finished_version_replaces_the_running_one_and_counts_once(lake_env):
    landing = landing_root(lake_env)
    running = run_doc(status="running", qa_status="not_run",
                      models=[{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost": 0.001}])
    finished = run_doc(status="completed", qa_status="passed", finished_at=f"{YESTERDAY}T10:05:00Z",
                       models=[{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "cost": 0.01}])
    only_finish = {"run_id": "r-2", "project": "docs_bot", "finished_at": f"{YESTERDAY}T11:00:00Z",
                   "models": [{"model": "gpt-4o", "input_tokens": 10, "output_tokens": 1, "cost": 0.5}]}
    landing.write_bytes((json.dumps(running) + "\n").encode(), "llm_runs", "a.jsonl")
    landing.write_bytes((json.dumps(finished) + "\n" + json.dumps(running) + "\n" + json.dumps(only_finish) + "\n")
                        .encode(), "llm_runs", "b.jsonl")

    (report,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == "llm_runs"]

    figures = report.figures
    assert (figures.records_in, figures.landed, figures.duplicates) == (4, 3, 1)  # the re-sent running copy
    runs = run_query(lake_env, "SELECT run_id, status, qa_status, total_tokens, cost, run_date::VARCHAR "
                               "FROM llm_run_costs ORDER BY run_id").rows
    assert runs == [("r-1", "completed", "passed", 1100, 0.01, YESTERDAY), ("r-2", None, "not_run", 11, 0.5, YESTERDAY)]
    summary = run_query(lake_env, "SELECT total_runs, total_tokens FROM run_summary").rows[0]
    assert summary == (2, 1111)
    day = run_query(lake_env, f"SELECT runs, cost FROM daily_runs WHERE date = DATE '{YESTERDAY}'").rows[0]
    assert day == (2, 0.51)


def _run(lake_env):
    (report,) = [r for r in run_pipeline(lake_env, progress=lambda _: None) if r.source == "llm_runs"]
    figures = report.figures
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates
    return report


def _lines(*documents) -> bytes:
    return "".join(json.dumps(d) + "\n" for d in documents).encode()


def test_a_later_delivery_that_carries_more_is_a_new_version_and_its_reported_cost_counts(lake_env):
    landing = landing_root(lake_env)
    finished = {"status": "completed", "qa_status": "passed", "finished_at": f"{YESTERDAY}T10:05:00Z"}
    unpriced = run_doc(**finished, models=[{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100}])
    snapshot = {"job_id": "j-1", "project": "docs_bot", "status": "completed", "updated_at": f"{YESTERDAY}T10:05:00Z"}
    landing.write_bytes(_lines(unpriced, snapshot), "llm_runs", "2026/a.jsonl")
    assert _run(lake_env).figures.landed == 2
    assert run_query(lake_env, "SELECT cost_source FROM llm_run_costs").rows == [("computed",)]

    # the same run with its reported cost and QA details, the first version again (a duplicate), and the job's
    # snapshot at the same time that also names its run and finish
    priced = run_doc(**finished, total_cost=0.42, qa={"status": "passed", "score": 0.93, "checks": ["links", "tone"]},
                     models=[{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "cost": 0.42}])
    richer_snapshot = {**snapshot, "run_id": "r-1", "finished_at": f"{YESTERDAY}T10:05:00Z"}
    landing.write_bytes(_lines(priced, unpriced, richer_snapshot), "llm_runs", "2026/b.jsonl")
    report = _run(lake_env)

    figures = report.figures
    assert (figures.records_in, figures.landed, figures.quarantined, figures.duplicates) == (3, 2, 0, 1)
    assert run_query(lake_env, "SELECT run_id, qa_status, cost, cost_source FROM llm_run_costs").rows == [
        ("r-1", "passed", 0.42, "reported")]
    assert run_query(lake_env, "SELECT total_runs, total_cost FROM run_summary").rows == [(1, 0.42)]
    details = run_query(lake_env, "SELECT extra_attributes FROM llm_runs").rows[0][0]
    assert json.loads(details) == {"qa": {"score": 0.93, "checks": ["links", "tone"]}}
    assert "qa" not in {row[0] for row in run_query(lake_env, "DESCRIBE llm_runs").rows}  # plain JSON: not promoted
    assert run_query(lake_env, "SELECT count(*) FROM llm_job_snapshots").rows == [(2,)]
    assert run_query(lake_env, "SELECT job_id, status, run_id, finished_at IS NOT NULL FROM llm_jobs_current").rows == [
        ("j-1", "completed", "r-1", True)]


def test_a_version_that_tells_less_does_not_replace_a_fuller_one_delivered_earlier(lake_env):
    """Delivery order decides only between versions that tell as much: a sparser copy sent late (out of order, or
    by a second producer) leaves the fuller version in place, whichever batch each arrives in."""
    landing = landing_root(lake_env)
    finished = {"status": "completed", "qa_status": "passed", "finished_at": f"{YESTERDAY}T10:05:00Z"}
    priced = run_doc(**finished, total_cost=0.42,
                     models=[{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "cost": 0.42}])
    sparse = run_doc(**finished, models=[{"model": "gpt-4o", "input_tokens": 1000}])
    full_snapshot = {"job_id": "j-1", "project": "docs_bot", "status": "completed", "run_id": "r-1",
                     "created_at": f"{YESTERDAY}T09:59:00Z", "updated_at": f"{YESTERDAY}T10:05:00Z"}
    sparse_snapshot = {"job_id": "j-1", "status": "completed", "updated_at": f"{YESTERDAY}T10:05:00Z"}
    landing.write_bytes(_lines(priced, full_snapshot), "llm_runs", "2026/a.jsonl")
    _run(lake_env)
    landing.write_bytes(_lines(sparse, sparse_snapshot), "llm_runs", "2026/b.jsonl")
    report = _run(lake_env)

    assert (report.figures.landed, report.figures.duplicates) == (2, 0)
    assert run_query(lake_env, "SELECT cost, cost_source, total_tokens FROM llm_run_costs").rows == [
        (0.42, "reported", 1100)]
    assert run_query(lake_env, "SELECT project, run_id FROM llm_jobs_current").rows == [("docs_bot", "r-1")]


# What a later delivery of a finished, QA'd run may add (status and QA unchanged), and how the lake shows it.
RUN_ADDITIONS = {
    "total cost": (lambda d: {**d, "total_cost": 0.42}, "reported_total_cost IS NOT NULL"),
    "a model's cost": (lambda d: _entry(d, cost=0.42), "models[1].cost IS NOT NULL"),
    "output tokens": (lambda d: _entry(d, output_tokens=100), "models[1].output_tokens IS NOT NULL"),
    "cached tokens": (lambda d: _entry(d, cache_read_tokens=200), "models[1].cache_read_tokens IS NOT NULL"),
    "reasoning tokens": (lambda d: _entry(d, output_tokens=100, reasoning_tokens=40),
                         "models[1].reasoning_tokens IS NOT NULL"),
    "a second model": (lambda d: {**d, "models": d["models"] + [{"model": "gpt-4o-mini", "input_tokens": 50}]},
                       "len(models) = 2"),
    "a provider": (lambda d: _entry(d, provider="openai"), "models[1].provider IS NOT NULL"),
    "QA details": (lambda d: {**d, "qa": {"status": "passed", "score": 0.9}},
                   "json_extract(extra_attributes, '$.qa.score') IS NOT NULL"),
    "tags": (lambda d: {**d, "tags": {"team": "docs"}}, "json_extract(extra_attributes, '$.tags') IS NOT NULL"),
}
# What a later snapshot of a job at the same updated_at (and status) may add.
JOB_ADDITIONS = {"run": {"run_id": "r-x"}, "project": {"project": "docs_bot"},
                 "created_at": {"created_at": f"{YESTERDAY}T09:00:00Z"},
                 "started_at": {"started_at": f"{YESTERDAY}T09:01:00Z"},
                 "finished_at": {"finished_at": f"{YESTERDAY}T10:05:00Z"}}


def _entry(document: dict, **fields) -> dict:
    return {**document, "models": [{**document["models"][0], **fields}]}


def test_whatever_a_version_adds_it_counts_in_either_delivery_order(lake_env):
    """Each kind of data a later delivery can add (costs, every kind of token, models, providers, QA details, tags; a
    job's run, project and times) makes it the version that counts; delivered the other way round (the fuller version
    first), the sparser one that comes later does not replace it."""
    landing = landing_root(lake_env)
    finished = {"status": "completed", "qa_status": "passed", "finished_at": f"{YESTERDAY}T10:05:00Z"}
    first, second = [], []
    for n, (kind, (add, _)) in enumerate(RUN_ADDITIONS.items()):
        sparse = run_doc(**finished, models=[{"model": "gpt-4o", "input_tokens": 1000}])
        first += [{**sparse, "run_id": f"later-{n}"}, add({**sparse, "run_id": f"earlier-{n}"})]
        second += [add({**sparse, "run_id": f"later-{n}"}), {**sparse, "run_id": f"earlier-{n}"}]
    for n, added in enumerate(JOB_ADDITIONS.values()):
        sparse = {"status": "completed", "updated_at": f"{YESTERDAY}T10:05:00Z"}
        first += [{**sparse, "job_id": f"later-{n}"}, {**sparse, **added, "job_id": f"earlier-{n}"}]
        second += [{**sparse, **added, "job_id": f"later-{n}"}, {**sparse, "job_id": f"earlier-{n}"}]
    landing.write_bytes(_lines(*first), "llm_runs", "2026/a.jsonl")
    _run(lake_env)
    landing.write_bytes(_lines(*second), "llm_runs", "2026/b.jsonl")
    figures = _run(lake_env).figures

    assert (figures.records_in, figures.landed, figures.duplicates) == (len(second), len(second), 0)
    for n, (kind, (_, shows)) in enumerate(RUN_ADDITIONS.items()):
        rows = run_query(lake_env, f"SELECT run_id, {shows} FROM llm_runs WHERE run_id IN ('later-{n}', 'earlier-{n}') "
                                   "ORDER BY run_id").rows
        assert rows == [(f"earlier-{n}", True), (f"later-{n}", True)], kind
    assert run_query(lake_env, "SELECT count(*) FROM llm_run_costs").rows == [(2 * len(RUN_ADDITIONS),)]
    for n, (kind, added) in enumerate(JOB_ADDITIONS.items()):
        (column,) = added
        rows = run_query(lake_env, f"SELECT job_id, {column} IS NOT NULL FROM llm_jobs_current "
                                   f"WHERE job_id IN ('later-{n}', 'earlier-{n}') ORDER BY job_id").rows
        assert rows == [(f"earlier-{n}", True), (f"later-{n}", True)], kind
