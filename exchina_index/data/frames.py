"""Validation and canonical form of the raw frames a :class:`~exchina_index.data.market.MarketData`
is built from: tz-naive dates, string tickers, float64 values, one row per date, and a DataError
naming the ticker, the date and what to do for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from exchina_index.errors import DataError

__all__ = [
    "SAME_DATA_MIN_CLOSES",
    "UNIT",
    "aligned",
    "as_frame",
    "asof",
    "by_ticker",
    "clean",
    "close_values",
    "delisted_dates",
    "dividend_values",
    "drop_from_delisting",
    "identical_close_notes",
    "life_bounds",
    "naive_dates",
    "numeric",
    "raise_duplicate",
    "readonly",
    "readonly_frame",
    "share_values",
    "split_values",
    "volume_values",
]

#: Resolution of every date index (microseconds: dates far in the past or future still fit).
UNIT = "us"


def close_values(frame: Any) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Index]:
    """The closes as a float64 array sorted by date and ticker, with their dates and tickers.

    Raises
    ------
    DataError
        A ticker given twice, a repeated date, a value that is not a number, or a close that is
        zero, negative or infinite.
    """
    close = as_frame(frame, "close")
    index = naive_dates(close.index, "close")
    close = close.set_axis(index, axis=0)
    close.columns = pd.Index([str(c) for c in close.columns])
    if close.columns.has_duplicates:
        dup = close.columns[close.columns.duplicated()][0]
        raise DataError(f"ticker '{dup}' appears twice in close; keep one column per ticker")
    if index.has_duplicates:
        raise_duplicate(close)
    close = numeric(close, "close")
    if not close.index.is_monotonic_increasing:
        close = close.sort_index()
    if not close.columns.is_monotonic_increasing:
        close = close.sort_index(axis=1)
    index, tickers = close.index, close.columns
    values = close.to_numpy(dtype=np.float64, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~((values > 0) & (values < np.inf)) & ~np.isnan(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{tickers[c]} has a non-positive or infinite close ({values[r, c]!r}) on {index[r].date()}; "
            "fix or remove that row"
        )
    return values, index, tickers


def delisted_dates(delisted: Any, tickers: pd.Index) -> pd.Series:
    """ticker -> first date the listing no longer trades (``NaT`` when listed, or ``delisted`` is None)."""
    out = (
        pd.to_datetime(by_ticker(delisted, "delisted", tickers))
        if delisted is not None
        else pd.Series(pd.NaT, index=tickers, dtype=f"datetime64[{UNIT}]")
    )
    return out.astype(f"datetime64[{UNIT}]")


def drop_from_delisting(
    values: np.ndarray, index: pd.DatetimeIndex, tickers: pd.Index, delisted: pd.Series, notes: list[str]
) -> np.ndarray:
    """Blank (in place) the closes on or after each delisting date, noted; returns the first row blanked."""
    cut = np.full(len(tickers), len(index))
    has_d = delisted.notna().to_numpy()
    if has_d.any():
        cut[has_d] = index.searchsorted(delisted.to_numpy()[has_d], side="left")
        for c in np.flatnonzero(cut < len(index)):
            n = int((~np.isnan(values[cut[c] :, c])).sum())
            if n:
                notes.append(f"{tickers[c]}: dropped {n} price row(s) on or after delisted {delisted.iloc[c].date()}")
                values[cut[c] :, c] = np.nan
    return cut


def life_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(has_price, first, last)`` per column: any valid close, and the rows of the first and last."""
    valid = ~np.isnan(values)
    has_price = valid.any(axis=0)
    first = np.where(has_price, valid.argmax(axis=0), len(values))
    last = np.where(has_price, len(values) - 1 - valid[::-1].argmax(axis=0), -1)
    return has_price, first, last


def dividend_values(
    frame: pd.DataFrame | None,
    index: pd.DatetimeIndex,
    tickers: pd.Index,
    first: np.ndarray,
    last: np.ndarray,
    notes: list[str],
) -> np.ndarray:
    """Dividends on the market dates, 0.0 where none; those outside a listing's price history dropped (noted)."""
    divs = aligned(frame, "dividends", index, tickers)
    if divs is None:
        return np.zeros((len(index), len(tickers)))
    if (divs < 0).any():
        r, c = np.argwhere(divs < 0)[0]
        raise DataError(f"{tickers[c]} has a negative dividend ({divs[r, c]!r}) on {index[r].date()}; fix it")
    divs = np.nan_to_num(divs, nan=0.0, copy=False)  # NaN = no dividend that day
    r, c = np.nonzero(divs)
    outside = (r < first[c]) | (r > last[c])
    for col in np.unique(c[outside]):
        notes.append(f"{tickers[col]}: dropped {int((c[outside] == col).sum())} dividend(s) outside its price history")
    divs[r[outside], c[outside]] = 0.0
    return divs


