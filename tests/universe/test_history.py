"""The dated reference history: validation, and reading facts as of a date without look-ahead."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.screens import screen
from exchina_index.errors import UniverseError
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = "ticker,field,value,from,to,source,notes\n"
# AAA (issuer alpha; AAA.AX is its secondary line): float 0.6 until a block is sold on 2021-03-01, then
# 1.0 as in the universe file; a stage change on 2022-01-01 (mining 1 -> 0.5/0.5/0) and back on 2023-01-01.
GOOD = (
    "AAA,float_factor,0.6,2010-01-04,2021-03-01,test,block held by a founder\n"
    "AAA,float_factor,1.0,2021-03-01,,test,block sold\n"
    "AAA,purity,0.5,2010-01-04,2022-01-01,test,\n"
    "AAA,purity,0.9,2022-01-01,,test,\n"
    "AAA,mining,1,2010-01-04,2022-01-01,test,\n"
    "AAA,refining,0,2010-01-04,2022-01-01,test,\n"
    "AAA,manufacturing,0,2010-01-04,2022-01-01,test,\n"
    "AAA,mining,0.5,2022-01-01,2023-01-01,test,\n"
    "AAA,refining,0.5,2022-01-01,2023-01-01,test,\n"
    "AAA,manufacturing,0,2022-01-01,2023-01-01,test,\n"
    "AAA,mining,1,2023-01-01,,test,\n"
    "AAA,refining,0,2023-01-01,,test,\n"
    "AAA,manufacturing,0,2023-01-01,,test,\n"
    "AAA,shares_outstanding,1000000,2015-01-01,2020-01-01,test,\n"
    "AAA,shares_outstanding,1500000,2020-01-01,,test,placement\n"
)


def _universe(tmp_path: Path, rows: str):
    for name in ("mini_universe.csv", "mini_china_links.csv"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "history.csv").write_text(HEADER + rows, encoding="utf-8")
    return load_universe(
        tmp_path / "mini_universe.csv", tmp_path / "mini_china_links.csv", history=tmp_path / "history.csv"
    )


def test_facts_as_of_each_date(tmp_path: Path) -> None:
    u = _universe(tmp_path, GOOD)
    early, mid, late = (u.facts_at(d) for d in ("2020-06-30", "2022-06-30", "2024-06-30"))
    assert early.at["AAA", "float_factor"] == 0.6 and mid.at["AAA", "float_factor"] == 1.0
    assert u.facts_at("2021-03-01").at["AAA", "float_factor"] == 1.0  # `from` is inclusive
    assert u.facts_at("2021-02-28").at["AAA", "float_factor"] == 0.6  # `to` is exclusive
    # issuer facts on the primary line apply to the secondary line; float is per line
    assert mid.loc[["AAA", "AAA.AX"], "purity"].tolist() == [0.9, 0.9]
    assert early.loc[["AAA", "AAA.AX"], "purity"].tolist() == [0.5, 0.5]
    assert early.at["AAA.AX", "float_factor"] == 1.0  # no entry for the ASX line: its universe column
    assert mid.loc["AAA", ["mining", "refining", "manufacturing"]].tolist() == [0.5, 0.5, 0.0]
    assert late.loc["AAA", ["mining", "refining", "manufacturing"]].tolist() == [1.0, 0.0, 0.0]
    assert u.facts_at("2019-12-31").at["AAA", "shares_outstanding"] == 1_000_000
    assert np.isnan(u.facts_at("2014-12-31").at["AAA", "shares_outstanding"])  # before the first count: none known
    assert np.isnan(late.at["BBB.L", "shares_outstanding"])  # no entries: none
    # names without entries read their universe columns at every date
    frame = u.frame
    assert (
        late.loc["CCC.T", ["float_factor", "purity"]].to_numpy() == frame.loc["CCC.T", ["float_factor", "purity"]]
    ).all()


def test_purity_screen_reads_the_cut_off(tmp_path: Path) -> None:
    # purity 0.005 (below the rulebook's 0.01) until 2022: LOW_PURITY then, eligible after
    rows = GOOD.replace("AAA,purity,0.5,", "AAA,purity,0.005,")
    u = _universe(tmp_path, rows)
    assert screen(u, "2020-06-30").at["AAA", "reason"] == "LOW_PURITY"
    assert screen(u, "2024-07-01").at["AAA", "reason"] == "OK"


@pytest.mark.parametrize(
    ("rows", "line", "part"),
    [
        ("ZZZ,purity,0.5,2010-01-04,,test,\n", 2, "not in the universe file"),
        ("AAA,colour,0.5,2010-01-04,,test,\n", 2, "unknown field"),
        ("AAA.AX,purity,0.9,2012-01-03,,test,\n", 2, "primary line"),
        ("AAA,float_factor,1.5,2010-01-04,,test,\n", 2, "outside"),
        # a value known only later may not be read back before its date: start on listed_since
        ("AAA,float_factor,1.0,2011-01-03,,test,\n", 2, "after listed_since"),
        ("AAA,float_factor,1.0,2010-01-04,2009-01-01,test,\n", 2, "not after from"),
        # a gap between two entries
        (
            "AAA,float_factor,0.6,2010-01-04,2020-01-01,test,\nAAA,float_factor,1.0,2021-01-01,,test,\n",
            3,
            "without gap",
        ),
        # the last entry closed
        ("AAA,float_factor,1.0,2010-01-04,2020-01-01,test,\n", 2, "must be open"),
        # the entry in force now disagrees with the universe file (AAA float_factor 1.0)
        ("AAA,float_factor,0.7,2010-01-04,,test,\n", 2, "universe file holds the values in force now"),
        # stages that do not sum to 1, and stages given apart
        (
            "AAA,mining,0.6,2010-01-04,,test,\nAAA,refining,0.6,2010-01-04,,test,\n"
            "AAA,manufacturing,0,2010-01-04,,test,\n",
            2,
            "sums to",
        ),
        ("AAA,mining,1,2010-01-04,,test,\n", 2, "no refining entry from 2010-01-04"),
    ],
)
def test_bad_history_names_file_line_and_problem(tmp_path: Path, rows: str, line: int, part: str) -> None:
    with pytest.raises(UniverseError) as info:
        _universe(tmp_path, rows)
    message = str(info.value)
    assert "history.csv" in message and f"line {line}" in message and part in message


def test_no_history_is_said(tmp_path: Path) -> None:
    for name in ("mini_universe.csv", "mini_china_links.csv"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    u = load_universe(tmp_path / "mini_universe.csv", tmp_path / "mini_china_links.csv")
    assert u.history.empty and any("no dated reference history" in n for n in u.notes)
    pd.testing.assert_series_equal(u.facts_at("2015-01-01")["purity"], u.frame["purity"], check_names=False)
