"""Synthetic landing files for the LLM agent orchestrator (the analytics source ``llm_runs``).

The orchestrator runs multi-agent "loops" over a team's projects: a 2-loop run is a builder agent checked by a
reviewer, a 3-loop run adds a planner in front and a QA agent at the end, so it takes longer, calls more models
and burns more tokens. Most runs are started by background jobs (queued, then picked up by a worker); a few are
started by hand from the CLI. A nightly docs refresh starts just before midnight UTC and so finishes the next day,
and once in the window one project pushes a big batch through the queue: the cost-spike day.

Two kinds of record land in ``landing/llm_runs/``, in hourly files:

* run documents (``runs-YYYYMMDDTHH.jsonl``, or a pretty-printed ``{"runs": [...]}`` ``.json``), written when a
  run finishes: tokens and cost per model, with each provider's own usage names (Anthropic's cache reads and writes
  beside its input tokens, OpenAI's usage object with cached prompt tokens and a reasoning model's reasoning
  tokens), and the run's tags (team, tenant, feature). About one in ten comes from an orchestrator build that does
  not price runs, so it has no cost fields and the lake prices it (genai-prices); some runs also call the team's own
  router model, which no public price list knows, so those unpriced runs' router usage has no price. Runs still
  going at the end of the window were logged while running: no ``finished_at`` or ``duration_seconds`` yet.
* job-state snapshots (``jobs-YYYYMMDDTHH.jsonl``), one per status change: queued -> running -> completed, failed
  or cancelled. The latest snapshot of a job is its state.

A third of the files are gzip-compressed. The mess a lake must cope with: a few run documents re-delivered in a
later file, two or three truncated lines and one run whose token count is not a number.

Spend is calibrated to the team's pace: about 80% of a 50 USD monthly budget per 14 days at the default volume,
so the default window, once it lies inside the month of ``end``, brings the budget alert close to firing.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from analytics_pipeline.platform.demo_window import new_id, poisson_arrivals, window_end

ROUTER_MODEL = "acme-router-v2"  # the team's own fine-tuned router: no public price list knows it
# USD per 1,000 tokens: (input, output), what the orchestrator reports (genai-prices has the same list prices).
DEMO_PRICES = {
    "gpt-4o": (0.0025, 0.01),
    "gpt-4o-mini": (0.00015, 0.0006),
    "claude-3-5-sonnet": (0.003, 0.015),
    "claude-3-haiku": (0.00025, 0.00125),
    "o3-mini": (0.0011, 0.0044),
    ROUTER_MODEL: (0.0001, 0.0001),  # what a router call costs the team to serve
}
# Cached input tokens cost a share of the input price: reads and (Anthropic) writes, by the model's provider.
PROVIDERS = {"gpt-4o": "openai", "gpt-4o-mini": "openai", "o3-mini": "openai", "claude-3-5-sonnet": "anthropic",
             "claude-3-haiku": "anthropic", ROUTER_MODEL: "acme"}
CACHE_PRICE_SHARES = {"openai": (0.5, 1.0), "anthropic": (0.1, 1.25), "acme": (1.0, 1.0)}
CACHED_SHARE = (0.2, 0.7)      # of a model's input that is a cache read, for the calls that hit the prompt cache
CACHE_HIT_RATE = 0.6           # model entries whose calls reused a cached prompt prefix
REASONING_SHARE = (0.5, 0.85)  # of a reasoning model's output that is reasoning
ROUTER_RATE = 0.15             # runs that first ask the router which agents to start
# Run tags: the team that owns the project, the customer (tenant) the run works for, the feature that started it.
TEAMS = {"contafuel_marketing": "growth", "claims_assistant": "insurance", "docs_bot": "platform",
         "sales_outreach": "growth", "internal_tools": "platform"}
TENANTS = {"contafuel_marketing": ("contafuel",), "claims_assistant": ("acme-insurance", "northwind"),
           "docs_bot": ("internal",), "sales_outreach": ("contafuel", "globex", "northwind"),
           "internal_tools": ("internal",)}
FEATURES = {"2-loop": "build-review", "3-loop": "plan-build-qa"}  # besides "nightly-docs" and "campaign-batch"
# Share of runs when no project has a preference (the cheap models do the bulk of the work).
MODEL_WEIGHTS = {"gpt-4o-mini": 30, "claude-3-haiku": 22, "gpt-4o": 20, "claude-3-5-sonnet": 18, "o3-mini": 10}
# Output tokens per input token: reasoning models think out loud, so o3-mini writes more.
OUTPUT_RATIO = {"gpt-4o": (0.08, 0.22), "gpt-4o-mini": (0.08, 0.25), "claude-3-5-sonnet": (0.1, 0.25),
                "claude-3-haiku": (0.08, 0.2), "o3-mini": (0.3, 0.6)}

# name: (share of runs, token scale = size of the codebase/context, share of 3-loop runs, favourite models)
PROJECTS = {
    "contafuel_marketing": (22, 1.6, 0.45, ("claude-3-5-sonnet", "gpt-4o")),
    "claims_assistant": (20, 1.2, 0.35, ("gpt-4o", "o3-mini")),
    "docs_bot": (30, 0.45, 0.10, ("gpt-4o-mini", "claude-3-haiku")),
    "sales_outreach": (16, 0.8, 0.20, ("gpt-4o-mini", "claude-3-5-sonnet")),
    "internal_tools": (12, 0.35, 0.15, ("claude-3-haiku", "gpt-4o-mini")),
}
EXTRA_PROJECT_MODELS = (("gpt-4o-mini", "claude-3-haiku"), ("gpt-4o", "claude-3-5-sonnet"), ("gpt-4o-mini", "o3-mini"),
                        ("claude-3-5-sonnet", "gpt-4o-mini"), ("claude-3-haiku", "gpt-4o"))
NIGHTLY_PROJECT = "docs_bot"           # its scheduled docs refresh starts at 23:40-23:56 UTC every night
SPIKE_PROJECT = "contafuel_marketing"  # the project that pushes a big campaign batch through the queue one day
SPIKE_WORKERS = 4                      # batch jobs run this many at a time, the rest wait in the queue
SPIKE_SIZE = 0.5                       # batch jobs per `runs_per_day`
SPIKE_BOOST = 1.2                      # campaign runs read this much more context than the project's usual run

# Relative launches per UTC hour (a team spread over Europe and the US east coast) and per weekday (Mon-Sun).
UTC_HOUR_WEIGHTS = (0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.9,
                    1.7, 1.8, 2.0, 2.0, 1.8, 1.5, 1.2, 1.0, 0.8, 0.6, 0.45, 0.3)
DAY_FACTORS = (1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.25)

# QA verdict of the final loop: share of runs, and the chance that the run itself ends failed given that verdict.
QA_STATUSES = {"passed": (70, 0.003), "warning": (15, 0.02), "failed": (7, 0.15), "error": (3, 0.6),
               "not_run": (5, 0.45)}
INPUT_TOKENS_PER_MINUTE = 3800   # context the agents read per minute of a run, at project scale 1
JOB_SHARE = 0.85                 # runs started by a background job (the rest are started from the CLI)
CANCEL_RATE = 0.03               # jobs cancelled before they produce a run
UNPRICED_RATE = 0.10             # run documents from an orchestrator build that does not price runs
JSON_FILE_SHARE = 0.25           # run files written as one pretty-printed {"runs": [...]} document
GZIP_SHARE = 1 / 3
DUPLICATE_RATE = 0.005           # run documents re-delivered in a later file
MONTHLY_BUDGET_USD = 50.0
BUDGET_USE_TARGET = 0.8          # share of the monthly budget the team spends per PACE_DAYS at the default volume
PACE_DAYS = 14
DEFAULT_RUNS_PER_DAY = 40


@functools.cache
def _profile(project: str) -> tuple:
    """A project's (share of runs, token scale, share of 3-loop runs, favourite models): the named ones' from
    PROJECTS, an extra one's drawn from its name (so adding projects leaves the named ones' runs as they were)."""
    if project in PROJECTS:
        return PROJECTS[project]
    rng = random.Random(project)
    return (rng.randint(4, 20), round(rng.uniform(0.3, 1.6), 2), round(rng.uniform(0.1, 0.45), 2),
            rng.choice(EXTRA_PROJECT_MODELS))


@functools.cache
def _owners(project: str) -> tuple[str, tuple[str, ...]]:
    """A project's team and the tenants it works for: the named ones' from TEAMS and TENANTS, an extra one's drawn
    from its name (as its profile is)."""
    if project in TEAMS:
        return TEAMS[project], TENANTS[project]
    rng = random.Random(f"{project}/owners")
    tenants = sorted({t for names in TENANTS.values() for t in names})
    return rng.choice(sorted(set(TEAMS.values()))), tuple(rng.sample(tenants, rng.randint(1, 2)))


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(rng: random.Random, median_s: float, sigma: float, low_s: float, high_s: float) -> timedelta:
    """A skewed duration in whole seconds (log-normal, clamped to a plausible range)."""
    seconds = min(high_s, max(low_s, rng.lognormvariate(math.log(median_s), sigma)))
    return timedelta(seconds=max(1, round(seconds)))


def _models(rng: random.Random, project: str, mode: str) -> list[str]:
    """The distinct models a run calls: one from the project's favourites leads, cheaper helpers follow."""
    count = rng.choices((1, 2), weights=(45, 55))[0] if mode == "2-loop" else rng.choices((2, 3), weights=(45, 55))[0]
    chosen = [rng.choice(_profile(project)[3])]
    while len(chosen) < count:
        others = [m for m in MODEL_WEIGHTS if m not in chosen]
        chosen.append(rng.choices(others, weights=[MODEL_WEIGHTS[m] for m in others])[0])
    return chosen


