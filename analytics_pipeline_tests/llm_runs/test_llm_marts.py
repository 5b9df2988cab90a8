"""LLM run marts (seed 004) on lakes built by the real pipeline; every number is recomputed in plain Python.

Three lakes, each built once per module by ``run_pipeline``:

* ``hand_lake``: a dozen hand-written run documents and job snapshots covering reported, computed and
  unpriced costs, missing fields, a run across midnight, the month boundary, out-of-order job snapshots,
  a re-delivered run and bad records;
* ``checks_lake``: two runs (yesterday small, today ten times bigger), refreshed under four budgets
  to steer the budget, QA-floor and cost-spike checks (no budget at all: see test_llm_exports.py);
* ``demo_llm_lake``: the demo producer's files, compared with an aggregation over the landing JSON.

Dates are relative to the day (UTC) a lake is built on, so the tests do not rot and the marts' "today" is the
records' today, also in a test session that crosses midnight; every expectation is derived from the same dates, so
a run on the first of a month (when "the first of this month" is today and "the last day of the previous month" is
yesterday) still holds.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import pytest
import genai_prices

from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.lakes import built_lake, built_lake_of_one_day, utc_now

SOURCE = "llm_runs"
GENAI_PRICES = f"genai-prices {version('genai-prices')}"


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Dates (UTC) and record builders
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Days:
    """The UTC days hand-written records are dated by, relative to ``today``: the day their lake is built on, its
    marts' "today" (see lakes.built_lake_of_one_day)."""

    today: date

    def ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    @property
    def yesterday(self) -> date:
        return self.ago(1)

    @property
    def first_of_month(self) -> date:
        return self.today.replace(day=1)

    @property
    def last_of_previous_month(self) -> date:
        return self.first_of_month - timedelta(days=1)


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
    "all_usage_priced": "unpriced_models",
    "tag_budgets_below_70_percent": "tag_budgets",
    "tag_budgets_below_90_percent": "tag_budgets",
    "tag_budgets_not_exceeded": "tag_budgets",
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

def load_price_table(path: Path | None = None) -> dict[str, list[tuple[date, float, float]]]:
    """The ANALYTICS_MODEL_PRICES overrides of ``path`` (none without one): model → (effective_from, in, out)."""
    table: dict[str, list[tuple[date, float, float]]] = {}
    for entry in json.loads(Path(path).read_text())["prices"] if path else []:
        table.setdefault(entry["model"].lower(), []).append(
            (date.fromisoformat(entry["effective_from"]), float(entry["input_per_1k"]), float(entry["output_per_1k"])))
    return table


def price_on(prices: dict, model: str, day: date) -> tuple[date, float, float] | None:
    """The override in force on ``day``: the newest entry that took effect on or before it."""
    in_force = [p for p in prices.get(model.lower(), []) if p[0] <= day]
    return max(in_force, key=lambda p: p[0]) if in_force else None


def reference_price(overrides: dict, model: str, started: datetime, usage: genai_prices.Usage,
                    provider: str | None = None) -> tuple[float, str] | None:
    """(cost, price version) of ``usage``: an override in force that day (input and output per 1,000 tokens), else
    genai-prices' own calc_price at the run's start; None when neither knows the model."""
    override = price_on(overrides, model, started.date())
    if override:
        return ((usage.input_tokens * override[1] + usage.output_tokens * override[2]) / 1000,
                f"ANALYTICS_MODEL_PRICES: {model.lower()}@{override[0].isoformat()}")
    try:
        price = genai_prices.calc_price(usage, model, provider_id=provider,
                                        genai_request_timestamp=started.replace(tzinfo=timezone.utc))
    except LookupError:
        return None
    return float(price.total_price), f"{GENAI_PRICES}: {price.provider.id}/{price.model.id}"


def first_present(mapping: dict, *names):
    for name in names:
        if mapping.get(name) is not None:
            return mapping[name]
    return None


def first_number(mapping: dict, *paths: str):
    """The value of the first of ``paths`` (``a.b`` descends into objects) that ``mapping`` holds."""
    for path in paths:
        value = mapping
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def reference_tokens(entry: dict) -> dict[str, int]:
    """A models entry's tokens as the README's LLM runs input section states the rules: the names of its "usage"
    object count as the entry's own; Anthropic's and Bedrock's cache names and Gemini's thoughtsTokenCount are
    counted beside the input and output tokens, every other cached and reasoning count within them."""
    m = {**(entry.get("usage") if isinstance(entry.get("usage"), dict) else {}), **entry}
    beside_input = [first_number(m, name) or 0 for name in ("cache_read_input_tokens", "cache_creation_input_tokens",
                                                            "cacheReadInputTokens", "cacheWriteInputTokens")]
    return {
        "input_tokens": (first_number(m, "input_tokens", "prompt_tokens", "inputTokens", "promptTokenCount") or 0)
        + sum(beside_input),
        "output_tokens": (first_number(m, "output_tokens", "completion_tokens", "outputTokens", "candidatesTokenCount")
                          or 0) + (first_number(m, "thoughtsTokenCount") or 0),
        "cache_read_tokens": first_number(m, "cache_read_tokens", "cache_read_input_tokens", "cacheReadInputTokens",
                                          "prompt_tokens_details.cached_tokens", "input_tokens_details.cached_tokens",
                                          "cached_tokens", "cachedContentTokenCount") or 0,
        "cache_write_tokens": first_number(m, "cache_write_tokens", "cache_creation_input_tokens",
                                           "cacheWriteInputTokens", "prompt_tokens_details.cache_write_tokens",
                                           "input_tokens_details.cache_write_tokens") or 0,
        "reasoning_tokens": first_number(m, "reasoning_tokens", "completion_tokens_details.reasoning_tokens",
                                         "output_tokens_details.reasoning_tokens",
                                         "output_tokens_details.thinking_tokens", "thoughtsTokenCount") or 0,
    }


