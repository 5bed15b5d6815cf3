"""FX rates of a :class:`~exchina_index.data.market.MarketData`: validated, and carried to every
market date from the last quote on or before it (USD per one unit of the currency, ``USD`` = 1.0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.frames import as_frame, naive_dates, numeric
from exchina_index.errors import DataError

__all__ = ["fx_on_dates"]


def fx_on_dates(
    frame: Any,
    index: pd.DatetimeIndex,
    tickers: pd.Index,
    currency: pd.Series,
    has_price: np.ndarray,
    first: np.ndarray,
    notes: list[str],
) -> pd.DataFrame:
    """The rates on the market dates ``index``, a ``USD`` column first, then the currencies sorted.

    Raises
    ------
    DataError
        A repeated date, a rate that is not positive, a ``USD`` column that is not 1.0, a priced
        listing whose currency has no column, or no rate on or before a listing's first price.
        A currency whose listings have no price gets an empty column (noted).
    """
    fx = _clean_fx(frame)
    unpriced: set[str] = set()
    for (t, cur), priced in zip(currency.items(), has_price):
        if cur != "USD" and cur not in fx.columns:
            if priced:
                raise DataError(
                    f"{t} is quoted in {cur} but there is no FX rate for {cur}; add a '{cur}' column "
                    f"(USD per one {cur}) to the FX data"
                )
            unpriced.add(cur)
    if unpriced:  # listings without any price need no rate: an empty column keeps the layout
        notes.append(f"no FX rates for {', '.join(sorted(unpriced))} (no listing in it has prices): left empty")
    fx = fx.reindex(fx.index.union(index)).ffill().reindex(index)
    fx = fx.reindex(columns=["USD", *sorted((set(fx.columns) | unpriced) - {"USD"})])
    fx["USD"] = 1.0
    fx_first = {c: int(np.argmax(fx[c].notna().to_numpy())) if fx[c].notna().any() else len(index) for c in fx.columns}
    cur = currency.to_numpy()
    for c in np.flatnonzero(has_price):
        if first[c] < fx_first[cur[c]]:
            raise DataError(
                f"{tickers[c]} has a price on {index[first[c]].date()} but there is no {cur[c]} FX rate on or "
                f"before that date; extend the FX data back to it"
            )
    return fx


def _clean_fx(frame: Any) -> pd.DataFrame:
    """The user's rates sorted by date, without the ``USD`` column (checked to be 1.0)."""
    fx = as_frame(frame, "fx")
    fx = fx.set_axis(naive_dates(fx.index, "fx"), axis=0)
    fx.columns = pd.Index([str(c) for c in fx.columns])
    if fx.index.has_duplicates:
        d = fx.index[fx.index.duplicated()][0]
        raise DataError(f"fx has two rows for {d.date()}; keep one rate per date")
    fx = numeric(fx, "fx").sort_index()
    if (fx.to_numpy() <= 0).any():
        r, c = np.argwhere(fx.to_numpy() <= 0)[0]
        raise DataError(f"fx rate for {fx.columns[c]} on {fx.index[r].date()} is not positive; fix it")
    if "USD" in fx.columns and not np.allclose(fx["USD"].dropna(), 1.0):
        raise DataError("fx column USD must be 1.0 (rates are USD per one unit of the currency)")
    return fx.drop(columns="USD", errors="ignore")
