"""Hypothesis profiles: ``ci`` (the default) is derandomized and small so the suite stays fast and
repeatable; ``HYPOTHESIS_PROFILE=explore`` draws new random examples (the soak in
``benchmarks/fuzz_soak.py`` goes much further)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=15, derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversations parser pseudonymises user ids; a fixed key keeps the fuzz runs repeatable."""
    monkeypatch.setenv("ANALYTICS_PSEUDONYM_KEY", "fuzz-key-" + "f" * 32)
