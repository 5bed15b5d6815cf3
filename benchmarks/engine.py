"""Cases 2 and 3: the daily engine vs bt and a naive pandas loop, and vs the hardware floor.

Inputs, built once per universe size from the scaled case's market (about 20 years of daily
rows from the first review's implementation date):

* ``r``: the USD daily price returns of every listing with NaN (no price: before listing, after
  delisting) set to 0, so that every engine sees the same complete matrix; bt gets the prices
  ``100 · cumprod(1 + r)``, the naive loop and our engine get ``r`` itself (a C-ordered array);
* targets: at every review's implementation date, float-cap weights over every listing alive that
  day, capped at 8 % (iterative capping). Every alive listing is held: the engine's worst case
  (it only touches held columns).

Our engine runs price-only (``dividend_yield=None``): bt and the naive loop get no dividends
either, and a matrix of zero dividends would only add a read of T x N zeros.

Checked first: bt's and the naive loop's price-return levels equal ours to 1e-9 (relative, every
row from the first review on). Then timed: ours (``run_index``), ours on the full inputs and the
floor in alternation (best of 10 rounds, each round calls all three, so the floor ratio compares
numbers from the same phases of the machine), bt (one run:
``Backtest(...)`` + ``.run()``, which also computes bt's summary statistics), the naive loop.

Also timed (not compared with bt): ours on the *full* inputs, built the way ``backtester.backtest``
builds them (same frames, same ``to_numpy()`` layout) - NaN returns outside listing lives with the
alive mask (delistings sold at the last close), dividends (TR and NTR), withholding, trading costs
and the expense ratio (NAV).

Hardware floor: ``np.sum`` over the T x N float64 return matrix (one read of it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.peers import bt_backtest, bt_price_levels, naive_price_levels, prices_from_returns
from benchmarks.timing import measure_interleaved
from benchmarks.universes import ScaledCase, capped_cap_weights

__all__ = ["EngineInputs", "engine_inputs", "engine_case", "TOL"]

#: Largest relative difference of levels accepted between the engines.
TOL = 1e-9


@dataclass(eq=False)
class EngineInputs:
    dates: pd.DatetimeIndex
    tickers: pd.Index
    r: np.ndarray  # (T, N) price returns, NaN -> 0
    rebalance_index: np.ndarray  # (K,)
    targets: np.ndarray  # (K, N)
    full: dict[str, Any]  # run_index keyword arguments as backtester.backtest builds them

    def simple_kwargs(self) -> dict[str, Any]:
        """A price-only run (``dividend_yield=None``), as bt and the naive loop get prices only."""
        T, N = self.r.shape
        K = len(self.rebalance_index)
        return dict(
            price_return=self.r,
            dividend_yield=None,
            withholding=np.zeros(N),
            alive=np.ones((T, N), dtype=bool),
            rebalance_index=self.rebalance_index,
            target_weights=self.targets,
            cost_rate=np.zeros((K, N)),
            expense_ratio=0.0,
            day_count=np.ones(T),
        )


def engine_inputs(case: ScaledCase) -> EngineInputs:
    """The engine arrays for the case (see the module docstring)."""
    from exchina_index.simulation.backtest import withholding_rates
    from exchina_index.simulation.costs import one_way_cost_rate

    m, market = case.methodology, case.market
    f = case.universe.frame
    dates = market.close.index
    first = case.schedule["implement"].iloc[0]
    window = dates[dates >= first]
    price = market.returns("price").reindex(index=window, columns=f.index)
    total = market.returns("total").reindex(index=window, columns=f.index)
    alive = market.alive().reindex(index=window, columns=f.index, fill_value=False).to_numpy(bool)
    mcap = market.market_cap_usd().reindex(index=window, columns=f.index).to_numpy()
    adtv_full = market.traded_value_usd().reindex(index=window, columns=f.index)
    reb = window.get_indexer(case.schedule["implement"])
    reb = reb[reb >= 0]
    targets = np.vstack([capped_cap_weights(mcap[t], alive[t]) for t in reb])
    adtv = adtv_full.rolling(63, min_periods=1).mean().to_numpy()
    rates = np.vstack(
        [one_way_cost_rate(pd.Series(adtv[t], index=f.index), m.costs).reindex(f.index).to_numpy() for t in reb]
    )
    rates = np.nan_to_num(rates, nan=float(np.nanmax(rates)))
    days = np.diff(window.to_numpy()).astype("timedelta64[D]").astype(np.int64)
    full = dict(
        price_return=price.to_numpy(),
        dividend_yield=(total - price).fillna(0.0).to_numpy(),
        withholding=withholding_rates(m.withholding, f["domicile"], window),
        alive=alive,
        rebalance_index=reb,
        target_weights=targets,
        cost_rate=rates,
        expense_ratio=m.fees.expense_ratio,
        day_count=np.concatenate([[0], days]),
    )
    # C order (row-major), numpy's default; the full inputs keep the layout backtester.py passes
    # (DataFrame.to_numpy() of a reindexed frame is column-major), copy included.
    r = np.ascontiguousarray(np.nan_to_num(price.to_numpy(), nan=0.0))
    return EngineInputs(dates=window, tickers=f.index, r=r, rebalance_index=reb, targets=targets, full=full)


def _max_rel_diff(ours: np.ndarray, other: np.ndarray) -> float:
    if not np.array_equal(np.isnan(ours), np.isnan(other)):
        return float("inf")
    ok = ~np.isnan(ours)
    return float(np.max(np.abs(other[ok] / ours[ok] - 1.0)))


def engine_case(
    case: ScaledCase, *, run_bt: bool = True, run_naive: bool = True, ours_repeat: int = 10
) -> dict[str, Any]:
    """Check agreement, then time ours, bt, the naive loop and the floor (see module docstring)."""
    from exchina_index.simulation.engine import run_index

    inp = engine_inputs(case)
    T, N = inp.r.shape
    kw = inp.simple_kwargs()
    dates, cols = inp.dates, inp.tickers
    W = pd.DataFrame(inp.targets, index=dates[inp.rebalance_index], columns=cols)
    R = pd.DataFrame(inp.r, index=dates, columns=cols)
    start = dates[inp.rebalance_index[0]]
    ours_levels = run_index(**kw).price_return_level
    out: dict[str, Any] = {
        "n": case.n,
        "rows": T,
        "reviews": len(inp.rebalance_index),
        "held_per_review_median": float(np.median((inp.targets > 0).sum(axis=1))),
    }

    timed = measure_interleaved(
        {"ours": lambda: run_index(**kw), "full": lambda: run_index(**inp.full), "floor": lambda: np.sum(inp.r)},
        rounds=ours_repeat,
    )
    ours, full, floor = timed["ours"], timed["full"], timed["floor"]
    out.update(
        ours_s=ours.best,
        ours_median_s=ours.median,
        ours_full_s=full.best,
        floor_s=floor.best,
        floor_ratio=ours.best / floor.best,
        floor_ratio_full=full.best / floor.best,
    )
    out["target_floor_le_10x"] = out["floor_ratio"] <= 10.0

    if run_naive:
        t = time.perf_counter()
        naive_levels = naive_price_levels(R, W)
        out["naive_s"] = time.perf_counter() - t
        out["naive_max_rel_diff"] = _max_rel_diff(ours_levels, naive_levels)
        out["naive_agrees"] = out["naive_max_rel_diff"] <= TOL
        out["ratio_naive_over_ours"] = out["naive_s"] / ours.best
    if run_bt:
        prices = prices_from_returns(R)
        t = time.perf_counter()
        test = bt_backtest(prices, W)
        test.run()
        out["bt_s"] = time.perf_counter() - t
        out["bt_max_rel_diff"] = _max_rel_diff(ours_levels, bt_price_levels(test, start))
        out["bt_agrees"] = out["bt_max_rel_diff"] <= TOL
        out["ratio_bt_over_ours"] = out["bt_s"] / ours.best
        out["target_bt_ge_200x"] = out["ratio_bt_over_ours"] >= 200.0
    return out
