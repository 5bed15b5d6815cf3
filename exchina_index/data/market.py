"""``MarketData``: the one clean, point-in-time market the rest of the package reads.

Raw frames (all ``float64``, index = sorted tz-naive ``DatetimeIndex`` named ``date`` holding the
union of every listing's sessions, columns = tickers sorted):

``close``      local-currency close, split-adjusted (not dividend-adjusted); GBp lines already in
               GBP. NaN where the listing had no session or is outside its life.
``dividends``  cash dividend per share on its ex-date, in the same currency units (split-adjusted like
               ``close``); 0.0 where none.
``splits``     split ratio on its ex-date as Yahoo gives it, new shares per old (2.0 for a 2-for-1
               split, 0.1 for a 1-for-10 consolidation); 0.0 where none. ``close`` and ``dividends``
               are already split-adjusted: ``splits`` says where the adjustment steps are, so a
               calculation can show prices as traded. A split is always on a date with a close.
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

Prices-only data
    :attr:`~exchina_index.data.views.MarketViews.facts` says which kinds of data a market holds.
    :meth:`MarketData.from_frames` (the route of CSV files and of user frames) accepts closes alone:

    * no volume for any listing: ADTV is unknown, and the review skips the ADTV screens and the
      liquidity caps (trading costs use the widest spread tier); a note says so. When some
      listings have volumes, a priced listing without any keeps screening ``NO_DATA`` (a note
      names it): a name whose liquidity is unknown is not treated as liquid.
    * a priced listing without any share count in the data takes the universe's dated
      ``shares_outstanding`` (``reference_history.csv``) when the universe has them: each entry is
      an as-of count from its ``from`` date (as
      :meth:`~exchina_index.universe.loading.Universe.facts_at` reads it), so its market cap is
      ``close_usd x shares_outstanding`` in force on each date, and unknown before the first count.
      A note names these listings, and those with a share count from neither source (their market
      cap is NaN; the review skips their size screen unless the anchor needs market caps).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from exchina_index.data.frames import (
    by_ticker,
    clean,
    close_values,
    delisted_dates,
    dividend_values,
    drop_from_delisting,
    life_bounds,
    readonly_frame,
    share_values,
    split_values,
    volume_values,
)
from exchina_index.data.fx import fx_on_dates
from exchina_index.data.listing_units import in_currency_units
from exchina_index.data.views import MarketViews, as_of_date
from exchina_index.errors import DataError
from exchina_index.rules.checks import PRICE_UNITS as _UNIVERSE_PRICE_UNITS

__all__ = ["MarketData", "PRICE_UNITS"]

#: Quote units that are a fraction of the ISO currency: unit -> (currency, divisor) (from the universe module).
PRICE_UNITS: dict[str, tuple[str, int]] = _UNIVERSE_PRICE_UNITS


@dataclass(frozen=True, eq=False, kw_only=True)
class MarketData(MarketViews):
    """Prices, dividends, volumes, share counts and FX rates of a universe, validated and aligned.

    Build it with :meth:`from_frames` (which applies the universe's price units and listing dates)
    or directly with keyword arguments (frames already in currency units). Construction validates
    and canonicalises: duplicated dates, non-positive prices, negative volumes or dividends,
    non-positive share counts or FX rates, a currency without an FX column, or a listing with a
    price on a date without an FX rate raise :class:`~exchina_index.errors.DataError` naming the
    ticker, date and what to do; so do a negative or infinite split ratio and a split on a date the
    listing has no close (outside its life). Nothing is filled with zeros except ``dividends`` (no
    dividend) and ``splits`` (no split).

    The frames are read-only (their arrays refuse writes); copy them to modify. See the module
    docstring for the life, forward-fill, return and market-cap conventions.

    Attributes
    ----------
    close, dividends, splits, volume, shares : pandas.DataFrame
        date x ticker, float64 (see the module docstring). Market closes and dividends are
        split-adjusted; ``splits`` says where the adjustment steps are (0.0: no split).
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
    splits: pd.DataFrame | None = None
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
        splits: pd.DataFrame | None = None,
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
            have its own (as-of) dates. A priced listing without any share count takes the
            universe's dated ``shares_outstanding`` when ``universe`` is a Universe with a
            reference history (see the module docstring, "Prices-only data").
        splits
            Optional, same layout as ``close``: the split ratio (new shares per old, not in
            ``price_unit``) on its ex-date; 0.0 or NaN = no split; default no splits. Splits
            before ``listed_since`` are dropped (noted), like the closes.
        source, synthetic, notes
            Provenance recorded on the result.

        Returns
        -------
        MarketData
            Closes and dividends divided by 100 for ``GBp``/``GBX``/``ZAc`` lines; rows before
            ``listed_since`` or on/after ``delisted`` dropped (one note per listing); notes on
            missing volumes and share counts (what the review then skips).

        Raises
        ------
        DataError
            A ticker that is not in the universe, or any problem listed in :class:`MarketData`.
        """
        frames = in_currency_units(
            universe, close, fx=fx, dividends=dividends, volume=volume, shares=shares, notes=notes
        )
        frames["shares"], from_history = _reference_shares(universe, frames["shares"], frames["close"])
        frames["splits"], split_notes = _listed_splits(universe, splits)
        frames["notes"] = (*frames["notes"], *split_notes)
        market = cls(**frames, source=source, synthetic=synthetic)
        return market.with_notes(*_fact_notes(market, from_history))

    def __post_init__(self) -> None:
        notes = list(self.notes)
        values, index, tickers = close_values(self.close)
        currency = by_ticker(self.currency, "currency", tickers, required=True).astype(str)
        exchange = (
            by_ticker(self.exchange, "exchange", tickers).fillna("").astype(str)
            if self.exchange is not None
            else pd.Series("", index=tickers, dtype=str)
        )
        delisted = delisted_dates(self.delisted, tickers)
        cut = drop_from_delisting(values, index, tickers, delisted, notes)
        has_price, first, last = life_bounds(values)
        divs = dividend_values(self.dividends, index, tickers, first, last, notes)
        splits = split_values(self.splits, index, tickers, values, cut, notes)
        vol = volume_values(self.volume, index, tickers, cut)
        shares = share_values(self.shares, index, tickers)
        fx = fx_on_dates(self.fx, index, tickers, currency, has_price, first, notes)

        idx = pd.DatetimeIndex(index, name="date")
        cols = pd.Index(list(tickers), name="ticker", dtype=str)
        set_ = functools.partial(object.__setattr__, self)
        set_("close", readonly_frame(values, idx, cols))
        set_("dividends", readonly_frame(divs, idx, cols))
        set_("splits", readonly_frame(splits, idx, cols))
        set_("volume", readonly_frame(vol, idx, cols))
        set_("shares", readonly_frame(shares, idx, cols))
        currencies = pd.Index(list(fx.columns), name="currency", dtype=str)
        set_("fx", readonly_frame(fx.to_numpy(dtype=float), idx, currencies))
        set_("currency", currency.rename("currency").rename_axis("ticker"))
        set_("exchange", exchange.rename("exchange").rename_axis("ticker"))
        set_("delisted", delisted.rename("delisted").rename_axis("ticker"))
        set_("source", str(self.source))
        set_("synthetic", bool(self.synthetic))
        calendar_notes = self._calendar_notes
        set_("notes", tuple(notes) + tuple(n for n in calendar_notes if n not in notes))

    # ------------------------------------------------------------------ basics

    def __repr__(self) -> str:
        label = ", SYNTHETIC" if self.synthetic else ""
        span = f"{self.start.date()}..{self.end.date()}" if len(self.close) else "empty"
        return (
            f"MarketData({self.close.shape[1]} listings, {len(self.close)} dates {span}, source={self.source!r}{label})"
        )

    @property
    def tickers(self) -> list[str]:
        """The listings (columns of every frame), sorted."""
        return list(self.close.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The market dates (union of every listing's sessions)."""
        return self.close.index

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the data: dates, tickers, currencies, listing dates and every value
        (splits too, when there is any).

        Stable across processes and machines (NaN is hashed in one canonical form).
        """
        h = hashlib.sha256()
        h.update(f"source={self.source};synthetic={self.synthetic};".encode())
        days = self.close.index.to_numpy().astype("datetime64[D]").astype("<i8")
        h.update(days.tobytes())
        for name in ("currency", "exchange"):
            h.update(("|".join(f"{k}={v}" for k, v in getattr(self, name).items()) + ";").encode())
        delisted = cast(pd.Series, self.delisted)  # a Series once constructed (see __post_init__)
        h.update(("|".join("" if pd.isna(v) else v.date().isoformat() for v in delisted) + ";").encode())
        for name in ("close", "dividends", "volume", "shares", "fx"):
            f = getattr(self, name)
            h.update(f"{name}:{'|'.join(f.columns)};".encode())
            a = np.ascontiguousarray(f.to_numpy(dtype="<f8"))
            h.update(np.where(np.isnan(a), np.nan, a).astype("<f8").tobytes())
        splits = cast(pd.DataFrame, self.splits)
        if splits.to_numpy().any():  # hashed only when there is one: a market without splits keeps its hash
            h.update(b"splits:" + np.ascontiguousarray(splits.to_numpy(dtype="<f8")).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ copies

    def truncate(self, as_of: Any = None, *, start: Any = None) -> MarketData:
        """A point-in-time copy holding only dates in [start, as_of] (both optional).

        Listing lives are recomputed on the kept dates, so a view of the copy at ``as_of`` equals the
        same view of the original at ``as_of`` (for dates on or after ``start``).
        """
        idx = self.close.index
        lo = 0 if start is None else int(idx.searchsorted(as_of_date(start), side="left"))
        hi = self._row(as_of) + 1
        if hi <= lo:
            raise DataError(
                f"truncate: no market date in [{'...' if start is None else as_of_date(start).date()}, "
                f"{'...' if as_of is None else as_of_date(as_of).date()}]; the data runs from "
                f"{idx[0].date()} to {idx[-1].date()}"
            )

        def cut(f: pd.DataFrame) -> pd.DataFrame:
            return f.iloc[lo:hi].copy()

        # shares are as-of values: keep the count known on the first kept date
        all_shares = cast(pd.DataFrame, self.shares)  # a frame once constructed (see __post_init__)
        shares = all_shares.ffill().iloc[lo:hi].copy() if lo > 0 else cut(all_shares)
        return MarketData(
            close=cut(self.close),
            fx=cut(self.fx),
            currency=self.currency,
            dividends=cut(self.dividends),
            splits=cut(self.splits),
            volume=cut(self.volume),
            shares=shares,
            exchange=self.exchange,
            delisted=self.delisted,
            source=self.source,
            synthetic=self.synthetic,
            notes=tuple(n for n in self.notes if n not in self._calendar_notes),  # the copy adds its own
        )

    def with_notes(self, *notes: str) -> MarketData:
        """The same data with more notes appended (the frames are shared, not copied)."""
        new = object.__new__(MarketData)
        for f in dataclasses.fields(self):
            object.__setattr__(new, f.name, getattr(self, f.name))
        object.__setattr__(new, "notes", self.notes + tuple(notes))
        return new


# --- prices-only data: share counts from the reference history, and what is missing -------------


def _reference_shares(
    universe: Any, shares: pd.DataFrame | None, close: pd.DataFrame
) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """``shares`` with the universe's dated ``shares_outstanding`` for each priced listing the data
    gives no share count, and those listings (see the module docstring).

    Each reference entry is an as-of count dated at its ``from``; before a listing's first entry no
    count is known (none is read back).
    """
    history = getattr(universe, "history", None)
    if not isinstance(history, pd.DataFrame) or history.empty or len(close.index) == 0:
        return shares, ()
    if shares is not None and shares.index.has_duplicates:
        return shares, ()  # the validation names the repeated date
    tickers = close.columns
    known = (
        shares.notna().any().reindex(tickers, fill_value=False)
        if shares is not None
        else pd.Series(False, index=tickers)
    )
    need = close.notna().any() & ~known
    rows = history[(history["field"] == "shares_outstanding") & history["ticker"].isin(tickers[need.to_numpy()])]
    if rows.empty:
        return shares, ()
    counts: dict[str, pd.Series] = {}
    for ticker, g in rows.sort_values("from").groupby("ticker", sort=True):
        counts[str(ticker)] = pd.Series(g["value"].to_numpy(dtype=float), index=pd.DatetimeIndex(g["from"]))
    reference = pd.DataFrame(counts)
    base = shares if shares is not None else pd.DataFrame(index=close.index[:1], columns=tickers, dtype=float)
    out = base.reindex(index=base.index.union(reference.index), columns=tickers)
    out[reference.columns] = reference.reindex(out.index)
    return out, tuple(reference.columns)


def _listed_splits(universe: Any, splits: pd.DataFrame | None) -> tuple[pd.DataFrame | None, list[str]]:
    """``splits`` without the rows before each listing's ``listed_since`` (its closes there are
    dropped too), and a note for each listing that had a split there."""
    if splits is None:
        return None, []
    f = clean(splits, "splits")
    uni = universe.frame if hasattr(universe, "frame") else universe
    if "listed_since" not in uni or f.empty:
        return f, []
    since = pd.to_datetime(uni["listed_since"].reindex(f.columns))
    before = f.index.to_numpy()[:, None] < since.to_numpy()[None, :]
    dropped = (f.fillna(0.0).to_numpy() != 0.0) & before
    notes = [
        f"{t}: dropped {int(n)} split(s) before listed_since {since[t].date()}"
        for t, n in zip(f.columns, dropped.sum(axis=0))
        if n
    ]
    return f.mask(before), notes


def _names(tickers: Iterable[str]) -> str:
    names = list(tickers)
    return f"{len(names)} listing(s): {', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"


def _fact_notes(market: MarketData, from_history: tuple[str, ...]) -> list[str]:
    """What the data lacks and what the review does about it (never silent): no volume at all,
    volumes missing for some listings, share counts taken from the reference history or missing."""
    priced = market.close.notna().any()
    notes: list[str] = []
    if not priced.any():
        return notes
    volume, shares = cast(pd.DataFrame, market.volume), cast(pd.DataFrame, market.shares)  # frames once built
    no_volume = priced & volume.isna().all()
    if "volume" not in market.facts:
        notes.append(
            "the data has no volume: ADTV is unknown, so the reviews skip the ADTV screens and the liquidity "
            "caps, and trading costs use the widest spread tier; anchor.method = 'liquidity' needs volumes"
        )
    elif no_volume.any():
        notes.append(
            f"no volume for {_names(priced.index[no_volume])} (other listings have volumes): their ADTV is "
            "unknown, so they screen as NO_DATA; add their volumes, or leave volumes out for every listing to "
            "skip the liquidity screens"
        )
    if from_history:
        notes.append(
            f"market caps from the universe's reference shares_outstanding (the data has no share count) for "
            f"{_names(from_history)}"
        )
    no_shares = priced & shares.isna().all()
    first_price, first_count = (
        market.close.apply(pd.Series.first_valid_index),
        shares.apply(pd.Series.first_valid_index),
    )
    late = priced & ~no_shares & (first_count > first_price)
    if late.any():
        notes.append(
            f"share counts start after the first price for {_names(priced.index[late])}: before a listing's "
            "first count its market cap is unknown (size screen skipped, or NO_DATA under "
            "anchor.method = 'market_cap_purity')"
        )
    if no_shares.any():
        notes.append(
            f"no share count in the data or the universe's reference history for {_names(priced.index[no_shares])}: "
            "their market cap is unknown, so the reviews skip their size screen unless anchor.method = "
            "'market_cap_purity', which needs it (add a shares column, or shares_outstanding rows to "
            "reference_history.csv)"
        )
    return notes
