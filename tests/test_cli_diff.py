"""``exchina-index diff``: the impact of a rule change from one command, its summary on stdout;
bad input is exit 2 with one line and nothing written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from _cli_helpers import assert_one_line_exit_2, run_cli

from exchina_index._resources import bundled_path


def _variant(folder: Path, line: str, new_line: str) -> Path:
    text = bundled_path("methodology.toml").read_text(encoding="utf-8")
    assert text.count(line) == 1
    path = folder / "proposed.toml"
    path.write_text(text.replace(line, new_line), encoding="utf-8")
    return path


def test_diff_prints_the_switch_and_writes_the_impact_files(tmp_path: Path) -> None:
    # a higher market-cap entry floor: names leave the index at the switch
    proposed = _variant(tmp_path, "market_cap_entry_usd = 150_000_000", "market_cap_entry_usd = 300_000_000")
    out = tmp_path / "impact"
    argv = ["diff", "bundled", proposed, "--as-of", "2026-01-15", "--start", "2025-01-01", "--out", out]
    code, stdout, err = run_cli(argv)
    assert code == 0, err
    constituents = pd.read_csv(out / "constituents.csv")
    counts = constituents["status"].value_counts()
    turnover = 0.5 * (constituents["new_weight"] - constituents["old_weight"]).abs().sum()
    assert counts.get("delete", 0) > 0
    assert f"{counts.get('add', 0)} adds, {counts['delete']} deletes" in stdout
    assert f"one-way turnover {turnover:.2%}" in stdout
    assert "SYNTHETIC" in stdout and str(out / "impact.html") in stdout
    assert (out / "impact.html").is_file() and (out / "manifest.json").is_file()
    # never over an existing folder without --force
    assert_one_line_exit_2(argv, "already exists", "--force")


def test_diff_bad_input_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "impact"
    assert_one_line_exit_2(["diff", "bundled", tmp_path / "missing.toml", "--as-of", "2026-01-15", "--out", out])
    broken = _variant(tmp_path, "\nsingle = 0.08 ", "\nsingle = 1.5 ")
    assert_one_line_exit_2(["diff", "bundled", broken, "--as-of", "2026-01-15", "--out", out], "caps.single")
    assert_one_line_exit_2(["diff", "bundled", "bundled", "--as-of", "2026-13-01", "--out", out], "--as-of")
    assert not out.exists()
