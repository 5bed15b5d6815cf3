"""``MarketData``: the one clean, point-in-time market the rest of the package reads.

Raw frames (all ``float64``, index = sorted tz-naive ``DatetimeIndex`` named ``date`` holding the
union of every listing's sessions, columns = tickers sorted):

``close``      local-currency close, split-adjusted (not dividend-adjusted); GBp lines already in
               GBP. NaN where the listing had no session or is outside its life.
``dividends``  cash dividend per share on its ex-date, in the same currency units; 0.0 where none.
``volume``     shares traded; NaN where unknown.
``shares``     shares outstanding, as-of values (a value holds until the next one); NaN where unknown.
``fx``         date x currency: USD per one unit of the currency (``USD`` = 1.0), already carried
               forward to every market date from the last quote on or before it.

Conventions every view follows
------------------------------
Life of a listing
    From its first valid close to its last valid close when it has a ``delisted`` date on or
    before ``as_of``; otherwise from its first valid close to ``as_of`` (a listing that is still
    listed is alive even when it has not traded lately: the stale-price screen handles that).
    ``delisted`` is the first date the listing no longer trades: closes dated on or after it are
    dropped at construction (with a note). ``listed_since`` is the first date whose prices count.
Forward-fill
    Inside the life only. A day the listing had no session carries its last local close; its USD
    value uses that day's FX rate. Never before the first valid price or after the life ends.
Point in time
    Every view takes ``as_of``: rows dated after it are not returned and never read, so changing
    any value after ``as_of`` leaves the view unchanged. ``as_of=None`` means the last date.
Returns
    USD daily returns on the market calendar: ``close_usd[t] / close_usd[t-1] - 1``. On a day the
    listing had no session inside its life the local price is carried, so the return is 0.0 for a
    USD listing and only the FX move otherwise (index providers value a closed market at its last
    price and the day's FX rate; compounded daily returns equal the ratio of USD closes). The
    total return adds ``dividend * fx / close_usd[t-1]`` on the ex-date. NaN on the first day of
    the life (no previous close) and outside the life.
Market cap
    ``close_usd * shares`` with shares carried forward from the last known count. Where no share
    count is known yet the market cap is NaN (never back-filled from a later count, never zero).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import numbers
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

import numpy as np
import pandas as pd

from exchina_index.rules.calendar import MIC_CALENDAR, extrapolation_notes, sessions
from exchina_index.dates import parse_date
from exchina_index.errors import short_repr, DataError, InputError
from exchina_index.rules.methodology import MAX_SESSIONS
from exchina_index.universe.loading import PRICE_UNITS as _UNIVERSE_PRICE_UNITS

__all__ = ["MarketData", "PRICE_UNITS"]

#: Quote units that are a fraction of the ISO currency: unit -> (currency, divisor) (from the universe module).
PRICE_UNITS: dict[str, tuple[str, int]] = _UNIVERSE_PRICE_UNITS

_UNIT = "us"
#: Views compute with IEEE semantics: an absurd value (a close of 1e300) gives inf or NaN in its own
#: listing's figures, never a warning or an error that would stop a review over other listings.
_IEEE = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _sessions_arg(value: Any, name: str) -> int:
    """A session count argument: a whole number from 1 to MAX_SESSIONS (InputError otherwise)."""
    if type(value) is int and 1 <= value <= MAX_SESSIONS:  # the package's own calls: no more checks
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= int(value) <= MAX_SESSIONS:
        raise InputError(f"{name} must be a whole number of sessions from 1 to {MAX_SESSIONS}, got {short_repr(value)}")
    return int(value)


def _ts(value: Any) -> pd.Timestamp:
    if isinstance(value, pd.Timestamp) and value.tzinfo is None and value is not pd.NaT:
        return value  # the package's own dates: no parsing on the hot path
    return parse_date(value, "as_of")


def _frame_of(universe: Any) -> pd.DataFrame:
    """The universe DataFrame of a :class:`~exchina_index.universe.loading.Universe` (or the frame itself)."""
    return universe.frame if hasattr(universe, "frame") else universe


def _clean(frame: Any, name: str) -> pd.DataFrame:
    """A user frame with tz-naive dates, string tickers, no duplicated dates and numeric values."""
    f = _as_frame(frame, name)
    f = f.set_axis(_naive_dates(f.index, name), axis=0)
    f.columns = pd.Index([str(c) for c in f.columns])
    if f.index.has_duplicates:
        _raise_duplicate(f, name)
    return _numeric(f, name)


@dataclass(frozen=True, eq=False, kw_only=True)
class MarketData:
    """Prices, dividends, volumes, share counts and FX rates of a universe, validated and aligned.

    Build it with :meth:`from_frames` (which applies the universe's price units and listing dates)
    or directly with keyword arguments (frames already in currency units). Construction validates
    and canonicalises: duplicated dates, non-positive prices, negative volumes or dividends,
    non-positive share counts or FX rates, a currency without an FX column, or a listing with a
    price on a date without an FX rate raise :class:`~exchina_index.errors.DataError` naming the
    ticker, date and what to do. Nothing is filled with zeros except ``dividends`` (no dividend).

    The frames are read-only (their arrays refuse writes); copy them to modify. See the module
    docstring for the life, forward-fill, return and market-cap conventions.

    Attributes
    ----------
    close, dividends, volume, shares : pandas.DataFrame
        date x ticker, float64 (see the module docstring).
    fx : pandas.DataFrame
        date x currency, USD per unit, on the same dates as ``close``.
    currency : pandas.Series
        ticker -> ISO 4217 currency of ``close`` and ``dividends``.
    exchange : pandas.Series
        ticker -> exchange MIC (``""`` when unknown); used for stale-price session counts.
    delisted : pandas.Series
        ticker -> first date the listing no longer trades (``NaT`` when listed).
    source : str
        ``"demo"``, ``"yahoo"``, ``"csv:<path>"``...
    synthetic : bool
        True for generated data; every report made from it must say so.
    notes : tuple of str
        Repairs and log lines from loading (dropped rows, missing listings...), then one line per
        exchange calendar whose sessions over the data's dates are extrapolated as weekdays
        (:func:`exchina_index.rules.calendar.extrapolation_notes`; recomputed by :meth:`truncate`).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.to_datetime(["2025-01-02", "2025-01-03"])
    >>> m = MarketData(
    ...     close=pd.DataFrame({"A.L": [2.0, 2.2]}, index=idx),
    ...     fx=pd.DataFrame({"GBP": [1.25, 1.30]}, index=idx),
    ...     currency=pd.Series({"A.L": "GBP"}))
    >>> m.close_usd()["A.L"].round(4).tolist()
    [2.5, 2.86]
    """

    close: pd.DataFrame
    fx: pd.DataFrame
    currency: pd.Series
    dividends: pd.DataFrame | None = None
    volume: pd.DataFrame | None = None
    shares: pd.DataFrame | None = None
    exchange: pd.Series | None = None
    delisted: pd.Series | None = None
    source: str = "unknown"
    synthetic: bool = False
    notes: tuple[str, ...] = ()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_frames(
        cls,
        universe: Any,
        close: pd.DataFrame,
        *,
        fx: pd.DataFrame | None = None,
        dividends: pd.DataFrame | None = None,
        volume: pd.DataFrame | None = None,
        shares: pd.DataFrame | None = None,
        source: str = "unknown",
        synthetic: bool = False,
        notes: Iterable[str] = (),
    ) -> MarketData:
        """Build from raw frames quoted in the universe's price units.

        Parameters
        ----------
        universe
            A :class:`~exchina_index.universe.loading.Universe` (only ``.frame`` is read) or its frame:
            ``currency``, ``price_unit``, ``exchange``, ``listed_since``, ``delisted`` are used.
        close
            date x ticker closes in ``price_unit`` (pence for ``GBp`` lines); the index may be
            tz-aware (the local calendar date is kept). Tickers must be in the universe; universe
            listings without a column get an all-NaN column and a note.
        fx
            date x currency, USD per unit (dates may differ from ``close``: the last quote on or
            before each market date is used). ``None`` is allowed when every listing is in USD.
        dividends, volume, shares
            Optional, same layout as ``close``; dividends in ``price_unit`` too. ``shares`` may
            have its own (as-of) dates.
        source, synthetic, notes
            Provenance recorded on the result.

        Returns
        -------
        MarketData
            Closes and dividends divided by 100 for ``GBp``/``GBX``/``ZAc`` lines; rows before
            ``listed_since`` or on/after ``delisted`` dropped (one note per listing).

        Raises
        ------
        DataError
            A ticker that is not in the universe, or any problem listed in :class:`MarketData`.
        """
        uni = _frame_of(universe)
        notes = list(notes)
        close = _as_frame(close, "close")
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
        index = _naive_dates(close.index, "close")
        close = close.set_axis(index, axis=0)
        frames = {"dividends": dividends, "volume": volume}
        for key, f in list(frames.items()):
            if f is not None:
                f = _as_frame(f, key)
                frames[key] = f.set_axis(_naive_dates(f.index, key), axis=0)
        close = close.reindex(columns=tickers)
        divisor = pd.Series(
            [PRICE_UNITS.get(str(u), (None, 1))[1] for u in uni.loc[tickers, "price_unit"]], index=tickers, dtype=float
        )
        close = _numeric(close, "close") / divisor
        if frames["dividends"] is not None:
            frames["dividends"] = _numeric(frames["dividends"].reindex(columns=tickers), "dividends") / divisor
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
            shares = _as_frame(shares, "shares")
            shares = shares.set_axis(_naive_dates(shares.index, "shares"), axis=0).reindex(columns=tickers)
        if fx is None:
            fx = pd.DataFrame({"USD": 1.0}, index=close.index)
        else:
            fx = _as_frame(fx, "fx")
            fx = fx.set_axis(_naive_dates(fx.index, "fx"), axis=0)
        get = uni.loc[tickers]
        return cls(
            close=close,
            fx=fx,
            currency=get["currency"].astype(str),
            dividends=frames["dividends"],
            volume=frames["volume"],
            shares=shares,
            exchange=get["exchange"].astype(str) if "exchange" in get else None,
            delisted=pd.to_datetime(get["delisted"]) if "delisted" in get else None,
            source=source,
            synthetic=synthetic,
            notes=tuple(notes),
        )

    def __post_init__(self) -> None:
        notes = list(self.notes)
        close = _as_frame(self.close, "close")
        index = _naive_dates(close.index, "close")
        close = close.set_axis(index, axis=0)
        close.columns = pd.Index([str(c) for c in close.columns])
        if close.columns.has_duplicates:
            dup = close.columns[close.columns.duplicated()][0]
            raise DataError(f"ticker '{dup}' appears twice in close; keep one column per ticker")
        if index.has_duplicates:
            _raise_duplicate(close)
        close = _numeric(close, "close")
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

        currency = _series(self.currency, "currency", tickers, required=True).astype(str)
        exchange = _series(self.exchange, "exchange", tickers).fillna("").astype(str) if self.exchange is not None \
            else pd.Series("", index=tickers, dtype=str)
        delisted = pd.to_datetime(_series(self.delisted, "delisted", tickers)) if self.delisted is not None \
            else pd.Series(pd.NaT, index=tickers, dtype=f"datetime64[{_UNIT}]")
        delisted = delisted.astype(f"datetime64[{_UNIT}]")

        # prices on or after the delisting date are dropped; ``cut[i]`` = first row dropped
        cut = np.full(len(tickers), len(index))
        has_d = delisted.notna().to_numpy()
        if has_d.any():
            cut[has_d] = index.searchsorted(delisted.to_numpy()[has_d], side="left")
            for c in np.flatnonzero(cut < len(index)):
                n = int((~np.isnan(values[cut[c]:, c])).sum())
                if n:
                    notes.append(f"{tickers[c]}: dropped {n} price row(s) on or after delisted {delisted.iloc[c].date()}")
                    values[cut[c]:, c] = np.nan

        valid = ~np.isnan(values)
        has_price = valid.any(axis=0)
        first = np.where(has_price, valid.argmax(axis=0), len(index))
        last = np.where(has_price, len(index) - 1 - valid[::-1].argmax(axis=0), -1)

        divs = self._aligned(self.dividends, "dividends", index, tickers)
        if divs is None:
            divs = np.zeros(values.shape)
        else:
            if (divs < 0).any():
                r, c = np.argwhere(divs < 0)[0]
                raise DataError(f"{tickers[c]} has a negative dividend ({divs[r, c]!r}) on {index[r].date()}; fix it")
            divs = np.nan_to_num(divs, nan=0.0, copy=False)  # NaN = no dividend that day
            r, c = np.nonzero(divs)
            outside = (r < first[c]) | (r > last[c])
            for col in np.unique(c[outside]):
                notes.append(f"{tickers[col]}: dropped {int((c[outside] == col).sum())} dividend(s) outside its price history")
            divs[r[outside], c[outside]] = 0.0

        vol = self._aligned(self.volume, "volume", index, tickers)
        if vol is None:
            vol = np.full(values.shape, np.nan)
        elif (vol < 0).any():
            r, c = np.argwhere(vol < 0)[0]
            raise DataError(f"{tickers[c]} has a negative volume ({vol[r, c]!r}) on {index[r].date()}; fix it")
        for c in np.flatnonzero(cut < len(index)):
            vol[cut[c]:, c] = np.nan

        shares = self._asof(self.shares, "shares", index, tickers)
        if shares is None:
            shares = np.full(values.shape, np.nan)
        elif (shares <= 0).any():
            r, c = np.argwhere(shares <= 0)[0]
            raise DataError(
                f"{tickers[c]} has a non-positive share count ({shares[r, c]!r}) on {index[r].date()}; "
                "leave it empty when unknown"
            )

        fx = _as_frame(self.fx, "fx")
        fx = fx.set_axis(_naive_dates(fx.index, "fx"), axis=0)
        fx.columns = pd.Index([str(c) for c in fx.columns])
        if fx.index.has_duplicates:
            d = fx.index[fx.index.duplicated()][0]
            raise DataError(f"fx has two rows for {d.date()}; keep one rate per date")
        fx = _numeric(fx, "fx").sort_index()
        if (fx.to_numpy() <= 0).any():
            r, c = np.argwhere(fx.to_numpy() <= 0)[0]
            raise DataError(f"fx rate for {fx.columns[c]} on {fx.index[r].date()} is not positive; fix it")
        if "USD" in fx.columns and not np.allclose(fx["USD"].dropna(), 1.0):
            raise DataError("fx column USD must be 1.0 (rates are USD per one unit of the currency)")
        fx = fx.drop(columns="USD", errors="ignore")
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

        idx = pd.DatetimeIndex(index, name="date")
        cols = pd.Index(list(tickers), name="ticker", dtype=str)
        set_ = functools.partial(object.__setattr__, self)
        set_("close", _readonly_frame(values, idx, cols))
        set_("dividends", _readonly_frame(divs, idx, cols))
        set_("volume", _readonly_frame(vol, idx, cols))
        set_("shares", _readonly_frame(shares, idx, cols))
        set_("fx", _readonly_frame(fx.to_numpy(dtype=float), idx, pd.Index(list(fx.columns), name="currency", dtype=str)))
        set_("currency", currency.rename("currency").rename_axis("ticker"))
        set_("exchange", exchange.rename("exchange").rename_axis("ticker"))
        set_("delisted", delisted.rename("delisted").rename_axis("ticker"))
        set_("source", str(self.source))
        set_("synthetic", bool(self.synthetic))
        calendar_notes = self._calendar_notes
        set_("notes", tuple(notes) + tuple(n for n in calendar_notes if n not in notes))

    @staticmethod
    def _aligned(frame: pd.DataFrame | None, name: str, index: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray | None:
        if frame is None:
            return None
        f = _clean(frame, name)
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

    @staticmethod
    def _asof(frame: pd.DataFrame | None, name: str, index: pd.DatetimeIndex, tickers: pd.Index) -> np.ndarray | None:
        """Values known at each market date: the last value dated on or before it."""
        if frame is None:
            return None
        f = _clean(frame, name).sort_index().reindex(columns=tickers)
        if not f.index.equals(index):
            f = f.reindex(f.index.union(index)).ffill().reindex(index)
        return f.to_numpy(dtype=float, copy=True)

    # ------------------------------------------------------------------ basics

    def __repr__(self) -> str:
        label = ", SYNTHETIC" if self.synthetic else ""
        span = f"{self.start.date()}..{self.end.date()}" if len(self.close) else "empty"
        return f"MarketData({self.close.shape[1]} listings, {len(self.close)} dates {span}, source={self.source!r}{label})"

    @property
    def tickers(self) -> list[str]:
        """The listings (columns of every frame), sorted."""
        return list(self.close.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The market dates (union of every listing's sessions)."""
        return self.close.index

    @property
    def start(self) -> pd.Timestamp:
        """First market date."""
        return self.close.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """Last market date."""
        return self.close.index[-1]

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the data: dates, tickers, currencies, listing dates and every value.

        Stable across processes and machines (NaN is hashed in one canonical form).
        """
        h = hashlib.sha256()
        h.update(f"source={self.source};synthetic={self.synthetic};".encode())
        days = self.close.index.to_numpy().astype("datetime64[D]").astype("<i8")
        h.update(days.tobytes())
        for name in ("currency", "exchange"):
            h.update(("|".join(f"{k}={v}" for k, v in getattr(self, name).items()) + ";").encode())
        h.update(("|".join("" if pd.isna(v) else v.date().isoformat() for v in self.delisted) + ";").encode())
        for name in ("close", "dividends", "volume", "shares", "fx"):
            f = getattr(self, name)
            h.update(f"{name}:{'|'.join(f.columns)};".encode())
            a = np.ascontiguousarray(f.to_numpy(dtype="<f8"))
            h.update(np.where(np.isnan(a), np.nan, a).astype("<f8").tobytes())
        return h.hexdigest()

    def _row(self, as_of: Any) -> int:
        """Position of the last market date on or before ``as_of`` (-1 when none)."""
        if as_of is None:
            return len(self.close.index) - 1
        return int(self.close.index.searchsorted(_ts(as_of), side="right")) - 1

    def _frame(self, values: np.ndarray, columns: pd.Index | None = None) -> pd.DataFrame:
        n = values.shape[0]
        return pd.DataFrame(values, index=self.close.index[:n], columns=self.close.columns if columns is None else columns)

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
            return _readonly(local * self._fx_t)

    @functools.cached_property
    def _ret_base(self) -> tuple[np.ndarray, np.ndarray]:
        """(price return, dividend yield) from the carried USD closes, before life masking."""
        v = self._usd_ffill
        prev = np.vstack([np.full((1, v.shape[1]), np.nan), v[:-1]])
        with np.errstate(**_IEEE):
            price = v / prev - 1.0
            dy = self.dividends.to_numpy() * self._fx_t / prev
        return _readonly(price), _readonly(dy)

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
        return _readonly(n_valid), _readonly(csum), _readonly(ccount)

    def _life_mask(self, r: int, as_of: pd.Timestamp | None) -> np.ndarray:
        """alive[t, i] for rows 0..r as seen at ``as_of``."""
        rows = np.arange(r + 1)[:, None]
        d = self.delisted.to_numpy()
        a = self.close.index[r] if as_of is None else as_of
        open_ended = np.isnat(d) | (d > np.datetime64(a))
        return (rows >= self._first[None, :]) & ((rows <= self._last[None, :]) | open_ended[None, :])

    def _prep(self, as_of: Any) -> tuple[int, np.ndarray]:
        r = self._row(as_of)
        a = None if as_of is None else _ts(as_of)
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
        return _readonly(self.shares.ffill().to_numpy())

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
        a = np.datetime64(self.end if as_of is None else _ts(as_of))
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
            a = self.close.index[r] if as_of is None else _ts(as_of)
            open_ended = np.isnat(d) | (d > np.datetime64(a))
            alive = (r >= self._first) & ((r <= self._last) | open_ended)
            usd = np.where(alive, self._usd_ffill[r], np.nan)
            with np.errstate(**_IEEE):
                cap = usd * self._shares_ffill[r]
        return pd.DataFrame({
            "alive": alive,
            "close_usd": usd,
            "market_cap_usd": cap,
            "adtv_usd": self.adtv_usd(as_of, window).to_numpy(),
            "history_sessions": self.history_sessions(as_of).to_numpy(),
            "stale_sessions": self.stale_sessions(as_of).to_numpy(),
            "last_price_date": self.last_price_date(as_of).to_numpy(),
        }, index=cols)

    # ------------------------------------------------------------------ copies

    def truncate(self, as_of: Any = None, *, start: Any = None) -> MarketData:
        """A point-in-time copy holding only dates in [start, as_of] (both optional).

        Listing lives are recomputed on the kept dates, so a view of the copy at ``as_of`` equals the
        same view of the original at ``as_of`` (for dates on or after ``start``).
        """
        idx = self.close.index
        lo = 0 if start is None else int(idx.searchsorted(_ts(start), side="left"))
        hi = self._row(as_of) + 1
        if hi <= lo:
            raise DataError(f"truncate: no market date in [{'...' if start is None else _ts(start).date()}, "
                            f"{'...' if as_of is None else _ts(as_of).date()}]; the data runs from "
                            f"{idx[0].date()} to {idx[-1].date()}")

        def cut(f: pd.DataFrame) -> pd.DataFrame:
            return f.iloc[lo:hi].copy()

        # shares are as-of values: keep the count known on the first kept date
        shares = self.shares.ffill().iloc[lo:hi].copy() if lo > 0 else cut(self.shares)
        return MarketData(
            close=cut(self.close), fx=cut(self.fx), currency=self.currency, dividends=cut(self.dividends),
            volume=cut(self.volume), shares=shares, exchange=self.exchange, delisted=self.delisted,
            source=self.source, synthetic=self.synthetic,
            notes=tuple(n for n in self.notes if n not in self._calendar_notes),  # the copy adds its own
        )

    def with_notes(self, *notes: str) -> MarketData:
        """The same data with more notes appended (the frames are shared, not copied)."""
        new = object.__new__(MarketData)
        for f in dataclasses.fields(self):
            object.__setattr__(new, f.name, getattr(self, f.name))
        object.__setattr__(new, "notes", self.notes + tuple(notes))
        return new


# --- helpers --------------------------------------------------------------------------------------


def _as_frame(frame: Any, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{name} must be a pandas DataFrame (date x ticker), got {type(frame).__name__}")
    return frame


def _naive_dates(index: pd.Index, name: str) -> pd.DatetimeIndex:
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
    days = index.to_numpy().astype("datetime64[D]").astype(f"datetime64[{_UNIT}]")
    return pd.DatetimeIndex(days, name="date")


def _numeric(frame: pd.DataFrame, name: str) -> pd.DataFrame:
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
        notes.append(f"{shown}: {who} identical prices for these {len(names)} listings (every date and close); "
                     "one symbol or file may be answering for another: check them")
    return notes


def _raise_duplicate(frame: pd.DataFrame, name: str = "close") -> None:
    dup = frame.index[frame.index.duplicated(keep=False)]
    d = dup[0]
    rows = frame[frame.index == d]
    with_values = [str(c) for c in rows.columns if rows[c].notna().any()]
    who = ", ".join(with_values[:5]) + (" ..." if len(with_values) > 5 else "") if with_values else "all tickers"
    raise DataError(
        f"{name} has the date {pd.Timestamp(d).date()} more than once (ticker {who}); keep one row per date"
    )


def _series(s: Any, name: str, tickers: pd.Index, *, required: bool = False) -> pd.Series:
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


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _readonly_frame(values: np.ndarray, index: pd.Index, columns: pd.Index) -> pd.DataFrame:
    values = np.asarray(values, dtype=np.float64)
    values.flags.writeable = False
    return pd.DataFrame(values, index=index, columns=columns, copy=False)
