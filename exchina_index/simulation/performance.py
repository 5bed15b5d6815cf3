"""Performance figures of a level series, computed one way for the backtest and every page."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from exchina_index.errors import InputError

__all__ = [
    "benchmark_level",
    "PERIODS_PER_YEAR",
    "years_between",
    "cagr",
    "volatility",
    "max_drawdown",
    "calendar_year_returns",
    "period_returns",
]

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


def calendar_year_returns(level: pd.Series) -> pd.Series:
    """The return of each calendar year of a level series, indexed by year.

    A year's return is its last level over the previous year's last level, minus one. The first
    year runs from the first level (a partial year when the series starts after 1 January) and the
    last year to the last level (year to date); empty with fewer than two levels.

    Parameters
    ----------
    level
        Levels by date (sorted, positive).

    Returns
    -------
    pandas.Series
        Float returns indexed by the calendar year (``int``), oldest first.

    >>> import pandas as pd
    >>> lv = pd.Series([100.0, 110.0, 99.0, 108.9],
    ...                index=pd.to_datetime(["2020-06-30", "2020-12-31", "2021-12-31", "2022-03-31"]))
    >>> calendar_year_returns(lv).round(4).to_dict()
    {2020: 0.1, 2021: -0.1, 2022: 0.1}
    """
    if len(level) < 2:
        return pd.Series(dtype="float64", index=pd.Index([], dtype="int64", name="year"), name="return")
    index = pd.DatetimeIndex(level.index)
    year_end = pd.Series(level.to_numpy(dtype="float64"), index=index).groupby(index.year).last()
    previous = year_end.shift(1)
    previous.iloc[0] = float(level.iloc[0])  # the first year starts from the first level
    out = (year_end / previous - 1.0).astype("float64")
    out.index = pd.Index(year_end.index.astype("int64"), name="year")
    return out.rename("return")


def period_returns(level: pd.Series, years: Sequence[int]) -> pd.Series:
    """Trailing returns over whole numbers of years to the last date, annualised, indexed by ``years``.

    The window of ``y`` years starts on the same calendar date ``y`` years before the last date;
    its base is the last level on or before that date. The return is annualised over the nominal
    ``y`` years, ``(last / base) ** (1 / y) - 1`` (so the 1-year figure is the cumulative return);
    NaN when the series starts after the window's start (too short a history).

    Parameters
    ----------
    level
        Levels by date (sorted, positive).
    years
        Window lengths in years, each a positive integer.

    Returns
    -------
    pandas.Series
        The annualised return of each window, indexed by its length in years.

    Raises
    ------
    InputError
        A window length is not a positive integer.

    >>> import pandas as pd
    >>> lv = pd.Series([100.0, 110.0, 121.0], index=pd.to_datetime(["2020-03-31", "2021-03-31", "2022-03-31"]))
    >>> period_returns(lv, [1, 2, 3]).round(4).to_dict()
    {1: 0.1, 2: 0.1, 3: nan}
    """
    out = {}
    index = pd.DatetimeIndex(level.index)
    for y in years:
        if isinstance(y, bool) or not isinstance(y, int) or y <= 0:
            raise InputError(f"a trailing period must be a positive whole number of years, got {y!r}")
        if len(level) < 2:
            out[y] = float("nan")
            continue
        start = index[-1] - pd.DateOffset(years=y)
        if index[0] > start:
            out[y] = float("nan")
            continue
        base = float(level.iloc[index.searchsorted(start, side="right") - 1])
        out[y] = float((float(level.iloc[-1]) / base) ** (1.0 / y) - 1.0)
    return pd.Series(out, index=pd.Index(list(out), dtype="int64", name="years"), dtype="float64", name="return")


def benchmark_level(returns: pd.Series, dates: pd.DatetimeIndex, base: float = 1000.0) -> pd.Series:
    """The benchmark as a level on the index's ``dates``: ``base`` on the first date, then compounded
    with its daily returns (a date without a return counts as 0).

    >>> import pandas as pd
    >>> d = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    >>> benchmark_level(pd.Series([0.5, 0.10, -0.5], index=d), d).tolist()  # the first day's return is before the base
    [1000.0, 1100.0, 550.0]
    """
    grown = (1.0 + returns.reindex(dates).fillna(0.0).iloc[1:]).cumprod() * base
    return pd.concat([pd.Series([base], index=dates[:1]), grown]).rename("benchmark")
