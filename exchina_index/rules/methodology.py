"""The rulebook: loading and validating ``methodology.toml`` into an immutable :class:`Methodology`.

Every section of the TOML file maps to a frozen dataclass below; every key is typed and
range-checked. Unknown keys, missing keys and out-of-range values raise :class:`MethodologyError`
naming the file, the line (where it can be found) and the dotted key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib.util
import json
import math
import numbers
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import pycountry

from exchina_index._files import read_utf8
from exchina_index._resources import bundled_path
from exchina_index.errors import short_repr, ExchinaIndexError, InputError, MethodologyError

__all__ = [
    "Methodology", "load_methodology", "resolve_methodology", "check_aum", "solver_problem", "STAGES",
    "MAX_AUM_USD", "MAX_COST_BPS", "MAX_SESSIONS", "MAX_TURNOVER_PENALTY", "SOLVER_MODULES",
]

#: The supply-chain stages every universe row is tagged with, in their canonical order.
STAGES: tuple[str, ...] = ("mining", "refining", "manufacturing")
#: Largest fund size (USD) accepted anywhere an AUM enters (rulebook, specs, API, command line):
#: USD 10 trillion, above any fund in existence. Larger values are typos (``1e30``) that would
#: overflow the 64-bit share counts of the pro-forma and trade files.
MAX_AUM_USD: float = 1e13
#: Largest commission or half-spread (basis points of the traded value): 10 %, far above any real
#: trading cost; beyond it a rebalance could cost more than the fund holds.
MAX_COST_BPS: float = 1000.0
#: Largest session count of a window or threshold (ADTV window, history, staleness): about 40 years.
MAX_SESSIONS: int = 10_000
#: Largest turnover penalty (per unit of one-way turnover, against an objective of order 1): a
#: million already freezes any portfolio; far beyond it (1e300) the solvers fail numerically.
MAX_TURNOVER_PENALTY: float = 1e6
#: The solvers the optimizer can use (cvxpy names that solve quadratic programs) -> their Python
#: module. ``optimizer.solver`` and ``optimizer.fallback_solvers`` must name installed ones.
SOLVER_MODULES: dict[str, str] = {
    "CLARABEL": "clarabel", "SCS": "scs", "OSQP": "osqp", "ECOS": "ecos", "CVXOPT": "cvxopt",
    "MOSEK": "mosek", "GUROBI": "gurobipy", "CPLEX": "cplex", "XPRESS": "xpress", "COPT": "coptpy",
    "PIQP": "piqp", "PROXQP": "proxsuite", "DAQP": "daqp", "QOCO": "qoco", "HIGHS": "highspy",
    "KNITRO": "knitro",
}


def _rng(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict:
    return {"metadata": {"lo": lo, "hi": hi, "lo_open": lo_open}}


def _fraction(**kw: Any) -> Any:
    return field(**_rng(0.0, 1.0), **kw)


@dataclass(frozen=True)
class Countries:
    """Which countries of classification are eligible, and how offshore shells are classified."""

    eligible_sets: tuple[str, ...]
    extra_eligible: tuple[str, ...]
    offshore_jurisdictions: tuple[str, ...]
    countries_of_concern: tuple[str, ...]
    sets: Mapping[str, tuple[str, ...]]

    @property
    def eligible(self) -> frozenset[str]:
        """The union of the eligible sets and the extra codes."""
        out = set(self.extra_eligible)
        for name in self.eligible_sets:
            out.update(self.sets[name])
        return frozenset(out)


@dataclass(frozen=True)
class China:
    """The ex-China test (US DOE FEOC-style)."""

    stake_threshold: float = field(**_rng(0.0, 1.0, lo_open=True))
    stake_kinds: tuple[str, ...]
    excluding_kinds: tuple[str, ...]
    flagged_kinds: tuple[str, ...]


@dataclass(frozen=True)
class Eligibility:
    """Thematic screens that need no market data."""

    min_purity: float = _fraction()
    one_line_per_issuer: bool


@dataclass(frozen=True)
class Size:
    """Size and liquidity screens with entry and retention buffers."""

    market_cap_entry_usd: float = field(**_rng(0.0))
    market_cap_retention_usd: float = field(**_rng(0.0))
    adtv_entry_usd: float = field(**_rng(0.0))
    adtv_retention_usd: float = field(**_rng(0.0))
    adtv_window_sessions: int = field(**_rng(1, MAX_SESSIONS))
    min_history_sessions: int = field(**_rng(0, MAX_SESSIONS))
    stale_sessions: int = field(**_rng(1, MAX_SESSIONS))


@dataclass(frozen=True)
class Stages:
    """Stage targets: ``targets[i]`` is the share of ``names[i]``."""

    names: tuple[str, ...]
    targets: tuple[float, ...]
    tolerance: float = _fraction()

    @property
    def target_map(self) -> dict[str, float]:
        return dict(zip(self.names, self.targets))


@dataclass(frozen=True)
class Anchor:
    """How the uncapped anchor weights u are formed."""

    method: Literal["market_cap_purity", "liquidity", "equal"]
    use_float_factor: bool


@dataclass(frozen=True)
class Caps:
    """Weight caps (fractions of the index)."""

    single: float = field(**_rng(0.0, 1.0, lo_open=True))
    issuer: float = field(**_rng(0.0, 1.0, lo_open=True))
    country_default: float = field(**_rng(0.0, 1.0, lo_open=True))
    country: Mapping[str, float] = field(**_rng(0.0, 1.0, lo_open=True))
    min_weight_held: float = _fraction()

    def country_cap(self, code: str) -> float:
        return self.country.get(code, self.country_default)


@dataclass(frozen=True)
class Liquidity:
    """Liquidity cap: weight x AUM <= participation x ADTV x days_to_trade."""

    participation: float = field(**_rng(0.0, 1.0, lo_open=True))
    days_to_trade: float = field(**_rng(0.0, MAX_SESSIONS, lo_open=True))
    adtv_window_sessions: int = field(**_rng(1, MAX_SESSIONS))
    default_aum_usd: float = field(**_rng(0.0, MAX_AUM_USD, lo_open=True))
    capacity_aum_levels_usd: tuple[float, ...] = field(**_rng(0.0, MAX_AUM_USD, lo_open=True))


@dataclass(frozen=True)
class Relaxation:
    """The ladder taken, in order, only when a review is infeasible."""

    stage_tolerance_steps: tuple[float, ...] = _fraction()
    single_cap_steps: tuple[float, ...] = field(**_rng(0.0, 1.0, lo_open=True))
    reduce_liquidity_notional: bool


@dataclass(frozen=True)
class RegulatoryRule:
    """A diversification rule on issuer totals (e.g. RIC 25/50, UCITS 5/10/40), with buffers."""

    issuer_max: float = field(**_rng(0.0, 1.0, lo_open=True))
    large_threshold: float = field(**_rng(0.0, 1.0, lo_open=True))
    large_sum: float = field(**_rng(0.0, 1.0, lo_open=True))


@dataclass(frozen=True)
class Regulatory:
    mode: Literal["none", "ric", "ucits"]
    ric: RegulatoryRule
    ucits: RegulatoryRule

    @property
    def active(self) -> RegulatoryRule | None:
        """The rule in force, or None when ``mode = "none"``."""
        return None if self.mode == "none" else getattr(self, self.mode)


@dataclass(frozen=True)
class Optimizer:
    solver: str
    fallback_solvers: tuple[str, ...]
    turnover_penalty: float = field(**_rng(0.0, MAX_TURNOVER_PENALTY))


@dataclass(frozen=True)
class Schedule:
    """Quarterly review calendar (third Friday of Mar/Jun/Sep/Dec on the NYSE by default)."""

    calendar: str
    months: tuple[int, ...] = field(**_rng(1, 12))
    weekday: int = field(**_rng(0, 4))
    implementation_week: int = field(**_rng(1, 4))
    announcement_week: int = field(**_rng(1, 4))
    cutoff: Literal["last_session_previous_month", "announcement"]
    proforma_sessions: int = field(**_rng(1, 10))


@dataclass(frozen=True)
class Costs:
    """One-way transaction cost: commission plus the half-spread of the name's ADTV tier."""

    commission_bps: float = field(**_rng(0.0, MAX_COST_BPS))
    spread_tier_floors_usd: tuple[float, ...] = field(**_rng(0.0))
    half_spread_bps: tuple[float, ...] = field(**_rng(0.0, MAX_COST_BPS))


