"""The weighting problem as arrays: a universe's fixed structure and one review's numbers.

Internally names, stages, issuers and countries are kept in sorted ("canonical") order, so a
result does not depend on the order of the inputs. :func:`make_structure` runs once per universe
(membership of issuers and countries as index arrays); :func:`prepare_inputs` validates one
review's numbers and lays them out in canonical order. :class:`Node` carries the issuer bounds of
one QP, which is all that changes between the QPs of a review.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from exchina_index.construction.compliance import RegulatoryLimits
from exchina_index.construction.optimizer.limits import LinearLimit, basis_array, limit_arrays
from exchina_index.construction.optimizer.memo import Memo, remembered
from exchina_index.errors import InfeasibleError, InputError
from exchina_index.rules.methodology import MAX_TURNOVER_PENALTY

__all__ = [
    "Structure",
    "ReviewInputs",
    "Node",
    "make_structure",
    "prepare_inputs",
    "static_inputs",
    "one_problem",
    "stages_of",
    "aligned",
    "as_series",
    "as_number",
]


@dataclass(frozen=True, eq=False)
class Structure:
    """What is fixed for a universe: canonical order, stages, issuer and country membership."""

    tickers: tuple[object, ...]  # canonical order (sorted by str)
    user_tickers: tuple[object, ...]  # as given
    stages: tuple[str, ...]  # sorted
    user_stages: pd.Index  # as given, for the report
    issuer_names: tuple[str, ...]  # sorted
    issuer_idx: np.ndarray  # (n,) index into issuer_names
    country_names: tuple[str, ...]  # sorted; empty when no countries
    country_idx: np.ndarray | None
    keys: pd.Index  # str(ticker) in canonical order, for alignment
    user_index: pd.Index  # the tickers as given
    order: np.ndarray  # canonical position -> position in user_index
    inverse: np.ndarray  # position in user_index -> canonical position
    issuer_index: pd.Index
    country_index: pd.Index

    @property
    def n(self) -> int:
        """Number of names."""
        return len(self.tickers)

    @property
    def issuer_sizes(self) -> np.ndarray:
        """Number of listings of each issuer."""
        return np.bincount(self.issuer_idx, minlength=len(self.issuer_names))

    def issuer_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-name ``values`` summed by issuer (issuer totals of weights, caps, floors)."""
        return np.bincount(self.issuer_idx, weights=values, minlength=len(self.issuer_names))

    def country_sum(self, values: np.ndarray) -> np.ndarray:
        """Per-name ``values`` summed by country; only for a structure with countries."""
        assert self.country_idx is not None
        return np.bincount(self.country_idx, weights=values, minlength=len(self.country_names))


@dataclass(frozen=True, eq=False)
class ReviewInputs:
    """One review's numbers in canonical order."""

    u: np.ndarray  # normalised anchor
    cap: np.ndarray  # caller's cap (clipped to [0, 1])
    upper: np.ndarray  # name bound: the cap, 0 where u = 0
    lower: np.ndarray
    E: np.ndarray  # (n, k), rows of eligible names sum to 1; 0 rows for u = 0
    target: np.ndarray  # (k,)
    tol: float
    issuer_cap: float | None
    country_cap: np.ndarray  # (c,), inf = uncapped
    prev: np.ndarray
    lam: float
    basis: np.ndarray | None = None  # stage basis (None: stage shares are weights)
    C: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (r, n) linear limits
    c_lo: np.ndarray = field(default_factory=lambda: np.zeros(0))
    c_hi: np.ndarray = field(default_factory=lambda: np.zeros(0))
    c_names: tuple[str, ...] = ()

    def issuer_upper(self, st: Structure, reg: RegulatoryLimits | None) -> np.ndarray:
        """Bound on each issuer's total from the issuer cap and the regulatory issuer maximum."""
        bound = 1.0 if self.issuer_cap is None else self.issuer_cap
        if reg is not None:
            bound = min(bound, reg.issuer_max)
        return np.full(len(st.issuer_names), bound)


