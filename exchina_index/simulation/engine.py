"""Array kernel of the index calculation: drift, PR/TR/NTR levels, reviews, delistings, costs, NAV.

This module is pure numpy: no pandas, no I/O, no clock, deterministic. :func:`run_index` takes
day-by-listing arrays already converted to USD and aligned on one calendar, and returns an
:class:`IndexRun`. The backtest builds the arrays from market data and labels the result
(:meth:`IndexRun.to_frames`).

Conventions (index-provider style, after S&P DJI "Index Mathematics")
--------------------------------------------------------------------
Notation: ``t`` is a row (a close), ``i`` a column (a listing), ``k`` a review, ``s_k =
rebalance_index[k]`` the close at which review ``k``'s target weights take effect.

Start
    The index is undefined before the first review. It starts at the close ``t0 = s_0``: every level
    equals ``start_level`` there; every output row before ``t0`` is NaN, and so are the daily
    returns of row ``t0``. Returns of rows up to ``t0`` are never read. Target rows (checked to sum
    to 1 within 1e-8) are rescaled to sum to 1 exactly.

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
    Once the post-trade weights are known the periods between reviews are independent, so they
    are drifted together: step ``l`` handles the row ``s_k + 1 + l`` of every period ``k`` still
    running with a dozen array operations on a (periods x columns) block, in cache-sized batches,
    longest period first. There is no Python loop over days, only over the rows of the longest
    period (about 63 with quarterly reviews). When only a few long periods are left (annual
    reviews, buy and hold), each one is finished vectorised over its rows instead: holdings are
    ``w * cumprod(1 + r)``, zeroed from a delisting on, and ``w[t] = h[t] / sum_i h[t,i]``. When
    most listings are never held, only the columns ever held are copied and touched (and
    ``drifted_weights`` is then a column-major array). Row sums do not use BLAS.

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

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from exchina_index.errors import EngineInputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["EngineInputError", "IndexRun", "run_index"]

_SUM_TOL = 1e-8
# Work on all N columns (whole-row copies) when more than this fraction of them is ever held;
# otherwise on compact copies of the columns ever held.
_SUBSET_FRACTION = 0.5
# Periods are drifted together, a batch of at most this many (period x column) cells at a time.
_BATCH_ELEMENTS = 65536
# Switch the periods still running to the row-vectorised tail kernel when that is cheaper:
# n * (m * per_element + per_call / rows_left) < per_step, and at least _TAIL_MIN_ROWS are left.
_STEP_COST = 25e-6
_TAIL_COST_PER_ELEMENT = 7e-9
_TAIL_COST_PER_CALL = 100e-6
_TAIL_MIN_ROWS = 16


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
    # C order: the kernel gathers whole rows (a frame's .to_numpy() is often column-major: copied)
    r = np.ascontiguousarray(price_return, dtype=np.float64)
    if r.ndim != 2:
        raise EngineInputError(f"price_return must be a T x N matrix, got shape {r.shape}")
    T, N = r.shape
    d = None if dividend_yield is None else np.ascontiguousarray(
        _as_float("dividend_yield", dividend_yield, (T, N)))
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


def run_index(
    price_return: np.ndarray,
    dividend_yield: np.ndarray | None,
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
    dividend_yield : (T, N) float or None
        USD dividend on its ex-date ``t`` divided by ``close_usd[t-1]``; 0 elsewhere (NaN allowed
        where the listing is not held, as for returns). None: no dividends (a price-only run; the
        TR and NTR levels then equal the PR level), which spares reading a matrix of zeros.
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
    events: list[tuple[int, int]] = []
    cost_by_day = np.zeros(T, dtype=np.float64)

    # ---- post-trade weights q of each review: the target (renormalised to sum exactly 1), minus
    # the target names that are not alive at the next row (sold at once, netted with the trade).
    q = tw / tw.sum(axis=1, keepdims=True)
    has_next = np.flatnonzero(reb + 1 < T)
    if has_next.size:
        gone = (q[has_next] > 0.0) & ~al[reb[has_next] + 1]
        for kk in np.flatnonzero(gone.any(axis=1)):
            k = int(has_next[kk])
            cols_gone = np.flatnonzero(gone[kk])
            events.extend((int(reb[k]), int(j)) for j in cols_gone)
            q[k, cols_gone] = 0.0
            rest = q[k].sum()
            q[k] = q[k] / rest if rest > 0.0 else 0.0

    # ---- periods: review k holds q[k] over the rows (reb[k], ends[k]] ----
    ends = np.empty(K, dtype=np.intp)
    ends[:-1] = reb[1:]
    ends[-1] = T - 1

    # ---- columns: all N when most are held at some review, else compact copies of the columns
    # ever held (U). W receives the drifted weights of those columns.
    U = np.flatnonzero(q.any(axis=0))
    full = U.size == 0 or U.size > _SUBSET_FRACTION * N
    if full:
        U = np.arange(N)
        cols: slice | np.ndarray = slice(None)
        R, Dv, row0 = r, d, 0
        W = np.empty((T, N), dtype=np.float64)  # every row >= t0 is written below
    else:
        cols = U
        R = np.take(r[t0 + 1 :], U, axis=1)  # rows t0+1.. of the held columns
        Dv = None if d is None else np.take(d[t0 + 1 :], U, axis=1)
        row0 = t0 + 1
        W = np.empty((T, U.size), dtype=np.float64)
    W[:t0] = np.nan
    col_pos = np.full(N, -1, dtype=np.intp)
    col_pos[U] = np.arange(U.size)

    # no dividend at all (a price-only run): skip their arithmetic (a strided peek, then a scan)
    has_div = False
    if Dv is not None:
        flat_d = Dv.reshape(-1)
        has_div = bool(flat_d[:: max(1, flat_d.size // 4096)].any()) or bool(flat_d.any())
    ctx = _Context(
        R=R, Dv=Dv, row0=row0, W=W, U=U, cols=cols, omw=1.0 - wht[cols], has_div=has_div,
        pr=np.zeros(T), div_tr=np.zeros(T), div_ntr=np.zeros(T),
        cost_by_day=cost_by_day, events=events,
    )
    # delistings strictly inside a period, for names that period holds: (close, column, review)
    d_row, d_col, d_k = _deaths_inside(al, reb, ends, q, t0)
    d_pos = col_pos[d_col]

    # columns that are not alive at some row of a period: where its garbage (NaN) may sit
    gappy = np.zeros((K, U.size), dtype=bool)
    al_work = al[t0 + 1 :] if full else al[t0 + 1 :][:, U]
    J = np.flatnonzero(~al_work.all(axis=0)) if t0 + 1 < T else np.zeros(0, dtype=np.intp)
    if J.size:
        al_j = al_work[:, J]
        for k in np.flatnonzero(ends > reb).tolist():
            gappy[k, J] = ~al_j[reb[k] - t0 : ends[k] - t0].all(axis=0)

    # ---- the periods, longest first, in batches small enough to stay in cache ----
    order = np.argsort(-(ends - reb), kind="stable")
    batch = max(1, _BATCH_ELEMENTS // U.size)
    place = np.empty(K, dtype=np.intp)  # position of each period in `order`
    place[order] = np.arange(K)
    d_batch, d_rank = np.divmod(place[d_k], batch)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for b0 in range(0, K, batch):
            ks = order[b0 : b0 + batch]
            sel = d_batch == b0 // batch
            _run_periods(
                ctx, reb[ks], ends[ks], q[ks][:, cols], cr[ks][:, cols], gappy[ks],
                d_row[sel], d_pos[sel], d_col[sel], d_rank[sel],
            )

    # ---- pre-trade weights: the drifted weights at each review close (the last row of the
    # period before), then the post-trade weights replace them; the weights of all N columns ----
    pre = np.zeros((K, N), dtype=np.float64)
    if K > 1:
        pre[1:, cols] = W[reb[1:]]
    W[reb] = q[:, cols]
    if full:
        dw = W
    else:  # column-major: only the held columns are written, the rest stay (lazily) zero
        dwT = np.zeros((N, T), dtype=np.float64)
        dwT[U] = W.T
        dwT[:, :t0] = np.nan
        dw = dwT.T

    # ---- reviews: turnover and cost ----
    delta = np.abs(q - pre)
    turnover = 0.5 * delta.sum(axis=1)
    cost = (delta * cr).sum(axis=1)
    cost_by_day[reb] += cost
    events.sort()

    # ---- levels and NAV ----
    pr, div_tr, div_ntr = ctx.pr, ctx.div_tr, ctx.div_ntr
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
    growth = 1.0 - cost_by_day[t0:]
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
        post_trade_weights=_readonly(q),
        turnover=_readonly(turnover),
        cost=_readonly(cost),
        initial_cost=float(cost[0]),
        cost_by_day=_readonly(cost_by_day),
        delisting_events=events,
        start=t0,
        rebalance_index=_readonly(reb.copy()),
    )


@dataclass
class _Context:
    """Arrays shared by the period kernels (inputs restricted to the working columns; outputs)."""

    R: np.ndarray  # price returns of the working columns, rows from row0
    Dv: np.ndarray | None  # dividend yields, same layout (None: no dividends)
    row0: int
    W: np.ndarray  # (T, m) drifted weights of the working columns (output)
    U: np.ndarray  # the working columns (their index in 0..N-1)
    cols: slice | np.ndarray  # the same as an index into N columns
    omw: np.ndarray  # 1 - withholding of the working columns
    has_div: bool  # some dividend yield is not zero
    pr: np.ndarray  # (T,) daily PR return (output)
    div_tr: np.ndarray  # (T,) dividend part of the TR return (output)
    div_ntr: np.ndarray  # (T,) net dividend part of the NTR return (output)
    cost_by_day: np.ndarray
    events: list[tuple[int, int]]


def _run_periods(
    ctx: _Context,
    starts: np.ndarray,
    ends: np.ndarray,
    q: np.ndarray,
    rates: np.ndarray,
    gappy: np.ndarray,
    d_row: np.ndarray,
    d_pos: np.ndarray,
    d_col: np.ndarray,
    d_rank: np.ndarray,
) -> None:
    """Drift a batch of periods (sorted longest first) one row at a time, all periods at once.

    Period ``i`` holds ``q[i]`` from the close ``starts[i]`` to the close ``ends[i]``; row
    ``step`` of every period still running is handled by one set of array operations on an
    (n periods x m columns) block. When only a few long periods are left, each finishes in
    :func:`_run_tail`, which is vectorised over its rows instead. Delistings inside the periods:
    last valid close ``d_row``, working column ``d_pos`` (column ``d_col``), period ``d_rank``.
    ``gappy`` marks the columns that are not alive at some row of a period.
    """
    R, Dv, row0, W, U = ctx.R, ctx.Dv, ctx.row0, ctx.W, ctx.U
    pr, div_tr, div_ntr, omw, has_div = ctx.pr, ctx.div_tr, ctx.div_ntr, ctx.omw, ctx.has_div
    B, m = q.shape
    lengths = ends - starts
    d_step = d_row - starts[d_rank] - 1  # the step whose close is the last valid close
    srt = np.lexsort((d_pos, d_rank, d_step))
    d_step, d_rank, d_pos, d_row, d_col = (a[srt] for a in (d_step, d_rank, d_pos, d_row, d_col))

    # state per period: weights at the previous close (two buffers alternate so they survive
    # while the new ones are computed), columns not held (never, or sold on a delisting), and
    # whether a delisting sale left some period in cash (its holdings sum to 0: no division)
    buf_a = np.empty((B, m), dtype=np.float64)
    buf_b = np.empty((B, m), dtype=np.float64)
    buf_d = np.empty((B, m), dtype=np.float64)
    Wp = buf_b
    Wp[:] = q
    unheld = ~(q > 0.0)
    any_cash = False
    # Garbage (NaN, inf) of a listing not held meets a zero weight and gives NaN. Where it is
    # expected (not held and not alive somewhere in the period, or sold on a delisting) the
    # entries are zeroed through flat indices; elsewhere through the whole mask of listings not
    # held. A non-finite value of a held listing is an error.
    garbage = np.flatnonzero((gappy & unheld).ravel())  # rank * m + column, sorted by rank
    sold: list[int] = []  # the same for listings sold on a delisting
    l_max = int(lengths[0])
    n_by_step = np.searchsorted(-lengths, -np.arange(l_max), side="left").tolist()
    d_lo = np.searchsorted(d_step, np.arange(l_max + 1)).tolist()
    first_rel = starts + (1 - row0)  # first row of each period in R and Dv
    add_reduce = np.add.reduce  # row sums (no BLAS: its threads misbehave on small matrices)
    for step in range(l_max):
        n = n_by_step[step]
        if _tail_is_cheaper(n, m, l_max - step):
            lo = d_lo[step]
            for i in range(n):
                mine = d_rank[lo:] == i
                _run_tail(
                    ctx, int(starts[i]) + 1 + step, int(ends[i]), Wp[i], rates[i],
                    d_row[lo:][mine], d_pos[lo:][mine], d_col[lo:][mine],
                )
            return
        rel = first_rel[:n] + step
        rows = rel + row0
        F = (buf_a if step % 2 == 0 else buf_b)[:n]
        D = buf_d[:n]
        wp = Wp[:n]
        # price return: PR = sum_i w_i r_i
        ret = _weighted_rows(R, rel, F, wp, unheld[:n], garbage, sold, rows, U, "price_return")
        pr[rows] = ret
        # dividends, reinvested across the index on the ex-date
        if has_div:
            div_tr[rows] = _weighted_rows(Dv, rel, D, wp, unheld[:n], garbage, sold, rows, U,
                                          "dividend_yield")
            D *= omw
            div_ntr[rows] = add_reduce(D, 1)
        # drift: holdings w_i (1 + r_i) per unit of index value at the previous close, divided by
        # 1 + PR (their sum; a period in cash holds zeros, whatever it is divided by)
        F += wp
        S = 1.0 + ret
        if not S.min() > 0.0:
            _raise_wiped_out(S, rows)
        # delistings at this close: sell at the close, reinvest pro rata (divisor-style)
        lo, hi = d_lo[step], d_lo[step + 1]
        if hi > lo:
            for i in np.unique(d_rank[lo:hi]).tolist():
                mine = np.flatnonzero(d_rank[lo:hi] == i) + lo
                held = F[i, d_pos[mine]] > 0.0
                if not held.any():
                    continue
                pos = d_pos[mine][held]
                rest = _sell_delisted(
                    ctx, F[i], S[i], pos, rates[i], int(d_row[mine[0]]), d_col[mine][held]
                )
                unheld[i, pos] = True
                sold.extend((i * m + pos).tolist())
                S[i] = rest
                any_cash = any_cash or rest <= 0.0
        if any_cash:
            F *= np.where(S > 0.0, 1.0 / S, 0.0)[:, None]
        else:
            F *= (1.0 / S)[:, None]
        W[rows] = F
        Wp = F


def _weighted_rows(
    src: np.ndarray,
    rel: np.ndarray,
    out: np.ndarray,
    wp: np.ndarray,
    unheld: np.ndarray,
    garbage: np.ndarray,
    sold: list[int],
    rows: np.ndarray,
    U: np.ndarray,
    name: str,
) -> np.ndarray:
    """``out = src[rel] * wp`` (a period per row) and its row sums, garbage of listings not held
    dropped (see :func:`_drop_garbage`)."""
    src.take(rel, axis=0, out=out, mode="clip")
    out *= wp
    sums = np.add.reduce(out, 1)  # row sums without BLAS (its threads misbehave on small blocks)
    if not math.isfinite(sums.sum()):
        sums = _drop_garbage(out, unheld, garbage, sold, rows, U, name)
    return sums


def _drop_garbage(
    block: np.ndarray,
    unheld: np.ndarray,
    garbage: np.ndarray,
    sold: list[int],
    rows: np.ndarray,
    U: np.ndarray,
    name: str,
) -> np.ndarray:
    """Zero the entries of listings not held in ``block`` (n periods x m columns) and return its
    row sums; raise if a held listing's value is not finite."""
    flat = block.reshape(-1)
    size = block.size
    flat[garbage[: np.searchsorted(garbage, size)]] = 0.0
    if sold:
        extra = np.array(sold)
        flat[extra[extra < size]] = 0.0
    sums = np.add.reduce(block, 1)
    if not math.isfinite(sums.sum()):
        np.putmask(block, unheld, 0.0)
        sums = np.add.reduce(block, 1)
        if not math.isfinite(sums.sum()):
            _raise_not_finite(block, rows, U, name)
    return sums


