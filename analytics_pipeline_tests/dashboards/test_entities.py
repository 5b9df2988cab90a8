"""Dashboards per entity (seed 002's dashboards per prospect): a page per project, agent and region whose figures
are the warehouse's rows of that entity; hostile entity values stay values; the API lists, filters, sorts and
answers 404s over real HTTP; a second generation rewrites only the entities whose data changed."""

import json
import shutil
import threading
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import dagster as dg
import pytest

from analytics_pipeline.dashboards.definition import SHIPPED_DIR, DashboardDefinitionError, load_dashboard
from analytics_pipeline.dashboards import refresh
from analytics_pipeline.dashboards.entities import entity_key, names_read, queries_names
from analytics_pipeline.dashboards.refresh import EntityPages, update_site
from analytics_pipeline.sources.llm_runs.demo import llm_runs_landing_files
from analytics_pipeline.runner import dagster_instance
from analytics_pipeline.web.server import make_server
from analytics_pipeline.serving.sql_runner import run_query
from analytics_pipeline.settings import load_settings
from analytics_pipeline_tests.lakes import built_lake, landing_root

SITE_KINDS = {"llm_costs": "project", "conversation_insights": "agent", "model_performance": "region",
              "operational_efficiency": "region"}


def _entity_doc(settings, kind: str, entity_id: str, dashboard_id: str) -> dict:
    path = Path(settings.data_dir) / "site" / "entities" / f"{kind}.{entity_key(entity_id)}.{dashboard_id}.json"
    return json.loads(path.read_text())


def _widgets(doc: dict) -> dict:
    return {w["id"]: w for w in doc["widgets"]}


def _grouped(settings, sql: str) -> dict:
    """``sql``'s rows by their first column (the entity)."""
    return {row[0]: row[1:] for row in run_query(settings, sql).rows}


def _series(widget: dict) -> dict:
    data = widget["data"]
    return dict(zip(data["labels"], data["datasets"][0]["data"]))


# -- figures ---------------------------------------------------------------------------------------------------


def test_every_project_has_a_page_whose_figures_are_its_runs(use_dashboards_lake):
    settings = use_dashboards_lake
    runs = _grouped(settings, "SELECT project, count(*), sum(cost), sum(total_tokens) FROM llm_run_costs GROUP BY 1")
    jobs = _grouped(settings, "SELECT project, count(*) FROM llm_jobs_current GROUP BY 1")
    per_model = defaultdict(dict)
    for project, model, cost in run_query(settings, "SELECT project, model, sum(cost) "  # NULL: no price
                                                    "FROM llm_model_usage GROUP BY 1, 2").rows:
        per_model[project][model] = cost
    per_day = defaultdict(dict)
    for project, day, count in run_query(settings, "SELECT project, run_date, count(*) FROM llm_run_costs "
                                                   "GROUP BY 1, 2").rows:
        per_day[project][str(day)] = count
    unpriced = _grouped(settings, "SELECT project, coalesce(sum(unpriced_tokens), 0) FROM llm_run_costs GROUP BY 1")
    tags = defaultdict(Counter)  # the runs of the last 30 days under each of their tags
    for project, run_tags in run_query(settings, "SELECT project, tags FROM llm_run_costs "
                                                 "WHERE run_date > current_date - 30").rows:
        tags[project].update(dict(run_tags or {}).items())
    assert len(runs) >= 3
    for project, (count, cost, tokens) in runs.items():
        doc = _entity_doc(settings, "project", project, "llm_costs")
        widgets = _widgets(doc)
        assert doc["status"] == "ready" and doc["entity"] == {"kind": "project", "label": "Project", "id": project,
                                                              "key": entity_key(project)}
        assert widgets["total_runs"]["data"]["value"] == count
        assert widgets["total_cost"]["data"]["value"] == pytest.approx(cost)
        assert widgets["total_tokens"]["data"]["value"] == tokens
        assert widgets["jobs"]["data"]["value"] == jobs.get(project, (0,))[0]
        models = widgets["models"]["data"]
        cost_at = [column["name"] for column in models["columns"]].index("total_cost")
        assert {row[0]: row[cost_at] for row in models["rows"]} == pytest.approx(per_model[project])
        assert {day: n for day, n in _series(widgets["runs_over_time"]).items() if n} == per_day[project]
        assert [row[0] for row in widgets["projects"]["data"]["rows"]] == [project]
        assert "budget" not in widgets  # per_entity: false
        details = {d["label"]: d["value"] for d in widgets["total_cost"]["data"]["details"]}
        assert details["Tokens without a price"] == unpriced[project][0]
        by_tag = widgets["tags"]["data"]
        columns = [column["name"] for column in by_tag["columns"]]
        assert "budget" not in columns  # a tag budget counts every project's runs
        assert {(row[0], row[1]): row[columns.index("runs")] for row in by_tag["rows"]} == tags[project]
        assert tags[project] and {key for key, _ in tags[project]} == {"team", "tenant", "feature"}
    everyone = _widgets(json.loads((Path(settings.data_dir) / "site" / "data" / "llm_costs.json").read_text()))
    assert sum(count for count, _, _ in runs.values()) == everyone["total_runs"]["data"]["value"]


