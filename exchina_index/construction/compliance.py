"""Compliance checks of a set of index weights, for fund administrators.

Pure functions over pandas objects: they read weights and limits and return one
:class:`ComplianceCheck` per kind of limit, carrying the *worst* figure (the largest issuer, the
country closest to or furthest over its cap, ...). :mod:`exchina_index.publish.rebalance` writes
them to ``compliance.json``; :mod:`exchina_index.construction.optimizer` uses
:class:`RegulatoryLimits` to optimise under the same rules.

Tolerance
---------
A weight that exceeds a limit by at most ``tol`` (default ``1e-8``, the accuracy the optimizer
guarantees) passes. For the regulatory "issuers above the threshold" rule, an issuer counts as
above the threshold only when its total exceeds ``large_threshold + tol``: an issuer sitting at the
threshold up to solver round-off is *at* the threshold, not above it.

This module imports neither cvxpy nor any other heavy library.

Examples
--------
>>> import pandas as pd
>>> w = pd.Series({"AAA": 0.3, "BBB": 0.3, "CCC": 0.4})
>>> [c.passed for c in check_caps(w, caps=0.4)]
[True, True, True]
>>> check_regulatory(w, None, RIC_25_50)[0].passed
False
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from exchina_index._text import pct_g
from exchina_index.errors import InputError
from exchina_index.rules.methodology import Regulatory

__all__ = [
    "ComplianceCheck",
    "RegulatoryLimits",
    "rulebook_limits",
    "RIC_25_50",
    "UCITS_5_10_40",
    "UCITS_INDEX_20_35",
    "check_caps",
    "check_regulatory",
    "issuer_totals",
    "group_totals",
]

DEFAULT_TOL = 1e-8


@dataclass(frozen=True)
class RegulatoryLimits:
    """A fund-diversification rule on issuer totals (the sum of all listings of one issuer).

    No issuer may exceed ``issuer_max``, and the issuers whose total is above ``large_threshold``
    may together hold at most ``large_sum``.

    Parameters
    ----------
    name
        Label used in reports, e.g. ``"RIC 25/50"``.
    issuer_max
        Largest total weight of one issuer (0.25 for RIC, 0.10 for UCITS).
    large_threshold
        An issuer whose total is strictly above this counts as "large" (0.05 for both).
    large_sum
        Largest combined weight of the large issuers (0.50 for RIC, 0.40 for UCITS).

    Examples
    --------
    >>> RegulatoryLimits.ric().buffered(0.9)
    RegulatoryLimits(name='RIC 25/50 (buffer 90%)', issuer_max=0.225, large_threshold=0.045, large_sum=0.45)
    """

    name: str
    issuer_max: float
    large_threshold: float
    large_sum: float

    def __post_init__(self) -> None:
        values = (self.issuer_max, self.large_threshold, self.large_sum)
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise InputError(f"regulatory limits '{self.name}': every limit must be a finite number")
        if not 0.0 < self.large_threshold < self.issuer_max <= 1.0:
            raise InputError(
                f"regulatory limits '{self.name}': need 0 < large_threshold "
                f"({self.large_threshold}) < issuer_max ({self.issuer_max}) <= 1"
            )
        if not self.large_threshold <= self.large_sum <= 1.0:
            raise InputError(
                f"regulatory limits '{self.name}': need large_threshold ({self.large_threshold}) "
                f"<= large_sum ({self.large_sum}) <= 1"
            )

    @classmethod
    def ric(cls) -> RegulatoryLimits:
        """US RIC diversification (IRC §851(b)(3)): no issuer above 25 %, issuers above 5 % ≤ 50 %."""
        return cls("RIC 25/50", 0.25, 0.05, 0.50)

    @classmethod
    def ucits(cls) -> RegulatoryLimits:
        """UCITS 5/10/40: no issuer above 10 %, issuers above 5 % together ≤ 40 %."""
        return cls("UCITS 5/10/40", 0.10, 0.05, 0.40)

    @classmethod
    def ucits_index(cls) -> RegulatoryLimits:
        """UCITS 20/35 for an index-tracking UCITS (art. 53): issuers at most 20 %, one up to 35 %;
        as issuer totals, the issuers above 20 % sum to 35 % at most (so at most one is above 20 %)."""
        return cls("UCITS index 20/35", 0.35, 0.20, 0.35)

    @classmethod
    def preset(cls, name: str) -> RegulatoryLimits:
        """Return the unbuffered preset called ``"ric"``, ``"ucits"`` or ``"ucits_index"`` (case-insensitive)."""
        key = name.strip().lower()
        if key in ("ric", "ric 25/50", "ric_25_50"):
            return cls.ric()
        if key in ("ucits", "ucits 5/10/40", "ucits_5_10_40"):
            return cls.ucits()
        if key in ("ucits_index", "ucits index 20/35", "ucits_20_35"):
            return cls.ucits_index()
        raise InputError(f"unknown regulatory preset '{name}': use 'ric', 'ucits' or 'ucits_index'")

    def buffered(self, factor: float, name: str | None = None) -> RegulatoryLimits:
        """Scale every limit by ``factor`` (e.g. 0.9 gives the index buffer 22.5/4.5/45 for RIC)."""
        if not 0.0 < factor <= 1.0:
            raise InputError(f"regulatory buffer factor must be in (0, 1], got {factor}")
        label = name if name is not None else f"{self.name} (buffer {factor:.0%})"
        return RegulatoryLimits(
            label,
            round(self.issuer_max * factor, 12),
            round(self.large_threshold * factor, 12),
            round(self.large_sum * factor, 12),
        )


RIC_25_50 = RegulatoryLimits.ric()
UCITS_5_10_40 = RegulatoryLimits.ucits()
UCITS_INDEX_20_35 = RegulatoryLimits.ucits_index()


def rulebook_limits(
    regulatory: Regulatory, mode: str | None = None, name: str | None = None
) -> RegulatoryLimits | None:
    """The rulebook's (buffered) limits of ``mode`` (the rulebook's own mode when ``None``), labelled
    ``name`` (the mode when ``None``); ``None`` when the mode is ``"none"``."""
    mode = regulatory.mode if mode is None else mode
    if mode == "none":
        return None
    rule = getattr(regulatory, mode)
    return RegulatoryLimits(mode if name is None else name, rule.issuer_max, rule.large_threshold, rule.large_sum)


@dataclass(frozen=True)
class ComplianceCheck:
    """One compliance test with its worst figure.

    Parameters
    ----------
    name
        Which limit, e.g. ``"issuer cap"`` or ``"RIC 25/50: issuers above 5%"``.
    limit
        The limit (a weight, 0–1).
    value
        The worst observed figure (a weight, 0–1).
    passed
        Whether ``value`` respects ``limit`` (within the tolerance).
    detail
        One human-readable line, e.g. ``"largest issuer MP Materials 8% ≤ 25%"``.
    """

    name: str
    limit: float
    value: float
    passed: bool
    detail: str


def _digits(ok: bool) -> int:
    """Significant digits of a detail's percentages: 4, or 8 when the check fails (to show by how much)."""
    return 4 if ok else 8


