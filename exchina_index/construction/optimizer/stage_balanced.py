"""Stage-balanced index weights: one convex QP, set up once per universe, re-solved per review.

The problem
-----------
Given uncapped anchor weights ``u`` (normalised to sum 1 over the names with ``u > 0``), stage
exposures ``E`` (ticker x stage, rows sum to 1) and stage targets ``t``, find weights ``w`` that

    minimise    Σ_i (w_i − u_i)² / u_i  +  λ Σ_i |w_i − p_i|
    subject to  Σ w = 1,  lower ≤ w ≤ caps,  w_i = 0 where u_i = 0,
                |Σ_i w_i b_i (E_is − t_s)| ≤ tolerance Σ_i w_i b_i  (stage balance, per stage s)
                lower_j ≤ Σ_i c_ji w_i ≤ upper_j               (linear limits, e.g. purity)
                Σ_{i ∈ issuer j} w_i ≤ issuer_cap              (share classes and ADRs together)
                Σ_{i ∈ country c} w_i ≤ country_cap_c
                regulatory rule on issuer totals (RIC 25/50, UCITS 5/10/40, or buffered versions)

With no stage basis (``b = 1``) the band is |Eᵀw − t| ≤ tolerance, the stage shares of the weights;
with a basis ``b`` (purity) the shares are those of the ``b``-weighted holdings
(:mod:`~.limits`). The least tolerance the other rows allow is one LP
(:meth:`StageBalancedOptimizer.min_stage_deviation`).

The first term is the capped-index objective ("stay close to the uncapped index"): with only a
single-name cap it reproduces the classic iterative capping with proportional redistribution.
Because Σ w = Σ u = 1, Σ (w − u)²/u = Σ w²/u − 1, so the solver minimises Σ (1/u_i) w_i², a
diagonal QP. :attr:`OptimizationResult.objective` reports Σ (w − u)²/u + λ Σ|w − p|.

A solve, step by step
---------------------
1. :func:`~.problem.prepare_inputs` validates the review's numbers and lays them out in the
   universe's canonical (sorted) order, so the result does not depend on the order of the inputs;
2. :func:`~.feasibility.precheck` raises :class:`InfeasibleError` for what is visible without a
   solver;
3. :class:`~.solver_chain.SolverChain` solves the QP (Clarabel directly, or the cvxpy model for
   fallback solvers); under a regulatory rule :func:`~.branch_and_bound.solve_regulatory` solves
   it exactly by branch and bound;
4. the clean-up (tiny negatives to 0, exact 0 for ``u = 0``, renormalise to sum 1) is verified
   again (:func:`~.verify.violations`: an answer violating any constraint by more than 1e-8 is a
   solver failure) and :func:`~.result.build_result` writes the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.branch_and_bound import solve_regulatory
from exchina_index.construction.optimizer.capacity import structure_capacity
from exchina_index.construction.optimizer.direct_qp import clarabel_settings, min_stage_deviation
from exchina_index.construction.optimizer.feasibility import infeasible_error, precheck
from exchina_index.construction.optimizer.limits import LinearLimit, stage_shares
from exchina_index.construction.optimizer.memo import Memo, remembered
from exchina_index.construction.optimizer.problem import (
    Node,
    ReviewInputs,
    Structure,
    as_number,
    make_structure,
    prepare_inputs,
    static_inputs,
)
from exchina_index.construction.optimizer.result import OptimizationResult, build_result
from exchina_index.construction.optimizer.solver_chain import NodeInfeasible, Solution, SolverChain
from exchina_index.construction.optimizer.verify import violations
from exchina_index.errors import InputError, SolverError
from exchina_index.rules.methodology import solver_problem

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = ["StageBalancedOptimizer"]

#: Clarabel's default settings, quiet, for the least-stage-deviation LP.
_LP_SETTINGS = clarabel_settings({})


def _clean_up(sol: Solution, st: Structure, inp: ReviewInputs, reg: RegulatoryLimits | None) -> np.ndarray:
    """The solver's weights without solver noise, verified again."""
    # clip into [0, cap] (exact zeros below 1e-12), then restore the sum by spreading any
    # shortfall over the room left under the caps (never pushing a name past it)
    w = np.where(inp.u > 0, np.clip(sol.w, 0.0, inp.upper), 0.0)
    w[w < 1e-12] = 0.0
    shortfall = 1.0 - w.sum()
    room = np.where(w > 0, inp.upper - w, 0.0)
    if shortfall > 0 and room.sum() > shortfall:
        w = w + shortfall * room / room.sum()
    else:
        w = w / w.sum()
    viol = violations(w, st, inp, reg)
    if viol:
        raise SolverError(
            f"{sol.solver} returned weights that break a constraint after clean-up: {'; '.join(viol[:3])}"
        )
    return w


