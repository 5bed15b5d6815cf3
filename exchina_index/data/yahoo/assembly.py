"""Assembly: the synced series turned into one :class:`~exchina_index.data.market.MarketData`.

Units and repairs happen here, on every load, whether the rows came from the network or the cache
(so the notes are the same): minor units divided, implausible values dropped, dividend unit
mix-ups flagged, share-count fallbacks noted, FX pairs inverted where Yahoo quotes units per USD.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.csv_source import BOUNDS, FX_BOUNDS
from exchina_index.data.frames import identical_close_notes
from exchina_index.data.market import MarketData
from exchina_index.data.yahoo.parse import empty_series, fx_pair
from exchina_index.data.yahoo.run import ONE_DAY, Listing, Run
from exchina_index.data.yahoo.shares import Shares

__all__ = ["assemble"]


def assemble(
    run: Run,
    universe_frame: pd.DataFrame,
    listings: Mapping[str, Listing],
    prices: Mapping[str, pd.DataFrame],
    fx_raw: Mapping[str, pd.DataFrame],
    pairs: Mapping[str, str],
    shares: Mapping[str, Shares],
) -> MarketData:
    """Frames in currency units, one column per universe ticker (all-NaN for listings without data)."""
    tickers = [str(t) for t in universe_frame.index]
    close_cols: dict[str, pd.Series] = {}
    div_cols: dict[str, pd.Series] = {}
    vol_cols: dict[str, pd.Series] = {}
    sh_cols: dict[str, pd.Series] = {}
    split_cols: dict[str, pd.Series] = {}
    for sym, lst in listings.items():
        frame = prices.get(sym)
        if frame is None:
            continue
        t = lst.ticker
        close_cols[t], div_cols[t], vol_cols[t] = _prices(run, lst, frame)
        split_cols[t] = _splits(run, lst, frame, close_cols[t])
        sh_cols[t] = _share_counts(run, lst, shares.get(sym))

    for msg in identical_close_notes(close_cols, "Yahoo returned"):
        run.note(msg, logging.WARNING)
    close = _frame_of(close_cols, tickers)
    summary = _summary(run, 2 * len(listings) + len(pairs), close.dropna(how="all").index.max())
    dividends = _frame_of(div_cols, tickers).reindex(close.index)
    volume = _frame_of(vol_cols, tickers).reindex(close.index)
    splits = _frame_of(split_cols, tickers).reindex(close.index).fillna(0.0)
    # a listing's own sessions without a dividend are 0.0; dates it did not trade stay NaN
    has_row = close.notna() | volume.notna()
    dividends = dividends.where(has_row | (dividends.fillna(0.0) != 0.0))
    currency = pd.Series(
        {str(t): str(c).strip().upper() for t, c in universe_frame["currency"].items()}, dtype="object"
    ).reindex(tickers)
    fx = _fx(run, fx_raw, pairs, currency, close.index)

    extra: dict[str, Any] = {}
    if "exchange" in universe_frame.columns:
        extra["exchange"] = universe_frame["exchange"].set_axis(tickers).fillna("").astype(str)
    if "delisted" in universe_frame.columns:
        extra["delisted"] = pd.to_datetime(universe_frame["delisted"]).set_axis(tickers)
    return MarketData(
        close=close,
        dividends=dividends,
        splits=splits,
        volume=volume,
        shares=_frame_of(sh_cols, tickers),
        fx=fx,
        currency=currency,
        source="yahoo",
        synthetic=False,
        notes=(summary, *run.notes),
        **extra,
    )


def _frame_of(cols: Mapping[str, pd.Series], tickers: list[str]) -> pd.DataFrame:
    """date x ticker float64 frame of ``cols``, a column for every ticker."""
    out = pd.DataFrame(dict(cols)) if cols else pd.DataFrame(index=pd.DatetimeIndex([]))
    out = out.reindex(columns=tickers)
    out.index = pd.DatetimeIndex(out.index, name="date")
    out = out.sort_index().astype("float64")
    out.columns.name = "ticker"
    return out


def _prices(run: Run, lst: Listing, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Close, dividends and volume of one listing in currency units, inside its life; repairs noted."""
    sym = lst.symbol
    entry = run.cache.entry("prices", sym) if run.cache is not None else None
    for msg in entry.extra.get("repairs", []) if entry is not None else []:
        run.note(msg)
    frame = frame.loc[(frame.index >= lst.start) & (frame.index < lst.end)]
    close = frame["close"].astype("float64")
    bad = close <= 0
    if bad.any():
        dates = ", ".join(d.strftime("%Y-%m-%d") for d in close.index[bad.to_numpy()][:5])
        more = " ..." if int(bad.sum()) > 5 else ""
        run.note(f"{sym}: dropped {int(bad.sum())} zero/negative close(s) ({dates}{more}); left NaN", logging.WARNING)
        close = close.mask(bad)
    vol = frame["volume"].astype("float64")
    badv = vol < 0
    if badv.any():
        run.note(f"{sym}: dropped {int(badv.sum())} negative volume(s); left NaN", logging.WARNING)
        vol = vol.mask(badv)
    div = frame["dividends"].astype("float64").fillna(0.0)
    badd = div < 0
    if badd.any():
        run.note(f"{sym}: ignored {int(badd.sum())} negative dividend(s) (treated as no dividend)", logging.WARNING)
        div = div.mask(badd, 0.0)
    if lst.divisor != 1.0:
        close = close / lst.divisor
        div = div / lst.divisor
        run.note(f"{sym}: Yahoo quotes it in minor units; close and dividends divided by {lst.divisor:g}")
    # the CSV source's bounds: 1e300 or an infinity would overflow market caps and returns
    close = close.mask(_implausible(run, f"{sym} close", close, BOUNDS["close"]))
    vol = vol.mask(_implausible(run, f"{sym} volume", vol, BOUNDS["volume"]))
    div = div.mask(_implausible(run, f"{sym} dividend", div, BOUNDS["dividend"], left="treated as no dividend"), 0.0)
    big = (div > 0.5 * close) & close.notna()
    if big.any():
        d0 = div.index[big.to_numpy()][0]
        run.note(
            f"{sym}: dividend {div[d0]:g} on {d0.date()} exceeds half the close ({close[d0]:g}); "
            "possible unit mix-up at Yahoo (kept as is)",
            logging.WARNING,
        )
    if lst.divisor != 1.0:
        # the opposite mix-up: a minor-unit line whose dividend Yahoo gave in major units
        tiny = (div > 0) & (div < 5e-4 * close) & close.notna()
        if tiny.any():
            d0 = div.index[tiny.to_numpy()][0]
            run.note(
                f"{sym}: dividend {div[d0]:g} on {d0.date()} is under 0.05 % of the close ({close[d0]:g}); "
                f"possibly quoted in major units instead of 1/{lst.divisor:g} (kept as is)",
                logging.WARNING,
            )
    return close, div, vol