def _sorted_series(s: pd.Series) -> pd.Series:
    """The series ordered by its labels (as strings), so ties resolve the same way every run."""
    order = sorted(range(len(s)), key=lambda i: str(s.index[i]))
    return s.iloc[order]


def _as_weights(weights: pd.Series) -> pd.Series:
    if not isinstance(weights, pd.Series):
        raise InputError("weights must be a pandas Series indexed by ticker")
    if not weights.index.is_unique:
        raise InputError("weights: duplicate tickers in the index")
    w = weights.astype(float)
    if w.isna().any():
        bad = ", ".join(map(str, w.index[w.isna()]))
        raise InputError(f"weights: missing values for {bad}")
    return _sorted_series(w)


def _labels(weights: pd.Series, labels: pd.Series | Mapping | None, what: str) -> pd.Series:
    """Group label per ticker (each ticker its own group when ``labels`` is None)."""
    if labels is None:
        return pd.Series(weights.index.map(str), index=weights.index)
    lab = pd.Series(labels) if not isinstance(labels, pd.Series) else labels
    lab = lab.reindex(weights.index)
    if lab.isna().any():
        bad = ", ".join(map(str, lab.index[lab.isna()]))
        raise InputError(f"{what}: no {what[:-1]} given for {bad}")
    return lab.astype(str)


