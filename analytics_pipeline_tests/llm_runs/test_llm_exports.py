"""The seed's exports (JSON, sectioned CSV) and table exports (CSV/JSON/Parquet), empty lakes, and re-pricing.

Two lakes, each built once by ``run_pipeline``: ``empty_lake`` (an empty landing zone: no LLM files at all)
and ``price_lake`` (a few runs whose computed costs a price change and ``reprice`` move; no monthly budget).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

import pyarrow.parquet as pq
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline_tests.lakes import built_lake_of_one_day
from analytics_pipeline_tests.llm_runs.test_llm_marts import (
    GENAI_PRICES, SOURCE, Days, approx, at, jsonl, known_sum, latest_check_evaluations, load_price_table, one,
    reference_run, rows,
)

SEED_SUMMARY_FIELDS = {
    "total_runs", "total_jobs", "total_tokens", "total_cost", "avg_cost_per_run", "avg_duration_seconds",
    "jobs_completed", "jobs_failed", "jobs_cancelled", "jobs_running", "jobs_queued", "runs_2loop", "runs_3loop",
    "qa_summary", "monthly_budget", "current_month_cost", "budget_remaining", "generated_at",
}
QA_FIELDS = {"total_qa_runs", "qa_passed", "qa_warning", "qa_failed", "qa_error", "qa_not_run", "pass_rate"}
SEED_PROJECT_FIELDS = {"project_name", "runs_count", "last_run_time", "total_tokens", "total_cost",
                       "avg_duration_seconds", "qa_passed", "qa_warning", "qa_failed", "qa_not_run"}
SEED_MODEL_FIELDS = {"model_name", "total_tokens", "total_cost", "usage_count"}
SEED_TIMESERIES_FIELDS = {"date", "runs", "tokens", "cost", "qa_passed", "qa_warning", "qa_failed"}
SEED_PROJECT_HEADER = ["Project", "Runs", "Last Run", "Total Tokens", "Total Cost (USD)", "Avg Duration (s)"]
SEED_MODEL_HEADER = ["Model", "Total Tokens", "Total Cost (USD)", "Usage Count"]
SEED_MARTS = ("run_summary", "project_costs", "model_costs", "daily_runs")
LLM_TABLES = ("run_summary", "project_costs", "model_costs", "daily_runs", "qa_summary", "llm_run_costs",
              "llm_jobs_current")
EMPTY_DAYS = 5


def jsonable(value):
    """What a JSON export should hold for a warehouse value: dates and times as ISO-8601 strings."""
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def as_json_records(records: list[dict]) -> list[dict]:
    return [{k: jsonable(v) for k, v in r.items()} for r in records]


def export(capsys, *args) -> tuple[int, str, str]:
    code = main(["export", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_sections(text: str) -> dict[str, list[list[str]]]:
    """The sectioned CSV as {title: rows after the title}; sections are separated by an empty line."""
    sections, title = {}, None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            title = None
        elif title is None:
            title = row[0]
            assert len(row) == 1, f"section title row {row}"
            sections[title] = []
        else:
            sections[title].append(row)
    return sections


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


# --------------------------------------------------------------------------------------------------
# No LLM data: the marts exist, are empty or zero, and every export is valid
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built_empty_lake(tmp_path_factory):
    """run_pipeline over an empty landing zone: no LLM files at all; and the day it was built on."""
    with built_lake_of_one_day(tmp_path_factory, "empty_llm", lambda day: {},
                               ANALYTICS_TIMESERIES_DAYS=EMPTY_DAYS) as (lake, day):
        yield lake, Days(day)


@pytest.fixture
def empty_lake(built_empty_lake, monkeypatch):
    lake, _ = built_empty_lake
    lake.use(monkeypatch)
    return lake


@pytest.fixture(scope="module")
def empty_days(built_empty_lake) -> Days:
    return built_empty_lake[1]


def test_empty_llm_marts_exist_and_are_zero(empty_lake, empty_days):
    settings = empty_lake.settings
    assert (empty_lake.reports["llm_runs"].figures.files, empty_lake.reports["llm_runs"].figures.records_in) == (0, 0)
    for table in ("project_costs", "model_costs", "llm_run_costs", "llm_jobs_current"):
        assert rows(settings, f"SELECT * FROM {table}") == [], table
    summary = one(settings, "SELECT * FROM run_summary")
    budget = {k: summary.pop(k) for k in ("monthly_budget", "current_month_cost", "budget_remaining",
                                          "budget_used_ratio", "generated_at")}
    assert budget["monthly_budget"] == 50.0 and budget["current_month_cost"] == 0.0
    assert budget["budget_remaining"] == 50.0 and budget["budget_used_ratio"] == 0.0
    assert isinstance(budget["generated_at"], datetime)
    assert summary and all(v == 0 for v in summary.values()), summary
    assert one(settings, "SELECT * FROM qa_summary") == {f: 0 for f in QA_FIELDS}
    daily = rows(settings, "SELECT * FROM daily_runs ORDER BY date")
    assert [d.pop("date") for d in daily] == [empty_days.ago(n) for n in range(EMPTY_DAYS - 1, -1, -1)]
    assert all(v == 0 for d in daily for v in d.values())


def test_empty_seed_json_export(empty_lake, empty_days, tmp_path, capsys):
    code, out, err = export(capsys, "--format", "json", "--out", str(tmp_path))
    assert code == 0 and out.strip() == str(tmp_path / "analytics.json")
    assert err.startswith("note: these are the LLM runs analytics") and "by naming their tables" in err  # not "all"
    document = json.loads((tmp_path / "analytics.json").read_text())
    assert set(document) == {"summary", "projects", "models", "timeseries"}
    assert document["projects"] == [] and document["models"] == []
    assert len(document["timeseries"]) == EMPTY_DAYS
    assert document["timeseries"][-1]["date"] == empty_days.today.isoformat()
    assert all(p["runs"] == 0 and p["cost"] == 0 for p in document["timeseries"])
    summary = document["summary"]
    assert SEED_SUMMARY_FIELDS <= set(summary)
    assert summary["qa_summary"] == {f: 0 for f in QA_FIELDS}
    assert (summary["total_runs"], summary["total_cost"], summary["monthly_budget"], summary["budget_remaining"]) == \
        (0, 0, 50.0, 50.0)


def test_empty_seed_csv_export(empty_lake, tmp_path, capsys):
    code, _, _ = export(capsys, "--format", "csv", "--out", str(tmp_path))
    assert code == 0
    sections = csv_sections((tmp_path / "analytics.csv").read_text())
    assert list(sections) == ["OVERALL SUMMARY", "PER-PROJECT SUMMARY", "PER-MODEL SUMMARY"]
    metrics = dict(sections["OVERALL SUMMARY"][1:])
    assert sections["OVERALL SUMMARY"][0] == ["Metric", "Value"]
    assert (number(metrics["Total Runs"]), number(metrics["Total Cost (USD)"]),
            number(metrics["Monthly Budget (USD)"])) == (0, 0, 50)
    assert sections["PER-PROJECT SUMMARY"][0][:6] == SEED_PROJECT_HEADER
    assert sections["PER-MODEL SUMMARY"][0][:4] == SEED_MODEL_HEADER
    assert len(sections["PER-PROJECT SUMMARY"]) == 1 and len(sections["PER-MODEL SUMMARY"]) == 1  # headers only


def test_empty_parquet_export(empty_lake, tmp_path, capsys):
    code, out, _ = export(capsys, "--format", "parquet", "--out", str(tmp_path))
    assert code == 0
    assert sorted(out.split()) == sorted(str(tmp_path / f"{m}.parquet") for m in SEED_MARTS)
    tables = {m: pq.read_table(tmp_path / f"{m}.parquet") for m in SEED_MARTS}
    assert {m: t.num_rows for m, t in tables.items()} == {"run_summary": 1, "project_costs": 0, "model_costs": 0,
                                                          "daily_runs": EMPTY_DAYS}
    assert SEED_PROJECT_FIELDS <= set(tables["project_costs"].column_names)
    assert SEED_MODEL_FIELDS | {"cost_share"} <= set(tables["model_costs"].column_names)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_empty_tables_export_in_every_format(empty_lake, tmp_path, capsys, fmt):
    code, _, _ = export(capsys, *LLM_TABLES, "--format", fmt, "--out", str(tmp_path))
    assert code == 0
    for table in LLM_TABLES:
        expected = rows(empty_lake.settings, f"SELECT * FROM {table}")
        path = tmp_path / f"{table}.{fmt}"
        if fmt == "json":
            assert json.loads(path.read_text()) == as_json_records(expected), table
        elif fmt == "csv":
            lines = list(csv.reader(io.StringIO(path.read_text())))
            assert lines[0] == list(rows_columns(empty_lake, table)) and len(lines) == 1 + len(expected), table
        else:
            assert pq.read_table(path).num_rows == len(expected), table


def rows_columns(lake, table: str) -> list[str]:
    from analytics_pipeline.serving.sql_runner import run_query

    return run_query(lake.settings, f"SELECT * FROM {table} LIMIT 0").columns


# --------------------------------------------------------------------------------------------------
# A lake with prices to change: exports with data, reprice
# --------------------------------------------------------------------------------------------------

def priced_run(run_id: str, day: date, hour: int, project: str, qa: str, models: list[dict], **extra) -> dict:
    return {"run_id": run_id, "project": project, "started_at": at(day, hour), "finished_at": at(day, hour, 4),
            "mode": "2-loop" if len(models) == 1 else "3-loop", "status": "completed", "qa_status": qa,
            "models": models, **extra}


def mini(tokens_in: int, tokens_out: int, **cost) -> dict:
    return {"model": "gpt-4o-mini", "input_tokens": tokens_in, "output_tokens": tokens_out, **cost}


def price_runs(d: Days) -> list[dict]:
    """Reprice window: ago(3) .. ago(2). The new gpt-4o-mini price takes effect on ago(2)."""
    return [
        priced_run("p-before", d.ago(3), 9, "alpha", "passed", [mini(10000, 1000)]),         # in window, before
        priced_run("p-covered", d.ago(2), 9, "alpha", "warning", [mini(20000, 4000)]),      # in window, covered
        priced_run("p-mixed", d.ago(2), 11, "beta", "failed",                                # in window, covered
                   [mini(3000, 500), {"model": "claude-3-haiku", "input_tokens": 100, "output_tokens": 20}]),
        priced_run("p-reported", d.ago(2), 13, "beta", "passed", [mini(50000, 9000, cost=0.5)]),  # reported
        {**priced_run("p-today", d.today, 0, "alpha", "passed", [mini(7000, 700)]),          # covered, not repriced
         "started_at": at(d.today, 0, 0, 1), "finished_at": None},
        priced_run("p-unpriced", d.ago(2), 9, "gamma", "not_run",
                   [{"model": "mystery-llm", "input_tokens": 100, "output_tokens": 10}]),
    ]


def price_jobs(d: Days) -> list[dict]:
    return [
        {"job_id": "job-a", "status": "queued", "updated_at": at(d.ago(2), 8, 59)},
        {"job_id": "job-a", "status": "completed", "updated_at": at(d.ago(2), 9, 5)},
        {"job_id": "job-b", "status": "queued", "updated_at": at(d.ago(2), 8, 59)},
    ]


def new_mini_price(d: Days) -> dict:
    return {"model": "gpt-4o-mini", "effective_from": d.ago(2).isoformat(), "input_per_1k": 0.001,
            "output_per_1k": 0.004}


@pytest.fixture(scope="module")
def built_price_lake(tmp_path_factory):
    """The price lake and the days its runs are dated by (those of the day it was built on)."""
    def files(day: date) -> dict:
        return {SOURCE: [("runs.jsonl", jsonl(*price_runs(Days(day)))), ("jobs.jsonl", jsonl(*price_jobs(Days(day))))]}

    with built_lake_of_one_day(tmp_path_factory, "prices", files, ANALYTICS_TIMESERIES_DAYS=7,
                               ANALYTICS_MONTHLY_BUDGET="none") as (lake, day):
        yield lake, Days(day)


@pytest.fixture
def price_lake(built_price_lake, monkeypatch):
    lake, _ = built_price_lake
    lake.use(monkeypatch)
    return lake


@pytest.fixture(scope="module")
def price_days(built_price_lake) -> Days:
    return built_price_lake[1]


def test_no_budget_disables_the_budget(price_lake, price_days):
    lake, evaluations = price_lake, latest_check_evaluations()
    summary = one(lake.settings, "SELECT * FROM run_summary")
    assert (summary["monthly_budget"], summary["budget_remaining"], summary["budget_used_ratio"]) == (None, None, None)
    runs = [reference_run(doc, load_price_table()) for doc in price_runs(price_days)]
    this_month = [r for r in runs if (r.started.year, r.started.month) == (lake.finished.year, lake.finished.month)]
    assert summary["current_month_cost"] == approx(known_sum(r.cost for r in this_month))
    assert all(evaluations[name].passed for name in
               ("budget_below_70_percent", "budget_below_90_percent", "budget_not_exceeded"))
    assert evaluations["budget_not_exceeded"].description == "no monthly budget configured"


def test_seed_json_export(price_lake, price_days, tmp_path, capsys):
    code, out, err = export(capsys, "--format", "json", "--out", str(tmp_path))
    assert (code, out.strip()) == (0, str(tmp_path / "analytics.json"))
    assert err.startswith("note: these are the LLM runs analytics") and len(err.splitlines()) == 1  # nothing else
    document = json.loads((tmp_path / "analytics.json").read_text())
    assert set(document) == {"summary", "projects", "models", "timeseries"}

    summary, mart = document["summary"], one(price_lake.settings, "SELECT * FROM run_summary")
    assert SEED_SUMMARY_FIELDS <= set(summary)
    assert not [k for k in summary if k.startswith("qa_") and k != "qa_summary"], "QA fields belong in qa_summary"
    assert summary["qa_summary"] == one(price_lake.settings, "SELECT * FROM qa_summary")
    assert summary["qa_summary"]["pass_rate"] == approx(3 / 5)  # passed 3; warning 1, failed 1; not_run 1
    for field in SEED_SUMMARY_FIELDS - {"qa_summary"}:
        assert summary[field] == jsonable(mart[field]), field
    assert datetime.fromisoformat(summary["generated_at"]) == mart["generated_at"]

    assert document["projects"] == as_json_records(rows(price_lake.settings, "SELECT * FROM project_costs"))
    assert all(SEED_PROJECT_FIELDS <= set(p) for p in document["projects"])
    assert document["models"] == as_json_records(rows(price_lake.settings, "SELECT * FROM model_costs"))
    assert all(SEED_MODEL_FIELDS <= set(m) for m in document["models"])
    costs = {m["model_name"]: m["total_cost"] for m in document["models"]}
    assert costs.pop("mystery-llm") is None, "a model without a price has an unknown cost (null), not 0"
    assert all(isinstance(cost, float) for cost in costs.values()), costs
    timeseries = document["timeseries"]
    assert timeseries == as_json_records(rows(price_lake.settings, "SELECT * FROM daily_runs ORDER BY date"))
    assert all(SEED_TIMESERIES_FIELDS <= set(p) for p in timeseries) and len(timeseries) == 7
    assert [p["date"] for p in timeseries] == [price_days.ago(n).isoformat() for n in range(6, -1, -1)]


def test_seed_csv_export(price_lake, tmp_path, capsys):
    code, out, _ = export(capsys, "--format", "csv", "--out", str(tmp_path))
    assert code == 0 and out.strip() == str(tmp_path / "analytics.csv")
    sections = csv_sections((tmp_path / "analytics.csv").read_text())
    assert list(sections) == ["OVERALL SUMMARY", "PER-PROJECT SUMMARY", "PER-MODEL SUMMARY"]

    overall = sections["OVERALL SUMMARY"]
    assert overall[0] == ["Metric", "Value"] and all(len(r) == 2 for r in overall)
    assert [r[0] for r in overall[1:4]] == ["Total Runs", "Total Jobs", "Total Tokens"]
    metrics = dict(overall[1:])
    mart = one(price_lake.settings, "SELECT * FROM run_summary")
    for label, field in [("Total Runs", "total_runs"), ("Total Jobs", "total_jobs"), ("Total Tokens", "total_tokens"),
                         ("Total Cost (USD)", "total_cost"), ("QA Pass Rate", "qa_pass_rate"),
                         ("Monthly Budget (USD)", "monthly_budget"), ("Current Month Cost (USD)", "current_month_cost"),
                         ("Budget Remaining (USD)", "budget_remaining")]:
        if mart[field] is None:  # no monthly budget: an empty cell
            assert metrics[label] == "", label
        else:
            assert number(metrics[label]) == approx(mart[field]), label

    projects = rows(price_lake.settings, "SELECT * FROM project_costs")
    header, *body = sections["PER-PROJECT SUMMARY"]
    assert header[:6] == SEED_PROJECT_HEADER
    assert [r[0] for r in body] == [p["project_name"] for p in projects]
    for row, project in zip(body, projects):
        assert int(row[1]) == project["runs_count"]
        assert number(row[4]) == (None if project["total_cost"] is None else approx(project["total_cost"]))
        assert row[2] == project["last_run_time"].isoformat()

    models = rows(price_lake.settings, "SELECT * FROM model_costs")
    header, *body = sections["PER-MODEL SUMMARY"]
    assert header[:4] == SEED_MODEL_HEADER
    assert [r[0] for r in body] == [m["model_name"] for m in models]
    for row, model in zip(body, models):
        assert (int(row[1]), int(row[3])) == (model["total_tokens"], model["usage_count"])
        assert number(row[2]) == (None if model["total_cost"] is None else approx(model["total_cost"])), row


def test_parquet_export_equals_the_marts(price_lake, tmp_path, capsys):
    code, out, _ = export(capsys, "project_costs", "model_costs", "--format", "parquet", "--out", str(tmp_path))
    assert code == 0
    assert out.split() == [str(tmp_path / "project_costs.parquet"), str(tmp_path / "model_costs.parquet")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_costs.parquet", "project_costs.parquet"]
    for table in ("project_costs", "model_costs"):
        exported = pq.read_table(tmp_path / f"{table}.parquet")
        assert exported.num_rows > 0
        assert exported.to_pylist() == rows(price_lake.settings, f"SELECT * FROM {table}"), table


def test_unknown_mart_is_a_one_line_error(price_lake, tmp_path, capsys):
    code, out, err = export(capsys, "project_costs", "no_such_mart", "--format", "csv", "--out", str(tmp_path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "no_such_mart" in err and "project_costs" in err  # lists what exists
    assert not list(tmp_path.glob("*.csv"))


def usage_by_run(lake) -> dict[tuple[str, str], dict]:
    return {(r["run_id"], r["model"]): r for r in rows(lake.settings, "SELECT * FROM llm_model_usage")}


def test_reprice_changes_only_the_chosen_days(price_lake, price_days, tmp_path, capsys, monkeypatch):
    old_prices = load_price_table()  # no overrides: genai-prices alone
    before = usage_by_run(price_lake)
    before_costs = {r["run_id"]: r for r in rows(price_lake.settings, "SELECT * FROM llm_run_costs")}
    for doc in price_runs(price_days):  # the lake priced every run as genai-prices says
        run = reference_run(doc, old_prices)
        for u in run.usage:
            assert before[(run.run_id, u.model)]["price_version"] == u.price_version
    assert before[("p-covered", "gpt-4o-mini")]["price_version"] == f"{GENAI_PRICES}: openai/gpt-4o-mini"

    new_file = tmp_path / "prices.json"  # an override: a negotiated gpt-4o-mini price from ago(2) on
    new_file.write_text(json.dumps({"prices": [new_mini_price(price_days)]}))
    monkeypatch.setenv("ANALYTICS_MODEL_PRICES", str(new_file))
    assert main(["reprice", "--from", price_days.ago(3).isoformat(), "--to", price_days.ago(2).isoformat()]) == 0
    assert "re-priced 2 days" in capsys.readouterr().out

    new_prices = load_price_table(new_file)
    after = usage_by_run(price_lake)
    assert set(after) == set(before)
    repriced_days = {price_days.ago(3), price_days.ago(2)}
    changed = set()
    for doc in price_runs(price_days):
        started = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00")).date()
        expected = reference_run(doc, new_prices if started in repriced_days else old_prices)
        for u in expected.usage:
            row = after[(expected.run_id, u.model)]
            key = (doc["run_id"], u.model)
            assert (row["cost_source"], row["price_version"]) == (u.cost_source, u.price_version), key
            assert row["cost"] == (None if u.cost is None else approx(u.cost)), key
            if row["cost"] != before[(expected.run_id, u.model)]["cost"]:
                changed.add((expected.run_id, u.model))
    # only the computed gpt-4o-mini usage of the covered, repriced day moved
    assert changed == {("p-covered", "gpt-4o-mini"), ("p-mixed", "gpt-4o-mini")}
    new_version = f"ANALYTICS_MODEL_PRICES: gpt-4o-mini@{price_days.ago(2).isoformat()}"
    assert after[("p-covered", "gpt-4o-mini")]["price_version"] == new_version
    assert after[("p-covered", "gpt-4o-mini")]["cost"] == approx((20000 * 0.001 + 4000 * 0.004) / 1000)
    assert after[("p-before", "gpt-4o-mini")] == before[("p-before", "gpt-4o-mini")]    # before the new price
    assert after[("p-today", "gpt-4o-mini")] == before[("p-today", "gpt-4o-mini")]      # not re-priced (yet)
    reported_before, reported_after = before[("p-reported", "gpt-4o-mini")], after[("p-reported", "gpt-4o-mini")]
    for field in ("cost", "reported_cost", "cost_source", "price_version"):  # the reported cost stays
        assert reported_after[field] == reported_before[field], field
    assert reported_after["cost"] == 0.5 and reported_after["cost_source"] == "reported"
    # (only the informational computed_cost of a reported row follows the prices)
    assert reported_after["computed_cost"] == approx((50000 * 0.001 + 9000 * 0.004) / 1000)
    assert after[("p-mixed", "claude-3-haiku")] == before[("p-mixed", "claude-3-haiku")]

    # the refresh carried the new costs into the run costs and the marts
    after_costs = {r["run_id"]: r for r in rows(price_lake.settings, "SELECT * FROM llm_run_costs")}
    delta = sum(after[k]["cost"] - before[k]["cost"] for k in changed)
    assert delta > 0
    for run_id, row in after_costs.items():
        moved = sum(after[k]["cost"] - before[k]["cost"] for k in changed if k[0] == run_id)
        if before_costs[run_id]["cost"] is None:  # the unpriced run: still unknown
            assert row["cost"] is None and not moved, run_id
        else:
            assert row["cost"] == approx(before_costs[run_id]["cost"] + moved), run_id
    summary = one(price_lake.settings, "SELECT total_cost FROM run_summary")
    assert summary["total_cost"] == approx(known_sum(before_costs[r]["cost"] for r in before_costs) + delta)
    mini_cost = one(price_lake.settings, "SELECT total_cost FROM model_costs WHERE model_name = 'gpt-4o-mini'")
    assert mini_cost["total_cost"] == approx(sum(r["cost"] for k, r in after.items() if k[1] == "gpt-4o-mini"))


def test_reprice_rejects_a_backwards_period(price_lake, price_days, capsys):
    assert main(["reprice", "--from", price_days.ago(1).isoformat(), "--to", price_days.ago(3).isoformat()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
