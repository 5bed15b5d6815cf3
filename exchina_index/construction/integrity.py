"""Thematic integrity: how a review's purities become optimizer rules, and the figures that show them.

The rulebook's ``[purity]`` and ``[stages] basis`` keys (rulebook 2.0) turn into

* two :class:`~exchina_index.construction.optimizer.LinearLimit` rows: the weighted purity
  ``Σ w·purity >= purity.min_weighted`` (``purity:weighted``) and the weight of names below
  ``purity.low_threshold`` at most ``purity.low_max_weight`` (``purity:low_weight``);
* the stage basis: with ``stages.basis = "exposure"`` the stage shares are the index's rare-earth
  exposure, ``Σ w·purity·stage / Σ w·purity``; with ``"weight"`` they are ``Σ w·stage``.

All are linear in the weights, so the review stays one convex QP. The purity in force at the
review's cut-off is used (the universe's dated reference history).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from exchina_index.construction.optimizer import LinearLimit
from exchina_index.construction.optimizer.limits import stage_shares
from exchina_index.rules.methodology import STAGES, Methodology

__all__ = ["purity_limits", "reachable_purity_limits", "stage_basis", "stage_table", "integrity_figures"]


def purity_limits(m: Methodology, purity: pd.Series) -> tuple[LinearLimit, ...]:
    """The purity rows of the rulebook (a limit that cannot bind, floor 0 or cap 1, is left out)."""
    return _limits(purity, m.purity.min_weighted, m.purity.low_threshold, m.purity.low_max_weight)


def _limits(purity: pd.Series, min_weighted: float, low_threshold: float, low_max: float) -> tuple[LinearLimit, ...]:
    limits = []
    if min_weighted > 0:
        limits.append(LinearLimit("purity:weighted", purity, lower=min_weighted))
    if low_max < 1:
        low = pd.Series((purity.to_numpy() < low_threshold).astype(float), index=purity.index, name=purity.name)
        limits.append(LinearLimit("purity:low_weight", low, upper=low_max))
    return tuple(limits)


def reachable_purity_limits(
    m: Methodology, purity: pd.Series, eligible: np.ndarray, cap: float, floor: np.ndarray
) -> tuple[tuple[LinearLimit, ...], str]:
    """The purity limits moved just as far as the eligible names at single-name cap ``cap`` and
    minimum weights ``floor`` force (a last resort), with the line recorded: the low-purity bound
    raised to what the purer names leave, then the weighted-purity floor lowered to the most the
    names reach (the floors first, then the purest names up to their caps: exact with only name
    bounds and the budget)."""
    rule, p = m.purity, purity.to_numpy(dtype=float)
    lower = np.where(eligible, np.minimum(floor, cap), 0.0)
    room = np.where(eligible, cap, 0.0) - lower
    low = eligible & (p < rule.low_threshold)
    forced_low = max(1.0 - float(room[~low].sum() + lower[~low].sum()), float(lower[low].sum()))
    # a moved limit gets a hair of room (1e-9) so that it holds at solver accuracy
    low_max = rule.low_max_weight if forced_low <= rule.low_max_weight else min(1.0, forced_low + 1e-9)
    order = np.argsort(-np.where(eligible, p, -np.inf), kind="stable")
    budget = 1.0 - lower.sum()
    take = np.minimum(room[order], np.maximum(budget - np.concatenate(([0.0], np.cumsum(room[order])[:-1])), 0.0))
    best = float(p @ lower + p[order] @ take)
    weighted = rule.min_weighted if best >= rule.min_weighted else best - 1e-9
    line = (
        f"purity limits at what the eligible names allow at {cap:.0%} caps "
        f"(weighted purity >= {weighted:.3f}, low-purity weight <= {low_max:.1%})"
    )
    return _limits(purity, weighted, rule.low_threshold, low_max), line


def stage_basis(m: Methodology, purity: pd.Series, eligible: np.ndarray) -> pd.Series | None:
    """The stage basis of the rulebook: purity (``"exposure"``) or None (``"weight"``).

    Purity 0 cannot be measured on the exposure basis; the purity screens keep such names out, and
    a rulebook that admits them (``purity.entry = 0``) gets a tiny basis for them (1e-9): their
    weight then barely counts towards any stage, which is what their exposure is.
    """
    if m.stages.basis == "weight":
        return None
    return pd.Series(np.where(eligible, np.maximum(purity.to_numpy(dtype=float), 1e-9), 0.0), index=purity.index)


def stage_table(
    m: Methodology, by_stage: np.ndarray, purity: np.ndarray, before: np.ndarray, after: np.ndarray
) -> pd.DataFrame:
    """Stage shares on the rulebook's basis (``by_stage``: stage x ticker) of the anchor (``before``)
    and of the weights (``after``) against the targets."""
    basis = purity if m.stages.basis == "exposure" else None
    targets = [m.stages.target_map[s] for s in STAGES]
    shares = [stage_shares(by_stage.T, basis, w) for w in (before, after)]
    table = np.column_stack([targets, *shares])
    return pd.DataFrame(table, index=pd.Index(STAGES), columns=pd.Index(["target", "before", "after"]))


def integrity_figures(m: Methodology, purity: np.ndarray, stages: pd.DataFrame, w: np.ndarray) -> dict[str, float]:
    """``weighted`` purity, ``low_weight`` (in names below ``purity.low_threshold``) and
    ``stage_deviation`` (largest |share − target| of ``stages``, a :func:`stage_table`) of ``w``."""
    gap = np.abs(stages["after"].to_numpy() - stages["target"].to_numpy())
    gap = gap[~np.isnan(gap)]  # skipped, as pandas does
    return {
        "weighted": float(purity @ w),
        "low_weight": float(w[purity < m.purity.low_threshold].sum()),
        "stage_deviation": float(gap.max()) if len(gap) else float("nan"),
    }
