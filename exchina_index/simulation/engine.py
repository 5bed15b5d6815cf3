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
        NTR[t] = sum_i w[t-1,i] * (r[t,i] + d[t,i] * (1 - wht[t,i]))  across the whole index on the
        w[t,i] = w[t-1,i] * (1 + r[t,i]) / (1 + PR[t])                ex-date)

    The three levels share the same drifted weights (a dividend reinvested pro rata across the index
    does not change the weights), and each compounds its own daily return from ``start_level``.
    ``wht[t,i]`` is the withholding rate in force on the ex-date ``t``: the same every day when
    ``withholding`` is one rate per listing (N,), or row ``t`` of a (T, N) matrix.
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
    ``drifted_weights`` is then a column-major array). Row sums do not use BLAS. Rates that change
    over time are applied once the weights are known (``engine_inputs.net_dividends``); a (T, N) matrix
    whose rows read are equal runs as (N,) rates, bit for bit.

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

from exchina_index.errors import EngineInputError
from exchina_index.simulation.engine_inputs import net_dividends, validate_inputs
from exchina_index.simulation.periods import Context, deaths_inside, run_periods

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["EngineInputError", "IndexRun", "run_index"]

# Work on all N columns (whole-row copies) when more than this fraction of them is ever held;
# otherwise on compact copies of the columns ever held.
_SUBSET_FRACTION = 0.5
# Periods are drifted together, a batch of at most this many (period x column) cells at a time.
_BATCH_ELEMENTS = 65536


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
            # the (T, N) weights are labelled, not copied: a full pass over memory for nothing
            "drifted": pd.DataFrame(self.drifted_weights, index=dates, columns=columns, copy=False),
            "pre_trade": pd.DataFrame(self.pre_trade_weights, index=reviews, columns=columns),
            "post_trade": pd.DataFrame(self.post_trade_weights, index=reviews, columns=columns),
            "turnover": pd.Series(self.turnover, index=reviews, name="turnover"),
            "cost": pd.Series(self.cost, index=reviews, name="cost"),
            "cost_by_day": pd.Series(self.cost_by_day, index=dates, name="cost"),
        }


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
    withholding : (N,) or (T, N) float
        Withholding-tax rate of each listing (by domicile) for the net total return, in [0, 1]:
        one rate per listing, or the rate in force on each row (the ex-date of the dividend).
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
        target name is not alive at its review, a withholding rate is outside [0, 1], or a held
        name has a non-finite return.
    """
    r, d, wht, wht_rows, al, reb, tw, cr, er, dc = validate_inputs(
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
    q = _post_trade(tw, al, reb, events)
    # ---- periods: review k holds q[k] over the rows (reb[k], ends[k]] ----
    ends = np.empty(K, dtype=np.intp)
    ends[:-1] = reb[1:]
    ends[-1] = T - 1
    ctx, full = _context(r, d, wht, q, t0, cost_by_day, events)
    U, cols, W = ctx.U, ctx.cols, ctx.W
    _drift_periods(ctx, al, reb, ends, q, cr, t0, full)

    # ---- pre-trade weights: the drifted weights at each review close (the last row of the
    # period before), then the post-trade weights replace them; the weights of all N columns ----
    pre = np.zeros((K, N), dtype=np.float64)
    if K > 1:
        pre[1:, cols] = W[reb[1:]]
    W[reb] = q[:, cols]
    if wht_rows is not None:
        net_dividends(ctx, wht_rows, t0)
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
    rets, levels, nav = _levels_and_nav(ctx, t0, np.float64(start_level), er, dc, cost_by_day, charge_initial_cost)
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


def _post_trade(tw: np.ndarray, al: np.ndarray, reb: np.ndarray, events: list[tuple[int, int]]) -> np.ndarray:
    """Post-trade weights q of each review: the target (renormalised to sum exactly 1), minus the
    target names that are not alive at the next row (sold at once, netted with the trade)."""
    T = al.shape[0]
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
    return q


def _context(
    r: np.ndarray,
    d: np.ndarray | None,
    wht: np.ndarray,
    q: np.ndarray,
    t0: int,
    cost_by_day: np.ndarray,
    events: list[tuple[int, int]],
) -> tuple[Context, bool]:
    """The working columns and the kernels' shared arrays; whether they are all N columns.

    All N when most are held at some review, else compact copies of the columns ever held (U);
    W receives the drifted weights of those columns.
    """
    T, N = r.shape
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
    # no dividend at all (a price-only run): skip their arithmetic (a strided peek, then a scan)
    has_div = False
    if Dv is not None:
        flat_d = Dv.reshape(-1)
        has_div = bool(flat_d[:: max(1, flat_d.size // 4096)].any()) or bool(flat_d.any())
    ctx = Context(
        R=R,
        Dv=Dv,
        row0=row0,
        W=W,
        U=U,
        cols=cols,
        omw=1.0 - wht[cols],
        has_div=has_div,
        pr=np.zeros(T),
        div_tr=np.zeros(T),
        div_ntr=np.zeros(T),
        cost_by_day=cost_by_day,
        events=events,
    )
    return ctx, full


def _drift_periods(
    ctx: Context, al: np.ndarray, reb: np.ndarray, ends: np.ndarray, q: np.ndarray, cr: np.ndarray, t0: int, full: bool
) -> None:
    """Drift every period, longest first, in batches small enough to stay in cache."""
    T, N = al.shape
    K, U, cols = reb.size, ctx.U, ctx.cols
    col_pos = np.full(N, -1, dtype=np.intp)
    col_pos[U] = np.arange(U.size)
    # delistings strictly inside a period, for names that period holds: (close, column, review)
    d_row, d_col, d_k = deaths_inside(al, reb, ends, q, t0)
    d_pos = col_pos[d_col]

    # columns that are not alive at some row of a period: where its garbage (NaN) may sit
    gappy = np.zeros((K, U.size), dtype=bool)
    al_work = al[t0 + 1 :] if full else al[t0 + 1 :][:, U]
    J = np.flatnonzero(~al_work.all(axis=0)) if t0 + 1 < T else np.zeros(0, dtype=np.intp)
    if J.size:
        al_j = al_work[:, J]
        for k in np.flatnonzero(ends > reb).tolist():
            gappy[k, J] = ~al_j[reb[k] - t0 : ends[k] - t0].all(axis=0)

    order = np.argsort(-(ends - reb), kind="stable")
    batch = max(1, _BATCH_ELEMENTS // U.size)
    place = np.empty(K, dtype=np.intp)  # position of each period in `order`
    place[order] = np.arange(K)
    d_batch, d_rank = np.divmod(place[d_k], batch)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for b0 in range(0, K, batch):
            ks = order[b0 : b0 + batch]
            sel = d_batch == b0 // batch
            run_periods(
                ctx,
                reb[ks],
                ends[ks],
                q[ks][:, cols],
                cr[ks][:, cols],
                gappy[ks],
                d_row[sel],
                d_pos[sel],
                d_col[sel],
                d_rank[sel],
            )


def _levels_and_nav(
    ctx: Context,
    t0: int,
    start: np.float64,
    er: float,
    dc: np.ndarray,
    cost_by_day: np.ndarray,
    charge_initial_cost: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily returns (PR, TR, NTR), the three levels and the NAV from the kernels' daily sums."""
    T = dc.shape[0]
    pr, div_tr, div_ntr = ctx.pr, ctx.div_tr, ctx.div_ntr
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
    return rets, levels, nav
