"""``exchina-index calc``: the daily calculation agent's files, reproducible, atomic, never
overwritten without ``--force``; bad events and periods are exit 2 with one line, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2, run_cli

from exchina_index._resources import bundled_path

FROM, TO = "2026-08-03", "2026-08-14"  # two weeks of the demo, between the June and September reviews


def _spec(folder: Path, universe: Path | None = None, aum: int = 250_000_000) -> Path:
    line = f'universe = "{universe}"\n' if universe is not None else ""
    spec = folder / "calc.toml"
    spec.write_text(
        f'name = "calc"\nsource = "demo"\nstart = "2026-03-01"\nend = "2026-09-30"\naum = {aum}\n{line}'
        '[benchmark]\nkind = "none"\n',
        encoding="utf-8",
    )
    return spec


def test_calc_writes_a_day_of_files_per_session_reproducibly(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    out = tmp_path / "daily"
    code, stdout, err = run_cli(["calc", spec, "--from", FROM, "--to", TO, "--out", out])
    assert code == 0, err
    assert "SYNTHETIC" in stdout and "10 days" in stdout
    levels = pd.read_csv(out / "levels.csv")
    assert list(levels["date"]) == [d.date().isoformat() for d in pd.bdate_range(FROM, TO)]
    assert list(levels.columns) == [
        "date",
        "price_return",
        "total_return",
        "net_total_return",
        "divisor",
        "constituents",
    ]
    for day in levels["date"]:
        closing = pd.read_csv(out / "closing" / f"{day}.csv")
        level = levels.set_index("date").loc[day]
        # the level is the closing composition's market value over the divisor, by hand
        assert abs(closing["market_value_usd"].sum() / level["divisor"] - level["price_return"]) < 1e-6
        assert len(closing) == level["constituents"]
        assert (out / "opening" / f"{day}.csv").is_file() and (out / "etf" / f"basket_{day}.csv").is_file()
        assert (out / "etf" / f"holdings_{day}.csv").is_file()
    again = tmp_path / "again"
    assert run_cli(["calc", spec, "--from", FROM, "--to", TO, "--out", again])[0] == 0
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((out / f).read_bytes() == (again / f).read_bytes() for f in files)  # same bytes


def test_calc_never_overwrites_without_force(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    out = tmp_path / "daily"
    assert run_cli(["calc", spec, "--from", FROM, "--to", FROM, "--out", out])[0] == 0
    before = (out / "levels.csv").read_bytes()
    assert_one_line_exit_2(["calc", spec, "--from", FROM, "--to", TO, "--out", out], "already exists", "--force")
    assert (out / "levels.csv").read_bytes() == before
    assert run_cli(["calc", spec, "--from", FROM, "--to", TO, "--out", out, "--force"])[0] == 0
    old = tmp_path / "daily.v1"
    assert (old / "levels.csv").read_bytes() == before  # the old one is kept
    # a day's files do not depend on --to: the first run's last day knew its next session too
    for name in (f"opening/{FROM}.csv", f"closing/{FROM}.csv", f"etf/basket_{FROM}.csv"):
        assert (old / name).read_bytes() == (out / name).read_bytes(), name


def test_the_holdings_file_is_for_a_fund_of_the_specs_aum(tmp_path: Path) -> None:
    spec = _spec(tmp_path, aum=100_000_000)
    out = tmp_path / "daily"
    assert run_cli(["calc", spec, "--from", FROM, "--to", FROM, "--out", out, "--nav-per-share", "40"])[0] == 0
    holdings = pd.read_csv(out / "etf" / f"holdings_{FROM}.csv")
    summary = pd.read_csv(out / "etf" / "summary.csv").iloc[0]
    growth = summary["nav_per_share"] / 40.0  # the fund's NAV since the index start
    assert holdings["market_value_usd"].sum() == pytest.approx(100e6 * growth, rel=1e-9)  # files carry 10 digits
    assert summary["unit_value_usd"] == pytest.approx(50_000 * 40.0 * growth, rel=1e-9)


def test_a_bad_event_file_is_exit_2_naming_the_line_and_nothing_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "universe"
    folder.mkdir()
    for name in ("allied_supply_chain.csv", "china_links.csv", "reference_history.csv", "discretion_log.csv"):
        shutil.copy(bundled_path(name), folder / name)
    header = "ex_date,kind,ticker,terms,source,notes\n"
    out = tmp_path / "daily"
    for row, words in (
        ("2024-02-07,split,NOPE.AX,ratio=2:1,test,\n", ("NOPE.AX",)),
        ("2024-02-10,split,MP,ratio=2:1,test,\n", ("2024-02-10",)),  # a Saturday
        ("2024-02-07,split,MP,ratio=0:1,test,\n", ("ratio",)),
        ("2024-02-07,split,MP,ratio=two,test,\n", ("ratio",)),
    ):
        (folder / "corporate_actions.csv").write_text(header + row, encoding="utf-8")
        spec = _spec(tmp_path, folder / "allied_supply_chain.csv")
        err = assert_one_line_exit_2(["calc", spec, "--from", FROM, "--to", TO, "--out", out], *words)
        assert "corporate_actions.csv, line 2" in err, err
        assert not out.exists() and not list(tmp_path.glob(".daily*"))


def test_a_period_outside_the_index_or_reversed_is_exit_2(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    out = tmp_path / "daily"
    assert_one_line_exit_2(["calc", spec, "--from", TO, "--to", FROM, "--out", out], "before")
    assert_one_line_exit_2(["calc", spec, "--from", "2015-01-05", "--to", "2015-01-09", "--out", out], "no day")
    assert not out.exists()
