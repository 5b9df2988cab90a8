"""A data dir moved or copied elsewhere: `sql`, `export` and `serve` rebuild the warehouse's views (which hold
absolute paths) for the new place before reading, and say so."""

from __future__ import annotations

import shutil

from analytics_pipeline.cli import main
from analytics_pipeline.serving.warehouse import views_elsewhere
from analytics_pipeline.settings import load_settings
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline_tests.lakes import landing_root
from analytics_pipeline_tests.records import insert, jsonl


def test_a_copied_data_dir_answers_queries_from_its_own_lake(lake_env, tmp_path, monkeypatch, capsys):
    landing_root(lake_env).write_bytes(jsonl([insert(f"e-{n}", f"c-{n}", "2024-03-01", hour=n) for n in range(3)]),
                                       "claims", "a.jsonl")
    assert main(["run"]) == 0
    copy = tmp_path / "elsewhere" / "data"
    shutil.copytree(lake_env.data_dir, copy)
    shutil.rmtree(lake_env.data_dir)  # moved: the old place is gone
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(copy))
    monkeypatch.setenv("DAGSTER_HOME", str(copy / "dagster_home"))
    settings = load_settings()
    assert views_elsewhere(settings.warehouse_path, StorageRoot(settings.lake_uri)) is not None
    capsys.readouterr()

    assert main(["sql", "SELECT count(*) AS n FROM claims", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["n", "3"]
    assert "note: the warehouse's views read" in err and str(copy) in err
    assert views_elsewhere(settings.warehouse_path, StorageRoot(settings.lake_uri)) is None
    assert main(["sql", "SELECT count(*) AS n FROM claims_current", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["n", "3"] and "note:" not in err  # rebuilt once