def split_values(
    frame: pd.DataFrame | None,
    index: pd.DatetimeIndex,
    tickers: pd.Index,
    values: np.ndarray,
    cut: np.ndarray,
    notes: list[str],
) -> np.ndarray:
    """Split ratios on the market dates: new shares per old on the ex-date, 0.0 where none (NaN too).

    ``values`` are the closes after the delisting cut: splits from a listing's delisting row ``cut``
    on are dropped (noted), like its closes.

    Raises
    ------
    DataError
        A split for a ticker without a close column, a negative or infinite ratio, or a split on
        a date the listing has no close (outside its life, or a day it did not trade).
    """
    if frame is None:
        return np.zeros((len(index), len(tickers)))
    f = clean(frame, "splits")
    known = set(tickers)
    extra = [c for c in f.columns if c not in known and (f[c].fillna(0.0) != 0.0).any()]
    if extra:
        raise DataError(f"splits has a split for {extra[0]}, which has no close column; add its closes or drop it")
    spl = cast(np.ndarray, aligned(f, "splits", index, tickers))
    with np.errstate(invalid="ignore"):
        bad = (spl < 0) | np.isinf(spl)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(
            f"{tickers[c]} has a {'negative' if spl[r, c] < 0 else 'non-finite'} split ratio ({spl[r, c]:g}) on "
            f"{index[r].date()}; give new shares per old share (2.0 for a 2-for-1 split, 0.1 for a 1-for-10 "
            "consolidation), or 0.0 for no split"
        )
    spl = np.nan_to_num(spl, nan=0.0, copy=False)
    for c in np.flatnonzero(cut < len(index)):
        n = int(np.count_nonzero(spl[cut[c] :, c]))
        if n:
            notes.append(f"{tickers[c]}: dropped {n} split(s) on or after its delisting date")
            spl[cut[c] :, c] = 0.0
    r, c = np.nonzero(spl)
    orphan = np.isnan(values[r, c])
    if orphan.any():
        r0, c0 = r[orphan][0], c[orphan][0]
        raise DataError(
            f"{tickers[c0]} has a split ({spl[r0, c0]:g}) on {index[r0].date()}, a date it has no close (outside "
            "its life, or a day it did not trade); put the split on its ex-date, add that close, or set it to "
            "0.0 (no split)"
        )
    return spl


def volume_values(
    frame: pd.DataFrame | None, index: pd.DatetimeIndex, tickers: pd.Index, cut: np.ndarray
) -> np.ndarray:
    """Volumes on the market dates (NaN where unknown, and from each listing's delisting row ``cut`` on)."""
    vol = aligned(frame, "volume", index, tickers)
    if vol is None:
        vol = np.full((len(index), len(tickers)), np.nan)
    elif (vol < 0).any():
        r, c = np.argwhere(vol < 0)[0]
        raise DataError(f"{tickers[c]} has a negative volume ({vol[r, c]!r}) on {index[r].date()}; fix it")
    for c in np.flatnonzero(cut < len(index)):
        vol[cut[c] :, c] = np.nan
    return vol


