"""apply_decisions: the discretion log's exclusions on the screens' arrays, and the record's lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import exchina_index as xi
from exchina_index.construction.discretion import DISCRETION, apply_decisions
from exchina_index.construction.screens import final_reasons
from exchina_index.errors import InputError, UniverseError
from exchina_index.universe.discretion import DiscretionLog
from exchina_index.universe.screens import StaticScreens

TICKERS = pd.Index(["AAA", "BBB", "CCC", "DDD"])


def _log(*rows: tuple[str, str, str, str, str]) -> DiscretionLog:
    """A log from (date, kind, ticker, until, reason) rows; source S<k>, lines 4, 5, ..."""
    n = len(rows)
    col = list(zip(*rows)) if rows else [()] * 5
    return DiscretionLog(
        date=np.array(col[0], dtype="datetime64[ns]"),
        kind=np.array(col[1], dtype=object),
        ticker=np.array(col[2], dtype=object),
        until=np.array([u or "NaT" for u in col[3]], dtype="datetime64[ns]"),
        reason=np.array(col[4], dtype=object),
        decided_by=np.full(n, "committee", dtype=object),
        source=np.array([f"S{k}" for k in range(n)], dtype=object),
        line=np.arange(4, 4 + n),
    )


def _screens() -> tuple[np.ndarray, np.ndarray]:
    """BBB already screened out (size); the others eligible, CCC with a flag."""
    reason = np.array(["OK", "SIZE_BELOW_ENTRY", "FLAG_CN_STAKE", "OK"], dtype=object)
    return reason, reason != "SIZE_BELOW_ENTRY"


def test_an_exclusion_in_force_screens_an_eligible_name_out() -> None:
    log = _log(("2025-01-10", "exclude", "CCC", "", "takeover pending"))
    reason, eligible = _screens()
    r, ok, lines = apply_decisions(log, TICKERS, "2025-02-28", reason, eligible)
    assert r.tolist() == ["OK", "SIZE_BELOW_ENTRY", DISCRETION, "OK"]
    assert ok.tolist() == [True, False, False, True]
    assert lines == ("2025-01-10 exclude CCC: takeover pending (S0)",)
    # the inputs are left as they were (arrays in, new arrays out)
    assert reason.tolist() == ["OK", "SIZE_BELOW_ENTRY", "FLAG_CN_STAKE", "OK"] and eligible.tolist()[2]


def test_an_exclusion_overrides_a_mechanical_reason_so_no_fallback_can_readmit_the_name() -> None:
    log = _log(("2025-01-10", "exclude", "BBB", "", "suspended"))
    r, ok, lines = apply_decisions(log, TICKERS, "2025-02-28", *_screens())
    assert r.tolist() == ["OK", DISCRETION, "FLAG_CN_STAKE", "OK"] and ok.tolist() == [True, False, True, True]
    assert lines == ("2025-01-10 exclude BBB: suspended (S0)",)


@pytest.mark.parametrize(
    ("cutoff", "excluded"),
    [("2025-01-09", False), ("2025-01-10", True), ("2025-03-31", True), ("2025-04-01", False)],
)
def test_an_exclusion_applies_from_its_date_to_before_until(cutoff: str, excluded: bool) -> None:
    log = _log(("2025-01-10", "exclude", "AAA", "2025-04-01", "scheme pending"))
    r, ok, lines = apply_decisions(log, TICKERS, cutoff, *_screens())
    assert (r[0] == DISCRETION) is excluded and bool(ok[0]) is not excluded
    assert len(lines) == int(excluded)


def test_notes_change_nothing_but_are_listed_with_the_exclusions_in_date_order() -> None:
    log = _log(
        ("2024-12-01", "note", "", "", "the stake rule read as written"),
        ("2025-01-10", "exclude", "DDD", "", "takeover pending"),
        ("2025-02-01", "note", "AAA", "", "stays listed while the scheme is pending"),
        ("2025-06-01", "note", "AAA", "", "not yet in force"),
    )
    reason, eligible = _screens()
    r, ok, lines = apply_decisions(log, TICKERS, "2025-03-01", reason, eligible)
    assert r.tolist() == ["OK", "SIZE_BELOW_ENTRY", "FLAG_CN_STAKE", DISCRETION]
    assert ok.tolist() == [True, False, True, False]
    assert lines == (
        "2024-12-01 note: the stake rule read as written (S0)",
        "2025-01-10 exclude DDD: takeover pending (S1)",
        "2025-02-01 note AAA: stays listed while the scheme is pending (S2)",
    )


def test_an_empty_log_returns_equal_arrays_and_no_lines() -> None:
    reason, eligible = _screens()
    r, ok, lines = apply_decisions(_log(), TICKERS, "2025-03-01", reason, eligible)
    assert r.tolist() == reason.tolist() and ok.tolist() == eligible.tolist() and lines == ()


def test_an_exclusion_of_a_ticker_outside_the_review_is_an_error_naming_the_line() -> None:
    log = _log(("2025-01-10", "note", "AAA", "", "fine"), ("2025-01-11", "exclude", "ZZZ", "", "takeover"))
    with pytest.raises(UniverseError, match="'ZZZ'") as info:
        apply_decisions(log, TICKERS, "2025-03-01", *_screens())
    assert info.value.line == 5 and info.value.column == "ticker"


def test_arrays_of_the_wrong_length_are_an_input_error() -> None:
    with pytest.raises(InputError, match="one entry per ticker"):
        apply_decisions(_log(), TICKERS, "2025-03-01", np.array(["OK"], dtype=object), np.array([True]))


def _mechanical(u: xi.Universe, cutoff: str) -> tuple[np.ndarray, np.ndarray]:
    """The static screens' reasons and eligibility at ``cutoff``, before any decision of the log."""
    static = StaticScreens.build(u, xi.load_methodology()).at(pd.Timestamp(cutoff))
    return final_reasons(static.reason, None, static.flags)


def test_the_bundled_peak_exclusion_acts_on_the_static_screens_at_the_september_2025_cutoff() -> None:
    u = xi.load_universe()
    idx = u.frame.index
    pek = idx.get_loc("PEK.AX")
    reason, eligible = _mechanical(u, "2025-08-29")  # the September 2025 review's cut-off
    assert eligible[pek]  # Shenghe's 19.9 % is below the 25 % threshold: eligible on the rules
    r, ok, lines = apply_decisions(u.decisions, idx, "2025-08-29", reason, eligible)
    assert r[pek] == DISCRETION and not ok[pek]
    assert int((r == DISCRETION).sum()) == 1 and int(ok.sum()) == int(eligible.sum()) - 1
    assert [ln.split(":")[0] for ln in lines] == ["2025-08-18 exclude PEK.AX"]
    # a quarter later the decision has ended (until = the delisting) and the ASM note is not yet taken
    r2, _, lines2 = apply_decisions(u.decisions, idx, "2025-11-28", *_mechanical(u, "2025-11-28"))
    assert lines2 == () and r2[pek] == "DELISTED"


def test_a_review_applies_the_exclusion_and_records_the_decisions_in_force() -> None:
    u = xi.load_universe()
    res = xi.build_weights(u, xi.load_market_data(u, source="demo"), "2025-08-29")
    assert res.report.names.reason["PEK.AX"] == DISCRETION and res.weights["PEK.AX"] == 0
    assert [ln.split(":")[0] for ln in res.report.decisions] == ["2025-08-18 exclude PEK.AX"]