def _splits(run: Run, lst: Listing, frame: pd.DataFrame, close: pd.Series) -> pd.Series:
    """The split ratios of one listing inside its life (0.0: none); Yahoo's ``Stock Splits`` as given
    (new shares per old), minus what cannot be a split or has no close to step from (noted)."""
    sym = lst.symbol
    if "splits" not in frame.columns:  # a block without the column (cannot happen with actions=True)
        return pd.Series(0.0, index=close.index)
    spl = frame.loc[(frame.index >= lst.start) & (frame.index < lst.end), "splits"].astype("float64").fillna(0.0)
    spl = spl.mask(_implausible(run, f"{sym} split ratio", spl, BOUNDS["splits"], left="treated as no split"), 0.0)
    orphan = (spl != 0.0) & close.reindex(spl.index).isna()
    if orphan.any():
        dates = ", ".join(f"{d:%Y-%m-%d} ({x:g})" for d, x in spl[orphan].iloc[:3].items())
        run.note(
            f"{sym}: ignored {int(orphan.sum())} stock split(s) on a date without a close ({dates}); "
            "the closes stay as Yahoo adjusted them",
            logging.WARNING,
        )
        spl = spl.mask(orphan, 0.0)
    return spl


def _share_counts(run: Run, lst: Listing, sh: Shares | None) -> pd.Series:
    """The share-count observations of one listing inside its life (a fallback or a gap noted)."""
    sym = lst.symbol
    sh = sh or Shares(empty_series(), "none", "not fetched")
    series = sh.series
    if sh.method == "fast_info" and len(series):
        run.note(
            f"{sym}: no share-count history ({sh.reason}); today's count from fast_info "
            f"({series.iloc[-1]:,.0f}) is used as a constant over the whole history (look-ahead approximation)",
            logging.WARNING,
        )
        series = pd.Series([float(series.iloc[-1])], index=pd.DatetimeIndex([lst.start]))
    elif not len(series):
        why = f" ({sh.reason})" if sh.reason else ""
        run.note(f"{sym}: no share count from Yahoo{why}; market cap is NaN (size screen: NO_DATA)", logging.WARNING)
        series = empty_series()
    return series.loc[series.index < lst.end]


