"""One QP through the optimizer's solvers in order, every answer verified before it is accepted.

Two ways to solve the same QP:

* **Direct (default for CLARABEL).** The QP is assembled over the eligible names only and handed to
  Clarabel in its standard form (:mod:`~exchina_index.construction.optimizer.direct_qp`), first
  without iterative refinement (a quarter faster on review problems), then with Clarabel's default
  refinement if that answer is not solved and verified. A few milliseconds per review at N = 500.
* **cvxpy model** (fallback solvers such as SCS, or ``direct_clarabel=False``):
  :class:`~exchina_index.construction.optimizer.cvxpy_model.CvxpyModel`, built on first use.

Both describe the same problem; the tests solve random instances both ways and compare the optima.
An answer that breaks a constraint by more than :data:`~.verify.ATOL` counts as a failure and the
next solver is tried.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import clarabel
import numpy as np

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.cvxpy_model import (
    DIRECT_STATUS,
    INFEASIBLE,
    OPTIMAL,
    OPTIMAL_INACCURATE,
    SOLVER_OPTIONS,
    CvxpyModel,
    SolverFailure,
)
from exchina_index.construction.optimizer.direct_qp import ReviewQP, clarabel_settings, solve_direct
from exchina_index.construction.optimizer.problem import Node, ReviewInputs, Structure
from exchina_index.construction.optimizer.verify import violations
from exchina_index.errors import SolverError

__all__ = ["Solution", "NodeInfeasible", "SolverChain"]


@dataclass(frozen=True, eq=False)
class Solution:
    """A verified answer to one QP."""

    w: np.ndarray
    value: float  # solver-form objective Σ w²/u + λ Σ|w − p|
    status: str
    solver: str
    fallback_used: bool


class NodeInfeasible(Exception):
    """The solvers proved the QP infeasible; ``attempts`` lists (solver, status) tried."""

    def __init__(self, attempts: list[tuple[str, str]]) -> None:
        super().__init__("infeasible")
        self.attempts = attempts


def _solver_objective(w: np.ndarray, inp: ReviewInputs) -> float:
    el = inp.u > 0
    return float(np.sum(w[el] ** 2 / inp.u[el]) + inp.lam * np.abs(w - inp.prev).sum())


class SolverChain:
    """The solvers of one optimizer (primary, then fallbacks), tried in order on one QP.

    Parameters
    ----------
    st, regulatory, turnover
        The universe's structure, its regulatory rule and whether the cvxpy model needs the
        turnover term.
    solvers
        Solver names in the order tried (already validated).
    direct_clarabel
        Hand CLARABEL's QPs to Clarabel directly rather than through the cvxpy model.
    """

    def __init__(
        self,
        st: Structure,
        regulatory: RegulatoryLimits | None,
        turnover: bool,
        solvers: tuple[str, ...],
        direct_clarabel: bool,
    ) -> None:
        self._st, self.regulatory, self.turnover = st, regulatory, turnover
        self.solvers, self.direct_clarabel = solvers, direct_clarabel
        careful = SOLVER_OPTIONS["CLARABEL"]
        #: Direct Clarabel settings: without iterative refinement first, then with it.
        self.direct_settings = (
            clarabel_settings({**careful, "iterative_refinement_enable": False}),
            clarabel_settings(careful),
        )
        self._model: CvxpyModel | None = None

    @property
    def model(self) -> CvxpyModel:
        """The cvxpy model, built on first use."""
        if self._model is None:
            self._model = CvxpyModel(self._st, self.regulatory, self.turnover)
        return self._model

    def model_for(self, inp: ReviewInputs) -> CvxpyModel:
        """The cvxpy model with as many linear-limit rows as ``inp`` has (rebuilt when that changes)."""
        if self._model is None or self._model.limit_rows != len(inp.C):
            self._model = CvxpyModel(self._st, self.regulatory, self.turnover, len(inp.C))
        return self._model

    def _runs(self) -> Iterator[tuple[int, str, clarabel.DefaultSettings | None]]:
        """(position in the solver chain, solver, direct Clarabel settings or None for cvxpy)."""
        for i, name in enumerate(self.solvers):
            if name == "CLARABEL" and self.direct_clarabel:
                for settings in self.direct_settings:
                    yield i, name, settings
            else:
                yield i, name, None

    def direct_qp(self, inp: ReviewInputs, node: Node) -> ReviewQP:
        """The QP as plain arrays for :func:`~exchina_index.construction.optimizer.direct_qp.solve_direct`."""
        st, reg = self._st, self.regulatory
        return ReviewQP(
            inp.u,
            inp.upper,
            inp.lower,
            inp.E,
            inp.target,
            inp.tol,
            inp.prev,
            inp.lam,
            st.issuer_idx,
            node.issuer_lower,
            node.issuer_upper,
            st.country_idx,
            inp.country_cap,
            large=node.large,
            hull=node.hull,
            large_sum=1.0 if reg is None else reg.large_sum,
            threshold=1.0 if reg is None else reg.large_threshold,
            basis=inp.basis,
            C=inp.C,
            c_lo=inp.c_lo,
            c_hi=inp.c_hi,
        )

    def _attempt(
        self, name: str, settings: clarabel.DefaultSettings | None, inp: ReviewInputs, node: Node
    ) -> tuple[np.ndarray | None, str]:
        """Solve once: (weights or None, cvxpy-style status)."""
        if settings is None:
            return self.model_for(inp).solve(name, inp, node)
        w, status = solve_direct(self.direct_qp(inp, node), settings)
        return w, DIRECT_STATUS.get(status, status)

    def solve(self, inp: ReviewInputs, node: Node) -> Solution:
        """Solve the QP of ``inp`` with the issuer bounds of ``node``.

        Raises
        ------
        NodeInfeasible
            A solver proved the QP infeasible (or every solver reported it infeasible).
        SolverError
            Every solver failed or returned an answer that breaks a constraint.
        """
        # a branch-and-bound node's answer must also respect the node's issuer bounds
        bounds = None if node.large is None else (node.issuer_lower, node.issuer_upper)
        attempts: list[tuple[str, str]] = []
        for i, name, settings in self._runs():
            try:
                w, status = self._attempt(name, settings, inp, node)
            except (SolverFailure, ValueError, ArithmeticError, RuntimeError) as exc:
                attempts.append((name, f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}"))
                continue
            if status == INFEASIBLE:
                attempts.append((name, status))
                raise NodeInfeasible(attempts)
            if status not in (OPTIMAL, OPTIMAL_INACCURATE) or w is None:
                attempts.append((name, status))
                continue
            viol = violations(w, self._st, inp, None, issuer_bounds=bounds)
            if viol:
                attempts.append((name, f"{status} but {viol[0]}"))
                continue
            return Solution(w, _solver_objective(w, inp), status, name, i > 0)
        if attempts and all(s.startswith("infeasible") for _, s in attempts):
            raise NodeInfeasible(attempts)
        tried = "; ".join(f"{n}: {s}" for n, s in attempts)
        raise SolverError(
            f"every solver failed ({tried}); try other fallback_solvers or relax the constraints slightly"
        )
