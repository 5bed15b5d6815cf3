"""The figures an index committee compares between rulebook variants, from one backtest.

One row per backtest (:func:`backtest_metrics`), the same for a sweep's table and a rule-change
impact, so two tools never disagree on what "turnover" or "capacity" means:

* returns of the **net total-return** index (the headline series): ``cagr``, ``volatility``,
  ``max_drawdown``; ``nav_cagr`` of the fund after costs and fees;
* ``tracking_difference``: the fund's annualised return minus the net index's (costs and fees);
* ``benchmark_cagr`` and ``active_return`` (``cagr`` − ``benchmark_cagr``) when a benchmark is given;
* ``turnover`` and ``costs``: one-way turnover and trading cost of the reviews a year (sum over the
  reviews / calendar years of the levels);
* ``capacity_usd``: the smallest capacity of the reviews' weights, a review's being the largest AUM
  at which every name it holds trades within the rulebook's ``liquidity.days_to_trade`` at its
  ``participation`` of ADTV (AUM × days / the longest days-to-trade at the review's AUM);
  ``capacity_last_usd`` the last review's; ``rulebook_capacity_usd`` the smallest AUM at which a
  review's constraints held without relaxation (0 when a review needed the ladder at any AUM);
* ``weighted_purity``, ``stage_deviation``: means over the reviews of Σ w·purity and of the largest
  stage deviation from target; ``stage_deviation_max`` the worst review;
* ``names_held``: mean number of constituents at the reviews;
* ``relaxed_reviews``: reviews that needed the relaxation ladder, ``relaxation_steps`` their steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.simulation.performance import benchmark_level, cagr, max_drawdown, volatility, years_between

__all__ = ["METRIC_COLUMNS", "backtest_metrics", "review_capacity"]

#: The columns of :func:`backtest_metrics`, in order.
METRIC_COLUMNS: tuple[str, ...] = (
    "start",
    "end",
    "reviews",
    "cagr",
    "volatility",
    "max_drawdown",
    "nav_cagr",
    "tracking_difference",
    "benchmark_cagr",
    "active_return",
    "turnover",
    "costs",
    "capacity_usd",
    "capacity_last_usd",
    "rulebook_capacity_usd",
    "weighted_purity",
    "stage_deviation",
    "stage_deviation_max",
    "names_held",
    "relaxed_reviews",
    "relaxation_steps",
)


def backtest_metrics(result: Any, benchmark_returns: pd.Series | None = None) -> dict[str, Any]:
    """The committee's figures of one backtest (:data:`METRIC_COLUMNS`, defined in the module docstring).

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    benchmark_returns
        Daily benchmark returns on the result's dates (e.g.
        :func:`~exchina_index.simulation.benchmark.universe_cap_weighted_returns`), or ``None``.

    Returns
    -------
    dict
        Dates as ISO strings, counts as ints, everything else as floats (NaN where undefined).
    """
    levels = result.levels
    ntr = levels["net_total_return"]
    years = years_between(levels.index)
    reports = [wr.report for wr in result.reviews.values()]
    purity = np.array([[r.purity.get("weighted"), r.purity.get("stage_deviation")] for r in reports], dtype=float)
    capacity = np.array([review_capacity(r, result.methodology.liquidity.days_to_trade) for r in reports], dtype=float)
    rulebook_capacity = np.array([r.capacity_aum for r in reports], dtype=float)
    row: dict[str, Any] = {
        "start": levels.index[0].date().isoformat(),
        "end": levels.index[-1].date().isoformat(),
        "reviews": len(reports),
        "cagr": cagr(ntr),
        "volatility": volatility(ntr),
        "max_drawdown": max_drawdown(ntr),
        "nav_cagr": cagr(levels["nav"]),
        "tracking_difference": float(result.tracking_difference),
        "benchmark_cagr": math.nan,
        "active_return": math.nan,
        "turnover": float(result.turnover.sum()) / years if years > 0 else math.nan,
        "costs": float(result.costs.sum()) / years if years > 0 else math.nan,
        "capacity_usd": float(np.min(capacity)) if len(capacity) else math.nan,
        "capacity_last_usd": float(capacity[-1]) if len(capacity) else math.nan,
        "rulebook_capacity_usd": float(np.min(rulebook_capacity)) if len(capacity) else math.nan,
        "weighted_purity": float(np.mean(purity[:, 0])) if len(purity) else math.nan,
        "stage_deviation": float(np.mean(purity[:, 1])) if len(purity) else math.nan,
        "stage_deviation_max": float(np.max(purity[:, 1])) if len(purity) else math.nan,
        "names_held": float(np.mean([(wr.weights > 0).sum() for wr in result.reviews.values()])),
        "relaxed_reviews": sum(1 for r in reports if r.relaxations),
        "relaxation_steps": sum(len(r.relaxations) for r in reports),
    }
    if benchmark_returns is not None:
        row["benchmark_cagr"] = cagr(benchmark_level(benchmark_returns, levels.index))
        row["active_return"] = row["cagr"] - row["benchmark_cagr"]
    return row


def review_capacity(report: Any, days_limit: float) -> float:
    """The largest AUM at which every name a review holds trades within ``days_limit`` days at the
    rulebook's participation: the review's AUM × days / the longest days-to-trade of a name held
    (NaN without ADTV, inf when nothing needs a day).

    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> names = SimpleNamespace(weight=pd.Series([0.6, 0.4, 0.0]), days_to_trade=pd.Series([1.5, 0.5, 9.0]))
    >>> review_capacity(SimpleNamespace(names=names, aum=100e6), 3)  # 100M x 3 / 1.5 days
    200000000.0
    """
    days = report.names.days_to_trade[report.names.weight.to_numpy() > 0].to_numpy(dtype=float)
    days = days[np.isfinite(days)]
    if not len(days):
        return math.nan
    longest = float(days.max())
    return math.inf if longest == 0 else report.aum * days_limit / longest
