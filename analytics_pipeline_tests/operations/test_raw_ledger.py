"""The raw ledger against the raw day files, through the real staging, merge and retention: a day lost, shrunk or
removed by retention, a lake older than the ledger, and what the per-run accounting reads (footers of changed days
only). A model-based property test drives random sequences of these against the same expectations."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_pipeline.ingestion.raw_merge import merge_day
from analytics_pipeline.ingestion.staging import stage_batch
from analytics_pipeline.lake import layout, raw_ledger
from analytics_pipeline.lake.storage import StorageRoot
from analytics_pipeline.operations.raw_accounting import LEDGER_FOLD_FILES, MissingRows, account
from analytics_pipeline.operations.retention import apply_retention, plan_retention
from analytics_pipeline.settings import RetentionRules
from analytics_pipeline.sources.claims.spec import claims_spec
from analytics_pipeline_tests.records import insert, jsonl

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")
NOW = datetime(2024, 6, 1)


@dataclass
class Lake:
    """A local lake and landing zone taking records in as ``run`` does (stage a batch, merge its days)."""

    lake: StorageRoot
    landing: StorageRoot
    files: int = 0
    landed: dict[str, set[str]] = field(default_factory=dict)  # day → every event id landed since retention

    def land(self, day: str, event_ids: list[str]) -> None:
        self.files += 1
        key = f"file-{self.files}.jsonl"
        self.landing.write_bytes(jsonl([insert(e, f"c-{e}", day) for e in event_ids]), "claims", key)
        taken = [f for f in self.landing.list_files("claims") if f.key == f"claims/{key}"]
        result = stage_batch(self.lake, self.landing, claims_spec(), taken, "2024-01-01", now=NOW)
        for staged in result.days:
            merge_day(self.lake, "claims", staged)
        self.landed.setdefault(day, set()).update(event_ids)

    def path(self, day: str) -> Path:
        return Path(self.lake.path(layout.raw_partition("claims", day)))

    def held(self, day: str) -> set[str]:
        """The event ids the day's file holds now."""
        return set(pq.read_table(self.path(day), columns=["event_id"]).column(0).to_pylist()) if self.path(
            day).exists() else set()

    def shrink(self, day: str, keep: int) -> None:
        """Replace the day's file by a valid one holding its first ``keep`` rows (as a hand-made repair would)."""
        pq.write_table(pq.read_table(self.path(day)).slice(0, keep), self.path(day))

    def retire_before(self, day: str) -> None:
        """Retention of the raw layer, applied, removing every day before ``day``."""
        report = plan_retention(self.lake, self.landing, RetentionRules((("raw", 0),)), {"claims": []},
                                today=date.fromisoformat(day))
        apply_retention(self.lake, self.landing, report)
        for gone in [d for d in self.landed if d < day]:
            del self.landed[gone]


@contextmanager
def new_lake() -> Iterator[Lake]:
    with tempfile.TemporaryDirectory(prefix="ledger-") as folder:
        yield Lake(StorageRoot(f"{folder}/lake"), StorageRoot(f"{folder}/landing"))


def ids(day: str, first: int, count: int) -> list[str]:
    return [f"e-{day}-{n}" for n in range(first, first + count)]


def test_a_day_replaced_by_a_smaller_valid_file_is_short_until_it_holds_its_rows_again():
    with new_lake() as lk:
        lk.land(DAYS[0], ids(DAYS[0], 0, 5))
        lk.land(DAYS[1], ids(DAYS[1], 0, 4))
        assert account(lk.lake, "claims").missing == []

        lk.shrink(DAYS[0], 2)
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[0], 5, 2)]
        assert account(lk.lake, "claims", every_footer=True).missing == [MissingRows(DAYS[0], 5, 2)]
        # new records merged into the short day do not make its loss go away (the ledger counts rows: it stays
        # short until the day holds as many rows as it did)
        lk.land(DAYS[0], ids(DAYS[0], 100, 2))
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[0], 5, 4)]
        # taking the landed records in again (what reingest + run do) brings the day back
        lk.land(DAYS[0], ids(DAYS[0], 0, 5))
        assert account(lk.lake, "claims").missing == []
        assert len(lk.held(DAYS[0])) == 7


def test_a_loss_that_cannot_be_taken_in_again_is_accepted_only_when_asked():
    with new_lake() as lk:
        lk.land(DAYS[0], ids(DAYS[0], 0, 4))
        lk.shrink(DAYS[0], 1)
        merge_day(lk.lake, "claims", DAYS[0])  # a merge with nothing staged (a retried run, a full refresh)
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[0], 4, 1)]
        merge_day(lk.lake, "claims", DAYS[0], accept_loss=True)  # the raw partition materialized with accept_loss
        assert account(lk.lake, "claims").missing == []


def test_retention_removing_days_is_not_a_loss_and_a_late_day_after_it_is_accounted():
    with new_lake() as lk:
        for n, day in enumerate(DAYS):
            lk.land(day, ids(day, 0, n + 1))
        lk.retire_before(DAYS[2])
        assert not lk.path(DAYS[0]).exists() and not lk.path(DAYS[1]).exists()
        accounting = account(lk.lake, "claims", every_footer=True)
        assert (accounting.days_checked, accounting.missing) == (1, [])
        removed = [e.day for e in raw_ledger.entries(lk.lake, "claims") if e.recorded_by == raw_ledger.RETENTION]
        assert sorted(removed) == list(DAYS[:2])
        # late records of a removed day land again, and count from there
        lk.land(DAYS[0], ids(DAYS[0], 50, 2))
        lk.path(DAYS[0]).unlink()
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[0], 2, 0)]
        lk.retire_before(DAYS[1])  # the lost day is past its period now: retention records it as removed
        assert account(lk.lake, "claims").missing == []