def genai_usage(tokens: dict[str, int]) -> genai_prices.Usage:
    return genai_prices.Usage(input_tokens=tokens["input_tokens"], output_tokens=tokens["output_tokens"],
                              cache_read_tokens=tokens["cache_read_tokens"],
                              cache_write_tokens=tokens["cache_write_tokens"],
                              output_reasoning_tokens=tokens["reasoning_tokens"])


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
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

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
    def cost(self) -> float | None:
        """The known costs of its usage; without usage, the reported total (else 0); with none known, unknown."""
        if not self.usage:
            return self.reported_total if self.reported_total is not None else 0.0
        known = [u.cost for u in self.usage if u.cost is not None]
        return sum(known) if known else self.reported_total

    @property
    def unpriced_tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage if u.cost_source == "unpriced")

    def tokens(self, kind: str) -> int:
        return sum(getattr(u, kind) for u in self.usage)

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
        tokens = reference_tokens(m)
        reported = first_present(m, "cost", "cost_usd")
        price = reference_price(prices, name, started, genai_usage(tokens), m.get("provider"))
        computed = price[0] if price else None
        if reported is not None:
            cost, source, version = float(reported), "reported", None
        elif len(models) == 1 and total is not None:  # a one-model run's total is that model's cost
            cost, source, version = float(total), "reported", None
        elif price is not None:
            cost, source, version = computed, "computed", price[1]
        else:
            cost, source, version = None, "unpriced", None
        usage.append(Usage(run_id, name, tokens["input_tokens"], tokens["output_tokens"], cost, computed, source,
                           version, tokens["cache_read_tokens"], tokens["cache_write_tokens"],
                           tokens["reasoning_tokens"]))
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


CACHED_AND_REASONING = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def known_sum(costs) -> float | None:
    """A sum of costs as SQL sums them: the known ones, or unknown when none is known."""
    known = [c for c in costs if c is not None]
    return sum(known) if known else None


def expected_run_summary(runs: list[Run], jobs: dict[str, str], budget: float | None, now: datetime) -> dict:
    qa = qa_counts(runs)
    total_cost = known_sum(r.cost for r in runs) or 0.0
    month = [r for r in runs if (r.started.year, r.started.month) == (now.year, now.month)]
    month_cost = known_sum(r.cost for r in month) or 0.0
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
        **{kind: sum(r.tokens(kind) for r in runs) for kind in CACHED_AND_REASONING},
        "unpriced_runs": sum(r.unpriced_tokens > 0 for r in runs),
        "unpriced_tokens": sum(r.unpriced_tokens for r in runs),
        "current_month_unpriced_tokens": sum(r.unpriced_tokens for r in month),
    }


def by_cost(rows: list[dict], name: str) -> list[dict]:
    """Most expensive first, unknown costs last (ORDER BY total_cost DESC NULLS LAST, name)."""
    return sorted(rows, key=lambda r: (r["total_cost"] is None, -(r["total_cost"] or 0), r[name]))


def expected_project_costs(runs: list[Run]) -> list[dict]:
    out = []
    for project in sorted({r.project for r in runs}):
        mine = [r for r in runs if r.project == project]
        qa = qa_counts(mine)
        out.append({
            "project_name": project, "runs_count": len(mine), "last_run_time": max(r.started for r in mine),
            "total_tokens": sum(r.total_tokens for r in mine), "total_cost": known_sum(r.cost for r in mine),
            "avg_duration_seconds": mean([r.duration for r in mine if r.duration is not None]),
            "qa_passed": qa["passed"], "qa_warning": qa["warning"], "qa_failed": qa["failed"],
            "qa_error": qa["error"], "qa_not_run": qa["not_run"],
            "qa_pass_rate": pass_rate(qa["passed"], qa["warning"], qa["failed"]),
            "cache_read_tokens": sum(r.tokens("cache_read_tokens") for r in mine),
            "reasoning_tokens": sum(r.tokens("reasoning_tokens") for r in mine),
            "unpriced_tokens": sum(r.unpriced_tokens for r in mine),
        })
    return by_cost(out, "project_name")


