"""Cost by run tag and the tag budgets of ANALYTICS_BUDGETS, on a lake built and refreshed by the real pipeline.

``tags_lake``: runs over 46 days carrying tags (tenant, team, feature, user), a few without, one with a model no
price list knows, and two whose tags cannot be read (quarantined). Built with budgets that put tenant:acme at 75 % of
its 30-day budget, then refreshed with budgets at 95 % and 110 % of it, as the monthly budget's checks are tested.
The runs are dated relative to the day the lake is built on (built again if the refreshes cross midnight).
"""

from __future__ import annotations

import dagster as dg
import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.settings import SettingsError, TagBudget, load_settings
from analytics_pipeline_tests.lakes import built_lake, utc_now
from analytics_pipeline_tests.llm_runs.test_llm_marts import (
    SOURCE, Days, approx, at, jsonl, latest_check_evaluations, parse_time, rows,
)


def tagged_run(d: Days, run_id: str, days_ago: int, cost: float, tags, model: str = "gpt-4o", **usage) -> dict:
    tokens = usage or {"input_tokens": 1000, "output_tokens": 100, "cost": cost}
    return {"run_id": run_id, "project": "tags", "started_at": at(d.ago(days_ago), 9), "mode": "2-loop",
            "status": "completed", "qa_status": "passed", "models": [{"model": model, **tokens}], "tags": tags}


ACME_SEARCH = {"tenant": "acme", "team": "search", "feature": "summarise"}


def tag_runs(d: Days) -> list[dict]:
    return [
        tagged_run(d, "a-today", 0, 4.0, {**ACME_SEARCH, "user": 42}),       # a number: its text
        tagged_run(d, "a-5", 5, 3.0, ACME_SEARCH),
        tagged_run(d, "a-6", 6, 1.5, {"tenant": "acme", "team": "search", "internal": True}),
        tagged_run(d, "a-20", 20, 2.0, {"tenant": "acme", "team": "ranking"}),
        tagged_run(d, "a-29", 29, 1.0, {"tenant": "acme"}),                   # the window's first day: in
        tagged_run(d, "a-30", 30, 100.0, {"tenant": "acme"}),                 # the day before: out
        tagged_run(d, "a-45", 45, 100.0, {"tenant": "acme", "team": "search"}),
        tagged_run(d, "g-3", 3, 7.0, {"tenant": "globex", "team": "search", "user": None}),  # a null tag is no tag
        tagged_run(d, "g-unpriced", 3, 0.0, {"tenant": "globex"}, model="mystery-llm", input_tokens=900,
                   output_tokens=90),
        {**tagged_run(d, "untagged", 2, 50.0, {}), "tags": None},
        tagged_run(d, "no-tags", 2, 60.0, {}),
    ]


def bad_tag_runs(d: Days) -> list[dict]:
    return [
        tagged_run(d, "list-tags", 1, 1.0, ["tenant:acme"]),
        tagged_run(d, "nested-tags", 1, 1.0, {"tenant": {"name": "acme"}}),
    ]
ACME_30D = 4.0 + 3.0 + 1.5 + 2.0 + 1.0   # a-today .. a-29
SEARCH_7D = 4.0 + 3.0 + 1.5 + 7.0        # team search over the last 7 days: a-today, a-5, a-6, g-3


def budgets(acme_share: float) -> str:
    """ANALYTICS_BUDGETS with tenant:acme at ``acme_share`` of its 30-day budget, team:search at 50 % of its 7-day
    one, and a budget for a tenant without runs."""
    return (f"tenant:acme={ACME_30D / acme_share!r}/30d, team:search={SEARCH_7D / 0.5!r}/7d, "
            f"tenant:initech=10/30d")


@pytest.fixture(scope="module")
def tags_lake(tmp_path_factory):
    """The lake and, per step, the check evaluations and tag_budgets; steps["days"]: the days its runs are dated by,
    those of the day it was built on (built again if the refreshes crossed midnight)."""
    while True:
        d = Days(utc_now().date())
        steps = {"days": d}
        files = [("runs.jsonl", jsonl(*tag_runs(d), *bad_tag_runs(d)))]
        with built_lake(tmp_path_factory, "tags", {SOURCE: files}, ANALYTICS_BUDGETS=budgets(0.75),
                        ANALYTICS_MONTHLY_BUDGET="none") as lake:
            steps["75%"] = latest_check_evaluations(), tag_budgets(lake)
            lake.refresh(ANALYTICS_BUDGETS=budgets(0.95))
            steps["95%"] = latest_check_evaluations(), tag_budgets(lake)
            lake.refresh(ANALYTICS_BUDGETS=budgets(1.10))
            steps["110%"] = latest_check_evaluations(), tag_budgets(lake)
            if utc_now().date() == d.today:
                yield lake, steps
                return