def test_a_lake_older_than_the_ledger_is_counted_from_its_footers_once():
    with new_lake() as lk:
        for day in DAYS:
            lk.land(day, ids(day, 0, 3))
        lk.lake.delete(layout.LEDGER)  # the lake as a version without the ledger left it

        first = account(lk.lake, "claims")
        assert (first.missing, first.footers_read, first.adopted) == ([], 3, 3)
        again = account(lk.lake, "claims")
        assert (again.missing, again.footers_read, again.adopted) == ([], 0, 0)
        lk.path(DAYS[1]).unlink()
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[1], 3, 0)]


def test_a_day_lost_before_the_ledger_existed_is_named_from_what_dagster_recorded():
    with new_lake() as lk, dg.DagsterInstance.ephemeral() as instance:
        for day in DAYS[:2]:
            lk.land(day, ids(day, 0, 3))
            instance.report_runless_asset_event(dg.AssetMaterialization(
                "raw_claims", partition=day, metadata={"dagster/row_count": 3}))
        lk.lake.delete(layout.LEDGER)
        lk.path(DAYS[0]).unlink()  # lost while the lake had no ledger

        assert account(lk.lake, "claims", instance).missing == [MissingRows(DAYS[0], 3, 0)]
        assert account(lk.lake, "claims").missing == [MissingRows(DAYS[0], 3, 0)]  # seeded once: no instance needed


def test_the_per_run_accounting_reads_the_footers_of_changed_days_only():
    with new_lake() as lk:
        for day in DAYS:
            lk.land(day, ids(day, 0, 2))
        assert account(lk.lake, "claims").footers_read == 0  # every file is the version its merge recorded
        lk.land(DAYS[1], ids(DAYS[1], 10, 1))
        assert account(lk.lake, "claims").footers_read == 0  # the merge recorded its new file
        lk.shrink(DAYS[2], 2)  # the same rows, another file
        changed = account(lk.lake, "claims")
        assert (changed.footers_read, changed.adopted, changed.missing) == (1, 1, [])
        assert account(lk.lake, "claims").footers_read == 0  # adopted: known as it is now
        assert account(lk.lake, "claims", every_footer=True).footers_read == 3  # the hourly check reads them all


def test_the_accounting_folds_a_ledger_of_many_merges_so_a_run_reads_few_files():
    with new_lake() as lk:
        days = [(date(2024, 4, 1) + timedelta(days=n)).isoformat() for n in range(LEDGER_FOLD_FILES)]
        for day in days:
            lk.land(day, ids(day, 0, 1))
        ledger = f"{layout.LEDGER}/claims"
        assert len(lk.lake.list_files(ledger)) == LEDGER_FOLD_FILES  # one per merge
        accounting = account(lk.lake, "claims")
        assert (accounting.days_checked, accounting.missing, accounting.footers_read) == (len(days), [], 0)
        folded = [f.key.rsplit("/", 1)[-1] for f in lk.lake.list_files(ledger)]
        assert len(folded) == 2 and sum(name.startswith("compacted-") for name in folded) == 1  # and the seed mark
        lk.path(days[3]).unlink()
        assert account(lk.lake, "claims").missing == [MissingRows(days[3], 1, 0)]


# Random histories of one lake: records landing (new ones, and records of a day landed before, as reingest
# does), day files deleted or replaced by smaller ones, retention, merges with nothing staged (accepting the day
# as it is, or not). After every step the accounting must name
# no day that holds every record landed for it (no false loss), must name a day that just lost rows, and must
# agree with the hourly check's reading of every footer.
STEPS = st.lists(st.one_of(
    st.tuples(st.just("land"), st.sampled_from(DAYS), st.integers(1, 3)),
    st.tuples(st.just("land again"), st.sampled_from(DAYS), st.just(0)),
    st.tuples(st.just("delete"), st.sampled_from(DAYS), st.just(0)),
    st.tuples(st.just("shrink"), st.sampled_from(DAYS), st.integers(0, 2)),
    st.tuples(st.just("retention"), st.sampled_from(DAYS[1:]), st.just(0)),
    st.tuples(st.just("merge"), st.sampled_from(DAYS), st.booleans()),
), min_size=1, max_size=7)


@hypothesis_settings(max_examples=25, deadline=None)
@given(steps=STEPS)
def test_random_histories_never_raise_a_false_loss_and_always_name_a_new_one(steps):
    with new_lake() as lk:
        fresh = 0
        for action, day, n in steps:
            before = lk.held(day)
            if action == "land":
                lk.land(day, ids(day, 1000 + fresh, n))
                fresh += n
            elif action == "land again" and lk.landed.get(day):
                lk.land(day, sorted(lk.landed[day]))
            elif action == "delete" and lk.path(day).exists():
                lk.path(day).unlink()
            elif action == "shrink" and len(before) > n:
                lk.shrink(day, n)
            elif action == "retention":
                lk.retire_before(day)
            elif action == "merge":  # nothing staged; n: accept the day as it is
                merge_day(lk.lake, "claims", day, accept_loss=n)
                if n:
                    lk.landed[day] = lk.held(day)
            short = {m.day for m in account(lk.lake, "claims").missing}
            lost = {d for d, landed in lk.landed.items() if not landed <= lk.held(d)}
            assert short <= lost, (action, day, short, lost)
            if action in ("delete", "shrink") and len(lk.held(day)) < len(before):
                assert day in short
            if action == "land again":
                assert day not in short
            assert {m.day for m in account(lk.lake, "claims", every_footer=True).missing} == short
