"""The code's floors (docs/architecture.md): imports point down, and every source folder is registered."""

import subprocess
import sys
from pathlib import Path

import analytics_pipeline
from analytics_pipeline.sources.registry import SOURCE_NAMES, SOURCE_SPECS, all_sources

ROOT = Path(__file__).resolve().parents[1]


def test_imports_point_down_the_floors():
    """import-linter's layers contract in pyproject.toml: no module imports from a floor above its own."""
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_every_source_folder_is_registered_once():
    folders = {p.parent.name for p in Path(analytics_pipeline.__file__).parent.glob("sources/*/source.py")}
    assert sorted(SOURCE_NAMES) == sorted(folders)
    assert [spec.name for spec in SOURCE_SPECS] == list(SOURCE_NAMES)
    sources = all_sources()
    assert [s.name for s in sources] == list(SOURCE_NAMES)
    # a source's assets and its registry entry share one spec object
    assert all(source.spec is spec for source, spec in zip(sources, SOURCE_SPECS))
