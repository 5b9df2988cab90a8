"""A copy of the session's demo lake for `ask`: every question writes to the lake's ask log (and adds the
``ask_history`` view to the warehouse), which the lake other tests share must not get."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analytics_pipeline.serving.warehouse import views_follow_the_data_dir
from analytics_pipeline.settings import Settings, load_settings
from analytics_pipeline_tests.lakes import Lake, clear_analytics_env


@pytest.fixture(scope="module")
def ask_data_dir(built_demo_lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo lake's lake folder and warehouse, copied (the views then rebuilt for the copy's place)."""
    source = Path(built_demo_lake.settings.data_dir)
    copy = tmp_path_factory.mktemp("ask") / "data"
    shutil.copytree(source / "lake", copy / "lake")
    shutil.copy2(source / "warehouse.duckdb", copy / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        clear_analytics_env(mp)
        mp.setenv("ANALYTICS_DATA_DIR", str(copy))
        views_follow_the_data_dir(load_settings())
    return copy


@pytest.fixture
def ask_lake(ask_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The environment pointed at the copy, with no language model configured (and no OPENAI_* variable)."""
    clear_analytics_env(monkeypatch)
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(ask_data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(ask_data_dir / "dagster_home"))
    return load_settings()
