"""The period kernels of :mod:`exchina_index.simulation.engine`: drift the weights between reviews.

Once the post-trade weights of every review are known the holding periods are independent, so they
are drifted together (:func:`run_periods`: one set of array operations per row of every period
still running, in cache-sized batches), or, when only a few long periods are left, each is finished
vectorised over its rows (:func:`_run_tail`). Delistings inside a period sell at the last valid
close and reinvest pro rata. See the engine's module docstring for the conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exchina_index.errors import EngineInputError

__all__ = ["Context", "run_periods", "deaths_inside"]

# Switch the periods still running to the row-vectorised tail kernel when that is cheaper:
# n * (m * per_element + per_call / rows_left) < per_step, and at least _TAIL_MIN_ROWS are left.
_STEP_COST = 25e-6
_TAIL_COST_PER_ELEMENT = 7e-9
_TAIL_COST_PER_CALL = 100e-6
_TAIL_MIN_ROWS = 16


@dataclass
class Context:
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


def run_periods(
    ctx: Context,
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
                    ctx,
                    int(starts[i]) + 1 + step,
                    int(ends[i]),
                    Wp[i],
                    rates[i],
                    d_row[lo:][mine],
                    d_pos[lo:][mine],
                    d_col[lo:][mine],
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
            assert Dv is not None  # has_div implies dividends were given
            div_tr[rows] = _weighted_rows(Dv, rel, D, wp, unheld[:n], garbage, sold, rows, U, "dividend_yield")
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
            any_cash = (
                _sell_at_step(ctx, F, S, rates, unheld, sold, slice(lo, hi), (d_rank, d_pos, d_row, d_col)) or any_cash
            )
        if any_cash:
            F *= np.where(S > 0.0, 1.0 / S, 0.0)[:, None]
        else:
            F *= (1.0 / S)[:, None]
        W[rows] = F
        Wp = F


def _sell_at_step(
    ctx: Context,
    F: np.ndarray,
    S: np.ndarray,
    rates: np.ndarray,
    unheld: np.ndarray,
    sold: list[int],
    span: slice,
    deaths: tuple[np.ndarray, ...],
) -> bool:
    """Sell the names of the delistings ``span`` (of ``deaths`` = rank, working column, row, column)
    at this close, in the holdings ``F`` (totals ``S``); whether a period was left in cash."""
    d_rank, d_pos, d_row, d_col = (a[span] for a in deaths)
    m = F.shape[1]
    any_cash = False
    for i in np.unique(d_rank).tolist():
        mine = np.flatnonzero(d_rank == i)
        held = F[i, d_pos[mine]] > 0.0
        if not held.any():
            continue
        pos = d_pos[mine][held]
        rest = _sell_delisted(ctx, F[i], S[i], pos, rates[i], int(d_row[mine[0]]), d_col[mine][held])
        unheld[i, pos] = True
        sold.extend((i * m + pos).tolist())
        S[i] = rest
        any_cash = any_cash or rest <= 0.0
    return any_cash


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
    ctx: Context,
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
    ctx: Context,
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
    Dc = np.where(held, Dv[rr], 0.0) if ctx.has_div and Dv is not None else None
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


def deaths_inside(
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
    raise EngineInputError(f"{name}[{rows[i]}, {U[jj]}] is not finite (or overflows) for a held, alive listing")
