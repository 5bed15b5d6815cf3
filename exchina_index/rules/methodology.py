"""The rulebook: loading and validating ``methodology.toml`` into an immutable :class:`Methodology`.

Every table of the TOML file maps to a frozen dataclass of :mod:`~exchina_index.rules.sections`;
every key is typed and range-checked (:mod:`~exchina_index.rules.typed_tables`), then the checks
across keys below run. Unknown keys, missing keys and out-of-range values raise
:class:`MethodologyError` naming the file, the line (where it can be found) and the dotted key.

The section classes, the vocabularies and limits (``STAGES``, ``LINK_KINDS``, ``LINK_ENDINGS``,
``STAKE_ENDINGS``, ``MAX_*``) and the
value checks (:func:`check_aum`, :func:`solver_problem`) are importable from here too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pycountry

from exchina_index._files import read_utf8
from exchina_index._resources import bundled_path
from exchina_index.errors import ExchinaIndexError, MethodologyError
from exchina_index.rules.checks import SOLVER_MODULES, check_aum, solver_problem
from exchina_index.rules.sections import (
    LINK_ENDINGS,
    LINK_KINDS,
    MAX_AUM_USD,
    MAX_COST_BPS,
    MAX_SESSIONS,
    MAX_TURNOVER_PENALTY,
    SHAREHOLDING_KINDS,
    STAGES,
    STAKE_ENDINGS,
    Anchor,
    Caps,
    China,
    Costs,
    Countries,
    Eligibility,
    Fees,
    Governance,
    Liquidity,
    Optimizer,
    Purity,
    RateChange,
    Regulatory,
    RegulatoryRule,
    Relaxation,
    Schedule,
    Size,
    Stages,
    Withholding,
)
from exchina_index.rules.typed_tables import TableReader

__all__ = [
    "Methodology",
    "load_methodology",
    "resolve_methodology",
    "check_aum",
    "solver_problem",
    "STAGES",
    "LINK_KINDS",
    "LINK_ENDINGS",
    "STAKE_ENDINGS",
    "MAX_AUM_USD",
    "MAX_COST_BPS",
    "MAX_SESSIONS",
    "MAX_TURNOVER_PENALTY",
    "SOLVER_MODULES",
    "Countries",
    "China",
    "Eligibility",
    "Purity",
    "Size",
    "Stages",
    "Anchor",
    "Caps",
    "Liquidity",
    "Relaxation",
    "RegulatoryRule",
    "Regulatory",
    "Optimizer",
    "Schedule",
    "Costs",
    "Fees",
    "RateChange",
    "Withholding",
    "Governance",
]


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
    purity: Purity
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
    governance: Governance
    source: str = field(default="<dict>", compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Methodology(version={self.version!r}, source={self.source!r}, regulatory={self.regulatory.mode!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled as its content and rebuilt (validated again) on loading: its tables hold read-only
        # mappings, which do not pickle; a sweep sends rulebooks to Dask workers this way
        return (_from_raw, (dict(self.raw), self.source))

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
            raise MethodologyError(
                f"overrides must be a mapping of rulebook keys (like the TOML tables), got {type(overrides).__name__}",
                path=self.source,
            )
        merged = _merge(self.raw, overrides)
        return _build(merged, source=f"{self.source} + overrides")


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
        raise MethodologyError(
            f"the rulebook path must be a file path (str or Path), got {type(path).__name__}; "
            "to change keys of a loaded rulebook use Methodology.with_overrides"
        )
    p = bundled_path("methodology.toml") if path is None else Path(path)
    text = read_utf8(
        p,
        lambda message, line: MethodologyError(f"cannot read the rulebook: {message}", path=p, line=line),
        "UTF-8 TOML",
    )
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
    raise MethodologyError(
        f"methodology must be a Methodology (from load_methodology()) or None, got "
        f"{type(methodology).__name__}; load a rulebook file with load_methodology(path) "
        "or change keys with .with_overrides({...})"
    )


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_raw(raw: Mapping[str, Any], source: str) -> Methodology:
    return _build(raw, source=source)


def _build(data: Mapping[str, Any], *, source: str, text: str | None = None) -> Methodology:
    reader = TableReader(source=source, text=text)
    m = reader.build(Methodology, dict(data), prefix="", skip=("source", "raw"))
    m = dataclasses.replace(m, source=source, raw=json.loads(json.dumps(data, default=str)))
    for check in (
        _check_countries,
        _check_china,
        _check_stages_and_size,
        _check_costs_and_caps,
        _check_optimizer,
        _check_schedule,
        _check_withholding,
        _check_governance,
    ):
        check(m, reader)
    return m


# --- checks across keys (each key alone was checked by the TableReader) ----------------------------


def _check_country(reader: TableReader, key: str, code: str) -> None:
    # pycountry matches 'us' too, but every lookup here (universe domiciles, caps, withholding) is
    # exact: a lower-case code would be accepted and then never match anything
    if not (code.isascii() and code.isupper()) or pycountry.countries.get(alpha_2=code) is None:
        hint = f" (write it in capitals: '{code.upper()}')" if code.isascii() and code.upper() != code else ""
        reader.fail(key, f"'{code}' is not an ISO 3166-1 alpha-2 country code{hint}")


def _check_countries(m: Methodology, reader: TableReader) -> None:
    c = m.countries
    for name in c.eligible_sets:
        if name not in c.sets:
            reader.fail(
                "countries.eligible_sets", f"'{name}' is not a set in [countries.sets] ({', '.join(sorted(c.sets))})"
            )
    for key, codes in [
        ("countries.extra_eligible", c.extra_eligible),
        ("countries.offshore_jurisdictions", c.offshore_jurisdictions),
        ("countries.countries_of_concern", c.countries_of_concern),
        *[(f"countries.sets.{k}", v) for k, v in c.sets.items()],
        ("caps.country", tuple(m.caps.country)),
        ("withholding.rates", tuple(m.withholding.rates)),
        *[(f"withholding.changes[{i}].domicile", (c.domicile,)) for i, c in enumerate(m.withholding.changes)],
    ]:
        for code in codes:
            _check_country(reader, key, code)


def _check_china(m: Methodology, reader: TableReader) -> None:
    for key in ("stake_kinds", "excluding_kinds", "flagged_kinds"):
        for k in getattr(m.china, key):
            if k not in LINK_KINDS:
                reader.fail(f"china.{key}", f"unknown link kind '{k}' (known: {', '.join(sorted(LINK_KINDS))})")
    other = sorted(set(m.china.stake_kinds) - SHAREHOLDING_KINDS)
    if other:  # the ownership rule (a stake stays in force until its end is shown) holds for shareholdings
        reader.fail(
            "china.stake_kinds",
            f"'{other[0]}' is not a shareholding kind: stakes that add up must be one of "
            f"{', '.join(sorted(SHAREHOLDING_KINDS))}",
        )


def _check_stages_and_size(m: Methodology, reader: TableReader) -> None:
    s = m.stages
    if tuple(s.names) != STAGES:
        reader.fail("stages.names", f"must list the stages {list(STAGES)} in this order")
    if len(s.targets) != len(s.names):
        reader.fail("stages.targets", f"has {len(s.targets)} values for {len(s.names)} stages")
    if any(t < 0 for t in s.targets) or abs(sum(s.targets) - 1.0) > 1e-9:
        reader.fail("stages.targets", f"must be >= 0 and sum to 1 (sum is {sum(s.targets)!r})")
    if m.purity.retention > m.purity.entry:
        reader.fail("purity.retention", "must not exceed purity.entry (it is a buffer)")
    if m.size.market_cap_retention_usd > m.size.market_cap_entry_usd:
        reader.fail("size.market_cap_retention_usd", "must not exceed size.market_cap_entry_usd (it is a buffer)")
    if m.size.adtv_retention_usd > m.size.adtv_entry_usd:
        reader.fail("size.adtv_retention_usd", "must not exceed size.adtv_entry_usd (it is a buffer)")


def _check_costs_and_caps(m: Methodology, reader: TableReader) -> None:
    costs = m.costs
    if len(costs.spread_tier_floors_usd) != len(costs.half_spread_bps) or not costs.half_spread_bps:
        reader.fail("costs.half_spread_bps", "needs one value per entry of costs.spread_tier_floors_usd")
    floors = list(costs.spread_tier_floors_usd)
    if floors != sorted(set(floors), reverse=True) or floors[-1] != 0:  # a repeated floor hides its tier
        reader.fail("costs.spread_tier_floors_usd", f"must be strictly decreasing and end with 0, got {floors}")
    # the ladder takes a step only when it is wider than the last: a step out of order is never taken
    steps = list(m.relaxation.single_cap_steps)
    if steps != sorted(set(steps)):
        reader.fail(
            "relaxation.single_cap_steps", f"must be strictly increasing (each step wider than the last), got {steps}"
        )
    if m.caps.min_weight_held > m.caps.single:
        reader.fail(
            "caps.min_weight_held",
            f"{m.caps.min_weight_held:g} is above caps.single ({m.caps.single:g}); "
            "a floor above the cap would be cut to the cap",
        )
    for mode in ("ric", "ucits", "ucits_index"):
        rule = getattr(m.regulatory, mode)
        if rule.large_threshold > rule.issuer_max:
            reader.fail(f"regulatory.{mode}.large_threshold", "must not exceed issuer_max")


def _check_optimizer(m: Methodology, reader: TableReader) -> None:
    opt = m.optimizer
    for key, name in [
        ("optimizer.solver", opt.solver),
        *[(f"optimizer.fallback_solvers[{i}]", n) for i, n in enumerate(opt.fallback_solvers)],
    ]:
        problem = solver_problem(name)
        if problem is not None:
            reader.fail(key, problem)


def _check_schedule(m: Methodology, reader: TableReader) -> None:
    from exchina_index.rules.calendar import MIC_CALENDAR  # lazy: pandas is not needed to read a rulebook otherwise

    sch = m.schedule
    if sch.announcement_week >= sch.implementation_week:
        reader.fail(
            "schedule.announcement_week",
            f"{sch.announcement_week} is not before "
            f"schedule.implementation_week ({sch.implementation_week}); a review is announced first",
        )
    months = list(sch.months)
    if not months or months != sorted(set(months)):
        reader.fail("schedule.months", f"must list distinct months in increasing order, got {months}")
    if sch.calendar not in MIC_CALENDAR:
        reader.fail(
            "schedule.calendar",
            f"'{sch.calendar}' is not an exchange with a calendar; use one of {', '.join(sorted(MIC_CALENDAR))}",
        )


def _check_withholding(m: Methodology, reader: TableReader) -> None:
    """``as_of`` and every change's date are ISO dates; changes are in date order, each domicile's
    strictly increasing, and each one changes the rate in force."""
    from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date  # lazy, as in _check_schedule

    w = m.withholding
    try:
        parse_date(w.as_of, "withholding.as_of")
    except ExchinaIndexError:
        reader.fail("withholding.as_of", f"'{w.as_of}' is not an ISO date (YYYY-MM-DD)")
    in_force = dict(w.rates)
    last: dict[str, str] = {}
    for i, change in enumerate(w.changes):
        key = f"withholding.changes[{i}]"
        try:
            parse_date(change.since, f"{key}.since")  # text: only YYYY-MM-DD is accepted
        except ExchinaIndexError:
            _fail_change(
                reader,
                i,
                f"{key}.since",
                f"'{change.since}' is not an ISO date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE}",
            )
        if i and change.since < w.changes[i - 1].since:
            _fail_change(
                reader,
                i,
                f"{key}.since",
                f"{change.since} comes before the change above it ({w.changes[i - 1].since}); "
                "list the changes in date order",
            )
        if last.get(change.domicile) == change.since:
            _fail_change(
                reader,
                i,
                f"{key}.since",
                f"{change.domicile} already changes on {change.since}; keep one line per date",
            )
        before = in_force.get(change.domicile, w.default)
        if change.rate == before:
            _fail_change(
                reader,
                i,
                f"{key}.rate",
                f"{change.rate:g} is the rate {change.domicile} already has before {change.since}; "
                "a change must change the rate (remove the line)",
            )
        in_force[change.domicile] = change.rate
        last[change.domicile] = change.since


def _check_governance(m: Methodology, reader: TableReader) -> None:
    """``announced`` and ``effective`` are ISO dates at least ``notice_days`` apart."""
    from exchina_index.dates import parse_date  # lazy, as in _check_schedule

    g = m.governance
    days = {}
    for key in ("effective", "announced"):
        try:  # text: only YYYY-MM-DD is accepted (not 20270319 or a week date)
            days[key] = parse_date(getattr(g, key), f"governance.{key}").date()
        except ExchinaIndexError:
            reader.fail(f"governance.{key}", f"{getattr(g, key)!r} is not a date; write YYYY-MM-DD")
    gap = (days["effective"] - days["announced"]).days
    if gap < g.notice_days:
        reader.fail(
            "governance.effective",
            f"{g.effective} is {gap} days after governance.announced ({g.announced}), less than the "
            f"notice period of {g.notice_days} days: announce earlier or take effect later",
        )


def _fail_change(reader: TableReader, i: int, key: str, message: str) -> NoReturn:
    """Raise for entry ``i`` of ``withholding.changes``, naming the line of that entry when found."""
    raise MethodologyError(f"key '{key}': {message}", path=reader.source, line=_change_line(reader.text, i))


def _change_line(text: str | None, i: int) -> int | None:
    """The line of entry ``i`` of ``withholding.changes`` (one inline table a line), if found."""
    if not text:
        return None
    section, inside, seen = "", False, -1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and not inside:
            section = line.strip("[]").strip()
        elif section == "withholding" and line.startswith("changes"):
            inside = True
        if inside and "{" in line:
            seen += 1
            if seen == i:
                return number
        if inside and line.endswith("]"):
            return None
    return None
