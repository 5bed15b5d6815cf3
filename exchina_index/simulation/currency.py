"""The index levels in other currencies: unhedged, the USD index converted at each day's FX rate.

For a currency ``C`` whose rate ``fx_C(t)`` is USD per one unit of ``C`` (``MarketData.fx``)::

    L_C(t) = base * (L_USD(t) / L_USD(t0)) * (fx_C(t0) / fx_C(t))

so an investor who holds the USD index and measures it in ``C`` sees the index return and the
currency's move against USD: ``1 + r_C(t) = (1 + r_USD(t)) * fx_C(t-1) / fx_C(t)``. The rate on a
date is the last quote on or before it (no look-ahead); ``MarketData.fx`` is already carried to
every market date, so on a backtest's dates it is used as it is.

Converted series
    ``price_return``, ``total_return`` and ``net_total_return``, the three index levels. ``nav``
    (the USD fund after its costs and expense ratio) is not converted: a fund share class in another
    currency has its own costs (and usually a hedge), which these levels do not model.
Columns
    Flat names ``<series>_<CUR>`` (``net_total_return_EUR``), grouped by currency in the order asked
    and, within a currency, in the order above: one header row in a CSV file, and the same bytes
    for the same inputs.
``USD``
    Allowed: its rate is 1.0, so its columns are the USD levels rebased to ``base``.

Hedged levels are not offered
    A currency-hedged index (a forward rolled monthly) needs each day's forward rate, or the spot
    rate and both currencies' short-term interest rates (covered interest parity). None of the
    package's sources provides them: Yahoo Finance quotes spot FX pairs and a US Treasury bill
    yield (``^IRX``) but no EUR, GBP, AUD or JPY money-market rate or FX forward, and CSV folders
    carry spot rates only. A hedged series built from a guessed rate would look precise and be
    wrong, so there is none until a source of forward points or of the four short rates is added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from exchina_index.errors import DataError, InputError, short_repr
from exchina_index.rules.checks import currency_problem

__all__ = ["CURRENCY_SERIES", "currency_column", "currency_levels", "require_fx"]

#: The level series converted, in the order of their columns within each currency.
CURRENCY_SERIES: tuple[str, ...] = ("price_return", "total_return", "net_total_return")


def currency_column(series: str, currency: str) -> str:
    """The column name of ``series`` in ``currency``.

    Examples
    --------
    >>> currency_column("net_total_return", "EUR")
    'net_total_return_EUR'
    """
    return f"{series}_{currency}"


def currency_levels(
    levels: pd.DataFrame,
    fx: pd.DataFrame,
    currencies: Sequence[str],
    *,
    base: float = 1000.0,
) -> pd.DataFrame:
    """The unhedged index levels in each of ``currencies``, starting at ``base``.

    Parameters
    ----------
    levels
        USD index levels by date (``BacktestResult.levels``): the columns of
        :data:`CURRENCY_SERIES`, positive and finite; other columns (``nav``) are ignored.
    fx
        USD per one unit of each currency by date (``MarketData.fx``), one column per currency.
        Missing values are no quote; each date of ``levels`` takes the last quote on or before it.
    currencies
        ISO 4217 codes in capitals, each once (``"USD"`` needs no column: its rate is 1.0).
    base
        The level of every output series on the first date of ``levels``.

    Returns
    -------
    pandas.DataFrame
        ``levels``'s index; columns ``<series>_<CUR>`` (:func:`currency_column`) by currency in
        the order given, then by series in the order of :data:`CURRENCY_SERIES`. No columns when
        ``currencies`` is empty.

    Raises
    ------
    InputError
        ``levels`` or ``fx`` not a frame with a sorted date index of unique dates, a series
        missing from ``levels``, ``currencies`` not a list of distinct ISO 4217 codes in capitals
        (``"GBp"`` is a quote unit: use ``"GBP"``), or ``base`` not a positive finite number.
    DataError
        A level that is not positive and finite; a currency with no column in ``fx``; a rate that
        is not positive and finite; no rate on or before the first date of ``levels``.

    Examples
    --------
    >>> days = pd.to_datetime(["2025-01-02", "2025-01-03"])
    >>> usd = pd.DataFrame({s: [1000.0, 1000.0] for s in CURRENCY_SERIES}, index=days)
    >>> fx = pd.DataFrame({"EUR": [0.5, 0.4]}, index=days)  # the euro falls 20 % against USD
    >>> currency_levels(usd, fx, ["EUR"])["price_return_EUR"].tolist()
    [1000.0, 1250.0]
    """
    codes = _check_currencies(currencies)
    base = _check_base(base)
    usd = _check_levels(levels)
    dates = usd.index
    growth = usd.to_numpy() / usd.to_numpy()[0]  # L_USD(t) / L_USD(t0), date x series
    if any(c != "USD" for c in codes):
        fx = _check_dates(fx, "fx")
        if fx.index.tz != dates.tz:
            raise InputError(
                f"levels and fx dates must both be tz-naive (or in one time zone): {dates.tz} vs {fx.index.tz}"
            )
    columns: dict[str, np.ndarray] = {}
    for code in codes:
        rate = np.ones(len(dates)) if code == "USD" else _rates_on(fx, code, dates)
        # fx(t0) / fx(t): how many more units of the currency one USD of the start buys at t
        converted = base * growth * (rate[0] / rate)[:, None]
        for k, series in enumerate(CURRENCY_SERIES):
            columns[currency_column(series, code)] = converted[:, k]
    return pd.DataFrame(columns, index=dates.copy(), dtype="float64")


def require_fx(fx: pd.DataFrame, currencies: Sequence[str]) -> tuple[str, ...]:
    """Check, before a backtest runs, that ``fx`` can convert the levels into ``currencies``.

    The checks of :func:`currency_levels` that need no levels: the codes, and a column holding at
    least one quote for each currency other than ``USD`` (whether a quote is on or before the
    first level date is left to :func:`currency_levels`).

    Returns
    -------
    tuple of str
        The codes, in the order given.

    Raises
    ------
    InputError, DataError
        As :func:`currency_levels` does for the codes and for a currency without rates.
    """
    codes = _check_currencies(currencies)
    if any(c != "USD" for c in codes):
        fx = _check_dates(fx, "fx")
        for code in codes:
            if code != "USD" and (code not in fx.columns or fx[code].isna().all()):
                raise _no_rates(fx, code)
    return codes


def _no_rates(fx: pd.DataFrame, code: str) -> DataError:
    have = ", ".join(str(c) for c in fx.columns if c == "USD" or fx[c].notna().any()) or "none"
    return DataError(
        f"no FX rates for {code} (the FX data has {have}); the loaders fetch the currencies the "
        f"universe's listings are quoted in: add a listing quoted in {code} to the universe, or a "
        f"'{code}' column (USD per one {code}) to fx.csv for a CSV source"
    )


def _check_currencies(currencies: Sequence[str]) -> tuple[str, ...]:
    """``currencies`` as a tuple of distinct ISO 4217 codes (the spec's rule)."""
    if isinstance(currencies, str) or not isinstance(currencies, Sequence):
        raise InputError(f"currencies must be a list of ISO 4217 codes such as ['EUR'], got {short_repr(currencies)}")
    codes = tuple(currencies)
    for code in codes:
        problem = currency_problem(code)
        if problem is not None:
            raise InputError(f"currencies: {problem}")
    repeated = [c for i, c in enumerate(codes) if c in codes[:i]]
    if repeated:
        raise InputError(f"currencies: '{repeated[0]}' is listed twice; list each currency once")
    return codes


def _check_base(base: float) -> float:
    value = math.nan
    if not isinstance(base, bool) and isinstance(base, (int, float, np.integer, np.floating)):
        try:
            value = float(base)
        except OverflowError:  # an int beyond float range
            pass
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"base must be a positive finite number such as 1000.0, got {short_repr(base)}")
    return value