def _tail_is_cheaper(n: int, m: int, rows_left: int) -> bool:
    """Whether finishing n periods of m columns with rows_left rows each in :func:`_run_tail`
    (one call per period, vectorised over rows) beats rows_left more steps of the batch."""
    per_period = m * _TAIL_COST_PER_ELEMENT + _TAIL_COST_PER_CALL / max(rows_left, 1)
    return rows_left >= _TAIL_MIN_ROWS and n * per_period < _STEP_COST


def _sell_delisted(
    ctx: _Context,
    h: np.ndarray,
    total: float,
    pos: np.ndarray,
    rates: np.ndarray,
    row: int,
    columns: np.ndarray,
) -> float:
    """Sell the holdings ``h[pos]`` at the close ``row`` and reinvest pro rata; returns the new
    total. ``h`` (one period's holdings, any scale) is edited in place; the cost is booked."""
    before = h / total
    h[pos] = 0.0
    rest = float(h.sum())
    after = h / rest if rest > 0.0 else np.zeros_like(h)
    ctx.cost_by_day[row] += float((np.abs(after - before) * rates).sum())
    ctx.events.extend((row, int(j)) for j in columns)
    return rest


def _run_tail(
    ctx: _Context,
    a: int,
    b: int,
    w0: np.ndarray,
    rates: np.ndarray,
    d_row: np.ndarray,
    d_pos: np.ndarray,
    d_col: np.ndarray,
) -> None:
    """Rows ``a..b`` of one period, starting from the weights ``w0`` at the close ``a - 1``,
    vectorised over the rows: holdings are ``w0 * cumprod(1 + r)``, zero after a delisting."""
    R, Dv, row0, W, U = ctx.R, ctx.Dv, ctx.row0, ctx.W, ctx.U
    rr = slice(a - row0, b + 1 - row0)
    held = w0 > 0.0
    if not held.any():  # cash: zero weights and returns
        W[a : b + 1] = 0.0
        ctx.pr[a : b + 1] = ctx.div_tr[a : b + 1] = ctx.div_ntr[a : b + 1] = 0.0
        return
    Rc = np.where(held, R[rr], 0.0)  # entries of listings not held are never read
    Dc = np.where(held, Dv[rr], 0.0) if ctx.has_div else None
    for c, p in zip(d_row.tolist(), d_pos.tolist()):
        Rc[c - a + 1 :, p] = 0.0
        if Dc is not None:
            Dc[c - a + 1 :, p] = 0.0
    H = Rc + 1.0
    H[0] *= w0
    _cumprod_rows(H)
    # delistings, in time order: sold at the close, the holding is gone from then on
    cash_from = b - a + 1
    order = np.argsort(d_row, kind="stable")
    d_row, d_pos, d_col = d_row[order], d_pos[order], d_col[order]
    for c in np.unique(d_row).tolist():
        i = c - a
        mine = d_row == c
        pos = d_pos[mine]
        held_now = H[i, pos] > 0.0
        if not held_now.any():
            continue
        total = float(H[i].sum())
        if not math.isfinite(total):
            break  # reported below
        row_h = H[i].copy()
        rest = _sell_delisted(ctx, row_h, total, pos[held_now], rates, c, d_col[mine][held_now])
        H[i:, pos[held_now]] = 0.0
        if rest <= 0.0:
            cash_from = min(cash_from, i)
    S = H.sum(axis=1)
    if not np.isfinite(S).all():
        _raise_not_finite(Rc, np.arange(a, b + 1), U, "price_return")
    if not (S[:cash_from] > 0.0).all():
        _raise_wiped_out(S[:cash_from], np.arange(a, b + 1))
    Wb = W[a : b + 1]
    np.divide(H, S[:, None], out=Wb, where=S[:, None] > 0.0)
    Wb[cash_from:] = 0.0
    # daily returns use the weights at the previous close
    pr = ctx.pr[a : b + 1]
    pr[0] = float((w0 * Rc[0]).sum())
    pr[1:] = np.einsum("ij,ij->i", Wb[:-1], Rc[1:])
    if Dc is None:
        return
    tr = ctx.div_tr[a : b + 1]
    tr[0] = float((w0 * Dc[0]).sum())
    tr[1:] = np.einsum("ij,ij->i", Wb[:-1], Dc[1:])
    if not np.isfinite(tr).all():
        _raise_not_finite(Dc, np.arange(a, b + 1), U, "dividend_yield")
    Dc *= ctx.omw
    ntr = ctx.div_ntr[a : b + 1]
    ntr[0] = float((w0 * Dc[0]).sum())
    ntr[1:] = np.einsum("ij,ij->i", Wb[:-1], Dc[1:])


