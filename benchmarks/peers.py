"""The two reference implementations the engine is timed against, on the engine's conventions.

* :func:`bt_price_levels` runs the peer backtester `bt <https://pmorissette.github.io/bt/>`_
  (``pip install -e ".[bench]"``) on a price frame and a target-weight frame: a three-step strategy
  ``RunOnDate(review dates) → WeighTarget(weights) → Rebalance()`` with fractional positions and no
  commissions.
* :func:`naive_price_levels` is the textbook per-day loop with pandas Series operations.

Both implement the engine's price-return convention (``exchina_index.simulation.engine``): the index starts
at the close of the first review, a review trades at its close after that day's return is earned
with the old weights, and between reviews the weights drift with price::

    PR[t] = Σ_i w[t-1,i] r[t,i]        w[t,i] = w[t-1,i] (1 + r[t,i]) / (1 + PR[t])

Aligning bt with it needs nothing beyond the settings above: bt values the strategy at each close
and ``Rebalance`` trades at that same close's prices, so a bt strategy fully invested with
fractional positions and no commissions holds exactly the engine's drifted weights. bt prepends a
virtual row (the day before the first date, price 100) and its strategy price stays at 100 while
it holds cash, so its levels are rescaled to ``start_level`` at the first review close and the
rows before it are set to NaN, like the engine's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bt_backtest", "bt_price_levels", "naive_price_levels", "prices_from_returns"]


def prices_from_returns(returns: pd.DataFrame, base: float = 100.0) -> pd.DataFrame:
    """Price frame whose daily returns are ``returns`` (row 0's return is ignored: price = base)."""
    r = returns.to_numpy(dtype=np.float64, copy=True)
    r[0] = 0.0
    return pd.DataFrame(base * np.cumprod(1.0 + r, axis=0), index=returns.index, columns=returns.columns)


def bt_backtest(prices: pd.DataFrame, weights: pd.DataFrame, *, initial_capital: float = 1e9):
    """Build (not run) the bt backtest: rebalance to ``weights`` rows at their dates' closes.

    Zero weights are passed as NaN, which bt drops (it then closes any position not in the
    target): the cheapest way to tell bt that a name is not held.
    """
    import bt

    w = weights.where(weights > 0.0)
    strategy = bt.Strategy(
        "bt",
        [
            bt.algos.RunOnDate(*w.index),
            bt.algos.WeighTarget(w),
            bt.algos.Rebalance(),
        ],
    )
    return bt.Backtest(
        strategy, prices, initial_capital=initial_capital, commissions=None, integer_positions=False, progress_bar=False
    )


def bt_price_levels(test, start: pd.Timestamp, start_level: float = 1000.0) -> np.ndarray:
    """Price-return levels of a *run* bt backtest on the engine's scale and rows.

    Drops bt's virtual first row, rescales to ``start_level`` at ``start`` (the first review
    close) and sets the rows before it to NaN.
    """
    p = test.strategy.prices.iloc[1:]
    out = p.to_numpy(dtype=np.float64) * (start_level / float(p.loc[start]))
    out[p.index < start] = np.nan
    return out


def naive_price_levels(returns: pd.DataFrame, weights: pd.DataFrame, start_level: float = 1000.0) -> np.ndarray:
    """The engine's price-return levels with a plain per-day loop over pandas Series.

    ``weights`` rows are the targets, indexed by the dates whose close they take effect at.
    """
    targets = {d: weights.loc[d] for d in weights.index}
    first = weights.index[0]
    w = None
    level = np.nan
    out = np.full(len(returns), np.nan)
    for t, (date, r) in enumerate(returns.iterrows()):
        if w is not None:
            pr = (w * r).sum()
            w = w * (1.0 + r) / (1.0 + pr)
            level = level * (1.0 + pr)
        if date == first:
            level = start_level
        if date in targets:
            w = targets[date]
        out[t] = level
    return out