def expected_model_costs(runs: list[Run]) -> list[dict]:
    usage = [u for r in runs for u in r.usage]
    grand_total = sum(u.cost for u in usage if u.cost is not None)
    out = []
    for model in sorted({u.model for u in usage}):
        mine = [u for u in usage if u.model == model]
        cost = known_sum(u.cost for u in mine)
        out.append({
            "model_name": model, "input_tokens": sum(u.input_tokens for u in mine),
            "output_tokens": sum(u.output_tokens for u in mine), "total_tokens": sum(u.total_tokens for u in mine),
            **{kind: sum(getattr(u, kind) for u in mine) for kind in CACHED_AND_REASONING},
            "total_cost": cost, "usage_count": len({u.run_id for u in mine}),
            "cost_share": None if cost is None else cost / grand_total if grand_total else 0.0,
            "computed_cost_rows": sum(u.cost_source == "computed" for u in mine),
            "unpriced_rows": sum(u.cost_source == "unpriced" for u in mine),
            "unpriced_tokens": sum(u.total_tokens for u in mine if u.cost_source == "unpriced"),
        })
    return by_cost(out, "model_name")


def expected_daily_runs(runs: list[Run], days: int, today: date) -> list[dict]:
    out = []
    for n in range(days - 1, -1, -1):
        day = today - timedelta(days=n)
        mine = [r for r in runs if r.started.date() == day]
        qa = qa_counts(mine)
        out.append({"date": day, "runs": len(mine), "tokens": sum(r.total_tokens for r in mine),
                    "cost": known_sum(r.cost for r in mine) if mine else 0.0, "qa_passed": qa["passed"],
                    "qa_warning": qa["warning"], "qa_failed": qa["failed"], "qa_error": qa["error"],
                    "qa_not_run": qa["not_run"], "unpriced_tokens": sum(r.unpriced_tokens for r in mine)})
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


def snapshot(job_id: str, status: str, updated: str, created: str, **extra) -> dict:
    return {"job_id": job_id, "project": "alpha", "status": status, "created_at": created, "updated_at": updated,
            **extra}


@dataclass
class HandRecords:
    """The hand lake's landing files and what they hold."""

    valid_runs: list[dict]
    truncated: str               # a run document cut off mid-line
    bad_tokens: dict             # a run whose token count is not a number
    snapshots: list[dict]        # every job snapshot
    files: list[tuple[str, bytes]]
    records: int                 # records in the files


