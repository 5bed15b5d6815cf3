"""The spec runner: a real short run with its manifest, and the output-safety rules of backtests."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

import exchina_index.simulation.backtest as backtester_module
from exchina_index import atomic
from exchina_index.cli import main
from exchina_index.publish.runner import MANIFEST_SCHEMA, run_spec

SPEC = """name = "short"
source = "demo"
start = "2025-06-01"
end = "2026-03-31"
aum = 50_000_000
"""


def _spec(folder: Path, text: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "short.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of a short spec on the demo market (about 10 s: quantstats dominates)."""
    root = tmp_path_factory.mktemp("runner")
    return run_spec(_spec(root))


def test_real_run_writes_every_file_and_a_manifest_that_hashes_them(real_run: Path) -> None:
    assert real_run.name == "short" and real_run.parent.name == "output"
    man = json.loads((real_run / "manifest.json").read_text(encoding="utf-8"))
    assert man["schema"] == MANIFEST_SCHEMA
    written = sorted(p.name for p in real_run.iterdir() if p.name != "manifest.json")
    assert sorted(man["files"]) == written
    for name, digest in man["files"].items():
        assert hashlib.sha256((real_run / name).read_bytes()).hexdigest() == digest
    # the demo market says it is synthetic, in the manifest and on the thematic page
    assert man["data"]["synthetic"] is True and any("synthetic" in n for n in man["data"]["notes"])
    assert 'id="data-notes"' in (real_run / "thematic.html").read_text(encoding="utf-8")
    assert man["summary"]["reviews"] == 4  # third Fridays 2025-06-20, 2025-09-19, 2025-12-19, 2026-03-20
    assert not [p for p in real_run.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_constituents_give_every_held_listing_its_identifiers(real_run: Path) -> None:
    import pandas as pd

    from exchina_index.universe.loading import load_universe

    weights = pd.read_csv(real_run / "weights.csv", index_col=0, parse_dates=True)
    held = weights.columns[(weights.fillna(0) > 0).any()]
    c = pd.read_csv(real_run / "constituents.csv", dtype=str, keep_default_na=False).set_index("ticker")
    assert sorted(c.index) == sorted(held)
    f = load_universe().frame
    assert (c["isin"] == f.loc[c.index, "isin"]).all() and (c["figi"] == f.loc[c.index, "figi"]).all()
    for t in held:
        days = weights.index[weights[t].fillna(0) > 0]
        assert (c.at[t, "first_held"], c.at[t, "last_held"]) == (str(days[0].date()), str(days[-1].date()))


def test_cli_prints_the_notes_and_no_progress_when_redirected(
    real_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = real_run.parent.parent / "short.toml"
    assert main(["backtest", str(spec), "--out", str(real_run)]) == 0  # an earlier output is replaced
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("backtest short: ") and "SYNTHETIC" in lines[0]
    assert any(line.startswith("note: synthetic market") for line in lines)
    with open(real_run / "reviews.csv", encoding="utf-8", newline="") as fh:
        n_relaxed = sum(1 for row in csv.DictReader(fh) if row["relaxations"].strip())
    # visible on the terminal, not only in reviews.csv
    assert (f"4 reviews, {n_relaxed} needed the relaxation ladder" if n_relaxed else "none needed") in lines[0]
    assert captured.err == ""  # stderr is not a terminal here: no progress bar, nothing else


# --- output safety (the backtest itself is replaced by a stub: these are about the files) -----------


class _Stop(Exception):
    pass


@pytest.fixture()
def no_backtest(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the backtest raise at once, recording that it was reached."""
    reached: list[str] = []

    def stub(*args: object, **kwargs: object) -> None:
        reached.append("backtest")
        raise _Stop

    monkeypatch.setattr(backtester_module, "backtest", stub)
    return reached


def test_out_on_an_existing_file_is_refused_and_the_file_kept(
    tmp_path: Path, no_backtest: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    user_file = tmp_path / "outfile"
    user_file.write_text("mine", encoding="utf-8")
    assert main(["backtest", str(_spec(tmp_path / "s")), "--out", str(user_file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err and str(user_file) in err
    assert user_file.read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outfile", "s"]  # no hidden .outfile.old
    assert no_backtest == []  # refused before any work


@pytest.mark.parametrize("out", ["", ".", "..", "sub/.."])
def test_the_working_folder_itself_is_never_a_target(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_backtest: list[str],
    out: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub" if out == ".." else tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["backtest", str(_spec(tmp_path / "s")), "--out", out]) == 2
    assert "not a folder a backtest can be written to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, "s"}) and no_backtest == []


def test_a_folder_holding_other_files_is_never_replaced(
    tmp_path: Path, no_backtest: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.tex").write_text("x", encoding="utf-8")
    (docs / "levels.csv").write_text("y", encoding="utf-8")
    assert main(["backtest", str(_spec(tmp_path / "s")), "--out", str(docs)]) == 2
    assert "thesis.tex" in capsys.readouterr().err
    assert sorted(p.name for p in docs.iterdir()) == ["levels.csv", "thesis.tex"] and no_backtest == []


def test_an_unwritable_target_fails_before_the_data_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import exchina_index.data as data_module

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("market data loaded before the output folder was checked")

    monkeypatch.setattr(data_module, "load_market_data", never)
    blocker = tmp_path / "plain-file"
    blocker.write_text("", encoding="utf-8")  # a folder cannot be made under a file (even as root)
    assert main(["backtest", str(_spec(tmp_path / "s")), "--out", str(blocker / "sub" / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create a folder" in err


def test_a_failed_run_keeps_the_previous_output_and_leaves_nothing_new(tmp_path: Path, no_backtest: list[str]) -> None:
    previous = tmp_path / "deep" / "out"
    previous.mkdir(parents=True)
    (previous / "levels.csv").write_text("old", encoding="utf-8")
    with pytest.raises(_Stop):
        run_spec(_spec(tmp_path / "s"), out=previous)
    assert [p.name for p in previous.iterdir()] == ["levels.csv"]
    assert (previous / "levels.csv").read_text(encoding="utf-8") == "old"
    assert [p.name for p in previous.parent.iterdir()] == ["out"]  # no staging folder left
    # a target whose parents do not exist: a failed run removes the folders it made
    with pytest.raises(_Stop):
        run_spec(_spec(tmp_path / "s"), out=tmp_path / "new" / "a" / "b")
    assert not (tmp_path / "new").exists()


def test_staging_folders_of_a_killed_run_are_cleaned_by_the_next(tmp_path: Path, no_backtest: list[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead_pid = 2**22 + 12345  # above the kernel's pid_max default: no such process
    stale = tmp_path / f"{atomic.TEMP_PREFIX}out-{dead_pid}-0123abcd"
    stale.mkdir()
    (stale / "levels.csv").write_text("half", encoding="utf-8")
    with pytest.raises(_Stop):
        run_spec(_spec(tmp_path / "s"), out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s"]


def test_reviews_csv_records_the_purity_figures_and_replacements_csv_is_written(real_run: Path) -> None:
    import pandas as pd

    from exchina_index.universe.loading import load_universe

    universe = load_universe()
    reviews = pd.read_csv(real_run / "reviews.csv", parse_dates=["implement", "cutoff"])
    weights = pd.read_csv(real_run / "weights.csv", index_col=0, parse_dates=True)
    for row in reviews.itertuples():
        purity = universe.facts_at(row.cutoff)["purity"].reindex(weights.columns)
        w = weights.loc[row.implement]
        assert row.weighted_purity == pytest.approx(float(purity @ w), abs=1e-8)
        assert row.low_purity_weight == pytest.approx(float(w[purity < 0.25].sum()), abs=1e-8)
        assert row.stage_deviation <= row.stage_band + 1e-8 and row.single_cap >= 0.08
    # no listing of the demo ends in this period: the file is there with its header only
    assert (real_run / "replacements.csv").read_text(encoding="utf-8") == "date,deleted,replacement,weight\n"
