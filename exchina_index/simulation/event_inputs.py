"""The market seen through the corporate actions: the arrays the daily calculation and the backtest
engine read when events are in force.

* Each event's ex-date becomes a row of the market calendar (a :class:`~exchina_index.errors.DataError`
  when the market has no such date).
* A terminal event (cash or stock merger, deletion) ends the listing's life in the index from its
  ex-date; a suspension extends it, at the last price, over the span
  :func:`~exchina_index.simulation.corporate_actions.suspension_spans` gives.
* Prices and dividends as traded: the market's split-adjusted values times the splits and
  consolidations after each date (:func:`~exchina_index.simulation.corporate_actions.split_factors`).

:func:`merge_engine_trades` then folds the daily calculation's
:class:`~exchina_index.simulation.daily.EngineAdjustments` into the backtest's trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import DataError
from exchina_index.simulation.corporate_actions import split_factors, suspension_spans
from exchina_index.simulation.daily import DailyArrays, EngineAdjustments, run_daily
from exchina_index.simulation.replacements import UnitOps
from exchina_index.universe.corporate_actions import SPLIT_KINDS, TERMINAL_KINDS, CorporateAction

__all__ = ["EventView", "Followed", "event_view", "follow_events", "merge_engine_trades"]


@dataclass(frozen=True, eq=False)
class EventView:
    """Market rows x listings (``columns``): ``alive`` through the events, the events as ``(row, column, event)``
    (sorted by row, then file order), the USD closes (split-adjusted, as the market has them, held
    over suspensions), the USD closes and dividends as traded (a special dividend of the event
    file taken out of the market's dividend on its ex-date: it is a price adjustment, not an
    ordinary dividend), the FX of each listing, the suspension spans ``(column, first row,
    last row)`` and the notes a report should carry."""

    columns: pd.Index
    alive: np.ndarray
    events: list[tuple[int, int, Any]]
    close_usd: np.ndarray
    price_usd: np.ndarray
    dividend_usd: np.ndarray
    fx: np.ndarray
    spans: list[tuple[int, int, int]]
    notes: tuple[str, ...] = ()

    def unit_ops(self) -> UnitOps:
        """The share changes of the events for the holdings between reviews (as traded prices):
        splits and consolidations scale, a rights issue adds ``ratio`` per share, a spin-off adds
        the new line, a stock merger moves the units to the acquirer (and its target is not a
        deletion to replace)."""
        col_of = {t: i for i, t in enumerate(self.columns)}
        ops = []
        for row, col, ev in self.events:
            if ev.kind in SPLIT_KINDS:
                ops.append((row, col, -1, float(ev.term("ratio")), False))
            elif ev.kind == "rights":
                ops.append((row, col, -1, 1.0 + float(ev.term("ratio")), False))
            elif ev.kind in ("spin_off", "stock_merger"):
                other = col_of[str(ev.term("new") or ev.term("acquirer"))]
                ops.append((row, col, other, float(ev.term("ratio")), ev.kind == "stock_merger"))
        exchanged = frozenset((row - 1, col) for row, col, ev in self.events if ev.kind == "stock_merger")
        return UnitOps(self.price_usd, tuple(ops), exchanged)


def event_view(market: Any, columns: pd.Index, events: tuple[Any, ...], max_sessions: int) -> EventView:
    """The arrays of :class:`EventView` on every market date for the listings ``columns``.

    Events dated on or before the market's first date, or after its last, are left out (the data
    cannot show them). A suspension ends when the listing trades again; held through
    ``max_sessions`` sessions without a price, the listing is deleted at its last price (not alive
    until it trades again). A terminal event whose listing's prices end before the session before
    its ex-date cannot convert the holding (it was deleted at its last price): a note says so.

    Raises
    ------
    DataError
        An event's ex-date, inside the data, is not a date of the market.
    """
    placed = _placed(market, columns, events)
    alive = market.alive().reindex(columns=columns, fill_value=False).to_numpy(dtype=bool).copy()
    T, N = alive.shape
    for row, col, ev in placed:
        if ev.kind in TERMINAL_KINDS:
            alive[row:, col] = False
    fx = market.fx[market.currency.reindex(columns).to_numpy()].to_numpy()
    raw = market.close.reindex(columns=columns).to_numpy()
    local = pd.DataFrame(raw).ffill().to_numpy()
    usd = np.where(alive, local * fx, np.nan)
    spans = _suspensions(suspension_spans(placed, T, max_sessions), np.isfinite(raw), alive)
    for col, lo, hi in spans:
        alive[lo : hi + 1, col] = np.isfinite(local[lo : hi + 1, col])
        usd[lo : hi + 1, col] = local[lo : hi + 1, col] * fx[lo : hi + 1, col]
    factor = split_factors(placed, T, N)
    dividends = market.dividends.reindex(columns=columns, fill_value=0.0).to_numpy().copy()
    for row, col, ev in placed:  # Yahoo lists a special dividend among the ordinary ones (split-adjusted)
        if ev.kind == "special_dividend":
            dividends[row, col] = max(0.0, dividends[row, col] - float(ev.term("amount")) / factor[row, col])
    notes = tuple(
        f"{ev.ticker}: its {ev.kind} of {ev.ex_date.date()} finds no price at the session before (the market data "
        "end earlier): a holding is deleted at its last price instead of converted; record a suspension from "
        "the session after its last close, or correct the ex-date"
        for row, col, ev in placed
        if ev.kind in TERMINAL_KINDS and np.isfinite(raw[:row, col]).any() and not alive[row - 1, col]
    )
    return EventView(
        columns=columns,
        alive=alive,
        events=placed,
        close_usd=usd,
        price_usd=usd * factor,
        dividend_usd=np.nan_to_num(dividends * fx) * factor,
        fx=fx,
        spans=spans,
        notes=notes,
    )


def _placed(market: Any, columns: pd.Index, events: tuple[Any, ...]) -> list[tuple[int, int, Any]]:
    """The events inside the data as ``(row, column, event)``, the market's own splits added,
    sorted by row, then file line."""
    dates = market.close.index
    col_of = {t: i for i, t in enumerate(columns)}
    placed: list[tuple[int, int, Any]] = []
    for ev in events:
        if ev.ticker not in col_of or ev.ex_date > dates[-1] or ev.ex_date <= dates[0]:
            continue
        row = int(dates.searchsorted(ev.ex_date))
        if dates[row] != ev.ex_date:
            raise DataError(
                f"{ev.path or 'corporate actions'}:{ev.line}: {ev.kind} of {ev.ticker} on {ev.ex_date.date()}: "
                f"the market data ({market.source}) has no such date; give the price files that session or "
                "correct the ex-date"
            )
        placed.append((row, col_of[ev.ticker], ev))
    placed += _market_splits(market, columns, placed)
    placed.sort(key=lambda e: (e[0], e[2].line))
    return placed


def _suspensions(
    spans: list[tuple[int, int, int]], traded: np.ndarray, alive: np.ndarray
) -> list[tuple[int, int, int]]:
    """The suspension spans cut where the listing trades again; a listing still without a price at
    the end of its span is not alive (deleted) until it trades again (``alive`` edited in place)."""
    T = traded.shape[0]
    out = []
    for col, lo, hi in spans:
        again = np.flatnonzero(traded[lo : hi + 1, col])
        if again.size:
            hi = lo + int(again[0]) - 1
        elif hi + 1 < T:
            later = np.flatnonzero(traded[hi + 1 :, col])
            alive[hi + 1 : hi + 1 + (int(later[0]) if later.size else T), col] = False
        if hi >= lo:
            out.append((col, lo, hi))
    return out


def _market_splits(market: Any, columns: pd.Index, placed: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any]]:
    """The market data's splits (``MarketData.splits``, Yahoo's "Stock Splits") as events, except
    where the event file already has a split or consolidation of the listing on that date."""
    splits = getattr(market, "splits", None)
    if splits is None:
        return []
    known = {(row, col) for row, col, ev in placed if ev.kind in SPLIT_KINDS}
    ratios = splits.reindex(columns=columns, fill_value=0.0).to_numpy()
    found = []
    for row, col in zip(*np.nonzero((ratios > 0) & (ratios != 1.0))):
        if (int(row), int(col)) in known or row == 0:
            continue
        ratio = float(ratios[row, col])
        kind = "split" if ratio > 1 else "consolidation"
        source = f"market data ({market.source})"
        found.append(
            (int(row), int(col), CorporateAction(kind, columns[col], splits.index[row], (("ratio", ratio),), source))
        )
    return found


def merge_engine_trades(
    rows: list[int],
    targets: list[np.ndarray],
    rates: list[np.ndarray],
    is_review: list[bool],
    adjustments: EngineAdjustments,
) -> tuple[list[int], list[np.ndarray], list[np.ndarray], list[bool]]:
    """The backtest's trades with the events' trades folded in, in row order.

    An opening trade replaces a trade at the same close (a review's target then carries the events
    of the next session: netted with it, like a delisting at a review, at the review's cost rates);
    a spin-off's split-out trade gives way to any other trade at its close. An event trade on its
    own is not a review and pays the cost rates of the latest trade before it, except on the
    listings the events exchanged (zero: the fund receives or gives up those shares without
    trading them).
    """
    merged: dict[int, tuple[np.ndarray, np.ndarray | None, bool, tuple[int, ...]]] = {
        r: (t, c, rv, ()) for r, t, c, rv in zip(rows, targets, rates, is_review)
    }
    for row, target, opening, touched in adjustments.trades:
        old = merged.get(row)
        if old is None:
            merged[row] = (target, None, False, touched)
        elif opening:
            merged[row] = (target, old[1], old[2], touched)
    out_rows = sorted(merged)
    out_targets, out_rates, out_review = [], [], []
    latest = rates[0]
    for r in out_rows:
        target, own, review, touched = merged[r]
        if own is not None:
            latest = rate = own
        else:
            rate = latest.copy()
            rate[list(touched)] = 0.0
        out_targets.append(target)
        out_rates.append(rate)
        out_review.append(review)
    return out_rows, out_targets, out_rates, out_review


@dataclass(frozen=True, eq=False)
class Followed:
    """The backtest's engine inputs through the events, and the daily calculation they come from."""

    daily: DailyArrays
    trades: tuple[list[int], list[np.ndarray], list[np.ndarray], list[bool]]
    price_return: np.ndarray
    dividend_yield: np.ndarray


def follow_events(
    view: EventView,
    inside: slice,
    trades: tuple[list[int], list[np.ndarray], list[np.ndarray], list[bool]],
    price_return: np.ndarray,
    dividend_yield: np.ndarray,
    withholding: np.ndarray,
    start_level: float,
) -> Followed:
    """Run the daily calculation over the market rows ``inside`` with the backtest's ``trades``
    (rows relative to ``inside``: ``(rows, targets, rates, is_review)``) and give the engine what it
    needs to follow the same events: the trades merged (:func:`merge_engine_trades`), and the
    returns and dividend yields of the window (``price_return``, ``dividend_yield``, copied) with
    the events' overrides and the suspended lines' returns at their last price (FX moves only).
    """
    lo, hi = inside.start, inside.stop
    events = [(r - lo, c, ev) for r, c, ev in view.events if lo < r < hi]
    daily = run_daily(
        view.price_usd[inside],
        view.fx[inside],
        view.dividend_usd[inside],
        withholding,
        view.alive[inside],
        np.asarray(trades[0]),
        np.vstack(trades[1]),
        events,
        {t: i for i, t in enumerate(view.columns)},
        start_level=start_level,
    )
    r = price_return.copy()
    d = dividend_yield.copy()
    usd = view.close_usd[inside]
    for col, a, b in view.spans:  # held at the last price: the day's FX move only
        a, b = max(a - lo, 1), min(b - lo, hi - lo - 1)
        if a <= b:
            r[a : b + 1, col] = usd[a : b + 1, col] / usd[a - 1 : b, col] - 1.0
            d[a : b + 1, col] = 0.0
    eng = daily.engine
    r[eng.rows, eng.cols] = eng.price_return
    d[eng.rows, eng.cols] = eng.dividend_yield
    return Followed(daily, merge_engine_trades(*trades, eng), r, d)
