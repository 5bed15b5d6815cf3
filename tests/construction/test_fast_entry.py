"""Fast entry of large new listings: a newcomer at >= 3 x the entry market cap with an entry ADTV
passes the history screen after 10 sessions instead of 63 (rulebook ``[governance]``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.construction.market_screens import (
    fast_entry_detail,
    market_screen,
    panel_fast_entries,
    panel_reasons,
    size_screen,
)
from exchina_index.data.features import feature_panel
from exchina_index.data.market import MarketData
from exchina_index.rules.methodology import load_methodology

# Written out by hand so that a change of the bundled rulebook cannot move the expected values.
M = load_methodology().with_overrides(
    {
        "size": {
            "market_cap_entry_usd": 150e6,
            "market_cap_retention_usd": 75e6,
            "adtv_entry_usd": 500e3,
            "adtv_retention_usd": 250e3,
            "adtv_window_sessions": 63,
            "min_history_sessions": 63,
            "stale_sessions": 10,
        },
        "governance": {"fast_entry_multiple": 3.0, "fast_entry_min_sessions": 10},
    }
)
NaN = float("nan")


def run(rows: dict[str, tuple[float, float, float, float]], previous=None, **kw) -> pd.DataFrame:
    """``rows``: ticker -> (market cap, ADTV, sessions of prices, stale sessions)."""
    cap, adtv, hist, stale = (pd.Series({t: v[i] for t, v in rows.items()}, dtype=float) for i in range(4))
    return size_screen(cap, adtv, hist, stale, previous, **({"size": M} | kw))


def test_a_large_listing_enters_after_ten_sessions() -> None:
    out = run(
        {
            "IPO_4X": (600e6, 1e6, 20, 0),  # 4 x $150M, 20 sessions: fast entry
            "IPO_2X": (300e6, 1e6, 20, 0),  # 2 x entry: must wait for 63 sessions
            "IPO_9D": (600e6, 1e6, 9, 0),  # 4 x entry but only 9 sessions
            "AT_3X_10D": (450e6, 500e3, 10, 0),  # exactly 3 x entry, entry ADTV, 10 sessions: passes
            "BELOW_3X": (450e6 - 1, 1e6, 10, 0),
            "THIN": (600e6, 500e3 - 1, 20, 0),  # ADTV below entry: no fast entry
            "STALE": (600e6, 1e6, 20, 10),  # the other screens still apply
            "OLD": (600e6, 1e6, 63, 0),  # the ordinary rule: no fast entry needed
        }
    )
    assert out["reason"].to_dict() == {
        "IPO_4X": "OK",
        "IPO_2X": "SHORT_HISTORY",
        "IPO_9D": "SHORT_HISTORY",
        "AT_3X_10D": "OK",
        "BELOW_3X": "SHORT_HISTORY",
        "THIN": "SHORT_HISTORY",
        "STALE": "STALE_PRICE",
        "OLD": "OK",
    }
    assert out.loc["IPO_4X", "detail"] == "fast entry: market cap $600M >= 3 x entry"
    assert out.loc["AT_3X_10D", "detail"] == "fast entry: market cap $450M >= 3 x entry"
    assert out.loc["OLD", "detail"] == ""
    assert out.loc["IPO_2X", "detail"] == "20 sessions of prices < 63 required"


def test_incumbents_and_missing_figures_do_not_enter_fast() -> None:
    rows = {"INC": (600e6, 1e6, 20, 0), "NO_ADTV": (600e6, NaN, 20, 0)}
    out = run(rows, previous={"INC"}, skip_adtv=True)
    # an incumbent is not a new listing; an ADTV the data lacks cannot show entry liquidity
    assert out["reason"].to_dict() == {"INC": "SHORT_HISTORY", "NO_ADTV": "SHORT_HISTORY"}


def test_the_rulebook_sets_the_multiple_and_the_sessions() -> None:
    row = {"IPO": (600e6, 1e6, 12, 0)}
    strict = M.with_overrides({"governance": {"fast_entry_multiple": 5.0}})
    late = M.with_overrides({"governance": {"fast_entry_min_sessions": 15}})
    assert run(row)["reason"].iloc[0] == "OK"
    assert run(row, size=strict)["reason"].iloc[0] == "SHORT_HISTORY"  # 600M < 5 x 150M
    assert run(row, size=late)["reason"].iloc[0] == "SHORT_HISTORY"  # 12 < 15 sessions
    assert run(row, size=M.size)["reason"].iloc[0] == "SHORT_HISTORY"  # no governance: no fast entry
    assert run(row, size=M.size, governance=M.governance)["reason"].iloc[0] == "OK"
    assert fast_entry_detail(750e6, strict.governance) == "fast entry: market cap $750M >= 5 x entry"


# --------------------------------------------------------------------------- on a MarketData

DATES = pd.bdate_range("2025-01-06", periods=30)


def ipo_market() -> MarketData:
    """OLD trades all 30 days ($50 x 8M shares = $400M, under 3 x entry); IPO lists on day 10
    (20 sessions by day 29) at $20 x 30M shares = $600M (4 x entry) trading 100k shares ($2M) a
    day; SMALL_IPO the same at $10 ($300M, 2 x)."""
    new = [NaN] * 10 + [20.0] * 20
    close = pd.DataFrame(
        {"OLD": np.full(30, 50.0), "IPO": new, "SMALL_IPO": [v / 2 for v in new]},
        index=DATES,
    )
    volume = pd.DataFrame({"OLD": 100_000.0, "IPO": 100_000.0, "SMALL_IPO": 100_000.0}, index=DATES)
    shares = pd.DataFrame({"OLD": 8e6, "IPO": 30e6, "SMALL_IPO": 30e6}, index=DATES[:1])
    return MarketData(
        close=close,
        fx=pd.DataFrame({"USD": 1.0}, index=DATES),
        currency=pd.Series("USD", index=close.columns),
        volume=volume,
        shares=shares,
        exchange=pd.Series("XNYS", index=close.columns),
    )


def test_market_screen_and_the_names_that_entered_fast() -> None:
    market = ipo_market()
    out = market_screen(market, DATES[-1], M)
    assert out.loc["IPO", "history_sessions"] == 20 and out.loc["IPO", "market_cap_usd"] == 600e6
    # OLD has 30 sessions (< 63) and a $400M cap (< 3 x 150M): it waits like any newcomer
    assert out["reason"].to_dict() == {"OLD": "SHORT_HISTORY", "IPO": "OK", "SMALL_IPO": "SHORT_HISTORY"}
    panel = feature_panel(market, [DATES[-1]], window=63)
    cols = np.arange(3)
    reason, _, _ = panel_reasons(panel, 0, cols, np.zeros(3, dtype=bool), M)
    fast = panel_fast_entries(panel, 0, cols, np.zeros(3, dtype=bool), M, reason)
    assert dict(zip(panel.tickers, fast.tolist(), strict=True)) == {"OLD": False, "IPO": True, "SMALL_IPO": False}
    # nine sessions after the listing (day 18): not yet
    assert market_screen(market, DATES[18], M).loc["IPO", "reason"] == "SHORT_HISTORY"
    assert market_screen(market, DATES[19], M).loc["IPO", "reason"] == "OK"