def test_every_agent_has_a_page_whose_figures_are_its_sessions(use_dashboards_lake):
    settings = use_dashboards_lake
    agents = _grouped(settings, "SELECT agent_id, count(*) FROM conversation_sessions WHERE agent_id IS NOT NULL "
                                "GROUP BY 1")
    insights = _grouped(settings, "SELECT agent_id, conversations, cost_savings FROM session_outcome_insights "
                                  "WHERE timeframe = '30d'")
    sdk = _grouped(settings, "SELECT agent_id, conversations, total_messages FROM conversation_insights "
                             "WHERE timeframe = '30d'")  # the chat SDK's own metrics, over its events
    incomplete = defaultdict(dict)
    for agent, intent, sessions in run_query(settings, "SELECT agent_id, last_intent, incomplete_sessions "
                                                       "FROM drop_off_points WHERE timeframe = '30d'").rows:
        incomplete[agent][intent] = sessions
    per_day = defaultdict(dict)
    for agent, day, count in run_query(settings, "SELECT agent_id, started_date, count(*) FROM conversation_sessions "
                                                 "GROUP BY 1, 2").rows:
        per_day[agent][str(day)] = count
    assert len(agents) >= 2
    for agent in agents:
        widgets = _widgets(_entity_doc(settings, "agent", agent, "conversation_insights"))
        assert widgets["conversations"]["data"]["value"] == insights[agent][0]
        assert widgets["cost_savings"]["data"]["value"] == pytest.approx(insights[agent][1])
        assert _series(widgets["daily_conversations"]) == per_day[agent]
        assert "agents" not in widgets and "top_flows" not in widgets
        seed_30d = {row[0]: row for row in widgets["seed_metrics"]["data"]["rows"]}.get("30d")
        assert (seed_30d[1], seed_30d[5]) == sdk[agent] if agent in sdk else seed_30d is None
        assert _series(widgets["seed_drop_off"]) == incomplete.get(agent, {})
    assert any(incomplete.get(agent) for agent in agents)  # the session left without an end is an agent's


