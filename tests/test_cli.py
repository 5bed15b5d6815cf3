"""The command line: exit codes, one-line errors, and the universe/calendar commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchina_index.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def test_universe_show_prints_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["universe", "show", "--as-of", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "LYC.AX" in out and "CN_DOMICILE" in out and "eligible at 2026-11-27" in out


def test_universe_show_stage_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["universe", "show", "--as-of", "2026-11-27", "--stage", "manufacturing",
                 "--universe", str(FIXTURES / "mini_universe.csv")]) == 0
    out = capsys.readouterr().out
    assert "CCC.T" in out and "GGG.V" not in out  # GGG.V has no manufacturing exposure


def test_universe_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["universe", "validate", str(FIXTURES / "mini_universe.csv"),
                 "--links", str(FIXTURES / "mini_china_links.csv")]) == 0
    assert "universe OK: 8 listings" in capsys.readouterr().out


def test_bad_universe_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "u.csv"
    bad.write_text((FIXTURES / "mini_universe.csv").read_text().replace(",0.9,2010-01-04", ",1.9,2010-01-04"))
    assert main(["universe", "validate", str(bad), "--links", str(FIXTURES / "mini_china_links.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3" in err and "purity" in err and "Traceback" not in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["universe", "show", "--as-of", "2026-13-01"])
    assert e.value.code == 2 and "ISO date" in capsys.readouterr().err


def test_help_does_not_import_heavy_libraries() -> None:
    code = ("import sys; from exchina_index.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('pandas', 'cvxpy', 'yfinance', 'quantstats', 'matplotlib') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_weights_prints_stage_totals_and_bindings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "w.csv"
    assert main(["weights", "--as-of", "2025-11-28", "--aum", "1e9", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stages: mining" in text and "SYNTHETIC DEMO DATA" in text and "cap:liquidity" in text
    assert out.read_text().startswith("ticker,eligible,reason")


def test_weights_outside_the_data_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--as-of", "2012-01-02"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2012-01-02" in err and "outside the market data" in err


def test_rebalance_writes_once_and_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["rebalance", "--as-of", "2025-12-01", "--aum", "50e6", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "2025-12-19"  # the next review on or after the date
    assert (folder / "manifest.json").exists()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["rebalance", "--as-of", "2025-12-19", "--aum", "50e6", "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bad_aum_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for bad in ("0", "-5", "lots"):
        with pytest.raises(SystemExit) as e:
            main(["rebalance", "--as-of", "2025-12-19", "--aum", bad, "--out", str(tmp_path)])
        assert e.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_calendar_lists_holiday_adjusted_dates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "2026-06-18" in out  # Juneteenth, Friday 2026-06-19, is an NYSE holiday
    assert "2026-03-20" in out and "2026-09-18" in out and "2026-12-18" in out


def test_data_fetch_offline_fails_fast_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    from exchina_index.data import yahoo
    from exchina_index.errors import NetworkError

    def unreachable(*args: object, **kwargs: object) -> None:
        raise NetworkError("cannot reach Yahoo Finance; use --source demo or a CSV folder")

    monkeypatch.setattr(yahoo, "preflight_check", unreachable)
    assert main(["data", "fetch", "--start", "2025-01-01", "--end", "2025-02-01", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Yahoo Finance" in err
