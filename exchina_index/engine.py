"""Array kernel of the index calculation: drift, PR/TR/NTR levels, rebalances, delistings, costs, NAV.

This module is pure numpy: no pandas, no I/O, no clock, deterministic. :func:`run_index` takes
day-by-listing arrays already converted to USD and aligned on one calendar, and returns an
:class:`IndexRun`. ``backtest.py`` builds the arrays from market data and wraps the result in frames.

Conventions (index-provider style, after S&P DJI "Index Mathematics")
--------------------------------------------------------------------
Notation: ``t`` is a row (a close), ``i`` a column (a listing), ``k`` a review, ``s_k =
rebalance_index[k]`` the close at which review ``k``'s target weights take effect.

Start
    The index is undefined before the first review. It starts at the close ``t0 = s_0``: every level
    equals ``start_level`` there; every output row before ``t0`` is NaN. Returns of row ``t0`` (and
    of row 0) are never used.

Between reviews: fixed index shares, weights drift with price
    ``w[t-1]`` are the weights at the close ``t-1`` after any trade on that close. With ``r`` the
    USD price return and ``d`` the USD dividend yield (dividend on its ex-date over the previous USD
    close) of each listing::

        PR[t]  = sum_i w[t-1,i] * r[t,i]
        TR[t]  = sum_i w[t-1,i] * (r[t,i] + d[t,i])                 (gross dividends reinvested
        NTR[t] = sum_i w[t-1,i] * (r[t,i] + d[t,i] * (1 - wht_i))    across the whole index on the
        w[t,i] = w[t-1,i] * (1 + r[t,i]) / (1 + PR[t])                ex-date)

    The three levels share the same drifted weights (a dividend reinvested pro rata across the index
    does not change the weights), and each compounds its own daily return from ``start_level``.
    A holiday on one exchange is a zero return for that listing, so its weight just drifts.

At a review close ``s_k``
    The day's return is earned with the previous weights first; then the pre-trade (drifted)
    weights ``p = w[s_k]`` are replaced by the post-trade weights ``q`` (the target, see the
    delisting rule below for the one exception)::

        turnover[k] = 1/2 * sum_i |q_i - p_i|          (one-way turnover)
        cost[k]     = sum_i |q_i - p_i| * cost_rate[k,i]   (fraction of NAV: two-sided traded
                                                            value times the one-way rate)

    At the first review ``p = 0`` (the fund holds cash), so ``turnover[0] = 1/2`` and ``cost[0]``
    is the cost of buying the initial portfolio. It is also returned as ``initial_cost``;
    ``charge_initial_cost`` decides whether the NAV pays it (default: yes, so the NAV starts at
    ``start_level * (1 - cost[0])``; with ``False`` it starts at ``start_level``).

Levels are gross, the NAV is the fund
    The PR, TR and NTR levels are gross of trading costs and fees, as a provider publishes them.
    ``nav`` is a fund tracking the NTR index: it earns ``NTR[t]`` each day, pays the expense ratio
    daily (``nav *= 1 - expense_ratio * day_count[t] / 365`` for every row after ``t0``) and pays
    every trading cost at the close where it is incurred (``nav *= 1 - cost``). With zero costs and
    zero fees the NAV equals the NTR level.

Delisting between reviews
    ``alive[t, i]`` is False once listing ``i`` has no valid price any more. When a listing held at
    the close ``c`` (weight > 0) is alive at ``c`` and not at ``c + 1``, it is sold at the close
    ``c`` (its last valid close) and the proceeds are reinvested pro rata across the remaining
    constituents at that same close (divisor-style: the levels do not move, no cash drag)::

        q_j = p_j / (1 - sum of the weights sold)   for the remaining j, 0 for the sold names

    The event is recorded as ``(c, column)`` in ``delisting_events``. The NAV pays the same cost
    formula as a review, ``sum_i |q_i - p_i| * cost_rate[k,i]`` with the rates of the most recent
    review ``k``: the sale at the delisted name's rate plus the pro-rata purchases at each buyer's
    rate (in total twice the weight sold when the rates are equal). If every held name is delisted
    the index holds cash (``q = 0``, zero return, only the sale is paid) until the next review,
    whose pre-trade weights are then 0.

    A review whose target holds a listing that is alive at ``s_k`` but not at ``s_k + 1`` applies
    the same rule at once, netted with the trade: ``q`` is the target with those names removed and
    the rest scaled up pro rata; ``turnover`` and ``cost`` are measured against that ``q`` and the
    names are reported in ``delisting_events`` at ``s_k``.

    A listing that is not alive never carries weight, and its returns and dividends (which may be
    NaN or garbage) never enter any level. Returns of listings with zero weight are never read.

Inputs the caller guarantees (checked; :class:`EngineInputError`, a ``ValueError``, otherwise)
    Every listing with a positive target weight is alive at its review close; targets are >= 0 and
    each row sums to 1; returns and dividends of held, alive listings are finite and returns are
    > -1 for the index as a whole.

Implementation
    No Python loop over days: the run is cut into segments at every review and at every close where
    a held name is delisted; inside a segment only the listings with positive weight (the active
    set) are touched, holdings are ``h[t] = w[s] * cumprod(1 + r)`` and ``V[t] = sum_i h[t,i]``
    gives ``PR[t] = V[t] / V[t-1] - 1`` and ``w[t] = h[t] / V[t]``. Dividends (sparse) are added in
    one vectorised pass over their nonzero entries using the stored drifted weights.

Examples
--------
>>> import numpy as np
>>> r = np.array([[0.0, 0.0], [0.10, -0.05], [0.0, 0.02]])
>>> run = run_index(
...     price_return=r, dividend_yield=np.zeros_like(r), withholding=np.zeros(2),
...     alive=np.ones(r.shape, bool), rebalance_index=np.array([0]),
...     target_weights=np.array([[0.5, 0.5]]), cost_rate=np.zeros((1, 2)),
...     expense_ratio=0.0, day_count=np.ones(3, int))
>>> run.price_return_level.round(6).tolist()
[1000.0, 1025.0, 1034.5]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from exchina_index.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["EngineInputError", "IndexRun", "run_index"]

_SUM_TOL = 1e-8


class EngineInputError(DataError, ValueError):
    """The arrays given to :func:`run_index` break one of its preconditions.

    It is both a :class:`~exchina_index.errors.DataError` (so the command line reports it as bad
    input) and a ``ValueError``.
    """


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class IndexRun:
    """The result of :func:`run_index`; every array is read-only.

    Attributes
    ----------
    price_return_level, total_return_level, net_total_return_level : (T,) float
        Index levels, gross of trading costs and fees; ``start_level`` at ``start``, NaN before.
    nav : (T,) float
        The fund tracking the NTR index after trading costs and the expense ratio; NaN before start.
    daily_returns : (T, 3) float
        Columns PR, TR, NTR daily returns; NaN up to and including ``start``.
    drifted_weights : (T, N) float
        Weights at each close after any rebalance or delisting on that close; NaN rows before start.
    pre_trade_weights : (K, N) float
        Drifted weights at each review close before the trade (zeros at the first review).
    post_trade_weights : (K, N) float
        Weights after each review's trade: the target, unless a target name delists at once.
    turnover : (K,) float
        One-way turnover ``1/2 * sum |post - pre|`` of each review (1/2 at the first review).
    cost : (K,) float
        Trading cost of each review as a fraction of NAV (``cost[0]`` buys the initial portfolio).
    initial_cost : float
        ``cost[0]``, the cost of buying the initial portfolio.
    cost_by_day : (T,) float
        Fraction of NAV paid in trading costs at each close (reviews and delisting sales) as the NAV
        actually paid it (so 0 at ``start`` when ``charge_initial_cost`` is False).
    delisting_events : list of (int, int)
        ``(row of the last valid close, column)`` of every held listing sold because it delisted.
    start : int
        Row of the first review close, where the index starts.
    rebalance_index : (K,) int
        The review closes, as given.
    """

    price_return_level: np.ndarray
    total_return_level: np.ndarray
    net_total_return_level: np.ndarray
    nav: np.ndarray
    daily_returns: np.ndarray
    drifted_weights: np.ndarray
    pre_trade_weights: np.ndarray
    post_trade_weights: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    initial_cost: float
    cost_by_day: np.ndarray
    delisting_events: list[tuple[int, int]] = field(default_factory=list)
    start: int = 0
    rebalance_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))

    def to_frames(self, dates: Any, columns: Any) -> dict[str, pd.DataFrame | pd.Series]:
        """Label the arrays with ``dates`` (length T) and ``columns`` (length N) as pandas objects.

        Returns a dict with ``levels`` (columns price_return, total_return, net_total_return, nav),
        ``returns``, ``drifted``, ``pre_trade``, ``post_trade`` (indexed by review date),
        ``turnover`` and ``cost`` (Series by review date) and ``cost_by_day``.
        """
        import pandas as pd

        dates = pd.Index(dates)
        columns = pd.Index(columns)
        reviews = dates[self.rebalance_index] if len(self.rebalance_index) else dates[:0]
        levels = pd.DataFrame(
            {
                "price_return": self.price_return_level,
                "total_return": self.total_return_level,
                "net_total_return": self.net_total_return_level,
                "nav": self.nav,
            },
            index=dates,
        )
        return {
            "levels": levels,
            "returns": pd.DataFrame(
                self.daily_returns,
                index=dates,
                columns=["price_return", "total_return", "net_total_return"],
            ),
            "drifted": pd.DataFrame(self.drifted_weights, index=dates, columns=columns),
            "pre_trade": pd.DataFrame(self.pre_trade_weights, index=reviews, columns=columns),
            "post_trade": pd.DataFrame(self.post_trade_weights, index=reviews, columns=columns),
            "turnover": pd.Series(self.turnover, index=reviews, name="turnover"),
            "cost": pd.Series(self.cost, index=reviews, name="cost"),
            "cost_by_day": pd.Series(self.cost_by_day, index=dates, name="cost"),
        }



def _as_float(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise EngineInputError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


def _validate(
    price_return: Any,
    dividend_yield: Any,
    withholding: Any,
    alive: Any,
    rebalance_index: Any,
    target_weights: Any,
    cost_rate: Any,
    expense_ratio: float,
    day_count: Any,
) -> tuple[np.ndarray, ...]:
    r = np.asarray(price_return, dtype=np.float64)
    if r.ndim != 2:
        raise EngineInputError(f"price_return must be a T x N matrix, got shape {r.shape}")
    T, N = r.shape
    d = _as_float("dividend_yield", dividend_yield, (T, N))
    wht = _as_float("withholding", withholding, (N,))
    if not np.all((wht >= 0.0) & (wht <= 1.0)):
        j = int(np.flatnonzero(~((wht >= 0.0) & (wht <= 1.0)))[0])
        raise EngineInputError(f"withholding[{j}] = {wht[j]!r} is not a rate in [0, 1]")
    al = np.asarray(alive)
    if al.shape != (T, N):
        raise EngineInputError(f"alive has shape {al.shape}, expected {(T, N)}")
    if al.dtype != np.bool_:
        al = al.astype(bool)
    reb = np.asarray(rebalance_index)
    if reb.ndim != 1 or reb.size == 0:
        raise EngineInputError("rebalance_index must be a non-empty 1-d array of row positions")
    if not np.issubdtype(reb.dtype, np.integer):
        if not np.all(np.asarray(reb, dtype=np.float64) == np.round(reb)):
            raise EngineInputError("rebalance_index must hold integer row positions")
    reb = reb.astype(np.intp)
    K = reb.size
    if reb[0] < 0 or reb[-1] > T - 1:
        raise EngineInputError(f"rebalance_index must lie in 0..{T - 1}, got {reb[0]}..{reb[-1]}")
    if K > 1 and not np.all(np.diff(reb) > 0):
        j = int(np.flatnonzero(np.diff(reb) <= 0)[0])
        raise EngineInputError(
            f"rebalance_index must be strictly increasing: position {j + 1} "
            f"({reb[j + 1]}) follows {reb[j]}"
        )
    tw = _as_float("target_weights", target_weights, (K, N))
    bad = ~(np.isfinite(tw) & (tw >= 0.0))
    if bad.any():
        k, j = (int(x) for x in np.argwhere(bad)[0])
        raise EngineInputError(f"target_weights[{k}, {j}] = {tw[k, j]!r} is not a weight >= 0")
    sums = tw.sum(axis=1)
    if not np.all(np.abs(sums - 1.0) <= _SUM_TOL):
        k = int(np.flatnonzero(np.abs(sums - 1.0) > _SUM_TOL)[0])
        raise EngineInputError(f"target_weights row {k} sums to {sums[k]!r}, expected 1")
    cr = _as_float("cost_rate", cost_rate, (K, N))
    bad = ~(np.isfinite(cr) & (cr >= 0.0))
    if bad.any():
        k, j = (int(x) for x in np.argwhere(bad)[0])
        raise EngineInputError(f"cost_rate[{k}, {j}] = {cr[k, j]!r} is not a rate >= 0")
    er = float(expense_ratio)
    if not (np.isfinite(er) and 0.0 <= er < 1.0):
        raise EngineInputError(f"expense_ratio = {expense_ratio!r} is not an annual rate in [0, 1)")
    dc = _as_float("day_count", day_count, (T,))
    tail = dc[reb[0] + 1 :]
    if not np.all(np.isfinite(tail) & (tail >= 0.0)):
        j = int(np.flatnonzero(~(np.isfinite(tail) & (tail >= 0.0)))[0]) + reb[0] + 1
        raise EngineInputError(f"day_count[{j}] = {dc[j]!r} is not a day count >= 0")
    # Target names must be alive at their review close.
    dead = (tw > 0.0) & ~al[reb]
    if dead.any():
        k, j = (int(x) for x in np.argwhere(dead)[0])
        raise EngineInputError(
            f"target_weights[{k}] gives weight {tw[k, j]!r} to column {j}, which is not alive at "
            f"rebalance_index[{k}] = row {reb[k]}"
        )
    return r, d, wht, al, reb, tw, cr, np.float64(er), dc


def _cols(active: np.ndarray, N: int) -> slice | np.ndarray:
    """Index for the active columns: a slice when they are contiguous (views, no gather)."""
    m = active.size
    if m and active[-1] - active[0] == m - 1:
        return slice(int(active[0]), int(active[-1]) + 1)
    return active


def run_index(
    price_return: np.ndarray,
    dividend_yield: np.ndarray,
    withholding: np.ndarray,
    alive: np.ndarray,
    rebalance_index: np.ndarray,
    target_weights: np.ndarray,
    cost_rate: np.ndarray,
    expense_ratio: float,
    day_count: np.ndarray,
    start_level: float = 1000.0,
    *,
    charge_initial_cost: bool = True,
) -> IndexRun:
    """Compute PR, TR and NTR index levels and the NAV of a fund tracking the NTR index.

    See the module docstring for the conventions.

    Parameters
    ----------
    price_return : (T, N) float
        USD daily price return of each listing, FX included (``close_usd[t] / close_usd[t-1] - 1``);
        0.0 on a holiday of its exchange. Row 0 is ignored. Entries of listings that are not held
        (not alive, zero weight) are never read and may be NaN.
    dividend_yield : (T, N) float
        USD dividend on its ex-date ``t`` divided by ``close_usd[t-1]``; 0 elsewhere.
    withholding : (N,) float
        Withholding-tax rate of each listing (by domicile) for the net total return.
    alive : (T, N) bool
        The listing has a valid price on or before ``t`` and is not delisted.
    rebalance_index : (K,) int
        Strictly increasing rows at whose close the targets take effect.
    target_weights : (K, N) float
        Target weights of each review (>= 0, rows sum to 1).
    cost_rate : (K, N) float
        One-way transaction cost, as a fraction of traded value, of each listing at each review;
        also used for delisting sales until the next review.
    expense_ratio : float
        Annual expense ratio of the fund, accrued daily by ``day_count / 365``.
    day_count : (T,) int
        Calendar days since the previous row; row 0 and rows up to the start are ignored.
    start_level : float
        Level of the three indices (and the NAV before the initial cost) at the first review close.
    charge_initial_cost : bool, keyword-only
        Whether the NAV pays ``cost[0]``, the cost of buying the initial portfolio.

    Returns
    -------
    IndexRun

    Raises
    ------
    EngineInputError
        (a ``ValueError``) when shapes disagree, a target is negative or does not sum to 1, a
        target name is not alive at its review, or a held name has a non-finite return.
    """
    r, d, wht, al, reb, tw, cr, er, dc = _validate(
        price_return,
        dividend_yield,
        withholding,
        alive,
        rebalance_index,
        target_weights,
        cost_rate,
        expense_ratio,
        day_count,
    )
    T, N = r.shape
    K = reb.size
    t0 = int(reb[0])

    # Drifted weights: rows before the start are NaN, later rows are written segment by segment
    # (only the active columns; everything else stays 0).
    dw = np.zeros((T, N), dtype=np.float64)
    dw[:t0] = np.nan
    pr = np.zeros(T, dtype=np.float64)  # daily PR return, filled for rows > t0
    cost_by_day = np.zeros(T, dtype=np.float64)
    pre = np.zeros((K, N), dtype=np.float64)
    post = np.zeros((K, N), dtype=np.float64)
    turnover = np.zeros(K, dtype=np.float64)
    cost = np.zeros(K, dtype=np.float64)
    events: list[tuple[int, int]] = []

    # Every "death": (c, i) with alive[c, i] and not alive[c + 1, i]; c is the last valid close.
    if T > 1:
        death_c, death_i = np.nonzero(al[:-1] & ~al[1:])
    else:
        death_c = death_i = np.zeros(0, dtype=np.intp)

    def dying_at(c: int) -> np.ndarray:
        lo, hi = np.searchsorted(death_c, [c, c + 1])
        return death_i[lo:hi]

    w = np.zeros(N, dtype=np.float64)  # weights after the close s, start of the current segment
    s = t0
    k = 0  # next review to apply
    k_last = 0  # most recent review applied (its cost rates price delisting sales)
    rebal_at_s = True
    while True:
        # ---- trades at the close s (weights w are the pre-trade weights at s) ----
        if rebal_at_s:
            p = w
            q = tw[k].copy()
            gone = dying_at(s)
            gone = gone[q[gone] > 0.0]
            if gone.size:
                events.extend((s, int(i)) for i in gone)
                q[gone] = 0.0
                rest = q.sum()
                q = q / rest if rest > 0.0 else np.zeros(N)
            delta = np.abs(q - p)
            pre[k] = p
            post[k] = q
            turnover[k] = 0.5 * delta.sum()
            cost[k] = float(delta @ cr[k])
            cost_by_day[s] += cost[k]
            w = q
            dw[s] = w
            k_last = k
            k += 1
        else:
            gone = dying_at(s)
            gone = gone[w[gone] > 0.0]
            if gone.size:
                p = w
                events.extend((s, int(i)) for i in gone)
                q = w.copy()
                q[gone] = 0.0
                rest = q.sum()
                q = q / rest if rest > 0.0 else np.zeros(N)
                cost_by_day[s] += float(np.abs(q - p) @ cr[k_last])
                w = q
                dw[s] = w

        if s >= T - 1:
            break

        # ---- the segment (s, e]: next review or the next close where a held name delists ----
        e_reb = int(reb[k]) if k < K else T - 1
        active = np.flatnonzero(w > 0.0)
        e = e_reb
        if active.size:
            lo, hi = np.searchsorted(death_c, [s + 1, e_reb])
            if hi > lo:
                held = np.zeros(N, dtype=bool)
                held[active] = True
                hits = np.flatnonzero(held[death_i[lo:hi]])
                if hits.size:
                    e = int(death_c[lo + hits[0]])
        if active.size:
            cols = _cols(active, N)
            w0 = w[cols]
            # h[t] = w0 * prod_{u <= t} (1 + r[u]) for t = s+1..e, computed in place.
            h = r[s + 1 : e + 1, cols]
            h = h + 1.0 if isinstance(cols, slice) else np.add(h, 1.0, out=h)
            h[0] *= w0
            np.cumprod(h, axis=0, out=h)
            V = h.sum(axis=1)
            if not np.all(np.isfinite(V)) or not np.all(V > 0.0):
                _raise_bad_segment(r, s, e, active, V)
            v_prev = np.empty_like(V)
            v_prev[0] = w0.sum()
            v_prev[1:] = V[:-1]
            pr[s + 1 : e + 1] = V / v_prev - 1.0
            h /= V[:, None]
            dw[s + 1 : e + 1, cols] = h
            w = dw[e].copy()
        else:
            # cash: zero return, zero weights (already zero in dw and pr)
            w = np.zeros(N, dtype=np.float64)
        s = e
        rebal_at_s = k < K and s == int(reb[k])

    # ---- dividends: one pass over the nonzero entries, using the weights at the previous close ----
    div_tr = np.zeros(T, dtype=np.float64)
    div_ntr = np.zeros(T, dtype=np.float64)
    if t0 + 1 < T:
        rows, cols_d = np.nonzero(d[t0 + 1 :])
        if rows.size:
            rows = rows + (t0 + 1)
            wprev = dw[rows - 1, cols_d]
            keep = wprev > 0.0
            rows, cols_d, wprev = rows[keep], cols_d[keep], wprev[keep]
            dv = d[rows, cols_d]
            if not np.all(np.isfinite(dv)):
                j = int(np.flatnonzero(~np.isfinite(dv))[0])
                raise EngineInputError(
                    f"dividend_yield[{rows[j]}, {cols_d[j]}] = {dv[j]!r} is not finite for a held "
                    "listing"
                )
            contrib = wprev * dv
            div_tr = np.bincount(rows, weights=contrib, minlength=T)
            div_ntr = np.bincount(rows, weights=contrib * (1.0 - wht[cols_d]), minlength=T)

    # ---- levels and NAV ----
    start = np.float64(start_level)
    rets = np.full((T, 3), np.nan, dtype=np.float64)
    rets[t0 + 1 :, 0] = pr[t0 + 1 :]
    rets[t0 + 1 :, 1] = pr[t0 + 1 :] + div_tr[t0 + 1 :]
    rets[t0 + 1 :, 2] = pr[t0 + 1 :] + div_ntr[t0 + 1 :]
    levels = np.full((T, 3), np.nan, dtype=np.float64)
    levels[t0] = start
    if t0 + 1 < T:
        levels[t0 + 1 :] = start * np.cumprod(1.0 + rets[t0 + 1 :], axis=0)

    if not charge_initial_cost:
        cost_by_day[t0] = 0.0  # the only cost at t0 is the initial purchase (delistings are netted)
    growth = (1.0 - cost_by_day[t0:]).copy()
    growth[1:] *= (1.0 + rets[t0 + 1 :, 2]) * (1.0 - er * dc[t0 + 1 :] / 365.0)
    nav = np.full(T, np.nan, dtype=np.float64)
    nav[t0:] = start * np.cumprod(growth)

    return IndexRun(
        price_return_level=_readonly(np.ascontiguousarray(levels[:, 0])),
        total_return_level=_readonly(np.ascontiguousarray(levels[:, 1])),
        net_total_return_level=_readonly(np.ascontiguousarray(levels[:, 2])),
        nav=_readonly(nav),
        daily_returns=_readonly(rets),
        drifted_weights=_readonly(dw),
        pre_trade_weights=_readonly(pre),
        post_trade_weights=_readonly(post),
        turnover=_readonly(turnover),
        cost=_readonly(cost),
        initial_cost=float(cost[0]),
        cost_by_day=_readonly(cost_by_day),
        delisting_events=events,
        start=t0,
        rebalance_index=_readonly(reb.copy()),
    )


def _raise_bad_segment(r: np.ndarray, s: int, e: int, active: np.ndarray, V: np.ndarray) -> None:
    block = r[s + 1 : e + 1][:, active]
    bad = ~np.isfinite(block)
    if bad.any():
        t, j = (int(x) for x in np.argwhere(bad)[0])
        raise EngineInputError(
            f"price_return[{s + 1 + t}, {int(active[j])}] = {block[t, j]!r} is not finite for a "
            "held, alive listing"
        )
    t = int(np.flatnonzero(~(V > 0.0))[0])
    raise EngineInputError(
        f"the index value fell to zero or below at row {s + 1 + t}: every held listing lost 100 %"
    )
