"""Dashboard files: every mistake is one line naming the file and the field; bad SQL never gets to run."""

import pytest

from analytics_pipeline.cli import main
from analytics_pipeline.dashboards.definition import (DashboardDefinitionError, dashboard_files, load_dashboard,
                                                      load_dashboards)

GOOD_WIDGET = "  - {id: total, title: Total, type: kpi-card, sql: 'SELECT 1'}\n"
HEAD = "id: mine\ntitle: Mine\naudience: Me\ncategory: Tests\nwidgets:\n"


@pytest.mark.parametrize("text, message", [
    (HEAD + "  - {id: total, title: Total, type: barchart, sql: 'SELECT 1'}\n",
     "mine.yaml: widgets[0] (total).type: 'barchart' is not one of kpi-card, bar-chart"),
    (HEAD + "  - {id: wipe, title: Wipe, type: table, sql: 'DELETE FROM claims'}\n",
     "mine.yaml: widgets[0] (wipe).sql: only read-only queries"),
    (HEAD + "  - {id: two, title: Two, type: table, sql: 'SELECT 1; SELECT 2'}\n",
     "mine.yaml: widgets[0] (two).sql: expected exactly one statement, got 2"),
    (HEAD + "  - {id: bad, title: Bad, type: table, sql: 'SELEC 1 FROM'}\n", "mine.yaml: widgets[0] (bad).sql: "),
    (HEAD + GOOD_WIDGET + GOOD_WIDGET, "mine.yaml: widgets[1].id: 'total' appears twice"),
    (HEAD.replace("title: Mine\n", "") + GOOD_WIDGET, "mine.yaml: title: missing or empty"),
    (HEAD.replace("id: mine", "id: My Board") + GOOD_WIDGET, "mine.yaml: id: 'My Board' must be lower-case"),
    (HEAD + GOOD_WIDGET + "colour: red\n", "mine.yaml: unknown field(s) colour"),
    (HEAD + "  - {id: g, title: G, type: gauge, sql: 'SELECT 1', options: {max: lots}}\n",
     "mine.yaml: widgets[0] (g).options.max: 'lots' is not a number"),
    (HEAD + "  - {id: k, title: K, type: kpi-card, sql: 'SELECT 1', options: {format: money}}\n",
     "mine.yaml: widgets[0] (k).options.format: 'money' is not one of"),
    (HEAD + "widgets: [\n", "mine.yaml: not valid YAML (line"),
    (HEAD, "mine.yaml: widgets: expected a non-empty list"),
])
def test_definition_mistakes_are_one_line_naming_file_and_field(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(DashboardDefinitionError) as err:
        load_dashboard(path)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_user_dashboards_come_after_the_shipped_ones_and_ids_stay_unique(tmp_path):
    (tmp_path / "mine.yaml").write_text(HEAD + GOOD_WIDGET)
    (tmp_path / "notes.txt").write_text("not a dashboard")
    dashboards = load_dashboards(dashboard_files(str(tmp_path)))
    assert dashboards[-1].id == "mine" and len(dashboards) == 6
    (tmp_path / "clash.yaml").write_text(HEAD.replace("id: mine", "id: llm_costs") + GOOD_WIDGET)
    with pytest.raises(DashboardDefinitionError, match="clash.yaml: id: 'llm_costs' is already used by llm_costs.yaml"):
        load_dashboards(dashboard_files(str(tmp_path)))


def test_tables_read_exclude_ctes(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(HEAD + "  - {id: t, title: T, type: table, sql: 'WITH x AS (SELECT * FROM claims) "
                           "SELECT * FROM x JOIN run_summary ON true'}\n")
    assert load_dashboard(path).tables == ["claims", "run_summary"]


def test_a_bad_user_dashboard_stops_run_with_one_line_and_exit_2(lake_env, monkeypatch, tmp_path, capsys):
    folder = tmp_path / "my_dashboards"
    folder.mkdir()
    (folder / "mine.yaml").write_text(HEAD + "  - {id: x, title: X, type: pie, sql: 'DROP TABLE claims'}\n")
    monkeypatch.setenv("ANALYTICS_DASHBOARDS_DIR", str(folder))
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mine.yaml: widgets[0] (x).sql: only read-only queries") and "\n" not in err
