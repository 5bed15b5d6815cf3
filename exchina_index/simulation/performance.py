"""Performance figures of a level series, computed one way for the backtest and every page."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["PERIODS_PER_YEAR", "years_between", "cagr", "volatility", "max_drawdown"]

#: Trading sessions a year (annualised volatility, quantstats).
PERIODS_PER_YEAR = 252


def years_between(index: pd.DatetimeIndex) -> float:
    """Calendar years from the first to the last date (days / 365.25)."""
    return (index[-1] - index[0]).days / 365.25


def cagr(level: pd.Series) -> float:
    """Compound annual growth rate of a level series over its own dates; NaN over less than a day.

    >>> import pandas as pd
    >>> round(cagr(pd.Series([100.0, 121.0], index=pd.to_datetime(["2020-01-01", "2021-12-31"]))), 4)
    0.1001
    """
    years = years_between(level.index)
    if years <= 0:
        return float("nan")
    return float((level.iloc[-1] / level.iloc[0]) ** (1.0 / years) - 1.0)


def volatility(level: pd.Series) -> float:
    """Annualised volatility of the daily returns of a level series (sample standard deviation ×
    √252); NaN with fewer than two returns.

    >>> import pandas as pd
    >>> round(volatility(pd.Series([100.0, 101.0, 100.0])) / (252 ** 0.5), 6)  # std of (+1 %, -0.990099 %)
    0.014072
    """
    r = level.pct_change(fill_method=None).iloc[1:]
    return float(r.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if len(r) > 1 else float("nan")


def max_drawdown(level: pd.Series) -> float:
    """The largest fall from a running peak, as a negative fraction (0 when the series never falls).

    >>> import pandas as pd
    >>> max_drawdown(pd.Series([100.0, 120.0, 90.0, 130.0]))
    -0.25
    """
    return float((level / level.cummax() - 1.0).min())