def _check_solvers(solver: str, fallback_solvers: Sequence[str]) -> None:
    if isinstance(fallback_solvers, str) or not isinstance(fallback_solvers, Sequence):
        raise InputError(f"fallback_solvers must be a sequence of solver names, got {fallback_solvers!r}")
    for what, name in (("solver", solver), *(("fallback solver", n) for n in fallback_solvers)):
        problem = solver_problem(name)
        if problem is not None:  # a misspelt name must not fall back silently
            raise InputError(f"{what}: {problem}")


class StageBalancedOptimizer:
    """A stage-balanced weighting problem set up once for a fixed universe.

    The universe (ordered tickers), the stages, the issuer and country membership and the regulatory
    mode are fixed; everything that changes between reviews - anchors, exposures, targets, caps,
    floors, tolerance, issuer and country caps, previous weights and the turnover penalty - is given
    to :meth:`solve`. With CLARABEL the review's QP goes to Clarabel directly, over the eligible
    names; other solvers get the cvxpy model, built and canonicalised once (DPP) on first use, whose
    parameters each solve only re-values (see :mod:`~.solver_chain`). A name that is not eligible at
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
        RIC / UCITS style rule, or None; solved exactly by branch and bound
        (:mod:`~.branch_and_bound`).
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
        _check_solvers(solver, fallback_solvers)
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1:
            raise InputError(f"max_nodes must be a whole number >= 1, got {max_nodes!r}")
        self._st = make_structure(tickers, stages, issuers, countries)
        self._chain = SolverChain(
            self._st, regulatory, bool(turnover), (str(solver), *map(str, fallback_solvers)), bool(direct_clarabel)
        )
        self.max_nodes = int(max_nodes)
        self._unregulated: StageBalancedOptimizer | None = None

    def unregulated(self) -> StageBalancedOptimizer:
        """This optimizer without its regulatory rule: the same universe, solvers and settings (for a
        review whose issuers cannot meet the rule at all; the ladder's last resort). Built once."""
        if self.regulatory is None:
            return self
        if self._unregulated is None:
            other = object.__new__(StageBalancedOptimizer)  # not a copy: nothing set on this instance
            other._st, other.max_nodes, other._unregulated = self._st, self.max_nodes, None
            other._chain = SolverChain(self._st, None, self.turnover, self._chain.solvers, self.direct_clarabel)
            self._unregulated = other
        return self._unregulated

    @property
    def regulatory(self) -> RegulatoryLimits | None:
        """The regulatory rule, or None."""
        return self._chain.regulatory

    @property
    def turnover(self) -> bool:
        """Whether the problem has the turnover-penalty term."""
        return self._chain.turnover

    @property
    def solver(self) -> str:
        """The primary solver."""
        return self._chain.solvers[0]

    @property
    def fallback_solvers(self) -> tuple[str, ...]:
        """The solvers tried, in order, when the primary one fails."""
        return self._chain.solvers[1:]

    @property
    def direct_clarabel(self) -> bool:
        """Whether CLARABEL's QPs go to Clarabel directly (not through the cvxpy model)."""
        return self._chain.direct_clarabel

    @property
    def problem(self) -> cp.Problem:
        """The cvxpy model of the problem (DPP: ``problem.is_dpp()`` is True), built on first use,
        without linear-limit rows (a solve with limits builds its own model with them)."""
        return self._chain.model.problem

    @property
    def tickers(self) -> tuple[object, ...]:
        """The universe in the order results are reported."""
        return self._st.user_tickers

    def solve(
        self,
        anchor: pd.Series,
        stage_exposure: pd.DataFrame,
        targets: Mapping[str, float] | pd.Series,
        caps: pd.Series | np.ndarray | float,
        previous: pd.Series | None = None,
        *,
        stage_tolerance: float = 0.0,
        issuer_cap: float | None = None,
        country_caps: Mapping[str, float] | float | None = None,
        min_weight: pd.Series | np.ndarray | None = None,
        turnover_penalty: float = 0.0,
        stage_basis: pd.Series | None = None,
        limits: Sequence[LinearLimit] = (),
        memo: Memo | None = None,
    ) -> OptimizationResult:
        """Set the parameters for one review and solve.

        Parameters are those of :func:`stage_balanced_weights`; tickers missing from ``anchor``
        get anchor 0 (not eligible). ``memo``: one review's :class:`~.memo.Memo`, shared by the
        solves and LPs of that review (its inputs laid out once).

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
        return self.solve_deferred(
            anchor,
            stage_exposure,
            targets,
            caps,
            previous,
            stage_tolerance=stage_tolerance,
            issuer_cap=issuer_cap,
            country_caps=country_caps,
            min_weight=min_weight,
            turnover_penalty=turnover_penalty,
            stage_basis=stage_basis,
            limits=limits,
            memo=memo,
        )()

    def solve_deferred(
        self,
        anchor: pd.Series,
        stage_exposure: pd.DataFrame,
        targets: Mapping[str, float] | pd.Series,
        caps: pd.Series | np.ndarray | float,
        previous: pd.Series | None = None,
        *,
        stage_tolerance: float = 0.0,
        issuer_cap: float | None = None,
        country_caps: Mapping[str, float] | float | None = None,
        min_weight: pd.Series | np.ndarray | None = None,
        turnover_penalty: float = 0.0,
        stage_basis: pd.Series | None = None,
        limits: Sequence[LinearLimit] = (),
        memo: Memo | None = None,
    ) -> Callable[[], OptimizationResult]:
        """:meth:`solve` without the report: the QP solved and its answer verified (raising as
        :meth:`solve` does), the :class:`OptimizationResult` built when the returned function is
        called, for a caller that keeps few of its answers (the ladder's bisection on the
        liquidity notional keeps its last)."""
        turnover_penalty = as_number(turnover_penalty, "turnover_penalty")
        if turnover_penalty > 0 and not self.turnover:
            raise InputError("turnover_penalty > 0 but the optimizer was built with turnover=False")
        st, reg = self._st, self.regulatory
        inp = prepare_inputs(
            st,
            anchor,
            stage_exposure,
            targets,
            caps,
            previous,
            stage_tolerance=stage_tolerance,
            issuer_cap=issuer_cap,
            country_caps=country_caps,
            min_weight=min_weight,
            turnover_penalty=turnover_penalty,
            stage_basis=stage_basis,
            limits=limits,
            memo=memo,
        )
        precheck(st, inp, reg)
        start = time.perf_counter()
        if reg is None:
            sol, nodes = self._solve_convex(inp), 1
        else:
            sol, nodes = solve_regulatory(self._chain, st, inp, reg, self.max_nodes)
        elapsed = time.perf_counter() - start
        w = _clean_up(sol, st, inp, reg)
        return lambda: build_result(w, sol, st, inp, reg, elapsed, nodes)

    def max_feasible_aum(
        self,
        stage_exposure: pd.DataFrame,
        targets: Mapping[str, float] | pd.Series,
        static_caps: pd.Series | np.ndarray | float,
        liquidity_notional: pd.Series,
        *,
        stage_tolerance: float = 0.0,
        issuer_cap: float | None = None,
        country_caps: Mapping[str, float] | float | None = None,
        eligible: pd.Series | None = None,
        solver: str = "CLARABEL",
        stage_basis: pd.Series | None = None,
        limits: Sequence[LinearLimit] = (),
        memo: Memo | None = None,
    ) -> float:
        """:func:`~.capacity.max_feasible_aum` on this optimizer's universe, issuers and countries.

        The same LP and answer, without laying the universe out again (the review ladder calls it
        at every review; ``memo`` as for :meth:`solve`).
        """
        return structure_capacity(
            self._st,
            stage_exposure,
            targets,
            static_caps,
            liquidity_notional,
            stage_tolerance=stage_tolerance,
            issuer_cap=issuer_cap,
            country_caps=country_caps,
            eligible=eligible,
            solver=solver,
            stage_basis=stage_basis,
            limits=limits,
            memo=memo,
        )

    def min_stage_deviation(
        self,
        stage_exposure: pd.DataFrame,
        targets: Mapping[str, float] | pd.Series,
        caps: pd.Series | np.ndarray | float,
        *,
        eligible: pd.Series,
        issuer_cap: float | None = None,
        country_caps: Mapping[str, float] | float | None = None,
        stage_basis: pd.Series | None = None,
        limits: Sequence[LinearLimit] = (),
        min_weight: pd.Series | np.ndarray | None = None,
        return_shares: bool = False,
        memo: Memo | None = None,
    ) -> float | tuple[float, pd.Series]:
        """The least stage deviation ``max_k |share_k − target_k|`` that the caps, the issuer and
        country caps and the limits allow (an LP, :func:`~.direct_qp.min_stage_deviation`; the
        regulatory rule, not convex, is left out). With ``return_shares``, also the stage shares of
        a portfolio that reaches it (by stage, in the order given): the stage that sits at the
        deviation is the one the caps hold back.

        Raises
        ------
        InfeasibleError
            The constraints other than the stage band cannot hold (the message names why when the
            pre-checks can tell).
        SolverError
            Clarabel failed on the LP.
        """
        st = self._st
        inp = static_inputs(
            st,
            remembered(
                memo, (eligible,), "anchor", lambda: pd.Series(eligible.to_numpy(dtype=float), index=eligible.index)
            ),
            stage_exposure,
            targets,
            caps,
            stage_tolerance=1.0,
            issuer_cap=issuer_cap,
            country_caps=country_caps,
            min_weight=min_weight,
            stage_basis=stage_basis,
            limits=limits,
            memo=memo,
        )
        precheck(st, inp, None)
        qp = self._chain.direct_qp(inp, Node(np.zeros(len(st.issuer_names)), inp.issuer_upper(st, None)))
        tau, w, status = min_stage_deviation(qp, _LP_SETTINGS)
        if tau is None or w is None:
            if "Infeasible" in status:
                raise infeasible_error(st, inp, None, [("CLARABEL", status)], " even with no stage band")
            raise SolverError(f"the least-stage-deviation LP failed (Clarabel status '{status}')")
        if not return_shares:
            return max(tau, 0.0)
        col = [st.stages.index(stage) for stage in st.user_stages]  # in the order given
        return max(tau, 0.0), pd.Series(stage_shares(inp.E, inp.basis, w)[col], index=st.user_stages)

    def _solve_convex(self, inp: ReviewInputs) -> Solution:
        """The review's QP without a regulatory rule: one solve with the issuer caps as bounds."""
        node = Node(np.zeros(len(self._st.issuer_names)), inp.issuer_upper(self._st, None))
        try:
            return self._chain.solve(inp, node)
        except NodeInfeasible as exc:
            raise infeasible_error(self._st, inp, None, exc.attempts) from None