def share_values(frame: pd.DataFrame | None, index: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray:
    """Share counts known at each market date (NaN where unknown); a non-positive count is a DataError."""
    shares = asof(frame, "shares", index, tickers)
    if shares is None:
        return np.full((len(index), len(tickers)), np.nan)
    if (shares <= 0).any():
        r, c = np.argwhere(shares <= 0)[0]
        raise DataError(
            f"{tickers[c]} has a non-positive share count ({shares[r, c]!r}) on {index[r].date()}; "
            "leave it empty when unknown"
        )
    return shares


def clean(frame: Any, name: str) -> pd.DataFrame:
    """A user frame with tz-naive dates, string tickers, no duplicated dates and numeric values."""
    f = as_frame(frame, name)
    f = f.set_axis(naive_dates(f.index, name), axis=0)
    f.columns = pd.Index([str(c) for c in f.columns])
    if f.index.has_duplicates:
        raise_duplicate(f, name)
    return numeric(f, name)


def aligned(frame: pd.DataFrame | None, name: str, index: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray | None:
    """``frame`` on the market dates and tickers (a value on a date without any close is a DataError)."""
    if frame is None:
        return None
    f = clean(frame, name)
    extra = f.index.difference(index)
    if len(extra):
        lost = f.loc[extra].reindex(columns=tickers)
        lost = lost[(lost.notna() & (lost != 0)).any(axis=1)]
        if len(lost):
            d = lost.index[0]
            t = lost.columns[(lost.loc[d].notna() & (lost.loc[d] != 0)).to_numpy()][0]
            raise DataError(
                f"{t} has a {name} value on {d.date()}, a date without any close; add the close or remove the value"
            )
    return f.reindex(index=index, columns=tickers).to_numpy(dtype=float, copy=True)


def asof(frame: pd.DataFrame | None, name: str, index: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray | None:
    """Values known at each market date: the last value dated on or before it."""
    if frame is None:
        return None
    f = clean(frame, name).sort_index().reindex(columns=tickers)
    if not f.index.equals(index):
        f = f.reindex(f.index.union(index)).ffill().reindex(index)
    return f.to_numpy(dtype=float, copy=True)


def as_frame(frame: Any, name: str) -> pd.DataFrame:
    """``frame`` if it is a DataFrame, else a DataError naming ``name``."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame (date x ticker), got {type(frame).__name__}")
    return frame


def naive_dates(index: pd.Index, name: str) -> pd.DatetimeIndex:
    """Tz-naive midnight dates (a tz-aware index keeps its local calendar date)."""
    if not isinstance(index, pd.DatetimeIndex):
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index))
        except (TypeError, ValueError):
            raise DataError(f"the {name} index must hold dates") from None
    if index.tz is not None:
        index = index.tz_localize(None)
    if index.hasnans:
        raise DataError(f"the {name} index has a missing date (NaT); remove that row")
    days = index.to_numpy().astype("datetime64[D]").astype(f"datetime64[{UNIT}]")
    return pd.DatetimeIndex(days, name="date")


def numeric(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` as float64; a cell that is not a number is a DataError naming ticker and date."""
    try:
        return frame.astype("float64")
    except (TypeError, ValueError):
        for col in frame.columns:
            conv = pd.to_numeric(frame[col], errors="coerce")
            bad = conv.isna() & frame[col].notna()
            if bad.any():
                d = frame.index[bad.to_numpy()][0]
                raise DataError(
                    f"{name} of {col} on {pd.Timestamp(d).date()} is not a number ({frame[col][bad].iloc[0]!r}); fix it"
                ) from None
        raise


#: Fewest closes two listings must share, every one identical, to be noted as the same data.
SAME_DATA_MIN_CLOSES = 20


def identical_close_notes(closes: Mapping[str, pd.Series], who: str) -> list[str]:
    """Notes naming listings whose closes are identical, dates included (at least
    :data:`SAME_DATA_MIN_CLOSES` of them): two real listings never are, so one symbol or file is
    answering for another (a recycled symbol, a copied or linked price file). ``who`` starts the
    verb ("Yahoo returned", "the files hold")."""
    groups: dict[bytes, list[str]] = {}
    for t, c in closes.items():
        c = c.dropna()
        if len(c) >= SAME_DATA_MIN_CLOSES:
            key = pd.DatetimeIndex(c.index).asi8.tobytes() + c.to_numpy(dtype="float64").tobytes()
            groups.setdefault(key, []).append(str(t))
    notes = []
    for names in sorted(sorted(g) for g in groups.values() if len(g) > 1):
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        notes.append(
            f"{shown}: {who} identical prices for these {len(names)} listings (every date and close); "
            "one symbol or file may be answering for another: check them"
        )
    return notes


def raise_duplicate(frame: pd.DataFrame, name: str = "close") -> None:
    """A DataError naming the first repeated date of ``frame`` and the tickers with values on it."""
    dup = frame.index[frame.index.duplicated(keep=False)]
    d = dup[0]
    rows = frame[frame.index == d]
    with_values = [str(c) for c in rows.columns if rows[c].notna().any()]
    who = ", ".join(with_values[:5]) + (" ..." if len(with_values) > 5 else "") if with_values else "all tickers"
    raise DataError(
        f"{name} has the date {pd.Timestamp(d).date()} more than once (ticker {who}); keep one row per date"
    )


def by_ticker(s: Any, name: str, tickers: pd.Index, *, required: bool = False) -> pd.Series:
    """A per-ticker Series (or mapping) on ``tickers``; ``required``: every ticker must have a value."""
    if isinstance(s, Mapping) and not isinstance(s, pd.Series):
        s = pd.Series(dict(s))
    if not isinstance(s, pd.Series):
        raise DataError(f"{name} must be a pandas Series indexed by ticker")
    s = s.copy()
    s.index = pd.Index([str(i) for i in s.index])
    missing = [t for t in tickers if t not in s.index]
    if missing and required:
        raise DataError(f"no {name} for {', '.join(missing[:10])}; give one for every ticker")
    out = s.reindex(tickers)
    if required and out.isna().any():
        t = out.index[out.isna().to_numpy()][0]
        raise DataError(f"{name} of {t} is missing; give one for every ticker")
    return out


def readonly(a: np.ndarray) -> np.ndarray:
    """``a``, refusing writes from now on."""
    a.flags.writeable = False
    return a


def readonly_frame(values: np.ndarray, index: pd.Index, columns: pd.Index) -> pd.DataFrame:
    """A float64 frame over ``values`` without a copy, its array refusing writes."""
    values = np.asarray(values, dtype=np.float64)
    values.flags.writeable = False
    return pd.DataFrame(values, index=index, columns=columns, copy=False)