def _usage(rng: random.Random, project: str, models: list[str], minutes: float, boost: float) -> list[dict]:
    """Tokens per model: input grows with run time and project size, the lead model reads most of it."""
    total_input = minutes * INPUT_TOKENS_PER_MINUTE * _profile(project)[1] * boost * rng.lognormvariate(0, 0.35)
    weights = [rng.uniform(2.0, 4.0)] + [rng.uniform(0.4, 1.5) for _ in models[1:]]
    usage = []
    for model, weight in zip(models, weights):
        input_tokens = max(200, round(total_input * weight / sum(weights)))
        output_tokens = max(50, round(input_tokens * rng.uniform(*OUTPUT_RATIO[model])))
        usage.append({"model": model, "input_tokens": input_tokens, "output_tokens": output_tokens})
    return usage


def _run(rng: random.Random, ids: set, project: str, started: datetime, end: datetime, *,
         mode: str | None = None, median_s: float | None = None, shortest_s: float = 30, boost: float = 1.0,
         feature: str | None = None) -> dict:
    """One orchestrator run as planned: mode, models, duration, QA verdict and outcome (tokens are priced later).

    Failed runs stop part-way, so they are shorter and cheaper; a run whose end is after `end` is logged as running
    with the tokens it has used so far.
    """
    if mode is None:
        mode = "3-loop" if rng.random() < _profile(project)[2] else "2-loop"
    if median_s is None:
        median_s = 600 if mode == "3-loop" else 210
    duration = _seconds(rng, median_s, 0.8, shortest_s, max(shortest_s, 2400))
    qa_status = rng.choices(list(QA_STATUSES), weights=[w for w, _ in QA_STATUSES.values()])[0]
    status = "failed" if rng.random() < QA_STATUSES[qa_status][1] else "completed"
    if status == "failed":
        duration = timedelta(seconds=max(round(shortest_s), round(duration.total_seconds() * rng.uniform(0.2, 0.8))))
    usage = _usage(rng, project, _models(rng, project, mode), duration.total_seconds() / 60, boost)
    run = {"run_id": new_id(rng, "run", 12, ids), "project": project, "started": started,
           "finished": started + duration, "mode": mode, "status": status, "qa_status": qa_status,
           "usage": usage, "priced": rng.random() >= UNPRICED_RATE, "subseconds": rng.uniform(0, 0.999),
           "feature": feature or FEATURES[mode]}
    if run["finished"] > end:
        # Logged while running: at some point between its start and `end`, with the tokens used so far.
        logged = started + (end - started) * rng.uniform(0.5, 1.0)
        share = max(0.05, (logged - started) / duration)
        for entry in usage:
            entry["input_tokens"] = max(100, round(entry["input_tokens"] * share))
            entry["output_tokens"] = max(20, round(entry["output_tokens"] * share))
        run.update(finished=None, status="running", qa_status="not_run", logged=logged.replace(microsecond=0))
    else:
        run["logged"] = run["finished"]
    return run