def test_every_region_has_pages_whose_figures_are_its_claims(use_dashboards_lake):
    settings = use_dashboards_lake
    claims = _grouped(settings, "SELECT region, count(*) FILTER (WHERE NOT removed), "
                                "count(*) FILTER (WHERE status = 'ADJUSTER_REVIEW' AND NOT removed) "
                                "FROM claims_current WHERE region IS NOT NULL GROUP BY 1")
    hard = defaultdict(list)
    for region, claim_id in run_query(settings, """
            SELECT region, claim_id FROM hard_cases h
            WHERE week_start = (SELECT max(week_start) FROM hard_cases WHERE region = h.region)
            ORDER BY rank""").rows:
        hard[region].append(claim_id)
    assert len(claims) >= 5
    for region, (current, in_review) in claims.items():
        efficiency = _widgets(_entity_doc(settings, "region", region, "operational_efficiency"))
        assert efficiency["open_claims"]["data"]["value"] == in_review
        assert efficiency["open_claims"]["data"]["details"][0]["value"] == current
        assert sum(efficiency["claims_by_status"]["data"]["datasets"][0]["data"]) == current
        performance = _widgets(_entity_doc(settings, "region", region, "model_performance"))
        assert [row[1] for row in performance["hard_cases"]["data"]["rows"]] == hard[region][:10]
        assert set(performance) == {"fraud_heatmap", "hard_cases"}
    everyone = _widgets(json.loads((Path(settings.data_dir) / "site" / "data" / "operational_efficiency.json")
                                   .read_text()))
    assert sum(current for current, _ in claims.values()) == everyone["open_claims"]["data"]["details"][0]["value"]


def _generated(site: Path) -> dict[str, dict]:
    """Every page document of a site, without what changes from one generation to the next."""
    docs = {}
    for path in sorted(site.rglob("*.json")):
        doc = json.loads(path.read_text())
        if isinstance(doc, dict) and "widgets" in doc:
            doc = {k: v for k, v in doc.items() if k not in ("generated_at", "generation_ms", "fingerprint")}
            doc["widgets"] = [{k: _rounded(v) for k, v in w.items() if k != "query_ms"} for w in doc["widgets"]]
            docs[str(path.relative_to(site))] = doc
    return docs


def _rounded(value):
    """Floats to 12 significant digits (DuckDB sums doubles in no fixed order)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_entity_pages_over_large_tables_read_a_copy_of_the_columns_they_name(use_dashboards_lake, monkeypatch,
                                                                               tmp_path):
    """An entity table too large to copy whole (claims_current of a big lake) is copied into each worker's memory
    with only the columns the pages' queries name: the pages are the same as when every query reads the lake."""
    dashboards = [load_dashboard(path) for path in sorted(SHIPPED_DIR.glob("*.yaml"))]
    with_entities = [d for d in dashboards if d.entity]
    for dashboard in with_entities:  # the shipped pages name their columns, so the copy is what they read
        queries = [w.sql for d in dashboards for w in (*d.widgets, *(d.entity.widgets if d.entity else ()))]
        table = next(iter(dashboard.entity.tables))
        assert queries_names([sql for sql in queries if table in sql]) is not None, dashboard.id
    list(update_site(load_settings(), with_entities, tmp_path / "read"))
    monkeypatch.setattr(refresh, "ENTITY_TABLE_COPY_ROWS", 0)  # every entity table counts as large
    list(update_site(load_settings(), with_entities, tmp_path / "copied"))
    read, copied = _generated(tmp_path / "read"), _generated(tmp_path / "copied")
    assert len(read) > len(with_entities) * 3 and read.keys() == copied.keys()
    for name in read:
        assert copied[name] == read[name], name
        assert not copied[name]["widgets_failed"], name


@pytest.mark.parametrize("sql, reads", [
    ("SELECT status, count(*) FROM t GROUP BY 1", {"status"}),
    ("SELECT count(*) FILTER (WHERE removed) AS n FROM (SELECT * FROM t WHERE region = $entity) AS t", {"removed"}),
    ("WITH x AS (SELECT * FROM t) SELECT a.b FROM x", {"a", "b"}),  # a struct's field: its column is named too
    ("SELECT * FROM t", None),
    ("SELECT t.* FROM t", None),
    ("SELECT * EXCLUDE (a) FROM t", None),
    ("SELECT a FROM t NATURAL JOIN u", None),  # joins on columns it does not name
    ("SELECT COLUMNS('st.*') FROM t", None),
    ("SELECT to_json(t) FROM t", None),  # the whole row
    ("SELECT * FROM (PIVOT t ON status USING count(*))", None),
])
def test_the_columns_a_query_may_read(sql, reads):
    names = names_read(sql)
    assert names is None if reads is None else reads <= names


