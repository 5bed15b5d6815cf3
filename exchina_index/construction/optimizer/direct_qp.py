"""One review's weighting QP handed straight to Clarabel, over the eligible names only.

The cvxpy model of the problem (:mod:`~exchina_index.construction.optimizer.cvxpy_model`), compiled
once per universe, has to carry every listing of the universe and pin the ineligible ones in
zero-width boxes ``0 <= w_i <= 0``; an interior-point method has no interior there and needs about
twice the iterations, and most of the problem is names that cannot be held (at N = 500 about 380 of
500). This module builds the same QP in Clarabel's standard form

    minimise ½ xᵀPx + qᵀx   subject to   Ax + s = b,  s ∈ {0}ᵐ¹ × ℝ₊ᵐ²

with variables only for what can move, and with the rows that cannot bind left out:

* ``w`` for the eligible names (ineligible weights are 0, their sale a constant of the objective);
* a trade variable ``d_i >= |w_i − p_i|`` only for eligible names held before (``p_i > 0``): for a
  new name ``|w_i − 0| = w_i`` because ``w_i >= 0``, so its turnover penalty is a linear cost;
* a slack ``s_j >= max(0, W_j − θ)`` for each issuer whose hull coefficient is positive (the convex
  relaxation of the regulatory rule's large sum, see
  :mod:`~exchina_index.construction.optimizer.branch_and_bound`);
* the bounds of an issuer or a country with one eligible listing become that listing's bounds;
  issuer and country caps at or above the sum of their members' caps, and name caps >= 1, are
  dropped;
* a stage band of width 0 becomes equality rows (an inequality pair with no interior slows an
  interior-point method the same way the pinned names did).

Everything fixed for a universe (issuer and country membership) arrives as index arrays from the
optimizer; per review only numbers change, so assembling the matrices is a handful of numpy
operations. The capacity LP of :func:`~exchina_index.construction.optimizer.capacity.max_feasible_aum`
shares the portfolio rows (:func:`min_inverse_aum`). The cvxpy model stays the reference: the tests
solve both on random problems and compare the optima.
"""

from __future__ import annotations

from dataclasses import dataclass

import clarabel
import numpy as np
import scipy.sparse as sp

__all__ = ["ReviewQP", "solve_direct", "min_inverse_aum", "min_stage_deviation", "clarabel_settings"]

_EMPTY = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True, eq=False)
class ReviewQP:
    """The numbers of one QP (or one branch-and-bound node), over the whole universe.

    Arrays run over the universe's names (``n``), issuers (``m``), stages (``k``) or countries, in
    the optimizer's canonical order. Names with ``u == 0`` are not eligible and get weight 0.

    Attributes
    ----------
    u
        Normalised anchor (sums to 1 over the eligible names).
    upper, lower
        Name bounds.
    exposure, target, tol
        ``(n, k)`` stage exposures, ``(k,)`` targets and the band half-width.
    prev, lam
        Previous weights and the turnover penalty λ.
    issuer_idx, issuer_lower, issuer_upper
        Issuer of each name and bounds on each issuer's total (``inf`` upper: none).
    country_idx, country_cap
        Country of each name (None: no countries) and caps per country (``inf``: none).
    large, hull, large_sum, threshold
        Regulatory node (None without a rule): issuers counted in the large sum, the hull
        coefficient of each free issuer (0: none), the large-sum limit and the threshold θ.
    basis
        Stage basis ``b`` (None: the stage shares are weights): the band is
        ``|Σ w b (E_k − t_k)| <= tol Σ w b`` (:mod:`~exchina_index.construction.optimizer.limits`).
    C, c_lo, c_hi
        Linear limits ``c_lo <= C w <= c_hi`` (None: none).
    """

    u: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    exposure: np.ndarray
    target: np.ndarray
    tol: float
    prev: np.ndarray
    lam: float
    issuer_idx: np.ndarray
    issuer_lower: np.ndarray
    issuer_upper: np.ndarray
    country_idx: np.ndarray | None
    country_cap: np.ndarray
    large: np.ndarray | None = None
    hull: np.ndarray | None = None
    large_sum: float = 1.0
    threshold: float = 1.0
    basis: np.ndarray | None = None
    C: np.ndarray | None = None
    c_lo: np.ndarray | None = None
    c_hi: np.ndarray | None = None


