"""Raw frames quoted in the universe's price units -> frames in currency units inside each listing's
life: what :meth:`~exchina_index.data.market.MarketData.from_frames` does before validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from exchina_index.data.frames import as_frame, naive_dates, numeric
from exchina_index.errors import DataError
from exchina_index.rules.checks import PRICE_UNITS

__all__ = ["in_currency_units"]


def _frame_of(universe: Any) -> pd.DataFrame:
    """The universe DataFrame of a :class:`~exchina_index.universe.loading.Universe` (or the frame itself)."""
    return universe.frame if hasattr(universe, "frame") else universe


def in_currency_units(
    universe: Any,
    close: pd.DataFrame,
    *,
    fx: pd.DataFrame | None,
    dividends: pd.DataFrame | None,
    volume: pd.DataFrame | None,
    shares: pd.DataFrame | None,
    notes: Iterable[str],
) -> dict[str, Any]:
    """The keyword arguments of :class:`~exchina_index.data.market.MarketData` for these frames.

    Closes and dividends are divided by the price unit's divisor (100 for ``GBp``), rows before
    ``listed_since`` are dropped, and the universe's currency, exchange and delisting dates are
    attached; every change is a note. See :meth:`MarketData.from_frames` for the parameters.
    """
    uni = _frame_of(universe)
    notes = list(notes)
    close = as_frame(close, "close")
    unknown = sorted(set(map(str, close.columns)) - set(map(str, uni.index)))
    if unknown:
        raise DataError(
            f"ticker(s) {', '.join(unknown)} are not in the universe; add them to the universe "
            "file or drop them from the data"
        )
    tickers = sorted(map(str, uni.index))
    missing = [t for t in tickers if t not in set(map(str, close.columns))]
    if missing:
        notes.append(f"no prices for {', '.join(missing)}: left empty (NaN)")
    index = naive_dates(close.index, "close")
    close = close.set_axis(index, axis=0)
    frames = {"dividends": dividends, "volume": volume}
    for key, f in list(frames.items()):
        if f is not None:
            f = as_frame(f, key)
            frames[key] = f.set_axis(naive_dates(f.index, key), axis=0)
    close = close.reindex(columns=tickers)
    divisor = pd.Series(
        [PRICE_UNITS.get(str(u), (None, 1))[1] for u in uni.loc[tickers, "price_unit"]], index=tickers, dtype=float
    )
    close = numeric(close, "close") / divisor
    if frames["dividends"] is not None:
        frames["dividends"] = numeric(frames["dividends"].reindex(columns=tickers), "dividends") / divisor
    if frames["volume"] is not None:
        frames["volume"] = frames["volume"].reindex(columns=tickers)
    for t in divisor.index[divisor != 1]:
        notes.append(f"{t}: prices quoted in {uni.at[t, 'price_unit']}, divided by {int(divisor[t])}")
    # listing dates: nothing before listed_since (e.g. SPAC shell history), nothing from delisted on
    since = pd.to_datetime(uni.loc[tickers, "listed_since"]) if "listed_since" in uni else None
    if since is not None:
        before = close.index.to_numpy()[:, None] < since.to_numpy()[None, :]
        dropped = (close.notna().to_numpy() & before).sum(axis=0)
        for t, n in zip(tickers, dropped):
            if n:
                notes.append(f"{t}: dropped {n} price row(s) before listed_since {since[t].date()}")
        close = close.mask(before)
        for key in ("dividends", "volume"):
            f = frames[key]
            if f is not None:
                b = f.index.to_numpy()[:, None] < since.to_numpy()[None, :]
                frames[key] = f.mask(b)
    if shares is not None:
        shares = as_frame(shares, "shares")
        shares = shares.set_axis(naive_dates(shares.index, "shares"), axis=0).reindex(columns=tickers)
    if fx is None:
        fx = pd.DataFrame({"USD": 1.0}, index=close.index)
    else:
        fx = as_frame(fx, "fx")
        fx = fx.set_axis(naive_dates(fx.index, "fx"), axis=0)
    get = uni.loc[tickers]
    return dict(
        close=close,
        fx=fx,
        currency=get["currency"].astype(str),
        dividends=frames["dividends"],
        volume=frames["volume"],
        shares=shares,
        exchange=get["exchange"].astype(str) if "exchange" in get else None,
        delisted=pd.to_datetime(get["delisted"]) if "delisted" in get else None,
        notes=tuple(notes),
    )
