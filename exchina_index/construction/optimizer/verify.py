"""Explicit numpy checks of a solution: every constraint it breaks, and the ones that bind.

Every answer a solver returns is checked here before it is accepted (an answer violating a
constraint by more than :data:`ATOL` counts as a solver failure), and so is the cleaned-up result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.limits import LinearLimit, stage_shares
from exchina_index.construction.optimizer.problem import (
    ReviewInputs,
    Structure,
    aligned,
    one_problem,
)

__all__ = ["ATOL", "BINDING_TOL", "regulatory_violations", "violations", "binding_constraints", "verify_constraints"]

#: Largest constraint violation accepted in a returned solution.
ATOL = 1e-8
#: A constraint counts as binding when its slack is below this.
BINDING_TOL = 1e-7


def regulatory_violations(W: np.ndarray, names: Sequence[str], reg: RegulatoryLimits, atol: float) -> list[str]:
    """How the issuer totals ``W`` break the regulatory rule (empty list: they comply)."""
    out = []
    j = int(np.argmax(W))
    if W[j] > reg.issuer_max + atol:
        out.append(f"{reg.name}: issuer '{names[j]}' at {W[j]:.10f} above {reg.issuer_max}")
    large = W > reg.large_threshold + atol
    if W[large].sum() > reg.large_sum + atol:
        out.append(f"{reg.name}: issuers above {reg.large_threshold} hold {W[large].sum():.10f}, above {reg.large_sum}")
    return out


def violations(
    w: np.ndarray,
    st: Structure,
    inp: ReviewInputs,
    reg: RegulatoryLimits | None,
    atol: float = ATOL,
    issuer_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[str]:
    """Every constraint the weights break by more than ``atol`` (empty list: all hold).

    ``issuer_bounds`` (lower, upper) are a branch-and-bound node's bounds on the issuer totals.
    """
    out: list[str] = []
    names = st.tickers
    if not np.isfinite(w).all():
        return ["weights are not finite"]
    if abs(w.sum() - 1) > atol:
        out.append(f"weights sum to {w.sum():.12f}, not 1")
    for i in np.flatnonzero(w < -atol):
        out.append(f"'{names[i]}' has negative weight {w[i]:.3e}")
    for i in np.flatnonzero(w > inp.upper + atol):
        out.append(f"'{names[i]}' weight {w[i]:.10f} above its cap {inp.upper[i]:.10f}")
    for i in np.flatnonzero(w < inp.lower - atol):
        out.append(f"'{names[i]}' weight {w[i]:.10f} below its minimum {inp.lower[i]:.10f}")
    # the band as the solvers see it: |Σ w b (E_k − t_k)| <= tol Σ w b (b = 1: |Eᵀw − t| <= tol)
    basis = np.ones(st.n) if inp.basis is None else inp.basis
    gap = (inp.E * (basis * w)[:, None]).sum(axis=0) - inp.target * (basis @ w)
    shares = stage_shares(inp.E, inp.basis, w)
    for s in np.flatnonzero(np.abs(gap) > inp.tol * (basis @ w) + atol):
        out.append(f"stage '{st.stages[s]}' share {shares[s]:.10f} outside {inp.target[s]:.10f} ± {inp.tol}")
    limited = inp.C @ w if len(inp.C) else np.zeros(0)
    for r in np.flatnonzero((limited > inp.c_hi + atol) | (limited < inp.c_lo - atol)):
        out.append(f"limit '{inp.c_names[r]}' at {limited[r]:.10f} outside [{inp.c_lo[r]}, {inp.c_hi[r]}]")
    W = st.issuer_sum(w)
    if inp.issuer_cap is not None:
        for j in np.flatnonzero(W > inp.issuer_cap + atol):
            out.append(f"issuer '{st.issuer_names[j]}' at {W[j]:.10f} above the issuer cap {inp.issuer_cap}")
    if st.country_idx is not None:
        C = st.country_sum(w)
        for c in np.flatnonzero(C > inp.country_cap + atol):
            out.append(f"country '{st.country_names[c]}' at {C[c]:.10f} above its cap {inp.country_cap[c]}")
    if issuer_bounds is not None:
        lo, hi = issuer_bounds
        for j in np.flatnonzero((W > hi + atol) | (W < lo - atol)):
            out.append(f"issuer '{st.issuer_names[j]}' at {W[j]:.10f} outside the node bounds [{lo[j]}, {hi[j]}]")
    if reg is not None:
        out.extend(regulatory_violations(W, st.issuer_names, reg, atol))
    return out


def binding_constraints(w: np.ndarray, st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> list[str]:
    """Sorted short names of the group constraints that bind at ``w`` (slack below BINDING_TOL).

    See :attr:`~exchina_index.construction.optimizer.OptimizationResult.binding_constraints`.
    """
    binding: list[str] = []
    expo = stage_shares(inp.E, inp.basis, w)
    for s, stage in enumerate(st.stages):
        if inp.tol == 0:
            binding.append(f"stage:{stage}")
            continue
        if expo[s] >= inp.target[s] + inp.tol - BINDING_TOL:
            binding.append(f"stage:{stage} upper")
        if expo[s] <= inp.target[s] - inp.tol + BINDING_TOL:
            binding.append(f"stage:{stage} lower")
    if len(inp.C):
        limited = inp.C @ w
        binding += [f"{inp.c_names[r]} lower" for r in np.flatnonzero(limited <= inp.c_lo + BINDING_TOL)]
        binding += [f"{inp.c_names[r]} upper" for r in np.flatnonzero(limited >= inp.c_hi - BINDING_TOL)]
    W = st.issuer_sum(w)
    if inp.issuer_cap is not None:
        binding += [f"issuer:{st.issuer_names[j]}" for j in np.flatnonzero(W >= inp.issuer_cap - BINDING_TOL)]
    if st.country_idx is not None:
        C = st.country_sum(w)
        binding += [f"country:{st.country_names[c]}" for c in np.flatnonzero(C >= inp.country_cap - BINDING_TOL)]
    if reg is not None:
        thr = reg.large_threshold
        binding += [
            f"regulatory:issuer_max:{st.issuer_names[j]}" for j in np.flatnonzero(W >= reg.issuer_max - BINDING_TOL)
        ]
        binding += [
            f"regulatory:threshold:{st.issuer_names[j]}" for j in np.flatnonzero(np.abs(W - thr) <= BINDING_TOL)
        ]
        if W[W > thr + ATOL].sum() >= reg.large_sum - BINDING_TOL:
            binding.append("regulatory:large_sum")
    return sorted(binding)


def verify_constraints(
    weights: pd.Series,
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | float,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    min_weight: pd.Series | None = None,
    regulatory: RegulatoryLimits | None = None,
    atol: float = ATOL,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
) -> list[str]:
    """List every constraint of :func:`stage_balanced_weights` that ``weights`` break by > atol.

    Returns
    -------
    list of str
        One line per violation; empty when every constraint holds. Names with anchor 0 must have
        weight 0 (their cap counts as 0). Under a regulatory rule an issuer counts as above the
        threshold only when its total exceeds ``large_threshold + atol``.

    Examples
    --------
    >>> import pandas as pd
    >>> u = pd.Series({"A": 0.7, "B": 0.3})
    >>> E = pd.DataFrame({"all": [1.0, 1.0]}, index=u.index)
    >>> verify_constraints(u, u, E, {"all": 1.0}, caps=0.6)
    ["'A' weight 0.7000000000 above its cap 0.6000000000"]
    """
    st, inp = one_problem(
        anchor,
        stage_exposure,
        targets,
        caps,
        stage_tolerance=stage_tolerance,
        issuers=issuers,
        issuer_cap=issuer_cap,
        countries=countries,
        country_caps=country_caps,
        min_weight=min_weight,
        stage_basis=stage_basis,
        limits=limits,
    )
    return violations(aligned(weights, st, "weights", 0.0), st, inp, regulatory, atol)
