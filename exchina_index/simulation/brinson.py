"""The Brinson–Fachler kernel on arrays: one day's effects by group, and their linking over time.

One day (:func:`brinson_fachler`)
    With the portfolio's and the benchmark's weights ``wp``, ``wb`` at the start of day ``t`` (the
    close of ``t - 1``), the names' returns of the day ``rp``, ``rb`` and a membership matrix ``M``
    (names × groups, each row summing to 1: a name can sit in several groups, MP Materials is
    0.40/0.35/0.25 mining/refining/manufacturing)::

        w_p,g = Σ_i wp_i M_ig                  w_b,g = Σ_i wb_i M_ig
        R_p,g = Σ_i wp_i M_ig rp_i / w_p,g     R_b,g = Σ_i wb_i M_ig rb_i / w_b,g
        R_p   = Σ_i wp_i rp_i                  R_b   = Σ_i wb_i rb_i

        allocation   A_g = (w_p,g − w_b,g) (R_b,g − R_b)
        selection    S_g = w_b,g (R_p,g − R_b,g)
        interaction  I_g = (w_p,g − w_b,g) (R_p,g − R_b,g)

    Summed over the groups, ``Σ_g (A_g + S_g + I_g) = Σ_g (w_p,g R_p,g − w_b,g R_b,g) − R_b (Σ_g w_p,g
    − Σ_g w_b,g) = R_p − R_b`` when both weight rows sum to 1. A group the portfolio does not hold
    takes ``R_p,g = R_b,g`` (its effect is all allocation); a group outside the benchmark takes
    ``R_b,g = R_b`` (no allocation: what the portfolio earns there over the benchmark is
    interaction). The identity holds either way, since ``w R`` is 0 on the empty side.

Linking over time (Cariño 1999; :func:`carino_coefficient`, :func:`carino_link`)
    Daily arithmetic effects do not add up to a period's active return ``R_P − R_B`` (``R_P = Π_t
    (1 + R_p,t) − 1``). Cariño's logarithmic linking weights each day by::

        k_t = [ln(1 + R_p,t) − ln(1 + R_b,t)] / (R_p,t − R_b,t)     (1 / (1 + R_b,t) when equal)
        K   = [ln(1 + R_P) − ln(1 + R_B)] / (R_P − R_B)
        linked effect = Σ_t (k_t / K) · effect_t

    Since ``Σ_t k_t (R_p,t − R_b,t) = ln((1 + R_P) / (1 + R_B)) = K (R_P − R_B)``, the linked
    effects summed over groups and effects equal ``R_P − R_B`` for any period. We link with Cariño
    rather than Menchero's optimised coefficients because each day's coefficient is a closed form
    of that day's two returns and the period's two totals (no fit over the period), so anyone can
    recompute it, and every sub-period (a calendar year) is linked on its own by the same formula.
    ``k = log1p(x) / x / (1 + R_b)`` with ``x = (R_p − R_b) / (1 + R_b)`` stays exact to rounding
    when the two returns are close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchina_index.errors import InputError

__all__ = ["DailyEffects", "brinson_fachler", "carino_coefficient", "carino_link"]

_SUM_TOL = 1e-9  # weight rows and membership rows must sum to 1 within this


@dataclass(frozen=True, eq=False)
class DailyEffects:
    """The result of :func:`brinson_fachler`: (T, G) arrays by day and group, (T,) totals.

    Attributes
    ----------
    weight_portfolio, weight_benchmark
        ``w_p,g`` and ``w_b,g``.
    return_portfolio, return_benchmark
        ``R_p,g`` and ``R_b,g``, filled where a side holds nothing of the group (module docstring).
    allocation, selection, interaction
        The three effects.
    portfolio_return, benchmark_return
        ``R_p`` and ``R_b`` of each day.
    """

    weight_portfolio: np.ndarray
    weight_benchmark: np.ndarray
    return_portfolio: np.ndarray
    return_benchmark: np.ndarray
    allocation: np.ndarray
    selection: np.ndarray
    interaction: np.ndarray
    portfolio_return: np.ndarray
    benchmark_return: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """Allocation + selection + interaction by day and group."""
        return self.allocation + self.selection + self.interaction


def brinson_fachler(
    wp: np.ndarray,
    wb: np.ndarray,
    rp: np.ndarray,
    rb: np.ndarray,
    groups: np.ndarray,
    *,
    days: Sequence[Any] | None = None,
    names: Sequence[Any] | None = None,
) -> DailyEffects:
    """Daily Brinson–Fachler effects by group (formulas in the module docstring).

    Parameters
    ----------
    wp, wb : (T, N) float
        Portfolio and benchmark weights at the start of each day, >= 0, each row summing to 1.
    rp, rb : (T, N) float
        The names' returns of each day for the portfolio and the benchmark (usually equal);
        read only where the side's weight is positive (NaN allowed elsewhere).
    groups : (N, G) or (T, N, G) float
        Membership of each name in each group (fractions >= 0, each row summing to 1 where the
        name is held); (T, N, G) when it changes over time.
    days, names
        Labels of the rows and the names (dates, tickers) for the error messages; positions when
        not given.

    Returns
    -------
    DailyEffects
        Summed over groups, the effects of each day equal ``R_p − R_b`` to rounding.

    Raises
    ------
    InputError
        Shapes disagree, a weight is negative or not finite, a weight row or a held name's
        membership row does not sum to 1, or a held name's return is not finite.

    Examples
    --------
    >>> e = brinson_fachler([[0.5, 0.5]], [[0.25, 0.75]], [[0.1, 0.0]], [[0.1, 0.0]], [[1, 0], [0, 1]])
    >>> [round(float(x), 6) for x in e.allocation[0]], float(e.total.sum()) == 0.05 - 0.025
    ([0.01875, 0.00625], True)
    """
    wp, wb, rp, rb = (np.asarray(a, dtype=np.float64) for a in (wp, wb, rp, rb))
    m = np.asarray(groups, dtype=np.float64)
    _check_kernel(wp, wb, rp, rb, m, _Labels(days, names))
    rp = np.where(wp > 0, rp, 0.0)  # a name not held is never read (its return may be NaN)
    rb = np.where(wb > 0, rb, 0.0)
    spec = "tn,ng->tg" if m.ndim == 2 else "tn,tng->tg"
    wpg, wbg = np.einsum(spec, wp, m), np.einsum(spec, wb, m)
    cpg, cbg = np.einsum(spec, wp * rp, m), np.einsum(spec, wb * rb, m)
    total_p, total_b = (wp * rp).sum(axis=1), (wb * rb).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rbg = np.where(wbg > 0, cbg / wbg, total_b[:, None])
        rpg = np.where(wpg > 0, cpg / wpg, rbg)
    dw = wpg - wbg
    return DailyEffects(
        weight_portfolio=wpg,
        weight_benchmark=wbg,
        return_portfolio=rpg,
        return_benchmark=rbg,
        allocation=dw * (rbg - total_b[:, None]),
        selection=wbg * (rpg - rbg),
        interaction=dw * (rpg - rbg),
        portfolio_return=total_p,
        benchmark_return=total_b,
    )


class _Labels:
    """A day's and a name's label for an error message: the caller's, else the position."""

    def __init__(self, days: Sequence[Any] | None, names: Sequence[Any] | None) -> None:
        self._days, self._names = days, names

    def day(self, t: int) -> str:
        if self._days is None:
            return f"day {t}"
        d = self._days[t]
        return str(d.date()) if hasattr(d, "date") else str(d)

    def name(self, i: int) -> str:
        return f"name {i}" if self._names is None else str(self._names[i])


