"""The weighting QP as a cvxpy model, compiled once per universe (DPP) and re-valued per QP.

The fallback solvers (SCS, OSQP, ...) and ``direct_clarabel=False`` solve this model. It covers the
whole universe with every per-review number a ``cp.Parameter``; the coefficients ``1/u`` are a
non-negative parameter multiplying ``cp.square(w)``, which keeps the problem DPP (disciplined
parametrised programming): it is canonicalised once and every later solve only substitutes
parameter values. Ineligible names stay in it with zero-width bounds. cvxpy is imported only when
the model is first built, so the direct Clarabel path never loads it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.problem import Node, ReviewInputs, Structure

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = [
    "OPTIMAL",
    "OPTIMAL_INACCURATE",
    "INFEASIBLE",
    "INFEASIBLE_INACCURATE",
    "DIRECT_STATUS",
    "SOLVER_OPTIONS",
    "SolverFailure",
    "CvxpyModel",
    "cvxpy_solve",
    "aggregation",
    "fold_single_issuers",
]

# Solve statuses, spelt as cvxpy spells them; Clarabel's own names map onto them.
OPTIMAL, OPTIMAL_INACCURATE = "optimal", "optimal_inaccurate"
INFEASIBLE, INFEASIBLE_INACCURATE = "infeasible", "infeasible_inaccurate"
DIRECT_STATUS = {
    "Solved": OPTIMAL,
    "AlmostSolved": OPTIMAL_INACCURATE,
    "PrimalInfeasible": INFEASIBLE,
    "AlmostPrimalInfeasible": INFEASIBLE_INACCURATE,
}

#: Tolerances of each solver (read at every solve).
SOLVER_OPTIONS: dict[str, dict[str, object]] = {
    "CLARABEL": {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 2000},
    # polishing: on by default in cvxpy, which spells it for the installed OSQP ("polish" warns on 1.x)
    "OSQP": {"eps_abs": 1e-11, "eps_rel": 1e-11, "max_iter": 200_000},
    "SCS": {"eps_abs": 1e-10, "eps_rel": 1e-10, "max_iters": 200_000},
}


class SolverFailure(Exception):
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


def cvxpy_solve(problem: cp.Problem, solver: str, **options: object) -> None:
    """``problem.solve`` with cvxpy's SolverError as :class:`SolverFailure`."""
    import cvxpy as cp

    with warnings.catch_warnings(), _solver_stdout_to_log():
        # "Solution may be inaccurate": callers verify the answer
        warnings.simplefilter("ignore", UserWarning)
        try:
            problem.solve(solver=solver, **options)
        except cp.error.SolverError as exc:
            raise SolverFailure(str(exc)) from None


def fold_single_issuers(upper: np.ndarray, st: Structure, issuer_cap: float) -> np.ndarray:
    """Name bounds with the issuer cap folded in for issuers of a single listing (no row of their own)."""
    single = st.issuer_sizes[st.issuer_idx] == 1
    return np.where(single, np.minimum(upper, issuer_cap), upper)