def tag_budgets(lake) -> dict[str, dict]:
    return {f"{r['tag_key']}:{r['tag_value']}": r for r in rows(lake.settings, "SELECT * FROM tag_budgets")}


def test_bad_tags_are_quarantined_with_their_reason(tags_lake):
    lake, steps = tags_lake
    reasons = {(r["reason"], r["reason_detail"])
               for r in rows(lake.settings,
                             f"SELECT reason, reason_detail FROM ingest_errors WHERE source = '{SOURCE}'")}
    assert reasons == {("wrong_type", 'tags is not an object of names and values: ["tenant:acme"]'),
                       ("wrong_type", 'tags.tenant is not a text, number or true/false: {"name":"acme"}')}
    assert lake.reports[SOURCE].figures.landed == len(tag_runs(steps["days"]))


def test_run_tags_are_their_text(tags_lake):
    lake, _ = tags_lake
    tags = {r["run_id"]: dict(r["tags"]) for r in rows(lake.settings, "SELECT run_id, tags FROM llm_run_costs")}
    assert tags["a-today"] == {**ACME_SEARCH, "user": "42"}
    assert tags["a-6"] == {"tenant": "acme", "team": "search", "internal": "true"}
    assert tags["g-3"] == {"tenant": "globex", "team": "search"}
    assert tags["untagged"] == {} and tags["no-tags"] == {}


def test_tag_costs_per_tag_and_day(tags_lake):
    lake, steps = tags_lake
    d = steps["days"]
    expected: dict[tuple, list[dict]] = {}
    for run in tag_runs(d):
        for key, value in (run["tags"] or {}).items():
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)  # JSON's true, 42
                expected.setdefault((key, text, parse_time(run["started_at"]).date()), []).append(run)
    actual = {(r["tag_key"], r["tag_value"], r["date"]): r for r in rows(lake.settings, "SELECT * FROM tag_costs")}
    assert set(actual) == set(expected)
    for key, runs in expected.items():
        priced = [r["models"][0]["cost"] for r in runs if r["models"][0]["model"] != "mystery-llm"]
        assert actual[key]["runs"] == len(runs), key
        assert actual[key]["cost"] == (approx(sum(priced)) if priced else None), key
    globex = actual[("tenant", "globex", d.ago(3))]
    assert (globex["runs"], globex["cost"], globex["unpriced_tokens"], globex["unpriced_runs"]) == \
        (2, approx(7.0), 990, 1)  # the mystery model's tokens: counted, not priced
    assert actual[("team", "search", d.ago(45))]["cost"] == approx(100.0)


def test_tag_budgets_over_rolling_windows(tags_lake):
    _, steps = tags_lake
    d, (_, found) = steps["days"], steps["75%"]
    assert set(found) == {"tenant:acme", "team:search", "tenant:initech"}
    acme = found["tenant:acme"]
    assert (acme["window_days"], acme["window_start"], acme["window_end"]) == (30, d.ago(29), d.today)
    assert acme["cost"] == approx(ACME_30D) and acme["runs"] == 5  # a-30 and a-45 are outside the window
    assert acme["budget_used_ratio"] == approx(0.75)
    assert acme["budget_remaining"] == approx(ACME_30D / 0.75 - ACME_30D)
    search = found["team:search"]
    assert (search["cost"], search["window_start"], search["budget_used_ratio"]) == \
        (approx(SEARCH_7D), d.ago(6), approx(0.5))
    initech = found["tenant:initech"]
    assert (initech["cost"], initech["runs"], initech["budget_used_ratio"]) == (0.0, 0, 0.0)


def verdicts(evaluations) -> dict[str, bool]:
    return {name: evaluations[name].passed for name in
            ("tag_budgets_below_70_percent", "tag_budgets_below_90_percent", "tag_budgets_not_exceeded")}


