"""No look-ahead in the reference data: a review sees only the float factors, purities and stage
splits in force at its cut-off. Changing an entry that starts after a cut-off leaves that review
(and every earlier one) unchanged, and does change a later one (so the test can fail)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

import exchina_index as xi
from exchina_index._resources import bundled_path
from exchina_index.universe.history import HISTORY_FILE

CHANGE = pd.Timestamp("2022-06-01")


def _with_future_entry(tmp_path: Path, name: str, float_factor: float, purity: float):
    """The bundled universe with LYC.AX's float factor and purity changed from CHANGE to 2024-01-01."""
    folder = tmp_path / name
    folder.mkdir()
    for f in ("allied_supply_chain.csv", "china_links.csv", HISTORY_FILE):
        shutil.copy(bundled_path(f), folder / f)
    path = folder / HISTORY_FILE
    history = pd.read_csv(path, comment=None, dtype=str, keep_default_na=False, skiprows=_comment_lines(path))
    keep = ~((history["ticker"] == "LYC.AX") & history["field"].isin(["float_factor", "purity"]))
    u = xi.load_universe()
    listed = u.frame.at["LYC.AX", "listed_since"].date().isoformat()
    rows = []
    for fld, value in (("float_factor", float_factor), ("purity", purity)):
        now = repr(float(u.frame.at["LYC.AX", fld]))
        rows += [
            ["LYC.AX", fld, now, listed, CHANGE.date().isoformat(), "test", ""],
            ["LYC.AX", fld, repr(value), CHANGE.date().isoformat(), "2024-01-01", "test", "the future-dated entry"],
            ["LYC.AX", fld, now, "2024-01-01", "", "test", ""],
        ]
    out = pd.concat([history[keep], pd.DataFrame(rows, columns=history.columns)], ignore_index=True)
    out.to_csv(path, index=False)
    return xi.load_universe(folder / "allied_supply_chain.csv")


def _comment_lines(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(k for k, line in enumerate(lines) if not line.startswith("#"))


def test_future_dated_reference_entry_changes_no_earlier_review(tmp_path: Path) -> None:
    a = _with_future_entry(tmp_path, "a", 0.9, 0.9)
    b = _with_future_entry(tmp_path, "b", 0.2, 0.2)
    market = xi.load_market_data(a, source="demo")
    runs = [xi.backtest(u, market, start="2020-06-01", end="2023-06-30") for u in (a, b)]
    before = [t for t in runs[0].reviews if t < CHANGE]
    after = [t for t in runs[0].reviews if t >= CHANGE]
    assert before and after
    for t in before:
        pd.testing.assert_series_equal(runs[0].reviews[t].weights, runs[1].reviews[t].weights, check_exact=True)
    assert any((runs[0].reviews[t].weights - runs[1].reviews[t].weights).abs().max() > 1e-6 for t in after), (
        "the changed entry should move a later review (else this test could not fail)"
    )