def clarabel_settings(options: dict[str, object]) -> clarabel.DefaultSettings:
    """Quiet Clarabel settings with ``options`` (e.g. tolerances) applied."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    for key, value in options.items():
        setattr(settings, key, value)
    return settings


class _Rows:
    """Rows of one cone (``A x = b`` or ``A x <= b``) collected as COO triplets, block by block."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.count = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, rhs: np.ndarray) -> None:
        if len(rhs):
            self.r.append(rows + self.count)
            self.c.append(cols)
            self.v.append(vals)
            self.b.append(rhs)
            self.count += len(rhs)

    def diagonal(self, cols: np.ndarray, sign: float, rhs: np.ndarray) -> None:
        """One row ``sign · x_col`` per column."""
        self.add(np.arange(len(cols)), cols, np.full(len(cols), sign), rhs)

    def groups(self, group: np.ndarray, rows: np.ndarray, sign: float, rhs: np.ndarray) -> None:
        """One row ``sign · Σ_{i: group_i = g} w_i`` per group ``g`` in ``rows``."""
        row, member = _membership(group, rows)
        self.add(row, member, np.full(len(member), sign), rhs)

    def dense(self, matrix: np.ndarray, rhs: np.ndarray) -> None:
        """Rows ``matrix @ w`` (``matrix`` is ``(rows, names)``)."""
        k, ne = matrix.shape
        self.add(np.repeat(np.arange(k), ne), np.tile(np.arange(ne), k), matrix.ravel(), rhs)


