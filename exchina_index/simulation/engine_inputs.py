"""Checks of the engine's inputs (:func:`exchina_index.simulation.engine.run_index`): shapes, weights,
rates and day counts, with an :class:`~exchina_index.errors.EngineInputError` naming the entry; and
the withholding rates that change over time (a (T, N) matrix), which enter after the drift
(:func:`net_dividends`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from exchina_index.errors import EngineInputError
from exchina_index.simulation.periods import Context

__all__ = ["net_dividends", "validate_inputs"]

_SUM_TOL = 1e-8


def _as_float(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise EngineInputError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


def _withholding(withholding: Any, T: int, N: int) -> np.ndarray:
    """The withholding rates as given, (N,) or (T, N), every one in [0, 1]."""
    wht = np.asarray(withholding, dtype=np.float64)
    if wht.shape not in ((N,), (T, N)):
        raise EngineInputError(
            f"withholding has shape {wht.shape}, expected {(N,)} (a rate per listing) or {(T, N)} (per row and listing)"
        )
    bad = ~((wht >= 0.0) & (wht <= 1.0))
    if bad.any():
        at = ", ".join(str(int(x)) for x in np.argwhere(bad)[0])
        raise EngineInputError(f"withholding[{at}] = {float(wht[bad][0])!r} is not a rate in [0, 1]")
    return wht


def _split_withholding(wht: np.ndarray, t0: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rates per listing, None)`` when every row read (after ``t0``) has the same rates, else
    ``(zeros, the (T, N) rates)``: the kernels then skip withholding and the engine sums the net
    dividends afterwards (:func:`net_dividends`)."""
    if wht.ndim == 1:
        return wht, None
    read = wht[t0 + 1 :]
    if read.shape[0] == 0 or bool((read == read[0]).all()):
        return np.ascontiguousarray(wht[min(t0 + 1, wht.shape[0] - 1)]), None
    return np.zeros(wht.shape[1]), wht


def validate_inputs(
    price_return: Any,
    dividend_yield: Any,
    withholding: Any,
    alive: Any,
    rebalance_index: Any,
    target_weights: Any,
    cost_rate: Any,
    expense_ratio: float,
    day_count: Any,
) -> tuple[Any, ...]:
    """The inputs of :func:`~exchina_index.simulation.engine.run_index` as the kernels take them.

    Returns ``(r, d, wht, wht_rows, alive, rebalance_index, target_weights, cost_rate,
    expense_ratio, day_count)``: ``wht`` (N,) rates per listing and ``wht_rows`` None, or, for
    (T, N) rates whose rows read differ, ``wht`` zeros and ``wht_rows`` the matrix.

    Raises
    ------
    EngineInputError
        Naming the input and the entry that is wrong (shape, range, order, a dead target).
    """
    # C order: the kernel gathers whole rows (a frame's .to_numpy() is often column-major: copied)
    r = np.ascontiguousarray(price_return, dtype=np.float64)
    if r.ndim != 2:
        raise EngineInputError(f"price_return must be a T x N matrix, got shape {r.shape}")
    T, N = r.shape
    d = None if dividend_yield is None else np.ascontiguousarray(_as_float("dividend_yield", dividend_yield, (T, N)))
    wht = _withholding(withholding, T, N)
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
            f"rebalance_index must be strictly increasing: position {j + 1} ({reb[j + 1]}) follows {reb[j]}"
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
    wht, wht_rows = _split_withholding(wht, int(reb[0]))
    return r, d, wht, wht_rows, al, reb, tw, cr, np.float64(er), dc


def net_dividends(ctx: Context, wht: np.ndarray, t0: int) -> None:
    """The net dividend part of the NTR return of every row after ``t0`` with the (T, N) rates
    ``wht``: ``sum_i w[t-1,i] * d[t,i] * (1 - wht[t,i])`` over the names held at ``t - 1``.

    Run by the engine once ``ctx.W`` holds the weights after every trade, review closes included
    (the kernels, given zero rates, left the gross dividends in ``ctx.div_ntr``).
    """
    T = ctx.W.shape[0]
    if not ctx.has_div or t0 + 1 >= T:
        return  # no dividend: the net part is the zero the kernels left
    assert ctx.Dv is not None  # has_div implies dividends were given
    held = ctx.W[t0 : T - 1]  # the weights at the previous close, rows t0+1..T-1
    div = ctx.Dv[t0 + 1 - ctx.row0 :]
    keep = 1.0 - (wht[t0 + 1 :] if isinstance(ctx.cols, slice) else np.take(wht[t0 + 1 :], ctx.U, axis=1))
    with np.errstate(invalid="ignore", over="ignore"):  # garbage of names not held is masked out
        net = np.where(held > 0.0, held * div * keep, 0.0)
    ctx.div_ntr[t0 + 1 :] = np.add.reduce(net, 1)