def _fx(
    run: Run, fx_raw: Mapping[str, pd.DataFrame], pairs: Mapping[str, str], currency: pd.Series, dates: pd.DatetimeIndex
) -> pd.DataFrame:
    """USD per unit by currency on the pairs' own dates (MarketData carries them to the market dates)."""
    fx_cols: dict[str, pd.Series] = {}
    for pair, ccy in sorted(pairs.items()):
        raw = fx_raw.get(pair)
        if raw is None:
            continue
        rate = raw["close"].astype("float64")
        rate = rate.loc[rate.index < run.end]
        bad = rate <= 0
        if bad.any():
            run.note(f"{pair}: dropped {int(bad.sum())} zero/negative FX rate(s); left NaN", logging.WARNING)
            rate = rate.mask(bad)
        if fx_pair(ccy)[1]:  # type: ignore[index]
            rate = 1.0 / rate
        fx_cols[ccy] = rate.mask(_implausible(run, f"{pair} FX rate (USD per {ccy})", rate, FX_BOUNDS))
    for ccy in sorted(set(currency) - set(fx_cols) - {"USD"}):
        # listings without data (dropped or not listed in the window) still need an FX column
        fx_cols[ccy] = pd.Series(dtype="float64", index=pd.DatetimeIndex([]))
    fx = pd.DataFrame(fx_cols) if fx_cols else pd.DataFrame(index=dates)
    fx.index = pd.DatetimeIndex(fx.index, name="date")
    fx = fx.sort_index()
    fx["USD"] = 1.0
    fx = fx[sorted(fx.columns)].astype("float64")
    fx.columns.name = "currency"
    return fx


def _implausible(
    run: Run, what: str, values: pd.Series, bounds: tuple[float, float], *, left: str = "left NaN"
) -> pd.Series:
    """Mask of ``values`` outside the CSV source's plausible ``bounds`` (or not finite), noted with
    the first dates (``left`` says what replaces them); NaN is never implausible."""
    lo, hi = bounds
    v = values.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(v) & ~((v >= lo) & (v <= hi))
    mask = pd.Series(bad, index=values.index)
    if bad.any():
        dates = ", ".join(f"{d:%Y-%m-%d} ({x:g})" for d, x in zip(values.index[bad][:3], v[bad][:3]))
        more = " ..." if int(bad.sum()) > 3 else ""
        run.note(
            f"{what}: dropped {int(bad.sum())} value(s) outside the plausible range {lo:g} to {hi:g} "
            f"({dates}{more}); {left}",
            logging.WARNING,
        )
    return mask


def _summary(run: Run, n_series: int, last: Any) -> str:
    """One line: how much came from the cache, and up to which date (the first note of a load)."""
    asked = len(run.asked)
    if run.cache is None:
        source = f"all {n_series} series asked from Yahoo (cache not used)"
    elif not asked:
        source = f"all {n_series} series served from the cache, no network call"
    else:
        source = f"{asked} of {n_series} series asked from Yahoo, {max(n_series - asked, 0)} served from the cache"
    upto = (run.end - ONE_DAY).date()
    asked_to = f"asked up to {upto}" + ("" if run.end_given else ", the last complete UTC day")
    prices = f"prices to {last.date()}" if isinstance(last, pd.Timestamp) and last is not pd.NaT else "no prices"
    return f"yahoo: {source}; {prices} ({asked_to})"
