"""The corporate-action event file (universe/corporate_actions.csv): loading, parsing and validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2

from exchina_index.errors import UniverseError
from exchina_index.universe.corporate_actions import (
    CA_FILE,
    CA_KINDS,
    TERMINAL_KINDS,
    CorporateAction,
    load_corporate_actions,
)
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = "# test events\n# second comment line\nex_date,kind,ticker,terms,source,notes\n"
FIRST_ROW = 4  # physical line of the first data row under HEADER
# a listing whose last session is Friday 2024-09-13 (delisted = the day after, a Saturday)
DELISTED_ROW = "CCC.AX,Hotel ASX,hotel,true,AU,AU,XASX,AUD,AUD,1,1.0,1,0,0,0.9,2013-01-02,2024-09-14,mining,test,\n"


def _folder(tmp_path: Path, events: str | None) -> Path:
    """The mini universe (plus CCC.AX, delisted) in tmp_path with ``events`` as its event file (None: none)."""
    text = (FIXTURES / "mini_universe.csv").read_text(encoding="utf-8")
    (tmp_path / "universe.csv").write_text(text.rstrip("\n") + "\n" + DELISTED_ROW, encoding="utf-8")
    shutil.copy(FIXTURES / "mini_china_links.csv", tmp_path / "china_links.csv")
    if events is not None:
        (tmp_path / CA_FILE).write_text(events, encoding="utf-8")
    return tmp_path / "universe.csv"


def _events(tmp_path: Path, *rows: str) -> tuple[CorporateAction, ...]:
    return load_universe(_folder(tmp_path, HEADER + "".join(r + "\n" for r in rows))).corporate_actions


# --- the bundled file ---------------------------------------------------------------------------------


def test_the_bundled_events_load_with_the_bundled_universe() -> None:
    u = load_universe()
    events = u.corporate_actions
    assert events and all(isinstance(e, CorporateAction) for e in events)
    assert [(e.ex_date, e.line) for e in events] == sorted((e.ex_date, e.line) for e in events)
    assert all(e.source and e.kind in CA_KINDS and e.ticker in u.frame.index for e in events)
    by = {(e.ticker, e.kind): e for e in events}
    # Base Resources: last ASX session Fri 2024-09-13 (universe: delisted 2024-09-14), so out from Mon 2024-09-16;
    # 0.0260 UUUU per share plus the A$0.065 special dividend whose ex-date (2024-09-17) came after that session
    bse = by[("BSE.AX", "stock_merger")]
    assert bse.ex_date == pd.Timestamp("2024-09-16")
    assert (bse.term("acquirer"), bse.term("ratio"), bse.term("cash")) == ("UUUU", 0.026, 0.065)
    assert bse.describe().startswith("2024-09-16 stock_merger BSE.AX: acquirer=UUUU ratio=0.026 cash=0.065 (")
    # Peak: suspended from the close of Fri 2025-09-19, A$0.443 cash on the implementation day 2025-09-30
    assert by[("PEK.AX", "suspension")].ex_date == pd.Timestamp("2025-09-22")
    pek = by[("PEK.AX", "cash_merger")]
    assert (pek.ex_date, pek.term("cash")) == (pd.Timestamp("2025-09-30"), 0.443)
    assert by[("PM8.AX", "deletion")].ex_date == pd.Timestamp("2021-02-22")  # last session Fri 2021-02-19
    assert by[("NB", "consolidation")].term("ratio") == pytest.approx(0.1)
    assert load_corporate_actions(u.path.with_name(CA_FILE), u) == events


# --- parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "terms", "expected"),
    [
        ("split", "ratio=2:1", {"ratio": 2.0}),
        ("split", "ratio = 3:2", {"ratio": 1.5}),
        ("consolidation", "ratio=1:10", {"ratio": 0.1}),
        ("consolidation", "ratio=0.25", {"ratio": 0.25}),
        ("rights", "price=0.2;ratio=1:4", {"price": 0.2, "ratio": 0.25}),
        ("special_dividend", "amount=0.065;", {"amount": 0.065}),
        ("cash_merger", "cash=0", {"cash": 0.0}),
        ("stock_merger", "acquirer=BBB.L;ratio=0.5", {"acquirer": "BBB.L", "ratio": 0.5, "cash": 0.0}),
        ("spin_off", "new=BBB.L;ratio=1:5", {"new": "BBB.L", "ratio": 0.2}),
        ("suspension", "", {}),
    ],
)
def test_terms_parse_to_numbers_sorted_by_key(tmp_path: Path, kind: str, terms: str, expected: dict) -> None:
    (e,) = _events(tmp_path, f'2024-07-01,{kind},AAA,"{terms}",a source,')
    assert e.terms == tuple(sorted(expected.items()))
    assert e.term("nope", "dflt") == "dflt" and (e.kind, e.ticker, e.line) == (kind, "AAA", FIRST_ROW)
    assert e.ex_date == pd.Timestamp("2024-07-01") and e.path.endswith(CA_FILE)


def test_events_are_sorted_by_ex_date_then_line(tmp_path: Path) -> None:
    events = _events(
        tmp_path,
        "2024-07-03,special_dividend,AAA,amount=1,s,",
        "2024-07-01,split,AAA,ratio=2:1,s,",
        "2024-07-01,special_dividend,BBB.L,amount=0.1,s,",
    )
    assert [(str(e.ex_date.date()), e.line) for e in events] == [
        ("2024-07-01", FIRST_ROW + 1),
        ("2024-07-01", FIRST_ROW + 2),
        ("2024-07-03", FIRST_ROW),
    ]


def test_a_delisted_listing_may_be_suspended_then_taken_over(tmp_path: Path) -> None:
    # CCC.AX last traded Fri 2024-09-13: suspended from Mon 2024-09-16, held until cash is paid on 2024-09-30
    events = _events(tmp_path, "2024-09-30,cash_merger,CCC.AX,cash=1.5,s,", "2024-09-16,suspension,CCC.AX,,s,")
    assert [e.kind for e in events] == ["suspension", "cash_merger"]
    assert sorted(TERMINAL_KINDS) == ["cash_merger", "deletion", "stock_merger"]
    (d,) = _events(tmp_path, "2024-09-16,deletion,CCC.AX,,s,")  # or leave on the first session after its last
    assert d.describe() == "2024-09-16 deletion CCC.AX: (s)"


def test_a_universe_folder_without_the_file_has_no_events(tmp_path: Path) -> None:
    u = load_universe(_folder(tmp_path, None))
    assert u.corporate_actions == ()
    with_file = load_universe(_folder(tmp_path, HEADER + "2024-07-01,split,AAA,ratio=2:1,s,\n"))
    assert len(with_file.corporate_actions) == 1 and with_file.fingerprint != u.fingerprint


# --- bad files ------------------------------------------------------------------------------------------

BAD_ROWS = [
    ("2024-07-01,merger,AAA,,s,", "kind", ["unknown kind 'merger'", "stock_merger", "deletion"]),
    ("2024-07-01,split,ZZZ,ratio=2:1,s,", "ticker", ["'ZZZ' is not in the universe"]),
    ("2024/07/01,split,AAA,ratio=2:1,s,", "ex_date", ["not an ISO date"]),
    # Thursday 2024-07-04 is a NYSE holiday; the sessions around it are Wed 3 and Fri 5 July
    ("2024-07-04,split,AAA,ratio=2:1,s,", "ex_date", ["not a session", "XNYS", "2024-07-03", "2024-07-05"]),
    ("2024-07-06,split,AAA.AX,ratio=2:1,s,", "ex_date", ["XASX", "2024-07-05", "2024-07-08"]),  # a Saturday
    ("2011-06-01,split,AAA.AX,ratio=2:1,s,", "ex_date", ["before AAA.AX's listed_since 2012-01-03"]),
    ("2024-09-16,special_dividend,CCC.AX,amount=0.1,s,", "ex_date", ["delisted from 2024-09-14"]),
    ("2024-09-17,deletion,CCC.AX,,s,", "ex_date", ["first XASX session after its last close, 2024-09-16"]),
    ("2024-09-17,suspension,CCC.AX,,s,", "ex_date", ["2024-09-16"]),
    ("2024-07-01,split,AAA,ratio2,s,", "terms", ["'ratio2' is not a key=value pair"]),
    ("2024-07-01,split,AAA,amount=2,s,", "terms", ["unknown term 'amount'", "ratio"]),
    ("2024-07-01,deletion,AAA,cash=2,s,", "terms", ["unknown term 'cash'", "takes no terms"]),
    ("2024-07-01,rights,AAA,ratio=1:4,s,", "terms", ["needs the term(s) price"]),
    ("2024-07-01,split,AAA,ratio=abc,s,", "terms", ["ratio='abc' is not a number"]),
    ("2024-07-01,split,AAA,ratio=2:x,s,", "terms", ["not N:M"]),
    ("2024-07-01,special_dividend,AAA,amount=nan,s,", "terms", ["not a finite number"]),
    ("2024-07-01,cash_merger,AAA,cash=inf,s,", "terms", ["not a finite number"]),
    ("2024-07-01,split,AAA,ratio=0:1,s,", "terms", ["must be finite numbers > 0"]),
    ("2024-07-01,rights,AAA,ratio=-0.5;price=1,s,", "terms", ["ratio=-0.5 must be > 0"]),
    ("2024-07-01,rights,AAA,ratio=1:4;price=0,s,", "terms", ["price=0 must be > 0"]),
    ("2024-07-01,cash_merger,AAA,cash=-1,s,", "terms", ["cash=-1 must be >= 0"]),
    ("2024-07-01,split,AAA,ratio=1:2,s,", "terms", ["split's ratio must be > 1"]),
    ("2024-07-01,split,AAA,ratio=1,s,", "terms", ["split's ratio must be > 1"]),
    ("2024-07-01,consolidation,AAA,ratio=2:1,s,", "terms", ["consolidation's ratio must be < 1"]),
    ("2024-07-01,split,AAA,ratio=2;ratio=3,s,", "terms", ["'ratio' is given twice"]),
    ("2024-07-01,stock_merger,AAA,acquirer=AAA;ratio=1,s,", "terms", ["the event's own ticker"]),
    ("2024-07-01,stock_merger,AAA,acquirer=QQQ;ratio=1,s,", "terms", ["acquirer='QQQ' is not in the universe"]),
    ("2024-09-16,stock_merger,AAA,acquirer=CCC.AX;ratio=1,s,", "terms", ["delisted from 2024-09-14"]),
    ("2012-01-03,spin_off,AAA,new=BBB.L;ratio=1,s,", "terms", ["listed only from 2015-06-01"]),
    ("2024-07-01,split,AAA,ratio=2:1,,", "source", ["is empty"]),
]


@pytest.mark.parametrize(("row", "column", "words"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_a_bad_row_names_its_line_and_column(tmp_path: Path, row: str, column: str, words: list[str]) -> None:
    with pytest.raises(UniverseError) as info:
        _events(tmp_path, "2024-07-01,special_dividend,BBB.L,amount=0.1,s,", row)
    err = info.value
    assert (err.line, err.column, err.path) == (FIRST_ROW + 1, column, tmp_path / CA_FILE)
    for w in words:
        assert w in str(err), (w, str(err))


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (["2024-07-01,split,AAA,ratio=2:1,s,", "2024-07-01,split,AAA,ratio=3:1,s,"], ["already on line 4"]),
        (["2024-07-01,deletion,AAA,,s,", "2024-07-02,split,AAA,ratio=2:1,s,"], ["leaves the index", "line 4"]),
        (["2024-07-01,deletion,AAA,,s,", "2024-07-01,special_dividend,AAA,amount=1,s,"], ["leaves the index"]),
        (["2024-07-01,cash_merger,AAA,cash=1,s,", "2024-07-02,deletion,AAA,,s,"], ["cash_merger of 2024-07-01"]),
    ],
)
def test_two_rows_that_contradict_fail_on_the_second(tmp_path: Path, rows: list[str], words: list[str]) -> None:
    with pytest.raises(UniverseError) as info:
        _events(tmp_path, *rows)
    assert (info.value.line, info.value.column) == (FIRST_ROW + 1, "ex_date")
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_terminal_event_after_the_first_session_needs_an_earlier_suspension(tmp_path: Path) -> None:
    # a suspension starting after the first session past the last close does not hold the listing
    with pytest.raises(UniverseError, match="suspension must be on the first XASX session") as info:
        _events(tmp_path, "2024-09-17,suspension,CCC.AX,,s,", "2024-09-30,deletion,CCC.AX,,s,")
    assert info.value.line == FIRST_ROW


@pytest.mark.parametrize(
    ("header", "column"),
    [("ex_date,kind,ticker,terms,notes", "source"), ("ex_date,kind,ticker,terms,source,notes,extra", "extra")],
)
def test_missing_and_unknown_columns_name_the_header(tmp_path: Path, header: str, column: str) -> None:
    with pytest.raises(UniverseError) as info:
        load_universe(_folder(tmp_path, f"# c\n{header}\n"))
    assert (info.value.line, info.value.column) == (2, column)


def test_a_users_event_file_is_checked_against_a_loaded_universe(tmp_path: Path) -> None:
    u = load_universe(_folder(tmp_path, None))
    own = tmp_path / "mine.csv"
    own.write_text(HEADER + "2024-07-01,split,AAA,ratio=2:1,s,my note\n", encoding="utf-8")
    (e,) = load_corporate_actions(own, u)
    assert (e.term("ratio"), e.notes, e.path) == (2.0, "my note", str(own))
    with pytest.raises(UniverseError, match="must be a Universe"):
        load_corporate_actions(own, u.frame)
    with pytest.raises(UniverseError, match="must be a file path"):
        load_corporate_actions(3, u)  # type: ignore[arg-type]


def test_the_cli_validate_exits_2_with_one_line_on_a_bad_event_file(tmp_path: Path) -> None:
    path = _folder(tmp_path, HEADER + "2024-07-01,split,AAA,ratio=1:2,s,\n")
    assert_one_line_exit_2(
        ["universe", "validate", "--universe", path], CA_FILE, f"line {FIRST_ROW}", "column 'terms'", "> 1"
    )
