"""Stage-balanced index weights: one convex QP, set up once per universe, re-solved per review.

The problem
-----------
Given uncapped anchor weights ``u`` (normalised to sum 1 over the names with ``u > 0``), stage
exposures ``E`` (ticker x stage, rows sum to 1) and stage targets ``t``, find weights ``w`` that

    minimise    Σ_i (w_i − u_i)² / u_i  +  λ Σ_i |w_i − p_i|
    subject to  Σ w = 1,  lower ≤ w ≤ caps,  w_i = 0 where u_i = 0,
                |Eᵀw − t| ≤ tolerance                          (stage balance, per stage)
                Σ_{i ∈ issuer j} w_i ≤ issuer_cap              (share classes and ADRs together)
                Σ_{i ∈ country c} w_i ≤ country_cap_c
                regulatory rule on issuer totals (RIC 25/50, UCITS 5/10/40, or buffered versions)

The first term is the capped-index objective ("stay close to the uncapped index"): with only a
single-name cap it reproduces the classic iterative capping with proportional redistribution.
Because Σ w = Σ u = 1, Σ (w − u)²/u = Σ w²/u − 1, so the solver minimises Σ (1/u_i) w_i², a
diagonal QP. :attr:`OptimizationResult.objective` reports Σ (w − u)²/u + λ Σ|w − p|.

Two ways to solve it
--------------------
* **Direct (default for CLARABEL).** Per review the QP is assembled over the eligible names only and
  handed to Clarabel in its standard form (:mod:`exchina_index.construction.optimizer.direct_qp`); the universe's fixed
  structure (canonical order, issuer and country membership) is built once. This is the fast path:
  a few milliseconds per review at N = 500 (``benchmarks/``).
* **cvxpy model** (fallback solvers such as SCS, or ``direct_clarabel=False``). The problem over
  the whole universe with every per-review number a ``cp.Parameter``; the coefficients ``1/u`` are
  a non-negative parameter multiplying ``cp.square(w)``, which keeps the problem DPP (disciplined
  parametrised programming): it is canonicalised once and every later solve only substitutes
  parameter values. Ineligible names stay in it with zero-width bounds. cvxpy is imported only
  when this model is first needed.

Both describe the same problem; the tests solve random instances both ways and compare the optima.

Regulatory rule: exact branch and bound
---------------------------------------
"No issuer above ``issuer_max``" is convex (an upper bound on issuer totals ``W_j``). "The issuers
above ``large_threshold`` (θ) together hold at most ``large_sum`` (L)" is not: its feasible set is
the union, over sets ``S`` of issuers allowed to be large, of the convex sets

    { W_j ≤ θ for j ∉ S,   θ ≤ W_j for j ∈ S,   Σ_{j∈S} W_j ≤ L }.

(Any compliant portfolio lies in the piece with ``S`` = its issuers above θ, so the union is exact.)
No MIQP solver ships with the package's dependencies (HiGHS does MILP but not MIQP through cvxpy;
SCIP would add a dependency), so the rule is solved by an exact best-first branch and bound that
re-solves the same QP at every node with that node's issuer bounds. Each issuer is *free*, *small*
(``W_j ≤ θ``) or *large* (``W_j ≥ θ`` and counted in the sum). A node's relaxation keeps the fixed
issuers' constraints and replaces the rule for the free ones by its convex hull: each free issuer
contributes ``M_j/(M_j − θ) · max(0, W_j − θ)`` to the large sum, where ``M_j`` is the most the
issuer can hold (min of ``issuer_max``, the issuer cap and its listings' caps). That function is the
lower convex envelope of the true contribution (0 up to θ, W_j above), so every node relaxation is
valid and the relaxation tightens as issuers are fixed. A node whose optimum already complies
(within 1e-8) is solved; otherwise branch on the free issuer above θ whose contribution is most
under-estimated. Nodes are explored in order of their bound and pruned once the bound reaches the
incumbent (absolute gap 1e-9), so the answer is the optimum of the regulatory problem to solver
accuracy. The root is first solved as the plain convex problem (issuer maximum only, no hull cut):
it relaxes the rule, so when its answer complies it is the optimum and that single QP is all the
work (most reviews). Only otherwise is the root re-solved with the hull cut and the search started.
Issuers forced above θ by their minimum weights start fixed large. Symmetry breaking: single-listing
issuers with identical data except the anchor (same cap, floor, exposures, country, previous weight)
are interchangeable, and some optimum gives the larger anchor the larger weight; the search only
visits large sets that respect that order, so g identical issuers cost g + 1 choices instead of 2^g.

Cost: one QP per node (about the cost of a re-solve), two children per branching. Cap-weighted
universes of 30-60 names need 1 to ~50 QPs (1-3 ms each). The worst case is exponential in the
number of issuers that want to be above θ: near-identical issuers that still differ (equal anchors,
different stage exposures or countries, e.g. 14-19 equal-weighted names under RIC) can need
thousands of QPs, because no convex relaxation can tell such choices apart. ``max_nodes`` (default
20 000) bounds the search; past it a :class:`SolverError` is raised rather than an unproven answer
returned.

Numerical guarantees
--------------------
Every solution is checked with an explicit numpy test (:func:`verify_constraints`) before it is
returned; an answer violating any constraint by more than 1e-8 is treated as a solver failure, and
the next fallback solver is tried. The final clean-up (tiny negatives to 0, exact 0 for ``u = 0``,
renormalise to sum 1) is verified again. Internally names, stages, issuers and countries are kept in
sorted order, so the result does not depend on the order of the inputs.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from exchina_index.construction.compliance import RIC_25_50, UCITS_5_10_40, RegulatoryLimits
from exchina_index.construction.optimizer.direct_qp import ReviewQP, clarabel_settings, min_inverse_aum, solve_direct
from exchina_index.errors import InfeasibleError, InputError, SolverError
from exchina_index.rules.methodology import MAX_TURNOVER_PENALTY, check_aum, solver_problem

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = [
    "OptimizationResult",
    "RegulatoryLimits",
    "RIC_25_50",
    "UCITS_5_10_40",
    "StageBalancedOptimizer",
    "stage_balanced_weights",
    "check_feasibility",
    "verify_constraints",
    "max_feasible_aum",
    "days_to_trade",
]

#: Largest constraint violation accepted in a returned solution.
ATOL = 1e-8
#: A constraint counts as binding when its slack is below this.
BINDING_TOL = 1e-7
#: Branch and bound prunes a node whose bound is within this of the incumbent.
BNB_GAP = 1e-9

_SOLVER_OPTIONS: dict[str, dict[str, object]] = {
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 2000},
    # polishing: on by default in cvxpy, which spells it for the installed OSQP ("polish" warns on 1.x)
    "OSQP": {"eps_abs": 1e-11, "eps_rel": 1e-11, "max_iter": 200_000},
    "SCS": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000},
}

# Solve statuses, spelt as cvxpy spells them; Clarabel's own names map onto them.
_OPTIMAL, _OPTIMAL_INACCURATE = "optimal", "optimal_inaccurate"
_INFEASIBLE, _INFEASIBLE_INACCURATE = "infeasible", "infeasible_inaccurate"
_DIRECT_STATUS = {"Solved": _OPTIMAL, "AlmostSolved": _OPTIMAL_INACCURATE,
                  "PrimalInfeasible": _INFEASIBLE, "AlmostPrimalInfeasible": _INFEASIBLE_INACCURATE}

_STAGE_NOUNS = {"mining": "miners", "refining": "refiners", "manufacturing": "manufacturers",
                "recycling": "recyclers", "magnets": "magnet makers", "metals": "metal makers"}


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OptimizationResult:
    """The weights of one solve and the report that explains them.

    Attributes
    ----------
    weights
        Weight by ticker (the optimizer's ticker order), sums to 1, all >= 0, exact 0 where u = 0.
    status
        Solver status of the QP that produced the answer (``"optimal"`` or ``"optimal_inaccurate"``).
    solver
        Solver that produced the answer; ``fallback_used`` tells whether it was a fallback.
    fallback_used
        True when the primary solver failed on at least one QP and a fallback answered.
    solve_seconds
        Wall time of the solve (all branch-and-bound nodes included), from ``time.perf_counter``.
    objective
        Σ (w − u)²/u + turnover_penalty · Σ|w − previous|.
    binding
        Per-name frame: ``u``, ``weight``, ``cap``, ``min_weight``, ``at_cap`` (weight >= cap − 1e-7),
        ``at_min`` (weight <= min_weight + 1e-7, for eligible names; ineligible names are False).
    stage_exposure_before, stage_exposure_after
        Eᵀu and Eᵀw by stage.
    issuer_totals, country_totals
        Weight per issuer / per country (empty when the optimizer has no countries).
    binding_constraints
        Sorted short names of the binding group constraints: ``"stage:mining upper"`` /
        ``"stage:mining lower"`` (``"stage:mining"`` when the tolerance is 0), ``"issuer:NAME"``,
        ``"country:AU"``, ``"regulatory:issuer_max:NAME"``, ``"regulatory:threshold:NAME"``,
        ``"regulatory:large_sum"``.
    nodes
        Number of QPs solved (1 without a regulatory rule or when the convex answer complies).
    """

    weights: pd.Series
    status: str
    solver: str
    fallback_used: bool
    solve_seconds: float
    objective: float
    binding: pd.DataFrame
    stage_exposure_before: pd.Series
    stage_exposure_after: pd.Series
    issuer_totals: pd.Series
    country_totals: pd.Series
    binding_constraints: list[str]
    nodes: int = 1


# --------------------------------------------------------------------------------------------
# Fixed structure of a universe, and the per-review numbers (canonical = sorted order)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Structure:
    tickers: tuple[object, ...]        # canonical order (sorted by str)
    user_tickers: tuple[object, ...]   # as given
    stages: tuple[str, ...]            # sorted
    issuer_names: tuple[str, ...]      # sorted
    issuer_idx: np.ndarray             # (n,) index into issuer_names
    issuer_given: bool                 # False: each ticker is its own issuer
    country_names: tuple[str, ...]     # sorted; empty when no countries
    country_idx: np.ndarray | None
    keys: pd.Index                     # str(ticker) in canonical order, for alignment
    user_index: pd.Index               # the tickers as given
    order: np.ndarray                  # canonical position -> position in user_index
    inverse: np.ndarray                # position in user_index -> canonical position
    stage_index: pd.Index
    issuer_index: pd.Index
    country_index: pd.Index

    @property
    def n(self) -> int:
        return len(self.tickers)

    @property
    def issuer_sizes(self) -> np.ndarray:
        return np.bincount(self.issuer_idx, minlength=len(self.issuer_names))


@dataclass(frozen=True, eq=False)
class _Inputs:
    u: np.ndarray            # normalised anchor
    cap: np.ndarray          # caller's cap (clipped to [0, 1])
    upper: np.ndarray        # name bound: the cap, 0 where u = 0
    lower: np.ndarray
    E: np.ndarray            # (n, k), rows of eligible names sum to 1; 0 rows for u = 0
    target: np.ndarray       # (k,)
    tol: float
    issuer_cap: float | None
    country_cap: np.ndarray  # (c,), inf = uncapped
    prev: np.ndarray
    lam: float

    def issuer_upper(self, st: _Structure, reg: RegulatoryLimits | None) -> np.ndarray:
        """Bound on each issuer's total from the issuer cap and the regulatory issuer maximum."""
        bound = 1.0 if self.issuer_cap is None else self.issuer_cap
        if reg is not None:
            bound = min(bound, reg.issuer_max)
        return np.full(len(st.issuer_names), bound)


def _canonical(labels: Sequence[object]) -> list[int]:
    return sorted(range(len(labels)), key=lambda i: str(labels[i]))


def _labels_for(
    tickers: Sequence[object], labels: pd.Series | Mapping | None, what: str
) -> list[str] | None:
    if labels is None:
        return None
    if not isinstance(labels, (pd.Series, Mapping)):
        raise InputError(f"{what} must be a pandas Series or a mapping by ticker, got {type(labels).__name__}")
    s = labels if isinstance(labels, pd.Series) else pd.Series(dict(labels), dtype=object)
    if not s.index.is_unique:
        raise InputError(f"{what}: duplicate tickers in the index")
    s = s.reindex(pd.Index(list(tickers), dtype=object))
    missing = [str(t) for t, v in zip(tickers, s.to_numpy()) if pd.isna(v) or v == ""]
    if missing:
        raise InputError(f"{what}: no value for {', '.join(sorted(missing))}; give every ticker one")
    return [str(v) for v in s.to_numpy()]


def _make_structure(
    tickers: Sequence[object],
    stages: Sequence[str],
    issuers: pd.Series | Mapping | None,
    countries: pd.Series | Mapping | None,
) -> _Structure:
    user = list(tickers)
    if not user:
        raise InputError("the universe is empty: pass at least one ticker")
    if len(set(map(str, user))) != len(user):
        raise InputError("tickers must be unique")
    stage_list = sorted(str(s) for s in stages)
    if not stage_list or len(set(stage_list)) != len(stage_list):
        raise InputError("stages must be a non-empty list of distinct names")
    order = _canonical(user)
    canon = [user[i] for i in order]
    iss = _labels_for(canon, issuers, "issuers")
    issuer_given = iss is not None
    if iss is None:
        iss = [str(t) for t in canon]
    issuer_names = tuple(sorted(set(iss)))
    pos = {name: j for j, name in enumerate(issuer_names)}
    issuer_idx = np.array([pos[s] for s in iss], dtype=np.intp)
    ctry = _labels_for(canon, countries, "countries")
    if ctry is None:
        country_names: tuple[str, ...] = ()
        country_idx = None
    else:
        country_names = tuple(sorted(set(ctry)))
        cpos = {name: j for j, name in enumerate(country_names)}
        country_idx = np.array([cpos[c] for c in ctry], dtype=np.intp)
    keys = pd.Index([str(t) for t in canon], dtype=object)
    order_arr = np.array(order, dtype=np.intp)
    user_index = tickers if isinstance(tickers, pd.Index) else pd.Index(user)
    return _Structure(tuple(canon), tuple(user), tuple(stage_list), issuer_names, issuer_idx,
                      issuer_given, country_names, country_idx, keys, user_index, order_arr,
                      np.argsort(order_arr), pd.Index(stage_list), pd.Index(issuer_names),
                      pd.Index(country_names, dtype=object if not country_names else None))


def _series(x: pd.Series | Mapping | float | None, what: str) -> pd.Series | None:
    if x is None or isinstance(x, pd.Series):
        return x
    if isinstance(x, Mapping):
        try:
            return pd.Series(dict(x), dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{what}: values must be numbers") from None
    raise InputError(f"{what} must be a pandas Series or a mapping by ticker")


def _number(x: object, what: str) -> float:
    """A real number (not a bool) as a float; InputError otherwise. Finiteness is checked by callers."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} must be a number, got {type(x).__name__}")
    return float(x)


def _finite_nonneg(values: np.ndarray, names: Sequence[object], what: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        shown = ", ".join(str(names[i]) for i in np.flatnonzero(bad)[:10])
        raise InputError(f"{what} must be finite and >= 0; bad value for {shown}")


def _aligned(s: pd.Series, st: _Structure, what: str, fill: float) -> np.ndarray:
    """Values of ``s`` in canonical ticker order (missing tickers get ``fill``)."""
    if s.index.equals(st.user_index):           # fast path: the universe's own order
        try:
            return s.to_numpy(dtype=float)[st.order]
        except (TypeError, ValueError):
            raise InputError(f"{what}: values must be numbers") from None
    if not s.index.is_unique:
        raise InputError(f"{what}: duplicate tickers in the index")
    idx = pd.Index(s.index.astype(str), dtype=object)
    if what in ("anchor", "caps", "min_weight"):
        unknown = idx.difference(st.keys)
        if len(unknown):
            raise InputError(f"{what}: tickers not in the universe: "
                             f"{', '.join(sorted(unknown)[:10])}")
    values = pd.to_numeric(pd.Series(s.to_numpy(), index=idx), errors="coerce")
    return values.reindex(st.keys, fill_value=fill).to_numpy(dtype=float)


def _prepare(
    st: _Structure,
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | float,
    previous: pd.Series | None,
    *,
    stage_tolerance: float,
    issuer_cap: float | None,
    country_caps: Mapping[str, float] | float | None,
    min_weight: pd.Series | None,
    turnover_penalty: float,
) -> _Inputs:
    """Validate the review's numbers and lay them out as arrays in canonical order."""
    if not isinstance(anchor, pd.Series):
        raise InputError("anchor must be a pandas Series of weights by ticker")
    u = _aligned(anchor, st, "anchor", 0.0)
    _finite_nonneg(u, st.tickers, "anchor weights")
    top = u.max(initial=0.0)
    if top <= 0:
        raise InfeasibleError("no eligible name: every anchor weight is 0; nothing to weight")
    u = u / top  # first by the largest: a sum of anchors near 1e308 would overflow to inf
    u = u / u.sum()
    elig = u > 0

    if not isinstance(stage_exposure, pd.DataFrame):
        raise InputError("stage_exposure must be a DataFrame (ticker x stage)")
    cols = [str(c) for c in stage_exposure.columns]
    if sorted(cols) != list(st.stages):
        raise InputError(f"stage_exposure columns {sorted(cols)} differ from the stages "
                         f"{list(st.stages)}")
    if not stage_exposure.index.is_unique:
        raise InputError("stage_exposure: duplicate tickers in the index")
    col_pos = [cols.index(stage) for stage in st.stages]
    try:
        values = stage_exposure.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError("stage_exposure: exposures must be numbers") from None
    if stage_exposure.index.equals(st.user_index):
        E = values[np.ix_(st.order, col_pos)]
    else:
        se = pd.DataFrame(values[:, col_pos], index=pd.Index(stage_exposure.index.astype(str), dtype=object))
        E = se.reindex(index=st.keys).to_numpy(dtype=float)
    E_el = E[elig]
    if np.isnan(E_el).any():
        bad = [str(st.tickers[i]) for i in np.flatnonzero(elig & np.isnan(E).any(axis=1))[:10]]
        raise InputError(f"stage_exposure: no exposure row for eligible {', '.join(bad)}")
    if (E_el < -1e-9).any() or (E_el > 1 + 1e-9).any():
        raise InputError("stage_exposure: exposures must be fractions in [0, 1]")
    sums = E_el.sum(axis=1)
    if (np.abs(sums - 1.0) > 1e-6).any():
        i = np.flatnonzero(elig)[int(np.argmax(np.abs(sums - 1.0)))]
        raise InputError(f"stage_exposure: the row of {st.tickers[i]} sums to {E[i].sum():.6f}, "
                         "not 1; the stages of a name must add up to 100%")
    E = np.where(elig[:, None], np.clip(np.nan_to_num(E), 0.0, 1.0), 0.0)
    E[elig] /= E[elig].sum(axis=1, keepdims=True)

    if not isinstance(targets, (Mapping, pd.Series)):
        raise InputError(f"targets must be a mapping stage -> share (or a Series), got {type(targets).__name__}")
    tg = {str(k): _number(v, f"targets[{k!r}]") for k, v in targets.items()}
    if sorted(tg) != list(st.stages):
        raise InputError(f"targets name stages {sorted(tg)}, expected {list(st.stages)}")
    target = np.array([tg[stage] for stage in st.stages])
    if not np.isfinite(target).all() or (target < 0).any() or abs(target.sum() - 1) > 1e-6:
        raise InputError(f"stage targets must be >= 0 and sum to 1 (they sum to {target.sum():.6f})")
    target = target / target.sum()

    stage_tolerance = _number(stage_tolerance, "stage_tolerance")
    if not (math.isfinite(stage_tolerance) and stage_tolerance >= 0):
        raise InputError(f"stage_tolerance must be >= 0, got {stage_tolerance}")

    if isinstance(caps, (int, float, np.integer, np.floating)) and not isinstance(caps, bool):
        cap = np.full(st.n, float(caps))
    elif caps is None:
        raise InputError("caps must be a number or a pandas Series of caps by ticker, got None")
    else:
        caps_s = _series(caps, "caps")
        cap = _aligned(caps_s, st, "caps", np.nan)
        miss = elig & np.isnan(cap)
        if miss.any():
            shown = ", ".join(str(st.tickers[i]) for i in np.flatnonzero(miss)[:10])
            raise InputError(f"caps: no cap given for eligible {shown}")
        cap = np.nan_to_num(cap, nan=0.0)
    cap = np.where(np.isposinf(cap), 1.0, cap)
    _finite_nonneg(cap, st.tickers, "caps")
    cap = np.minimum(cap, 1.0)

    if issuer_cap is not None:
        issuer_cap = _number(issuer_cap, "issuer_cap")
        if not (math.isfinite(issuer_cap) and issuer_cap > 0):
            raise InputError(f"issuer_cap must be > 0, got {issuer_cap}")
    upper = np.where(elig, cap, 0.0)

    if country_caps is None:
        ccap = np.full(len(st.country_names), np.inf)
    elif st.country_idx is None:
        raise InputError("country_caps given but no countries: pass countries by ticker")
    elif isinstance(country_caps, Mapping):
        given = {str(k): _number(v, f"country_caps[{k!r}]") for k, v in country_caps.items()}
        ccap = np.array([given.get(c, np.inf) for c in st.country_names])
    else:
        ccap = np.full(len(st.country_names), _number(country_caps, "country_caps"))
    if (np.isnan(ccap) | (ccap <= 0)).any():
        raise InputError("country caps must be > 0")

    if min_weight is None:
        lower = np.zeros(st.n)
    else:
        lower = _aligned(_series(min_weight, "min_weight"), st, "min_weight", 0.0)
        _finite_nonneg(lower, st.tickers, "min_weight")
        if (lower > 1).any():
            shown = ", ".join(str(st.tickers[i]) for i in np.flatnonzero(lower > 1)[:10])
            raise InputError(f"min_weight is a fraction of the portfolio (at most 1); bad value for {shown}")

    if previous is None:
        prev = np.zeros(st.n)
    else:
        prev = _aligned(_series(previous, "previous"), st, "previous", 0.0)
        _finite_nonneg(prev, st.tickers, "previous weights")
        big = prev > 1 + 1e-6
        if big.any():
            shown = ", ".join(str(st.tickers[i]) for i in np.flatnonzero(big)[:10])
            raise InputError(f"previous weights are fractions of the portfolio (at most 1); bad value for {shown}")
    if not (math.isfinite(turnover_penalty) and 0 <= turnover_penalty <= MAX_TURNOVER_PENALTY):
        raise InputError(f"turnover_penalty must be between 0 and {MAX_TURNOVER_PENALTY:g}, got {turnover_penalty}")
    return _Inputs(u, cap, upper, lower, E, target, float(stage_tolerance), issuer_cap, ccap,
                   prev, float(turnover_penalty))


# --------------------------------------------------------------------------------------------
# Feasibility pre-checks (no solver)
# --------------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pp(x: float) -> str:
    return f"{100 * x:.1f} pp" if abs(x) >= 0.001 else f"{100 * x:.3g} pp"


def _noun(stage: str) -> str:
    return _STAGE_NOUNS.get(stage.lower(), f"names with '{stage}' exposure")


def _name_capacity(st: _Structure, inp: _Inputs, reg: RegulatoryLimits | None) -> np.ndarray:
    """Most each name can hold on its own: its cap, limited by its issuer's and country's caps."""
    c = inp.upper.copy()
    c = np.minimum(c, inp.issuer_upper(st, reg)[st.issuer_idx])
    if st.country_idx is not None:
        c = np.minimum(c, inp.country_cap[st.country_idx])
    return np.maximum(c, inp.lower)


def _greedy_reach(values: np.ndarray, lower: np.ndarray, capacity: np.ndarray) -> float:
    """Largest Σ values·x with lower ≤ x ≤ capacity and Σ x = 1 (fractional knapsack)."""
    budget = 1.0 - lower.sum()
    order = np.argsort(-values, kind="stable")
    room = (capacity - lower)[order]
    take = np.minimum(room, np.maximum(budget - np.concatenate(([0.0], np.cumsum(room)[:-1])), 0))
    return float(values @ lower + values[order] @ take)


def _regulatory_reach(issuer_capacity: np.ndarray, reg: RegulatoryLimits) -> float:
    """Largest total weight the rule allows, given each issuer's capacity (exact for that model)."""
    thr = reg.large_threshold
    base = float(np.minimum(issuer_capacity, thr).sum())
    big = np.sort(issuer_capacity[issuer_capacity > thr])[::-1]
    k = np.arange(1, len(big) + 1)
    gains = np.minimum(reg.large_sum, np.cumsum(big)) - k * thr
    return base + max(0.0, float(gains.max()) if len(gains) else 0.0)


def _precheck(st: _Structure, inp: _Inputs, reg: RegulatoryLimits | None) -> None:
    """Raise InfeasibleError for the infeasibilities visible without a solver."""
    names = st.tickers
    elig = inp.u > 0
    bad = np.flatnonzero(inp.lower > inp.upper + ATOL)
    if len(bad):
        i = int(bad[0])
        if not elig[i]:
            raise InfeasibleError(
                f"'{names[i]}' has a minimum weight of {_pct(inp.lower[i])} but is not eligible "
                "(anchor weight 0), so its weight must be 0: drop its minimum weight")
        raise InfeasibleError(
            f"'{names[i]}' has a minimum weight of {_pct(inp.lower[i])} above its cap of "
            f"{_pct(inp.upper[i])}: lower the minimum weight or raise the cap")
    if inp.lower.sum() > 1 + ATOL:
        raise InfeasibleError(
            f"the minimum weights add up to {_pct(inp.lower.sum())}, more than 100%: "
            f"shortfall {_pp(inp.lower.sum() - 1)}; lower the minimum weights")
    total = float(inp.upper.sum())
    if total < 1 - ATOL:
        raise InfeasibleError(
            f"the single-name caps of the {int(elig.sum())} eligible names add up to only "
            f"{_pct(total)}: shortfall {_pp(1 - total)}; raise the caps or add eligible names")

    iss_up = inp.issuer_upper(st, reg)
    m = len(st.issuer_names)
    iss_sum = np.bincount(st.issuer_idx, weights=inp.upper, minlength=m)
    iss_cap = np.minimum(iss_sum, iss_up)
    iss_low = np.bincount(st.issuer_idx, weights=inp.lower, minlength=m)
    what = "issuer cap" if reg is None or (inp.issuer_cap or 1) <= reg.issuer_max else \
        f"{reg.name} issuer maximum"
    if (iss_low > iss_up + ATOL).any():
        j = int(np.argmax(iss_low - iss_up))
        raise InfeasibleError(
            f"issuer '{st.issuer_names[j]}': minimum weights add up to {_pct(iss_low[j])}, above "
            f"the {what} of {_pct(iss_up[j])}; lower the minimum weights or raise the {what}")
    if iss_cap.sum() < 1 - ATOL:
        limited = [st.issuer_names[j] for j in np.flatnonzero(iss_sum > iss_up + ATOL)]
        raise InfeasibleError(
            f"the {what} of {_pct(float(iss_up.min()))} limits the total to "
            f"{_pct(iss_cap.sum())}: shortfall {_pp(1 - iss_cap.sum())} (issuers held back: "
            f"{', '.join(limited[:10])}); raise the {what} or add eligible issuers")

    name_cap = _name_capacity(st, inp, reg)
    if st.country_idx is not None:
        c = len(st.country_names)
        ctry_sum = np.bincount(st.country_idx, weights=name_cap, minlength=c)
        ctry_low = np.bincount(st.country_idx, weights=inp.lower, minlength=c)
        over = np.flatnonzero(ctry_low > inp.country_cap + ATOL)
        if len(over):
            j = int(over[0])
            raise InfeasibleError(
                f"country '{st.country_names[j]}': minimum weights add up to {_pct(ctry_low[j])}, "
                f"above its cap of {_pct(inp.country_cap[j])}; lower the minimum weights or raise "
                "the country cap")
        reach = np.minimum(ctry_sum, inp.country_cap)
        if reach.sum() < 1 - ATOL:
            capped = [f"{st.country_names[j]} {_pct(inp.country_cap[j])}"
                      for j in np.flatnonzero(ctry_sum > inp.country_cap + ATOL)]
            raise InfeasibleError(
                f"the country caps ({', '.join(capped)}) limit the total to {_pct(reach.sum())}: "
                f"shortfall {_pp(1 - reach.sum())}; raise those country caps or add eligible "
                "names from other countries")

    if reg is not None:
        reach_reg = _regulatory_reach(iss_cap, reg)
        if reach_reg < 1 - ATOL:
            raise InfeasibleError(
                f"the {reg.name} rule (issuers above {_pct(reg.large_threshold)} together at most "
                f"{_pct(reg.large_sum)}, none above {_pct(reg.issuer_max)}) limits the total to "
                f"{_pct(reach_reg)} with these issuers and caps: shortfall {_pp(1 - reach_reg)}; "
                "add eligible issuers or raise their caps")

    for s, stage in enumerate(st.stages):
        e = inp.E[:, s]
        hi = _greedy_reach(e, inp.lower, name_cap)
        lo = -_greedy_reach(-e, inp.lower, name_cap)
        want_lo = inp.target[s] - inp.tol
        want_hi = inp.target[s] + inp.tol
        band = f"target {_pct(inp.target[s])} ± {_pct(inp.tol)}"
        if hi < want_lo - ATOL:
            raise InfeasibleError(
                f"stage '{stage}' can reach at most {_pct(hi)} with the current caps, {band}: "
                f"shortfall {_pp(want_lo - hi)}; raise caps, widen stage_tolerance or add "
                f"eligible {_noun(stage)}")
        if lo > want_hi + ATOL:
            raise InfeasibleError(
                f"stage '{stage}' is at least {_pct(lo)} with the current caps, {band}: excess "
                f"{_pp(lo - want_hi)}; raise the caps of names outside '{stage}', widen "
                "stage_tolerance or add eligible names in the other stages")


def _active_groups(st: _Structure, inp: _Inputs, reg: RegulatoryLimits | None) -> list[str]:
    groups = ["budget (weights sum to 100%)", "single-name caps"]
    if (inp.lower > 0).any():
        groups.append("minimum weights")
    groups.append(f"stage targets ± {_pct(inp.tol)} ({', '.join(st.stages)})")
    if inp.issuer_cap is not None:
        groups.append(f"issuer cap {_pct(inp.issuer_cap)}")
    capped = [f"{c} {_pct(v)}" for c, v in zip(st.country_names, inp.country_cap) if v < 1]
    if capped:
        groups.append(f"country caps ({', '.join(capped)})")
    if reg is not None:
        groups.append(f"regulatory {reg.name}")
    return groups


# --------------------------------------------------------------------------------------------
# Verification (explicit numpy checks)
# --------------------------------------------------------------------------------------------


def _regulatory_violations(W: np.ndarray, names: Sequence[str], reg: RegulatoryLimits,
                           atol: float) -> list[str]:
    out = []
    j = int(np.argmax(W))
    if W[j] > reg.issuer_max + atol:
        out.append(f"{reg.name}: issuer '{names[j]}' at {W[j]:.10f} above {reg.issuer_max}")
    large = W > reg.large_threshold + atol
    if W[large].sum() > reg.large_sum + atol:
        out.append(f"{reg.name}: issuers above {reg.large_threshold} hold {W[large].sum():.10f}, "
                   f"above {reg.large_sum}")
    return out


def _violations(
    w: np.ndarray,
    st: _Structure,
    inp: _Inputs,
    reg: RegulatoryLimits | None,
    atol: float = ATOL,
    issuer_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[str]:
    """Every constraint the weights break by more than ``atol`` (empty list: all hold)."""
    out: list[str] = []
    names = st.tickers
    if not np.isfinite(w).all():
        return ["weights are not finite"]
    if abs(w.sum() - 1) > atol:
        out.append(f"weights sum to {w.sum():.12f}, not 1")
    for i in np.flatnonzero(w < -atol):
        out.append(f"'{names[i]}' has negative weight {w[i]:.3e}")
    upper = np.where(inp.u > 0, inp.cap, 0.0)
    for i in np.flatnonzero(w > upper + atol):
        out.append(f"'{names[i]}' weight {w[i]:.10f} above its cap {upper[i]:.10f}")
    for i in np.flatnonzero(w < inp.lower - atol):
        out.append(f"'{names[i]}' weight {w[i]:.10f} below its minimum {inp.lower[i]:.10f}")
    expo = inp.E.T @ w
    for s in np.flatnonzero(np.abs(expo - inp.target) > inp.tol + atol):
        out.append(f"stage '{st.stages[s]}' exposure {expo[s]:.10f} outside "
                   f"{inp.target[s]:.10f} ± {inp.tol}")
    W = np.bincount(st.issuer_idx, weights=w, minlength=len(st.issuer_names))
    if inp.issuer_cap is not None:
        for j in np.flatnonzero(W > inp.issuer_cap + atol):
            out.append(f"issuer '{st.issuer_names[j]}' at {W[j]:.10f} above the issuer cap "
                       f"{inp.issuer_cap}")
    if st.country_idx is not None:
        C = np.bincount(st.country_idx, weights=w, minlength=len(st.country_names))
        for c in np.flatnonzero(C > inp.country_cap + atol):
            out.append(f"country '{st.country_names[c]}' at {C[c]:.10f} above its cap "
                       f"{inp.country_cap[c]}")
    if issuer_bounds is not None:
        lo, hi = issuer_bounds
        for j in np.flatnonzero((W > hi + atol) | (W < lo - atol)):
            out.append(f"issuer '{st.issuer_names[j]}' at {W[j]:.10f} outside the node bounds "
                       f"[{lo[j]}, {hi[j]}]")
    if reg is not None:
        out.extend(_regulatory_violations(W, st.issuer_names, reg, atol))
    return out


# --------------------------------------------------------------------------------------------
# The compiled optimizer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Solution:
    w: np.ndarray
    value: float        # solver-form objective Σ w²/u + λ Σ|w − p|
    status: str
    solver: str
    fallback_used: bool


class _SolverFailure(Exception):
    """A cvxpy solver raised (unknown or not installed solver, numerical failure)."""


@contextlib.contextmanager
def _solver_stdout_to_log() -> Iterator[None]:
    """Keep what a solver prints off stdout, logging it at debug level instead.

    SCS prints "ERROR: could not determine problem status." (through ``PySys_WriteStdout``, i.e.
    ``sys.stdout``) on a numerical failure even with ``verbose=False``; on a command's stdout it
    would land inside the result, while the failure itself is reported as a
    :class:`~exchina_index.errors.SolverError`.
    """
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        if sink.getvalue().strip():
            logging.getLogger(__name__).debug("solver output: %s", " ".join(sink.getvalue().split()))


def _cvxpy_solve(problem: cp.Problem, solver: str, **options: object) -> None:
    """``problem.solve`` with cvxpy's SolverError as :class:`_SolverFailure`."""
    import cvxpy as cp

    with warnings.catch_warnings(), _solver_stdout_to_log():
        # "Solution may be inaccurate": callers verify the answer
        warnings.simplefilter("ignore", UserWarning)
        try:
            problem.solve(solver=solver, **options)
        except cp.error.SolverError as exc:
            raise _SolverFailure(str(exc)) from None


class _Infeasible(Exception):
    def __init__(self, attempts: list[tuple[str, str]]) -> None:
        super().__init__("infeasible")
        self.attempts = attempts


def _fold_single_issuers(upper: np.ndarray, st: _Structure, issuer_cap: float) -> np.ndarray:
    single = st.issuer_sizes[st.issuer_idx] == 1
    return np.where(single, np.minimum(upper, issuer_cap), upper)


def _aggregation(idx: np.ndarray, rows: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 matrix with one row per group in ``rows`` summing that group's members."""
    row_of = {int(g): r for r, g in enumerate(rows)}
    members = [i for i in range(n) if int(idx[i]) in row_of]
    r = [row_of[int(idx[i])] for i in members]
    return sp.csr_matrix((np.ones(len(members)), (r, members)), shape=(len(rows), n))


class StageBalancedOptimizer:
    """A stage-balanced weighting problem set up once for a fixed universe.

    The universe (ordered tickers), the stages, the issuer and country membership and the regulatory
    mode are fixed; everything that changes between reviews - anchors, exposures, targets, caps,
    floors, tolerance, issuer and country caps, previous weights and the turnover penalty - is given
    to :meth:`solve`. With CLARABEL the review's QP goes to Clarabel directly, over the eligible
    names; other solvers get the cvxpy model, built and canonicalised once (DPP) on first use, whose
    parameters each solve only re-values (see the module docstring). A name that is not eligible at
    a review is passed with anchor 0 (its weight is then 0).

    Parameters
    ----------
    tickers
        The universe, in the order results are reported.
    stages
        Stage names (the columns of ``stage_exposure``).
    issuers
        Issuer of each ticker (Series or mapping); None: each ticker is its own issuer.
    countries
        Country of each ticker; None: no country caps possible.
    regulatory
        RIC / UCITS style rule, or None.
    turnover
        Build the turnover-penalty term (costs n extra variables); without it ``solve`` refuses a
        positive ``turnover_penalty``.
    solver, fallback_solvers
        cvxpy solver names tried in order.
    max_nodes
        Most QPs the regulatory branch and bound may solve before giving up with SolverError.
    direct_clarabel
        Solve CLARABEL's QPs directly (default) rather than through the cvxpy model; both give
        the same optimum to solver accuracy. Other solvers always go through cvxpy.

    Examples
    --------
    >>> import pandas as pd
    >>> opt = StageBalancedOptimizer(["A", "B", "C"], ["mining", "refining"])
    >>> E = pd.DataFrame({"mining": [1.0, 0.0, 0.5], "refining": [0.0, 1.0, 0.5]},
    ...                  index=["A", "B", "C"])
    >>> u = pd.Series({"A": 0.6, "B": 0.2, "C": 0.2})
    >>> res = opt.solve(u, E, {"mining": 0.5, "refining": 0.5}, caps=0.6)
    >>> round(float(res.stage_exposure_after["mining"]), 6)
    0.5
    """

    def __init__(
        self,
        tickers: Sequence[object],
        stages: Sequence[str],
        *,
        issuers: pd.Series | Mapping | None = None,
        countries: pd.Series | Mapping | None = None,
        regulatory: RegulatoryLimits | None = None,
        turnover: bool = True,
        solver: str = "CLARABEL",
        fallback_solvers: Sequence[str] = (),
        max_nodes: int = 20_000,
        direct_clarabel: bool = True,
    ) -> None:
        if regulatory is not None and not isinstance(regulatory, RegulatoryLimits):
            raise InputError("regulatory must be a RegulatoryLimits (or None)")
        if isinstance(fallback_solvers, str) or not isinstance(fallback_solvers, Sequence):
            raise InputError(f"fallback_solvers must be a sequence of solver names, got {fallback_solvers!r}")
        for what, name in (("solver", solver), *(("fallback solver", n) for n in fallback_solvers)):
            problem = solver_problem(name)
            if problem is not None:  # a misspelt name must not fall back silently
                raise InputError(f"{what}: {problem}")
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
            raise InputError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
        self._st = _make_structure(tickers, stages, issuers, countries)
        self._user_stages = pd.Index([str(s_) for s_ in stages])
        self.regulatory = regulatory
        self.turnover = bool(turnover)
        self.solver = str(solver)
        self.fallback_solvers = tuple(str(s) for s in fallback_solvers)
        self.max_nodes = int(max_nodes)
        self.direct_clarabel = bool(direct_clarabel)
        # direct path: first without iterative refinement (a quarter faster on review problems),
        # then with Clarabel's default refinement if that answer is not solved and verified
        careful = _SOLVER_OPTIONS["CLARABEL"]
        self._direct_settings = (clarabel_settings({**careful, "iterative_refinement_enable": False}),
                                 clarabel_settings(careful))
        self._problem: cp.Problem | None = None   # the cvxpy model, built on first use

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> cp.Problem:
        import cvxpy as cp

        st, reg = self._st, self.regulatory
        n, k = st.n, len(st.stages)
        w = cp.Variable(n, name="w")
        self._w = w
        self._p: dict[str, cp.Parameter] = {
            "inv_u": cp.Parameter(n, nonneg=True, name="inv_u"),
            "upper": cp.Parameter(n, nonneg=True, name="upper"),
            "lower": cp.Parameter(n, nonneg=True, name="lower"),
            "exposure": cp.Parameter((k, n), nonneg=True, name="exposure_t"),
            "target": cp.Parameter(k, name="target"),
            "tol": cp.Parameter(nonneg=True, name="tolerance"),
        }
        p = self._p
        objective = cp.sum(cp.multiply(p["inv_u"], cp.square(w)))
        # z = Eᵀw as its own variable: the dense exposure rows appear once, the band on z is sparse
        z = cp.Variable(k, name="stage_exposure")
        constraints = [
            cp.sum(w) == 1,
            w <= p["upper"],
            w >= p["lower"],
            p["exposure"] @ w == z,
            z <= p["target"] + p["tol"],
            z >= p["target"] - p["tol"],
        ]
        # Issuer rows: all issuers under a regulatory rule, otherwise only multi-listing issuers
        # (a single-listing issuer's cap is folded into its name's upper bound).
        m = len(st.issuer_names)
        self._iss_rows = np.arange(m) if reg is not None else np.flatnonzero(st.issuer_sizes > 1)
        if len(self._iss_rows):
            A = _aggregation(st.issuer_idx, self._iss_rows, n)
            W = A @ w
            r = len(self._iss_rows)
            p["iss_upper"] = cp.Parameter(r, nonneg=True, name="issuer_upper")
            constraints.append(W <= p["iss_upper"])
            if reg is not None:
                p["iss_lower"] = cp.Parameter(r, nonneg=True, name="issuer_lower")
                p["large"] = cp.Parameter(r, nonneg=True, name="large_mask")
                p["hull"] = cp.Parameter(r, nonneg=True, name="hull_coef")
                constraints += [
                    W >= p["iss_lower"],
                    p["large"] @ W + p["hull"] @ cp.pos(W - reg.large_threshold) <= reg.large_sum,
                ]
        if st.country_idx is not None:
            C = _aggregation(st.country_idx, np.arange(len(st.country_names)), n)
            p["country"] = cp.Parameter(len(st.country_names), nonneg=True, name="country_cap")
            constraints.append(C @ w <= p["country"])
        if self.turnover:
            d = cp.Variable(n, name="trade")  # d >= |w - prev| (so d >= 0 needs no row)
            p["prev"] = cp.Parameter(n, nonneg=True, name="previous")
            p["lam"] = cp.Parameter(nonneg=True, name="turnover_penalty")
            constraints += [d >= w - p["prev"], d >= p["prev"] - w]
            objective = objective + p["lam"] * cp.sum(d)
        return cp.Problem(cp.Minimize(objective), constraints)

    @property
    def problem(self) -> cp.Problem:
        """The cvxpy model of the problem (DPP: ``problem.is_dpp()`` is True), built on first use."""
        if self._problem is None:
            self._problem = self._build()
        return self._problem

    @property
    def tickers(self) -> tuple[object, ...]:
        """The universe in the order results are reported."""
        return self._st.user_tickers

    # -- one review ---------------------------------------------------------------------------

    def solve(
        self,
        anchor: pd.Series,
        stage_exposure: pd.DataFrame,
        targets: Mapping[str, float] | pd.Series,
        caps: pd.Series | float,
        previous: pd.Series | None = None,
        *,
        stage_tolerance: float = 0.0,
        issuer_cap: float | None = None,
        country_caps: Mapping[str, float] | float | None = None,
        min_weight: pd.Series | None = None,
        turnover_penalty: float = 0.0,
    ) -> OptimizationResult:
        """Set the parameters for one review and solve.

        Parameters are those of :func:`stage_balanced_weights`; tickers missing from ``anchor``
        get anchor 0 (not eligible).

        Returns
        -------
        OptimizationResult

        Raises
        ------
        InfeasibleError
            The constraints cannot all hold (pre-check or solver certificate); the message names
            the constraint and the shortfall, or the active constraint groups.
        SolverError
            Every solver failed or returned an answer that breaks a constraint.
        InputError
            Malformed inputs.
        """
        turnover_penalty = _number(turnover_penalty, "turnover_penalty")
        if turnover_penalty > 0 and not self.turnover:
            raise InputError("turnover_penalty > 0 but the optimizer was built with turnover=False")
        inp = _prepare(self._st, anchor, stage_exposure, targets, caps, previous,
                       stage_tolerance=stage_tolerance, issuer_cap=issuer_cap,
                       country_caps=country_caps, min_weight=min_weight,
                       turnover_penalty=turnover_penalty)
        _precheck(self._st, inp, self.regulatory)
        start = time.perf_counter()
        self._start_review(inp)
        if self.regulatory is None:
            sol = self._solve_or_raise(inp, None)
            nodes = 1
        else:
            sol, nodes = self._branch_and_bound(inp)
        elapsed = time.perf_counter() - start
        w = self._cleanup(sol, inp)
        return self._report(w, sol, inp, elapsed, nodes)

    def _start_review(self, inp: _Inputs) -> None:
        """Issuer bounds and, under a regulatory rule, the hull coefficients of this review."""
        st, reg = self._st, self.regulatory
        self._status: np.ndarray | None = None      # branch-and-bound node (None: no rule)
        self._iss_upper_base = inp.issuer_upper(st, reg)
        if reg is not None:
            thr = reg.large_threshold
            cap_j = np.bincount(st.issuer_idx, weights=inp.upper, minlength=len(st.issuer_names))
            self._M = np.minimum(self._iss_upper_base, cap_j)
            room = self._M - thr
            self._hull = np.where(room > 0, self._M / np.where(room > 0, room, 1.0), 0.0)

    def _issuer_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds on each issuer's total at the current node."""
        up = self._iss_upper_base
        if self._status is None:
            return np.zeros(len(up)), up
        thr = self.regulatory.large_threshold
        return (np.where(self._status == 2, thr, 0.0),
                np.where(self._status == 1, np.minimum(up, thr), up))

    def _direct_qp(self, inp: _Inputs) -> ReviewQP:
        """The current node as plain arrays for :func:`~exchina_index.construction.optimizer.direct_qp.solve_direct`."""
        st, reg = self._st, self.regulatory
        lo, up = self._issuer_bounds()
        node = {}
        if reg is not None:
            node = {"large": self._status == 2, "hull": self._node_hull,
                    "large_sum": reg.large_sum, "threshold": reg.large_threshold}
        return ReviewQP(inp.u, inp.upper, inp.lower, inp.E, inp.target, inp.tol, inp.prev,
                        inp.lam, st.issuer_idx, lo, up, st.country_idx, inp.country_cap, **node)

    def _load_cvxpy(self, inp: _Inputs) -> cp.Problem:
        """Give the cvxpy model's parameters this review's values and the current node."""
        problem = self.problem
        p, st = self._p, self._st
        p["inv_u"].value = np.where(inp.u > 0, 1.0 / np.where(inp.u > 0, inp.u, 1.0), 0.0)
        upper = inp.upper
        if inp.issuer_cap is not None and self.regulatory is None:
            # single-listing issuers have no row of their own: their cap is a name cap
            upper = _fold_single_issuers(upper, st, inp.issuer_cap)
        p["upper"].value = upper
        p["lower"].value = inp.lower
        p["exposure"].value = np.ascontiguousarray(inp.E.T)
        p["target"].value = inp.target
        p["tol"].value = inp.tol
        if "iss_upper" in p:
            lo, up = self._issuer_bounds()
            p["iss_upper"].value = up[self._iss_rows]
            if "iss_lower" in p:
                p["iss_lower"].value = lo
                p["large"].value = (self._status == 2).astype(float)
                p["hull"].value = self._node_hull
        if "country" in p:
            # a cap of 1 never binds (weights sum to 1); keeps parameter values finite
            p["country"].value = np.minimum(inp.country_cap, 1.0)
        if self.turnover:
            p["prev"].value = inp.prev
            p["lam"].value = inp.lam
        return problem

    # -- solving one QP -----------------------------------------------------------------------

    def _runs(self) -> Iterator[tuple[int, str, object | None]]:
        """(position in the solver chain, solver, direct Clarabel settings or None for cvxpy)."""
        for i, name in enumerate((self.solver, *self.fallback_solvers)):
            if name == "CLARABEL" and self.direct_clarabel:
                for settings in self._direct_settings:
                    yield i, name, settings
            else:
                yield i, name, None

    def _attempt(self, name: str, settings: object | None, inp: _Inputs
                 ) -> tuple[np.ndarray | None, str]:
        """Solve the current node once: (weights or None, cvxpy-style status)."""
        if settings is not None:
            w, status = solve_direct(self._direct_qp(inp), settings)
            return w, _DIRECT_STATUS.get(status, status)
        problem = self._load_cvxpy(inp)
        # no warm start: the answer must not depend on the previous review (reproducible bytes)
        _cvxpy_solve(problem, name, warm_start=False, **_SOLVER_OPTIONS.get(name, {}))
        w = self._w.value
        return (None if w is None else np.asarray(w, dtype=float)), str(problem.status)

    def _solve_current(self, inp: _Inputs, bounds: tuple[np.ndarray, np.ndarray] | None
                       ) -> _Solution:
        """Solve the current node; raise _Infeasible or SolverError."""
        attempts: list[tuple[str, str]] = []
        for i, name, settings in self._runs():
            try:
                w, status = self._attempt(name, settings, inp)
            except (_SolverFailure, ValueError, ArithmeticError, RuntimeError) as exc:
                attempts.append((name, f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}"))
                continue
            if status == _INFEASIBLE:
                attempts.append((name, status))
                raise _Infeasible(attempts)
            if status not in (_OPTIMAL, _OPTIMAL_INACCURATE) or w is None:
                attempts.append((name, status))
                continue
            viol = _violations(w, self._st, inp, None, issuer_bounds=bounds)
            if viol:
                attempts.append((name, f"{status} but {viol[0]}"))
                continue
            return _Solution(w, self._value(w, inp), status, name, i > 0)
        if attempts and all(s.startswith("infeasible") for _, s in attempts):
            raise _Infeasible(attempts)
        tried = "; ".join(f"{n}: {s}" for n, s in attempts)
        raise SolverError(f"every solver failed ({tried}); try other fallback_solvers or relax "
                          "the constraints slightly")

    def _solve_or_raise(self, inp: _Inputs, bounds: tuple[np.ndarray, np.ndarray] | None
                        ) -> _Solution:
        try:
            return self._solve_current(inp, bounds)
        except _Infeasible as exc:
            raise self._infeasible_error(inp, exc.attempts) from None

    def _infeasible_error(self, inp: _Inputs, attempts: list[tuple[str, str]],
                          extra: str = "") -> InfeasibleError:
        statuses = ", ".join(f"{n} '{s}'" for n, s in attempts)
        groups = "; ".join(_active_groups(self._st, inp, self.regulatory))
        return InfeasibleError(
            f"the constraints cannot all hold together{extra} (solver status: {statuses}); "
            f"active constraint groups: {groups}. Relax one of them: raise caps, widen "
            "stage_tolerance, lower minimum weights or add eligible names")

    @staticmethod
    def _value(w: np.ndarray, inp: _Inputs) -> float:
        el = inp.u > 0
        return float(np.sum(w[el] ** 2 / inp.u[el]) + inp.lam * np.abs(w - inp.prev).sum())

    # -- regulatory branch and bound ----------------------------------------------------------

    def _set_node(self, status: np.ndarray, hull: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Make ``status`` (per issuer: 0 free, 1 small, 2 large) the current node, with or without
        the hull cut on its free issuers; return its issuer bounds."""
        self._status = status
        self._node_hull = np.where(status == 0, self._hull, 0.0) if hull else np.zeros(len(status))
        return self._issuer_bounds()

    def _node(self, inp: _Inputs, status: np.ndarray, hull: bool = True) -> _Solution | None:
        bounds = self._set_node(status, hull)
        try:
            return self._solve_current(inp, bounds)
        except _Infeasible as exc:
            self._last_attempts = exc.attempts
            return None

    def _complies(self, w: np.ndarray) -> bool:
        W = np.bincount(self._st.issuer_idx, weights=w, minlength=len(self._st.issuer_names))
        return not _regulatory_violations(W, self._st.issuer_names, self.regulatory, ATOL)

    def _branch_issuer(self, w: np.ndarray, status: np.ndarray) -> int:
        """Free issuer above the threshold whose large-sum contribution is most under-estimated."""
        thr = self.regulatory.large_threshold
        W = np.bincount(self._st.issuer_idx, weights=w, minlength=len(self._st.issuer_names))
        gap = W - self._hull * np.maximum(W - thr, 0.0)
        cand = (status == 0) & (W > thr + ATOL)
        return int(np.flatnonzero(cand)[np.argmax(gap[cand])])

    def _interchangeable(self, inp: _Inputs) -> dict[int, tuple[np.ndarray, int]]:
        """Chains of interchangeable issuers, for symmetry breaking.

        Two single-listing issuers whose names have identical cap, floor, exposures, country and
        previous weight differ only in their anchor. Swapping their weights keeps every constraint
        and does not increase Σ w²/u when the larger weight sits on the larger anchor, so some
        optimum has W_a >= W_b whenever u_a >= u_b: if b is above the threshold, so is a. Each
        chain lists such issuers by decreasing anchor (ties by name); the branch and bound only
        explores large sets closed under "b large ⇒ every earlier issuer of its chain large".
        Returns issuer -> (its chain, its position in the chain).
        """
        st = self._st
        single = np.flatnonzero((st.issuer_sizes[st.issuer_idx] == 1) & (inp.u > 0))
        ctry = st.country_idx if st.country_idx is not None else np.zeros(st.n, dtype=np.intp)
        groups: dict[tuple, list[int]] = {}
        for i in single:
            key = (inp.upper[i], inp.lower[i], ctry[i], inp.prev[i], *inp.E[i])
            groups.setdefault(key, []).append(int(i))
        chains: dict[int, tuple[np.ndarray, int]] = {}
        for members in groups.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda i: (-inp.u[i], i))
            chain = st.issuer_idx[np.array(members)]
            for pos, j in enumerate(chain):
                chains[int(j)] = (chain, pos)
        return chains

    def _fix(self, status: np.ndarray, j: int, fix: int) -> np.ndarray:
        """Child status with issuer j fixed small (1) or large (2), propagated along its chain."""
        child = status.copy()
        child[j] = fix
        if j in self._chains:
            chain, pos = self._chains[j]
            if fix == 1:
                child[chain[pos + 1:]] = 1      # issuers with smaller anchors stay small too
            else:
                child[chain[:pos]] = 2          # issuers with larger anchors are large too
        return child

    def _branch_and_bound(self, inp: _Inputs) -> tuple[_Solution, int]:
        thr = self.regulatory.large_threshold
        floors = np.bincount(self._st.issuer_idx, weights=inp.lower,
                             minlength=len(self._st.issuer_names))
        root_status = np.where(self._M <= thr, 1, np.where(floors > thr, 2, 0)).astype(np.int8)
        self._last_attempts: list[tuple[str, str]] = []
        # the plain convex problem first: when its answer complies, it is the optimum
        root = self._node(inp, root_status, hull=False)
        nodes = 1
        if root is None:
            raise self._infeasible_error(inp, self._last_attempts)
        if self._complies(root.w):
            return root, nodes
        root = self._node(inp, root_status)
        nodes += 1
        if root is None:
            raise self._infeasible_error(inp, self._last_attempts, extra=f" under the "
                                         f"{self.regulatory.name} rule")
        if self._complies(root.w):
            return root, nodes
        self._chains = self._interchangeable(inp)
        best: _Solution | None = None
        counter = 0
        heap: list[tuple[float, int, np.ndarray, _Solution]] = [(root.value, 0, root_status, root)]
        while heap:
            bound, _, status, sol = heapq.heappop(heap)
            if best is not None and bound >= best.value - BNB_GAP:
                break
            j = self._branch_issuer(sol.w, status)
            for fix in (1, 2):
                child = self._fix(status, j, fix)
                nodes += 1
                if nodes > self.max_nodes:
                    gap = "none found yet" if best is None else \
                        f"best found {best.value - 1:.6g}, lower bound {bound - 1:.6g}"
                    raise SolverError(
                        f"the {self.regulatory.name} rule: the exact search for which issuers may "
                        f"exceed {_pct(thr)} needed more than max_nodes={self.max_nodes} QPs "
                        f"({gap}); many near-identical issuers make this choice combinatorial. "
                        "Raise max_nodes, or differentiate the anchors (e.g. cap-weighted)")
                res = self._node(inp, child)
                if res is None or (best is not None and res.value >= best.value - BNB_GAP):
                    continue
                if self._complies(res.w):
                    best = res
                else:
                    counter += 1
                    heapq.heappush(heap, (res.value, counter, child, res))
        if best is None:
            raise self._infeasible_error(
                inp, self._last_attempts or [(self.solver, "infeasible")],
                extra=f" under the {self.regulatory.name} rule (every choice of large issuers "
                      "was infeasible)")
        return best, nodes

    # -- clean-up and report ------------------------------------------------------------------

    def _cleanup(self, sol: _Solution, inp: _Inputs) -> np.ndarray:
        # solver noise: clip into [0, cap] (exact zeros below 1e-12), then restore the sum by
        # spreading any shortfall over the room left under the caps (never pushing a name past it)
        w = np.where(inp.u > 0, np.clip(sol.w, 0.0, inp.upper), 0.0)
        w[w < 1e-12] = 0.0
        shortfall = 1.0 - w.sum()
        room = np.where(w > 0, inp.upper - w, 0.0)
        if shortfall > 0 and room.sum() > shortfall:
            w = w + shortfall * room / room.sum()
        else:
            w = w / w.sum()
        viol = _violations(w, self._st, inp, self.regulatory)
        if viol:
            raise SolverError(f"{sol.solver} returned weights that break a constraint after "
                              f"clean-up: {'; '.join(viol[:3])}")
        return w

    def _report(self, w: np.ndarray, sol: _Solution, inp: _Inputs, elapsed: float,
                nodes: int) -> OptimizationResult:
        st, reg = self._st, self.regulatory
        el = inp.u > 0
        back = st.inverse
        frame = pd.DataFrame({
            "u": inp.u[back], "weight": w[back], "cap": inp.cap[back],
            "min_weight": inp.lower[back],
            "at_cap": (el & (w >= inp.cap - BINDING_TOL))[back],
            "at_min": (el & (w <= inp.lower + BINDING_TOL))[back],
        }, index=st.user_index)
        weights = pd.Series(w[back], index=st.user_index, name="weight")
        user_stages = self._user_stages
        col = [st.stages.index(stage) for stage in user_stages]
        expo = inp.E.T @ w
        before = pd.Series((inp.E.T @ inp.u)[col], index=user_stages, name="exposure")
        after = pd.Series(expo[col], index=user_stages, name="exposure")
        W = np.bincount(st.issuer_idx, weights=w, minlength=len(st.issuer_names))
        iss = pd.Series(W, index=st.issuer_index, name="issuer_total")
        if st.country_idx is not None:
            C = np.bincount(st.country_idx, weights=w, minlength=len(st.country_names))
        else:
            C = np.zeros(0)
        ctry = pd.Series(C, index=st.country_index, name="country_total", dtype=float)
        binding: list[str] = []
        for s, stage in enumerate(st.stages):
            if inp.tol == 0:
                binding.append(f"stage:{stage}")
            else:
                if expo[s] >= inp.target[s] + inp.tol - BINDING_TOL:
                    binding.append(f"stage:{stage} upper")
                if expo[s] <= inp.target[s] - inp.tol + BINDING_TOL:
                    binding.append(f"stage:{stage} lower")
        if inp.issuer_cap is not None:
            binding += [f"issuer:{st.issuer_names[j]}"
                        for j in np.flatnonzero(W >= inp.issuer_cap - BINDING_TOL)]
        binding += [f"country:{st.country_names[c]}"
                    for c in np.flatnonzero(C >= inp.country_cap - BINDING_TOL)]
        if reg is not None:
            thr = reg.large_threshold
            binding += [f"regulatory:issuer_max:{st.issuer_names[j]}"
                        for j in np.flatnonzero(W >= reg.issuer_max - BINDING_TOL)]
            binding += [f"regulatory:threshold:{st.issuer_names[j]}"
                        for j in np.flatnonzero(np.abs(W - thr) <= BINDING_TOL)]
            if W[W > thr + ATOL].sum() >= reg.large_sum - BINDING_TOL:
                binding.append("regulatory:large_sum")
        objective = float(np.sum((w[el] - inp.u[el]) ** 2 / inp.u[el])
                          + inp.lam * np.abs(w - inp.prev).sum())
        return OptimizationResult(
            weights=weights, status=sol.status, solver=sol.solver,
            fallback_used=sol.fallback_used, solve_seconds=elapsed, objective=objective,
            binding=frame, stage_exposure_before=before, stage_exposure_after=after,
            issuer_totals=iss, country_totals=ctry, binding_constraints=sorted(binding),
            nodes=nodes)


# --------------------------------------------------------------------------------------------
# One-off functional API
# --------------------------------------------------------------------------------------------


def _stages_of(stage_exposure: pd.DataFrame) -> list[str]:
    if not isinstance(stage_exposure, pd.DataFrame):
        raise InputError("stage_exposure must be a DataFrame (ticker x stage)")
    return [str(c) for c in stage_exposure.columns]


def _one_off_optimizer(
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    issuers: pd.Series | None,
    countries: pd.Series | None,
    regulatory: RegulatoryLimits | None,
    turnover: bool,
    solver: str,
    fallback_solvers: Sequence[str],
) -> StageBalancedOptimizer:
    if not isinstance(anchor, pd.Series):
        raise InputError("anchor must be a pandas Series of weights by ticker")
    return StageBalancedOptimizer(
        list(anchor.index), _stages_of(stage_exposure), issuers=issuers, countries=countries,
        regulatory=regulatory, turnover=turnover, solver=solver,
        fallback_solvers=fallback_solvers)


def stage_balanced_weights(
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | float,
    previous: pd.Series | None = None,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    min_weight: pd.Series | None = None,
    turnover_penalty: float = 0.0,
    regulatory: RegulatoryLimits | None = None,
    solver: str = "CLARABEL",
    fallback_solvers: Sequence[str] = (),
) -> pd.Series:
    """Weights closest to the anchor that balance the supply-chain stages and respect every cap.

    Solves

        minimise    Σ_i (w_i − u_i)²/u_i + turnover_penalty · Σ_i |w_i − previous_i|
        subject to  Σ w = 1, min_weight ≤ w ≤ caps, w_i = 0 where u_i = 0,
                    |Σ_i E_is w_i − target_s| ≤ stage_tolerance for every stage s,
                    issuer totals ≤ issuer_cap, country totals ≤ country cap,
                    the regulatory rule on issuer totals (if any).

    ``u`` is ``anchor`` normalised to sum 1 over the names with a positive anchor. Because
    Σ w = Σ u = 1, Σ (w − u)²/u = Σ w²/u − 1: the solver minimises Σ (1/u) w², which keeps the
    problem DPP. With only a single-name cap this is the classic capped index (iterative capping
    with proportional redistribution).

    Parameters
    ----------
    anchor
        Uncapped anchor weights u >= 0 by ticker (any positive scale). u = 0: not eligible.
    stage_exposure
        Ticker x stage fractions; each eligible name's row sums to 1 (re-normalised exactly).
    targets
        Stage -> target share, summing to 1.
    caps
        Per-name upper bound (Series by ticker) or one uniform float; pass min(single cap,
        liquidity cap).
    previous
        Previous (drifted) weights for the turnover penalty; missing names count as 0, names
        outside ``anchor`` are ignored (their sale is a constant).
    stage_tolerance
        Allowed deviation of each stage exposure from its target.
    issuers, issuer_cap
        Issuer of each ticker (None: each ticker its own issuer) and the cap on an issuer's total.
    countries, country_caps
        Country of each ticker and caps (mapping country -> cap, others uncapped; or one float).
    min_weight
        Per-name floor (e.g. for held names); 0 by default.
    turnover_penalty
        λ >= 0 in the objective's units.
    regulatory
        A :class:`RegulatoryLimits` (e.g. :data:`RIC_25_50`, buffered values from the rulebook);
        solved exactly by branch and bound (see the module docstring).
    solver, fallback_solvers
        cvxpy solver names tried in order.

    Returns
    -------
    pandas.Series
        Weights indexed like ``anchor`` (same order), summing to 1, all >= 0.

    Raises
    ------
    InfeasibleError
        The constraints cannot all hold; the message names the constraint and the shortfall.
    SolverError
        Every solver failed on a problem that passed the pre-checks.

    Examples
    --------
    >>> import pandas as pd
    >>> u = pd.Series({"A": 0.7, "B": 0.2, "C": 0.1})
    >>> E = pd.DataFrame({"all": [1.0, 1.0, 1.0]}, index=u.index)
    >>> stage_balanced_weights(u, E, {"all": 1.0}, caps=0.5).round(6).tolist()
    [0.5, 0.333333, 0.166667]
    """
    opt = _one_off_optimizer(
        anchor, stage_exposure, issuers, countries, regulatory,
        turnover=previous is not None and turnover_penalty > 0, solver=solver,
        fallback_solvers=fallback_solvers)
    return opt.solve(anchor, stage_exposure, targets, caps, previous,
                     stage_tolerance=stage_tolerance, issuer_cap=issuer_cap,
                     country_caps=country_caps, min_weight=min_weight,
                     turnover_penalty=turnover_penalty).weights


def check_feasibility(
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
) -> None:
    """Cheap feasibility pre-checks (no solver); raise :class:`InfeasibleError` with advice.

    Detects: caps adding up to less than 100 %; an issuer, country or regulatory limit that makes
    100 % unreachable; minimum weights above 100 %, above a name's cap, or on a non-eligible name;
    a stage that cannot reach its target band (fractional-knapsack bound with each name's cap
    limited by its issuer and country caps). Passing does not prove feasibility: the solver may
    still report infeasible (combinations of constraints), which :func:`stage_balanced_weights`
    reports as InfeasibleError listing the active constraint groups.

    Parameters are those of :func:`stage_balanced_weights`.
    """
    st = _make_structure(list(anchor.index), _stages_of(stage_exposure), issuers, countries)
    inp = _prepare(st, anchor, stage_exposure, targets, caps, None,
                   stage_tolerance=stage_tolerance, issuer_cap=issuer_cap,
                   country_caps=country_caps, min_weight=min_weight, turnover_penalty=0.0)
    _precheck(st, inp, regulatory)


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
) -> list[str]:
    """List every constraint of :func:`stage_balanced_weights` that ``weights`` break by > atol.

    Returns
    -------
    list of str
        One line per violation; empty when every constraint holds. Names with anchor 0 must have
        weight 0 (their cap counts as 0). Under a regulatory rule an issuer counts as above the
        threshold only when its total exceeds ``large_threshold + atol``.
    """
    st = _make_structure(list(anchor.index), _stages_of(stage_exposure), issuers, countries)
    inp = _prepare(st, anchor, stage_exposure, targets, caps, None,
                   stage_tolerance=stage_tolerance, issuer_cap=issuer_cap,
                   country_caps=country_caps, min_weight=min_weight, turnover_penalty=0.0)
    w = _aligned(weights, st, "weights", 0.0)
    return _violations(w, st, inp, regulatory, atol)


# --------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------


def max_feasible_aum(
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    static_caps: pd.Series | float,
    liquidity_notional: pd.Series,
    *,
    stage_tolerance: float = 0.0,
    issuers: pd.Series | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    eligible: pd.Series | None = None,
    solver: str = "CLARABEL",
) -> float:
    """Largest fund size (USD) for which a portfolio meeting every constraint exists.

    With liquidity caps ``w_i ≤ liquidity_notional_i / AUM`` (``liquidity_notional_i`` =
    participation × ADTV_i × days, in USD) the problem is feasible for every AUM up to a threshold.
    It is found as one LP in ``w`` and ``t = 1/AUM``: minimise t subject to Σ w = 1,
    0 ≤ w ≤ static_caps (0 for non-eligible names), w_i ≤ liquidity_notional_i · t, the stage band
    and the issuer and country caps. AUM* = 1/t*. The regulatory rule is ignored (it does not
    depend on AUM; check it on the weights at the chosen AUM). The anchor does not matter.

    Parameters
    ----------
    stage_exposure
        Ticker x stage fractions; its index is the universe.
    targets, stage_tolerance, issuers, issuer_cap, countries, country_caps
        As in :func:`stage_balanced_weights`.
    static_caps
        Single-name caps (Series by ticker or one float).
    liquidity_notional
        USD each name can absorb; ``inf`` means no liquidity limit, 0 means it cannot be held.
    eligible
        Boolean Series by ticker (default: every name).
    solver
        LP solver: CLARABEL (default) is called directly; another cvxpy solver name goes through
        cvxpy. HiGHS (through cvxpy) is the fallback when it fails.

    Returns
    -------
    float
        AUM* in USD, ``inf`` when no liquidity constraint ever binds.

    Raises
    ------
    InfeasibleError
        The static constraints are infeasible at any AUM.
    """
    tickers = list(stage_exposure.index)
    if eligible is None:
        anchor = pd.Series(1.0, index=stage_exposure.index)
    else:
        el = pd.Series(eligible).reindex(stage_exposure.index).fillna(False).astype(bool)
        anchor = el.astype(float)
    st = _make_structure(tickers, _stages_of(stage_exposure), issuers, countries)
    inp = _prepare(st, anchor, stage_exposure, targets, static_caps, None,
                   stage_tolerance=stage_tolerance, issuer_cap=issuer_cap,
                   country_caps=country_caps, min_weight=None, turnover_penalty=0.0)
    _precheck(st, inp, None)
    liq = _aligned(_series(liquidity_notional, "liquidity_notional"), st, "liquidity_notional",
                   np.nan)
    if np.isnan(liq).any() or (liq < 0).any():
        raise InputError("liquidity_notional must be >= 0 for every ticker (inf = no limit)")
    finite = np.isfinite(liq)
    scale = float(liq[finite].max()) if finite.any() and liq[finite].max() > 0 else 1.0
    attempts = []
    if solver == "CLARABEL":
        m = len(st.issuer_names)
        qp = ReviewQP(inp.u, inp.upper, inp.lower, inp.E, inp.target, inp.tol, inp.prev, 0.0,
                      st.issuer_idx, np.zeros(m), inp.issuer_upper(st, None), st.country_idx,
                      inp.country_cap)
        t, status = min_inverse_aum(qp, liq / scale, clarabel_settings({}))
        status = _DIRECT_STATUS.get(status, status)
        if status == _INFEASIBLE:
            raise _capacity_infeasible(status)
        if status == _OPTIMAL:
            return math.inf if t <= 1e-12 else scale / t
        attempts.append(f"CLARABEL: {status}")
    return _capacity_cvxpy(st, inp, liq / scale, scale, solver, attempts)


def _capacity_infeasible(status: str) -> InfeasibleError:
    return InfeasibleError(
        f"no portfolio meets the static constraints at any fund size (solver status '{status}'); "
        "relax the caps, stage_tolerance or the country/issuer caps")


def _capacity_cvxpy(st: _Structure, inp: _Inputs, liq: np.ndarray, scale: float, solver: str,
                    attempts: list[str]) -> float:
    """The capacity LP through cvxpy (a solver other than CLARABEL, or HiGHS when Clarabel failed)."""
    import cvxpy as cp

    finite = np.isfinite(liq)
    n = st.n
    w = cp.Variable(n)
    t = cp.Variable(nonneg=True)
    upper = inp.upper if inp.issuer_cap is None else _fold_single_issuers(inp.upper, st,
                                                                          inp.issuer_cap)
    cons = [cp.sum(w) == 1, w >= 0, w <= upper,
            inp.E.T @ w <= inp.target + inp.tol, inp.E.T @ w >= inp.target - inp.tol]
    if finite.any():
        idx = np.flatnonzero(finite)
        cons.append(w[idx] <= liq[idx] * t)
    multi = np.flatnonzero(st.issuer_sizes > 1)
    if inp.issuer_cap is not None and len(multi):
        cons.append(_aggregation(st.issuer_idx, multi, n) @ w <= inp.issuer_cap)
    if st.country_idx is not None and np.isfinite(inp.country_cap).any():
        rows = np.flatnonzero(np.isfinite(inp.country_cap))
        cons.append(_aggregation(st.country_idx, rows, n) @ w <= inp.country_cap[rows])
    prob = cp.Problem(cp.Minimize(t), cons)
    for name in dict.fromkeys((solver, "HIGHS")):
        if name == "CLARABEL" and attempts:
            continue        # the direct path already failed with it
        try:
            _cvxpy_solve(prob, name)
        except (_SolverFailure, ValueError, ArithmeticError, RuntimeError) as exc:
            attempts.append(f"{name}: error {exc}")
            continue
        if prob.status == _OPTIMAL:
            tv = float(t.value)
            return math.inf if tv <= 1e-12 else scale / tv
        attempts.append(f"{name}: {prob.status}")
        if prob.status == _INFEASIBLE:
            raise _capacity_infeasible(prob.status)
    raise SolverError(f"capacity LP failed: {'; '.join(attempts)}")


def days_to_trade(
    weights: pd.Series, aum: float, adtv: pd.Series, participation: float
) -> pd.Series:
    """Days needed to trade each position: weight · AUM / (participation · ADTV).

    Parameters
    ----------
    weights
        Weights by ticker.
    aum
        Fund size in USD.
    adtv
        Average daily traded value in USD by ticker.
    participation
        Share of daily volume the fund may take (e.g. 0.2).

    Returns
    -------
    pandas.Series
        Days by ticker (indexed like ``weights``): 0 for zero weights, ``inf`` for a held name with
        no (or zero) ADTV.
    """
    participation = _number(participation, "participation")
    if not 0 < participation <= 1:
        raise InputError(f"participation must be a fraction of daily volume in (0, 1], got {participation}")
    aum = check_aum(aum)
    w, a = _series(weights, "weights"), _series(adtv, "adtv")
    if w is None or a is None:
        raise InputError("weights and adtv must be pandas Series (or mappings) by ticker, got None")
    try:
        w, a = w.astype(float), a.astype(float).reindex(w.index)
    except (TypeError, ValueError):
        raise InputError("weights and adtv must hold numbers") from None
    wv = w.to_numpy()
    if not (np.isfinite(wv).all() and (wv >= 0).all() and (wv <= 1 + 1e-6).all()):
        raise InputError("weights must be finite fractions between 0 and 1")
    with np.errstate(divide="ignore", invalid="ignore"):  # zero or missing ADTV: inf, set below
        days = (w * aum) / (participation * a)
    days = days.where(a > 0, np.inf).where(w != 0, 0.0)
    return days.rename("days_to_trade")
