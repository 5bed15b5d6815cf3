"""The summary of a backtest a user reads first: on the terminal, in ``--json`` and in the manifest.

:func:`backtest_summary` gathers, once, the figures ``exchina-index backtest`` prints after a run:
the period, the reviews and how many needed the relaxation ladder, each series' last level,
CAGR, volatility and maximum drawdown (price, total and net total return, the fund's NAV, the
benchmark, and the net total-return index in every currency the spec asks for), the tracking
difference and the active return. The committee figures (turnover, costs, capacity) are those of
:func:`~exchina_index.research.metrics.backtest_metrics`, so the terminal, a sweep and a rule-change
impact never disagree. The manifest records the same dictionary under ``"summary"``.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from exchina_index.research.metrics import backtest_metrics
from exchina_index.simulation.performance import benchmark_level, cagr, max_drawdown, volatility, years_between

__all__ = ["SERIES_LABELS", "backtest_summary"]

#: The level series of a backtest, as they are labelled on the terminal.
SERIES_LABELS: dict[str, str] = {
    "price_return": "price return",
    "total_return": "total return",
    "net_total_return": "net total return",
    "nav": "fund NAV (after costs and fees)",
}


def _figures(level: pd.Series) -> dict[str, float]:
    return {
        "level": float(level.iloc[-1]),
        "cagr": cagr(level),
        "volatility": volatility(level),
        "max_drawdown": max_drawdown(level),
    }


def backtest_summary(
    result: Any,
    benchmark_returns: pd.Series | None = None,
    *,
    benchmark_name: str | None = None,
    currency_levels: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The figures of one backtest, JSON-ready (floats, ints, strings; ``None`` where undefined).

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    benchmark_returns
        The benchmark's daily returns (or ``None``); compounded from the index's first date.
    benchmark_name
        Its label (default: the Series' name).
    currency_levels
        The net total-return index in other currencies, one column per ISO code
        (:func:`~exchina_index.simulation.currency.currency_levels`), or ``None``.

    Returns
    -------
    dict
        ``period`` (start, end, years), ``reviews``, ``relaxed_reviews``, ``series`` (label → level,
        cagr, volatility, max_drawdown; the benchmark's under ``"benchmark"``), ``currencies``
        (per currency, in the order given: ``currency`` and the same figures of the net
        total-return level in it),
        ``tracking_difference``, ``active_return``, ``turnover``, ``costs``, ``capacity_usd``,
        ``synthetic``.
    """
    levels = result.levels
    metrics = backtest_metrics(result, benchmark_returns)
    series = {key: {"label": label, **_figures(levels[key])} for key, label in SERIES_LABELS.items()}
    if benchmark_returns is not None:
        bench = benchmark_level(benchmark_returns, levels.index)
        name = benchmark_name or benchmark_returns.name or "unnamed"  # a ticker benchmark's name is its ticker
        series["benchmark"] = {"label": f"benchmark: {name}", **_figures(bench)}
    currencies = []  # a list: the spec's order survives the manifest's sorted keys
    if currency_levels is not None:
        currencies = [{"currency": str(c), **_figures(currency_levels[c].dropna())} for c in currency_levels.columns]
    return _finite(
        {
            "period": {
                "start": metrics["start"],
                "end": metrics["end"],
                "years": round(years_between(levels.index), 2),
            },
            "reviews": metrics["reviews"],
            "relaxed_reviews": metrics["relaxed_reviews"],
            "series": series,
            "currencies": currencies,
            "tracking_difference": metrics["tracking_difference"],
            "active_return": metrics["active_return"],
            "turnover": metrics["turnover"],
            "costs": metrics["costs"],
            "capacity_usd": metrics["capacity_usd"],
            "synthetic": bool(result.synthetic),
        }
    )


def _finite(obj: Any) -> Any:
    """NaN and infinities as ``None`` (JSON has neither; the terminal prints a dash)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
