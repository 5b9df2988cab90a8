"""SIGKILL real ``analytics-pipeline run`` processes at every kind of write, rerun, compare with a clean run.

The landing files are the session demo lake's (copied with their modification times), so the demo
lake — built by one clean run — is the reference. Files arrive in two groups, so the second group
also exercises the full merge of a day that already has a raw partition. Each run is killed at a
publish step (the ``os.replace`` of a finished temp file, the warehouse swap) or right after a merge published,
before its raw ledger entry or before its staging files were removed; after every kill a reader must see whole
files only, the reruns must name no raw day as lost, and the final rerun must give the clean run's views.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_pipeline.settings import Settings
from analytics_pipeline_tests.lake_state import (
    assert_nothing_partial_visible,
    copy_landing,
    landing_keys,
    leftovers,
    run_cli,
    run_killed_at,
    split_inside_a_day,
    unfinished_runs,
    view_definitions,
    view_fingerprints,
)

# (where, os call, pattern on "SRC -> DST" or the removed path, nth match)
FIRST_GROUP_KILLS = [
    ("mid staging write (one day's staging file published, the next still a temp file)",
     "replace", r"\.tmp -> .*/staging/claims/.*\.parquet$", 2),
    ("mid daily marts (the day's raw partition published, its staging files gone)",
     "replace", r"/parts-[0-9a-f]+/.* -> .*/marts/.*/event_date=.*/part-0\.parquet$", 3),
    ("mid keyed table rebuild (one bucket published, the others still in the scratch folder)", "replace",
     r"/parts-[0-9a-f]+/.* -> .*/processed/claims_current/first_day=.*/part-0\.parquet$", 2),
]
SECOND_GROUP_KILLS = [
    ("mid raw merge write (an existing partition being replaced)", "replace",
     r"\.tmp -> .*/raw/claims/.*/part-0\.parquet$", 1),
    ("after a merge published, before its raw ledger entry", "replace",
     r"\.tmp -> .*/ledger/claims/entry-[0-9a-f]{16}\.parquet$", 1),
    ("after a merge published, before its staging files were removed", "remove", r"/staging/claims/.*\.parquet$", 1),
    ("mid keyed table update (its buckets published, what it took in not yet recorded)", "replace",
     r"\.tmp -> .*/state/tables/processed/claims_current\.json$", 1),
    ("mid warehouse refresh (new catalogue built, not yet swapped in)", "replace", r"\.tmp -> .*/warehouse\.duckdb$", 1),
]


@pytest.fixture(scope="module")
def clean_fingerprints(demo_lake) -> dict:
    settings, _ = demo_lake
    return view_fingerprints(settings)


def _kill_and_check(settings: Settings, where: str, call: str, pattern: str, nth: int) -> None:
    catalogue = view_definitions(settings)
    run_killed_at(settings, call, pattern, nth)
    assert_nothing_partial_visible(settings)
    if "warehouse" in where:
        assert catalogue and view_definitions(settings) == catalogue, "readers keep the old catalogue until the swap"
        assert any(p.startswith("warehouse.duckdb.") for p in leftovers(settings)), "killed before the swap"
    assert [r.status.value for r in unfinished_runs(settings)] == ["STARTED"], where


def test_killed_runs_leave_nothing_partial_and_a_rerun_equals_a_clean_run(demo_lake, lake_env, clean_fingerprints):
    reference, _ = demo_lake
    keys = landing_keys(reference)
    split = split_inside_a_day(keys, 2 / 3)
    copy_landing(reference, lake_env, keys[:split])

    for where, call, pattern, nth in FIRST_GROUP_KILLS:
        _kill_and_check(lake_env, where, call, pattern, nth)
    assert any(p.startswith("lake/") for p in leftovers(lake_env)), "the mid-write kills left their temp files"
    finished = run_cli(lake_env, "run")
    assert finished.returncode == 0, finished.stderr
    assert "marked 1 runs of a killed earlier process as failed" in finished.stdout
    assert "raw_rows_accounted" not in finished.stderr  # no kill left the raw ledger claiming a false loss

    copy_landing(reference, lake_env, keys[split:])
    for where, call, pattern, nth in SECOND_GROUP_KILLS:
        _kill_and_check(lake_env, where, call, pattern, nth)
    finished = run_cli(lake_env, "run")
    assert finished.returncode == 0, finished.stderr
    assert "raw_rows_accounted" not in finished.stderr

    assert unfinished_runs(lake_env) == []
    assert list(Path(lake_env.lake_uri).glob("staging/claims/*/*.parquet")) == []
    assert view_fingerprints(lake_env) == clean_fingerprints