@dataclass(frozen=True, eq=False)
class Node:
    """The issuer bounds of one QP: the review's own, or those of a branch-and-bound node.

    Attributes
    ----------
    issuer_lower, issuer_upper
        Bounds on each issuer's total.
    large, hull
        Under a regulatory rule: the issuers counted in the large sum, and the hull coefficient of
        each free issuer (0: none). Both None without a rule.
    """

    issuer_lower: np.ndarray
    issuer_upper: np.ndarray
    large: np.ndarray | None = None
    hull: np.ndarray | None = None


def _canonical(labels: Sequence[object]) -> list[int]:
    return sorted(range(len(labels)), key=lambda i: str(labels[i]))


def _labels_for(tickers: Sequence[object], labels: pd.Series | Mapping | None, what: str) -> list[str] | None:
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


def _index_labels(labels: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted distinct labels and the position of each element's label among them."""
    names = tuple(sorted(set(labels)))
    pos = {name: j for j, name in enumerate(names)}
    return names, np.array([pos[s] for s in labels], dtype=np.intp)


def make_structure(
    tickers: Sequence[object],
    stages: Sequence[str],
    issuers: pd.Series | Mapping | None,
    countries: pd.Series | Mapping | None,
) -> Structure:
    """Validate a universe (tickers, stages, issuers, countries) and lay it out in canonical order."""
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
    issuer_names, issuer_idx = _index_labels([str(t) for t in canon] if iss is None else iss)
    ctry = _labels_for(canon, countries, "countries")
    country_names, country_idx = ((), None) if ctry is None else _index_labels(ctry)
    order_arr = np.array(order, dtype=np.intp)
    return Structure(
        tickers=tuple(canon),
        user_tickers=tuple(user),
        stages=tuple(stage_list),
        user_stages=pd.Index([str(s) for s in stages]),
        issuer_names=issuer_names,
        issuer_idx=issuer_idx,
        country_names=country_names,
        country_idx=country_idx,
        keys=pd.Index([str(t) for t in canon], dtype=object),
        user_index=tickers if isinstance(tickers, pd.Index) else pd.Index(user),
        order=order_arr,
        inverse=np.argsort(order_arr),
        issuer_index=pd.Index(issuer_names),
        country_index=pd.Index(country_names, dtype=object if not country_names else None),
    )


def stages_of(stage_exposure: pd.DataFrame) -> list[str]:
    """The stage names of a ticker x stage exposure frame."""
    if not isinstance(stage_exposure, pd.DataFrame):
        raise InputError("stage_exposure must be a DataFrame (ticker x stage)")
    return [str(c) for c in stage_exposure.columns]


def as_series(x: pd.Series | Mapping | float | None, what: str) -> pd.Series | None:
    """A Series (or None) from a Series or a mapping by ticker; InputError otherwise."""
    if x is None or isinstance(x, pd.Series):
        return x
    if isinstance(x, Mapping):
        try:
            return pd.Series(dict(x), dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{what}: values must be numbers") from None
    raise InputError(f"{what} must be a pandas Series or a mapping by ticker")


def as_number(x: object, what: str) -> float:
    """A real number (not a bool) as a float; InputError otherwise. Finiteness is checked by callers."""
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} must be a number, got {type(x).__name__}")
    return float(x)


def _shown(names: Sequence[object], bad: np.ndarray) -> str:
    """The first ten names where ``bad`` holds, for a message."""
    return ", ".join(str(names[i]) for i in np.flatnonzero(bad)[:10])


def _finite_nonneg(values: np.ndarray, names: Sequence[object], what: str) -> None:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise InputError(f"{what} must be finite and >= 0; bad value for {_shown(names, bad)}")


def aligned(s: pd.Series | np.ndarray, st: Structure, what: str, fill: float) -> np.ndarray:
    """Values of ``s`` in canonical ticker order (missing tickers get ``fill``); an array holds one
    value per ticker in the universe's own order (a caller's inner loop, without a Series)."""
    if isinstance(s, np.ndarray):
        if s.shape != (st.n,):
            raise InputError(f"{what}: an array must hold one value per ticker ({st.n}), got shape {s.shape}")
        try:
            return s.astype(float)[st.order]
        except (TypeError, ValueError):
            raise InputError(f"{what}: values must be numbers") from None
    if s.index.equals(st.user_index):  # fast path: the universe's own order
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
            raise InputError(f"{what}: tickers not in the universe: {', '.join(sorted(unknown)[:10])}")
    values = pd.to_numeric(pd.Series(s.to_numpy(), index=idx), errors="coerce")
    return values.reindex(st.keys, fill_value=fill).to_numpy(dtype=float)


def _anchor(st: Structure, anchor: pd.Series) -> np.ndarray:
    """The anchor normalised to sum 1 (0: not eligible)."""
    if not isinstance(anchor, pd.Series):
        raise InputError("anchor must be a pandas Series of weights by ticker")
    u = aligned(anchor, st, "anchor", 0.0)
    _finite_nonneg(u, st.tickers, "anchor weights")
    top = u.max(initial=0.0)
    if top <= 0:
        raise InfeasibleError("no eligible name: every anchor weight is 0; nothing to weight")
    u = u / top  # first by the largest: a sum of anchors near 1e308 would overflow to inf
    return u / u.sum()


def _exposures(st: Structure, stage_exposure: pd.DataFrame, elig: np.ndarray) -> np.ndarray:
    """(n, k) exposures: rows of eligible names re-normalised to sum 1, 0 rows elsewhere."""
    cols = stages_of(stage_exposure)
    if sorted(cols) != list(st.stages):
        raise InputError(f"stage_exposure columns {sorted(cols)} differ from the stages {list(st.stages)}")
    if not stage_exposure.index.is_unique:
        raise InputError("stage_exposure: duplicate tickers in the index")
    col_pos = [cols.index(stage) for stage in st.stages]
    try:
        values = stage_exposure.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise InputError("stage_exposure: exposures must be numbers") from None
    if stage_exposure.index.equals(st.user_index):
        E = values[np.ix_(st.order, np.asarray(col_pos, dtype=np.intp))]
    else:
        se = pd.DataFrame(values[:, col_pos], index=pd.Index(stage_exposure.index.astype(str), dtype=object))
        E = se.reindex(index=st.keys).to_numpy(dtype=float)
    E_el = E[elig]
    if np.isnan(E_el).any():
        missing = elig & np.isnan(E).any(axis=1)
        raise InputError(f"stage_exposure: no exposure row for eligible {_shown(st.tickers, missing)}")
    if (E_el < -1e-9).any() or (E_el > 1 + 1e-9).any():
        raise InputError("stage_exposure: exposures must be fractions in [0, 1]")
    sums = E_el.sum(axis=1)
    if (np.abs(sums - 1.0) > 1e-6).any():
        i = np.flatnonzero(elig)[int(np.argmax(np.abs(sums - 1.0)))]
        raise InputError(
            f"stage_exposure: the row of {st.tickers[i]} sums to {E[i].sum():.6f}, "
            "not 1; the stages of a name must add up to 100%"
        )
    E = np.where(elig[:, None], np.clip(np.nan_to_num(E), 0.0, 1.0), 0.0)
    E[elig] /= E[elig].sum(axis=1, keepdims=True)
    return E


def _targets(st: Structure, targets: Mapping[str, float] | pd.Series) -> np.ndarray:
    if not isinstance(targets, (Mapping, pd.Series)):
        raise InputError(f"targets must be a mapping stage -> share (or a Series), got {type(targets).__name__}")
    tg = {str(k): as_number(v, f"targets[{k!r}]") for k, v in targets.items()}
    if sorted(tg) != list(st.stages):
        raise InputError(f"targets name stages {sorted(tg)}, expected {list(st.stages)}")
    target = np.array([tg[stage] for stage in st.stages])
    if not np.isfinite(target).all() or (target < 0).any() or abs(target.sum() - 1) > 1e-6:
        raise InputError(f"stage targets must be >= 0 and sum to 1 (they sum to {target.sum():.6f})")
    return target / target.sum()


def _caps(st: Structure, caps: pd.Series | np.ndarray | float, elig: np.ndarray) -> np.ndarray:
    """Name caps in [0, 1]; ``inf`` means uncapped."""
    if isinstance(caps, (int, float, np.integer, np.floating)) and not isinstance(caps, bool):
        cap = np.full(st.n, float(caps))
    elif caps is None:
        raise InputError("caps must be a number or a pandas Series of caps by ticker, got None")
    else:
        cap = aligned(caps if isinstance(caps, np.ndarray) else as_series(caps, "caps"), st, "caps", np.nan)
        miss = elig & np.isnan(cap)
        if miss.any():
            raise InputError(f"caps: no cap given for eligible {_shown(st.tickers, miss)}")
        cap = np.nan_to_num(cap, nan=0.0)
    cap = np.where(np.isposinf(cap), 1.0, cap)
    _finite_nonneg(cap, st.tickers, "caps")
    return np.minimum(cap, 1.0)


def _country_caps(st: Structure, country_caps: Mapping[str, float] | float | None) -> np.ndarray:
    """Cap per country (``inf``: uncapped)."""
    if country_caps is None:
        ccap = np.full(len(st.country_names), np.inf)
    elif st.country_idx is None:
        raise InputError("country_caps given but no countries: pass countries by ticker")
    elif isinstance(country_caps, Mapping):
        given = {str(k): as_number(v, f"country_caps[{k!r}]") for k, v in country_caps.items()}
        ccap = np.array([given.get(c, np.inf) for c in st.country_names])
    else:
        ccap = np.full(len(st.country_names), as_number(country_caps, "country_caps"))
    if (np.isnan(ccap) | (ccap <= 0)).any():
        raise InputError("country caps must be > 0")
    return ccap


def _fractions(
    st: Structure, values: pd.Series | np.ndarray | None, what: str, label: str, limit: float, noun: str
) -> np.ndarray:
    """Per-name fractions of the portfolio (``min_weight``, ``previous``), 0 where not given."""
    if values is None:
        return np.zeros(st.n)
    x = aligned(values if isinstance(values, np.ndarray) else as_series(values, what), st, what, 0.0)
    _finite_nonneg(x, st.tickers, label)
    big = x > limit
    if big.any():
        raise InputError(f"{noun} of the portfolio (at most 1); bad value for {_shown(st.tickers, big)}")
    return x


def prepare_inputs(
    st: Structure,
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | np.ndarray | float,
    previous: pd.Series | None,
    *,
    stage_tolerance: float,
    issuer_cap: float | None,
    country_caps: Mapping[str, float] | float | None,
    min_weight: pd.Series | np.ndarray | None,
    turnover_penalty: float,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
    memo: Memo | None = None,
) -> ReviewInputs:
    """Validate the review's numbers and lay them out as arrays in canonical order.

    Parameters are those of :func:`~exchina_index.construction.optimizer.stage_balanced_weights`;
    with a ``memo`` (one review's) the layouts of objects already seen are not computed again.
    """
    u = remembered(memo, (st, anchor), "anchor", lambda: _anchor(st, anchor))
    elig = u > 0
    mask = elig.tobytes()
    E = remembered(memo, (st, stage_exposure), ("E", mask), lambda: _exposures(st, stage_exposure, elig))
    target = remembered(memo, (st, targets), "targets", lambda: _targets(st, targets))
    stage_tolerance = as_number(stage_tolerance, "stage_tolerance")
    if not (math.isfinite(stage_tolerance) and stage_tolerance >= 0):
        raise InputError(f"stage_tolerance must be >= 0, got {stage_tolerance}")
    cap = remembered(memo, (st, caps), ("caps", mask), lambda: _caps(st, caps, elig))
    if issuer_cap is not None:
        issuer_cap = as_number(issuer_cap, "issuer_cap")
        if not (math.isfinite(issuer_cap) and issuer_cap > 0):
            raise InputError(f"issuer_cap must be > 0, got {issuer_cap}")
    ccap = remembered(memo, (st, country_caps), "country caps", lambda: _country_caps(st, country_caps))
    floor_msg = ("min_weight", 1.0, "min_weight is a fraction")
    prev_msg = ("previous weights", 1 + 1e-6, "previous weights are fractions")
    lower = remembered(
        memo, (st, min_weight), "min_weight", lambda: _fractions(st, min_weight, "min_weight", *floor_msg)
    )
    prev = remembered(memo, (st, previous), "previous", lambda: _fractions(st, previous, "previous", *prev_msg))
    if not (math.isfinite(turnover_penalty) and 0 <= turnover_penalty <= MAX_TURNOVER_PENALTY):
        raise InputError(f"turnover_penalty must be between 0 and {MAX_TURNOVER_PENALTY:g}, got {turnover_penalty}")
    layout = (st.user_index, st.order)
    C, c_lo, c_hi, c_names = remembered(memo, (st, limits), "limits", lambda: limit_arrays(st.keys, limits, layout))
    return ReviewInputs(
        u,
        cap,
        np.where(elig, cap, 0.0),
        lower,
        E,
        target,
        float(stage_tolerance),
        issuer_cap,
        ccap,
        prev,
        float(turnover_penalty),
        remembered(memo, (st, stage_basis), ("basis", mask), lambda: basis_array(st.keys, stage_basis, elig, layout)),
        C,
        c_lo,
        c_hi,
        c_names,
    )


def static_inputs(
    st: Structure,
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | np.ndarray | float,
    *,
    stage_tolerance: float,
    issuer_cap: float | None,
    country_caps: Mapping[str, float] | float | None,
    min_weight: pd.Series | np.ndarray | None,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
    memo: Memo | None = None,
) -> ReviewInputs:
    """:func:`prepare_inputs` of a problem with no previous portfolio (no turnover term): the
    stand-alone checks, the capacity LP and the least-stage-deviation LP."""
    return prepare_inputs(
        st,
        anchor,
        stage_exposure,
        targets,
        caps,
        None,
        stage_tolerance=stage_tolerance,
        issuer_cap=issuer_cap,
        country_caps=country_caps,
        min_weight=min_weight,
        turnover_penalty=0.0,
        stage_basis=stage_basis,
        limits=limits,
        memo=memo,
    )


def one_problem(
    anchor: pd.Series,
    stage_exposure: pd.DataFrame,
    targets: Mapping[str, float] | pd.Series,
    caps: pd.Series | np.ndarray | float,
    *,
    stage_tolerance: float,
    issuers: pd.Series | None,
    issuer_cap: float | None,
    countries: pd.Series | None,
    country_caps: Mapping[str, float] | float | None,
    min_weight: pd.Series | np.ndarray | None,
    stage_basis: pd.Series | None = None,
    limits: Sequence[LinearLimit] = (),
) -> tuple[Structure, ReviewInputs]:
    """Structure and inputs of one problem without a previous portfolio, for the stand-alone
    :func:`check_feasibility` and :func:`verify_constraints`."""
    st = make_structure(list(anchor.index), stages_of(stage_exposure), issuers, countries)
    inp = static_inputs(
        st,
        anchor,
        stage_exposure,
        targets,
        caps,
        stage_tolerance=stage_tolerance,
        issuer_cap=issuer_cap,
        country_caps=country_caps,
        min_weight=min_weight,
        stage_basis=stage_basis,
        limits=limits,
    )
    return st, inp
