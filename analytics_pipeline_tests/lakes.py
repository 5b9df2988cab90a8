"""Lakes for the tests: a fresh data dir brought up to date by the real pipeline, the environment pointed at
a lake, its storage roots, and the quiet log level of the jobs tests execute themselves."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pytest

from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.settings import Settings, load_settings

# run_config of a job a test executes itself: warnings and errors only
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The end of the demo window for tests that need no "now" (demo windows end now by default, so their records,
# drawn by weekday and hour, change with the time the tests run): a Friday noon, UTC, whose windows of 1 to 4 days
# hold weekdays only.
DEMO_END = datetime(2026, 11, 27, 12, 0)


def landing_root(settings: Settings) -> StorageRoot:
    return StorageRoot.of_landing(settings)


def lake_root(settings: Settings) -> StorageRoot:
    return StorageRoot.of_lake(settings)


def conversations_resource():
    """The ``conversations`` resource a run would get from the environment the test set up: for a test that calls
    the conversations parse itself (outside a run it takes the resource it is given)."""
    from analytics_pipeline.sources.conversations.resource import ConversationsResource

    return ConversationsResource.for_settings(load_settings(),
                                              pseudonym_key=os.environ.get("ANALYTICS_PSEUDONYM_KEY", ""))


def clear_analytics_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every ANALYTICS_* variable, so a lake's settings come from what the test sets alone."""
    for name in [n for n in os.environ if n.startswith("ANALYTICS_")]:
        monkeypatch.delenv(name)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass
class Lake:
    """A lake built by ``run_pipeline``, with the environment it was built (and last refreshed) with."""

    settings: Settings
    env: pytest.MonkeyPatch  # the environment while the lake is built; undone when built_lake exits
    variables: dict[str, str]
    reports: dict  # source → runner.SourceReport of the first run
    started: datetime
    finished: datetime

    def refresh(self, **env) -> None:
        """Change ANALYTICS_* settings and bring the lake up to date again (new landing files included)."""
        from analytics_pipeline.runner import run_pipeline

        for name, value in env.items():
            self.env.setenv(name, str(value))
            self.variables[name] = str(value)
        self.settings = load_settings()
        self.started = utc_now()
        run_pipeline(self.settings, progress=lambda _: None)
        self.finished = utc_now()

    def use(self, monkeypatch: pytest.MonkeyPatch) -> Settings:
        """Point the environment at this lake for one test (the CLI reads it), whatever else is set up."""
        clear_analytics_env(monkeypatch)
        for variable, value in self.variables.items():
            monkeypatch.setenv(variable, value)
        return self.settings


@contextlib.contextmanager
def built_lake(tmp_path_factory: pytest.TempPathFactory, name: str,
               files: dict[str, Iterable[tuple[str, bytes]]], **env) -> Iterator[Lake]:
    """A fresh data dir with ``files`` (source → (name, bytes) pairs) in its landing zone, brought up to date by
    ``run_pipeline`` with ``env`` (ANALYTICS_* settings) and nothing else set.

    The environment stays pointed at the lake until the context exits (a session-wide lake exits at once and
    is pointed at per test with ``Lake.use``).
    """
    from analytics_pipeline.runner import run_pipeline

    data_dir = tmp_path_factory.mktemp(name) / "data"
    with pytest.MonkeyPatch.context() as mp:
        clear_analytics_env(mp)
        variables = {"ANALYTICS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home"),
                     **{k: str(v) for k, v in env.items()}}
        for variable, value in variables.items():
            mp.setenv(variable, value)
        settings = load_settings()
        landing = landing_root(settings)
        for source, source_files in files.items():
            for file_name, data in source_files:
                landing.write_bytes(data, source, file_name)
        started = utc_now()
        reports = {r.source: r for r in run_pipeline(settings, progress=lambda _: None)}
        yield Lake(settings, mp, variables, reports, started, utc_now())


@contextlib.contextmanager
def built_lake_of_one_day(tmp_path_factory: pytest.TempPathFactory, name: str,
                          files_of_day: Callable[[date], dict[str, Iterable[tuple[str, bytes]]]],
                          **env) -> Iterator[tuple[Lake, date]]:
    """``built_lake`` with landing files dated relative to the UTC day the lake is built on (``files_of_day(day)``),
    and that day: the marts' "today" is the records' today. Records dated when the test module is imported meet a
    lake built after midnight when a test session crosses it; a build that itself crosses midnight is done again,
    for the new day."""
    while True:
        day = utc_now().date()
        with built_lake(tmp_path_factory, name, files_of_day(day), **env) as lake:
            if lake.finished.date() == day:
                yield lake, day
                return