def _job(rng: random.Random, ids: set, project: str, created: datetime, started: datetime | None,
         run: dict | None, end: datetime, cancelled: bool = False) -> list[dict]:
    """The job's snapshots up to `end`: queued, then running, then completed/failed/cancelled."""
    job_id = new_id(rng, "job", 10, ids)
    base = {"job_id": job_id, "project": project, "created_at": _iso(created)}
    snapshots = [{**base, "status": "queued", "started_at": None, "updated_at": _iso(created), "finished_at": None}]
    if cancelled and started is None:       # cancelled while still waiting in the queue
        t = created + _seconds(rng, 240, 1.0, 20, 3 * 3600)
        if t <= end:
            snapshots.append({**base, "status": "cancelled", "started_at": None, "updated_at": _iso(t),
                              "finished_at": _iso(t)})
        return snapshots
    if started is None or started > end:    # still waiting for a worker at `end`
        return snapshots
    with_run = {"run_id": run["run_id"]} if run else {}
    snapshots.append({**base, "status": "running", "started_at": _iso(started), "updated_at": _iso(started),
                      "finished_at": None, **with_run})
    if cancelled:                           # cancelled by hand before the orchestrator logged a run
        t = started + _seconds(rng, 180, 0.9, 15, 1800)
        status = "cancelled"
    elif run is None or run["finished"] is None:
        return snapshots
    else:
        t = run["finished"] + timedelta(seconds=rng.randint(1, 4))
        status = "failed" if run["status"] == "failed" else "completed"
    if t <= end:
        snapshots.append({**base, "status": status, "started_at": _iso(started), "updated_at": _iso(t),
                          "finished_at": _iso(t), **with_run})
    return snapshots