def issuer_totals(weights: pd.Series, issuers: pd.Series | Mapping | None = None) -> pd.Series:
    """Total weight per issuer (sum over its listings), sorted by issuer.

    With ``issuers=None`` each ticker is its own issuer.
    """
    w = _as_weights(weights)
    return group_totals(w, _labels(w, issuers, "issuers"))


def group_totals(weights: pd.Series, labels: pd.Series) -> pd.Series:
    """Total weight per group (issuer, country), sorted by group label.

    ``labels`` holds the group of each entry of ``weights``, in the same order.

    Examples
    --------
    >>> import pandas as pd
    >>> group_totals(pd.Series([0.2, 0.3, 0.5]), pd.Series(["US", "AU", "US"])).to_dict()
    {'AU': 0.3, 'US': 0.7}
    """
    totals = weights.groupby(labels.to_numpy(), sort=True).sum()
    totals.index.name = None
    return totals


def _worst(excess: pd.Series) -> object:
    """Label with the largest excess; ties (to 1e-12, below solver noise) go to the first label in
    sorted order."""
    return _sorted_series(excess.round(12)).idxmax()


def check_caps(
    weights: pd.Series,
    caps: pd.Series | float | None = None,
    issuers: pd.Series | Mapping | None = None,
    issuer_cap: float | None = None,
    countries: pd.Series | Mapping | None = None,
    country_caps: Mapping[str, float] | float | None = None,
    *,
    min_weight: pd.Series | None = None,
    tol: float = DEFAULT_TOL,
) -> list[ComplianceCheck]:
    """Check full investment, long-only and the single-name, issuer and country caps.

    Parameters
    ----------
    weights
        Weights by ticker.
    caps
        Per-name cap (Series by ticker, missing = uncapped) or one uniform cap; None skips the check.
    issuers, issuer_cap
        Issuer of each ticker and the cap on an issuer's total; skipped when ``issuer_cap`` is None.
        With ``issuers=None`` each ticker is its own issuer.
    countries, country_caps
        Country of each ticker and the caps (a mapping country → cap, countries not in it uncapped,
        or one uniform cap); skipped when ``country_caps`` is None.
    min_weight
        Per-name floor (Series by ticker); skipped when None.
    tol
        Slack allowed on every limit.

    Returns
    -------
    list of ComplianceCheck
        In this order: "fully invested", "long only", then "single-name cap", "issuer cap",
        "country cap", "minimum weight" for those requested. Each carries the worst figure.
    """
    w = _as_weights(weights)
    out = _investment_checks(w, tol)
    if caps is not None:
        out.append(_name_cap_check(w, caps, tol))
    if issuer_cap is not None:
        totals = group_totals(w, _labels(w, issuers, "issuers"))
        worst = _worst(totals)
        value = float(totals[worst])
        limit = float(issuer_cap)
        out.append(_bound_check("issuer cap", f"largest issuer {worst}", value, limit, value <= limit + tol))
    if country_caps is not None:
        out.append(_country_cap_check(w, _labels(w, countries, "countries"), country_caps, tol))
    if min_weight is not None:
        mw = pd.Series(min_weight, dtype=float).reindex(w.index).fillna(0.0)
        worst = _worst(mw - w)
        value, limit = float(w[worst]), float(mw[worst])
        label = f"weight closest to its floor: {worst}"
        out.append(_bound_check("minimum weight", label, value, limit, value >= limit - tol, upper=False))
    return out


def _bound_check(name: str, label: str, value: float, limit: float, ok: bool, upper: bool = True) -> ComplianceCheck:
    """The check of ``value`` against ``limit`` (an upper bound, or a floor when ``upper`` is False);
    the detail reads "<label> <value> ≤ <limit>"."""
    sign = ("≤" if ok else ">") if upper else ("≥" if ok else "<")
    digits = _digits(ok)
    return ComplianceCheck(name, limit, value, ok, f"{label} {pct_g(value, digits)} {sign} {pct_g(limit, digits)}")


