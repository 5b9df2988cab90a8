"""Every source's parser, fed hostile landing files: random JSON, wrong types, missing keys, huge
lines, deep nesting, invalid UTF-8, cut-off lines, truncated gzip, empty files.

Each example lands a few generated files, runs the real ``stage_batch`` and ``merge_day`` into a
fresh local lake and checks that nothing crashed and nothing was lost: the records the files hold
(counted independently, by the documented contract) equal records in, and equal the rows in raw +
the rows in errors + the duplicates; the manifest counts each file's records the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from analytics_pipeline_tests.fuzz.landing_fuzz import SPECS, check, fresh_workdir, ingest, landing_files


def _batches(source: str):
    return st.lists(landing_files(source), min_size=1, max_size=3)


@pytest.mark.parametrize("source", sorted(SPECS))
def test_no_record_is_lost_and_nothing_crashes(source: str) -> None:
    @given(files=_batches(source))
    def batch(files) -> None:
        with fresh_workdir() as workdir:
            check(ingest(source, files, Path(workdir)))

    batch()