def _launch(rng: random.Random, ids: set, project: str, launched: datetime, end: datetime, *,
            via_job: bool, wait: timedelta | None = None, **run_options) -> tuple[dict | None, list[dict]]:
    """A launch becomes a run and, when a job started it, that job's snapshots (a cancelled job yields no run)."""
    if not via_job:
        return _run(rng, ids, project, launched, end, **run_options), []
    if rng.random() < CANCEL_RATE:
        started = None if rng.random() < 0.65 else launched + _seconds(rng, 15, 1.2, 1, 1800)
        if started is not None and started > end:
            started = None
        return None, _job(rng, ids, project, launched, started, None, end, cancelled=True)
    started = launched + (wait if wait is not None else _seconds(rng, 15, 1.2, 1, 1800))
    run = _run(rng, ids, project, started, end, **run_options) if started <= end else None
    return run, _job(rng, ids, project, launched, started, run, end)


def _ad_hoc(rng: random.Random, ids: set, start: datetime, end: datetime, runs_per_day: int,
            projects: list[str]) -> Iterator[tuple]:
    """The everyday workload: each project's share of the launches, most of them through the job queue."""
    shares = [_profile(p)[0] for p in projects]
    for launched in poisson_arrivals(rng, start, end, runs_per_day, DAY_FACTORS, UTC_HOUR_WEIGHTS):
        project = rng.choices(projects, weights=shares)[0]
        yield _launch(rng, ids, project, launched, end, via_job=rng.random() < JOB_SHARE)


