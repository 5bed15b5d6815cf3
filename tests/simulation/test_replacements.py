"""Replacement of a deletion between reviews (rulebook ``governance.replace_deletions``).

A hand-built market of six listings at a constant $1: A, B, C, D ($1B each) are the index; R ($100M)
and S ($80M) fail only the $150M entry threshold and pass the $75M retention one, so they are the
reserve list, R first. Two sessions after the March 2024 review A rises 10 %; D is delisted (its
last close is five sessions after the review); two sessions later R rises 20 %.

By hand, with w the review's weights: before the deletion the index is 1000 (1 + 0.1 w_A); D's
drifted weight at its last close is w_D / (1 + 0.1 w_A). Replaced by R (the count, 3, is below the
floor of 4), that weight earns R's 20 %: the level becomes 1000 (1 + 0.1 w_A + 0.2 w_D). Without
replacement, D's proceeds go pro rata to A, B, C, which do not move: the level stays put.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _universe_helpers import make_universe

import exchina_index as xi
from exchina_index.data.market import MarketData
from exchina_index.universe.loading import Universe

TICKERS = ["A", "B", "C", "D", "R", "S"]
DATES = pd.bdate_range("2024-01-02", "2024-08-30")
IMPLEMENT = pd.Timestamp("2024-03-15")  # the March 2024 review (third Friday)
ROW = DATES.get_loc(IMPLEMENT)
A_UP, LAST_D, R_UP = DATES[ROW + 2], DATES[ROW + 5], DATES[ROW + 7]


def universe() -> Universe:
    frame = make_universe(
        {
            "A": {"domicile": "US", "hq": "US"},
            "B": {"domicile": "AU", "hq": "AU", "mining": 0.0, "refining": 1.0},
            "C": {"domicile": "CA", "hq": "CA", "mining": 0.0, "manufacturing": 1.0},
            "D": {"domicile": "JP", "hq": "JP", "mining": 0.4, "refining": 0.3, "manufacturing": 0.3},
            "R": {"domicile": "GB", "hq": "GB"},
            "S": {"domicile": "FR", "hq": "FR"},
        }
    )
    return Universe(frame=frame, links=xi.load_universe().links.iloc[:0])


def market(r_delisted: pd.Timestamp | None = None) -> MarketData:
    close = pd.DataFrame(1.0, index=DATES, columns=TICKERS)
    close.loc[A_UP:, "A"] = 1.1
    close.loc[R_UP:, "R"] = 1.2
    delisted = {"D": DATES[ROW + 6]}  # the first date D no longer trades
    if r_delisted is not None:
        delisted["R"] = r_delisted
    return MarketData(
        close=close,
        fx=pd.DataFrame({"USD": 1.0}, index=DATES),
        currency=pd.Series("USD", index=TICKERS),
        volume=pd.DataFrame(1e6, index=DATES, columns=TICKERS),
        shares=pd.DataFrame({"A": 1e9, "B": 1e9, "C": 1e9, "D": 1e9, "R": 100e6, "S": 80e6}, index=DATES[:1]),
        exchange=pd.Series("XNYS", index=TICKERS),
        delisted=pd.Series(delisted),
    )


def rulebook(**governance) -> xi.Methodology:
    return xi.load_methodology().with_overrides(
        {
            "size": {
                "market_cap_entry_usd": 150e6,
                "market_cap_retention_usd": 75e6,
                "adtv_entry_usd": 500e3,
                "adtv_retention_usd": 250e3,
                "min_history_sessions": 5,
                "adtv_window_sessions": 5,
            },
            "governance": {"min_constituents": 4, "replace_deletions": True} | governance,
        }
    )


def run(m: xi.Methodology, mk: MarketData | None = None, end: str = "2024-08-30"):
    return xi.backtest(universe(), market() if mk is None else mk, m, start="2024-03-01", end=end)


def test_the_replacement_takes_the_deleted_weight_at_its_last_close() -> None:
    bt = run(rulebook())
    w = bt.weights.iloc[0]
    assert bt.weights.index[0] == IMPLEMENT and w["D"] > 0 and w["R"] == 0
    weight_d = w["D"] / (1 + 0.1 * w["A"])  # D's weight drifted to its last close
    assert len(bt.replacements) == 1
    date, deleted, replacement, weight = bt.replacements[0]
    assert (date, deleted, replacement) == (LAST_D, "D", "R") and weight == pytest.approx(weight_d, abs=1e-12)
    assert (LAST_D, "D") in bt.delistings
    held = bt.drifted.loc[LAST_D]
    assert held["R"] == pytest.approx(weight_d, abs=1e-12) and held["D"] == 0.0
    assert held["A"] == pytest.approx(1.1 * w["A"] / (1 + 0.1 * w["A"]), abs=1e-12)  # the others keep theirs
    level = bt.levels["price_return"]
    before = 1000 * (1 + 0.1 * w["A"])
    assert level[A_UP:R_UP].iloc[:-1].to_numpy() == pytest.approx(before, abs=1e-9)  # flat across the deletion
    assert level[R_UP] == pytest.approx(1000 * (1 + 0.1 * w["A"] + 0.2 * w["D"]), abs=1e-9)
    # the replacement trade is no review: weights, turnover and costs stay one row per review
    assert list(bt.weights.index) == list(bt.reviews) == list(bt.turnover.index) == list(bt.costs.index)
    # at the next review R is an incumbent, held to the retention threshold it passes
    june = bt.reviews[pd.Timestamp("2024-06-21")]
    assert june.report.names.reason["R"] == "OK" and june.weights["R"] > 0


def test_without_replacement_the_proceeds_go_pro_rata() -> None:
    bt = run(rulebook(replace_deletions=False), end="2024-05-31")
    w = bt.weights.iloc[0]
    assert bt.replacements == () and bt.delistings == ((LAST_D, "D"),)
    held = bt.drifted.loc[LAST_D]
    rest = 1.1 * w["A"] + w["B"] + w["C"]  # A, B, C holdings at D's last close (each bought at $1)
    assert held["A"] == pytest.approx(1.1 * w["A"] / rest, abs=1e-12)
    assert held["B"] == pytest.approx(w["B"] / rest, abs=1e-12) and held["R"] == 0.0
    level = bt.levels["price_return"]
    assert level[A_UP:].to_numpy() == pytest.approx(1000 * (1 + 0.1 * w["A"]), abs=1e-9)  # R's rise is missed


def test_no_replacement_while_the_count_stays_at_the_floor() -> None:
    bt = run(rulebook(min_constituents=3), end="2024-05-31")  # 3 names left = the floor
    assert bt.replacements == ()
    assert bt.drifted.loc[LAST_D, "R"] == 0.0


def test_a_reserve_name_that_stopped_trading_is_skipped() -> None:
    bt = run(rulebook(), market(r_delisted=DATES[ROW + 3]), end="2024-05-31")  # R gone before D
    w = bt.weights.iloc[0]
    assert [(d, a, b) for d, a, b, _ in bt.replacements] == [(LAST_D, "D", "S")]
    assert bt.drifted.loc[LAST_D, "S"] == pytest.approx(w["D"] / (1 + 0.1 * w["A"]), abs=1e-12)
    assert np.isfinite(bt.levels["nav"]).all()


def test_a_market_without_the_implementation_session_is_a_data_error_naming_it() -> None:
    # the review trades at the close of its implementation date: a market that lacks it cannot
    # trade there (trading the session before would label the review with a day it did not trade)
    mk = market()
    kept = DATES[DATES != IMPLEMENT]
    gapped = MarketData(
        close=mk.close.loc[kept],
        fx=mk.fx.loc[kept],
        currency=mk.currency,
        volume=mk.volume.loc[kept],
        shares=mk.shares,
        exchange=mk.exchange,
        delisted=mk.delisted,
    )
    with pytest.raises(xi.DataError, match="review implemented on 2024-03-15 .* no date of the market data"):
        run(rulebook(), gapped)
