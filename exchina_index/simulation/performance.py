"""Performance figures of a level series, computed one way for the backtest and every page."""

from __future__ import annotations

import pandas as pd

__all__ = ["years_between", "cagr"]


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
