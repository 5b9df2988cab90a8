"""Benchmark: `analytics-pipeline ask` scored on questions over the demo lake (seed 002: > 85 % correct).

Builds the demo lake (the `demo` command: 14 days of all three sources) unless `--data-dir` points at one, then asks
every question below with the configured model — ANALYTICS_LLM_BASE_URL + ANALYTICS_LLM_MODEL (+ ANALYTICS_LLM_API_KEY),
or ANALYTICS_LLM_PLUGIN — through the same code as `ask` (prompt, model, read-only gate and limits, up to 3 attempts,
ask_history). Each answer is compared with the result of the question's expected SQL: the same number of rows, and
for every expected column one column of the answer holding the same values row for row (extra columns allowed, names
ignored), order-insensitive unless the question asks for an order, numbers equal within 0.1 % (relative) or 1e-6.
Prints PASS/FAIL per question and the score; exits 0 when the score beats the target.

    uv run python benchmarks/ask_eval.py [--data-dir DIR] [--only 3,7] [--verbose]
    uv run python benchmarks/ask_eval.py --self-check [--data-dir DIR]

`--self-check` needs no model: an OpenAI-compatible server on 127.0.0.1 answers each question with its expected SQL
(some after a broken first answer, to exercise the retries) and gives a few deliberately wrong answers, which the
scorer must fail; it checks the harness end to end and exits 0 when every verdict is the expected one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from itertools import product
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from report import fresh_env, point_env  # noqa: E402  (same folder, shared set-up)

WORK = HERE / ".work" / "ask_eval"
TARGET = 0.85
REL_TOLERANCE, ABS_TOLERANCE = 1e-3, 1e-6


@dataclass(frozen=True)
class Case:
    question: str
    sql: str
    ordered: bool = False  # the question asks for an order: rows compared in sequence


CASES = [
    # claims (seed 000)
    Case("How many claims are there in total, counting each claim once (removed claims included)?",
         "SELECT count(*) AS claims FROM claims_current"),
    Case("How many claims are in each status, by each claim's latest status (removed claims included)?",
         "SELECT status, count(*) AS claims FROM claims_current GROUP BY status"),
    Case("How many claims have been removed (deleted)?",
         "SELECT count(*) AS removed_claims FROM claims_current WHERE removed"),
    Case("What is the total payout amount in GBP of claims whose latest status is PAID and that were not removed?",
         "SELECT sum(payout_amount) AS total_payout FROM claims_current WHERE status = 'PAID' AND NOT removed"),
    Case("Which region has the most claims (each claim counted once)? Give the region and its number of claims.",
         "SELECT region, count(*) AS claims FROM claims_current GROUP BY region ORDER BY claims DESC LIMIT 1"),
    Case("What is the average fraud score per vehicle type, over each claim's latest state, highest first?",
         "SELECT vehicle_type, avg(fraud_score) AS avg_fraud_score FROM claims_current GROUP BY vehicle_type "
         "ORDER BY avg_fraud_score DESC", ordered=True),
    Case("How many claims are high risk, i.e. have a fraud score of 70 or more in their latest state?",
         "SELECT count(*) AS high_risk_claims FROM claims_current WHERE fraud_score >= 70"),
    Case("What was the AI/adjuster agreement rate (as a fraction) on each event day, in day order?",
         "SELECT event_date, agreement_rate FROM model_performance_daily ORDER BY event_date", ordered=True),
    Case("On which event day was the AI/adjuster agreement rate lowest, and what was it (as a fraction)?",
         "SELECT event_date, agreement_rate FROM model_performance_daily ORDER BY agreement_rate LIMIT 1"),
    Case("What are the total Textract savings in GBP over all days?",
         "SELECT sum(textract_savings_gbp) AS textract_savings_gbp FROM financial_ops_daily"),
    Case("How much was paid out in total (payouts released, GBP) on the most recent event day?",
         "SELECT payouts_released_gbp FROM financial_ops_daily ORDER BY event_date DESC LIMIT 1"),
    Case("What was the median AI processing time in milliseconds of the claims completed (paid or denied) on each "
         "event day?",
         "SELECT event_date, processing_time_p50_ms FROM operational_efficiency_daily"),
    Case("Which claim status change (from one status to the next) takes the longest on average? Give the from "
         "status, the to status and the average seconds between them.",
         "SELECT from_status, to_status, avg(seconds_between) AS avg_seconds FROM claim_status_transitions "
         "GROUP BY ALL ORDER BY avg_seconds DESC LIMIT 1"),
    Case("How many times did a claim go from ADJUSTER_REVIEW to APPROVED?",
         "SELECT count(*) AS transitions FROM claim_status_transitions "
         "WHERE from_status = 'ADJUSTER_REVIEW' AND to_status = 'APPROVED'"),
    Case("What are the top 3 adjuster override themes by number of overrides over all days, most first?",
         "SELECT theme, sum(overrides) AS overrides FROM override_themes GROUP BY theme "
         "ORDER BY overrides DESC LIMIT 3", ordered=True),
    Case("How many claims were submitted on each event day?",
         "SELECT event_date, count(*) AS claims_submitted FROM claims WHERE event_type = 'INSERT' GROUP BY event_date"),
    Case("What is the total AWS cost (Textract plus Bedrock) in GBP over all claims, taking each claim's latest state?",
         "SELECT sum(total_aws_cost) AS total_aws_cost FROM claims_current"),
    Case("How many decisions (approvals and denials) were made in total over all days?",
         "SELECT sum(decisions) AS decisions FROM model_performance_daily"),
    Case("In the most recent week of hard cases, which claim ranks first and what is its payout difference?",
         "SELECT claim_id, payout_difference FROM hard_cases WHERE week_start = (SELECT max(week_start) FROM "
         "hard_cases) AND rank = 1"),
    Case("What is the average claim amount per region, over each claim's latest state, highest first?",
         "SELECT region, avg(claim_amount) AS avg_claim_amount FROM claims_current GROUP BY region "
         "ORDER BY avg_claim_amount DESC", ordered=True),
    Case("How many claim change records were there per hour of the day (0 to 23), over all days?",
         "SELECT hour(event_time) AS hour, count(*) AS events FROM claims GROUP BY hour"),
    Case("How many high-risk claims were assessed per region over all days, according to the fraud heatmap?",
         "SELECT region, sum(high_risk_claims) AS high_risk_claims FROM fraud_heatmap GROUP BY region"),
    Case("What share of claim decisions (APPROVED or DENIED) were overridden by an adjuster over all days, as a "
         "fraction?",
         "SELECT sum(overrides) / sum(decisions) AS override_rate FROM model_performance_daily"),
    # LLM runs (seed 004)
    Case("How many orchestrator runs are there in total?", "SELECT total_runs FROM run_summary"),
    Case("What is the total LLM cost in USD per project, highest first?",
         "SELECT project_name, total_cost FROM project_costs ORDER BY total_cost DESC", ordered=True),
    Case("Which model has the highest total cost, and what is its share of all LLM cost (as a fraction)?",
         "SELECT model_name, cost_share FROM model_costs ORDER BY total_cost DESC LIMIT 1"),
    Case("How many tokens did each model use in total?", "SELECT model_name, total_tokens FROM model_costs"),
    Case("What is the QA pass rate over all runs, as a fraction?", "SELECT pass_rate FROM qa_summary"),
    Case("How many runs used the 3-loop mode?", "SELECT count(*) AS runs FROM llm_run_costs WHERE mode = '3-loop'"),
    Case("How many background jobs are failed right now?",
         "SELECT count(*) AS failed_jobs FROM llm_jobs_current WHERE status = 'failed'"),
    Case("What is the average run duration in seconds per project?",
         "SELECT project_name, avg_duration_seconds FROM project_costs"),
    Case("How much of this month's LLM budget is left, in USD?", "SELECT budget_remaining FROM run_summary"),
    Case("On which day of the daily runs series was the LLM cost highest, and what was that cost?",
         "SELECT date, cost FROM daily_runs ORDER BY cost DESC LIMIT 1"),
    Case("How many runs failed?", "SELECT count(*) AS failed_runs FROM llm_run_costs WHERE status = 'failed'"),
    Case("What is the average cost of a run in USD?", "SELECT avg_cost_per_run FROM run_summary"),
    Case("How many runs did each project have, most first?",
         "SELECT project_name, runs_count FROM project_costs ORDER BY runs_count DESC", ordered=True),
    # conversations (seeds 001, 003)
    Case("How many conversation sessions were there per channel?",
         "SELECT channel, count(*) AS sessions FROM conversation_sessions GROUP BY channel"),
    Case("What share of conversation sessions were escalated to a human, as a fraction?",
         "SELECT avg(escalated::INTEGER) AS escalation_rate FROM conversation_sessions"),
    Case("What is the most common intent of the users' queries, and how many queries have it?",
         "SELECT intent, count(*) AS queries FROM intents GROUP BY intent ORDER BY queries DESC LIMIT 1"),
    Case("What is the automation rate of each agent over the last 30 days (not the all-agents figure)?",
         "SELECT agent_id, automation_rate FROM conversation_insights WHERE timeframe = '30d' AND agent_id <> 'all'"),
    Case("What is the average classifier confidence per intent?",
         "SELECT intent, avg(confidence) AS avg_confidence FROM intents GROUP BY intent"),
    Case("How many sessions ended in each outcome (resolved, escalated, dropped)?",
         "SELECT outcome, count(*) AS sessions FROM user_journeys GROUP BY outcome"),
    Case("After a 'maintenance' intent, what are the 3 likeliest next intents (looking at the one previous intent) "
         "and their probabilities, likeliest first?",
         "SELECT next_intent, probability FROM next_intent_probabilities WHERE n = 1 AND context = 'maintenance' "
         "ORDER BY probability DESC LIMIT 3", ordered=True),
    Case("Which user has had the most sessions, and how many?",
         "SELECT user_id, sessions FROM user_profiles ORDER BY sessions DESC LIMIT 1"),
    Case("What is the assistant's average response time in milliseconds per agent, over the user turns?",
         "SELECT agent_id, avg(response_time_ms) AS avg_response_time_ms FROM conversation_turns GROUP BY agent_id"),
    # the lake's own bookkeeping
    Case("How many landing records were quarantined per source?",
         "SELECT source, count(*) AS quarantined FROM ingest_errors GROUP BY source"),
    Case("How many landing files were taken in per source?",
         "SELECT source, count(*) AS files FROM ingested_files GROUP BY source"),
]


# --- comparing result sets -------------------------------------------------------------------------------------

def normal(value):
    """A value as answers are compared: numbers as floats, dates and midnight timestamps alike, intervals in seconds."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) and value.tzinfo is None else value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return tuple(normal(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, normal(v)) for k, v in value.items()))
    return str(value)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= max(ABS_TOLERANCE, REL_TOLERANCE * max(abs(a), abs(b)))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _order_key(value):
    rank = {type(None): 0, bool: 1, float: 2, str: 3, tuple: 4}.get(type(value), 5)
    return rank, (value if rank in (1, 2, 3) else str(value))


