"""Linear limits on the weights and the basis of the stage shares: the thematic-integrity rules.

Two additions to the stage-balanced problem, both linear in the weights, so it stays a convex QP:

* a :class:`LinearLimit` bounds a weighted sum of the weights, ``lower <= Σ_i c_i w_i <= upper``:
  the index's weighted purity (``c`` = purity, ``lower`` = 0.5) or the weight of low-purity names
  (``c`` = 1 for them, ``upper`` = 0.15);
* a **stage basis** ``b`` (per name, >= 0) measures the stage shares on ``b``-weighted holdings:
  the share of stage ``k`` is ``Σ w b E_k / Σ w b``. With ``b`` = purity it is the index's
  rare-earth exposure by stage; without a basis (``b`` = 1) the plain weight by stage. The band
  ``|share − t_k| <= tol`` is ``|Σ_i w_i b_i (E_ik − t_k)| <= tol Σ_i w_i b_i``: two linear rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from exchina_index.errors import InputError

__all__ = ["LinearLimit", "limit_arrays", "basis_array", "stage_shares"]


@dataclass(frozen=True)
class LinearLimit:
    """``lower <= Σ_i coefficients_i · w_i <= upper`` (names missing from ``coefficients`` count 0).

    Parameters
    ----------
    name
        Short name used in binding-constraint lists and messages (``"purity:weighted"``).
    coefficients
        Coefficient of each ticker (finite numbers).
    lower, upper
        Bounds (``-inf``/``inf``: none); ``lower <= upper``.

    Examples
    --------
    >>> import pandas as pd
    >>> LinearLimit("purity:weighted", pd.Series({"A": 0.9, "B": 0.1}), lower=0.5).lower
    0.5
    """

    name: str
    coefficients: pd.Series
    lower: float = -math.inf
    upper: float = math.inf


def _on(values: pd.Series, layout: tuple[pd.Index, np.ndarray] | None) -> np.ndarray | None:
    """``values`` in the order of ``tickers`` without a reindex when they come in the universe's own
    order (``layout``: that order and its canonical positions); None otherwise."""
    if layout is not None and values.index.equals(layout[0]):
        try:
            return values.to_numpy(dtype=float)[layout[1]]
        except (TypeError, ValueError):
            return None
    return None


def limit_arrays(
    tickers: pd.Index, limits: Sequence[LinearLimit], layout: tuple[pd.Index, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(C, lower, upper, names)``: one row of ``C`` per limit over ``tickers`` (str keys, canonical
    order). ``layout`` (the universe's tickers as given and their canonical positions) is a fast path
    for coefficients given in that order.

    Raises
    ------
    InputError
        A limit that is not a :class:`LinearLimit`, a coefficient that is not a finite number, a
        ticker twice or not among ``tickers``, bounds that are NaN or cross, or two limits with one
        name.
    """
    if isinstance(limits, LinearLimit) or not isinstance(limits, Sequence):
        raise InputError("limits must be a sequence of LinearLimit")
    rows, lo, hi, names = [], [], [], []
    for lim in limits:
        if not isinstance(lim, LinearLimit) or not isinstance(lim.coefficients, pd.Series):
            raise InputError(f"limits: expected LinearLimit with a Series of coefficients, got {lim!r}")
        if lim.name in names:
            raise InputError(f"limits: two limits named {lim.name!r}")
        fast = _on(lim.coefficients, layout)
        keys = lim.coefficients.index.astype(str) if fast is None else tickers
        if keys.has_duplicates:
            raise InputError(f"limit {lim.name!r}: duplicate ticker {keys[keys.duplicated()][0]!r} in the coefficients")
        unknown = keys.difference(tickers)
        if len(unknown):
            raise InputError(f"limit {lim.name!r}: tickers not in the universe: {', '.join(sorted(unknown)[:10])}")
        if fast is None:
            c = pd.to_numeric(pd.Series(lim.coefficients.to_numpy(), index=keys), errors="coerce")
            c = c.reindex(tickers, fill_value=0.0).to_numpy(dtype=float)
        else:
            c = fast
        low, up = float(lim.lower), float(lim.upper)
        if not np.isfinite(c).all():
            raise InputError(f"limit {lim.name!r}: coefficients must be finite numbers")  # NaN, inf or text
        if math.isnan(low) or math.isnan(up) or low > up:
            raise InputError(f"limit {lim.name!r}: bounds [{low}, {up}] must be numbers with lower <= upper")
        rows.append(c)
        lo.append(low)
        hi.append(up)
        names.append(lim.name)
    C = np.vstack(rows) if rows else np.zeros((0, len(tickers)))
    return C, np.array(lo, dtype=float), np.array(hi, dtype=float), tuple(names)


def basis_array(
    tickers: pd.Index, basis: pd.Series | None, eligible: np.ndarray, layout: tuple[pd.Index, np.ndarray] | None = None
) -> np.ndarray | None:
    """The stage basis over ``tickers`` (str keys, canonical order), None for the weight basis
    (``layout`` as for :func:`limit_arrays`).

    Raises
    ------
    InputError
        Not a Series, a value below 0 or not finite, or an eligible name with basis 0 (its stage
        could not be measured).
    """
    if basis is None:
        return None
    if not isinstance(basis, pd.Series):
        raise InputError("stage_basis must be a pandas Series by ticker (e.g. purity), or None")
    values = _on(basis, layout)
    if values is None:
        b = pd.to_numeric(pd.Series(basis.to_numpy(), index=basis.index.astype(str)), errors="coerce")
        values = b.reindex(tickers).to_numpy(dtype=float)
    bad = eligible & ~(np.isfinite(values) & (values > 0))
    if bad.any():
        shown = ", ".join(str(t) for t in tickers[bad][:10])
        raise InputError(f"stage_basis must be finite and > 0 for every eligible name; bad value for {shown}")
    return np.where(eligible, values, 0.0)


def stage_shares(E: np.ndarray, basis: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    """The stage shares of weights ``w``: ``Eᵀw``, or ``Eᵀ(b∘w) / bᵀw`` on a basis ``b``."""
    if basis is None:
        return E.T @ w
    bw = basis * w
    total = bw.sum()
    return E.T @ bw / total if total > 0 else np.zeros(E.shape[1])
