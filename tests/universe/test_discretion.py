"""The discretion log (universe/discretion_log.csv): loading, validation and the decisions in force."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exchina_index._resources import bundled_path
from exchina_index.errors import UniverseError
from exchina_index.universe.discretion import (
    DISCRETION_FILE,
    DiscretionLog,
    decisions_at,
    load_discretion_log,
    parse_discretion_log,
)
from exchina_index.universe.loading import load_universe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEADER = "# a test log\n# second comment line\ndate,kind,ticker,until,reason,decided_by,source\n"
FIRST_ROW = 4  # physical line of the first data row under HEADER


def _mini(tmp_path: Path, log: str | None) -> Path:
    """The mini fixture universe copied to tmp_path, with ``log`` as its discretion log (None: no file)."""
    shutil.copy(FIXTURES / "mini_universe.csv", tmp_path / "universe.csv")
    shutil.copy(FIXTURES / "mini_china_links.csv", tmp_path / "china_links.csv")
    if log is not None:
        (tmp_path / DISCRETION_FILE).write_text(log, encoding="utf-8")
    return tmp_path / "universe.csv"


def test_the_bundled_log_holds_the_sourced_decisions() -> None:
    log = load_discretion_log()
    rows = {(k, t): (d, u) for d, k, t, u in zip(log.date, log.kind, log.ticker, log.until)}
    # Peak: excluded from the booklet of Shenghe's scheme until the line's delisting (the day after its last session)
    assert rows[("exclude", "PEK.AX")] == (np.datetime64("2025-08-18"), np.datetime64("2025-09-20"))
    assert str(load_universe().frame.loc["PEK.AX", "delisted"].date()) == "2025-09-20"
    # ASM: a note from the Energy Fuels scheme deed, open-ended while the scheme has not completed
    d, u = rows[("note", "ASM.AX")]
    assert d == np.datetime64("2026-01-20") and np.isnat(u)
    assert all(s.startswith("http") for s in log.source) and all(log.decided_by)
    assert list(log.date) == sorted(log.date)


def test_the_universe_carries_the_log_beside_its_file() -> None:
    u = load_universe()
    assert u.decisions.lines() == load_discretion_log().lines()
    assert u.decisions.path == bundled_path(DISCRETION_FILE)


def test_decisions_are_in_force_from_date_to_before_until() -> None:
    log = DiscretionLog(
        date=np.array(["2025-01-10", "2025-02-01"], dtype="datetime64[ns]"),
        kind=np.array(["exclude", "note"], dtype=object),
        ticker=np.array(["AAA", ""], dtype=object),
        until=np.array(["2025-03-01", "NaT"], dtype="datetime64[ns]"),
        reason=np.array(["takeover pending", "rule read as written"], dtype=object),
        decided_by=np.array(["committee", "committee"], dtype=object),
        source=np.array(["S1", "S2"], dtype=object),
        line=np.array([4, 5]),
    )

    def at(day: str) -> list[str]:
        return list(decisions_at(log, day).kind)

    assert at("2025-01-09") == []
    assert at("2025-01-10") == ["exclude"]  # on its date
    assert at("2025-02-28") == ["exclude", "note"]
    assert at("2025-03-01") == ["note"]  # until is the first cut-off it no longer applies to
    assert at("2099-12-31") == ["note"]  # no until: no end
    assert decisions_at(log, "2025-02-15").lines() == (
        "2025-01-10 exclude AAA: takeover pending (S1)",
        "2025-02-01 note: rule read as written (S2)",
    )


def test_a_universe_without_a_log_has_no_decisions(tmp_path: Path) -> None:
    u = load_universe(_mini(tmp_path, None))
    assert len(u.decisions) == 0 and u.decisions.lines() == ()


def test_a_log_beside_a_universe_is_read_and_changes_its_fingerprint(tmp_path: Path) -> None:
    path = _mini(tmp_path, None)
    before = load_universe(path).fingerprint
    (tmp_path / DISCRETION_FILE).write_text(HEADER + "2025-01-10,note,,,read the rule so,committee,S1\n")
    u = load_universe(path)
    assert u.decisions.lines() == ("2025-01-10 note: read the rule so (S1)",)
    assert int(u.decisions.line[0]) == FIRST_ROW
    assert u.fingerprint != before


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ("2025-01-10,veto,AAA,,why,committee,S1", "kind", "unknown kind 'veto'"),
        ("2025-01-10,exclude,,,why,committee,S1", "ticker", "is empty"),
        ("2025-01-10,exclude,LYC.AX,,why,committee,S1", "ticker", "'LYC.AX' is not in the universe"),
        ("2025-01-10,note,ZZZ,,why,committee,S1", "ticker", "'ZZZ' is not in the universe"),
        ("2025-01-10,exclude,AAA,2025-01-10,why,committee,S1", "until", "is not after date 2025-01-10"),
        ("2025-01-10,exclude,AAA,2024-12-31,why,committee,S1", "until", "is not after date"),
        ("10/01/2025,exclude,AAA,,why,committee,S1", "date", "is not an ISO date"),
        ("2025-01-10,exclude,AAA,2025-13-01,why,committee,S1", "until", "is not an ISO date"),
        ("2025-01-10,exclude,AAA,,,committee,S1", "reason", "is empty"),
        ("2025-01-10,exclude,AAA,,why,,S1", "decided_by", "is empty"),
        ("2025-01-10,exclude,AAA,,why,committee,", "source", "is empty"),
    ],
)
def test_a_bad_row_is_an_error_naming_file_line_and_column(tmp_path: Path, row: str, column: str, words: str) -> None:
    good = "2024-06-03,note,AAA,,fine,committee,S1\n"
    path = _mini(tmp_path, HEADER + good + row + "\n")
    with pytest.raises(UniverseError) as info:
        load_universe(path)
    err = info.value
    assert err.path == tmp_path / DISCRETION_FILE and err.line == FIRST_ROW + 1 and err.column == column
    assert words in str(err) and DISCRETION_FILE in str(err)


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("date,kind,ticker,reason,decided_by,source", "until"),  # a column missing
        ("date,kind,ticker,until,reason,decided_by,source,notes", "notes"),  # an unknown column
    ],
)
def test_the_header_must_hold_the_log_columns(tmp_path: Path, header: str, column: str) -> None:
    with pytest.raises(UniverseError, match="column") as info:
        parse_discretion_log(tmp_path / "log.csv", header + "\n", ["AAA"])
    assert info.value.line == 1 and info.value.column == column


def test_an_explicit_log_is_checked_against_the_given_tickers(tmp_path: Path) -> None:
    p = tmp_path / "log.csv"
    p.write_text(HEADER + "2025-01-10,exclude,MP,,takeover,committee,S1\n")
    assert load_discretion_log(p).ticker.tolist() == ["MP"]  # default: the bundled universe's tickers
    with pytest.raises(UniverseError, match="'MP' is not in the universe") as info:
        load_discretion_log(p, tickers=["AAA"])
    assert info.value.line == FIRST_ROW


def test_the_log_is_sorted_by_date_keeping_the_file_order_of_a_day(tmp_path: Path) -> None:
    text = HEADER + "".join(
        f"{d},note,,,{r},committee,S1\n" for d, r in [("2025-03-01", "c"), ("2025-01-01", "a"), ("2025-03-01", "d")]
    )
    log = parse_discretion_log(tmp_path / "log.csv", text, [])
    assert log.reason.tolist() == ["a", "c", "d"] and log.line.tolist() == [5, 4, 6]
    assert pd.DatetimeIndex(log.date).is_monotonic_increasing