def test_the_index_links_every_entity_page_and_the_materialization_counts_them(use_dashboards_lake):
    site = Path(use_dashboards_lake.data_dir) / "site"
    index = (site / "index.html").read_text()
    pages = sorted((site / "entities").glob("*.html"))
    assert len(pages) == len(list((site / "entities").glob("*.json"))) > 10
    for page in pages:
        assert f'href="entities/{page.name}"' in index
    projects = run_query(use_dashboards_lake, "SELECT count(DISTINCT project) FROM llm_run_costs").rows[0][0]
    event = dagster_instance(use_dashboards_lake).get_latest_materialization_event(dg.AssetKey("dashboard_llm_costs"))
    metadata = event.asset_materialization.metadata
    assert metadata["entity"].value == "project" and metadata["entities"].value == projects
    assert metadata["entity_pages_failed"].value == 0 and metadata["entity_pages_removed"].value == 0
    assert (metadata["entity_pages_regenerated"].value + metadata["entity_pages_unchanged"].value == projects)


def test_a_lake_without_llm_runs_has_no_project_pages_and_that_is_no_error(use_demo_lake):
    """The session's demo lake holds claims only: the LLM dashboard's entity table has no rows (or is not in the
    warehouse), so there are no project pages, and no error."""
    event = dagster_instance(use_demo_lake).get_latest_materialization_event(dg.AssetKey("dashboard_llm_costs"))
    metadata = event.asset_materialization.metadata
    assert metadata["entities"].value == 0 and "entity_pages_error" not in metadata


def test_another_currency_setting_regenerates_the_entity_pages_in_it(use_dashboards_lake, monkeypatch, tmp_path):
    llm_costs = load_dashboard(SHIPPED_DIR / "llm_costs.yaml")

    def generation(currency: str) -> EntityPages:
        monkeypatch.setenv("ANALYTICS_CURRENCY", currency)
        (update,) = update_site(load_settings(), [llm_costs], tmp_path / "site")
        return update.entity_pages

    first = generation("")
    assert first.entities >= 3 and len(first.regenerated) == first.entities
    assert {d["widgets"][2]["options"]["currency"] for d in first.regenerated} == {"USD"}  # total_cost
    assert len(generation("").unchanged) == first.entities
    euros = generation("llm_runs=EUR")
    assert len(euros.regenerated) == first.entities and not euros.unchanged
    for doc in euros.regenerated:
        assert doc["widgets"][2]["id"] == "total_cost" and doc["widgets"][2]["options"]["currency"] == "EUR"
        page = (tmp_path / "site" / "entities" / f"project.{doc['entity']['key']}.llm_costs.html").read_text()
        assert ">€" in page and ">$" not in page


# -- the API over HTTP -----------------------------------------------------------------------------------------


