"""The command line: exit codes, one-line errors, and the universe/calendar commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exchina_index.cli import main
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).parent / "fixtures"


def test_universe_show_prints_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["universe", "show", "--as-of", "2026-11-27"]) == 0
    out = capsys.readouterr().out
    assert "LYC.AX" in out and "CN_DOMICILE" in out and "eligible at 2026-11-27" in out


def test_universe_show_stage_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "universe",
                "show",
                "--as-of",
                "2026-11-27",
                "--stage",
                "manufacturing",
                "--universe",
                str(FIXTURES / "mini_universe.csv"),
                "--links",
                str(FIXTURES / "mini_china_links.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "CCC.T" in out and "GGG.V" not in out  # GGG.V has no manufacturing exposure


def test_universe_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "universe",
                "validate",
                "--universe",
                str(FIXTURES / "mini_universe.csv"),
                "--links",
                str(FIXTURES / "mini_china_links.csv"),
            ]
        )
        == 0
    )
    assert "universe OK: 8 listings" in capsys.readouterr().out


def test_universe_validate_with_only_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["universe", "validate", "--methodology", str(Path(__file__).parents[1] / "universe" / "methodology.toml")]
        )
        == 0
    )
    assert f"universe OK: {len(load_universe().frame)} listings" in capsys.readouterr().out  # the bundled universe


def test_bad_universe_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "u.csv"
    bad.write_text((FIXTURES / "mini_universe.csv").read_text().replace(",0.9,2010-01-04", ",1.9,2010-01-04"))
    assert (
        main(["universe", "validate", "--universe", str(bad), "--links", str(FIXTURES / "mini_china_links.csv")]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 3" in err and "purity" in err and "Traceback" not in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["universe", "show", "--as-of", "2026-13-01"])
    assert e.value.code == 2 and "ISO date" in capsys.readouterr().err


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from exchina_index.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pandas', 'cvxpy', 'yfinance', 'quantstats', 'matplotlib', 'exchange_calendars')\n"
        "         if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_weights_prints_stage_totals_and_bindings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "w.csv"
    assert main(["weights", "--as-of", "2025-11-28", "--aum", "1e9", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stages: mining" in text and "SYNTHETIC DEMO DATA" in text and "purity:low_weight upper" in text
    assert "liquidity caps computed at" in text  # $1B is far beyond the demo market's capacity
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


def test_data_fetch_offline_fails_fast_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from exchina_index.data.yahoo import loader
    from exchina_index.errors import NetworkError

    calls: list[object] = []

    def unreachable(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise NetworkError("stand-in: cannot reach Yahoo Finance; use --source demo or a CSV folder")

    monkeypatch.setattr(loader, "preflight_check", unreachable)  # where load_yahoo looks it up
    assert main(["data", "fetch", "--start", "2025-01-01", "--end", "2025-02-01", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert calls and err.count("\n") == 1 and "stand-in: cannot reach Yahoo Finance" in err


@pytest.mark.parametrize("argv", [["--debug", "calendar", "--year", "2026"], ["calendar", "--year", "2026", "--debug"]])
def test_debug_is_accepted_before_or_after_the_subcommand(argv: list[str]) -> None:
    from exchina_index.cli import build_parser

    assert build_parser().parse_args(argv).debug is True
    assert build_parser().parse_args(["calendar"]).debug is False


@pytest.mark.parametrize("year", ["0", "-5", "1899", "2201", "20x6", "2026.5"])
def test_calendar_rejects_years_it_cannot_mean(year: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["calendar", "--year", year])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--year" in err


def test_calendar_far_years_are_computed_not_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calendar", "--year", "2200"]) == 0
    out = capsys.readouterr().out
    assert "2200-03-21" in out  # the third Friday of March 2200 (1 March 2200 is a Saturday)


@pytest.mark.parametrize("deadline", ["0", "-1", "soon", "1e9"])
def test_bad_deadline_is_exit_2(deadline: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["data", "fetch", "--deadline", deadline])
    assert e.value.code == 2 and "--deadline" in capsys.readouterr().err


def test_weights_prints_the_data_notes_after_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--as-of", "2025-11-28"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[-2] == "note: synthetic market generated with seed 0: not real prices"
    assert lines[-1].startswith("note: calibrated to public reference points") and "synthetic" in lines[-1]
    assert captured.err == ""  # no progress bar or log noise when stderr is not a terminal


def test_rebalance_records_the_data_notes_in_the_manifest_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["rebalance", "--as-of", "2025-12-19", "--aum", "50e6", "--out", str(tmp_path)]) == 0
    assert "note: synthetic market generated" in capsys.readouterr().out
    folder = tmp_path / "2025-12-19"
    notes = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["data"]["notes"]
    assert notes[0] == "synthetic market generated with seed 0: not real prices" and len(notes) == 2
    assert notes[1].startswith("calibrated to public reference points")
    assert 'id="data-notes"' in (folder / "report.html").read_text(encoding="utf-8")


def test_redirected_output_starts_with_the_result(tmp_path: Path) -> None:
    """Progress goes to stderr, and only to a terminal: a redirected stdout has no blank first line."""
    run = subprocess.run(
        [sys.executable, "-m", "exchina_index.cli", "weights", "--as-of", "2025-11-28"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0].split()[0] == "name" and run.stderr == ""


def test_console_script_exits_even_if_a_library_left_a_thread_running() -> None:
    """yfinance's download threads are not daemons; the console script must not wait for them."""
    import time

    code = (
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(120,), daemon=False).start()\n"
        "from exchina_index.cli import run\n"
        "sys.argv = ['exchina-index'] + sys.argv[1:]\n"
        "run()\n"
    )
    for argv, expected in ((["calendar", "--year", "2026"], 0), (["calendar", "--year", "0"], 2)):
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == expected, done.stderr
        assert time.monotonic() - t0 < 30  # not the thread's 120 s


