"""LLM run marts (seed 004) on lakes built by the real pipeline; every number is recomputed in plain Python.

Three lakes, each built once per module by ``run_pipeline``:

* ``hand_lake``: a dozen hand-written run documents and job snapshots covering reported, computed and
  unpriced costs, missing fields, a run across midnight, the month boundary, out-of-order job snapshots,
  a re-delivered run and bad records;
* ``checks_lake``: two runs (yesterday small, today ten times bigger), refreshed under four budgets
  to steer the budget, QA-floor and cost-spike checks (no budget at all: see test_llm_exports.py);
* ``demo_llm_lake``: the demo producer's files, compared with an aggregation over the landing JSON.

Dates are relative to today (UTC), so the tests do not rot; every expectation is derived from the same
dates, so a run on the first of a month (when "the first of this month" is today and "the last day of the
previous month" is yesterday) still holds.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

import analytics_pipeline.sources.llm_runs as llm_runs_package
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.lakes import built_lake, utc_now

PRICES_FILE = Path(llm_runs_package.__file__).with_name("model_prices.json")
SOURCE = "llm_runs"


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Dates (UTC) and record builders
# --------------------------------------------------------------------------------------------------

TODAY = utc_now().date()
YESTERDAY = TODAY - timedelta(days=1)
FIRST_OF_MONTH = TODAY.replace(day=1)
LAST_OF_PREVIOUS_MONTH = FIRST_OF_MONTH - timedelta(days=1)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}Z"


def jsonl(*records) -> bytes:
    """JSON Lines; a str is written as it is (a damaged line)."""
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n").encode()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------------

def rows(settings: Settings, sql: str) -> list[dict]:
    result = run_query(settings, sql)
    return [dict(zip(result.columns, row)) for row in result.rows]


def one(settings: Settings, sql: str) -> dict:
    found = rows(settings, sql)
    assert len(found) == 1, found
    return found[0]


CHECK_ASSETS = {
    "budget_below_70_percent": "run_summary",
    "budget_below_90_percent": "run_summary",
    "budget_not_exceeded": "run_summary",
    "qa_pass_rate_at_least_floor": "run_summary",
    "no_cost_spike": "daily_runs",
}


def latest_check_evaluations() -> dict[str, dg.AssetCheckEvaluation]:
    """The newest recorded evaluation of each LLM check, from the persistent instance in DAGSTER_HOME."""
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for name, asset in CHECK_ASSETS.items()]
    with dg.DagsterInstance.get() as instance:
        records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    found = {}
    for key, record in records.items():
        assert record.event is not None, f"{key.name} was planned but never evaluated"
        found[key.name] = record.event.dagster_event.asset_check_evaluation_data
    return found


# --------------------------------------------------------------------------------------------------
# The reference model: the seed's semantics, written out in Python
# --------------------------------------------------------------------------------------------------

def load_price_table(path: Path = PRICES_FILE) -> dict[str, list[tuple[date, float, float]]]:
    table: dict[str, list[tuple[date, float, float]]] = {}
    for entry in json.loads(Path(path).read_text())["prices"]:
        table.setdefault(entry["model"].lower(), []).append(
            (date.fromisoformat(entry["effective_from"]), float(entry["input_per_1k"]), float(entry["output_per_1k"])))
    return table


def price_on(prices: dict, model: str, day: date) -> tuple[date, float, float] | None:
    """The price in force on ``day``: the newest entry that took effect on or before it."""
    in_force = [p for p in prices.get(model.lower(), []) if p[0] <= day]
    return max(in_force, key=lambda p: p[0]) if in_force else None


def first_present(mapping: dict, *names):
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


@dataclass
class Usage:
    run_id: str
    model: str
    input_tokens: int
    output_tokens: int
    cost: float | None
    computed_cost: float | None
    cost_source: str
    price_version: str | None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Run:
    run_id: str
    project: str
    started: datetime
    finished: datetime | None
    duration: float | None
    mode: str | None
    status: str | None
    qa: str
    usage: list[Usage]
    reported_total: float | None

    @property
    def cost(self) -> float:
        known = [u.cost for u in self.usage if u.cost is not None]
        if known:
            return sum(known)
        return self.reported_total if self.reported_total is not None else 0.0

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in self.usage)

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in self.usage)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def cost_source(self) -> str:
        if not self.usage:
            return "reported" if self.reported_total is not None else "none"
        sources = {u.cost_source for u in self.usage}
        return sources.pop() if len(sources) == 1 else "mixed"


def reference_run(doc: dict, prices: dict) -> Run:
    run_id = doc.get("run_id") or doc.get("id")
    started = parse_time(doc["started_at"])
    finished = parse_time(doc["finished_at"]) if doc.get("finished_at") else None
    duration = doc.get("duration_seconds")
    if duration is None and finished is not None:
        duration = (finished - started).total_seconds()
    qa = (doc.get("qa_status") or (doc.get("qa") or {}).get("status") or "not_run").lower()
    models = doc.get("models") or []
    total = doc.get("total_cost")
    usage = []
    for m in models:
        name = first_present(m, "model", "model_name", "name")
        tokens_in = first_present(m, "input_tokens", "prompt_tokens") or 0
        tokens_out = first_present(m, "output_tokens", "completion_tokens") or 0
        reported = first_present(m, "cost", "cost_usd")
        price = price_on(prices, name, started.date())
        computed = (tokens_in * price[1] + tokens_out * price[2]) / 1000 if price else None
        if reported is not None:
            cost, source, version = float(reported), "reported", None
        elif len(models) == 1 and total is not None:  # a one-model run's total is that model's cost
            cost, source, version = float(total), "reported", None
        elif price is not None:
            cost, source, version = computed, "computed", f"{name.lower()}@{price[0].isoformat()}"
        else:
            cost, source, version = None, "unpriced", None
        usage.append(Usage(run_id, name, tokens_in, tokens_out, cost, computed, source, version))
    status = doc.get("status")
    return Run(run_id, doc.get("project") or doc.get("project_name"), started, finished, duration,
               doc.get("mode"), status.lower() if status else None, qa, usage, total)


STATUS_RANK = {"completed": 0, "failed": 0, "cancelled": 0, "running": 1}


def current_jobs(snapshots: list[dict]) -> dict[str, str]:
    """job_id → status of its latest snapshot (same time: the furthest-along status)."""
    latest: dict[str, tuple] = {}
    for s in snapshots:
        when = parse_time(first_present(s, "updated_at", "finished_at", "started_at", "created_at"))
        key = (when, -STATUS_RANK.get(s["status"], 2))
        if s["job_id"] not in latest or key > latest[s["job_id"]][0]:
            latest[s["job_id"]] = (key, s["status"])
    return {job: status for job, (_, status) in latest.items()}


def pass_rate(passed: int, warning: int, failed: int) -> float | None:
    judged = passed + warning + failed
    return passed / judged if judged else None


def qa_counts(runs: list[Run]) -> dict[str, int]:
    counts = Counter(r.qa for r in runs)
    return {status: counts[status] for status in ("passed", "warning", "failed", "error", "not_run")}


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def expected_run_summary(runs: list[Run], jobs: dict[str, str], budget: float | None, now: datetime) -> dict:
    qa = qa_counts(runs)
    total_cost = sum(r.cost for r in runs)
    month_cost = sum(r.cost for r in runs if (r.started.year, r.started.month) == (now.year, now.month))
    statuses = Counter(jobs.values())
    return {
        "total_runs": len(runs), "total_jobs": len(jobs),
        "total_tokens": sum(r.total_tokens for r in runs), "total_cost": total_cost,
        "avg_cost_per_run": total_cost / len(runs) if runs else 0.0,
        "avg_duration_seconds": mean([r.duration for r in runs if r.duration is not None]),
        "jobs_completed": statuses["completed"], "jobs_failed": statuses["failed"],
        "jobs_cancelled": statuses["cancelled"], "jobs_running": statuses["running"], "jobs_queued": statuses["queued"],
        "runs_2loop": sum(r.mode == "2-loop" for r in runs), "runs_3loop": sum(r.mode == "3-loop" for r in runs),
        "qa_total_qa_runs": len(runs) - qa["not_run"], "qa_passed": qa["passed"], "qa_warning": qa["warning"],
        "qa_failed": qa["failed"], "qa_error": qa["error"], "qa_not_run": qa["not_run"],
        "qa_pass_rate": pass_rate(qa["passed"], qa["warning"], qa["failed"]) or 0.0,
        "monthly_budget": budget, "current_month_cost": month_cost,
        "budget_remaining": None if budget is None else budget - month_cost,
        "budget_used_ratio": month_cost / budget if budget else None,
    }


def expected_project_costs(runs: list[Run]) -> list[dict]:
    out = []
    for project in sorted({r.project for r in runs}):
        mine = [r for r in runs if r.project == project]
        qa = qa_counts(mine)
        out.append({
            "project_name": project, "runs_count": len(mine), "last_run_time": max(r.started for r in mine),
            "total_tokens": sum(r.total_tokens for r in mine), "total_cost": sum(r.cost for r in mine),
            "avg_duration_seconds": mean([r.duration for r in mine if r.duration is not None]),
            "qa_passed": qa["passed"], "qa_warning": qa["warning"], "qa_failed": qa["failed"],
            "qa_error": qa["error"], "qa_not_run": qa["not_run"],
            "qa_pass_rate": pass_rate(qa["passed"], qa["warning"], qa["failed"]),
        })
    return sorted(out, key=lambda p: (-p["total_cost"], p["project_name"]))


def expected_model_costs(runs: list[Run]) -> list[dict]:
    usage = [u for r in runs for u in r.usage]
    grand_total = sum(u.cost for u in usage if u.cost is not None)
    out = []
    for model in sorted({u.model for u in usage}):
        mine = [u for u in usage if u.model == model]
        cost = sum(u.cost for u in mine if u.cost is not None)
        out.append({
            "model_name": model, "input_tokens": sum(u.input_tokens for u in mine),
            "output_tokens": sum(u.output_tokens for u in mine), "total_tokens": sum(u.total_tokens for u in mine),
            "total_cost": cost, "usage_count": len({u.run_id for u in mine}),
            "cost_share": cost / grand_total if grand_total else 0.0,
            "computed_cost_rows": sum(u.cost_source == "computed" for u in mine),
            "unpriced_rows": sum(u.cost_source == "unpriced" for u in mine),
        })
    return sorted(out, key=lambda m: (-m["total_cost"], m["model_name"]))


def expected_daily_runs(runs: list[Run], days: int, today: date) -> list[dict]:
    out = []
    for n in range(days - 1, -1, -1):
        day = today - timedelta(days=n)
        mine = [r for r in runs if r.started.date() == day]
        qa = qa_counts(mine)
        out.append({"date": day, "runs": len(mine), "tokens": sum(r.total_tokens for r in mine),
                    "cost": sum(r.cost for r in mine), "qa_passed": qa["passed"], "qa_warning": qa["warning"],
                    "qa_failed": qa["failed"], "qa_error": qa["error"], "qa_not_run": qa["not_run"]})
    return out


def assert_row(actual: dict, expected: dict) -> None:
    """Every expected field, floats to 1e-9 relative; nothing left unchecked but what is named."""
    for key, value in expected.items():
        assert key in actual, f"missing column {key}"
        if isinstance(value, float):
            assert actual[key] == approx(value), f"{key}: {actual[key]!r} != {value!r}"
        else:
            assert actual[key] == value, f"{key}: {actual[key]!r} != {value!r}"


# --------------------------------------------------------------------------------------------------
# The hand-sized lake
# --------------------------------------------------------------------------------------------------

HAND_DAYS = 9        # ANALYTICS_TIMESERIES_DAYS: runs fall on at most 7 distinct days, so >= 2 days are empty
HAND_BUDGET = 2.0    # ANALYTICS_MONTHLY_BUDGET

R_REPORTED = {  # per-model costs reported, total reported too
    "run_id": "run-reported", "project": "alpha", "started_at": at(ago(4), 10), "finished_at": at(ago(4), 10, 5),
    "duration_seconds": 300.0, "mode": "2-loop", "status": "completed", "qa_status": "passed",
    "models": [{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "cost": 0.0125},
               {"model": "claude-3-haiku", "input_tokens": 2000, "output_tokens": 400, "cost": 0.001}],
    "total_cost": 0.0135,
}
R_MIDNIGHT = {  # 23:50 two days ago → 00:20 yesterday: counted on its start day
    "run_id": "run-midnight", "project": "alpha", "started_at": at(ago(2), 23, 50), "finished_at": at(ago(1), 0, 20),
    "mode": "3-loop", "status": "completed", "qa_status": "warning",
    "models": [{"model": "gpt-4o", "input_tokens": 3000, "output_tokens": 1000, "cost": 0.0175}],
    "total_cost": 0.0175,
}
R_COMPUTED = {  # no cost anywhere: priced from model_prices.json
    "run_id": "run-computed", "project": "beta", "started_at": at(ago(3), 9), "finished_at": at(ago(3), 9, 2),
    "mode": "2-loop", "status": "completed", "qa_status": "failed",
    "models": [{"model": "gpt-4o-mini", "input_tokens": 10000, "output_tokens": 2000}],
}
R_UNPRICED = {  # a model the price table does not know
    "run_id": "run-unpriced", "project": "beta", "started_at": at(ago(1), 12), "finished_at": at(ago(1), 12, 1),
    "mode": "2-loop", "status": "completed", "qa_status": "passed",
    "models": [{"model": "mystery-llm", "input_tokens": 500, "output_tokens": 100}],
}
R_MIXED = {  # computed + unpriced + reported (alias field names) in one run
    "run_id": "run-mixed", "project": "beta", "started_at": at(ago(1), 14), "finished_at": at(ago(1), 14, 10),
    "mode": "3-loop", "status": "completed", "qa_status": "passed",
    "models": [{"model_name": "claude-3-5-sonnet", "prompt_tokens": 2000, "completion_tokens": 300},
               {"model": "mystery-llm", "input_tokens": 100, "output_tokens": 50},
               {"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.002}],
}
R_MISSING = {  # no mode, no status, no qa_status, no finished_at
    "run_id": "run-missing", "project": "gamma", "started_at": at(ago(1), 15),
    "models": [{"model": "claude-3-5-sonnet", "input_tokens": 1000, "output_tokens": 100, "cost": 0.0045}],
}
R_PREVIOUS_MONTH = {  # the last day of the previous month: not this month's cost
    "run_id": "run-previous-month", "project": "alpha", "started_at": at(LAST_OF_PREVIOUS_MONTH, 20),
    "finished_at": at(LAST_OF_PREVIOUS_MONTH, 20, 10), "mode": "3-loop", "status": "completed", "qa_status": "passed",
    "models": [{"model": "gpt-4o", "input_tokens": 20000, "output_tokens": 5000, "cost": 0.1}], "total_cost": 0.1,
}
R_FIRST_OF_MONTH = {  # the first of this month; one model + total_cost only → reported
    "run_id": "run-first-of-month", "project": "gamma", "started_at": at(FIRST_OF_MONTH, 0, 0, 5),
    "finished_at": at(FIRST_OF_MONTH, 0, 3), "mode": "3-loop", "status": "failed", "qa_status": "error",
    "models": [{"model": "o3-mini", "input_tokens": 1000, "output_tokens": 2000}], "total_cost": 0.02,
}
R_TODAY = {  # "id", "project_name" and a nested qa verdict; a duration but no finish time
    "id": "run-today", "project_name": "alpha", "started_at": at(TODAY, 0, 0, 1), "duration_seconds": 42.0,
    "mode": "2-loop", "status": "running", "qa": {"status": "PASSED"},
    "models": [{"model": "gpt-4o-mini", "input_tokens": 4000, "output_tokens": 1000}],
}
R_OFFSET = {  # 01:30 on the first of this month at UTC+2 is 23:30 UTC on the last day of the previous month
    "run_id": "run-offset", "project": "beta", "started_at": f"{FIRST_OF_MONTH.isoformat()}T01:30:00+02:00",
    "finished_at": f"{FIRST_OF_MONTH.isoformat()}T01:40:00+02:00", "mode": "2-loop", "status": "completed",
    "qa_status": "passed", "models": [{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost": 0.05}],
    "total_cost": 0.05,
}
VALID_RUNS = [R_REPORTED, R_MIDNIGHT, R_COMPUTED, R_UNPRICED, R_MIXED, R_MISSING, R_PREVIOUS_MONTH,
              R_FIRST_OF_MONTH, R_TODAY, R_OFFSET]

TRUNCATED = '{"run_id": "run-truncated", "project": "alpha", "started_at": "' + at(ago(1), 8)
R_BAD_TOKENS = {"run_id": "run-bad-tokens", "project": "beta", "started_at": at(ago(1), 9),
                "models": [{"model": "gpt-4o", "input_tokens": "lots", "output_tokens": 10}]}
R_BAD_COST = {"run_id": "run-bad-cost", "project": "beta", "started_at": at(ago(1), 10), "total_cost": "cheap",
              "mode": "2-loop", "models": []}


def snapshot(job_id: str, status: str, updated: str, created: str, **extra) -> dict:
    return {"job_id": job_id, "project": "alpha", "status": status, "created_at": created, "updated_at": updated,
            **extra}


J1 = at(ago(3), 8, 58)
J2 = at(ago(1), 8)
J4 = at(ago(4), 9)
J5 = at(ago(2), 10)
J6 = at(ago(2), 11)
# job-1: queued → running → completed, delivered newest first; job-2: queued → running (still running);
# job-3: only queued; job-4: failed; job-5: cancelled; job-6: running and completed stamped the same second.
JOBS_FILE_1 = [
    snapshot("job-1", "completed", at(ago(3), 9, 2, 30), J1, run_id="run-computed", started_at=at(ago(3), 9),
             finished_at=at(ago(3), 9, 2, 30)),
    snapshot("job-2", "running", at(ago(1), 8, 5), J2, started_at=at(ago(1), 8, 5)),
    snapshot("job-4", "failed", at(ago(4), 9, 30), J4, finished_at=at(ago(4), 9, 30)),
    snapshot("job-6", "completed", J6, J6, finished_at=J6),
]
JOBS_FILE_2 = [
    snapshot("job-1", "running", at(ago(3), 9), J1, run_id="run-computed", started_at=at(ago(3), 9)),
    snapshot("job-3", "queued", at(TODAY, 0, 0, 2), at(TODAY, 0, 0, 2)),
    snapshot("job-4", "queued", J4, J4),
    snapshot("job-4", "running", at(ago(4), 9, 1), J4),
    snapshot("job-5", "cancelled", at(ago(2), 10, 5), J5, finished_at=at(ago(2), 10, 5)),
    snapshot("job-6", "running", J6, J6, started_at=J6),
]
JOBS_FILE_3 = [
    snapshot("job-1", "queued", J1, J1),
    snapshot("job-2", "queued", J2, J2),
    snapshot("job-5", "queued", J5, J5),
    snapshot("job-6", "queued", at(ago(2), 10, 59), at(ago(2), 10, 59)),
]
ALL_SNAPSHOTS = JOBS_FILE_1 + JOBS_FILE_2 + JOBS_FILE_3

HAND_FILES = [
    ("hand/runs-a.jsonl", jsonl(R_REPORTED, R_MIDNIGHT, R_COMPUTED, TRUNCATED, R_BAD_TOKENS)),
    ("hand/runs-b.jsonl.gz", gzip.compress(jsonl(R_UNPRICED, R_MIXED, R_MISSING, R_REPORTED, R_BAD_COST), mtime=0)),
    ("hand/runs-c.json",
     (json.dumps({"runs": [R_PREVIOUS_MONTH, R_FIRST_OF_MONTH, R_TODAY, R_OFFSET]}, indent=2) + "\n").encode()),
    ("hand/jobs-1.jsonl", jsonl(*JOBS_FILE_1)),
    ("hand/jobs-2.jsonl", jsonl(*JOBS_FILE_2)),
    ("hand/jobs-3.jsonl", jsonl(*JOBS_FILE_3)),
]
HAND_RECORDS = 5 + 5 + 4 + len(ALL_SNAPSHOTS)


@pytest.fixture(scope="module")
def hand_lake(tmp_path_factory):
    with built_lake(tmp_path_factory, "hand", {SOURCE: HAND_FILES}, ANALYTICS_TIMESERIES_DAYS=HAND_DAYS,
                    ANALYTICS_MONTHLY_BUDGET=HAND_BUDGET) as lake:
        yield lake


@pytest.fixture(scope="module")
def hand_runs() -> dict[str, Run]:
    prices = load_price_table()
    return {run.run_id: run for run in (reference_run(doc, prices) for doc in VALID_RUNS)}


def test_hand_lake_counts_reconcile(hand_lake):
    report = hand_lake.reports[SOURCE]
    figures = report.figures
    assert figures.files == len(HAND_FILES)
    assert figures.records_in == HAND_RECORDS
    assert figures.quarantined == 3
    assert figures.duplicates == 1  # run-reported delivered twice
    assert figures.landed == len(VALID_RUNS) + len(ALL_SNAPSHOTS)
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates


def test_bad_records_are_quarantined_with_a_reason(hand_lake):
    errors = rows(hand_lake.settings, f"SELECT file, line, reason, reason_detail, original_text FROM ingest_errors "
                                      f"WHERE source = '{SOURCE}' ORDER BY file, line")
    by_line = {(e["file"].removeprefix(f"{SOURCE}/"), e["line"]): e for e in errors}
    assert set(by_line) == {("hand/runs-a.jsonl", 4), ("hand/runs-a.jsonl", 5), ("hand/runs-b.jsonl.gz", 5)}
    truncated = by_line[("hand/runs-a.jsonl", 4)]
    assert truncated["reason"] == "invalid_json" and truncated["original_text"] == TRUNCATED
    cut = TRUNCATED.rindex('"')  # the string the line is cut in
    assert truncated["reason_detail"] == (
        f"invalid JSON: Unterminated string starting at: line 1 column {cut + 1} (char {cut})")
    bad_tokens = by_line[("hand/runs-a.jsonl", 5)]
    assert bad_tokens["reason"] == "invalid_model_entry"
    assert bad_tokens["reason_detail"] == ("models entry without a model name or with non-numeric tokens/cost: "
                                           '{"model":"gpt-4o","input_tokens":"lots","output_tokens":"10"}')
    assert json.loads(bad_tokens["original_text"]) == R_BAD_TOKENS
    bad_cost = by_line[("hand/runs-b.jsonl.gz", 5)]
    assert (bad_cost["reason"], bad_cost["reason_detail"]) == ("wrong_type", "total_cost is not a number: cheap")
    landed = {r["run_id"] for r in rows(hand_lake.settings, "SELECT run_id FROM llm_runs")}
    assert not landed & {"run-truncated", "run-bad-tokens", "run-bad-cost"}


def test_every_run_lands_once(hand_lake, hand_runs):
    counts = rows(hand_lake.settings, "SELECT run_id, count(*) AS n FROM llm_runs GROUP BY run_id")
    assert {r["run_id"]: r["n"] for r in counts} == {run_id: 1 for run_id in hand_runs}
    costs = rows(hand_lake.settings, "SELECT run_id FROM llm_run_costs")
    assert sorted(r["run_id"] for r in costs) == sorted(hand_runs)


def test_computed_cost_comes_from_the_price_table(hand_lake):
    entry = [p for p in json.loads(PRICES_FILE.read_text())["prices"]
             if p["model"] == "gpt-4o-mini" and p["effective_from"] == "2024-07-18"]
    assert entry == [{"model": "gpt-4o-mini", "effective_from": "2024-07-18", "input_per_1k": 0.00015,
                      "output_per_1k": 0.0006}]
    row = one(hand_lake.settings, "SELECT * FROM llm_model_usage WHERE run_id = 'run-computed'")
    # 10,000 input tokens at $0.00015/1k + 2,000 output tokens at $0.0006/1k
    assert 10000 / 1000 * 0.00015 + 2000 / 1000 * 0.0006 == approx(0.0027)
    assert row["cost"] == approx(0.0027)
    assert (row["cost_source"], row["price_version"], row["reported_cost"]) == \
        ("computed", "gpt-4o-mini@2024-07-18", None)
    run = one(hand_lake.settings, "SELECT cost, cost_source FROM llm_run_costs WHERE run_id = 'run-computed'")
    assert run["cost"] == approx(0.0027) and run["cost_source"] == "computed"


def test_unpriced_model_costs_nothing_and_breaks_nothing(hand_lake):
    usage = rows(hand_lake.settings, "SELECT * FROM llm_model_usage WHERE model = 'mystery-llm' ORDER BY run_id")
    assert [u["run_id"] for u in usage] == ["run-mixed", "run-unpriced"]
    for u in usage:
        assert u["cost_source"] == "unpriced" and u["price_version"] is None and u["computed_cost"] is None
        assert u["cost"] in (None, 0.0)
    run = one(hand_lake.settings, "SELECT cost, cost_source, total_tokens FROM llm_run_costs "
                                  "WHERE run_id = 'run-unpriced'")
    assert run == {"cost": 0.0, "cost_source": "unpriced", "total_tokens": 600}
    model = one(hand_lake.settings, "SELECT total_cost, cost_share, unpriced_rows FROM model_costs "
                                    "WHERE model_name = 'mystery-llm'")
    assert model["cost_share"] == 0.0 and model["unpriced_rows"] == 2
    assert model["total_cost"] == 0.0  # the seed's ModelSummary.total_cost is a float, not unknown


def test_model_usage_rows(hand_lake, hand_runs):
    actual = {(r["run_id"], r["model"]): r for r in rows(hand_lake.settings, "SELECT * FROM llm_model_usage")}
    expected = {(u.run_id, u.model): (run, u) for run in hand_runs.values() for u in run.usage}
    assert set(actual) == set(expected)
    for key, (run, u) in expected.items():
        row = actual[key]
        assert row["event_date"] == run.started.date(), key  # the start day, also for the run across midnight
        assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == \
            (u.input_tokens, u.output_tokens, u.total_tokens), key
        assert (row["cost_source"], row["price_version"]) == (u.cost_source, u.price_version), key
        if u.cost is None:
            assert row["cost"] in (None, 0.0), key
        else:
            assert row["cost"] == approx(u.cost), key
        assert row["computed_cost"] == (None if u.computed_cost is None else approx(u.computed_cost)), key
        assert (row["project"], row["mode"], row["qa_status"]) == (run.project, run.mode, run.qa), key


def test_run_costs_rows(hand_lake, hand_runs):
    actual = {r["run_id"]: r for r in rows(hand_lake.settings, "SELECT * FROM llm_run_costs")}
    assert set(actual) == set(hand_runs)
    for run_id, run in hand_runs.items():
        assert_row(actual[run_id], {
            "project": run.project, "started_at": run.started, "finished_at": run.finished,
            "duration_seconds": run.duration, "mode": run.mode, "status": run.status, "qa_status": run.qa,
            "input_tokens": run.input_tokens, "output_tokens": run.output_tokens, "total_tokens": run.total_tokens,
            "cost": run.cost, "cost_source": run.cost_source, "models_used": len(run.usage),
            "run_date": run.started.date(),
        })
    assert actual["run-mixed"]["cost_source"] == "mixed"
    assert actual["run-offset"]["run_date"] == LAST_OF_PREVIOUS_MONTH  # the UTC day, not the local one
    assert actual["run-midnight"]["run_date"] == ago(2) and actual["run-midnight"]["duration_seconds"] == 1800.0
    missing = actual["run-missing"]
    assert (missing["mode"], missing["status"], missing["qa_status"], missing["finished_at"],
            missing["duration_seconds"]) == (None, None, "not_run", None, None)


def test_latest_job_snapshot_wins(hand_lake):
    jobs = {r["job_id"]: r for r in rows(hand_lake.settings, "SELECT * FROM llm_jobs_current")}
    expected = current_jobs(ALL_SNAPSHOTS)
    assert expected == {"job-1": "completed", "job-2": "running", "job-3": "queued", "job-4": "failed",
                        "job-5": "cancelled", "job-6": "completed"}
    assert {job: r["status"] for job, r in jobs.items()} == expected
    assert jobs["job-1"]["run_id"] == "run-computed"
    assert jobs["job-1"]["snapshot_time"] == parse_time(at(ago(3), 9, 2, 30))


def test_run_summary_every_field(hand_lake, hand_runs):
    row = one(hand_lake.settings, "SELECT * FROM run_summary")
    expected = expected_run_summary(list(hand_runs.values()), current_jobs(ALL_SNAPSHOTS), HAND_BUDGET,
                                    hand_lake.finished)
    assert set(row) == set(expected) | {"generated_at"}
    assert_row(row, expected)
    assert hand_lake.started.replace(microsecond=0) <= row["generated_at"] <= hand_lake.finished
    # spelled out: passed = reported, unpriced, mixed, previous month, today, offset; + warning + failed judged
    assert (row["total_runs"], row["total_jobs"]) == (10, 6)
    assert (row["qa_passed"], row["qa_warning"], row["qa_failed"], row["qa_error"], row["qa_not_run"]) == \
        (6, 1, 1, 1, 1)
    assert row["qa_pass_rate"] == approx(6 / 8)
    assert (row["runs_2loop"], row["runs_3loop"]) == (5, 4)  # run-missing has no mode
    this_month = {r.run_id for r in hand_runs.values() if r.started.date() >= FIRST_OF_MONTH}
    assert "run-first-of-month" in this_month
    assert not this_month & {"run-previous-month", "run-offset"}  # the month of started_at in UTC
    assert row["current_month_cost"] == approx(sum(hand_runs[r].cost for r in this_month))


def test_qa_summary(hand_lake, hand_runs):
    row = one(hand_lake.settings, "SELECT * FROM qa_summary")
    qa = qa_counts(list(hand_runs.values()))
    assert row == {"total_qa_runs": len(hand_runs) - qa["not_run"], "qa_passed": qa["passed"],
                   "qa_warning": qa["warning"], "qa_failed": qa["failed"], "qa_error": qa["error"],
                   "qa_not_run": qa["not_run"],
                   "pass_rate": approx(qa["passed"] / (qa["passed"] + qa["warning"] + qa["failed"]))}


def test_project_costs_every_field(hand_lake, hand_runs):
    actual = rows(hand_lake.settings, "SELECT * FROM project_costs")
    expected = expected_project_costs(list(hand_runs.values()))
    assert [r["project_name"] for r in actual] == [e["project_name"] for e in expected]
    for row, exp in zip(actual, expected):
        assert set(row) == set(exp)
        assert_row(row, exp)
    gamma = next(r for r in actual if r["project_name"] == "gamma")
    assert gamma["qa_pass_rate"] is None  # gamma's runs: one error, one not run; nothing to pass or fail


def test_model_costs_every_field(hand_lake, hand_runs):
    actual = rows(hand_lake.settings, "SELECT * FROM model_costs")
    expected = expected_model_costs(list(hand_runs.values()))
    assert [r["model_name"] for r in actual] == [e["model_name"] for e in expected]
    for row, exp in zip(actual, expected):
        assert set(row) == set(exp)
        assert_row(row, exp)  # a model priced nowhere costs 0.0 (the seed's ModelSummary.total_cost is a float)
    assert sum(r["cost_share"] for r in actual) == approx(1.0)
    gpt4o = next(r for r in actual if r["model_name"] == "gpt-4o")
    assert gpt4o["usage_count"] == 5  # reported, midnight, mixed, previous month, offset


def test_daily_runs_window_with_zero_days(hand_lake, hand_runs):
    actual = rows(hand_lake.settings, "SELECT * FROM daily_runs ORDER BY date")
    expected = expected_daily_runs(list(hand_runs.values()), HAND_DAYS, TODAY)
    assert len(actual) == HAND_DAYS
    assert [r["date"] for r in actual] == [TODAY - timedelta(days=n) for n in range(HAND_DAYS - 1, -1, -1)]
    for row, exp in zip(actual, expected):
        assert set(row) == set(exp)
        assert_row(row, exp)
    empty = [r for r in actual if r["runs"] == 0]
    assert len(empty) >= 2 and all(r["cost"] == 0.0 and r["tokens"] == 0 for r in empty)
    by_day = {r["date"]: r for r in actual}
    assert by_day[ago(2)]["runs"] >= 1  # the run across midnight counts on its start day ...
    assert by_day[ago(2)]["tokens"] >= 4000


# --------------------------------------------------------------------------------------------------
# Checks: budget (70 % / 90 % WARN, 100 % ERROR), QA floor (WARN), cost spike (WARN)
# --------------------------------------------------------------------------------------------------

SPIKE_SMALL = {"run_id": "spike-small", "project": "delta", "started_at": at(YESTERDAY, 10), "mode": "2-loop",
               "qa_status": "passed", "models": [{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10,
                                                   "cost": 0.1}]}
SPIKE_BIG = {"run_id": "spike-big", "project": "delta", "started_at": at(TODAY, 0, 0, 1), "mode": "3-loop",
             "qa_status": "failed", "models": [{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100,
                                                 "cost": 1.0}]}
# This month's cost: today's run, plus yesterday's when yesterday is in this month.
MONTH_COST = 1.0 + (0.1 if YESTERDAY.month == TODAY.month else 0.0)


def budget_for(ratio: float) -> str:
    return repr(MONTH_COST / ratio)


@pytest.fixture(scope="module")
def checks_lake(tmp_path_factory):
    """The check evaluations and run_summary after the build and three refreshes under other settings."""
    steps = {}
    files = [("checks/runs.jsonl", jsonl(SPIKE_SMALL, SPIKE_BIG))]
    with built_lake(tmp_path_factory, "checks", {SOURCE: files}, ANALYTICS_MONTHLY_BUDGET=budget_for(0.75),
                    ANALYTICS_TIMESERIES_DAYS=3) as lake:
        steps["75%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
        lake.refresh(ANALYTICS_MONTHLY_BUDGET=budget_for(0.95), ANALYTICS_COST_SPIKE_FACTOR=20,
                     ANALYTICS_QA_PASS_RATE_FLOOR=0.5)
        steps["95%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
        lake.refresh(ANALYTICS_MONTHLY_BUDGET=budget_for(1.10))
        steps["110%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
        lake.refresh(ANALYTICS_MONTHLY_BUDGET="0")
        steps["zero"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
        yield steps


def verdicts(evaluations: dict[str, dg.AssetCheckEvaluation]) -> dict[str, bool]:
    return {name: e.passed for name, e in evaluations.items()}


def test_check_severities(checks_lake):
    evaluations, _ = checks_lake["75%"]
    assert set(evaluations) == set(CHECK_ASSETS)
    severities = {name: e.severity for name, e in evaluations.items()}
    assert severities == {"budget_below_70_percent": dg.AssetCheckSeverity.WARN,
                          "budget_below_90_percent": dg.AssetCheckSeverity.WARN,
                          "budget_not_exceeded": dg.AssetCheckSeverity.ERROR,
                          "qa_pass_rate_at_least_floor": dg.AssetCheckSeverity.WARN,
                          "no_cost_spike": dg.AssetCheckSeverity.WARN}


def test_budget_at_75_percent_warns_at_70_only(checks_lake):
    evaluations, summary = checks_lake["75%"]
    assert summary["current_month_cost"] == approx(MONTH_COST)
    assert summary["budget_used_ratio"] == approx(0.75)
    assert summary["budget_remaining"] == approx(MONTH_COST / 0.75 - MONTH_COST)
    assert verdicts(evaluations) == {"budget_below_70_percent": False, "budget_below_90_percent": True,
                                     "budget_not_exceeded": True,
                                     "qa_pass_rate_at_least_floor": False,  # 1 passed of 2 judged < 0.8
                                     "no_cost_spike": False}                # today 10 × yesterday > 3 ×
    spike = evaluations["no_cost_spike"]
    assert spike.metadata["day"].value == str(TODAY)
    assert spike.metadata["cost"].value == approx(1.0)
    assert spike.metadata["previous_day_cost"].value == approx(0.1)
    assert evaluations["qa_pass_rate_at_least_floor"].metadata["qa_pass_rate"].value == approx(0.5)


def test_budget_at_95_percent_warns_twice(checks_lake):
    evaluations, summary = checks_lake["95%"]
    assert summary["budget_used_ratio"] == approx(0.95)
    assert verdicts(evaluations) == {"budget_below_70_percent": False, "budget_below_90_percent": False,
                                     "budget_not_exceeded": True,
                                     "qa_pass_rate_at_least_floor": True,  # floor lowered to 0.5
                                     "no_cost_spike": True}                # factor raised to 20


def test_budget_exceeded_is_an_error(checks_lake):
    evaluations, summary = checks_lake["110%"]
    assert summary["budget_used_ratio"] == approx(1.10)
    assert summary["budget_remaining"] < 0
    assert summary["budget_remaining"] == approx(MONTH_COST / 1.10 - MONTH_COST)
    checks = verdicts(evaluations)
    assert (checks["budget_below_70_percent"], checks["budget_below_90_percent"], checks["budget_not_exceeded"]) == \
        (False, False, False)
    assert evaluations["budget_not_exceeded"].severity == dg.AssetCheckSeverity.ERROR


def test_a_zero_budget_is_exceeded_by_any_spend(checks_lake):
    """ANALYTICS_MONTHLY_BUDGET=0 is a budget of $0 ("none"/"off" disable the budget): $1.10 exceeds it."""
    evaluations, summary = checks_lake["zero"]
    assert summary["monthly_budget"] == 0.0
    assert summary["budget_remaining"] == approx(-MONTH_COST)
    assert not evaluations["budget_not_exceeded"].passed
    assert not evaluations["budget_below_70_percent"].passed and not evaluations["budget_below_90_percent"].passed



# --------------------------------------------------------------------------------------------------
# The demo producer through the real pipeline
# --------------------------------------------------------------------------------------------------

DEMO_DAYS = 9  # the window covers the demo's 5 days (and today)


def demo_files() -> list[tuple[str, bytes]]:
    from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files

    return list(llm_runs_landing_files(days=5, seed=3, runs_per_day=15))


@pytest.fixture(scope="module")
def demo_llm_lake(tmp_path_factory):
    files = demo_files()
    with built_lake(tmp_path_factory, "demo_llm", {SOURCE: files}, ANALYTICS_TIMESERIES_DAYS=DEMO_DAYS) as lake:
        yield lake, files


def is_bad_number(value) -> bool:
    return value is not None and not isinstance(value, (int, float))


@dataclass
class LandingCensus:
    records: int
    quarantined: int
    runs: dict[str, dict]      # first valid document per run id
    snapshots: dict[tuple, dict]  # distinct job snapshots: (job_id, time, status)


def census(files: list[tuple[str, bytes]]) -> LandingCensus:
    """Read the landing files as a consumer would: gzip, JSON Lines or {"runs": [...]} documents."""
    records, quarantined, runs, snapshots = 0, 0, {}, {}
    for name, data in files:
        text = (gzip.decompress(data) if name.endswith(".gz") else data).decode()
        if name.removesuffix(".gz").endswith(".json"):
            documents = json.loads(text)["runs"]
        else:
            documents = []
            for line in text.split("\n"):
                if not line.strip():
                    continue
                try:
                    documents.append(json.loads(line))
                except json.JSONDecodeError:
                    documents.append(None)
        for doc in documents:
            records += 1
            if doc is None or any(is_bad_number(m.get(k)) for m in doc.get("models") or []
                                  for k in ("input_tokens", "output_tokens", "cost")):
                quarantined += 1
            elif "job_id" in doc and not any(k in doc for k in ("models", "qa_status", "mode")):
                when = first_present(doc, "updated_at", "finished_at", "started_at", "created_at")
                snapshots.setdefault((doc["job_id"], parse_time(when), doc["status"]), doc)
            else:
                runs.setdefault(doc["run_id"], doc)
    return LandingCensus(records, quarantined, runs, snapshots)


def test_demo_counts_reconcile_with_the_landing_files(demo_llm_lake):
    lake, files = demo_llm_lake
    report = lake.reports[SOURCE]
    seen = census(files)
    figures = report.figures
    assert figures.files == len(files)
    assert figures.records_in == seen.records
    assert figures.quarantined == seen.quarantined >= 1
    assert figures.landed == len(seen.runs) + len(seen.snapshots)
    assert figures.duplicates == seen.records - seen.quarantined - figures.landed
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates


def test_demo_marts_match_an_independent_aggregation(demo_llm_lake):
    lake, files = demo_llm_lake
    seen = census(files)
    prices = load_price_table()
    runs = [reference_run(doc, prices) for doc in seen.runs.values()]
    summary = one(lake.settings, "SELECT * FROM run_summary")

    assert summary["total_runs"] == len(seen.runs)
    assert summary["total_jobs"] == len({job for job, _, _ in seen.snapshots})
    reported = sum(doc["total_cost"] for doc in seen.runs.values() if doc.get("total_cost") is not None)
    lake_reported = one(lake.settings, "SELECT sum(cost) AS c FROM llm_run_costs WHERE cost_source = 'reported'")["c"]
    assert lake_reported == pytest.approx(reported, rel=1e-9, abs=1e-6)
    unpriced_runs = [doc for doc in seen.runs.values() if doc.get("total_cost") is None]
    assert unpriced_runs, "the demo prices about one run in ten from the price table"
    assert summary["total_cost"] == pytest.approx(sum(r.cost for r in runs), rel=1e-9, abs=1e-6)
    assert summary["total_tokens"] == sum(r.total_tokens for r in runs)

    expected = expected_run_summary(runs, current_jobs(list(seen.snapshots.values())), 50.0, lake.finished)
    assert_row(summary, {k: v for k, v in expected.items() if not isinstance(v, float)})
    for key in ("avg_cost_per_run", "avg_duration_seconds", "qa_pass_rate", "monthly_budget", "current_month_cost",
                "budget_remaining", "budget_used_ratio"):
        assert summary[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-6), key

    projects = {r["project_name"]: r for r in rows(lake.settings, "SELECT * FROM project_costs")}
    assert {p: r["runs_count"] for p, r in projects.items()} == \
        dict(Counter(doc["project"] for doc in seen.runs.values()))
    for exp in expected_project_costs(runs):
        assert projects[exp["project_name"]]["total_cost"] == pytest.approx(exp["total_cost"], rel=1e-9, abs=1e-6)
        assert projects[exp["project_name"]]["total_tokens"] == exp["total_tokens"]

    models = rows(lake.settings, "SELECT model_name, usage_count, total_tokens, cost_share FROM model_costs")
    assert {m["model_name"]: (m["usage_count"], m["total_tokens"]) for m in models} == \
        {e["model_name"]: (e["usage_count"], e["total_tokens"]) for e in expected_model_costs(runs)}
    assert sum(m["cost_share"] for m in models) == approx(1.0)

    daily = rows(lake.settings, "SELECT * FROM daily_runs ORDER BY date")
    assert len(daily) == DEMO_DAYS
    assert sum(d["runs"] for d in daily) == len(runs)
    assert sum(d["cost"] for d in daily) == pytest.approx(summary["total_cost"], rel=1e-9)
