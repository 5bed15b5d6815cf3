"""The minimum number of constituents and its fallback (construction/governance.py), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from exchina_index.construction.governance import floor_fallback
from exchina_index.rules.methodology import load_methodology

M = load_methodology()  # floor 20; retention $75M market cap, $250k ADTV
TICKERS = pd.Index(["A", "B", "C", "D", "E"])


def _rulebook(floor: int, fallback: str = "relax_size"):
    return M.with_overrides({"governance": {"min_constituents": floor, "fallback": fallback}})


def test_relax_size_admits_entry_failures_above_retention_largest_first() -> None:
    reason = np.array(["OK", "SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY", "SIZE_BELOW_ENTRY", "CN_STAKE"], dtype=object)
    eligible = reason == "OK"
    mcap = np.array([900e6, 100e6, 140e6, 60e6, 500e6])  # D is below the $75M retention level
    adtv = np.array([5e6, 300e3, 400e3, 300e3, 2e6])
    admitted, lines = floor_fallback(_rulebook(3), TICKERS, reason, eligible, mcap, adtv)
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
    admitted, lines = floor_fallback(_rulebook(5), TICKERS, reason, eligible, mcap, adtv)
    assert admitted.tolist() == [False, False, False, False, True]
    assert lines[-1] == "the index holds at most 3 names, below the floor of 5"
    admitted, lines = floor_fallback(_rulebook(5, "hold_eligible"), TICKERS, reason, eligible, mcap, adtv)
    assert not admitted.any() and lines[1] == "fallback hold_eligible: the eligible names are held"


def test_at_the_floor_nothing_is_admitted_or_recorded() -> None:
    reason = np.array(["OK", "OK", "SIZE_BELOW_ENTRY", "OK", "OK"], dtype=object)
    admitted, lines = floor_fallback(_rulebook(4), TICKERS, reason, reason == "OK", np.full(5, 1e9), np.full(5, 1e7))
    assert not admitted.any() and lines == ()


@pytest.mark.parametrize("floor", [0, 10_001])
def test_a_floor_out_of_range_is_a_rulebook_error(floor: int) -> None:
    from exchina_index.errors import MethodologyError

    with pytest.raises(MethodologyError, match="governance.min_constituents"):
        _rulebook(floor)
