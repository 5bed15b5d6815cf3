"""Checks of the engine's inputs (:func:`exchina_index.simulation.engine.run_index`): shapes, weights,
rates and day counts, with an :class:`~exchina_index.errors.EngineInputError` naming the entry."""

from __future__ import annotations

from typing import Any

import numpy as np

from exchina_index.errors import EngineInputError

__all__ = ["validate_inputs"]

_SUM_TOL = 1e-8


def _as_float(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.shape != shape:
        raise EngineInputError(f"{name} has shape {arr.shape}, expected {shape}")
    return arr


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
    # C order: the kernel gathers whole rows (a frame's .to_numpy() is often column-major: copied)
    r = np.ascontiguousarray(price_return, dtype=np.float64)
    if r.ndim != 2:
        raise EngineInputError(f"price_return must be a T x N matrix, got shape {r.shape}")
    T, N = r.shape
    d = None if dividend_yield is None else np.ascontiguousarray(_as_float("dividend_yield", dividend_yield, (T, N)))
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
    return r, d, wht, al, reb, tw, cr, np.float64(er), dc