def _check_dates(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` when it is a DataFrame on a sorted index of unique dates."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame by date, got {type(frame).__name__}")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InputError(f"{what} must be indexed by date (a DatetimeIndex), got {type(index).__name__}")
    if index.has_duplicates:
        raise InputError(f"{what} has two rows for {index[index.duplicated()][0].date()}; keep one per date")
    if not index.is_monotonic_increasing:
        raise InputError(f"{what} dates must be sorted; sort it by date (frame.sort_index())")
    return frame


def _check_levels(levels: pd.DataFrame) -> pd.DataFrame:
    """The :data:`CURRENCY_SERIES` columns of ``levels``, checked positive and finite."""
    levels = _check_dates(levels, "levels")
    missing = [s for s in CURRENCY_SERIES if s not in levels.columns]
    if missing:
        raise InputError(
            f"levels has no '{missing[0]}' column; give the backtest's levels (columns {', '.join(CURRENCY_SERIES)})"
        )
    if len(levels) == 0:
        raise InputError("levels holds no dates; give the levels of a backtest")
    usd = levels[list(CURRENCY_SERIES)].astype("float64")
    values = usd.to_numpy()
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"levels: {CURRENCY_SERIES[c]} on {usd.index[r].date()} is {float(values[r, c])!r}, not a positive "
            "finite level; convert a complete backtest's levels"
        )
    return usd


def _rates_on(fx: pd.DataFrame, code: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """USD per one ``code`` on each of ``dates``: the last quote on or before each date."""
    if code not in fx.columns:
        raise _no_rates(fx, code)
    try:
        quotes = fx[code].astype("float64").dropna()
    except (TypeError, ValueError):
        raise DataError(f"FX rates for {code} are not all numbers; give USD per one {code} as numbers") from None
    values = quotes.to_numpy()
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        raise DataError(
            f"FX rate for {code} on {quotes.index[np.argmax(bad)].date()} is not positive and finite; fix it"
        )
    # side="right": a quote dated on the day counts, a later one never does
    if len(quotes) == 0:
        raise _no_rates(fx, code)
    row = quotes.index.searchsorted(dates, side="right") - 1
    if row[0] < 0:
        raise DataError(
            f"no {code} FX rate on or before {dates[0].date()}, the first date of the levels; extend the "
            "FX data back to it"
        )
    return values[row]
