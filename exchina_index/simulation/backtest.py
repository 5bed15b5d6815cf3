"""Historical simulation of the index: the same review code as the live rebalances, then the array
engine for the daily levels.

Each review's weights come from :func:`~exchina_index.construction.review.build_weights` on data up to that
review's cut-off and take effect at the close of its implementation date; the first review on or
after ``start`` trades on its own date. Between reviews :mod:`exchina_index.simulation.engine` drifts the
weights daily and computes the price-return, gross total-return and net total-return levels (all
starting at 1000, gross of costs as published) and the NAV of a fund tracking the net index (after
trading costs and the expense ratio). A listing that delists between reviews is sold at its last
price and the proceeds are reinvested pro rata across the other constituents.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exchina_index.construction.caps import drift_array
from exchina_index.construction.review import WeightResult, review_context, run_review
from exchina_index.construction.screens import last_screenable_date
from exchina_index.dates import parse_date
from exchina_index.errors import InputError, ReviewDateError
from exchina_index.rules.calendar import review_dates
from exchina_index.rules.methodology import Methodology, Withholding, check_aum, resolve_methodology
from exchina_index.simulation.costs import one_way_cost_rate
from exchina_index.simulation.engine import run_index
from exchina_index.simulation.performance import cagr, years_between
from exchina_index.universe.loading import Universe, require_universe

__all__ = ["BacktestResult", "backtest", "withholding_rates"]

START_LEVEL = 1000.0


@dataclass(frozen=True)
class BacktestResult:
    """A simulated history of the index.

    Attributes
    ----------
    levels
        By date: ``price_return``, ``total_return``, ``net_total_return`` (index levels, gross of
        trading costs and fees) and ``nav`` (the fund: costs and expense ratio); all start at 1000.
    returns
        Daily returns of the same four series.
    weights
        Target weights by implementation date (rows) and ticker.
    drifted
        Weights at each close after any trade (date × ticker).
    turnover, costs
        One-way turnover and trading cost (fraction of NAV) by implementation date.
    reviews
        The :class:`~exchina_index.construction.review.WeightResult` of each review, by implementation date.
    schedule
        The review calendar used (cut-off, announce, proforma, implement, effective).
    tracking_difference
        Annualised NAV return minus annualised net total-return index return.
    data_notes
        The market data's notes (repairs, calendars extended with weekdays, missing prices), shown
        on the thematic page and recorded in the backtest manifest.
    """

    levels: pd.DataFrame
    returns: pd.DataFrame
    weights: pd.DataFrame
    drifted: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    reviews: dict[pd.Timestamp, WeightResult] = field(repr=False)
    schedule: pd.DataFrame = field(repr=False)
    tracking_difference: float
    aum: float
    universe: Universe = field(repr=False)
    methodology: Methodology = field(repr=False)
    data_source: str
    synthetic: bool
    delistings: tuple[tuple[pd.Timestamp, str], ...] = ()
    data_notes: tuple[str, ...] = ()


def backtest(
    universe: Universe,
    market,  # MarketData
    methodology: Methodology | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    aum: float | None = None,
    *,
    progress: Callable[[int, int, pd.Timestamp], None] | None = None,
) -> BacktestResult:
    """Simulate the index from ``start`` to ``end``.

    Parameters
    ----------
    universe, market
        The tagged universe and its market data.
    methodology
        The rulebook (bundled default when ``None``).
    start, end
        Period; the first review whose implementation date is on or after ``start`` starts the
        index. Defaults: the market's first date, and the last date with a price for a listing
        the screens without market data admit (prices running further only for screened-out
        listings, e.g. Chinese lines, do not extend the backtest; a note in ``data_notes`` says
        so). A later ``end`` is cut there too.
    aum
        Fund size in USD for the liquidity caps (rulebook default when ``None``), positive and at
        most :data:`~exchina_index.rules.methodology.MAX_AUM_USD`.
    progress
        Called after each review as ``progress(done, total, implementation_date)``.

    Raises
    ------
    ReviewDateError
        ``start``/``end`` not dates (see :func:`~exchina_index.dates.parse_date`), ``end`` not
        after ``start``, or no review inside the period and the data.
    UniverseError, DataError, MethodologyError, InputError
        An argument of the wrong type, or an AUM out of range.
    """
    from exchina_index.data import require_market

    require_universe(universe)
    require_market(market)
    m = resolve_methodology(methodology)
    aum = check_aum(m.liquidity.default_aum_usd if aum is None else aum)
    lo = None if start is None else parse_date(start, "start")
    hi = None if end is None else parse_date(end, "end")
    if lo is not None and hi is not None and hi <= lo:
        raise ReviewDateError(f"end {hi.date()} must be after start {lo.date()}")
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a function progress(done, total, date), got {type(progress).__name__}")
    schedule, t1, notes = _schedule(universe, market, m, lo, hi)
    dates = market.close.index
    f = universe.frame
    alive = market.alive().reindex(columns=f.index, fill_value=False)
    reviews, targets, rates = _run_reviews(universe, market, m, schedule, aum, alive.to_numpy(), progress)
    window = dates[(dates >= schedule["implement"].iloc[0]) & (dates <= t1)]
    price_ret = _in_window(market.returns("price"), window, f.index)
    total_ret = _in_window(market.returns("total"), window, f.index)
    dividend_yield = total_ret - price_ret
    dividend_yield[np.isnan(dividend_yield)] = 0.0
    day_count = np.diff(window.to_numpy()).astype("timedelta64[D]").astype(np.int64)
    run = run_index(
        price_return=price_ret,
        dividend_yield=dividend_yield,
        withholding=withholding_rates(m.withholding, f["domicile"], window),
        alive=alive.reindex(window).to_numpy(dtype=bool),
        rebalance_index=window.get_indexer(schedule["implement"]),
        target_weights=targets,
        cost_rate=rates,
        expense_ratio=m.fees.expense_ratio,
        day_count=np.concatenate([[0], day_count]),
        start_level=START_LEVEL,
    )
    frames = run.to_frames(window, f.index)
    levels = frames["levels"]
    returns = levels.pct_change().iloc[1:]
    td = cagr(levels["nav"]) - cagr(levels["net_total_return"]) if years_between(window) > 0 else 0.0
    return BacktestResult(
        levels=levels,
        returns=returns,
        weights=frames["post_trade"],
        drifted=frames["drifted"],
        turnover=frames["turnover"],
        costs=frames["cost"],
        reviews=reviews,
        schedule=schedule,
        tracking_difference=float(td),
        aum=aum,
        universe=universe,
        methodology=m,
        data_source=market.source,
        synthetic=bool(market.synthetic),
        delistings=tuple((window[t], f.index[i]) for t, i in run.delisting_events),
        data_notes=notes,
    )


def _in_window(frame: pd.DataFrame, window: pd.DatetimeIndex, columns: pd.Index) -> np.ndarray:
    """``frame`` (all market dates) on the contiguous dates ``window`` and on ``columns``, as an
    array: a slice when the columns already match (the usual case), a reindex otherwise."""
    if not frame.columns.equals(columns):
        return frame.reindex(index=window, columns=columns).to_numpy()
    start = frame.index.get_loc(window[0])
    return frame.to_numpy()[start : start + len(window)]


def withholding_rates(withholding: Withholding, domiciles: pd.Series, window: pd.DatetimeIndex) -> np.ndarray:
    """The withholding rate in force on each date of ``window`` (rows) for the domicile of each
    listing (columns): a dividend is taxed at the rate in force on its ex-date."""
    days = window.to_numpy(dtype="datetime64[D]")
    codes = domiciles.to_numpy(dtype=object)
    out = np.full((len(days), len(codes)), np.nan)  # a domicile left unset fails the engine's rate check
    for code in dict.fromkeys(codes):
        steps = withholding.history(code)
        starts = np.array([since for since, _ in steps[1:]], dtype="datetime64[D]")
        rates = np.array([rate for _, rate in steps])
        out[:, codes == code] = rates[np.searchsorted(starts, days, side="right")][:, None]
    return out


def _tradeable(weights: np.ndarray, alive_at_implementation: np.ndarray) -> np.ndarray:
    """Drop names that have no price at the implementation date (delisted after the cut-off)."""
    w = np.where(alive_at_implementation, weights, 0.0)
    return w / w.sum()


def _schedule(
    universe: Universe,
    market,  # MarketData
    m: Methodology,
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
) -> tuple[pd.DataFrame, pd.Timestamp, tuple[str, ...]]:
    """The reviews implemented between ``lo`` and ``hi`` (None: no bound) inside the data, the
    period's last date, and the data notes (the market's, and one when the data ends before the
    last prices).

    Raises
    ------
    ReviewDateError
        As :func:`backtest` describes.
    """
    dates = market.close.index
    if len(dates) == 0:
        raise ReviewDateError("the market data holds no dates; load data covering the period")
    t0 = max(lo, dates[0]) if lo is not None else dates[0]
    # the data ends where the last listing the screens can admit ends: prices running further only
    # for screened-out (e.g. Chinese) listings would put reviews where every candidate is stale
    data_end, beyond = last_screenable_date(universe, market, m)
    t1 = min(hi, data_end) if hi is not None else data_end
    notes = tuple(market.notes)
    if beyond and t1 == data_end:
        notes += (
            f"the backtest ends on {data_end.date()}, the last price of a listing the screens admit; "
            f"later prices (to {dates[-1].date()}) are only for screened-out listings: "
            f"{', '.join(beyond[:10])}{' ...' if len(beyond) > 10 else ''}",
        )
    schedule = review_dates(m, t0, t1)
    schedule = schedule[(schedule["cutoff"] >= dates[0]) & (schedule["implement"] <= t1)].reset_index(drop=True)
    if schedule.empty:
        raise ReviewDateError(
            f"no review is implemented between {t0.date()} and {t1.date()} inside the market data "
            f"({dates[0].date()} to {dates[-1].date()}); widen the period"
        )
    return schedule, t1, notes


def _run_reviews(
    universe: Universe,
    market,
    m: Methodology,
    schedule: pd.DataFrame,
    aum: float,
    alive: np.ndarray,
    progress: Callable[[int, int, pd.Timestamp], None] | None,
) -> tuple[dict[pd.Timestamp, WeightResult], np.ndarray, np.ndarray]:
    """Every review of ``schedule`` from one :class:`~exchina_index.construction.review.ReviewContext`:
    the results by implementation date, the tradeable target weights and the one-way cost rates
    (review x listing)."""
    f = universe.frame
    ctx = review_context(universe, market, m, schedule["cutoff"])
    dates = market.close.index
    close_usd = market.close_usd().reindex(columns=f.index).to_numpy()
    cut_rows = dates.searchsorted(schedule["cutoff"], side="right") - 1
    impl_rows = dates.searchsorted(schedule["implement"], side="right") - 1
    reviews: dict[pd.Timestamp, WeightResult] = {}
    targets, rates = [], []
    previous = None
    for k, implement in enumerate(schedule["implement"]):
        result = run_review(ctx, k, aum, None if previous is None else pd.Series(previous, index=f.index))
        w = _tradeable(result.weights.to_numpy(), alive[impl_rows[k]])
        reviews[implement] = result
        targets.append(w)
        rates.append(one_way_cost_rate(result.report.names.adtv_usd, m.costs).to_numpy())
        if k + 1 < len(schedule):
            previous = drift_array(w, close_usd[impl_rows[k]], close_usd[cut_rows[k + 1]])
        if progress is not None:
            progress(k + 1, len(schedule), implement)
    return reviews, np.vstack(targets), np.vstack(rates)