def _nightly(rng: random.Random, ids: set, start: datetime, end: datetime) -> Iterator[tuple]:
    """The nightly docs refresh: a scheduled 3-loop job just before midnight UTC, so most runs end the next day."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        launched = day + timedelta(hours=23, minutes=rng.randint(40, 56), seconds=rng.randint(0, 59))
        if start <= launched <= end:
            yield _launch(rng, ids, NIGHTLY_PROJECT, launched, end, via_job=True, mode="3-loop", median_s=1200,
                          feature="nightly-docs")
        day += timedelta(days=1)


def _spike(rng: random.Random, ids: set, start: datetime, end: datetime, runs_per_day: int) -> Iterator[tuple]:
    """The cost-spike day: one project queues a campaign batch at once (big 3-loop runs on its favourite models).

    The batch drains through SPIKE_WORKERS workers, so the last jobs of the batch wait in the queue for most of an hour.
    """
    first = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range((end - first).days + 1)]
    days = [d for d in days if start <= d + timedelta(hours=8) and d + timedelta(hours=15) <= end]
    if not days:
        return
    batch_at = rng.choice(days[:-1] or days) + timedelta(hours=rng.randint(8, 10), minutes=rng.randint(0, 59))
    free = [batch_at] * SPIKE_WORKERS
    for n in range(max(4, round(runs_per_day * SPIKE_SIZE))):
        created = batch_at + timedelta(seconds=2 * n + rng.randint(0, 1))
        worker = min(range(SPIKE_WORKERS), key=lambda w: free[w])
        started = max(created, free[worker]) + timedelta(seconds=rng.randint(1, 8))
        run, snapshots = _launch(rng, ids, SPIKE_PROJECT, created, end, via_job=True,
                                 wait=started - created, mode="3-loop", median_s=600, boost=SPIKE_BOOST,
                                 feature="campaign-batch")
        if run is not None:
            free[worker] = run["finished"] or end
        yield run, snapshots


def _in_flight(rng: random.Random, ids: set, end: datetime, projects: list[str]) -> Iterator[tuple]:
    """What the orchestrator is doing at `end`: a couple of long runs still going and a job or two still queued."""
    shares = [_profile(p)[0] for p in projects]
    for _ in range(rng.randint(2, 3)):
        project = rng.choices(projects, weights=shares)[0]
        launched = end - timedelta(minutes=rng.randint(3, 25), seconds=rng.randint(0, 59))
        yield _launch(rng, ids, project, launched, end, via_job=True, wait=timedelta(seconds=rng.randint(2, 40)),
                      mode="3-loop", median_s=1800, shortest_s=(end - launched).total_seconds() + 60)
    for _ in range(rng.randint(1, 2)):
        project = rng.choices(projects, weights=shares)[0]
        launched = end - timedelta(minutes=rng.randint(0, 6), seconds=rng.randint(0, 59))
        yield None, _job(rng, ids, project, launched, end + timedelta(minutes=10), None, end)


def _calibrate(runs: list[dict], days: int, runs_per_day: int) -> float:
    """Stretch token volumes to the team's spending pace: BUDGET_USE_TARGET of the monthly budget per 14 days.

    So 14 days of data inside one month (the default window from the 14th of a month on) use about 80% of the
    budget; the pace scales with `runs_per_day` and `days`, and a window that only reaches a few days into the
    month of `end` shows correspondingly less of the budget used.
    """
    spent = sum(_price(e["model"], e["input_tokens"], e["output_tokens"]) for r in runs for e in r["usage"])
    target = MONTHLY_BUDGET_USD * BUDGET_USE_TARGET * runs_per_day / DEFAULT_RUNS_PER_DAY * days / PACE_DAYS
    scale = target / spent if spent > 0 else 1.0
    for run in runs:
        for entry in run["usage"]:
            entry["input_tokens"] = max(1, round(entry["input_tokens"] * scale))
            entry["output_tokens"] = max(1, round(entry["output_tokens"] * scale))
    return scale


def _price(model: str, input_tokens: int, output_tokens: int) -> float:
    """USD for a model's tokens at DEMO_PRICES."""
    input_per_1k, output_per_1k = DEMO_PRICES[model]
    return input_tokens / 1000 * input_per_1k + output_tokens / 1000 * output_per_1k