@dataclass(frozen=True)
class Fees:
    expense_ratio: float = field(**_rng(0.0, 0.1))


@dataclass(frozen=True)
class Withholding:
    """Dividend withholding rates by domicile for the net total return index."""

    as_of: str
    default: float = _fraction()
    rates: Mapping[str, float] = _fraction()

    def rate(self, domicile: str) -> float:
        return self.rates.get(domicile, self.default)


@dataclass(frozen=True)
class Methodology:
    """The whole rulebook, immutable. Load it with :func:`load_methodology`.

    Examples
    --------
    >>> import exchina_index as xi
    >>> m = xi.load_methodology()
    >>> m.caps.single
    0.08
    >>> m.with_overrides({"regulatory": {"mode": "ucits"}}).regulatory.mode
    'ucits'
    """

    version: str
    name: str
    countries: Countries
    china: China
    eligibility: Eligibility
    size: Size
    stages: Stages
    anchor: Anchor
    caps: Caps
    liquidity: Liquidity
    relaxation: Relaxation
    regulatory: Regulatory
    optimizer: Optimizer
    schedule: Schedule
    costs: Costs
    fees: Fees
    withholding: Withholding
    source: str = field(default="<dict>", compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Methodology(version={self.version!r}, source={self.source!r}, regulatory={self.regulatory.mode!r})"

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the rulebook's content (not its file bytes)."""
        text = json.dumps(self.raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def with_overrides(self, overrides: Mapping[str, Any]) -> Methodology:
        """A new rulebook with some keys replaced (nested dicts merge); validated like a file.

        Raises
        ------
        MethodologyError
            ``overrides`` is not a mapping, or the merged rulebook is invalid (naming the key).
        """
        if not isinstance(overrides, Mapping):
            raise MethodologyError(f"overrides must be a mapping of rulebook keys (like the TOML tables), "
                                   f"got {type(overrides).__name__}", path=self.source)
        merged = _merge(self.raw, overrides)
        return _build(merged, source=f"{self.source} + overrides")


# --- loading -------------------------------------------------------------------------------------


def load_methodology(path: str | Path | None = None) -> Methodology:
    """Load and validate a rulebook.

    Parameters
    ----------
    path
        A TOML file; ``None`` loads the bundled default ``methodology.toml``.

    Raises
    ------
    MethodologyError
        Unreadable or non-UTF-8 file, invalid TOML, an unknown or missing key, a value of the wrong
        type or out of range, a solver that is misspelt or not installed.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise MethodologyError(f"the rulebook path must be a file path (str or Path), got {type(path).__name__}; "
                               "to change keys of a loaded rulebook use Methodology.with_overrides")
    p = bundled_path("methodology.toml") if path is None else Path(path)
    text = read_utf8(p, lambda message, line: MethodologyError(f"cannot read the rulebook: {message}", path=p, line=line),
                     "UTF-8 TOML")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise MethodologyError(f"not valid TOML: {exc}; fix the syntax", path=p, line=line) from None
    return _build(data, source=str(p), text=text)


def resolve_methodology(methodology: Any) -> Methodology:
    """``methodology`` itself when it is a :class:`Methodology`, the bundled rulebook when ``None``.

    Raises
    ------
    MethodologyError
        For anything else (a dict, a path...): load it with :func:`load_methodology` first.
    """
    if methodology is None:
        return load_methodology()
    if isinstance(methodology, Methodology):
        return methodology
    raise MethodologyError(f"methodology must be a Methodology (from load_methodology()) or None, got "
                           f"{type(methodology).__name__}; load a rulebook file with load_methodology(path) "
                           "or change keys with .with_overrides({...})")


def check_aum(value: Any, what: str = "AUM") -> float:
    """A fund size in USD as a float: a positive finite number up to :data:`MAX_AUM_USD`.

    Numbers (not booleans) and numeric text (``"250e6"``, ``"250_000_000"``, ``"250,000,000"``)
    are accepted, so the command line and the API share one rule.

    Raises
    ------
    InputError
        Not a number, not positive, not finite or above :data:`MAX_AUM_USD`; the message names
        ``what`` and the value.

    Examples
    --------
    >>> check_aum("250_000_000")
    250000000.0
    """
    shown = short_repr(value)
    if isinstance(value, str):
        try:
            x = float(value.strip().replace("_", "").replace(",", ""))
        except ValueError:
            raise InputError(f"{what} must be an amount in USD (e.g. 250e6), got {shown}") from None
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    else:
        raise InputError(f"{what} must be an amount in USD (e.g. 250e6), got {shown}")
    if not (math.isfinite(x) and 0 < x <= MAX_AUM_USD):
        raise InputError(f"{what} must be a positive amount in USD up to {MAX_AUM_USD:.0e} "
                         f"(USD 10 trillion), got {shown}")
    return x


@functools.lru_cache(maxsize=None)
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def solver_problem(name: Any) -> str | None:
    """Why ``name`` cannot be used as a solver (misspelt, not a QP solver, not installed), or None.

    The optimizer needs a solver of quadratic programs known to cvxpy (:data:`SOLVER_MODULES`)
    whose Python package is installed; a misspelt name used to be skipped silently in favour of
    the fallback.
    """
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a solver name; use one of {', '.join(_usable())}"
    if name not in SOLVER_MODULES:
        close = difflib.get_close_matches(name.upper(), list(SOLVER_MODULES), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown solver '{name}'; {hint}installed: {', '.join(_usable())}"
    if not _installed(SOLVER_MODULES[name]):
        return (f"solver '{name}' is not installed (pip install {SOLVER_MODULES[name]}); "
                f"installed: {', '.join(_usable())}")
    return None


def _usable() -> list[str]:
    return [s for s, mod in SOLVER_MODULES.items() if _installed(mod)]


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(data: Mapping[str, Any], *, source: str, text: str | None = None) -> Methodology:
    ctx = _Ctx(source=source, text=text)
    top = {k: v for k, v in data.items()}
    m = ctx.build(Methodology, top, prefix="", skip=("source", "raw"))
    m = dataclasses.replace(m, source=source, raw=json.loads(json.dumps(data, default=str)))
    _cross_checks(m, ctx)
    return m


@dataclass
class _Ctx:
    source: str
    text: str | None

    def fail(self, key: str, message: str) -> typing.NoReturn:
        raise MethodologyError(f"key '{key}': {message}", path=self.source, line=self._line_of(key))

    def _line_of(self, dotted: str) -> int | None:
        """Best-effort physical line of a dotted key (the TOML parser does not keep positions)."""
        if not self.text:
            return None
        parts = dotted.split(".")
        lines = self.text.splitlines()
        section, leaf = ".".join(parts[:-1]), parts[-1].split("[")[0]  # "fallback_solvers[1]": its key's line
        current = ""
        for i, raw in enumerate(lines, start=1):
            s = raw.strip()
            if s.startswith("[") and s.endswith("]"):
                current = s.strip("[]").strip()
                if current == dotted:
                    return i
                continue
            if current == section and (s.startswith(leaf + " ") or s.startswith(leaf + "=")):
                return i
        # fall back to the section header
        for i, raw in enumerate(lines, start=1):
            if raw.strip() == f"[{section}]":
                return i
        return None

    def build(self, cls: type, data: Any, *, prefix: str, skip: tuple[str, ...] = ()) -> Any:
        if not isinstance(data, Mapping):
            self.fail(prefix or "<top>", f"expected a table, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
        names = {f.name for f in fields}
        for key in data:
            if not isinstance(key, str):
                self.fail(_join(prefix, repr(key)), "keys must be strings (the names of the TOML keys)")
        for key in sorted(data):
            if key not in names:
                close = _closest(key, names)
                hint = f"; did you mean '{_join(prefix, close)}'?" if close else ""
                self.fail(_join(prefix, key), f"unknown key{hint} (allowed: {', '.join(sorted(names))})")
        kwargs = {}
        for f in fields:
            dotted = _join(prefix, f.name)
            if f.name not in data:
                self.fail(dotted, "missing; add it (see the bundled methodology.toml for the default)")
            kwargs[f.name] = self.value(hints[f.name], data[f.name], dotted, f.metadata)
        return cls(**kwargs)

    def value(self, tp: Any, v: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, v, prefix=key)
        if origin is Literal:
            if not isinstance(v, str) or v not in args:
                self.fail(key, f"{short_repr(v)} is not one of {', '.join(repr(a) for a in args)}")
            return v
        if tp is bool:
            if not isinstance(v, bool):
                self.fail(key, f"expected true or false, got {short_repr(v)}")
            return v
        if tp is str:
            if not isinstance(v, str):
                self.fail(key, f"expected a string, got {short_repr(v)}")
            return v
        if tp in (int, float):
            return self.number(tp, v, key, meta)
        if origin is tuple:
            if not isinstance(v, (list, tuple)):
                self.fail(key, f"expected a list, got {short_repr(v)}")
            return tuple(self.value(args[0], x, f"{key}[{i}]", meta) for i, x in enumerate(v))
        if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
            if not isinstance(v, Mapping):
                self.fail(key, f"expected a table, got {short_repr(v)}")
            for k in v:
                if not isinstance(k, str):
                    self.fail(_join(key, repr(k)), "keys must be strings")
            return types.MappingProxyType(
                {k: self.value(args[1], v[k], _join(key, k), meta) for k in sorted(v)}
            )
        raise TypeError(f"unsupported rulebook type {tp!r} for {key}")  # a bug in this module

    def number(self, tp: type, v: Any, key: str, meta: Mapping[str, Any]) -> float | int:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            self.fail(key, f"expected a number, got {short_repr(v)}")
        try:
            x = float(v)
        except OverflowError:  # an integer beyond float range
            x = math.inf
        if not math.isfinite(x):
            self.fail(key, f"{short_repr(v)} is not allowed: give a finite number")
        if tp is int and not x.is_integer():
            self.fail(key, f"expected a whole number, got {short_repr(v)}")
        v = tp(v)
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and (v < lo or (meta.get("lo_open") and v == lo)):
            op = ">" if meta.get("lo_open") else ">="
            self.fail(key, f"{short_repr(v)} is out of range: must be {op} {lo:g}" + (f" and <= {hi:g}" if hi is not None else ""))
        if hi is not None and v > hi:
            self.fail(key, f"{short_repr(v)} is out of range: must be <= {hi:g}")
        return v


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _closest(key: str, names: set[str]) -> str | None:
    hits = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.75)
    return hits[0] if hits else None


def _check_country(ctx: _Ctx, key: str, code: str) -> None:
    # pycountry matches 'us' too, but every lookup here (universe domiciles, caps, withholding) is
    # exact: a lower-case code would be accepted and then never match anything
    if not (code.isascii() and code.isupper()) or pycountry.countries.get(alpha_2=code) is None:
        hint = f" (write it in capitals: '{code.upper()}')" if code.isascii() and code.upper() != code else ""
        ctx.fail(key, f"'{code}' is not an ISO 3166-1 alpha-2 country code{hint}")


def _cross_checks(m: Methodology, ctx: _Ctx) -> None:
    c = m.countries
    for name in c.eligible_sets:
        if name not in c.sets:
            ctx.fail("countries.eligible_sets", f"'{name}' is not a set in [countries.sets] ({', '.join(sorted(c.sets))})")
    for key, codes in [
        ("countries.extra_eligible", c.extra_eligible),
        ("countries.offshore_jurisdictions", c.offshore_jurisdictions),
        ("countries.countries_of_concern", c.countries_of_concern),
        *[(f"countries.sets.{k}", v) for k, v in c.sets.items()],
        ("caps.country", tuple(m.caps.country)),
        ("withholding.rates", tuple(m.withholding.rates)),
    ]:
        for code in codes:
            _check_country(ctx, key, code)
    kinds = {"state_linked_shareholder", "chinese_shareholder", "control", "operations_in_china", "offtake"}
    for key in ("stake_kinds", "excluding_kinds", "flagged_kinds"):
        for k in getattr(m.china, key):
            if k not in kinds:
                ctx.fail(f"china.{key}", f"unknown link kind '{k}' (known: {', '.join(sorted(kinds))})")
    s = m.stages
    if tuple(s.names) != STAGES:
        ctx.fail("stages.names", f"must list the stages {list(STAGES)} in this order")
    if len(s.targets) != len(s.names):
        ctx.fail("stages.targets", f"has {len(s.targets)} values for {len(s.names)} stages")
    if any(t < 0 for t in s.targets) or abs(sum(s.targets) - 1.0) > 1e-9:
        ctx.fail("stages.targets", f"must be >= 0 and sum to 1 (sum is {sum(s.targets)!r})")
    if m.size.market_cap_retention_usd > m.size.market_cap_entry_usd:
        ctx.fail("size.market_cap_retention_usd", "must not exceed size.market_cap_entry_usd (it is a buffer)")
    if m.size.adtv_retention_usd > m.size.adtv_entry_usd:
        ctx.fail("size.adtv_retention_usd", "must not exceed size.adtv_entry_usd (it is a buffer)")
    costs = m.costs
    if len(costs.spread_tier_floors_usd) != len(costs.half_spread_bps) or not costs.half_spread_bps:
        ctx.fail("costs.half_spread_bps", "needs one value per entry of costs.spread_tier_floors_usd")
    floors = list(costs.spread_tier_floors_usd)
    if floors != sorted(set(floors), reverse=True) or floors[-1] != 0:  # a repeated floor hides its tier
        ctx.fail("costs.spread_tier_floors_usd", f"must be strictly decreasing and end with 0, got {floors}")
    # the ladder takes a step only when it is wider than the last: a step out of order is never taken
    for key, steps in [("relaxation.stage_tolerance_steps", m.relaxation.stage_tolerance_steps),
                       ("relaxation.single_cap_steps", m.relaxation.single_cap_steps)]:
        if list(steps) != sorted(set(steps)):
            ctx.fail(key, f"must be strictly increasing (each step wider than the last), got {list(steps)}")
    if m.caps.min_weight_held > m.caps.single:
        ctx.fail("caps.min_weight_held", f"{m.caps.min_weight_held:g} is above caps.single ({m.caps.single:g}); "
                 "a floor above the cap would be cut to the cap")
    for mode in ("ric", "ucits"):
        rule = getattr(m.regulatory, mode)
        if rule.large_threshold > rule.issuer_max:
            ctx.fail(f"regulatory.{mode}.large_threshold", "must not exceed issuer_max")
    opt = m.optimizer
    for key, name in [("optimizer.solver", opt.solver),
                      *[(f"optimizer.fallback_solvers[{i}]", n) for i, n in enumerate(opt.fallback_solvers)]]:
        problem = solver_problem(name)
        if problem is not None:
            ctx.fail(key, problem)
    if m.schedule.announcement_week >= m.schedule.implementation_week:
        ctx.fail("schedule.announcement_week", f"{m.schedule.announcement_week} is not before "
                 f"schedule.implementation_week ({m.schedule.implementation_week}); a review is announced first")
    months = list(m.schedule.months)
    if not months or months != sorted(set(months)):
        ctx.fail("schedule.months", f"must list distinct months in increasing order, got {months}")
    from exchina_index.rules.calendar import MIC_CALENDAR  # lazy: pandas is not needed to read a rulebook otherwise
    from exchina_index.dates import parse_date

    if m.schedule.calendar not in MIC_CALENDAR:
        ctx.fail("schedule.calendar", f"'{m.schedule.calendar}' is not an exchange with a calendar; use one of "
                 f"{', '.join(sorted(MIC_CALENDAR))}")
    try:
        parse_date(m.withholding.as_of, "withholding.as_of")
    except ExchinaIndexError:
        ctx.fail("withholding.as_of", f"'{m.withholding.as_of}' is not an ISO date (YYYY-MM-DD)")