def aggregation(idx: np.ndarray, rows: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 matrix with one row per group in ``rows`` summing that group's members."""
    row_of = {int(g): r for r, g in enumerate(rows)}
    members = [i for i in range(n) if int(idx[i]) in row_of]
    r = [row_of[int(idx[i])] for i in members]
    return sp.csr_matrix((np.ones(len(members)), (r, members)), shape=(len(rows), n))


class CvxpyModel:
    """The problem over the whole universe, every per-review number a parameter.

    Parameters
    ----------
    st
        The universe's structure.
    regulatory
        The regulatory rule, or None (then issuer rows exist only for multi-listing issuers).
    turnover
        Build the turnover-penalty term (n extra variables).
    limit_rows
        Number of linear-limit rows (:class:`~exchina_index.construction.optimizer.limits.LinearLimit`).
    """

    def __init__(self, st: Structure, regulatory: RegulatoryLimits | None, turnover: bool, limit_rows: int = 0) -> None:
        import cvxpy as cp

        self._st, self._regulatory, self._turnover = st, regulatory, turnover
        self.limit_rows = limit_rows
        n, k = st.n, len(st.stages)
        self._w = w = cp.Variable(n, name="w")
        self._p = p = {
            "inv_u": cp.Parameter(n, nonneg=True, name="inv_u"),
            "upper": cp.Parameter(n, nonneg=True, name="upper"),
            "lower": cp.Parameter(n, nonneg=True, name="lower"),
            "exposure": cp.Parameter((k, n), nonneg=True, name="exposure_t"),
            "basis": cp.Parameter(n, nonneg=True, name="stage_basis"),
            "target": cp.Parameter(k, name="target"),
            "tol": cp.Parameter(nonneg=True, name="tolerance"),
        }
        objective = cp.sum(cp.multiply(p["inv_u"], cp.square(w)))
        # z = Eᵀ(b∘w) and q = bᵀw as variables: the dense rows appear once, and the band
        # |z − t q| <= tol q is parameter x variable (DPP); without a basis b = 1 and q = 1
        z = cp.Variable(k, name="stage_exposure")
        q = cp.Variable(name="basis_total")
        constraints = [
            cp.sum(w) == 1,
            w <= p["upper"],
            w >= p["lower"],
            p["exposure"] @ w == z,
            p["basis"] @ w == q,
            z <= cp.multiply(p["target"] + p["tol"], q),
            z >= cp.multiply(p["target"] - p["tol"], q),
        ]
        if limit_rows:
            p["C"] = cp.Parameter((limit_rows, n), name="limits")
            p["c_lo"] = cp.Parameter(limit_rows, name="limits_lower")
            p["c_hi"] = cp.Parameter(limit_rows, name="limits_upper")
            constraints += [p["C"] @ w >= p["c_lo"], p["C"] @ w <= p["c_hi"]]
        # Issuer rows: all issuers under a regulatory rule, otherwise only multi-listing issuers
        # (a single-listing issuer's cap is folded into its name's upper bound).
        all_issuers = regulatory is not None
        self._iss_rows = np.arange(len(st.issuer_names)) if all_issuers else np.flatnonzero(st.issuer_sizes > 1)
        constraints += self._group_rows(w)
        if turnover:
            d = cp.Variable(n, name="trade")  # d >= |w - prev| (so d >= 0 needs no row)
            p["prev"] = cp.Parameter(n, nonneg=True, name="previous")
            p["lam"] = cp.Parameter(nonneg=True, name="turnover_penalty")
            constraints += [d >= w - p["prev"], d >= p["prev"] - w]
            objective = objective + p["lam"] * cp.sum(d)
        #: The cvxpy problem (DPP: ``problem.is_dpp()`` is True).
        self.problem = cp.Problem(cp.Minimize(objective), constraints)

    def _group_rows(self, w: cp.Variable) -> list[cp.Constraint]:
        """Issuer rows (with the regulatory large sum) and country rows."""
        import cvxpy as cp

        st, reg, p = self._st, self._regulatory, self._p
        constraints: list[cp.Constraint] = []
        if len(self._iss_rows):
            W = aggregation(st.issuer_idx, self._iss_rows, st.n) @ w
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
            C = aggregation(st.country_idx, np.arange(len(st.country_names)), st.n)
            p["country"] = cp.Parameter(len(st.country_names), nonneg=True, name="country_cap")
            constraints.append(C @ w <= p["country"])
        return constraints

    def _load(self, inp: ReviewInputs, node: Node) -> None:
        """Give the parameters this review's values and the node's issuer bounds."""
        p, st = self._p, self._st
        p["inv_u"].value = np.where(inp.u > 0, 1.0 / np.where(inp.u > 0, inp.u, 1.0), 0.0)
        upper = inp.upper
        if inp.issuer_cap is not None and self._regulatory is None:
            # single-listing issuers have no row of their own: their cap is a name cap
            upper = fold_single_issuers(upper, st, inp.issuer_cap)
        p["upper"].value = upper
        p["lower"].value = inp.lower
        basis = np.ones(st.n) if inp.basis is None else inp.basis
        p["exposure"].value = np.ascontiguousarray((inp.E * basis[:, None]).T)
        p["basis"].value = basis
        p["target"].value = inp.target
        p["tol"].value = inp.tol
        if "iss_upper" in p:
            p["iss_upper"].value = node.issuer_upper[self._iss_rows]
            if "iss_lower" in p:  # a regulatory rule: every node has its large set and hull
                assert node.large is not None and node.hull is not None
                p["iss_lower"].value = node.issuer_lower
                p["large"].value = node.large.astype(float)
                p["hull"].value = node.hull
        if "country" in p:
            # a cap of 1 never binds (weights sum to 1); keeps parameter values finite
            p["country"].value = np.minimum(inp.country_cap, 1.0)
        if self.limit_rows:
            # parameters must be finite: a missing bound becomes one that Σ w = 1, w >= 0 never reaches
            reach = np.abs(inp.C).sum(axis=1) + 1.0
            p["C"].value = inp.C
            p["c_lo"].value = np.maximum(inp.c_lo, -reach)
            p["c_hi"].value = np.minimum(inp.c_hi, reach)
        if self._turnover:
            p["prev"].value = inp.prev
            p["lam"].value = inp.lam

    def solve(self, solver: str, inp: ReviewInputs, node: Node) -> tuple[np.ndarray | None, str]:
        """Solve one QP with ``solver``: (weights or None, cvxpy status).

        Raises
        ------
        SolverFailure
            The solver raised.
        """
        self._load(inp, node)
        # no warm start: the answer must not depend on the previous review (reproducible bytes)
        cvxpy_solve(self.problem, solver, warm_start=False, **SOLVER_OPTIONS.get(solver, {}))
        w = self._w.value
        return (None if w is None else np.asarray(w, dtype=float)), str(self.problem.status)