def _provider_usage(rng: random.Random, entry: dict) -> tuple[dict, float]:
    """A models entry under its provider's usage names (cache hits and reasoning drawn here), and its cost."""
    model, tokens_in, tokens_out = entry["model"], entry["input_tokens"], entry["output_tokens"]
    provider = PROVIDERS[model]
    cached = round(tokens_in * rng.uniform(*CACHED_SHARE)) if rng.random() < CACHE_HIT_RATE else 0
    written = round((tokens_in - cached) * rng.uniform(0.05, 0.2)) if provider == "anthropic" and cached else 0
    read_share, write_share = CACHE_PRICE_SHARES[provider]
    input_per_1k, output_per_1k = DEMO_PRICES[model]
    cost = ((tokens_in - cached - written + cached * read_share + written * write_share) * input_per_1k
            + tokens_out * output_per_1k) / 1000
    if provider == "anthropic":  # cache reads and writes beside the (uncached) input tokens
        usage = {"input_tokens": tokens_in - cached - written, "output_tokens": tokens_out,
                 "cache_read_input_tokens": cached, "cache_creation_input_tokens": written}
        return {"model": model, "provider": provider, **usage}, cost
    if provider == "openai":  # the chat completions usage object: cached and reasoning tokens within the totals
        usage = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                 "prompt_tokens_details": {"cached_tokens": cached}}
        if model == "o3-mini":
            usage["completion_tokens_details"] = {"reasoning_tokens": round(tokens_out * rng.uniform(*REASONING_SHARE))}
        return {"model": model, "provider": provider, "usage": usage}, cost
    return {"model": model, "provider": provider, "input_tokens": tokens_in, "output_tokens": tokens_out}, cost


def _run_document(run: dict) -> dict:
    """The run as the orchestrator logs it; unpriced runs carry tokens only, running ones no finish yet.

    Cache hits, reasoning, the router call and the tenant are drawn from the run's own generator (seeded by its id),
    so they leave the window's draws, and so every other figure of the demo, as they were."""
    rng = random.Random(run["run_id"])
    entries = list(run["usage"])
    if rng.random() < ROUTER_RATE:
        entries.insert(0, {"model": ROUTER_MODEL, "input_tokens": rng.randint(300, 1500),
                           "output_tokens": rng.randint(5, 40)})
    models, total = [], 0.0
    for entry in entries:
        model, cost = _provider_usage(rng, entry)
        if run["priced"]:
            model["cost"] = round(cost, 6)
            total += model["cost"]
        models.append(model)
    finished = run["finished"]
    duration = (finished - run["started"]).total_seconds() + run["subseconds"] if finished else None
    team, tenants = _owners(run["project"])
    tags = {"team": team, "tenant": rng.choice(tenants), "feature": run["feature"]}
    document = {"run_id": run["run_id"], "project": run["project"], "started_at": _iso(run["started"]),
                "finished_at": _iso(finished) if finished else None,
                "duration_seconds": round(duration, 3) if finished else None, "mode": run["mode"],
                "status": run["status"], "qa_status": run["qa_status"], "models": models, "tags": tags}
    if finished is None:
        del document["finished_at"], document["duration_seconds"]
    if run["priced"]:
        document["total_cost"] = round(total, 6)
    return document