def test_a_tag_budget_at_75_percent_warns_at_70_only(tags_lake):
    evaluations, _ = tags_lake[1]["75%"]
    assert verdicts(evaluations) == {"tag_budgets_below_70_percent": False, "tag_budgets_below_90_percent": True,
                                     "tag_budgets_not_exceeded": True}
    warning = evaluations["tag_budgets_below_70_percent"]
    assert warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.description == f"tenant:acme ${ACME_30D:,.2f} of ${ACME_30D / 0.75:,.2f} over 30 days (75%)"
    assert evaluations["tag_budgets_below_90_percent"].description == "all 3 tag budgets below 90 %"
    assert evaluations["tag_budgets_not_exceeded"].metadata["largest_budget_used_ratio"].value == approx(0.75)


def test_a_tag_budget_at_95_percent_warns_twice(tags_lake):
    evaluations, found = tags_lake[1]["95%"]
    assert found["tenant:acme"]["budget_used_ratio"] == approx(0.95)
    assert verdicts(evaluations) == {"tag_budgets_below_70_percent": False, "tag_budgets_below_90_percent": False,
                                     "tag_budgets_not_exceeded": True}
    assert evaluations["tag_budgets_below_90_percent"].severity == dg.AssetCheckSeverity.WARN


def test_a_tag_budget_exceeded_is_an_error(tags_lake):
    evaluations, found = tags_lake[1]["110%"]
    assert found["tenant:acme"]["budget_used_ratio"] == approx(1.10) and found["tenant:acme"]["budget_remaining"] < 0
    assert verdicts(evaluations) == {"tag_budgets_below_70_percent": False, "tag_budgets_below_90_percent": False,
                                     "tag_budgets_not_exceeded": False}
    exceeded = evaluations["tag_budgets_not_exceeded"]
    assert exceeded.severity == dg.AssetCheckSeverity.ERROR
    assert exceeded.description.startswith("tenant:acme ") and "(110%)" in exceeded.description
    assert "team:search" not in exceeded.description  # at 50 % it is past no level


def test_tag_budgets_are_parsed(monkeypatch):
    monkeypatch.setenv("ANALYTICS_BUDGETS", " tenant:acme=200/30d, team:search=50.5/7D ,feature:summarise v2=0/1d")
    assert load_settings().tag_budgets == (TagBudget("tenant", "acme", 200.0, 30), TagBudget("team", "search", 50.5, 7),
                                           TagBudget("feature", "summarise v2", 0.0, 1))
    monkeypatch.setenv("ANALYTICS_BUDGETS", "")
    assert load_settings().tag_budgets == ()


@pytest.mark.parametrize("value, message", [
    ("acme=200/30d", "ANALYTICS_BUDGETS: 'acme=200/30d' is not a tag budget such as tenant:acme=200/30d"),
    ("tenant:acme", "ANALYTICS_BUDGETS: 'tenant:acme' is not a tag budget such as tenant:acme=200/30d"),
    ("tenant:=200/30d", "ANALYTICS_BUDGETS: 'tenant:=200/30d' is not a tag budget"),
    ("tenant:acme=200", "ANALYTICS_BUDGETS: 'tenant:acme=200' needs a window, e.g. tenant:acme=200/30d"),
    ("tenant:acme=lots/30d", "ANALYTICS_BUDGETS: tenant:acme has the amount 'lots'; give an amount of money"),
    ("tenant:acme=-5/30d", "ANALYTICS_BUDGETS: tenant:acme has the amount '-5'"),
    ("tenant:acme=200/30", "ANALYTICS_BUDGETS: tenant:acme has the window '30'; give a number of days such as 30d"),
    ("tenant:acme=200/0d", "ANALYTICS_BUDGETS: tenant:acme has the window '0d'"),
    ("tenant:acme=200/1m", "ANALYTICS_BUDGETS: tenant:acme has the window '1m'"),
    ("tenant:acme=1/30d,tenant:acme=2/7d", "ANALYTICS_BUDGETS: tenant:acme is given twice"),
])
def test_a_bad_tag_budget_is_a_one_line_settings_error(lake_env, monkeypatch, capsys, value, message):
    monkeypatch.setenv("ANALYTICS_BUDGETS", value)
    with pytest.raises(SettingsError, match="^ANALYTICS_BUDGETS"):
        load_settings()
    assert main(["sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
