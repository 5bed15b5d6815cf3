"""What ``backtest`` and ``rebalance`` print: the summary table, ``--quiet``, ``--json``; a reader
that leaves the pipe early."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exchina_index.cli import BROKEN_PIPE, main

SPEC = """
name = "short"
source = "demo"
start = "2025-06-01"
end = "2026-03-31"
aum = 100_000_000
currencies = ["JPY", "EUR"]
[benchmark]
kind = "universe_cap_weighted"
name = "Whole universe"
"""


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def backtest_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("summary")
    (folder / "short.toml").write_text(SPEC, encoding="utf-8")
    code, text = _run(["backtest", str(folder / "short.toml"), "--out", str(folder / "out")])
    assert code == 0
    return folder / "short.toml", folder / "out", text


def _hand_figures(level: pd.Series) -> tuple[float, float]:
    """CAGR over calendar days / 365.25 and the largest fall from a running peak, by a plain loop."""
    years = (level.index[-1] - level.index[0]).days / 365.25
    growth = (level.iloc[-1] / level.iloc[0]) ** (1 / years) - 1
    peak, worst = -math.inf, 0.0
    for x in level:
        peak = max(peak, x)
        worst = min(worst, x / peak - 1)
    return growth, worst


def test_backtest_ends_with_a_table_whose_figures_match_the_levels_file(backtest_run) -> None:
    _, out, text = backtest_run
    lines = text.splitlines()
    assert lines[0].startswith("backtest short: ") and "SYNTHETIC DEMO DATA" in lines[0]
    levels = pd.read_csv(out / "levels.csv", index_col=0, parse_dates=True)
    for column, label in (("net_total_return", "net total return"), ("nav", "fund NAV (after costs and fees)")):
        row = next(line for line in lines if line.startswith(label + " "))
        growth, drawdown = _hand_figures(levels[column])
        cells = row[len(label) :].split()
        assert cells[0] == f"{levels[column].iloc[-1]:,.2f}"
        assert cells[1] == f"{growth:.2%}" and cells[3] == f"{drawdown:.2%}"
    assert any(line.startswith("benchmark: Whole universe ") for line in lines)
    assert any(line.startswith("active return ") for line in lines)
    files = next(line for line in lines if line.startswith("files in "))
    assert files.endswith(
        ", ".join(sorted(p.name for p in out.iterdir() if p.name != "manifest.json")) + ", manifest.json"
    )
    assert lines[-1].startswith("note: ")  # the notes come after the table


def test_the_currency_levels_reconcile_with_the_usd_level_and_the_fx_rates(backtest_run) -> None:
    import exchina_index as xi

    _, out, text = backtest_run
    levels = pd.read_csv(out / "levels.csv", index_col=0, parse_dates=True)["net_total_return"]
    converted = pd.read_csv(out / "currency_levels.csv", index_col=0, parse_dates=True)
    fx = xi.load_market_data(xi.load_universe(), source="demo").fx.reindex(levels.index)
    rows = [line for line in text.splitlines() if line.startswith("net total return in ")]
    assert [r.split()[4] for r in rows] == ["JPY", "EUR"]  # the spec's order
    for code, row in zip(("JPY", "EUR"), rows):
        level = converted[f"net_total_return_{code}"]
        # what a holder of the USD index sees in the currency: the USD growth times the rate's fall
        expected = 1000 * levels / levels.iloc[0] * fx[code].iloc[0] / fx[code]
        assert (level - expected).abs().max() < 1e-6 * expected.max()  # %.10g in the file
        assert row.split()[5] == f"{level.iloc[-1]:,.2f}"


def test_json_is_one_document_with_the_manifest_summary_and_quiet_prints_only_notes(backtest_run) -> None:
    spec, out, _ = backtest_run
    code, text = _run(["backtest", str(spec), "--out", str(out), "--json"])
    assert code == 0
    doc = json.loads(text)  # nothing else on stdout
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert doc["summary"] == manifest["summary"] and doc["folder"] == str(out)
    assert sorted(doc["files"]) == sorted(p.name for p in out.iterdir())
    levels = pd.read_csv(out / "levels.csv", index_col=0)
    assert doc["summary"]["series"]["net_total_return"]["level"] == pytest.approx(levels["net_total_return"].iloc[-1])
    assert any(n.startswith("synthetic market") for n in doc["notes"])

    code, text = _run(["backtest", str(spec), "--out", str(out), "--quiet"])
    assert code == 0 and text and all(line.startswith("note: ") for line in text.splitlines())


def test_quiet_and_json_together_are_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "x.toml", "--quiet", "--json"])
    assert exc.value.code == 2


def test_rebalance_prints_what_changed_as_its_announcement_file_says(tmp_path: Path) -> None:
    code, text = _run(["rebalance", "--as-of", "2026-09-18", "--out", str(tmp_path)])
    assert code == 0
    announcement = pd.read_csv(tmp_path / "2026-09-18" / "announcement.csv")
    held = int((announcement["new_weight"] > 0).sum())
    adds = int((announcement["action"] == "ADD").sum())
    deletes = int((announcement["action"] == "DELETE").sum())
    assert f"{held} names held: {adds} adds, {deletes} deletes," in text
    assert "binding: " in text and "capacity without relaxation" in text
    code, text = _run(["rebalance", "--as-of", "2026-09-18", "--out", str(tmp_path), "--force", "--json"])
    doc = json.loads(text)
    assert code == 0 and doc["summary"]["constituents"] == held and doc["folder"].endswith("2026-09-18")


@pytest.mark.parametrize("argv", [["universe", "show"], ["calendar", "--year", "2026"]], ids=["large", "small"])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(argv: list[str]) -> None:
    # buffered stdout, as in a terminal session: a small output waits in the buffer until the end
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from exchina_index.cli import run; run()", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has printed anything (it takes a second to load)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == BROKEN_PIPE
    assert err == b""


def test_a_history_too_short_for_a_volatility_still_summarises(tmp_path: Path) -> None:
    # two closes (the review of 2026-09-18 and the next session): no volatility anywhere, a dash
    spec = tmp_path / "tiny.toml"
    text = SPEC.split("[benchmark]")[0]  # a benchmark needs two returns in common
    spec.write_text(text.replace('"2025-06-01"', '"2026-09-10"').replace('"2026-03-31"', '"2026-09-21"'))
    code, text = _run(["backtest", str(spec), "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    summary = json.loads(text)["summary"]
    assert [c["volatility"] for c in summary["currencies"]] == [None, None]
    assert summary["series"]["net_total_return"]["volatility"] is None
