"""The size and liquidity screens on prices-only inputs: what is skipped, and what still fails."""

from __future__ import annotations

import numpy as np

from exchina_index.construction.market_screens import size_reasons
from exchina_index.rules.methodology import load_methodology

SIZE = load_methodology().size
NAN = np.nan
# A: no cap, no ADTV; B: a cap below the $150M entry, no ADTV; C: no cap, ADTV below $500k;
# D: no history at all (not priced); E: big and liquid
CAP = np.array([NAN, 100e6, NAN, NAN, 1e9])
ADTV = np.array([NAN, NAN, 100e3, NAN, 5e6])
HIST = np.array([500.0, 500.0, 500.0, 0.0, 500.0])
STALE = np.array([0.0, 0.0, 0.0, NAN, 0.0])
NEW = np.zeros(5, dtype=bool)


def test_without_skips_missing_figures_are_no_data() -> None:
    reason, _ = size_reasons(CAP, ADTV, HIST, STALE, NEW, SIZE)
    assert reason.tolist() == ["NO_DATA", "NO_DATA", "NO_DATA", "NO_DATA", "OK"]


def test_skipped_adtv_lets_a_missing_adtv_pass_but_not_a_missing_cap() -> None:
    reason, _ = size_reasons(CAP, ADTV, HIST, STALE, NEW, SIZE, skip_adtv=True)
    assert reason.tolist() == ["NO_DATA", "SIZE_BELOW_ENTRY", "NO_DATA", "NO_DATA", "OK"]


def test_skipped_size_is_per_listing_and_a_known_figure_still_counts() -> None:
    skip = np.array([True, False, True, True, False])
    reason, _ = size_reasons(CAP, ADTV, HIST, STALE, NEW, SIZE, skip_size=skip, skip_adtv=True)
    # C's ADTV is known and below the threshold: the liquidity screen still applies to it;
    # D has no price at all: nothing to skip to
    assert reason.tolist() == ["OK", "SIZE_BELOW_ENTRY", "ADTV_BELOW_ENTRY", "NO_DATA", "OK"]
    incumbent = np.array([False, True, False, False, False])
    reason, _ = size_reasons(CAP, ADTV, HIST, STALE, incumbent, SIZE, skip_size=skip, skip_adtv=True)
    assert reason[1] == "OK"  # $100M >= the $75M retention threshold


def test_the_detail_of_a_passing_name_says_which_screens_were_skipped() -> None:
    import pandas as pd

    from exchina_index.construction.market_screens import ADTV_SKIPPED, SIZE_SKIPPED, size_screen

    idx = pd.Index(list("ABCDE"))
    skip = pd.Series([True, False, True, True, False], index=idx)
    out = size_screen(
        *(pd.Series(a, index=idx) for a in (CAP, ADTV, HIST, STALE)), size=SIZE, skip_size=skip, skip_adtv=True
    )
    assert out.loc["A", "detail"] == f"{SIZE_SKIPPED}; {ADTV_SKIPPED}"  # no cap and no ADTV: both skipped
    assert out.loc["E", "detail"] == ""  # cap and ADTV known: both screens ran
    assert out.loc["B", "detail"].startswith("market cap")  # a failure keeps its own explanation