def _same_rows(expected: list[tuple], actual: list[tuple], ordered: bool) -> bool:
    if not ordered:
        expected = sorted(expected, key=lambda row: [_order_key(v) for v in row])
        actual = sorted(actual, key=lambda row: [_order_key(v) for v in row])
    return all(same(e, a) for e_row, a_row in zip(expected, actual, strict=True)
               for e, a in zip(e_row, a_row, strict=True))


def compare(expected_rows: list[tuple], actual_rows: list[tuple], ordered: bool) -> str:
    """"" when the answer holds the expected result, else why not."""
    expected = [tuple(normal(v) for v in row) for row in expected_rows]
    actual = [tuple(normal(v) for v in row) for row in actual_rows]
    if len(expected) != len(actual):
        return f"{len(actual)} rows, expected {len(expected)}"
    if not expected:
        return ""
    width, actual_width = len(expected[0]), len(actual[0])
    if actual_width < width:
        return f"{actual_width} columns, expected at least {width}"

    def column(rows, i):
        return sorted((row[i] for row in rows), key=_order_key)

    candidates = [[k for k in range(actual_width)
                   if all(same(e, a) for e, a in zip(column(expected, j), column(actual, k), strict=True))]
                  for j in range(width)]
    if not all(candidates):
        return f"no column holds the expected values of column {candidates.index([]) + 1}"
    for choice in product(*candidates):  # each expected column on a distinct column of the answer
        if len(set(choice)) == width and _same_rows(expected, [tuple(row[k] for k in choice) for row in actual],
                                                    ordered):
            return ""
    return "the expected values do not line up in the same rows" + (" and order" if ordered else "")


