"""The regulatory rule (RIC 25/50, UCITS 5/10/40) solved exactly by best-first branch and bound.

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
thousands of QPs, because no convex relaxation can tell such choices apart. ``max_nodes`` bounds
the search; past it a :class:`~exchina_index.errors.SolverError` is raised rather than an unproven
answer returned.
"""

from __future__ import annotations

import heapq

import numpy as np

from exchina_index._text import pct
from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.feasibility import infeasible_error
from exchina_index.construction.optimizer.problem import Node, ReviewInputs, Structure
from exchina_index.construction.optimizer.solver_chain import NodeInfeasible, Solution, SolverChain
from exchina_index.construction.optimizer.verify import ATOL, regulatory_violations
from exchina_index.errors import InfeasibleError, SolverError

__all__ = ["BNB_GAP", "solve_regulatory"]

#: Branch and bound prunes a node whose bound is within this of the incumbent.
BNB_GAP = 1e-9

# Status of an issuer at a node.
_FREE, _SMALL, _LARGE = 0, 1, 2

#: issuer -> (its chain of interchangeable issuers, its position in the chain)
_Chains = dict[int, tuple[np.ndarray, int]]


class _Search:
    """One review's search: the fixed numbers of every node, and the last infeasible attempts."""

    def __init__(self, chain: SolverChain, st: Structure, inp: ReviewInputs, reg: RegulatoryLimits) -> None:
        self.chain, self.st, self.inp, self.reg = chain, st, inp, reg
        self.issuer_upper = inp.issuer_upper(st, reg)
        #: most each issuer can hold, and its hull coefficient M/(M − θ) (0 when M <= θ)
        self.most = np.minimum(self.issuer_upper, st.issuer_sum(inp.upper))
        room = self.most - reg.large_threshold
        self.hull = np.where(room > 0, self.most / np.where(room > 0, room, 1.0), 0.0)
        self.last_attempts: list[tuple[str, str]] = []

    def node(self, status: np.ndarray, hull: bool = True) -> Node:
        """The QP of ``status`` (per issuer: free, small or large), with or without the hull cut on
        its free issuers."""
        thr = self.reg.large_threshold
        return Node(
            issuer_lower=np.where(status == _LARGE, thr, 0.0),
            issuer_upper=np.where(status == _SMALL, np.minimum(self.issuer_upper, thr), self.issuer_upper),
            large=status == _LARGE,
            hull=np.where(status == _FREE, self.hull, 0.0) if hull else np.zeros(len(status)),
        )

    def solve(self, status: np.ndarray, hull: bool = True) -> Solution | None:
        """The node's verified optimum, or None when it is infeasible."""
        try:
            return self.chain.solve(self.inp, self.node(status, hull))
        except NodeInfeasible as exc:
            self.last_attempts = exc.attempts
            return None

    def complies(self, w: np.ndarray) -> bool:
        return not regulatory_violations(self.st.issuer_sum(w), self.st.issuer_names, self.reg, ATOL)

    def branch_issuer(self, w: np.ndarray, status: np.ndarray) -> int:
        """Free issuer above the threshold whose large-sum contribution is most under-estimated."""
        thr = self.reg.large_threshold
        W = self.st.issuer_sum(w)
        gap = W - self.hull * np.maximum(W - thr, 0.0)
        cand = (status == _FREE) & (W > thr + ATOL)
        return int(np.flatnonzero(cand)[np.argmax(gap[cand])])

    def infeasible(self, extra: str = "") -> InfeasibleError:
        """The error naming the last infeasible node's solver statuses."""
        attempts = self.last_attempts or [(self.chain.solvers[0], "infeasible")]
        return infeasible_error(self.st, self.inp, self.reg, attempts, extra=extra)