def test_a_universe_without_links_needs_the_explicit_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    universe = tmp_path / "u.csv"
    universe.write_text((FIXTURES / "mini_universe.csv").read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["universe", "show", "--universe", str(universe)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "china_links.csv" in err and "--no-china-links" in err
    assert main(["universe", "show", "--universe", str(universe), "--no-china-links"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert [n for n in notes if "links" in n] == [n for n in notes if "without links" in n] and len(notes) == 2
    assert "no dated reference history" in notes[1]  # the copy has no reference_history.csv either


def test_screens_without_links_are_said_in_the_report_and_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from exchina_index._resources import bundled_path

    universe = tmp_path / "u" / "allied.csv"  # the bundled universe without its China-link table beside it
    universe.parent.mkdir()
    universe.write_bytes(bundled_path("allied_supply_chain.csv").read_bytes())
    assert (
        main(
            [
                "rebalance",
                "--as-of",
                "2025-12-19",
                "--universe",
                str(universe),
                "--no-china-links",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert any("without links" in line for line in capsys.readouterr().out.splitlines() if line.startswith("note: "))
    folder = tmp_path / "out" / "2025-12-19"
    assert any("without links" in n for n in json.loads((folder / "manifest.json").read_text())["universe"]["notes"])
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "without links" in report.split('id="data-notes"')[1]


def test_logging_follows_the_debug_flag_of_each_call() -> None:
    """main() runs many times in one process (tests, notebooks): a plain call must not leave
    --debug of a later call silenced, nor pile up handlers."""
    import logging

    package, root = logging.getLogger("exchina_index"), logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    try:
        for _ in range(2):
            assert main(["calendar", "--year", "2026"]) == 0
        assert package.propagate is False
        assert main(["--debug", "calendar", "--year", "2026"]) == 0
        assert package.propagate is True
        assert sum(type(h) is logging.NullHandler for h in package.handlers) == 1
        assert main(["calendar", "--year", "2026"]) == 0
        assert package.propagate is False
    finally:  # --debug configured the root logger: leave it as it was for the other tests
        root.handlers[:], root.level = root_handlers, root_level
