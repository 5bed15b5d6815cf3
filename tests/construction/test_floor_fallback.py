"""The minimum number of constituents and its fallback (construction/governance.py), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.governance import entry_only_candidates, floor_fallback
from exchina_index.rules.methodology import load_methodology

M = load_methodology()  # floor 20; retention $75M market cap, $250k ADTV
TICKERS = pd.Index(["A", "B", "C", "D", "E"])


def _fallback(m, reason, eligible, mcap, adtv):
    return floor_fallback(m, TICKERS, eligible, entry_only_candidates(m, TICKERS, reason, mcap, adtv))


def _rulebook(floor: int, fallback: str = "relax_size"):
    return M.with_overrides({"governance": {"min_constituents": floor, "fallback": fallback}})


def test_relax_size_admits_entry_failures_above_retention_largest_first() -> None:
    reason = np.array(["OK", "SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY", "SIZE_BELOW_ENTRY", "CN_STAKE"], dtype=object)
    eligible = reason == "OK"
    mcap = np.array([900e6, 100e6, 140e6, 60e6, 500e6])  # D is below the $75M retention level
    adtv = np.array([5e6, 300e3, 400e3, 300e3, 2e6])
    admitted, lines = _fallback(_rulebook(3), reason, eligible, mcap, adtv)
    # one eligible, two more needed: C ($140M) before B ($100M); D fails retention, E a China screen
    assert admitted.tolist() == [False, True, True, False, False]
    assert lines == (
        "minimum constituents: 1 eligible, below the floor of 3",
        "fallback relax_size: 2 admitted at the retention thresholds (C, B)",
    )


def test_a_floor_still_not_met_is_said_and_hold_eligible_admits_nobody() -> None:
    reason = np.array(["OK", "OK", "ADTV_BELOW_ENTRY", "NO_DATA", "SIZE_BELOW_ENTRY"], dtype=object)
    eligible = reason == "OK"
    mcap = np.array([900e6, 800e6, 140e6, np.nan, 100e6])
    adtv = np.array([5e6, 5e6, 100e3, np.nan, 260e3])  # C's ADTV is below the $250k retention level
    admitted, lines = _fallback(_rulebook(5), reason, eligible, mcap, adtv)
    assert admitted.tolist() == [False, False, False, False, True]
    assert lines[-1] == "the index holds at most 3 names, below the floor of 5"
    admitted, lines = _fallback(_rulebook(5, "hold_eligible"), reason, eligible, mcap, adtv)
    assert not admitted.any() and lines[1] == "fallback hold_eligible: the eligible names are held"


def test_at_the_floor_nothing_is_admitted_or_recorded() -> None:
    reason = np.array(["OK", "OK", "SIZE_BELOW_ENTRY", "OK", "OK"], dtype=object)
    admitted, lines = _fallback(_rulebook(4), reason, reason == "OK", np.full(5, 1e9), np.full(5, 1e7))
    assert not admitted.any() and lines == ()


@pytest.mark.parametrize("floor", [0, 10_001])
def test_a_floor_out_of_range_is_a_rulebook_error(floor: int) -> None:
    from exchina_index.errors import MethodologyError

    with pytest.raises(MethodologyError, match="governance.min_constituents"):
        _rulebook(floor)


def _candidates(rows: dict[str, tuple[str, float, float]]) -> tuple[str, ...]:
    """``rows``: ticker -> (reason, market cap, ADTV); the candidates by ticker, in order."""
    tickers = pd.Index(list(rows))
    reason = np.array([v[0] for v in rows.values()], dtype=object)
    mcap = np.array([v[1] for v in rows.values()], dtype=float)
    adtv = np.array([v[2] for v in rows.values()], dtype=float)
    return tuple(tickers[entry_only_candidates(M, tickers, reason, mcap, adtv)])


def test_entry_only_candidates_pass_retention_and_are_ordered_by_market_cap() -> None:
    # entry $150M / $500k, retention $75M / $250k (the bundled rulebook)
    out = _candidates(
        {
            "HELD": ("OK", 5e9, 9e6),
            "SMALL_100M": ("SIZE_BELOW_ENTRY", 100e6, 1e6),
            "SMALL_140M": ("SIZE_BELOW_ENTRY", 140e6, 600e3),
            "AT_RETENTION": ("SIZE_BELOW_ENTRY", 75e6, 250e3),  # at the threshold: passes
            "BELOW_RETENTION": ("SIZE_BELOW_ENTRY", 75e6 - 1, 1e6),
            "THIN_BIG": ("ADTV_BELOW_ENTRY", 2e9, 300e3),
            "TOO_THIN": ("ADTV_BELOW_ENTRY", 2e9, 250e3 - 1),
            "SMALL_AND_TOO_THIN": ("SIZE_BELOW_ENTRY", 120e6, 200e3),  # ADTV below retention
            "CHINA": ("CN_DOMICILE", 9e9, 9e6),
            "SHORT": ("SHORT_HISTORY", 9e9, 9e6),
        }
    )
    assert out == ("THIN_BIG", "SMALL_140M", "SMALL_100M", "AT_RETENTION")


def test_a_skipped_screen_passes_a_missing_cap_sorts_last_and_ties_go_by_ticker() -> None:
    out = _candidates(
        {
            "B": ("SIZE_BELOW_ENTRY", 100e6, np.nan),  # prices-only data: the ADTV screen was skipped
            "A": ("SIZE_BELOW_ENTRY", 100e6, 1e6),
            "NO_CAP": ("ADTV_BELOW_ENTRY", np.nan, 300e3),  # the size screen was skipped
        }
    )
    assert out == ("A", "B", "NO_CAP")


def test_the_reserve_list_is_the_candidates_the_fallback_did_not_admit() -> None:
    # the demo's 2023-11-30 review: 11 eligible, the fallback admits the largest candidates up to
    # the floor of 20; whatever is left is the reserve, in the same order
    import exchina_index as xi

    universe = xi.load_universe()
    market = xi.load_market_data(universe, source="demo")
    rep = xi.build_weights(universe, market, "2023-11-30").report
    admitted = [t for t in rep.names.index if "admitted by the minimum-constituent fallback" in rep.names.detail[t]]
    assert admitted and all(rep.names.eligible[t] for t in admitted)
    assert not set(rep.reserve) & set(admitted)
    assert all(rep.names.reason[t] in ("SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY") for t in rep.reserve)