def _cumprod_rows(X: np.ndarray) -> None:
    """In-place cumulative product down the rows of a C-contiguous 2-d array.

    ``np.cumprod(axis=0)`` walks each column with a stride (slow); this works on whole rows: a
    product inside blocks of rows, the running product of the block ends, then one multiply.
    """
    L = X.shape[0]
    c = max(8, math.isqrt(L))
    nb = L // c
    if nb < 2:
        for t in range(1, L):
            np.multiply(X[t], X[t - 1], out=X[t])
        return
    Y = X[: nb * c].reshape(nb, c, X.shape[1])
    for j in range(1, c):
        np.multiply(Y[:, j], Y[:, j - 1], out=Y[:, j])
    ends = Y[:, c - 1]
    for k in range(1, nb):
        np.multiply(ends[k], ends[k - 1], out=ends[k])
    np.multiply(Y[1:, : c - 1], ends[:-1, None, :].copy(), out=Y[1:, : c - 1])
    for t in range(nb * c, L):
        np.multiply(X[t], X[t - 1], out=X[t])


def _deaths_inside(
    al: np.ndarray, reb: np.ndarray, ends: np.ndarray, q: np.ndarray, t0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Delistings of held names strictly inside a period: (last valid close, column, review).

    A "death" is ``alive[c, j] and not alive[c + 1, j]``. Deaths at a review close are netted
    with that review's trade (see ``run_index``); deaths at the last close of a period are dealt
    with by the next review.
    """
    empty = np.zeros(0, dtype=np.intp)
    T = al.shape[0]
    if t0 + 1 >= T:
        return empty, empty, empty
    cand = np.flatnonzero(q.any(axis=0) & ~al[t0:].all(axis=0))
    if cand.size == 0:
        return empty, empty, empty
    sub = al[t0:, cand]
    c_rel, jj = np.nonzero(sub[:-1] & ~sub[1:])
    c = (c_rel + t0).astype(np.intp)
    j = cand[jj]
    k = np.searchsorted(reb, c, side="right") - 1
    keep = (k >= 0) & (c > reb[np.maximum(k, 0)]) & (c < ends[np.maximum(k, 0)])
    c, j, k = c[keep], j[keep], k[keep]
    keep = q[k, j] > 0.0
    return c[keep], j[keep], k[keep]


def _raise_wiped_out(S: np.ndarray, rows: np.ndarray) -> None:
    i = int(np.flatnonzero(~(S > 0.0))[0])
    raise EngineInputError(
        f"the index value fell to zero or below (or is not finite) at row {rows[i]}: every "
        "listing held lost 100 % (or a return is below -1)"
    )


def _raise_not_finite(block: np.ndarray, rows: np.ndarray, U: np.ndarray, name: str) -> None:
    """Name the first held listing whose value is not finite."""
    i, jj = (int(x) for x in np.argwhere(~np.isfinite(block))[0])
    raise EngineInputError(
        f"{name}[{rows[i]}, {U[jj]}] is not finite (or overflows) for a held, alive listing"
    )
