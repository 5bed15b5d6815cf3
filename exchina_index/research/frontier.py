"""Pareto frontiers of a sweep's table: the variants no other variant beats on both of two figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["FRONTIERS", "pareto_mask"]

#: The trade-offs the sweep page draws: ``(x, y, x higher is better, y higher is better, title)``.
FRONTIERS: tuple[tuple[str, str, bool, bool, str], ...] = (
    ("volatility", "cagr", False, True, "Return and risk (net total return)"),
    ("capacity_usd", "cagr", True, True, "Capacity and return"),
    ("turnover", "tracking_difference", False, True, "Turnover and the fund's tracking difference"),
    ("capacity_usd", "weighted_purity", True, True, "Purity and capacity"),
    ("stage_deviation", "cagr", False, True, "Stage balance and return"),
)


def pareto_mask(x: Sequence[float], y: Sequence[float], *, x_higher: bool, y_higher: bool) -> np.ndarray:
    """Which points are on the Pareto frontier of two figures.

    A point is on the frontier when no other point is at least as good on both figures and better on
    one; equal points are all on it. Points with a NaN are never on it.

    Parameters
    ----------
    x, y
        The two figures of each point.
    x_higher, y_higher
        Whether a higher value is better for each.

    Examples
    --------
    >>> pareto_mask([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], x_higher=True, y_higher=True).tolist()
    [False, True, True]
    """
    a = np.asarray(x, dtype=float) * (1.0 if x_higher else -1.0)
    b = np.asarray(y, dtype=float) * (1.0 if y_higher else -1.0)
    ok = ~(np.isnan(a) | np.isnan(b))
    mask = np.zeros(len(a), dtype=bool)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return mask
    # sort by a descending, then b descending: a point is on the frontier when its b beats every b
    # before it (all of which have a larger or equal a); ties in a are settled among themselves
    order = idx[np.lexsort((-b[idx], -a[idx]))]
    best_b = -np.inf
    group_start = 0
    for k, i in enumerate(order):
        if k > 0 and a[i] != a[order[k - 1]]:
            best_b = max(best_b, b[order[group_start]])
            group_start = k
        top_of_group = b[order[group_start]]
        mask[i] = b[i] == top_of_group and b[i] > best_b
    return mask