def _interchangeable(st: Structure, inp: ReviewInputs) -> _Chains:
    """Chains of interchangeable issuers, for symmetry breaking.

    Two single-listing issuers whose names have identical cap, floor, exposures, country and
    previous weight differ only in their anchor. Swapping their weights keeps every constraint
    and does not increase Σ w²/u when the larger weight sits on the larger anchor, so some
    optimum has W_a >= W_b whenever u_a >= u_b: if b is above the threshold, so is a. Each
    chain lists such issuers by decreasing anchor (ties by name); the branch and bound only
    explores large sets closed under "b large ⇒ every earlier issuer of its chain large".
    """
    single = np.flatnonzero((st.issuer_sizes[st.issuer_idx] == 1) & (inp.u > 0))
    ctry = st.country_idx if st.country_idx is not None else np.zeros(st.n, dtype=np.intp)
    groups: dict[tuple, list[int]] = {}
    for i in single:
        key = (inp.upper[i], inp.lower[i], ctry[i], inp.prev[i], *inp.E[i])
        groups.setdefault(key, []).append(int(i))
    chains: _Chains = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda i: (-inp.u[i], i))
        chain = st.issuer_idx[np.array(members)]
        for pos, j in enumerate(chain):
            chains[int(j)] = (chain, pos)
    return chains


def _fix(status: np.ndarray, j: int, fix: int, chains: _Chains) -> np.ndarray:
    """Child status with issuer j fixed small or large, propagated along its chain."""
    child = status.copy()
    child[j] = fix
    if j in chains:
        chain, pos = chains[j]
        if fix == _SMALL:
            child[chain[pos + 1 :]] = _SMALL  # issuers with smaller anchors stay small too
        else:
            child[chain[:pos]] = _LARGE  # issuers with larger anchors are large too
    return child


def solve_regulatory(
    chain: SolverChain, st: Structure, inp: ReviewInputs, reg: RegulatoryLimits, max_nodes: int
) -> tuple[Solution, int]:
    """The optimum of the review's QP under the regulatory rule, and the number of QPs solved.

    Raises
    ------
    InfeasibleError
        No choice of large issuers is feasible.
    SolverError
        The search needed more than ``max_nodes`` QPs, or the solvers failed on a node.
    """
    search = _Search(chain, st, inp, reg)
    thr = reg.large_threshold
    floors = st.issuer_sum(inp.lower)
    root_status = np.where(search.most <= thr, _SMALL, np.where(floors > thr, _LARGE, _FREE)).astype(np.int8)
    # the plain convex problem first: when its answer complies, it is the optimum
    root = search.solve(root_status, hull=False)
    if root is None:
        raise search.infeasible()
    if search.complies(root.w):
        return root, 1
    root = search.solve(root_status)
    nodes = 2
    if root is None:
        raise search.infeasible(f" under the {reg.name} rule")
    if search.complies(root.w):
        return root, nodes
    chains = _interchangeable(st, inp)
    best: Solution | None = None
    counter = 0
    heap: list[tuple[float, int, np.ndarray, Solution]] = [(root.value, 0, root_status, root)]
    while heap:
        bound, _, status, sol = heapq.heappop(heap)
        if best is not None and bound >= best.value - BNB_GAP:
            break
        j = search.branch_issuer(sol.w, status)
        for fix in (_SMALL, _LARGE):
            child = _fix(status, j, fix, chains)
            nodes += 1
            if nodes > max_nodes:
                gap = (
                    "none found yet"
                    if best is None
                    else f"best found {best.value - 1:.6g}, lower bound {bound - 1:.6g}"
                )
                raise SolverError(
                    f"the {reg.name} rule: the exact search for which issuers may exceed {pct(thr, 1)} needed more "
                    f"than max_nodes={max_nodes} QPs ({gap}); many near-identical issuers make this choice "
                    "combinatorial. Raise max_nodes, or differentiate the anchors (e.g. cap-weighted)"
                )
            res = search.solve(child)
            if res is None or (best is not None and res.value >= best.value - BNB_GAP):
                continue
            if search.complies(res.w):
                best = res
            else:
                counter += 1
                heapq.heappush(heap, (res.value, counter, child, res))
    if best is None:
        raise search.infeasible(f" under the {reg.name} rule (every choice of large issuers was infeasible)")
    return best, nodes