# --- running ---------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="an existing data dir holding the demo lake")
    parser.add_argument("--only", default="", help="question numbers to ask, e.g. 3,7 (default: all)")
    parser.add_argument("--self-check", action="store_true", help="score a scripted local endpoint, no model needed")
    parser.add_argument("--verbose", action="store_true", help="print each answer's SQL")
    args = parser.parse_args()

    llm = {n: v for n, v in os.environ.items() if n.startswith("ANALYTICS_LLM_")}  # point_env drops ANALYTICS_*
    key = {"ANALYTICS_PSEUDONYM_KEY": "benchmark-key-" + "0" * 32}
    env = point_env(Path(args.data_dir), **key, **llm) if args.data_dir else fresh_env(WORK, **key, **llm)
    if not args.data_dir:
        print("building the demo lake ...", flush=True)
        subprocess.run([sys.executable, "-m", "analytics_pipeline.cli", "demo"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    numbers = [int(n) for n in args.only.split(",") if n.strip()] or list(range(1, len(CASES) + 1))
    cases = {n: CASES[n - 1] for n in numbers}
    if args.self_check:
        return self_check(cases, args.verbose)
    from analytics_pipeline.ask.models import configured_model
    from analytics_pipeline.settings import SettingsError, load_settings

    try:
        model = configured_model(load_settings().language_model)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verdicts = score(cases, model, args.verbose)
    passed = sum(verdicts.values())
    return 0 if passed / len(verdicts) > TARGET else 1


def score(cases: dict[int, Case], model, verbose: bool) -> dict[int, bool]:
    """Ask every case, print its verdict and the score; returns number → passed."""
    from analytics_pipeline.ask.answer import ANSWERED, ask, failure
    from analytics_pipeline.ask.history import record
    from analytics_pipeline.serving.sql_runner import run_query
    from analytics_pipeline.settings import load_settings

    settings = load_settings()
    print(f"model {model.name} at {getattr(model, 'endpoint', '')}; {len(cases)} questions; data {settings.data_dir}")
    verdicts, started, attempts = {}, time.monotonic(), 0
    for number, case in cases.items():
        expected = run_query(settings, case.sql)
        answer = ask(settings, case.question, model)
        record(settings, answer)
        attempts += len(answer.attempts)
        why = compare(expected.rows, answer.result.rows, case.ordered) if answer.outcome == ANSWERED \
            else failure(answer)
        verdicts[number] = not why
        tries = f"{len(answer.attempts)} attempt{'s' if len(answer.attempts) != 1 else ''}"
        print(f"{'PASS' if not why else 'FAIL'} {number:>3}  {case.question}  ({tries}, {answer.seconds:.1f} s)"
              f"{'' if not why else ': ' + why}", flush=True)
        if verbose or why:
            print(f"          asked: {' '.join(answer.sql.split()) or '-'}\n          expected: {case.sql}")
    passed = sum(verdicts.values())
    print(f"\nscore: {passed}/{len(verdicts)} = {passed / len(verdicts):.1%} correct (target > {TARGET:.0%}); "
          f"{attempts} model answers; {time.monotonic() - started:.0f} s")
    return verdicts


# Self-check: every 6th question is first answered with a query that cannot run (the retry must fix it); every
# 4th question without an order is answered with an extra first column and its rows shuffled (still right); these are
# answered wrongly on purpose and must be failed by the scorer: another question's SQL, or the right rows reversed.
BROKEN_FIRST_EVERY, DECORATED_EVERY = 6, 4
WRONG_ON_PURPOSE = {5: "other", 15: "reversed", 24: "other", 43: "reversed"}


def self_check(cases: dict[int, Case], verbose: bool) -> int:
    from analytics_pipeline.ask.models import configured_model
    from analytics_pipeline.settings import load_settings
    from analytics_pipeline_tests.ask.chat_server import chat_server, sql_reply

    by_question = {case.question: number for number, case in cases.items()}

    def respond(request):
        number = by_question[request.messages[1]["content"]]
        if number % BROKEN_FIRST_EVERY == 0 and len(request.messages) == 2:
            return sql_reply("SELECT count(*) FROM no_such_view")
        how, sql = WRONG_ON_PURPOSE.get(number), CASES[number - 1].sql
        if how == "other":
            return sql_reply(CASES[number % len(CASES)].sql)
        if how == "reversed":
            return sql_reply(f"SELECT * EXCLUDE (position) FROM (SELECT *, row_number() OVER () AS position "
                             f"FROM ({sql})) ORDER BY position DESC")
        if number % DECORATED_EVERY == 0 and not CASES[number - 1].ordered:
            return sql_reply(f"SELECT 'extra' AS note, * FROM ({sql}) ORDER BY random()")
        return sql_reply(sql)

    with chat_server(respond) as server:
        os.environ.update(ANALYTICS_LLM_BASE_URL=server.url, ANALYTICS_LLM_MODEL="self-check")
        os.environ.pop("ANALYTICS_LLM_PLUGIN", None)
        verdicts = score(cases, configured_model(load_settings().language_model), verbose)
    wrong = [n for n, passed in verdicts.items() if passed == (n in WRONG_ON_PURPOSE)]
    retried = [n for n in cases if n % BROKEN_FIRST_EVERY == 0]
    decorated = [n for n in cases if n % DECORATED_EVERY == 0 and not cases[n].ordered and n not in WRONG_ON_PURPOSE]
    print(f"self-check: {len(verdicts) - len(wrong)}/{len(verdicts)} verdicts as expected "
          f"({len([n for n in WRONG_ON_PURPOSE if n in cases])} wrong answers planted, {len(retried)} questions "
          f"answered with a broken query first, {len(decorated)} with an extra column and shuffled rows)"
          f"{'' if not wrong else '; unexpected: ' + str(wrong)}")
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