def _investment_checks(w: pd.Series, tol: float) -> list[ComplianceCheck]:
    """The "fully invested" and "long only" checks."""
    total = float(w.sum())
    ok_total = abs(total - 1.0) <= tol
    low = float(w.min()) if len(w) else 0.0
    ok_low = low >= -tol
    return [
        ComplianceCheck(
            "fully invested",
            1.0,
            total,
            ok_total,
            f"weights sum to {pct_g(total, _digits(ok_total))}" + ("" if ok_total else ", not 100%"),
        ),
        ComplianceCheck(
            "long only",
            0.0,
            low,
            ok_low,
            f"smallest weight {pct_g(low, _digits(ok_low))}" + (" ≥ 0%" if ok_low else " < 0%"),
        ),
    ]


def _name_cap_check(w: pd.Series, caps: pd.Series | float, tol: float) -> ComplianceCheck:
    """The "single-name cap" check: the name furthest over (or closest to) its cap."""
    if isinstance(caps, (int, float)):
        cap_s = pd.Series(float(caps), index=w.index)
    else:
        cap_s = pd.Series(caps, dtype=float).reindex(w.index).fillna(math.inf)
    worst = _worst(w - cap_s)
    value, limit = float(w[worst]), float(cap_s[worst])
    label = f"largest weight against its cap: {worst}"
    return _bound_check("single-name cap", label, value, limit, value <= limit + tol)


def _country_cap_check(
    w: pd.Series, countries: pd.Series, country_caps: Mapping[str, float] | float, tol: float
) -> ComplianceCheck:
    """The "country cap" check: the country furthest over (or closest to) its cap."""
    totals = group_totals(w, countries)
    if isinstance(country_caps, (int, float)):
        cc = pd.Series(float(country_caps), index=totals.index)
    else:
        cc = pd.Series({str(k): float(v) for k, v in country_caps.items()}, dtype=float)
        cc = cc.reindex(totals.index).dropna()
    if not len(cc):
        return ComplianceCheck("country cap", 1.0, 0.0, True, "no country has a cap")
    worst = _worst(totals.reindex(cc.index) - cc)
    value, limit = float(totals[worst]), float(cc[worst])
    label = f"country closest to its cap: {worst}"
    return _bound_check("country cap", label, value, limit, value <= limit + tol)


def check_regulatory(
    weights: pd.Series,
    issuers: pd.Series | Mapping | None,
    limits: RegulatoryLimits,
    *,
    tol: float = DEFAULT_TOL,
) -> list[ComplianceCheck]:
    """Check a RIC / UCITS style diversification rule on issuer totals.

    Parameters
    ----------
    weights
        Weights by ticker.
    issuers
        Issuer of each ticker; None means each ticker is its own issuer.
    limits
        The rule, e.g. :data:`RIC_25_50` or a buffered version from the rulebook.
    tol
        Slack allowed on each limit; an issuer counts as above the threshold only when its total
        exceeds ``large_threshold + tol``.

    Returns
    -------
    list of ComplianceCheck
        Two checks: "<name>: largest issuer" and "<name>: issuers above <threshold>".

    Examples
    --------
    >>> import pandas as pd
    >>> w = pd.Series({"A": 0.2, "B": 0.2, "C": 0.2, "D": 0.2, "E": 0.2})
    >>> [c.detail for c in check_regulatory(w, None, RIC_25_50)][1]
    'issuers above 5%: 100% > 50% (5 issuers: A, B, C, D, E)'
    """
    w = _as_weights(weights)
    totals = group_totals(w, _labels(w, issuers, "issuers"))
    worst = _worst(totals) if len(totals) else "-"
    top = float(totals[worst]) if len(totals) else 0.0
    first = _bound_check(
        f"{limits.name}: largest issuer",
        f"largest issuer {worst}",
        top,
        limits.issuer_max,
        top <= limits.issuer_max + tol,
    )
    large = totals[totals > limits.large_threshold + tol]
    big = float(large.sum())
    ok2 = big <= limits.large_sum + tol
    names = ", ".join(map(str, large.index))
    count = f" ({len(large)} issuer{'s' if len(large) != 1 else ''}{': ' + names if names else ''})"
    second = ComplianceCheck(
        f"{limits.name}: issuers above {pct_g(limits.large_threshold)}",
        limits.large_sum,
        big,
        ok2,
        f"issuers above {pct_g(limits.large_threshold)}: {pct_g(big, _digits(ok2))} "
        f"{'≤' if ok2 else '>'} {pct_g(limits.large_sum, _digits(ok2))}{count}",
    )
    return [first, second]