def _membership(group: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the names whose group is in ``rows``: the position of their group in ``rows``, and them."""
    pos = np.full(max(int(group.max(initial=-1)), int(rows.max(initial=-1))) + 1, -1, dtype=np.intp)
    pos[rows] = np.arange(len(rows))
    member = np.flatnonzero(pos[group] >= 0)
    return pos[group[member]], member


def _group_caps(group: np.ndarray, cap: np.ndarray, ub: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Groups with at least two members whose cap is below the sum of their members' caps."""
    reach = np.bincount(group, weights=ub, minlength=len(cap))
    return np.flatnonzero((members > 1) & (cap < np.minimum(reach, 1.0)))


def _portfolio_rows(qp: ReviewQP, el: np.ndarray, stages: bool = True) -> tuple[_Rows, _Rows]:
    """The rows every problem over the eligible names ``el`` has: the budget Σ w = 1, the stage
    band (unless ``stages`` is False), the linear limits, the name bounds (with the bounds of
    one-member issuers and countries folded in) and the issuer and country rows that can bind.
    Names are the first ``len(el)`` columns."""
    ne = len(el)
    iss = qp.issuer_idx[el]
    iss_members = np.bincount(iss, minlength=len(qp.issuer_upper))
    alone = iss_members[iss] == 1
    ub = np.minimum(qp.upper[el], np.where(alone, qp.issuer_upper[iss], np.inf))
    lb = np.maximum(qp.lower[el], np.where(alone, qp.issuer_lower[iss], 0.0))
    if qp.country_idx is not None:
        ctry = qp.country_idx[el]
        ctry_members = np.bincount(ctry, minlength=len(qp.country_cap))
        ub = np.minimum(ub, np.where(ctry_members[ctry] == 1, qp.country_cap[ctry], np.inf))
    names = np.arange(ne)
    eq, ineq = _Rows(), _Rows()
    eq.add(np.zeros(ne, dtype=np.intp), names, np.ones(ne), np.ones(1))
    if stages:
        _stage_rows(qp, el, eq, ineq)
    if qp.C is not None and len(qp.C):
        assert qp.c_lo is not None and qp.c_hi is not None
        C = qp.C[:, el]
        up, lo = np.flatnonzero(np.isfinite(qp.c_hi)), np.flatnonzero(np.isfinite(qp.c_lo))
        ineq.dense(C[up], qp.c_hi[up])
        ineq.dense(-C[lo], -qp.c_lo[lo])
    capped = np.flatnonzero(ub < 1)
    ineq.diagonal(capped, 1.0, ub[capped])
    ineq.diagonal(names, -1.0, -lb)
    rows = _group_caps(iss, qp.issuer_upper, ub, iss_members)
    ineq.groups(iss, rows, 1.0, qp.issuer_upper[rows])
    rows = np.flatnonzero((iss_members > 1) & (qp.issuer_lower > 0))
    ineq.groups(iss, rows, -1.0, -qp.issuer_lower[rows])
    if qp.country_idx is not None:
        rows = _group_caps(ctry, qp.country_cap, ub, ctry_members)
        ineq.groups(ctry, rows, 1.0, qp.country_cap[rows])
    return eq, ineq


def _stage_rows(qp: ReviewQP, el: np.ndarray, eq: _Rows, ineq: _Rows) -> None:
    """The stage band ``|share_k − t_k| <= tol`` (rows that cannot bind left out: a bound at or
    beyond 0 or 1); on a basis ``b`` the rows ``±Σ w b (E_k − t_k) − tol Σ w b <= 0``."""
    E = np.ascontiguousarray(qp.exposure[el].T)
    hi, lo = qp.target + qp.tol, qp.target - qp.tol
    up_rows, lo_rows = np.flatnonzero(hi < 1), np.flatnonzero(lo > 0)
    if qp.basis is None:
        if qp.tol == 0:
            eq.dense(E, qp.target)
        else:
            ineq.dense(E[up_rows], hi[up_rows])
            ineq.dense(-E[lo_rows], -lo[lo_rows])
        return
    b = qp.basis[el]
    M = (E - qp.target[:, None]) * b
    if qp.tol == 0:
        eq.dense(M, np.zeros(len(M)))
    else:
        ineq.dense(M[up_rows] - qp.tol * b, np.zeros(len(up_rows)))
        ineq.dense(-M[lo_rows] - qp.tol * b, np.zeros(len(lo_rows)))


def _homogenised(rows: _Rows, col: int) -> _Rows:
    """``A y − b ρ`` against 0 for the rows ``A w`` against ``b`` (ρ in column ``col``): the rows of
    ``w = y / ρ`` in Charnes-Cooper variables."""
    out = _Rows()
    if rows.count:
        out.add(
            np.concatenate(rows.r + [np.arange(rows.count)]),
            np.concatenate(rows.c + [np.full(rows.count, col)]),
            np.concatenate(rows.v + [-np.concatenate(rows.b)]),
            np.zeros(rows.count),
        )
    return out


def _clarabel_solve(
    P: sp.csc_matrix, q: np.ndarray, eq: _Rows, ineq: _Rows, settings: clarabel.DefaultSettings
) -> clarabel.DefaultSolution:
    n_eq, nx = eq.count, len(q)
    rows = np.concatenate(eq.r + [x + n_eq for x in ineq.r])
    cols = np.concatenate(eq.c + ineq.c)
    # CSC straight from the triplets (each (row, col) occurs once), row indices sorted within each
    # column: the matrix scipy's COO conversion gives, without its checks and duplicate summing
    order = np.lexsort((rows, cols))
    indptr = np.concatenate(([0], np.cumsum(np.bincount(cols, minlength=nx))))
    A = sp.csc_matrix((np.concatenate(eq.v + ineq.v)[order], rows[order], indptr), shape=(n_eq + ineq.count, nx))
    b = np.concatenate(eq.b + ineq.b)
    cones = [clarabel.ZeroConeT(n_eq), clarabel.NonnegativeConeT(ineq.count)]
    return clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()


def _solved(solution: clarabel.DefaultSolution) -> bool:
    return str(solution.status) in ("Solved", "AlmostSolved")


def solve_direct(qp: ReviewQP, settings: clarabel.DefaultSettings) -> tuple[np.ndarray | None, str]:
    """Assemble the QP over the eligible names (see the module docstring) and solve it.

    Returns
    -------
    (w, status)
        ``w`` over the whole universe (0 for ineligible names) when Clarabel reports ``Solved`` or
        ``AlmostSolved``, otherwise None; ``status`` is Clarabel's status name.
    """
    el = np.flatnonzero(qp.u > 0)
    ne = len(el)
    eq, ineq = _portfolio_rows(qp, el)
    iss = qp.issuer_idx[el]
    prev = qp.prev[el]
    held = np.flatnonzero(prev > 0) if qp.lam > 0 else _EMPTY
    hull = qp.hull if qp.hull is not None else np.zeros(len(qp.issuer_upper))
    slack_of = np.flatnonzero((hull > 0) & (np.bincount(iss, minlength=len(hull)) > 0))
    nd, nh = len(held), len(slack_of)
    d0, s0 = ne, ne + nd
    nx = ne + nd + nh
    names = np.arange(ne)
    if qp.large is not None:
        # W_j − s_j <= θ and s_j >= 0 for each hull issuer; Σ_large W + Σ hull_j s_j <= L
        slack_cols = s0 + np.arange(nh)
        row, member = _membership(iss, slack_of)
        ineq.add(
            np.concatenate([row, np.arange(nh)]),
            np.concatenate([member, slack_cols]),
            np.concatenate([np.ones(len(member)), np.full(nh, -1.0)]),
            np.full(nh, qp.threshold),
        )
        ineq.diagonal(slack_cols, -1.0, np.zeros(nh))
        in_large = np.flatnonzero(qp.large[iss])
        ineq.add(
            np.zeros(len(in_large) + nh, dtype=np.intp),
            np.concatenate([in_large, slack_cols]),
            np.concatenate([np.ones(len(in_large)), hull[slack_of]]),
            np.array([qp.large_sum]),
        )
    if nd:
        # d_i >= w_i − p_i and d_i >= p_i − w_i
        d_cols = d0 + np.arange(nd)
        for sign in (1.0, -1.0):
            ineq.add(
                np.tile(np.arange(nd), 2),
                np.concatenate([held, d_cols]),
                np.concatenate([np.full(nd, sign), np.full(nd, -1.0)]),
                sign * prev[held],
            )
    P = sp.csc_matrix((2.0 / qp.u[el], names, np.concatenate([names, np.full(nx - ne + 1, ne)])), shape=(nx, nx))
    q = np.zeros(nx)
    if qp.lam > 0:
        q[names] = np.where(prev > 0, 0.0, qp.lam)
        q[d0:s0] = qp.lam
    solution = _clarabel_solve(P, q, eq, ineq, settings)
    if not _solved(solution):
        return None, str(solution.status)
    w = np.zeros(len(qp.u))
    w[el] = np.asarray(solution.x)[:ne]
    return w, str(solution.status)


def min_inverse_aum(
    qp: ReviewQP, liquidity: np.ndarray, settings: clarabel.DefaultSettings
) -> tuple[float | None, str]:
    """The capacity LP: least ``t`` with ``w_i <= liquidity_i · t`` and the portfolio rows of ``qp``.

    ``t`` is 1/AUM in the units of ``liquidity`` (``inf``: no liquidity limit); the fund size at
    which the constraints can just hold is ``1/t``. Returns (t, Clarabel's status); t is None
    unless solved.
    """
    el = np.flatnonzero(qp.u > 0)
    ne = len(el)
    eq, ineq = _portfolio_rows(qp, el)
    liq = liquidity[el]
    limited = np.flatnonzero(np.isfinite(liq))
    # w_i − liquidity_i · t <= 0 and t >= 0
    ineq.add(
        np.tile(np.arange(len(limited)), 2),
        np.concatenate([limited, np.full(len(limited), ne)]),
        np.concatenate([np.ones(len(limited)), -liq[limited]]),
        np.zeros(len(limited)),
    )
    ineq.diagonal(np.array([ne]), -1.0, np.zeros(1))
    P = sp.csc_matrix((ne + 1, ne + 1))
    q = np.zeros(ne + 1)
    q[ne] = 1.0
    solution = _clarabel_solve(P, q, eq, ineq, settings)
    t = float(solution.x[ne]) if _solved(solution) else None
    return t, str(solution.status)


def min_stage_deviation(
    qp: ReviewQP, settings: clarabel.DefaultSettings
) -> tuple[float | None, np.ndarray | None, str]:
    """The least stage deviation ``max_k |share_k − t_k|`` the other rows of ``qp`` allow (an LP).

    On a basis ``b`` the shares are ratios, so the LP is written in Charnes-Cooper variables
    ``y = w / bᵀw`` and ``ρ = 1 / bᵀw``: every row ``a·w <= β`` becomes ``a·y − β ρ <= 0``,
    ``bᵀy = 1`` and the band is ``|Eᵀ(b∘y) − t| <= τ``, all linear; minimise τ. Without a basis
    ``ρ = 1`` and ``y = w``.

    Returns
    -------
    (tau, w, status)
        The least deviation and weights that reach it (over the whole universe) when solved, else
        ``(None, None, status)`` (``PrimalInfeasible``: the other rows cannot hold at all).
    """
    el = np.flatnonzero(qp.u > 0)
    ne = len(el)
    eq, ineq = _portfolio_rows(qp, el, stages=False)
    rho, tau = ne, ne + 1
    eq, ineq = _homogenised(eq, rho), _homogenised(ineq, rho)
    b = np.ones(ne) if qp.basis is None else qp.basis[el]
    eq.add(np.zeros(ne, dtype=np.intp), np.arange(ne), b, np.ones(1))  # bᵀy = 1
    shares = np.ascontiguousarray(qp.exposure[el].T) * b  # (k, ne): Eᵀ(b∘y)
    k, cols = len(shares), np.arange(ne)
    for sign in (1.0, -1.0):  # ±(shares y − t) − τ <= 0
        ineq.add(
            np.concatenate([np.repeat(np.arange(k), ne), np.arange(k)]),
            np.concatenate([np.tile(cols, k), np.full(k, tau)]),
            np.concatenate([sign * shares.ravel(), np.full(k, -1.0)]),
            sign * qp.target,
        )
    ineq.diagonal(np.array([rho, tau]), -1.0, np.zeros(2))
    q = np.zeros(ne + 2)
    q[tau] = 1.0
    solution = _clarabel_solve(sp.csc_matrix((ne + 2, ne + 2)), q, eq, ineq, settings)
    if not _solved(solution):
        return None, None, str(solution.status)
    x = np.asarray(solution.x)
    w = np.zeros(len(qp.u))
    w[el] = np.maximum(x[:ne], 0.0) / x[rho]
    return float(x[tau]), w, str(solution.status)
