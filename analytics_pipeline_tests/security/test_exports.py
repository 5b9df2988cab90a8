"""Exports stream and stay safe to open, and their failures are one line.

CSV cells that a spreadsheet would run as a formula are neutralised (OWASP: a leading single quote), whatever the
text; exports read the table batch by batch (the in-memory row limit does not apply to them); a full disk, a
truncated warehouse and a truncated lake file are one ``error:`` line from ``export`` and ``sql`` (and a JSON
error from ``serve``), and leave no partial file behind.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.cli import main
from analytics_pipeline.serving.exports import (
    FORMULA_STARTS,
    csv_cell,
    json_rows,
    table_pieces,
)
from analytics_pipeline.serving.sql_runner import query_session, run_query
from analytics_pipeline.sources.claims.demo import claims_landing_files
from analytics_pipeline_tests.dashboards.serve_process import start_serve
from analytics_pipeline_tests.lakes import built_lake

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.one_of(TEXT, st.sampled_from(["=1+1", "+1", "-1", "@SUM(A1)", "\t=x", "\r=x", "'=x"]),
                                st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1,
                      max_size=6))
def test_csv_export_cells_never_start_a_formula(use_demo_lake, cells):
    """Text is neutralised with a leading quote when it starts with = + - @ tab or CR; numbers stay numbers."""
    literals = ["'" + c.replace("'", "''") + "'" if isinstance(c, str) else repr(c) for c in cells]
    query = "SELECT " + ", ".join(f"{v} AS c{i}" for i, v in enumerate(literals))
    with query_session(use_demo_lake) as session, session.stream(query) as result:
        text = b"".join(table_pieces(result, "csv")).decode()
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header == [f"c{i}" for i in range(len(cells))]
    for cell, written in zip(cells, row):
        if isinstance(cell, str) and cell[:1] in FORMULA_STARTS:
            assert written == "'" + cell
        elif isinstance(cell, str):
            assert written == cell
        else:
            assert float(written) == cell  # a negative number is not quoted


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_exports_stream_past_the_in_memory_row_limit(use_demo_lake, monkeypatch, tmp_path, fmt):
    expected = run_query(use_demo_lake, "SELECT * FROM claims")
    assert len(expected.rows) > 10
    monkeypatch.setenv("ANALYTICS_QUERY_MAX_ROWS", "10")
    assert main(["export", "claims", "--format", fmt, "--out", str(tmp_path)]) == 0
    path = tmp_path / f"claims.{fmt}"
    if fmt == "parquet":
        assert pq.read_table(path).to_pylist() == expected.arrow.to_pylist()
    elif fmt == "json":
        assert json.loads(path.read_text()) == json_rows(expected.columns, expected.rows)
    else:
        assert list(csv.reader(io.StringIO(path.read_text(), newline=""))) == \
            [expected.columns] + [[csv_cell(v) for v in row] for row in expected.rows]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.fixture
def full_disk(tmp_path: Path):
    """A folder on a small tmpfs that is full (needs root to mount, as in CI and on the dev machines)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        with (folder / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"x" * 4096)
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("args", [["export", "claims", "--format", "csv"], ["export", "claims", "--format", "json"],
                                  ["export", "claims", "--format", "parquet"], ["export", "--format", "json"],
                                  ["export", "--format", "csv"]])
def test_an_export_to_a_full_disk_is_one_line_and_leaves_no_partial_file(use_demo_lake, full_disk, capsys, args):
    assert main([*args, "--out", str(full_disk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: OSError: ") and "No space left on device" in err and err.count("\n") == 1, err
    assert [p.name for p in full_disk.iterdir()] == ["filler"]


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory):
    """A lake of its own (its files get damaged): one day of claims."""
    with built_lake(tmp_path_factory, "damaged", {"claims": claims_landing_files(days=1, seed=5, claims_per_day=20)}) \
            as lake:
        return lake


def _one_error_line(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_a_truncated_lake_file_is_one_line_from_sql_export_and_serve(small_lake, monkeypatch, tmp_path, capsys):
    settings = small_lake.use(monkeypatch)
    (day_file,) = sorted(Path(settings.lake_uri, "marts", "financial_ops_daily").rglob("*.parquet"))[:1]
    data = day_file.read_bytes()
    day_file.write_bytes(data[: len(data) // 2])
    _one_error_line(capsys, main(["sql", "SELECT * FROM financial_ops_daily"]))
    _one_error_line(capsys, main(["export", "financial_ops_daily", "--format", "csv", "--out", str(tmp_path)]))
    _one_error_line(capsys, main(["export", "financial_ops_daily", "--format", "parquet", "--out", str(tmp_path)]))
    assert list(tmp_path.iterdir()) == []
    proc, base = start_serve()
    try:
        with pytest.raises(Exception) as answer:
            import urllib.request

            urllib.request.urlopen(base + "/api/v1/export/financial_ops_daily.csv", timeout=10)
        assert answer.value.code == 503 and "financial_ops_daily" in json.loads(answer.value.read())["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    day_file.write_bytes(data)


def test_a_truncated_warehouse_is_one_line_from_sql_and_export(small_lake, monkeypatch, tmp_path, capsys):
    settings = small_lake.use(monkeypatch)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    warehouse = Path(settings.warehouse_path).read_bytes()
    (data_dir / "warehouse.duckdb").write_bytes(warehouse[: len(warehouse) // 3])
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ANALYTICS_LAKE_URI", settings.lake_uri)
    _one_error_line(capsys, main(["sql", "SELECT 1"]))
    _one_error_line(capsys, main(["export", "claims", "--out", str(tmp_path / "out")]))
    _one_error_line(capsys, main(["export", "--out", str(tmp_path / "out")]))
