"""What Yahoo's answers mean: FX pair symbols, minor price units, and yfinance frames turned into
clean blocks (exchange-local dates, columns by name, one row per date).

See "What is fetched" and "Units and repairs" in :mod:`exchina_index.data.yahoo`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.csv_source import BOUNDS
from exchina_index.errors import DataError
from exchina_index.rules.checks import PRICE_UNITS

__all__ = [
    "FX_PAIRS",
    "PRICE_COLUMNS",
    "dedupe",
    "empty_block",
    "empty_series",
    "fx_pair",
    "history_block",
    "shares_block",
    "unit_divisor",
]

_DIRECT = (
    "AUD",
    "BRL",
    "CAD",
    "CHF",
    "CNY",
    "CZK",
    "DKK",
    "EUR",
    "GBP",
    "HKD",
    "ILS",
    "MXN",
    "MYR",
    "NOK",
    "NZD",
    "PHP",
    "PLN",
    "SEK",
    "SGD",
    "THB",
    "TRY",
    "ZAR",
)
_INVERTED = ("CLP", "COP", "HUF", "IDR", "INR", "JPY", "KRW", "TWD")
#: ISO currency -> (Yahoo symbol, inverted?). ``XXXUSD=X`` quotes USD per XXX; ``XXX=X`` quotes
#: XXX per USD (used where the direct pair has too few digits) and is inverted.
FX_PAIRS: dict[str, tuple[str, bool]] = {
    **{c: (f"{c}USD=X", False) for c in _DIRECT},
    **{c: (f"{c}=X", True) for c in _INVERTED},
}
#: Quote units in minor currency units -> divisor (``universe.PRICE_UNITS`` adds to it and wins).
_MINOR_UNITS: dict[str, int] = {
    "GBp": 100,
    "GBX": 100,
    "ZAc": 100,
    "ZAC": 100,
    "ILA": 100,
    **{k: int(v[1]) for k, v in PRICE_UNITS.items()},
}
#: ``Ticker.history`` columns kept for prices, and their names in the cache.
PRICE_COLUMNS = {"Close": "close", "Dividends": "dividends", "Volume": "volume", "Stock Splits": "splits"}


def fx_pair(currency: str) -> tuple[str, bool] | None:
    """The Yahoo FX symbol for ``currency`` and whether its quote must be inverted (None: unknown)."""
    return FX_PAIRS.get(str(currency).upper())


def unit_divisor(ticker: str, unit: Any, currency: str) -> float:
    """What Yahoo's quotes of ``ticker`` are divided by to be in ``currency`` (100 for pence)."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)) or str(unit) in ("", currency):
        return 1.0
    if str(unit) in _MINOR_UNITS:
        return float(_MINOR_UNITS[str(unit)])
    raise DataError(
        f"{ticker}: unknown price_unit {unit!r} for currency {currency}; use {currency} or a subunit such as GBp"
    )


def history_block(frame: Any, columns: Mapping[str, str]) -> pd.DataFrame:
    """One ``Ticker.history`` frame -> the ``columns`` wanted, renamed, on exchange-local dates.

    yfinance localises daily bars to the exchange time zone at midnight, so dropping the time
    zone keeps the exchange-local date (an ASX session that opens at 23:00 UTC the day before
    stays on its own date). Columns are picked by name, never by position; a missing column is
    NaN. Rows without any value are dropped; ``None``, an empty or an all-NaN frame gives an
    empty block.
    """
    wanted = list(columns.values())
    if not isinstance(frame, pd.DataFrame) or frame.empty or "Close" not in frame.columns:
        return empty_block(wanted)
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    data = {dst: _column(frame, src) for src, dst in columns.items()}
    if "close" in data and np.isnan(data["close"]).all():  # dividends without a price: no data
        return empty_block(wanted)
    # one resolution whatever yfinance and pandas give (yfinance 1.7.0 on pandas 3: seconds)
    block = pd.DataFrame(data, index=pd.DatetimeIndex(index.normalize(), name="date").as_unit("ns"))
    has = np.zeros(len(block), dtype=bool)
    for c in wanted:
        v = block[c].to_numpy()
        has |= (np.nan_to_num(v) != 0.0) if c in ("dividends", "splits") else ~np.isnan(v)
    return block.loc[has]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of a history frame as float64 (NaN where not a number, all NaN when
    absent); a name given twice keeps the last column, as a duplicated date keeps the last row."""
    hits = [i for i, c in enumerate(frame.columns) if c == name]  # by equality: no MultiIndex level match
    if not hits:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame.iloc[:, hits[-1]], errors="coerce").to_numpy(dtype="float64")


def dedupe(block: pd.DataFrame, sym: str) -> tuple[pd.DataFrame, str | None]:
    """``block`` sorted with one row per date (Yahoo's last), and a note when dates were repeated."""
    if not block.index.has_duplicates and block.index.is_monotonic_increasing:
        return block, None
    dup = block.index[block.index.duplicated(keep=False)].unique()
    block = block[~block.index.duplicated(keep="last")].sort_index()
    if len(dup) == 0:
        return block, None
    shown = ", ".join(d.strftime("%Y-%m-%d") for d in dup[:5]) + (" ..." if len(dup) > 5 else "")
    return block, f"{sym}: Yahoo returned {len(dup)} duplicated date(s) ({shown}); kept the last row of each"


def shares_block(series: Any) -> tuple[pd.Series, int]:
    """A ``get_shares_full`` answer -> one count per exchange-local date (the last of the day).

    yfinance localises the timestamps to the exchange time zone, so the wall date is the local
    date. Missing and non-positive counts are dropped (their number is returned).
    """
    if series is None:
        return empty_series(), 0
    if isinstance(series, pd.DataFrame):
        series = series.iloc[:, 0] if series.shape[1] else pd.Series(dtype="float64")
    s = pd.to_numeric(pd.Series(series), errors="coerce").astype("float64")
    idx = pd.DatetimeIndex(s.index)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    s.index = idx.normalize()
    s = s.sort_index(kind="stable")
    s = s[~s.index.duplicated(keep="last")]
    lo, hi = BOUNDS["shares"]
    bad = ~((s >= lo) & (s <= hi))  # missing, not positive, a fraction of a share, or 1e30
    s = s[~bad]
    s.index.name = "date"
    return s, int(bad.sum())


def empty_block(columns: Iterable[str]) -> pd.DataFrame:
    """An empty float64 frame with ``columns`` on a ``date`` index (no rows from Yahoo)."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}, index=pd.DatetimeIndex([], name="date"))


def empty_series() -> pd.Series:
    """An empty float64 series on a ``date`` index (no share count)."""
    return pd.Series(dtype="float64", index=pd.DatetimeIndex([], name="date"))