def hand_records(d: Days) -> HandRecords:
    """Run documents and job snapshots dated relative to ``d.today``."""
    R_REPORTED = {  # per-model costs reported, total reported too
        "run_id": "run-reported", "project": "alpha", "started_at": at(d.ago(4), 10),
        "finished_at": at(d.ago(4), 10, 5), "duration_seconds": 300.0, "mode": "2-loop", "status": "completed",
        "qa_status": "passed",
        "models": [{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "cost": 0.0125},
                   {"model": "claude-3-haiku", "input_tokens": 2000, "output_tokens": 400, "cost": 0.001}],
        "total_cost": 0.0135,
    }
    R_MIDNIGHT = {  # 23:50 two days ago → 00:20 yesterday: counted on its start day
        "run_id": "run-midnight", "project": "alpha", "started_at": at(d.ago(2), 23, 50),
        "finished_at": at(d.ago(1), 0, 20), "mode": "3-loop", "status": "completed", "qa_status": "warning",
        "models": [{"model": "gpt-4o", "input_tokens": 3000, "output_tokens": 1000, "cost": 0.0175}],
        "total_cost": 0.0175,
    }
    R_COMPUTED = {  # no cost anywhere: priced from genai-prices
        "run_id": "run-computed", "project": "beta", "started_at": at(d.ago(3), 9), "finished_at": at(d.ago(3), 9, 2),
        "mode": "2-loop", "status": "completed", "qa_status": "failed",
        "models": [{"model": "gpt-4o-mini", "input_tokens": 10000, "output_tokens": 2000}],
    }
    R_UNPRICED = {  # a model no price source knows
        "run_id": "run-unpriced", "project": "beta", "started_at": at(d.ago(1), 12), "finished_at": at(d.ago(1), 12, 1),
        "mode": "2-loop", "status": "completed", "qa_status": "passed",
        "models": [{"model": "mystery-llm", "input_tokens": 500, "output_tokens": 100}],
    }
    R_MIXED = {  # computed + unpriced + reported (alias field names) in one run
        "run_id": "run-mixed", "project": "beta", "started_at": at(d.ago(1), 14), "finished_at": at(d.ago(1), 14, 10),
        "mode": "3-loop", "status": "completed", "qa_status": "passed",
        "models": [{"model_name": "claude-3-5-sonnet", "prompt_tokens": 2000, "completion_tokens": 300},
                   {"model": "mystery-llm", "input_tokens": 100, "output_tokens": 50},
                   {"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.002}],
    }
    R_MISSING = {  # no mode, no status, no qa_status, no finished_at
        "run_id": "run-missing", "project": "gamma", "started_at": at(d.ago(1), 15),
        "models": [{"model": "claude-3-5-sonnet", "input_tokens": 1000, "output_tokens": 100, "cost": 0.0045}],
    }
    R_PREVIOUS_MONTH = {  # the last day of the previous month: not this month's cost
        "run_id": "run-previous-month", "project": "alpha", "started_at": at(d.last_of_previous_month, 20),
        "finished_at": at(d.last_of_previous_month, 20, 10), "mode": "3-loop", "status": "completed",
        "qa_status": "passed", "total_cost": 0.1,
        "models": [{"model": "gpt-4o", "input_tokens": 20000, "output_tokens": 5000, "cost": 0.1}],
    }
    R_FIRST_OF_MONTH = {  # the first of this month; one model + total_cost only → reported
        "run_id": "run-first-of-month", "project": "gamma", "started_at": at(d.first_of_month, 0, 0, 5),
        "finished_at": at(d.first_of_month, 0, 3), "mode": "3-loop", "status": "failed", "qa_status": "error",
        "models": [{"model": "o3-mini", "input_tokens": 1000, "output_tokens": 2000}], "total_cost": 0.02,
    }
    R_TODAY = {  # "id", "project_name" and a nested qa verdict; a duration but no finish time
        "id": "run-today", "project_name": "alpha", "started_at": at(d.today, 0, 0, 1), "duration_seconds": 42.0,
        "mode": "2-loop", "status": "running", "qa": {"status": "PASSED"},
        "models": [{"model": "gpt-4o-mini", "input_tokens": 4000, "output_tokens": 1000}],
    }
    R_OFFSET = {  # 01:30 on the first of this month at UTC+2 is 23:30 UTC on the last day of the previous month
        "run_id": "run-offset", "project": "beta", "started_at": f"{d.first_of_month.isoformat()}T01:30:00+02:00",
        "finished_at": f"{d.first_of_month.isoformat()}T01:40:00+02:00", "mode": "2-loop", "status": "completed",
        "qa_status": "passed", "models": [{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10, "cost": 0.05}],
        "total_cost": 0.05,
    }
    VALID_RUNS = [R_REPORTED, R_MIDNIGHT, R_COMPUTED, R_UNPRICED, R_MIXED, R_MISSING, R_PREVIOUS_MONTH,
                  R_FIRST_OF_MONTH, R_TODAY, R_OFFSET]

    TRUNCATED = '{"run_id": "run-truncated", "project": "alpha", "started_at": "' + at(d.ago(1), 8)
    R_BAD_TOKENS = {"run_id": "run-bad-tokens", "project": "beta", "started_at": at(d.ago(1), 9),
                    "models": [{"model": "gpt-4o", "input_tokens": "lots", "output_tokens": 10}]}
    R_BAD_COST = {"run_id": "run-bad-cost", "project": "beta", "started_at": at(d.ago(1), 10), "total_cost": "cheap",
                  "mode": "2-loop", "models": []}

    J1 = at(d.ago(3), 8, 58)
    J2 = at(d.ago(1), 8)
    J4 = at(d.ago(4), 9)
    J5 = at(d.ago(2), 10)
    J6 = at(d.ago(2), 11)
    # job-1: queued → running → completed, delivered newest first; job-2: queued → running (still running);
    # job-3: only queued; job-4: failed; job-5: cancelled; job-6: running and completed stamped the same second.
    JOBS_FILE_1 = [
        snapshot("job-1", "completed", at(d.ago(3), 9, 2, 30), J1, run_id="run-computed", started_at=at(d.ago(3), 9),
                 finished_at=at(d.ago(3), 9, 2, 30)),
        snapshot("job-2", "running", at(d.ago(1), 8, 5), J2, started_at=at(d.ago(1), 8, 5)),
        snapshot("job-4", "failed", at(d.ago(4), 9, 30), J4, finished_at=at(d.ago(4), 9, 30)),
        snapshot("job-6", "completed", J6, J6, finished_at=J6),
    ]
    JOBS_FILE_2 = [
        snapshot("job-1", "running", at(d.ago(3), 9), J1, run_id="run-computed", started_at=at(d.ago(3), 9)),
        snapshot("job-3", "queued", at(d.today, 0, 0, 2), at(d.today, 0, 0, 2)),
        snapshot("job-4", "queued", J4, J4),
        snapshot("job-4", "running", at(d.ago(4), 9, 1), J4),
        snapshot("job-5", "cancelled", at(d.ago(2), 10, 5), J5, finished_at=at(d.ago(2), 10, 5)),
        snapshot("job-6", "running", J6, J6, started_at=J6),
    ]
    JOBS_FILE_3 = [
        snapshot("job-1", "queued", J1, J1),
        snapshot("job-2", "queued", J2, J2),
        snapshot("job-5", "queued", J5, J5),
        snapshot("job-6", "queued", at(d.ago(2), 10, 59), at(d.ago(2), 10, 59)),
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
    return HandRecords(VALID_RUNS, TRUNCATED, R_BAD_TOKENS, ALL_SNAPSHOTS, HAND_FILES, HAND_RECORDS)


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    """The hand lake and the days its records are dated by (those of the day it was built on)."""
    def files(day: date) -> dict:
        return {SOURCE: hand_records(Days(day)).files}

    with built_lake_of_one_day(tmp_path_factory, "hand", files, ANALYTICS_TIMESERIES_DAYS=HAND_DAYS,
                               ANALYTICS_MONTHLY_BUDGET=HAND_BUDGET) as (lake, day):
        yield lake, Days(day)


@pytest.fixture(scope="module")
def hand_lake(hand_built):
    return hand_built[0]


@pytest.fixture(scope="module")
def hand_days(hand_built) -> Days:
    return hand_built[1]


@pytest.fixture(scope="module")
def hand(hand_days) -> HandRecords:
    """The records the hand lake was built from."""
    return hand_records(hand_days)


@pytest.fixture(scope="module")
def hand_runs(hand) -> dict[str, Run]:
    prices = load_price_table()
    return {run.run_id: run for run in (reference_run(doc, prices) for doc in hand.valid_runs)}


def test_hand_lake_counts_reconcile(hand_lake, hand):
    report = hand_lake.reports[SOURCE]
    figures = report.figures
    assert figures.files == len(hand.files)
    assert figures.records_in == hand.records
    assert figures.quarantined == 3
    assert figures.duplicates == 1  # run-reported delivered twice
    assert figures.landed == len(hand.valid_runs) + len(hand.snapshots)
    assert figures.records_in == figures.landed + figures.quarantined + figures.duplicates


def test_bad_records_are_quarantined_with_a_reason(hand_lake, hand):
    errors = rows(hand_lake.settings, f"SELECT file, line, reason, reason_detail, original_text FROM ingest_errors "
                                      f"WHERE source = '{SOURCE}' ORDER BY file, line")
    by_line = {(e["file"].removeprefix(f"{SOURCE}/"), e["line"]): e for e in errors}
    assert set(by_line) == {("hand/runs-a.jsonl", 4), ("hand/runs-a.jsonl", 5), ("hand/runs-b.jsonl.gz", 5)}
    truncated = by_line[("hand/runs-a.jsonl", 4)]
    assert truncated["reason"] == "invalid_json" and truncated["original_text"] == hand.truncated
    cut = hand.truncated.rindex('"')  # the string the line is cut in
    assert truncated["reason_detail"] == (
        f"invalid JSON: Unterminated string starting at: line 1 column {cut + 1} (char {cut})")
    bad_tokens = by_line[("hand/runs-a.jsonl", 5)]
    assert bad_tokens["reason"] == "invalid_model_entry"
    assert bad_tokens["reason_detail"] == ("models entry without a model name or with non-numeric tokens/cost: "
                                           '{"model":"gpt-4o","input_tokens":"lots","output_tokens":"10"}')
    assert json.loads(bad_tokens["original_text"]) == hand.bad_tokens
    bad_cost = by_line[("hand/runs-b.jsonl.gz", 5)]
    assert (bad_cost["reason"], bad_cost["reason_detail"]) == ("wrong_type", "total_cost is not a number: cheap")
    landed = {r["run_id"] for r in rows(hand_lake.settings, "SELECT run_id FROM llm_runs")}
    assert not landed & {"run-truncated", "run-bad-tokens", "run-bad-cost"}


def test_every_run_lands_once(hand_lake, hand_runs):
    counts = rows(hand_lake.settings, "SELECT run_id, count(*) AS n FROM llm_runs GROUP BY run_id")
    assert {r["run_id"]: r["n"] for r in counts} == {run_id: 1 for run_id in hand_runs}
    costs = rows(hand_lake.settings, "SELECT run_id FROM llm_run_costs")
    assert sorted(r["run_id"] for r in costs) == sorted(hand_runs)


def test_computed_cost_comes_from_genai_prices(hand_lake):
    row = one(hand_lake.settings, "SELECT * FROM llm_model_usage WHERE run_id = 'run-computed'")
    # genai-prices: gpt-4o-mini at $0.15 per million input tokens and $0.60 per million output tokens
    assert 10000 / 1e6 * 0.15 + 2000 / 1e6 * 0.6 == approx(0.0027)
    assert row["cost"] == approx(0.0027)
    assert (row["cost_source"], row["price_version"], row["reported_cost"]) == \
        ("computed", f"{GENAI_PRICES}: openai/gpt-4o-mini", None)
    run = one(hand_lake.settings, "SELECT cost, cost_source FROM llm_run_costs WHERE run_id = 'run-computed'")
    assert run["cost"] == approx(0.0027) and run["cost_source"] == "computed"


def test_unpriced_model_cost_is_unknown_not_zero(hand_lake):
    usage = rows(hand_lake.settings, "SELECT * FROM llm_model_usage WHERE model = 'mystery-llm' ORDER BY run_id")
    assert [u["run_id"] for u in usage] == ["run-mixed", "run-unpriced"]
    for u in usage:
        assert u["cost_source"] == "unpriced" and u["price_version"] is None and u["computed_cost"] is None
        assert u["cost"] is None
    run = one(hand_lake.settings, "SELECT cost, cost_source, total_tokens, unpriced_tokens, unpriced_models "
                                  "FROM llm_run_costs WHERE run_id = 'run-unpriced'")
    assert run == {"cost": None, "cost_source": "unpriced", "total_tokens": 600, "unpriced_tokens": 600,
                   "unpriced_models": 1}
    mixed = one(hand_lake.settings, "SELECT cost, unpriced_tokens FROM llm_run_costs WHERE run_id = 'run-mixed'")
    assert mixed["unpriced_tokens"] == 150 and mixed["cost"] > 0.002  # the priced part: a lower bound, and says so
    model = one(hand_lake.settings, "SELECT total_cost, cost_share, unpriced_rows, unpriced_tokens FROM model_costs "
                                    "WHERE model_name = 'mystery-llm'")
    assert model == {"total_cost": None, "cost_share": None, "unpriced_rows": 2, "unpriced_tokens": 750}
    unpriced = rows(hand_lake.settings, "SELECT * FROM unpriced_models")
    assert [(u["model"], u["provider"], u["runs"], u["input_tokens"], u["output_tokens"], u["total_tokens"])
            for u in unpriced] == [("mystery-llm", None, 2, 600, 150, 750)]
    check = latest_check_evaluations()["all_usage_priced"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "mystery-llm: 750 tokens in 2 runs" in check.description
    assert check.metadata["unpriced_tokens"].value == 750


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
        assert row["cost"] == (None if u.cost is None else approx(u.cost)), key
        assert row["computed_cost"] == (None if u.computed_cost is None else approx(u.computed_cost)), key
        assert (row["project"], row["mode"], row["qa_status"]) == (run.project, run.mode, run.qa), key


def test_run_costs_rows(hand_lake, hand_runs, hand_days):
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
    assert actual["run-offset"]["run_date"] == hand_days.last_of_previous_month  # the UTC day, not the local one
    assert actual["run-midnight"]["run_date"] == hand_days.ago(2)
    assert actual["run-midnight"]["duration_seconds"] == 1800.0
    missing = actual["run-missing"]
    assert (missing["mode"], missing["status"], missing["qa_status"], missing["finished_at"],
            missing["duration_seconds"]) == (None, None, "not_run", None, None)


def test_latest_job_snapshot_wins(hand_lake, hand, hand_days):
    jobs = {r["job_id"]: r for r in rows(hand_lake.settings, "SELECT * FROM llm_jobs_current")}
    expected = current_jobs(hand.snapshots)
    assert expected == {"job-1": "completed", "job-2": "running", "job-3": "queued", "job-4": "failed",
                        "job-5": "cancelled", "job-6": "completed"}
    assert {job: r["status"] for job, r in jobs.items()} == expected
    assert jobs["job-1"]["run_id"] == "run-computed"
    assert jobs["job-1"]["snapshot_time"] == parse_time(at(hand_days.ago(3), 9, 2, 30))


def test_run_summary_every_field(hand_lake, hand_runs, hand, hand_days):
    row = one(hand_lake.settings, "SELECT * FROM run_summary")
    expected = expected_run_summary(list(hand_runs.values()), current_jobs(hand.snapshots), HAND_BUDGET,
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
    this_month = {r.run_id for r in hand_runs.values() if r.started.date() >= hand_days.first_of_month}
    assert "run-first-of-month" in this_month
    assert not this_month & {"run-previous-month", "run-offset"}  # the month of started_at in UTC
    assert row["current_month_cost"] == approx(known_sum(hand_runs[r].cost for r in this_month))


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
        assert_row(row, exp)  # a model priced nowhere has an unknown cost and share (NULL), listed last
    assert sum(r["cost_share"] for r in actual if r["cost_share"] is not None) == approx(1.0)
    gpt4o = next(r for r in actual if r["model_name"] == "gpt-4o")
    assert gpt4o["usage_count"] == 5  # reported, midnight, mixed, previous month, offset


def test_daily_runs_window_with_zero_days(hand_lake, hand_runs, hand_days):
    actual = rows(hand_lake.settings, "SELECT * FROM daily_runs ORDER BY date")
    expected = expected_daily_runs(list(hand_runs.values()), HAND_DAYS, hand_days.today)
    assert len(actual) == HAND_DAYS
    assert [r["date"] for r in actual] == [hand_days.ago(n) for n in range(HAND_DAYS - 1, -1, -1)]
    for row, exp in zip(actual, expected):
        assert set(row) == set(exp)
        assert_row(row, exp)
    empty = [r for r in actual if r["runs"] == 0]
    assert len(empty) >= 2 and all(r["cost"] == 0.0 and r["tokens"] == 0 for r in empty)
    by_day = {r["date"]: r for r in actual}
    assert by_day[hand_days.ago(2)]["runs"] >= 1  # the run across midnight counts on its start day ...
    assert by_day[hand_days.ago(2)]["tokens"] >= 4000


# --------------------------------------------------------------------------------------------------
# Checks: budget (70 % / 90 % WARN, 100 % ERROR), QA floor (WARN), cost spike (WARN)
# --------------------------------------------------------------------------------------------------

def spike_runs(d: Days) -> list[dict]:
    """A small run yesterday and one ten times bigger today."""
    small = {"run_id": "spike-small", "project": "delta", "started_at": at(d.yesterday, 10), "mode": "2-loop",
             "qa_status": "passed", "models": [{"model": "gpt-4o", "input_tokens": 100, "output_tokens": 10,
                                                 "cost": 0.1}]}
    big = {"run_id": "spike-big", "project": "delta", "started_at": at(d.today, 0, 0, 1), "mode": "3-loop",
           "qa_status": "failed", "models": [{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100,
                                               "cost": 1.0}]}
    return [small, big]


def month_cost(d: Days) -> float:
    """This month's cost: today's run, plus yesterday's when yesterday is in this month."""
    return 1.0 + (0.1 if d.yesterday.month == d.today.month else 0.0)


def budget_for(d: Days, ratio: float) -> str:
    return repr(month_cost(d) / ratio)


@pytest.fixture(scope="module")
def checks_lake(tmp_path_factory):
    """The check evaluations and run_summary after the build and three refreshes under other settings, and the days
    its runs are dated by: those of the day it was built on (built again if the refreshes crossed midnight)."""
    while True:
        d = Days(utc_now().date())
        steps = {"days": d}
        files = [("checks/runs.jsonl", jsonl(*spike_runs(d)))]
        with built_lake(tmp_path_factory, "checks", {SOURCE: files}, ANALYTICS_MONTHLY_BUDGET=budget_for(d, 0.75),
                        ANALYTICS_TIMESERIES_DAYS=3) as lake:
            steps["75%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
            lake.refresh(ANALYTICS_MONTHLY_BUDGET=budget_for(d, 0.95), ANALYTICS_COST_SPIKE_FACTOR=20,
                         ANALYTICS_QA_PASS_RATE_FLOOR=0.5)
            steps["95%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
            lake.refresh(ANALYTICS_MONTHLY_BUDGET=budget_for(d, 1.10))
            steps["110%"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
            lake.refresh(ANALYTICS_MONTHLY_BUDGET="0")
            steps["zero"] = latest_check_evaluations(), one(lake.settings, "SELECT * FROM run_summary")
        if utc_now().date() == d.today:
            return steps


def verdicts(evaluations: dict[str, dg.AssetCheckEvaluation]) -> dict[str, bool]:
    return {name: e.passed for name, e in evaluations.items()}


# the spike runs report their costs and carry no tags (no tag budgets are set): these checks pass throughout
QUIET_CHECKS = {"all_usage_priced": True, "tag_budgets_below_70_percent": True, "tag_budgets_below_90_percent": True,
                "tag_budgets_not_exceeded": True}


def test_check_severities(checks_lake):
    evaluations, _ = checks_lake["75%"]
    assert set(evaluations) == set(CHECK_ASSETS)
    severities = {name: e.severity for name, e in evaluations.items()}
    assert severities == {"budget_below_70_percent": dg.AssetCheckSeverity.WARN,
                          "budget_below_90_percent": dg.AssetCheckSeverity.WARN,
                          "budget_not_exceeded": dg.AssetCheckSeverity.ERROR,
                          "qa_pass_rate_at_least_floor": dg.AssetCheckSeverity.WARN,
                          "no_cost_spike": dg.AssetCheckSeverity.WARN,
                          "all_usage_priced": dg.AssetCheckSeverity.WARN,
                          "tag_budgets_below_70_percent": dg.AssetCheckSeverity.WARN,
                          "tag_budgets_below_90_percent": dg.AssetCheckSeverity.WARN,
                          "tag_budgets_not_exceeded": dg.AssetCheckSeverity.ERROR}


def test_budget_at_75_percent_warns_at_70_only(checks_lake):
    evaluations, summary = checks_lake["75%"]
    spent = month_cost(checks_lake["days"])
    assert summary["current_month_cost"] == approx(spent)
    assert summary["budget_used_ratio"] == approx(0.75)
    assert summary["budget_remaining"] == approx(spent / 0.75 - spent)
    assert verdicts(evaluations) == {"budget_below_70_percent": False, "budget_below_90_percent": True,
                                     "budget_not_exceeded": True,
                                     "qa_pass_rate_at_least_floor": False,  # 1 passed of 2 judged < 0.8
                                     "no_cost_spike": False,                # today 10 × yesterday > 3 ×
                                     **QUIET_CHECKS}
    spike = evaluations["no_cost_spike"]
    assert spike.metadata["day"].value == str(checks_lake["days"].today)
    assert spike.metadata["cost"].value == approx(1.0)
    assert spike.metadata["previous_day_cost"].value == approx(0.1)
    assert evaluations["qa_pass_rate_at_least_floor"].metadata["qa_pass_rate"].value == approx(0.5)


def test_budget_at_95_percent_warns_twice(checks_lake):
    evaluations, summary = checks_lake["95%"]
    assert summary["budget_used_ratio"] == approx(0.95)
    assert verdicts(evaluations) == {"budget_below_70_percent": False, "budget_below_90_percent": False,
                                     "budget_not_exceeded": True,
                                     "qa_pass_rate_at_least_floor": True,  # floor lowered to 0.5
                                     "no_cost_spike": True,                # factor raised to 20
                                     **QUIET_CHECKS}


def test_budget_exceeded_is_an_error(checks_lake):
    evaluations, summary = checks_lake["110%"]
    spent = month_cost(checks_lake["days"])
    assert summary["budget_used_ratio"] == approx(1.10)
    assert summary["budget_remaining"] < 0
    assert summary["budget_remaining"] == approx(spent / 1.10 - spent)
    checks = verdicts(evaluations)
    assert (checks["budget_below_70_percent"], checks["budget_below_90_percent"], checks["budget_not_exceeded"]) == \
        (False, False, False)
    assert evaluations["budget_not_exceeded"].severity == dg.AssetCheckSeverity.ERROR


def test_a_zero_budget_is_exceeded_by_any_spend(checks_lake):
    """ANALYTICS_MONTHLY_BUDGET=0 is a budget of $0 ("none"/"off" disable the budget): $1.10 exceeds it."""
    evaluations, summary = checks_lake["zero"]
    assert summary["monthly_budget"] == 0.0
    assert summary["budget_remaining"] == approx(-month_cost(checks_lake["days"]))
    assert not evaluations["budget_not_exceeded"].passed
    assert not evaluations["budget_below_70_percent"].passed and not evaluations["budget_below_90_percent"].passed



# --------------------------------------------------------------------------------------------------
# The demo producer through the real pipeline
# --------------------------------------------------------------------------------------------------

DEMO_DAYS = 9  # the window covers the demo's 5 days (and today)


def an_unpriced_run_calling_the_router() -> tuple[str, bytes]:
    """(relative_file_name, file_bytes): one run, two hours old, that reports no cost and calls the in-house router.
    The small demo may have none by chance (its window ends now, so its runs change daily: about one unpriced run in
    three calls the router), and the unpriced-usage figures need one."""
    from analytics_pipeline.sources.llm_runs.demo import ROUTER_MODEL

    started = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    doc = {"run_id": "run-unpriced-router", "project": "docs_bot", "started_at": started.isoformat(),
           "finished_at": (started + timedelta(minutes=3)).isoformat(), "duration_seconds": 180.0, "mode": "2-loop",
           "status": "completed", "qa_status": "passed",
           "models": [{"model": ROUTER_MODEL, "provider": "acme", "input_tokens": 900, "output_tokens": 20},
                      {"model": "gpt-4o-mini", "provider": "openai",
                       "usage": {"prompt_tokens": 4000, "completion_tokens": 600}}],
           "tags": {"team": "platform", "tenant": "internal", "feature": "build-review"}}
    return f"{started:%Y/%m/%d}/runs-unpriced-router.jsonl", (json.dumps(doc) + "\n").encode()


def demo_files() -> list[tuple[str, bytes]]:
    from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files

    return [*llm_runs_landing_files(days=5, seed=3, runs_per_day=15), an_unpriced_run_calling_the_router()]


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
    assert unpriced_runs, "the demo leaves about one run in ten for the lake to price"
    assert summary["total_cost"] == pytest.approx(sum(r.cost for r in runs), rel=1e-9, abs=1e-6)
    assert summary["total_tokens"] == sum(r.total_tokens for r in runs)

    # this month is that of the summary's own time: the build may cross a month's end
    expected = expected_run_summary(runs, current_jobs(list(seen.snapshots.values())), 50.0, summary["generated_at"])
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

    models = {m["model_name"]: m for m in rows(lake.settings, "SELECT * FROM model_costs")}
    expected_models = {e["model_name"]: e for e in expected_model_costs(runs)}
    assert set(models) == set(expected_models) and "acme-router-v2" in models
    for name, exp in expected_models.items():
        for key in ("usage_count", "total_tokens", *CACHED_AND_REASONING, "unpriced_rows", "unpriced_tokens"):
            assert models[name][key] == exp[key], (name, key)
        assert models[name]["total_cost"] == pytest.approx(exp["total_cost"], rel=1e-9, abs=1e-6), name
    assert models["claude-3-5-sonnet"]["cache_write_tokens"] > 0 and models["o3-mini"]["reasoning_tokens"] > 0
    assert sum(m["cost_share"] for m in models.values() if m["cost_share"] is not None) == approx(1.0)

    # the router model of the runs that report no cost has no price: listed, its tokens counted, not its cost
    unpriced = rows(lake.settings, "SELECT model, provider, runs, total_tokens FROM unpriced_models")
    router = [u for r in runs for u in r.usage if u.model == "acme-router-v2" and u.cost_source == "unpriced"]
    assert router, "the demo's unpriced runs call the router now and then"
    assert unpriced == [{"model": "acme-router-v2", "provider": "acme", "runs": len({u.run_id for u in router}),
                         "total_tokens": sum(u.total_tokens for u in router)}]
    assert summary["unpriced_tokens"] == sum(u.total_tokens for u in router)

    # cost by tag: every run counts under each of its tags (team, tenant, feature), on its start day
    tags: dict[tuple, list] = {}
    for doc, run in zip(seen.runs.values(), runs):
        for key, value in doc["tags"].items():
            tags.setdefault((key, value, run.started.date()), []).append(run)
    by_tag = {(t["tag_key"], t["tag_value"], t["date"]): t for t in rows(lake.settings, "SELECT * FROM tag_costs")}
    assert set(by_tag) == set(tags)
    for key, mine in tags.items():
        assert by_tag[key]["runs"] == len(mine) and by_tag[key]["total_tokens"] == sum(r.total_tokens for r in mine)
        assert by_tag[key]["cost"] == pytest.approx(known_sum(r.cost for r in mine), rel=1e-9, abs=1e-9), key
        assert by_tag[key]["unpriced_tokens"] == sum(r.unpriced_tokens for r in mine), key

    daily = rows(lake.settings, "SELECT * FROM daily_runs ORDER BY date")
    assert len(daily) == DEMO_DAYS
    assert sum(d["runs"] for d in daily) == len(runs)
    assert sum(d["cost"] or 0.0 for d in daily) == pytest.approx(summary["total_cost"], rel=1e-9)