def _check_kernel(wp: np.ndarray, wb: np.ndarray, rp: np.ndarray, rb: np.ndarray, m: np.ndarray, at: _Labels) -> None:
    """The preconditions of :func:`brinson_fachler` (InputError naming the first offending day)."""
    if wp.ndim != 2 or any(a.shape != wp.shape for a in (wb, rp, rb)):
        raise InputError(
            "wp, wb, rp and rb must be (days × names) arrays of one shape, got "
            + ", ".join(str(a.shape) for a in (wp, wb, rp, rb))
        )
    if m.shape[-2:-1] != wp.shape[1:] or m.ndim not in (2, 3) or (m.ndim == 3 and m.shape[0] != wp.shape[0]):
        raise InputError(f"groups must be (names × groups) or (days × names × groups) for {wp.shape}, got {m.shape}")
    if not np.isfinite(m).all() or (m < 0).any():
        raise InputError("group memberships must be finite fractions >= 0")
    for side, w, r in (("portfolio", wp, rp), ("benchmark", wb, rb)):
        if not np.isfinite(w).all() or (w < 0).any():
            raise InputError(f"{side} weights must be finite and >= 0")
        off = np.flatnonzero(np.abs(w.sum(axis=1) - 1.0) > _SUM_TOL)
        if off.size:
            raise InputError(f"{side} weights on {at.day(off[0])} sum to {w[off[0]].sum():.12g}, not 1; normalise them")
        bad = np.argwhere((w > 0) & ~np.isfinite(r))
        if bad.size:
            raise InputError(
                f"{side} return of held {at.name(bad[0][1])} on {at.day(bad[0][0])} is not finite; "
                "give a return for every name held"
            )
    held = (wp > 0) | (wb > 0)
    off_m = np.argwhere(held & (np.abs(m.sum(axis=-1) - 1.0) > _SUM_TOL))
    if off_m.size:
        raise InputError(
            f"the group memberships of held {at.name(off_m[0][1])} on {at.day(off_m[0][0])} do not sum to 1"
        )


