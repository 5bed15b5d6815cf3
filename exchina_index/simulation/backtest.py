"""Historical simulation of the index: the same review code as the live rebalances, then the array
engine for the daily levels.

Each review's weights come from :func:`~exchina_index.construction.review.build_weights` on data up to that
review's cut-off and take effect at the close of its implementation date; the first review on or
after ``start`` trades on its own date. Between reviews :mod:`exchina_index.simulation.engine` drifts the
weights daily and computes the price-return, gross total-return and net total-return levels (all
starting at 1000, gross of costs as published) and the NAV of a fund tracking the net index (after
trading costs and the expense ratio). A listing that delists between reviews is sold at its last
price and the proceeds are reinvested pro rata across the other constituents.

Replacement of deletions (rulebook ``governance.replace_deletions``)
    When a constituent's listing ends between two reviews (its last close ``c``: the universe's
    ``delisted`` date or its last price) and the number of constituents left falls below
    ``governance.min_constituents``, its weight at the close ``c`` goes to the first name of the
    previous review's reserve list (:attr:`~exchina_index.construction.record.ReviewReport.reserve`) that
    is not held and trades on ``c`` and the day after; the replacement is bought at that close, at
    the deleted name's drifted weight, and is an incumbent at the next review whose cut-off is on or
    after ``c``. Deletions on one close are replaced in column order while the count is below the
    floor. A deletion not replaced (the count is still at the floor, or the reserve list is used up)
    is sold pro rata as above. The engine sees a replacement as one more trade at ``c``
    (the sale at the deleted name's rate, the purchase at the replacement's, the previous review's
    rates): its cost is in the NAV and in neither ``turnover`` nor ``costs`` (which stay per review,
    as for a delisting sale); ``replacements`` records ``(c, deleted, replacement, weight)``, the
    weight moved (a deletion on the same close that is not replaced is then spread pro rata over
    every name held, the replacement included).
    Deletions at a review's own close are netted with that review (the engine's rule) and not
    replaced; the caps are not re-checked until the next review.

Corporate actions (``Universe.corporate_actions`` and the market data's splits)
    When any falls inside the data, the daily calculation from index shares and a divisor runs on
    the same trades (:mod:`exchina_index.simulation.daily`, :attr:`BacktestResult.daily`) and the
    engine follows its events (:func:`~exchina_index.simulation.event_inputs.follow_events`): both
    give the same levels. The holdings between reviews (for replacements and for the next review's
    incumbents) follow the share changes (:mod:`exchina_index.simulation.replacements`); a
    stock-merger target is converted into the acquirer, not replaced; a constituent taken out by a
    terminal event is in ``delistings`` at its last close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exchina_index.construction.review import WeightResult, review_context, run_review
from exchina_index.construction.screens import last_screenable_date
from exchina_index.dates import parse_date
from exchina_index.errors import DataError, InputError, ReviewDateError
from exchina_index.rules.calendar import review_dates
from exchina_index.rules.methodology import Methodology, Withholding, check_aum, resolve_methodology
from exchina_index.simulation.calculation import NOTICE_COLUMNS, DailyCalculation, label_daily
from exchina_index.simulation.costs import one_way_cost_rate
from exchina_index.simulation.engine import run_index
from exchina_index.simulation.event_inputs import EventView, event_view, follow_events
from exchina_index.simulation.performance import cagr, years_between
from exchina_index.simulation.replacements import UnitOps, replacements, weights_at
from exchina_index.universe.corporate_actions import TERMINAL_KINDS
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
    delistings
        ``(last close, ticker)`` of every constituent deleted between reviews (replaced, sold, or
        taken out by a corporate action).
    replacements
        ``(date, deleted, replacement, weight)`` of every deletion replaced between reviews (see the
        module docstring): the close of the trade, the two tickers and the weight moved.
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
    replacements: tuple[tuple[pd.Timestamp, str, str, float], ...] = ()
    daily: DailyCalculation | None = field(default=None, repr=False)

    @property
    def corporate_actions(self) -> pd.DataFrame:
        """The corporate-action notices of the period (:data:`~exchina_index.simulation.calculation.NOTICE_COLUMNS`;
        empty when no event was in force)."""
        if self.daily is None:
            return pd.DataFrame(columns=list(NOTICE_COLUMNS))
        return self.daily.notices


def backtest(
    universe: Universe,
    market,  # MarketData
    methodology: Methodology | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    aum: float | None = None,
    *,
    progress: Callable[[int, int, pd.Timestamp], None] | None = None,
    daily: bool = False,
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
    daily
        Also run the daily calculation from index shares and a divisor
        (:attr:`BacktestResult.daily`). It runs anyway when the universe has corporate actions
        (``Universe.corporate_actions``): the engine then follows the same events
        (:func:`~exchina_index.simulation.event_inputs.follow_events`).

    Raises
    ------
    ReviewDateError
        ``start``/``end`` not dates (see :func:`~exchina_index.dates.parse_date`), ``end`` not
        after ``start``, or no review inside the period and the data.
    UniverseError, DataError, MethodologyError, InputError
        An argument of the wrong type, or an AUM out of range; a DataError too when a review's
        implementation date (the rulebook's calendar) is not a date of the market data.
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
    window = dates[(dates >= schedule["implement"].iloc[0]) & (dates <= t1)]
    row0 = dates.get_loc(window[0])
    inside = slice(row0, row0 + len(window))
    view, alive, prices = _event_view(universe, market, m, daily)
    notes += view.notes if view is not None else ()
    reviews, plan = _run_reviews(universe, market, m, schedule, aum, alive[: inside.stop], progress, prices)
    price_ret, dividend_yield = _window_returns(market, window, f.index)
    wht = withholding_rates(m.withholding, f["domicile"], window)
    trades = ([r - row0 for r in plan.rows], plan.targets, plan.rates, plan.is_review)
    calculation, taken_over = None, []
    if view is not None:
        followed = follow_events(view, inside, trades, price_ret, dividend_yield, wht, START_LEVEL)
        trades, price_ret, dividend_yield = followed.trades, followed.price_return, followed.dividend_yield
        calculation = label_daily(followed.daily, window, f.index)
        taken_over = [(e.row - 1, e.columns[0]) for e in followed.daily.effects if e.held and e.kind in TERMINAL_KINDS]
    day_count = np.diff(window.to_numpy()).astype("timedelta64[D]").astype(np.int64)
    run = run_index(
        price_return=price_ret,
        dividend_yield=dividend_yield,
        withholding=wht,
        alive=alive[inside],
        rebalance_index=np.array(trades[0]),
        target_weights=np.vstack(trades[1]),
        cost_rate=np.vstack(trades[2]),
        expense_ratio=m.fees.expense_ratio,
        day_count=np.concatenate([[0], day_count]),
        start_level=START_LEVEL,
    )
    frames = run.to_frames(window, f.index)
    at_review = np.flatnonzero(trades[3])  # the trades of replacements and corporate actions are not reviews
    levels = frames["levels"]
    returns = levels.pct_change().iloc[1:]
    td = cagr(levels["nav"]) - cagr(levels["net_total_return"]) if years_between(window) > 0 else 0.0
    return BacktestResult(
        levels=levels,
        returns=returns,
        weights=frames["post_trade"].iloc[at_review],
        drifted=frames["drifted"],
        turnover=frames["turnover"].iloc[at_review],
        costs=frames["cost"].iloc[at_review],
        reviews=reviews,
        schedule=schedule,
        tracking_difference=float(td),
        aum=aum,
        universe=universe,
        methodology=m,
        data_source=market.source,
        synthetic=bool(market.synthetic),
        delistings=_deletions(run.delisting_events + taken_over, plan.replaced, window, dates, f.index),
        data_notes=notes,
        replacements=tuple((dates[c], f.index[j], f.index[r], w) for c, j, r, w in plan.replaced),
        daily=calculation,
    )


def _deletions(
    sold: list[tuple[int, int]],
    replaced: list[tuple[int, int, int, float]],
    window: pd.DatetimeIndex,
    dates: pd.DatetimeIndex,
    columns: pd.Index,
) -> tuple[tuple[pd.Timestamp, str], ...]:
    """``(last close, ticker)`` of the constituents deleted between reviews: sold by the engine or
    taken out by a corporate action (rows of ``window``), or replaced (market rows)."""
    return tuple(
        sorted([(window[t], columns[i]) for t, i in sold] + [(dates[c], columns[j]) for c, j, _, _ in replaced])
    )


def _event_view(
    universe: Universe, market, m: Methodology, daily: bool
) -> tuple[EventView | None, np.ndarray, UnitOps]:
    """The market through the universe's corporate actions (None when none is inside the data and
    the daily calculation is not asked for: the engine alone then gives the levels), the listings
    alive through them, and the prices and share changes the holdings between reviews follow."""
    events = universe.corporate_actions
    view = (
        event_view(market, universe.frame.index, events, m.governance.suspension_max_sessions)
        if events or daily
        else None
    )
    if view is not None and (view.events or daily):
        return view, view.alive, view.unit_ops()
    columns = universe.frame.index
    alive = market.alive().reindex(columns=columns, fill_value=False).to_numpy(bool)
    return None, alive, UnitOps(market.close_usd().reindex(columns=columns).to_numpy())


def _window_returns(market, window: pd.DatetimeIndex, columns: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """USD price returns and dividend yields (0 where none) of ``columns`` on the dates ``window``."""
    price_ret = _in_window(market.returns("price"), window, columns)
    dividend_yield = _in_window(market.returns("total"), window, columns) - price_ret
    dividend_yield[np.isnan(dividend_yield)] = 0.0
    return price_ret, dividend_yield


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


@dataclass
class _Plan:
    """The engine's trades in market-date rows: each review's target and each replacement's trade
    (``is_review`` False), their cost rates, and the replacements ``(row, deleted, replacement,
    weight)`` (columns)."""

    rows: list[int] = field(default_factory=list)
    targets: list[np.ndarray] = field(default_factory=list)
    rates: list[np.ndarray] = field(default_factory=list)
    is_review: list[bool] = field(default_factory=list)
    replaced: list[tuple[int, int, int, float]] = field(default_factory=list)

    def add(self, row: int, target: np.ndarray, rate: np.ndarray, review: bool) -> None:
        self.rows.append(row)
        self.targets.append(target)
        self.rates.append(rate)
        self.is_review.append(review)


def _run_reviews(
    universe: Universe,
    market,
    m: Methodology,
    schedule: pd.DataFrame,
    aum: float,
    alive: np.ndarray,
    progress: Callable[[int, int, pd.Timestamp], None] | None,
    prices: UnitOps,
) -> tuple[dict[pd.Timestamp, WeightResult], _Plan]:
    """Every review of ``schedule`` from one :class:`~exchina_index.construction.review.ReviewContext`:
    the results by implementation date, and the trades (:class:`_Plan`: the tradeable target
    weights, the replacements of deletions between reviews, the one-way cost rates). ``alive``
    holds the market's rows up to the backtest's last date; ``prices`` the USD closes and the share
    changes of the corporate actions the holdings between reviews follow
    (:mod:`~exchina_index.simulation.replacements`)."""
    f = universe.frame
    ctx = review_context(universe, market, m, schedule["cutoff"])
    dates = market.close.index
    cut_rows = dates.searchsorted(schedule["cutoff"], side="right") - 1
    impl_rows = dates.get_indexer(schedule["implement"])
    if (impl_rows < 0).any():  # the review trades at that close: the market must have it
        missing = pd.DatetimeIndex(schedule["implement"])[impl_rows < 0][0]
        raise DataError(
            f"review implemented on {missing.date()} (the rulebook's calendar): no date of the market data "
            f"({market.source}) falls on it; give the price files that session, or use a schedule calendar "
            "whose sessions the market has"
        )
    reviews: dict[pd.Timestamp, WeightResult] = {}
    plan = _Plan()
    previous = None
    for k, implement in enumerate(schedule["implement"]):
        result = run_review(ctx, k, aum, None if previous is None else pd.Series(previous, index=f.index))
        w = _tradeable(result.weights.to_numpy(), alive[impl_rows[k]])
        reviews[implement] = result
        rate = one_way_cost_rate(result.report.names.adtv_usd, m.costs).to_numpy()
        plan.add(int(impl_rows[k]), w, rate, True)
        stop = int(impl_rows[k + 1]) if k + 1 < len(schedule) else len(alive) - 1
        trades: list[tuple[int, np.ndarray]] = []
        if m.governance.replace_deletions:
            reserve = f.index.get_indexer(list(result.report.reserve))
            trades = replacements(w, int(impl_rows[k]), stop, prices, alive, reserve, m, plan.replaced)
        for row, target in trades:
            plan.add(row, target, rate, False)
        if k + 1 < len(schedule):
            # the portfolio at the next cut-off: from the last trade on or before it
            row, held = next(((r, t) for r, t in reversed(trades) if r <= cut_rows[k + 1]), (impl_rows[k], w))
            previous = weights_at(held, row, int(cut_rows[k + 1]), prices)
        if progress is not None:
            progress(k + 1, len(schedule), implement)
    return reviews, plan
