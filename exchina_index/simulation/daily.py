"""Array kernel of the daily calculation agent: index shares, a divisor, corporate actions.

Between two reviews an index administrator publishes the index every day from its *index shares*
(after S&P DJI "Index Mathematics")::

    MV[t]  = sum_i n[t,i] * P[t,i]            (P: the close as traded, times the day's FX: USD)
    PR[t]  = MV[t] / D[t]

At a trade (a review, or a replacement between reviews) at the close ``s`` the target weights
become index shares ``n_i = w_i * MV[s] / P[s,i]``: the market value is unchanged, so the divisor
is too. The index starts at the first trade with ``PR = start_level`` and ``D = MV / start_level``
(index shares scaled to ``base_value`` USD of market value at the start).

At the open of each session ``t`` the corporate actions with that ex-date change the shares and the
USD reference prices (:func:`~exchina_index.simulation.corporate_actions.apply_event`); then every
held listing with no price any more (its data ended, no event) is deleted at its last close. The
divisor becomes ``D' = D * MV' / MV`` with ``MV' = sum n' ref'``, so the level does not move.
Dividends go into the total-return levels on the ex-date, reinvested across the index::

    TR[t]  = TR[t-1]  * (MV[t] + sum_i n_i * div[t,i])              / MV'
    NTR[t] = NTR[t-1] * (MV[t] + sum_i n_i * div[t,i] * (1 - wht[t,i])) / MV'

With no corporate actions this is the return-chained engine (:mod:`exchina_index.simulation.engine`)
written in shares: both give the same levels (a test checks 1e-10 over the demo).

Engine adjustments
    The backtest runs the array engine; :func:`run_daily` also returns what the engine needs to
    follow the same events (:class:`EngineAdjustments`): after the close ``t - 1`` of every session
    ``t`` where an event changed a held line, the opening weights ``n' ref' / MV'`` (a trade at
    ``t - 1``), and the returns and dividend yields of the lines whose reference price changed,
    measured from it (``P[t] / ref' - 1``). A line spun off at a price of zero is folded into its
    parent for its first session (the parent's return includes it) and split out at that close.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exchina_index.errors import EngineInputError
from exchina_index.simulation.corporate_actions import DATA_DELETION, Effect, apply_event

__all__ = ["DailyArrays", "EngineAdjustments", "run_daily"]


@dataclass
class EngineAdjustments:
    """The engine's extra inputs for the events (see the module docstring): trades ``(row,
    target weights, opening, exchanged columns)`` and overrides of ``price_return``/
    ``dividend_yield`` at ``(rows, cols)``. An *opening* trade (the weights after the events of the
    next session) replaces a review's trade at the same close (the review's shares, adjusted); the
    trade that splits a spun-off line out of its parent gives way to one. The exchanged columns are
    the listings the events touched: the fund receives or gives up those shares without trading
    them (it pays only for reinvesting cash across the other constituents, or raising it)."""

    trades: list[tuple[int, np.ndarray, bool, tuple[int, ...]]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    price_return: list[float] = field(default_factory=list)
    dividend_yield: list[float] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class DailyArrays:
    """The daily calculation's result (rows of the input calendar; NaN before ``start``).

    Attributes
    ----------
    price_return, total_return, net_total_return, divisor : (T,) float
        Levels and the (price-return) divisor at each close.
    constituents : (T,) int
        Listings with index shares at each close.
    shares : (T, N) float
        Index shares valuing each close (the opening composition of that session; at ``start``
        the base shares).
    reference : (T, N) float
        USD reference prices of each session's open (the previous close, adjusted by the events).
    after_close : (N,) float
        Index shares after the trades at the last close: the next session's opening composition
        before its corporate actions.
    effects : list of Effect
        Every event applied (held or not) and every deletion at the end of a line's data.
    engine : EngineAdjustments
    price_usd, fx, dividend_usd : (T, N) float
        The inputs of the same names (closes as traded times FX; FX; dividends as traded in USD).
    """

    price_return: np.ndarray
    total_return: np.ndarray
    net_total_return: np.ndarray
    divisor: np.ndarray
    constituents: np.ndarray
    shares: np.ndarray
    reference: np.ndarray
    after_close: np.ndarray
    effects: list[Effect]
    engine: EngineAdjustments
    price_usd: np.ndarray
    fx: np.ndarray
    dividend_usd: np.ndarray


def run_daily(
    price_usd: np.ndarray,
    fx: np.ndarray,
    dividend_usd: np.ndarray,
    withholding: np.ndarray,
    alive: np.ndarray,
    trade_rows: np.ndarray,
    targets: np.ndarray,
    events: list[tuple[int, int, Any]],
    column_of: dict[str, int],
    start_level: float = 1000.0,
    base_value: float = 1e9,
) -> DailyArrays:
    """Compute the index day by day from index shares (see the module docstring).

    Parameters
    ----------
    price_usd : (T, N) float
        Closes as traded times the day's FX (carried on a holiday of the listing's exchange); NaN
        where the listing has no price.
    fx : (T, N) float
        USD per unit of each listing's currency (converts the events' local amounts).
    dividend_usd : (T, N) float
        Cash dividend per share as traded, in USD at the ex-date's FX, on its ex-date; 0 elsewhere.
    withholding : (T, N) float
        Withholding rate in force on each ex-date.
    alive : (T, N) bool
        The listing can be held at the close (market life, extended over suspensions).
    trade_rows, targets : (K,) int, (K, N) float
        Strictly increasing trade closes and their target weights (rows sum to 1).
    events : list of (row, column, event)
        Corporate actions by ex-date row, in the order to apply them.
    column_of
        Ticker -> column, for the listings an event names (acquirer, spun-off line).
    start_level, base_value
        The level and the index market value (USD) at the first trade.

    Raises
    ------
    EngineInputError, DataError
        A target on a listing without a price at its close; an event that needs a price it lacks.
    """
    T, N = price_usd.shape
    t0 = int(trade_rows[0])
    pr, tr, ntr, dv = (np.full(T, np.nan) for _ in range(4))
    count = np.zeros(T, dtype=np.int64)
    shares = np.zeros((T, N))
    reference = np.full((T, N), np.nan)
    trades = {int(r): targets[k] for k, r in enumerate(trade_rows)}
    by_row: dict[int, list[tuple[int, Any]]] = {}
    for row, col, ev in events:
        by_row.setdefault(row, []).append((col, ev))
    effects: list[Effect] = []
    eng = EngineAdjustments()

    divisor = base_value / start_level
    n = _to_shares(trades[t0], base_value, price_usd[t0], t0)
    pr[t0] = tr[t0] = ntr[t0] = start_level
    dv[t0], shares[t0], count[t0] = divisor, n, int((n > 0).sum())
    out = (pr, tr, ntr, dv, shares, reference, count)
    event_rows = np.array(sorted(by_row), dtype=np.intp)
    trade_at = np.asarray(trade_rows, dtype=np.intp)
    t = t0 + 1
    while t < T:  # a session with events or deletions at its open, then the sessions up to the next one
        ref = price_usd[t - 1].copy()
        held = n > 0
        mv_prev = float((n[held] * ref[held]).sum())
        parent_of: dict[int, int] = {}
        today = [
            apply_event(ev, t, col, n, ref, fx[t - 1], column_of, (alive[t - 1], alive[t]), parent_of)
            for col, ev in by_row.get(t, [])
        ]
        acted = any(e.held and e.kind != "suspension" for e in today)  # a suspension changes no share
        for col in np.flatnonzero((n > 0) & ~alive[t]).tolist():  # its data ended: deleted at its last close
            today.append(Effect(t, DATA_DELETION, "", "", True, (col,), (float(n[col]),), (0.0,)))
            n[col] = 0.0
        effects.extend(today)
        held = n > 0
        mv_open = float((n[held] * ref[held]).sum())
        if mv_prev > 0 and mv_open > 0:
            divisor *= mv_open / mv_prev
        if acted:
            touched = tuple(sorted({c for e in today if e.held and e.kind != DATA_DELETION for c in e.columns}))
            _engine_step(eng, t, n, ref, price_usd, dividend_usd, parent_of, mv_open, touched)
        e = _stretch_end(t, T, event_rows, trade_at, alive, held)
        reference[t] = ref
        mv = _stretch(t, e, n, mv_open, divisor, price_usd, dividend_usd, withholding, out)
        if e in trades:
            n = _to_shares(trades[e], mv if mv > 0 else pr[e] * divisor, price_usd[e], e)
        t = e + 1
    return DailyArrays(pr, tr, ntr, dv, count, shares, reference, n, effects, eng, price_usd, fx, dividend_usd)


def _stretch_end(
    t: int, T: int, event_rows: np.ndarray, trade_at: np.ndarray, alive: np.ndarray, held: np.ndarray
) -> int:
    """The last session ``e >= t`` valued with the shares of the open of ``t``: before the next
    session with events, or where a held listing has no price any more; at the next trade."""
    e = T - 1
    k = int(np.searchsorted(trade_at, t))
    if k < trade_at.size:
        e = min(e, int(trade_at[k]))
    k = int(np.searchsorted(event_rows, t, side="right"))
    if k < event_rows.size:
        e = min(e, int(event_rows[k]) - 1)
    if e > t and held.any():
        gone = ~alive[t + 1 : e + 1][:, held].all(axis=1)
        if gone.any():
            e = t + int(np.argmax(gone))
    return e


def _stretch(
    t: int,
    e: int,
    n: np.ndarray,
    mv_open: float,
    divisor: float,
    price_usd: np.ndarray,
    dividend_usd: np.ndarray,
    withholding: np.ndarray,
    out: tuple[np.ndarray, ...],
) -> float:
    """Value the sessions ``t..e`` with fixed index shares ``n`` and divisor (arrays: no loop) into
    ``out`` = (pr, tr, ntr, divisor, shares, reference, count); returns the market value at ``e``.

    The open of ``t`` is worth ``mv_open``; each later session opens at the previous close."""
    pr, tr, ntr, dv, shares, reference, count = out
    rows = slice(t, e + 1)
    held = np.flatnonzero(n > 0)
    dv[rows], shares[rows], count[rows] = divisor, n, held.size
    reference[t + 1 : e + 1] = price_usd[t:e]
    if mv_open <= 0:  # every constituent deleted: the index holds cash until the next trade
        pr[rows], tr[rows], ntr[rows] = pr[t - 1], tr[t - 1], ntr[t - 1]
        return 0.0
    nh = n[held]
    mv = (price_usd[rows][:, held] * nh).sum(axis=1)  # row sums without BLAS, as the engine
    if not np.isfinite(mv).all():
        bad = t + int(np.flatnonzero(~np.isfinite(mv))[0])
        raise EngineInputError(f"a held listing has no price at row {bad} (the index market value is not finite)")
    div = dividend_usd[rows][:, held] * nh
    base = np.concatenate([[mv_open], mv[:-1]])
    pr[rows] = mv / divisor
    tr[rows] = tr[t - 1] * np.cumprod((mv + div.sum(axis=1)) / base)
    ntr[rows] = ntr[t - 1] * np.cumprod((mv + (div * (1.0 - withholding[rows][:, held])).sum(axis=1)) / base)
    return float(mv[-1])


def _to_shares(w: np.ndarray, value: float, price: np.ndarray, row: int) -> np.ndarray:
    """Index shares worth ``value * w`` at ``price`` (zero where the weight is zero)."""
    held = w > 0
    if not np.isfinite(price[held]).all():
        col = int(np.flatnonzero(held & ~np.isfinite(price))[0])
        raise EngineInputError(f"target weight on column {col} at row {row}, which has no price there")
    out = np.zeros_like(w)
    out[held] = w[held] / w.sum() * value / price[held]
    return out


def _engine_step(
    eng: EngineAdjustments,
    t: int,
    n: np.ndarray,
    ref: np.ndarray,
    price_usd: np.ndarray,
    dividend_usd: np.ndarray,
    parent_of: dict[int, int],
    mv_open: float,
    touched: tuple[int, ...],
) -> None:
    """The engine's inputs for session ``t``'s events: the opening weights as a trade at ``t - 1``,
    and the returns of the lines whose reference price moved (spun-off lines folded into their
    parent for the day, then split out by a trade at ``t``). Nothing when no constituent is left:
    the engine's own delisting rule then leaves it in cash, as here."""
    if mv_open <= 0:
        return
    held = n > 0
    w = np.zeros_like(n)
    w[held] = n[held] * ref[held] / mv_open
    eng.trades.append((t - 1, w, True, touched))
    moved = set(np.flatnonzero(held & (ref != price_usd[t - 1])).tolist()) | set(parent_of.values())
    for col in sorted(moved - set(parent_of)):  # a line priced at zero enters through its parent's return
        base = n[col] * ref[col]
        value, div = n[col] * price_usd[t, col], n[col] * dividend_usd[t, col]
        for new, parent in parent_of.items():
            if parent == col:
                value += n[new] * price_usd[t, new]
                div += n[new] * dividend_usd[t, new]
        eng.rows.append(t)
        eng.cols.append(col)
        eng.price_return.append(value / base - 1.0)
        eng.dividend_yield.append(div / base)
    if parent_of:
        close = np.where(held, n * price_usd[t], 0.0)
        eng.trades.append((t, close / close.sum(), False, touched))