def carino_coefficient(rp: Any, rb: Any) -> np.ndarray:
    """Cariño's ``[ln(1 + rp) − ln(1 + rb)] / (rp − rb)``, ``1 / (1 + rb)`` where they are equal.

    Examples
    --------
    >>> float(carino_coefficient(0.1, 0.1)) == 1 / 1.1, round(float(carino_coefficient(0.2, 0.1)), 12)
    (True, 0.870113769896)
    """
    rp, rb = np.asarray(rp, dtype=np.float64), np.asarray(rb, dtype=np.float64)
    if (rp <= -1.0).any() or (rb <= -1.0).any():
        raise InputError("log-linking needs returns above -100 %")
    x = (rp - rb) / (1.0 + rb)
    safe = np.where(x == 0.0, 1.0, x)
    return np.where(x == 0.0, 1.0, np.log1p(x) / safe) / (1.0 + rb)


def carino_link(effects: np.ndarray, portfolio_returns: np.ndarray, benchmark_returns: np.ndarray) -> np.ndarray:
    """The daily ``effects`` (T, ...) linked over the T days: ``Σ_t (k_t / K) · effects_t``.

    Summed over everything but the day axis, the result is ``Π(1 + rp) − Π(1 + rb)`` when each
    day's effects add up to ``rp_t − rb_t``.
    """
    rp = np.asarray(portfolio_returns, dtype=np.float64)
    rb = np.asarray(benchmark_returns, dtype=np.float64)
    e = np.asarray(effects, dtype=np.float64)
    if rp.shape != rb.shape or rp.ndim != 1 or e.shape[:1] != rp.shape:
        raise InputError(f"effects {e.shape} and the returns {rp.shape}, {rb.shape} must share the day axis")
    big_k = carino_coefficient(np.prod(1.0 + rp) - 1.0, np.prod(1.0 + rb) - 1.0)
    return np.tensordot(carino_coefficient(rp, rb) / big_k, e, axes=(0, 0))
