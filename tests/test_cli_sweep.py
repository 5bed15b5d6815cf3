"""``exchina-index sweep``: the table and page from one command, byte-identical when rerun from
the variant cache; a malformed grid is exit 2 with one line naming the key, before any work."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2, deadline

from exchina_index.cli import main

pytest.importorskip("distributed")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    spec = tmp_path / "mini.toml"
    spec.write_text(
        'name = "mini"\nsource = "demo"\nstart = "2026-01-01"\nend = "2026-09-30"\n[benchmark]\nkind = "none"\n',
        encoding="utf-8",
    )
    grid = tmp_path / "grid.toml"
    grid.write_text('description = "two caps"\n[grid]\ncaps.single = [0.06, 0.10]\n', encoding="utf-8")
    return spec, grid


def _run(argv: list[object]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with deadline(180), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_sweep_writes_the_table_and_page_and_a_rerun_gives_the_same_bytes(tmp_path: Path) -> None:
    spec, grid = _files(tmp_path)
    out, cache = tmp_path / "sweep", tmp_path / "cache"
    code, stdout, err = _run(["sweep", spec, "--grid", grid, "--workers", 1, "--out", out, "--variant-cache", cache])
    assert code == 0, err
    assert "3 variants over caps.single (3 computed, 0 from the variant cache)" in stdout
    assert "SYNTHETIC" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "sweep.csv", "sweep.html", "sweep.parquet"]
    table = pd.read_csv(out / "sweep.csv")
    assert table["caps.single"].tolist() == [0.08, 0.06, 0.10] and table["base"].tolist() == [True, False, False]
    typed = pd.read_parquet(out / "sweep.parquet")
    assert list(typed.columns) == list(table.columns) and typed["error"].tolist() == ["", "", ""]
    assert typed["cagr"].to_numpy() == pytest.approx(table["cagr"].to_numpy(), rel=1e-9)  # CSV has 10 digits
    page = (out / "sweep.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DEMO DATA" in page and page.count("<svg") == 5 and "two caps" in page
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    code, stdout, err = _run(["sweep", spec, "--grid", grid, "--out", out, "--variant-cache", cache])
    assert code == 0, err
    assert "(0 computed, 3 from the variant cache)" in stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first


@pytest.mark.parametrize(
    ("grid_text", "words"),
    [
        ("[grid]\ncaps.singel = [0.1]\n", ["grid.caps.singel", "line 2", "did you mean"]),
        ('[grid]\ncaps.single = ["x"]\n', ["grid.caps.single", "expected a number"]),
        ("[grid]\n", ["'grid'", "empty"]),
        ("[grid]\ncaps.single = [0.05, 3.0]\n", ["grid.caps.single", "3.0", "out of range"]),
    ],
)
def test_a_malformed_grid_is_exit_2_naming_the_key_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid_text: str, words: list[str]
) -> None:
    monkeypatch.setattr("exchina_index.data.load_market_data", lambda *a, **k: pytest.fail("data were loaded"))
    monkeypatch.setattr("distributed.LocalCluster", lambda *a, **k: pytest.fail("a cluster was started"))
    spec, grid = _files(tmp_path)
    grid.write_text(grid_text, encoding="utf-8")
    out, cache = tmp_path / "sweep", tmp_path / "cache"
    assert_one_line_exit_2(["sweep", spec, "--grid", grid, "--out", out, "--variant-cache", cache], *words)
    assert not out.exists() and not cache.exists()


def test_workers_and_scheduler_are_exclusive_and_workers_positive(tmp_path: Path) -> None:
    spec, grid = _files(tmp_path)
    assert_one_line_exit_2(
        ["sweep", spec, "--grid", grid, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not allowed"
    )
    assert_one_line_exit_2(["sweep", spec, "--grid", grid, "--workers", "0"], "--workers")