@pytest.fixture
def serve(request):
    """Start a server on 127.0.0.1 for the given settings; yields a function returning its base URL."""
    servers = []

    def start(settings) -> str:
        server = make_server(settings, "127.0.0.1", 0, refresh_interval=0.1)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _get(base: str, path: str) -> tuple[int, dict | bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            status, body, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        status, body, kind = err.code, err.read(), err.headers["Content-Type"]
    return status, json.loads(body) if kind == "application/json" else body


def test_api_lists_filters_sorts_and_answers_an_entitys_dashboards(use_dashboards_lake, serve):
    base = serve(use_dashboards_lake)
    region = run_query(use_dashboards_lake, "SELECT min(region) FROM claims_current").rows[0][0]
    status, listing = _get(base, f"/api/v1/region/{quote(region)}/dashboards")
    assert status == 200 and listing["entity"] == "region" and listing["id"] == region
    entries = listing["dashboards"]
    # sorted by category, then target audience
    assert [(d["category"], d["target_audience"], d["template_id"]) for d in entries] == [
        ("Claims", "Claims manager", "operational_efficiency"), ("Claims", "Data science", "model_performance")]
    for entry in entries:
        assert entry["generation_status"] == "ready" and entry["widget_count"] == 2
        assert set(entry["data_freshness"]) == {"data_through", "generated_at"} and entry["data_freshness"]["data_through"]
        assert entry["template_name"] in ("Operational efficiency", "Model performance")
        status, doc = _get(base, entry["url"])
        assert status == 200 and doc == _entity_doc(use_dashboards_lake, "region", region, entry["template_id"])
        status, page = _get(base, entry["page"])
        assert status == 200 and region.encode() in page
    status, filtered = _get(base, f"/api/v1/region/{quote(region)}/dashboards?audience=DATA%20SCIENCE")
    assert [d["template_id"] for d in filtered["dashboards"]] == ["model_performance"] and filtered["count"] == 1
    status, filtered = _get(base, f"/api/v1/region/{quote(region)}/dashboards?category=llm%20runs")
    assert status == 200 and filtered["dashboards"] == []
    status, kinds = _get(base, "/api/v1/project")
    projects = {e["id"] for e in kinds["entities"]}
    assert status == 200 and projects == {r[0] for r in run_query(use_dashboards_lake,
                                                                   "SELECT DISTINCT project FROM llm_run_costs").rows}
    assert _get(base, "/api/v1/dashboards")[1]["count"] == 5  # the all-entities list is unchanged

    for path, words in [("/api/v1/prospect/x/dashboards", "unknown entity kind 'prospect'"),
                        ("/api/v1/project/no-such-project/dashboards", "unknown project 'no-such-project'"),
                        (f"/api/v1/region/{quote(region)}/dashboards/llm_costs", "has no dashboard 'llm_costs'"),
                        ("/api/v1/project/x/pages", "/api/v1/project/<id>/dashboards")]:
        status, body = _get(base, path)
        assert status == 404 and words in body["error"] and body["status"] == 404, (path, body)
    status, body = _get(base, f"/api/v1/region/{quote(region)}/dashboards?sort=name")
    assert status == 400 and "sort" in body["error"]


def test_pages_being_regenerated_are_listed_as_generating(use_dashboards_lake, serve, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(Path(use_dashboards_lake.data_dir) / "site", copy / "site")
    project = run_query(use_dashboards_lake, "SELECT min(project) FROM llm_run_costs").rows[0][0]
    settings = replace(use_dashboards_lake, data_dir=str(copy))
    (copy / "site" / "generating").mkdir(exist_ok=True)
    (copy / "site" / "generating" / "llm_costs.json").write_text(json.dumps(
        {"id": "llm_costs", "kind": "project", "entities": [project, "brand_new"], "started_at": "2026-12-05T10:00:00"}))
    base = serve(settings)
    (entry,) = _get(base, f"/api/v1/project/{quote(project)}/dashboards")[1]["dashboards"]
    assert entry["generation_status"] == "generating" and entry["status"] == "ready"  # the old data meanwhile
    assert _get(base, f"/api/v1/project/{quote(project)}/dashboards/llm_costs")[0] == 200
    (entry,) = _get(base, "/api/v1/project/brand_new/dashboards")[1]["dashboards"]
    assert entry["generation_status"] == "generating" and entry["template_name"] == "LLM cost and budget"
    status, body = _get(base, "/api/v1/project/brand_new/dashboards/llm_costs")
    assert status == 202 and body["generation_status"] == "generating"


# -- hostile values, and regenerating only what changed ----------------------------------------------------------

NOW = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None)
HOSTILE = ["x'; DROP TABLE llm_run_costs; --", 'team/"quoted" </script><b>bold</b> ü', "../../etc"]
PROJECTS = ["alpha", "beta", *HOSTILE]


def _run(run_id: str, project: str, hours_ago: float, cost: float) -> dict:
    started = NOW - timedelta(hours=hours_ago)
    return {"run_id": run_id, "project": project, "started_at": started.isoformat() + "Z",
            "finished_at": (started + timedelta(minutes=2)).isoformat() + "Z", "duration_seconds": 120.0,
            "mode": "2-loop", "status": "completed", "qa_status": "passed", "total_cost": cost,
            "models": [{"model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "cost": cost}]}


def _jsonl(*records) -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def _files(site: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted((site / "entities").iterdir())}


@pytest.fixture(scope="module")
def changed_lake(tmp_path_factory):
    """A lake of demo runs and hand-written runs of five projects (three with hostile names); then one more run of
    alpha and a refresh. Yields (settings, entity files before, after)."""
    runs = [_run(f"run-{n}-{i}", project, 3 + i, 0.01 * (n + 1)) for n, project in enumerate(PROJECTS)
            for i in range(2)]
    files = {"llm_runs": [("hand/runs-a.jsonl", _jsonl(*runs)), *llm_runs_landing_files(days=1, seed=5, runs_per_day=12)]}
    with built_lake(tmp_path_factory, "entities", files) as lake:
        site = Path(lake.settings.data_dir) / "site"
        # a page of a project no longer in the data: removed by the next generation
        stale = json.loads((site / "entities" / f"project.{entity_key('beta')}.llm_costs.json").read_text())
        stale["entity"].update(id="gone", key=entity_key("gone"))
        (site / "entities" / f"project.{entity_key('gone')}.llm_costs.json").write_text(json.dumps(stale))
        before = _files(site)
        landing_root(lake.settings).write_bytes(_jsonl(_run("run-alpha-late", "alpha", 1, 0.5)), "llm_runs",
                                                "hand/runs-b.jsonl")
        lake.refresh()
        yield lake.settings, before, _files(site)


def test_hostile_entity_values_are_only_values(changed_lake):
    settings, _, _ = changed_lake
    site = Path(settings.data_dir) / "site"
    costs = _grouped(settings, "SELECT project, count(*), sum(cost) FROM llm_run_costs GROUP BY 1")
    assert set(HOSTILE) <= set(costs)  # the table is still there, with every project
    for project in HOSTILE:
        doc = _entity_doc(settings, "project", project, "llm_costs")
        widgets = _widgets(doc)
        assert doc["status"] == "ready" and doc["entity"]["id"] == project
        assert widgets["total_runs"]["data"]["value"] == costs[project][0] == 2
        assert widgets["total_cost"]["data"]["value"] == pytest.approx(costs[project][1])
        page = (site / "entities" / f"project.{entity_key(project)}.llm_costs.html").read_text()
        assert "</script><b>" not in page  # the value is escaped wherever the page shows it
    for path in (site / "entities").iterdir():  # every file in the folder, named by the slug and hash only
        assert path.parent == site / "entities" and "'" not in path.name and '"' not in path.name
        assert path.name.count(".") == 3 and path.suffix in (".json", ".html")
    assert not (site.parent / "etc").exists() and not (site / "etc").exists()


def test_hostile_entity_ids_round_trip_through_the_api(changed_lake, serve):
    settings, _, _ = changed_lake
    base = serve(settings)
    listed = {e["id"] for e in _get(base, "/api/v1/project")[1]["entities"]}
    assert set(HOSTILE) <= listed
    for project in HOSTILE:
        status, listing = _get(base, f"/api/v1/project/{quote(project, safe='')}/dashboards")
        assert status == 200 and listing["id"] == project
        (entry,) = listing["dashboards"]
        assert entry["url"] == f"/api/v1/project/{quote(project, safe='')}/dashboards/llm_costs"
        status, doc = _get(base, entry["url"])
        assert status == 200 and doc["entity"]["id"] == project
        status, page = _get(base, entry["page"])
        assert status == 200 and f'Widget data: <a href="{entry["url"]}">'.encode() in page  # its own document


def test_a_second_generation_rewrites_only_the_changed_entity(changed_lake):
    settings, before, after = changed_lake
    alpha = {f"project.{entity_key('alpha')}.llm_costs.{suffix}" for suffix in ("json", "html")}
    gone = {f"project.{entity_key('gone')}.llm_costs.json"}
    assert alpha <= set(before) and gone <= set(before)
    assert set(after) == set(before) - gone  # the page of a project no longer in the data is removed
    for name, (mtime, data) in after.items():
        if name in alpha:
            assert mtime != before[name][0] and data != before[name][1], name
        else:
            assert (mtime, data) == before[name], f"{name} was rewritten though its data did not change"
    widgets = _widgets(_entity_doc(settings, "project", "alpha", "llm_costs"))
    assert widgets["total_runs"]["data"]["value"] == 3
    event = dagster_instance(settings).get_latest_materialization_event(dg.AssetKey("dashboard_llm_costs"))
    metadata = event.asset_materialization.metadata
    assert metadata["entity_pages_regenerated"].value == 1 and metadata["entity_pages_removed"].value == 1
    assert metadata["entity_pages_unchanged"].value == metadata["entities"].value - 1
    assert "| alpha | ready |" in metadata["entity_pages"].value


# -- definitions -----------------------------------------------------------------------------------------------

BASE = """
id: per_team
title: Per team
audience: Leads
category: Tests
entity: {entity}
widgets:
  - {{id: runs, title: Runs, type: kpi-card, sql: 'SELECT count(*) FROM llm_run_costs'{extra}}}
  - {{id: total, title: Total, type: kpi-card, sql: 'SELECT total_runs FROM run_summary'{extra2}}}
"""


@pytest.mark.parametrize("entity, extra, extra2, words", [
    ("{name: project, tables: {llm_run_costs: project}}", "", "",
     "widgets[1] (total).sql: reads run_summary, which entity.tables does not list"),
    ("{name: project, tables: {llm_run_costs: project}}", "", ", entity_sql: 'SELECT 1', per_entity: false",
     "entity_sql and per_entity: false contradict each other"),
    ("{name: dashboards, tables: {llm_run_costs: project}}", "", ", per_entity: false",
     "entity.name: 'dashboards' names another API route"),
    ("{name: project, tables: {llm_run_costs: project}}", "", ", entity_sql: 'SELECT 1 FROM main.llm_run_costs'",
     "write llm_run_costs, not main.llm_run_costs"),
    ("{name: project, tables: []}", "", "", "entity.tables: expected a mapping of table: column"),
    ("{name: project, tables: {llm_run_costs: project}}", ", per_entity: false", ", per_entity: false",
     "an entity page needs at least one widget"),
    ("~", "", ", per_entity: false", "widgets[1] (total).per_entity: the dashboard declares no entity"),
])
def test_entity_definitions_that_cannot_be_generated_say_why(tmp_path, entity, extra, extra2, words):
    path = tmp_path / "per_team.yaml"
    path.write_text(BASE.format(entity=entity, extra=extra, extra2=extra2))
    with pytest.raises(DashboardDefinitionError, match=r"^per_team\.yaml: ") as caught:
        load_dashboard(path)
    assert words in str(caught.value)


def test_entity_widgets_bind_the_entity_instead_of_writing_it(tmp_path):
    path = tmp_path / "per_team.yaml"
    path.write_text(BASE.format(entity="{name: project, tables: {llm_run_costs: project}}", extra="",
                                extra2=", entity_sql: 'WITH r AS (SELECT * FROM llm_run_costs) SELECT count(*) FROM r'"))
    dashboard = load_dashboard(path)
    assert [w.sql for w in dashboard.entity.widgets] == [
        'SELECT COUNT(*) FROM (SELECT * FROM "llm_run_costs" WHERE "project" = $entity) AS llm_run_costs',
        'WITH r AS (SELECT * FROM (SELECT * FROM "llm_run_costs" WHERE "project" = $entity) AS llm_run_costs) '
        'SELECT COUNT(*) FROM r']
    assert [w.sql for w in dashboard.widgets][1] == "SELECT total_runs FROM run_summary"  # all entities: as written
