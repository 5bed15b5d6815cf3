"""Point-in-time feature panels: what every review reads from the market, computed once.

:func:`feature_panel` computes, for a list of review cut-offs, the per-listing facts the screens,
anchors and caps need (alive flag, USD close, USD market cap, ADTV over the rulebook's window,
history length, stale sessions, last price date) as ``(cut-offs x listings)`` arrays. Row ``k``
reads only market rows on or before cut-off ``k``: every quantity is a prefix scan (forward fill,
cumulative sum, last valid position) read at the cut-off's row, so data after a cut-off cannot
change its row. Row ``k`` equals ``market.snapshot(cutoffs[k], window)`` bit for bit
(:meth:`FeaturePanel.snapshot` gives it in that layout).

It reads only the public frames of :class:`~exchina_index.data.market.MarketData` (``close``,
``volume``, ``shares``, ``fx``, ``currency``, ``exchange``, ``delisted``). ``volume_known`` says per
cut-off whether the data held any volume by then: a prices-only market has none, so the screens know
its NaN ADTV means "no volume in the data" rather than "this listing has none".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.rules.calendar import MIC_CALENDAR, sessions

__all__ = ["FeaturePanel", "feature_panel"]


@dataclass(frozen=True, eq=False)
class FeaturePanel:
    """Per-cut-off market facts of every listing; arrays are ``(K cut-offs, N listings)``.

    Attributes
    ----------
    cutoffs
        The review cut-offs (rows).
    tickers
        The listings (columns), in the market's order.
    window
        ADTV window in the listing's own priced sessions.
    alive
        Inside the listing's life at the cut-off.
    close_usd, market_cap_usd
        USD close carried forward and full USD market cap (NaN when not alive or unknown).
    adtv_usd
        Average daily traded value over the last ``window`` priced sessions (NaN without volume).
    history_sessions
        Valid closes up to the cut-off.
    stale_sessions
        Own-exchange sessions after the last close (NaN without any close).
    last_price_date
        Date of the last valid close (NaT without any).
    volume_known
        (K,) whether any listing had a known volume on or before each cut-off: without one, the data
        holds no volume as of that review (prices only) and every ADTV is NaN. Decided per cut-off, so
        data added after a cut-off cannot change how that review screens.
    """

    cutoffs: pd.DatetimeIndex
    tickers: pd.Index
    window: int
    alive: np.ndarray
    close_usd: np.ndarray
    market_cap_usd: np.ndarray
    adtv_usd: np.ndarray
    history_sessions: np.ndarray
    stale_sessions: np.ndarray
    last_price_date: np.ndarray
    volume_known: np.ndarray

    def row(self, name: str, k: int, columns: np.ndarray) -> np.ndarray:
        """Field ``name`` at cut-off ``k`` as floats for the listings at positions ``columns``
        (NaN where a position is -1: a listing without market data)."""
        values = getattr(self, name)[k].astype(float)
        return np.where(columns >= 0, values[np.maximum(columns, 0)], np.nan)

    def snapshot(self, k: int) -> pd.DataFrame:
        """Row ``k`` in the layout of :meth:`MarketData.snapshot <exchina_index.data.market.MarketData.snapshot>`."""
        return pd.DataFrame(
            {
                "alive": self.alive[k],
                "close_usd": self.close_usd[k],
                "market_cap_usd": self.market_cap_usd[k],
                "adtv_usd": self.adtv_usd[k],
                "history_sessions": self.history_sessions[k],
                "stale_sessions": self.stale_sessions[k],
                "last_price_date": self.last_price_date[k],
            },
            index=self.tickers,
        )


def feature_panel(market: Any, cutoffs: Any, window: int = 63) -> FeaturePanel:
    """The :class:`FeaturePanel` of ``market`` at ``cutoffs`` (one row per cut-off, in order given).

    Parameters
    ----------
    market
        A :class:`~exchina_index.data.market.MarketData`.
    cutoffs
        Review cut-offs (anything :class:`pandas.DatetimeIndex` accepts).
    window
        ADTV window in priced sessions (the rulebook's ``liquidity.adtv_window_sessions``).

    Examples
    --------
    >>> import exchina_index as xi
    >>> m = xi.load_market_data(xi.load_universe())
    >>> p = feature_panel(m, ["2024-06-14", "2025-11-28"])
    >>> p.snapshot(1).equals(m.snapshot("2025-11-28"))
    True
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        from exchina_index.errors import InputError

        raise InputError(f"window must be a whole number of sessions >= 1, got {window!r}")
    cut = pd.DatetimeIndex(cutoffs)
    dates = market.close.index
    close = market.close.to_numpy()
    valid = ~np.isnan(close)
    rows = dates.searchsorted(cut, side="right") - 1
    before = rows < 0  # a cut-off before the data: nothing is known
    at = np.maximum(rows, 0)
    fx = market.fx[market.currency.to_numpy()].to_numpy()

    alive = _alive(market, valid, at, cut) & ~before[:, None]
    last_pos = _last_valid(valid)[at]
    shares = market.shares.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        usd = np.where(alive, _carried(close, last_pos) * fx[at], np.nan)
        cap = usd * _carried(shares, _last_valid(~np.isnan(shares))[at])
    n_valid = _running_count(valid)
    history = np.where(before[:, None], 0, n_valid[at]).astype("int64")
    adtv = _adtv(close, valid, market.volume.to_numpy(), fx, n_valid, at, int(window))
    adtv = np.where(before[:, None], np.nan, adtv)
    has = (last_pos >= 0) & ~before[:, None]
    date_values = dates.to_numpy()
    last = np.where(has, date_values[np.maximum(last_pos, 0)], np.datetime64("NaT")).astype(date_values.dtype)
    stale = _stale(market, cut, last, has)
    return FeaturePanel(
        cutoffs=cut,
        tickers=market.close.columns,
        window=int(window),
        alive=alive,
        close_usd=usd,
        market_cap_usd=cap,
        adtv_usd=adtv,
        history_sessions=history,
        stale_sessions=stale,
        last_price_date=last,
        volume_known=_any_known_by(market.volume.to_numpy(), at) & ~before,
    )


def _any_known_by(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(K,) whether any value of ``values`` (T, N) is known on or before each row of ``at``."""
    known = np.logical_or.accumulate(~np.isnan(values).all(axis=1)) if len(values) else np.zeros(0, dtype=bool)
    return known[at] if len(known) else np.zeros(len(at), dtype=bool)


def _last_valid(valid: np.ndarray) -> np.ndarray:
    """(T, N) row of the last valid value on or before each row (-1 when none); int32, for speed, as in
    :func:`_running_count`."""
    pos = np.where(valid, np.arange(valid.shape[0], dtype=np.int32)[:, None], np.int32(-1))
    return np.maximum.accumulate(pos, axis=0)


def _running_count(flags: np.ndarray) -> np.ndarray:
    """(T, N) number of True flags on or before each row, as int32 (a count of sessions fits): numpy
    accumulates it about twice as fast as the default int64."""
    return np.cumsum(flags, axis=0, dtype=np.int32)


def _carried(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``values`` forward-filled: the value at the rows ``pos`` of :func:`_last_valid` (NaN for -1)."""
    out = np.take_along_axis(values, np.maximum(pos, 0), axis=0)
    return np.where(pos >= 0, out, np.nan)


def _alive(market: Any, valid: np.ndarray, at: np.ndarray, cut: pd.DatetimeIndex) -> np.ndarray:
    """Inside the life at each cut-off: on or after the first price, and on or before the last one
    unless not yet delisted at the cut-off (an open-ended life)."""
    T = valid.shape[0]
    has = valid.any(axis=0)
    first = np.where(has, valid.argmax(axis=0), T)
    last = np.where(has, T - 1 - valid[::-1].argmax(axis=0), -1)
    d = market.delisted.to_numpy()
    open_ended = np.isnat(d)[None, :] | (d[None, :] > cut.to_numpy()[:, None])
    r = at[:, None]
    return (r >= first[None, :]) & ((r <= last[None, :]) | open_ended)


def _adtv(
    close: np.ndarray,
    valid: np.ndarray,
    volume: np.ndarray,
    fx: np.ndarray,
    n_valid: np.ndarray,
    at: np.ndarray,
    window: int,
) -> np.ndarray:
    """Mean known USD traded value over each listing's last ``window`` priced sessions at the rows ``at``.

    Running sums over all rows (unpriced rows and unknown volumes add an exact 0.0) read at the
    cut-off row and at the row of the first priced session left out of the window.
    """
    # in place: each (T, N) temporary costs a full pass over memory
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tv = close * volume
        tv *= fx
    known = ~np.isnan(tv)
    known &= valid
    tv[~known] = 0.0
    total_sum = np.cumsum(tv, axis=0, out=tv)
    known_count = _running_count(known)
    T, N = valid.shape
    n = n_valid[at]
    k0 = np.maximum(n - window, 0)
    # row of each listing's k0-th priced session: one search over the columns laid end to end
    # (each column's running count is non-decreasing, offset by column * (T + 1))
    offset = np.arange(N) * (T + 1)
    flat = (n_valid + offset[None, :]).T.ravel()
    pos = np.searchsorted(flat, (k0 + offset[None, :]).ravel(), side="left").reshape(k0.shape) - np.arange(N) * T
    pos = np.clip(pos, 0, T - 1)
    cols = np.arange(N)[None, :]
    head_sum = np.where(k0 > 0, total_sum[pos, cols], 0.0)
    head_count = np.where(k0 > 0, known_count[pos, cols], 0)
    count = (known_count[at] - head_count).astype(float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        total = total_sum[at] - head_sum
        return np.where((count > 0) & (n >= 1), total / count, np.nan)


def _stale(market: Any, cut: pd.DatetimeIndex, last: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Own-exchange sessions after the last close up to each cut-off (NaN without a close)."""
    out = np.full(last.shape, np.nan)
    if not has.any():
        return out
    exch = market.exchange.to_numpy()
    dates = market.close.index
    lo = min(dates[0], pd.Timestamp(last[has].min()))
    hi = max(dates[-1], cut.max())
    a = cut.to_numpy()
    for mic in np.unique(exch):
        members = exch == mic
        days = sessions(mic, lo, hi).to_numpy() if mic in MIC_CALENDAR else dates.to_numpy()
        upto = np.searchsorted(days, a, side="right")[:, None]
        after_last = np.searchsorted(days, last[:, members], side="right")
        out[:, members] = np.where(has[:, members], np.maximum(upto - after_last, 0), np.nan)
    return out
