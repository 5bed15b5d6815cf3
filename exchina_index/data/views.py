"""The point-in-time views of :class:`~exchina_index.data.market.MarketData` (its base class).

Every view takes ``as_of`` and reads only rows dated on or before it; the full-range arrays behind
them (USD closes carried forward, return bases, traded-value sums) are computed once per market
and cached. The conventions (life of a listing, forward-fill, returns, market cap) are in
:mod:`exchina_index.data.market`.

:attr:`MarketViews.facts` says which kinds of data the market holds at all (closes always; volumes
and share counts only when some value is known), so the screens can tell "this data has no volume"
(skip the liquidity screens, with a note) from "this listing's volume is missing" (``NO_DATA``).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Literal

import numpy as np
import pandas as pd

from exchina_index.data.frames import readonly
from exchina_index.dates import parse_date
from exchina_index.errors import InputError, short_repr
from exchina_index.rules.calendar import MIC_CALENDAR, extrapolation_notes, sessions
from exchina_index.rules.methodology import MAX_SESSIONS

__all__ = ["MarketViews", "as_of_date", "FACTS"]

#: The kinds of data a market can hold (:attr:`MarketViews.facts`); closes are always there.
FACTS: tuple[str, ...] = ("close", "volume", "shares")

#: Views compute with IEEE semantics: an absurd value (a close of 1e300) gives inf or NaN in its own
#: listing's figures, never a warning or an error that would stop a review over other listings.
_IEEE: dict[str, Any] = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _sessions_arg(value: Any, name: str) -> int:
    """A session count argument: a whole number from 1 to MAX_SESSIONS (InputError otherwise)."""
    if type(value) is int and 1 <= value <= MAX_SESSIONS:  # the package's own calls: no more checks
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= MAX_SESSIONS:
        raise InputError(f"{name} must be a whole number of sessions from 1 to {MAX_SESSIONS}, got {short_repr(value)}")
    return int(value)


def as_of_date(value: Any) -> pd.Timestamp:
    """``value`` as a tz-naive Timestamp (parsed, or a ReviewDateError, unless it is one already)."""
    if isinstance(value, pd.Timestamp) and value.tzinfo is None and value is not pd.NaT:
        return value  # the package's own dates: no parsing on the hot path
    return parse_date(value, "as_of")


class MarketViews:
    """Views and cached arrays over the validated frames of a MarketData (see its docstring)."""

    close: pd.DataFrame
    fx: pd.DataFrame
    currency: pd.Series
    dividends: pd.DataFrame
    volume: pd.DataFrame
    shares: pd.DataFrame
    exchange: pd.Series
    delisted: pd.Series

    @property
    def start(self) -> pd.Timestamp:
        """First market date."""
        return self.close.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """Last market date."""
        return self.close.index[-1]

    def _row(self, as_of: Any) -> int:
        """Position of the last market date on or before ``as_of`` (-1 when none)."""
        if as_of is None:
            return len(self.close.index) - 1
        return int(self.close.index.searchsorted(as_of_date(as_of), side="right")) - 1

    def _frame(self, values: np.ndarray, columns: pd.Index | None = None) -> pd.DataFrame:
        n = values.shape[0]
        cols = self.close.columns if columns is None else columns
        return pd.DataFrame(values, index=self.close.index[:n], columns=cols, copy=False)  # values are fresh

    @functools.cached_property
    def facts(self) -> frozenset[str]:
        """The kinds of data held (from :data:`FACTS`): ``close`` always, ``volume`` when any listing
        has a known volume, ``shares`` when any listing has a known share count.

        A market without ``volume`` (prices only) has no ADTV: the review skips the ADTV screens and
        the liquidity caps instead of screening every name ``NO_DATA``. Without ``shares`` no market
        cap is known (see :meth:`MarketData.from_frames <exchina_index.data.market.MarketData.from_frames>`
        for share counts taken from the universe's reference history).
        """
        known = {"close"}
        if not np.isnan(self.volume.to_numpy()).all():
            known.add("volume")
        if not np.isnan(self.shares.to_numpy()).all():
            known.add("shares")
        return frozenset(known)

    # ------------------------------------------------------------------ cached full-range arrays

    @functools.cached_property
    def _calendar_notes(self) -> tuple[str, ...]:
        """Notes on the calendars extrapolated with weekdays over the data's dates (see :meth:`stale_sessions`)."""
        if not len(self.close.index):
            return ()
        return tuple(extrapolation_notes(np.unique(self.exchange.to_numpy()), self.start, self.end))

    @functools.cached_property
    def _valid(self) -> np.ndarray:
        return ~np.isnan(self.close.to_numpy())

    @functools.cached_property
    def _first(self) -> np.ndarray:
        v = self._valid
        return np.where(v.any(axis=0), v.argmax(axis=0), len(v))

    @functools.cached_property
    def _last(self) -> np.ndarray:
        v = self._valid
        return np.where(v.any(axis=0), len(v) - 1 - v[::-1].argmax(axis=0), -1)

    @functools.cached_property
    def _fx_t(self) -> np.ndarray:
        return self.fx[self.currency.to_numpy()].to_numpy()

    @functools.cached_property
    def _usd_ffill(self) -> np.ndarray:
        """Local close carried forward from the first valid price on (no end bound) x FX."""
        local = self.close.ffill().to_numpy()
        with np.errstate(**_IEEE):
            return readonly(local * self._fx_t)

    @functools.cached_property
    def _ret_base(self) -> tuple[np.ndarray, np.ndarray]:
        """(price return, dividend yield) from the carried USD closes, before life masking."""
        v = self._usd_ffill
        prev = np.vstack([np.full((1, v.shape[1]), np.nan), v[:-1]])
        with np.errstate(**_IEEE):
            price = v / prev - 1.0
            dy = self.dividends.to_numpy() * self._fx_t / prev
        return readonly(price), readonly(dy)

    @functools.cached_property
    def _tv_compressed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-listing cumulative sums of USD traded value over its own priced sessions.

        Returns ``(n_valid, csum, ccount)``: ``n_valid[t, i]`` priced sessions up to row ``t``;
        ``csum[k, i]``/``ccount[k, i]`` sum/count of known traded values over its first ``k``
        priced sessions (row 0 is zero).
        """
        valid = self._valid
        with np.errstate(**_IEEE):
            tv = self.close.to_numpy() * self.volume.to_numpy() * self._fx_t
        order = np.argsort(~valid, axis=0, kind="stable")  # priced rows first, in date order
        comp = np.take_along_axis(tv, order, axis=0)
        comp[~np.take_along_axis(valid, order, axis=0)] = np.nan
        known = ~np.isnan(comp)
        zero = np.zeros((1, tv.shape[1]))
        with np.errstate(**_IEEE):
            csum = np.vstack([zero, np.cumsum(np.where(known, comp, 0.0), axis=0)])
        ccount = np.vstack([zero, np.cumsum(known, axis=0)])
        n_valid = np.cumsum(valid, axis=0)
        return readonly(n_valid), readonly(csum), readonly(ccount)

    def _life_mask(self, r: int, as_of: pd.Timestamp | None) -> np.ndarray:
        """alive[t, i] for rows 0..r as seen at ``as_of``."""
        rows = np.arange(r + 1)[:, None]
        d = self.delisted.to_numpy()
        a = self.close.index[r] if as_of is None else as_of
        open_ended = np.isnat(d) | (d > np.datetime64(a))
        return (rows >= self._first[None, :]) & ((rows <= self._last[None, :]) | open_ended[None, :])

    def _prep(self, as_of: Any) -> tuple[int, np.ndarray]:
        r = self._row(as_of)
        a = None if as_of is None else as_of_date(as_of)
        if r < 0:
            return r, np.zeros((0, self.close.shape[1]), dtype=bool)
        return r, self._life_mask(r, a)

    # ------------------------------------------------------------------ views

    def alive(self, as_of: Any = None) -> pd.DataFrame:
        """Whether each listing is inside its life on each date up to ``as_of`` (bool frame)."""
        _, mask = self._prep(as_of)
        return self._frame(mask)

    def close_usd(self, as_of: Any = None) -> pd.DataFrame:
        """USD closes up to ``as_of``, carried forward inside each listing's life only."""
        r, mask = self._prep(as_of)
        return self._frame(np.where(mask, self._usd_ffill[: r + 1], np.nan))

    def traded_value_usd(self, as_of: Any = None) -> pd.DataFrame:
        """USD traded value (close x volume x FX) on each listing's own sessions; NaN elsewhere."""
        r = self._row(as_of)
        with np.errstate(**_IEEE):
            tv = self.close.to_numpy()[: r + 1] * self.volume.to_numpy()[: r + 1] * self._fx_t[: r + 1]
        return self._frame(tv)

    def adtv_usd(self, as_of: Any = None, window: int = 63, *, min_sessions: int = 1) -> pd.Series:
        """Average daily traded value (USD) over each listing's own last ``window`` priced sessions.

        Parameters
        ----------
        as_of
            Cut-off; only sessions on or before it count.
        window
            Number of the listing's own sessions with a price (not calendar days, not market dates).
        min_sessions
            Fewer priced sessions than this up to ``as_of`` gives NaN. With the default (1) a young
            listing gets the mean over the sessions it has; screen its history separately
            (:meth:`history_sessions`).

        Returns
        -------
        pandas.Series
            By ticker. Sessions with a price but unknown volume are left out of the mean; NaN when
            no session in the window has a known volume. A listing whose life has ended still
            reports the ADTV of its last sessions (use :meth:`alive` to exclude it).
        """
        window = _sessions_arg(window, "window")
        r = self._row(as_of)
        n_cols = self.close.shape[1]
        if r < 0:
            return pd.Series(np.nan, index=self.close.columns, name="adtv_usd")
        n_valid, csum, ccount = self._tv_compressed
        n = n_valid[r]
        k0 = np.maximum(n - window, 0)
        cols = np.arange(n_cols)
        count = ccount[n, cols] - ccount[k0, cols]
        with np.errstate(**_IEEE):
            total = csum[n, cols] - csum[k0, cols]
            out = np.where((count > 0) & (n >= max(min_sessions, 1)), total / count, np.nan)
        return pd.Series(out, index=self.close.columns, name="adtv_usd")

    def market_cap_usd(self, as_of: Any = None) -> pd.DataFrame:
        """Full market cap in USD (``close_usd x shares``, shares carried forward; NaN when unknown)."""
        r, mask = self._prep(as_of)
        shares = self._shares_ffill[: r + 1]
        with np.errstate(**_IEEE):
            return self._frame(np.where(mask, self._usd_ffill[: r + 1] * shares, np.nan))

    @functools.cached_property
    def _shares_ffill(self) -> np.ndarray:
        return readonly(self.shares.ffill().to_numpy())

    def returns(self, kind: Literal["total", "price"] = "total", as_of: Any = None) -> pd.DataFrame:
        """USD daily returns up to ``as_of`` (FX included).

        Parameters
        ----------
        kind
            ``"price"``: ``close_usd[t] / close_usd[t-1] - 1``; ``"total"`` adds the dividend yield
            ``dividend[t] * fx[t] / close_usd[t-1]`` on the ex-date.

        Returns
        -------
        pandas.DataFrame
            date x ticker. A day without a session inside the life carries the local price (0.0
            in local terms; the FX move for non-USD listings). NaN on the first day of the life and
            outside it.
        """
        if not isinstance(kind, str) or kind not in ("total", "price"):
            raise InputError(f"kind must be 'total' or 'price', not {short_repr(kind)}")
        r, mask = self._prep(as_of)
        price, dy = self._ret_base
        ok = mask.copy()
        ok[1:] &= mask[:-1]  # the previous day must be inside the life too
        ok[:1] = False
        out = price[: r + 1] + dy[: r + 1] if kind == "total" else price[: r + 1]
        return self._frame(np.where(ok, out, np.nan))

    def dividend_yield(self, as_of: Any = None) -> pd.DataFrame:
        """``returns("total") - returns("price")`` computed directly: USD dividend over the previous USD close."""
        r, mask = self._prep(as_of)
        ok = mask.copy()
        ok[1:] &= mask[:-1]
        ok[:1] = False
        return self._frame(np.where(ok, self._ret_base[1][: r + 1], np.nan))

    def history_sessions(self, as_of: Any = None) -> pd.Series:
        """Number of dates with a valid close up to ``as_of``, by ticker."""
        r = self._row(as_of)
        if r < 0:
            return pd.Series(0, index=self.close.columns, name="history_sessions", dtype="int64")
        return pd.Series(self._tv_compressed[0][r].astype("int64"), index=self.close.columns, name="history_sessions")

    def last_price_date(self, as_of: Any = None) -> pd.Series:
        """Date of each listing's last valid close on or before ``as_of`` (NaT when none)."""
        r = self._row(as_of)
        dates = self.close.index.to_numpy()
        if r < 0:
            return pd.Series(pd.NaT, index=self.close.columns, name="last_price_date", dtype=dates.dtype)
        valid = self._valid[: r + 1]
        has = valid.any(axis=0)
        pos = r - valid[::-1].argmax(axis=0)
        out = np.where(has, dates[np.clip(pos, 0, None)], np.datetime64("NaT"))
        return pd.Series(out.astype(dates.dtype), index=self.close.columns, name="last_price_date")

    def stale_sessions(self, as_of: Any = None) -> pd.Series:
        """Sessions of each listing's own exchange after its last valid close, up to ``as_of``.

        0 when the listing has a price on the last session on or before ``as_of``; NaN when it has no
        price at all. Exchanges are read from :attr:`exchange` through
        :data:`exchina_index.rules.calendar.MIC_CALENDAR`; a listing with an unknown exchange counts market
        dates instead. Beyond what an exchange's calendar is known for, its sessions are weekdays
        (:func:`exchina_index.rules.calendar.sessions`; :attr:`notes` says so), never an error.
        """
        a = np.datetime64(self.end if as_of is None else as_of_date(as_of))
        last = self.last_price_date(as_of).to_numpy()
        out = np.full(len(last), np.nan)
        has = ~np.isnat(last)
        if has.any():
            exch = self.exchange.to_numpy()
            # one session range per exchange for every as_of inside the data: the lookup is cached
            lo = min(self.start, pd.Timestamp(last[has].min()))
            hi = max(self.end, pd.Timestamp(a))
            for mic in np.unique(exch[has]):
                members = has & (exch == mic)
                days = sessions(mic, lo, hi).to_numpy() if mic in MIC_CALENDAR else self.close.index.to_numpy()
                upto = np.searchsorted(days, a, side="right")
                after_last = np.searchsorted(days, last[members], side="right")
                out[members] = np.maximum(upto - after_last, 0)
        return pd.Series(out, index=self.close.columns, name="stale_sessions")

    def snapshot(self, as_of: Any = None, window: int = 63) -> pd.DataFrame:
        """One row per ticker with the values at ``as_of`` (cheap: no full frames are built).

        Returns
        -------
        pandas.DataFrame
            By ticker: ``alive`` (bool), ``close_usd``, ``market_cap_usd`` (NaN when not alive or
            the share count is unknown), ``adtv_usd`` (over ``window`` own sessions),
            ``history_sessions``, ``stale_sessions``, ``last_price_date``.
        """
        r = self._row(as_of)
        cols = self.close.columns
        if r < 0:
            alive = np.zeros(len(cols), dtype=bool)
            usd = cap = np.full(len(cols), np.nan)
        else:
            d = self.delisted.to_numpy()
            a = self.close.index[r] if as_of is None else as_of_date(as_of)
            open_ended = np.isnat(d) | (d > np.datetime64(a))
            alive = (r >= self._first) & ((r <= self._last) | open_ended)
            usd = np.where(alive, self._usd_ffill[r], np.nan)
            with np.errstate(**_IEEE):
                cap = usd * self._shares_ffill[r]
        return pd.DataFrame(
            {
                "alive": alive,
                "close_usd": usd,
                "market_cap_usd": cap,
                "adtv_usd": self.adtv_usd(as_of, window).to_numpy(),
                "history_sessions": self.history_sessions(as_of).to_numpy(),
                "stale_sessions": self.stale_sessions(as_of).to_numpy(),
                "last_price_date": self.last_price_date(as_of).to_numpy(),
            },
            index=cols,
        )
