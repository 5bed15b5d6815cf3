"""The China screen's ownership rule: a stake stays in force until its end is shown; combined
China/HK-linked holdings of an issuer, on any of its lines, count together."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchina_index.construction.screens import screen
from exchina_index.errors import UniverseError
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = "ticker,counterparty,kind,stake,from,to,ended_by,source,notes\n"


def _universe(tmp_path: Path, rows: str):
    shutil.copy(FIXTURES / "mini_universe.csv", tmp_path / "u.csv")
    (tmp_path / "links.csv").write_text(HEADER + rows, encoding="utf-8")
    return load_universe(tmp_path / "u.csv", tmp_path / "links.csv")


def test_a_stake_without_a_shown_end_stays_in_force(tmp_path: Path) -> None:
    # 30 % reported from 2020; the table says it ends in 2022 but shows no sale: still excluded in 2024,
    # and the loader says why.
    u = _universe(tmp_path, "AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,,test,\n")
    assert screen(u, "2024-06-30").at["AAA", "reason"] == "CN_STAKE"
    assert any("kept in force (ownership rule)" in n and "AAA" in n for n in u.notes)
    assert "no sale shown" in screen(u, "2024-06-30").at["AAA", "detail"]
    sold = _universe(tmp_path, "AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,sold,test,\n")
    assert screen(sold, "2024-06-30").at["AAA", "reason"] == "OK" and sold.notes == (
        "no dated reference history (reference_history.csv): the universe file's float factors, purities "
        "and stage splits apply to every date",
    )


def test_a_transfer_to_another_china_linked_holder_is_a_new_link(tmp_path: Path) -> None:
    # 15 % moves from Fund A to HK Trading on 2022-01-01; with Fund B's 12 % the issuer is at 27 % before
    # and after the transfer, so it stays excluded; once Fund B dilutes below, the combined 15 % is a flag.
    rows = (
        "AAA,Fund A,chinese_shareholder,0.15,2020-01-01,2022-01-01,transferred,test,\n"
        "AAA,HK Trading (Hong Kong),chinese_shareholder,0.15,2022-01-01,,,test,bought Fund A's block\n"
        "AAA,Fund B,state_linked_shareholder,0.12,2020-01-01,2023-01-01,diluted,test,\n"
    )
    u = _universe(tmp_path, rows)
    assert [screen(u, d).at["AAA", "reason"] for d in ("2021-06-30", "2022-06-30", "2023-06-30")] == [
        "CN_STAKE",
        "CN_STAKE",
        "FLAG_CN_STAKE",
    ]
    assert screen(u, "2022-06-30").at["AAA", "cn_stake"] == pytest.approx(0.27, abs=1e-15)


def test_links_on_any_line_count_for_the_issuer(tmp_path: Path) -> None:
    # 14 % recorded on the primary line and 13 % on the ASX line of the same issuer: 27 % for both lines
    rows = (
        "AAA,Fund A,chinese_shareholder,0.14,2020-01-01,,,test,\n"
        "AAA.AX,Fund B,chinese_shareholder,0.13,2020-01-01,,,test,\n"
    )
    s = screen(_universe(tmp_path, rows), "2021-06-30")
    assert s.loc[["AAA", "AAA.AX"], "reason"].tolist() == ["CN_STAKE", "CN_STAKE"]
    assert s.loc[["AAA", "AAA.AX"], "cn_stake"].tolist() == pytest.approx([0.27, 0.27], abs=1e-15)


def test_regulatory_action_is_flagged_not_excluding(tmp_path: Path) -> None:
    u = _universe(tmp_path, "AAA,Treasury referral about China-linked holders,regulatory_action,,2025-11-21,,,test,\n")
    s = screen(u, "2026-01-30")
    assert s.at["AAA", "reason"] == "FLAG_CN_REGULATORY" and bool(s.at["AAA", "eligible"])


@pytest.mark.parametrize(
    ("rows", "part"),
    [
        ("AAA,Fund A,chinese_shareholder,0.30,2020-01-01,,sold,test,\n", "has no end date"),
        ("AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,vanished,test,\n", "unknown ending"),
        # superseded with no row that starts on the end date
        ("AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,superseded,test,\n", "no row for AAA"),
    ],
)
def test_bad_endings_name_the_line(tmp_path: Path, rows: str, part: str) -> None:
    with pytest.raises(UniverseError) as info:
        _universe(tmp_path, rows)
    assert "links.csv, line 2" in str(info.value) and "ended_by" in str(info.value) and part in str(info.value)


def test_superseded_with_its_successor_loads(tmp_path: Path) -> None:
    rows = (
        "AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,superseded,test,\n"
        "AAA,Fund A,chinese_shareholder,0.05,2022-01-01,,,test,cut to 5 %\n"
    )
    u = _universe(tmp_path, rows)
    assert screen(u, "2021-01-01").at["AAA", "reason"] == "CN_STAKE"
    assert screen(u, "2023-01-01").at["AAA", "cn_stake"] == 0.05


def test_a_dated_domicile_of_concern_excludes_while_in_force(tmp_path: Path) -> None:
    # AAA (US now) was a Hong Kong company until a redomicile on 2021-07-01 (as Astron was until 2025)
    rows = "AAA,Hong Kong incorporation,domicile_of_concern,,2010-01-04,2021-07-01,redomiciled,test,\n"
    u = _universe(tmp_path, rows)
    assert screen(u, "2021-06-30").at["AAA", "reason"] == "CN_DOMICILE"
    assert screen(u, "2021-07-01").at["AAA", "reason"] == "OK"


def test_one_holder_on_two_lines_of_an_issuer_is_refused(tmp_path: Path) -> None:
    # Fund B's 10 % written on both lines of issuer alpha would count twice (50 % instead of 40 %)
    rows = (
        "AAA,Fund A,chinese_shareholder,0.30,2020-01-01,,,test,\n"
        "AAA,Fund B,chinese_shareholder,0.10,2020-01-01,,,test,\n"
        "AAA.AX,Fund B,chinese_shareholder,0.10,2021-01-01,,,test,\n"
    )
    with pytest.raises(UniverseError) as info:
        _universe(tmp_path, rows)
    assert "links.csv, line 4" in str(info.value) and "overlaps the one on line 3" in str(info.value)


def test_a_lapsed_right_ends_no_stake_and_the_note_says_so(tmp_path: Path) -> None:
    u = _universe(tmp_path, "AAA,Fund A,chinese_shareholder,0.30,2020-01-01,2022-01-01,lapsed,test,\n")
    assert screen(u, "2024-06-30").at["AAA", "reason"] == "CN_STAKE"
    assert any("'lapsed' shows no sale, dilution or transfer" in n for n in u.notes)