def _hourly_files(rng: random.Random, runs: list[dict], snapshots: list[dict]) -> list[dict]:
    """Group run documents by the hour they were logged and snapshots by the hour of their update."""
    files: dict[tuple, dict] = {}
    for run in sorted(runs, key=lambda r: (r["logged"], r["run_id"])):
        hour = run["logged"].replace(minute=0, second=0, microsecond=0)
        file = files.setdefault(("runs", hour), {"kind": "runs", "hour": hour, "records": []})
        file["records"].append(_run_document(run))
    for snapshot in sorted(snapshots, key=lambda s: (s["updated_at"], s["job_id"])):
        hour = datetime.strptime(snapshot["updated_at"][:13], "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
        file = files.setdefault(("jobs", hour), {"kind": "jobs", "hour": hour, "records": []})
        file["records"].append(snapshot)
    ordered = [files[key] for key in sorted(files, key=lambda k: (k[1], k[0]))]
    for file in ordered:
        file["json"] = file["kind"] == "runs" and rng.random() < JSON_FILE_SHARE
        file["gzip"] = rng.random() < GZIP_SHARE
        file["damaged"] = set()
    return ordered


def _add_mess(rng: random.Random, files: list[dict]) -> None:
    """At-least-once delivery and a sloppy producer: re-delivered runs, truncated lines, one token count as text.

    Truncated lines sit in JSON Lines files, never on a file's first line; duplicates and damage never overlap.
    """
    run_files = [f for f in files if f["kind"] == "runs"]
    slots = [(f, n) for f in run_files for n in range(len(f["records"]))]
    if len(slots) < 2:
        return
    used = set()
    lines = [(f, n) for f, n in slots if not f["json"] and n > 0]
    for f, n in rng.sample(lines, min(len(lines), max(1, min(3, len(slots) // 150)))):
        f["damaged"].add(n)
        used.add(f["records"][n]["run_id"])
    typed = [(f, n) for f, n in slots if f["records"][n]["run_id"] not in used and f["records"][n]["status"] == "completed"]
    f, n = rng.choice(typed or slots)
    bad = json.loads(json.dumps(f["records"][n]))
    bad["models"][0]["input_tokens"] = "lots"
    f["records"][n] = bad
    used.add(bad["run_id"])
    for f, n in rng.sample(slots, max(1, round(DUPLICATE_RATE * len(slots)))):
        position = run_files.index(f)
        later = run_files[position + 1:position + 9]
        if later and f["records"][n]["run_id"] not in used:
            rng.choice(later)["records"].append(f["records"][n])
            used.add(f["records"][n]["run_id"])


def _file_bytes(file: dict) -> bytes:
    """Serialise one file: JSON Lines (damaging the chosen lines) or a pretty-printed {"runs": [...]} document."""
    if file["json"]:
        text = json.dumps({"runs": file["records"]}, indent=2) + "\n"
    else:
        lines = []
        for n, record in enumerate(file["records"]):
            line = json.dumps(record, separators=(",", ":"))
            lines.append(line[: len(line) // 2] if n in file["damaged"] else line)
        text = "\n".join(lines) + "\n"
    data = text.encode()
    return gzip.compress(data, compresslevel=6, mtime=0) if file["gzip"] else data


def _file_name(file: dict) -> str:
    h = file["hour"]
    ext = (".json" if file["json"] else ".jsonl") + (".gz" if file["gzip"] else "")
    return f"{h:%Y/%m/%d}/{file['kind']}-{h:%Y%m%dT%H}{ext}"


def llm_runs_landing_files(days: int = 14, seed: int = 7, end: datetime | None = None,
                           runs_per_day: int = 40, projects: int = len(PROJECTS)) -> Iterator[tuple[str, bytes]]:
    """Yield (relative_file_name, file_bytes) for landing/llm_runs/. Deterministic for given arguments.

    ``projects``: the team's projects, the five of ``PROJECTS`` and, beyond them, ``project_06``, ``project_07``, ...
    (for dashboards per project at scale); ``runs_per_day`` is shared among them."""
    if projects < len(PROJECTS):
        raise ValueError(f"projects must be at least {len(PROJECTS)} (the named ones), not {projects}")
    names = list(PROJECTS) + [f"project_{n:02d}" for n in range(len(PROJECTS) + 1, projects + 1)]
    end = window_end(end)
    end = end.replace(microsecond=0)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    ids: set = set()

    runs, snapshots = [], []
    for workload in (_ad_hoc(rng, ids, start, end, runs_per_day, names), _nightly(rng, ids, start, end),
                     _spike(rng, ids, start, end, runs_per_day), _in_flight(rng, ids, end, names)):
        for run, job_snapshots in workload:
            if run is not None:
                runs.append(run)
            snapshots.extend(job_snapshots)
    _calibrate(runs, days, runs_per_day)

    files = _hourly_files(rng, runs, snapshots)
    _add_mess(rng, files)
    for file in files:
        yield _file_name(file), _file_bytes(file)
