"""``RecordFigures``: added up, chained, and written to and read back from a real Dagster materialization."""

from __future__ import annotations

import dagster as dg

from analytics_pipeline.ingestion.figures import RAW_METADATA, STAGED_METADATA, RecordFigures

BATCH = RecordFigures(files=2, records_in=10, landed=7, quarantined=2, duplicates=1,
                      reasons={"missing_key": 1, "invalid_json": 1})


def test_batches_add_up_with_their_reasons_most_first():
    other = RecordFigures(files=1, records_in=5, landed=4, quarantined=1, reasons={"wrong_type": 1})
    total = BATCH + other + RecordFigures(quarantined=1, reasons={"wrong_type": 1})
    assert total == RecordFigures(files=3, records_in=15, landed=11, quarantined=4, duplicates=1,
                                  reasons={"wrong_type": 2, "invalid_json": 1, "missing_key": 1})
    assert list(total.reasons) == ["wrong_type", "invalid_json", "missing_key"]  # by count, then by code


def test_a_run_is_its_staging_then_its_merges():
    """Records come in and are quarantined in staging and land in the merges; both steps find duplicates."""
    merges = RecordFigures(files=3, records_in=7, landed=6, duplicates=1)  # read the 7 staged rows, 1 was in raw
    run = BATCH.then(merges)
    assert run == RecordFigures(files=2, records_in=10, landed=6, quarantined=2, duplicates=2, reasons=BATCH.reasons)
    assert run.records_in == run.landed + run.quarantined + run.duplicates
    assert BATCH.then(RecordFigures()).landed == 0  # staged, not merged yet


def _materialized_metadata(metadata: dict) -> dict:
    @dg.asset
    def figures_asset():
        return dg.MaterializeResult(metadata=metadata)

    result = dg.materialize([figures_asset])
    (event,) = result.get_asset_materialization_events()
    return event.step_materialization_data.materialization.metadata


def test_staged_metadata_keeps_the_ui_names_and_reads_back():
    stored = _materialized_metadata(BATCH.metadata(STAGED_METADATA))
    assert {key: value.value for key, value in stored.items()} == {
        "files": 2, "records_in": 10, "staged": 7, "quarantined": 2, "duplicates_in_batch": 1,
        "quarantine_rate": 0.2, "quarantine_reasons": {"missing_key": 1, "invalid_json": 1}}
    assert RecordFigures.from_metadata(stored, STAGED_METADATA) == BATCH


def test_raw_metadata_holds_a_merges_figures_and_reads_back():
    merge = RecordFigures(files=1, records_in=5, landed=3, duplicates=2)
    stored = _materialized_metadata({**merge.metadata(RAW_METADATA), "dagster/row_count": 3})
    assert {key: value.value for key, value in stored.items()} == {
        "staged_files": 1, "staged_rows": 5, "landed": 3, "duplicates": 2, "dagster/row_count": 3}
    assert RecordFigures.from_metadata(stored, RAW_METADATA) == merge
    assert RecordFigures.from_metadata({}, RAW_METADATA) == RecordFigures()  # a materialization without figures
