"""The rulebook's sections: one frozen dataclass per table of ``methodology.toml``.

Each field is typed; numeric fields carry their allowed range in ``metadata`` (``lo``, ``hi``,
``lo_open``), which :class:`~exchina_index.rules.typed_tables.TableReader` checks when a rulebook is
read. The limits shared with the rest of the package (fund size, costs, session counts) are named
here.
"""

from __future__ import annotations

import bisect
import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "STAGES",
    "LINK_KINDS",
    "LINK_ENDINGS",
    "STAKE_ENDINGS",
    "SHAREHOLDING_KINDS",
    "MAX_AUM_USD",
    "MAX_COST_BPS",
    "MAX_SESSIONS",
    "MAX_TURNOVER_PENALTY",
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

#: The supply-chain stages every universe row is tagged with, in their canonical order.
STAGES: tuple[str, ...] = ("mining", "refining", "manufacturing")
#: The kinds of China link (the ``kind`` column of ``china_links.csv``, named by ``[china]``).
#: ``regulatory_action`` is a government order, referral or investigation about China-linked
#: holders: flagged, never excluding, with no stake. ``domicile_of_concern`` dates a past
#: incorporation or headquarters in a country of concern of a listing domiciled elsewhere now (a
#: redomicile): screened as the domicile, ``CN_DOMICILE``, while in force.
LINK_KINDS: frozenset[str] = frozenset(
    {
        "state_linked_shareholder",
        "chinese_shareholder",
        "control",
        "operations_in_china",
        "offtake",
        "regulatory_action",
        "domicile_of_concern",
    }
)
#: The kinds that are shareholdings: under the ownership rule they stay in force until a sale or
#: dilution is shown (``ended_by`` in :data:`STAKE_ENDINGS`).
SHAREHOLDING_KINDS: frozenset[str] = frozenset({"state_linked_shareholder", "chinese_shareholder"})
#: The evidence that ends a China link (the ``ended_by`` column of ``china_links.csv``, given
#: exactly when ``to`` is): see the ownership rule in the ``[china]`` comments of the rulebook.
LINK_ENDINGS: frozenset[str] = frozenset(
    {"sold", "diluted", "transferred", "superseded", "lapsed", "delisted", "redomiciled"}
)
#: The evidence that can end a stake (a row of a kind in ``china.stake_kinds``): a sale or a
#: dilution must be shown; a lapsed right ends no stake.
STAKE_ENDINGS: frozenset[str] = LINK_ENDINGS - {"lapsed", "redomiciled"}
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


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> dict[str, Any]:
    """A field's allowed range, as its ``metadata`` (every element of a list or table is checked)."""
    return {"lo": lo, "hi": hi, "lo_open": lo_open}


_FRACTION = _range(0.0, 1.0)
_SHARE = _range(0.0, 1.0, lo_open=True)  # a cap or threshold: above 0, at most 1


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

    stake_threshold: float = field(metadata=_SHARE)
    stake_kinds: tuple[str, ...]
    excluding_kinds: tuple[str, ...]
    flagged_kinds: tuple[str, ...]


@dataclass(frozen=True)
class Eligibility:
    """Screens of the listing itself that need no market data."""

    one_line_per_issuer: bool


@dataclass(frozen=True)
class Purity:
    """How rare-earth purity enters the rules: an entry and a retention screen (a buffer), a floor
    on the index's weighted purity and a bound on the weight of low-purity names."""

    entry: float = field(metadata=_FRACTION)
    retention: float = field(metadata=_FRACTION)
    min_weighted: float = field(metadata=_FRACTION)
    low_threshold: float = field(metadata=_FRACTION)
    low_max_weight: float = field(metadata=_FRACTION)


@dataclass(frozen=True)
class Size:
    """Size and liquidity screens with entry and retention buffers."""

    market_cap_entry_usd: float = field(metadata=_range(0.0))
    market_cap_retention_usd: float = field(metadata=_range(0.0))
    adtv_entry_usd: float = field(metadata=_range(0.0))
    adtv_retention_usd: float = field(metadata=_range(0.0))
    adtv_window_sessions: int = field(metadata=_range(1, MAX_SESSIONS))
    min_history_sessions: int = field(metadata=_range(0, MAX_SESSIONS))
    stale_sessions: int = field(metadata=_range(1, MAX_SESSIONS))


@dataclass(frozen=True)
class Stages:
    """Stage targets: ``targets[i]`` is the share of ``names[i]``, measured on ``basis``: the index
    weight (``"weight"``: Σ w·stage) or its rare-earth exposure (``"exposure"``: Σ w·purity·stage
    over Σ w·purity)."""

    names: tuple[str, ...]
    targets: tuple[float, ...]
    tolerance: float = field(metadata=_FRACTION)
    basis: Literal["weight", "exposure"]

    @property
    def target_map(self) -> dict[str, float]:
        """Stage name -> its target share."""
        return dict(zip(self.names, self.targets))


@dataclass(frozen=True)
class Anchor:
    """How the uncapped anchor weights u are formed."""

    method: Literal["market_cap_purity", "liquidity", "equal"]
    use_float_factor: bool


@dataclass(frozen=True)
class Caps:
    """Weight caps (fractions of the index)."""

    single: float = field(metadata=_SHARE)
    issuer: float = field(metadata=_SHARE)
    country_default: float = field(metadata=_SHARE)
    country: Mapping[str, float] = field(metadata=_SHARE)
    min_weight_held: float = field(metadata=_FRACTION)

    def country_cap(self, code: str) -> float:
        """The cap of country ``code`` (``country_default`` when it has none of its own)."""
        return self.country.get(code, self.country_default)


@dataclass(frozen=True)
class Liquidity:
    """Liquidity cap: weight x AUM <= participation x ADTV x days_to_trade."""

    participation: float = field(metadata=_SHARE)
    days_to_trade: float = field(metadata=_range(0.0, MAX_SESSIONS, lo_open=True))
    adtv_window_sessions: int = field(metadata=_range(1, MAX_SESSIONS))
    default_aum_usd: float = field(metadata=_range(0.0, MAX_AUM_USD, lo_open=True))
    capacity_aum_levels_usd: tuple[float, ...] = field(metadata=_range(0.0, MAX_AUM_USD, lo_open=True))


@dataclass(frozen=True)
class Relaxation:
    """The ladder taken, in order, only when a review is infeasible."""

    max_stage_tolerance: float = field(metadata=_FRACTION)
    stage_tolerance_rounding: float = field(metadata=_range(0.0, 0.05))
    single_cap_steps: tuple[float, ...] = field(metadata=_SHARE)
    reduce_liquidity_notional: bool
    last_resort: bool
    last_resort_cap: float = field(metadata=_SHARE)


@dataclass(frozen=True)
class RegulatoryRule:
    """A diversification rule on issuer totals (e.g. RIC 25/50, UCITS 5/10/40), with buffers."""

    issuer_max: float = field(metadata=_SHARE)
    large_threshold: float = field(metadata=_SHARE)
    large_sum: float = field(metadata=_SHARE)


@dataclass(frozen=True)
class Regulatory:
    """The fund-diversification mode and the rules it can put in force: ``ric`` (IRC 851(b)(3)
    25/50), ``ucits`` (UCITS art. 52, 5/10/40: an ordinary UCITS) and ``ucits_index`` (art. 53,
    20/35: a UCITS that tracks an index may hold up to 20 % of one issuer, and one issuer up to 35 %,
    i.e. issuers above 20 % may sum to 35 % at most)."""

    mode: Literal["none", "ric", "ucits", "ucits_index"]
    ric: RegulatoryRule
    ucits: RegulatoryRule
    ucits_index: RegulatoryRule

    @property
    def active(self) -> RegulatoryRule | None:
        """The rule in force, or None when ``mode = "none"``."""
        return None if self.mode == "none" else getattr(self, self.mode)


@dataclass(frozen=True)
class Optimizer:
    """The solver chain and the turnover penalty of the weighting problem."""

    solver: str
    fallback_solvers: tuple[str, ...]
    turnover_penalty: float = field(metadata=_range(0.0, MAX_TURNOVER_PENALTY))


@dataclass(frozen=True)
class Schedule:
    """Quarterly review calendar (third Friday of Mar/Jun/Sep/Dec on the NYSE by default)."""

    calendar: str
    months: tuple[int, ...] = field(metadata=_range(1, 12))
    weekday: int = field(metadata=_range(0, 4))
    implementation_week: int = field(metadata=_range(1, 4))
    announcement_week: int = field(metadata=_range(1, 4))
    cutoff: Literal["last_session_previous_month", "announcement"]
    proforma_sessions: int = field(metadata=_range(1, 10))


@dataclass(frozen=True)
class Costs:
    """One-way transaction cost: commission plus the half-spread of the name's ADTV tier."""

    commission_bps: float = field(metadata=_range(0.0, MAX_COST_BPS))
    spread_tier_floors_usd: tuple[float, ...] = field(metadata=_range(0.0))
    half_spread_bps: tuple[float, ...] = field(metadata=_range(0.0, MAX_COST_BPS))


@dataclass(frozen=True)
class Fees:
    """Fund fees charged on the NAV."""

    expense_ratio: float = field(metadata=_range(0.0, 0.1))


@dataclass(frozen=True)
class RateChange:
    """One dated change of one domicile's withholding rate (an entry of ``withholding.changes``)."""

    since: str
    domicile: str
    rate: float = field(metadata=_FRACTION)


@dataclass(frozen=True)
class Withholding:
    """Dividend withholding rates by domicile for the net total return index, dated.

    ``rates`` are the rates in force at the start of the recorded history (they also stand for any
    earlier date); each of ``changes`` (in date order) sets one domicile's rate from its ``since``
    date on. A domicile in neither pays ``default``.

    Examples
    --------
    >>> w = Withholding(
    ...     as_of="2026-12-02", default=0.30, rates={"BE": 0.25},
    ...     changes=(RateChange("2016-01-01", "BE", 0.27), RateChange("2017-01-01", "BE", 0.30)))
    >>> w.rate("BE", "2016-12-31"), w.rate("BE", "2017-01-01"), w.rate("GG", "2020-06-30")
    (0.27, 0.3, 0.3)
    """

    as_of: str
    default: float = field(metadata=_FRACTION)
    rates: Mapping[str, float] = field(metadata=_FRACTION)
    changes: tuple[RateChange, ...]

    def history(self, domicile: str) -> tuple[tuple[datetime.date | None, float], ...]:
        """The rates of ``domicile`` as ``(since, rate)`` pairs in date order; the first has
        ``since = None`` (the rate before the first change, or always when none)."""
        return self._histories.get(domicile, ((None, self.default),))

    def rate(self, domicile: str, date: Any) -> float:
        """The withholding rate in force on ``date`` on dividends of a company domiciled in ``domicile``.

        Parameters
        ----------
        domicile
            ISO 3166-1 alpha-2 code (exact, capitals).
        date
            ``"YYYY-MM-DD"``, a ``datetime.date``/``datetime``, a ``pandas.Timestamp`` or a
            ``numpy.datetime64`` (see :func:`~exchina_index.dates.parse_date`).

        Raises
        ------
        ReviewDateError
            ``date`` is not a date.
        """
        from exchina_index.dates import parse_date  # lazy: pandas is not needed to read a rulebook

        day = parse_date(date, "date").date()
        steps = self.history(domicile)
        starts = [since for since, _ in steps[1:]]  # every step after the first has a date
        return steps[bisect.bisect_right(starts, day)][1]

    @functools.cached_property
    def _histories(self) -> dict[str, tuple[tuple[datetime.date | None, float], ...]]:
        out: dict[str, list[tuple[datetime.date | None, float]]] = {
            code: [(None, rate)] for code, rate in self.rates.items()
        }
        for change in sorted(self.changes, key=lambda c: c.since):  # ISO dates sort as text
            steps = out.setdefault(change.domicile, [(None, self.default)])
            steps.append((datetime.date.fromisoformat(change.since), change.rate))
        return {code: tuple(steps) for code, steps in out.items()}


@dataclass(frozen=True)
class Governance:
    """The rulebook's own dates and the rules that keep the index running between decisions.

    ``effective`` is the first implementation date this version applies to and ``announced`` the
    day its changes were announced: at least ``notice_days`` calendar days apart. A review with
    fewer than ``min_constituents`` eligible names takes ``fallback``; a deletion between reviews
    is replaced when the count falls below the floor (``replace_deletions``); a new listing whose
    full market cap (the size screen's) is at least ``fast_entry_multiple`` times the size entry threshold
    joins at the next review after ``fast_entry_min_sessions`` sessions of prices. Every eligible name
    holds at least ``min_weight`` (cut to its cap), so that the names counted are held. A suspended
    constituent is held at its last price and deleted at it after ``suspension_max_sessions``
    sessions unless a terminal corporate action comes first.
    """

    effective: str
    announced: str
    notice_days: int = field(metadata=_range(0, 3660))
    min_constituents: int = field(metadata=_range(1, 10_000))
    min_weight: float = field(metadata=_range(0.0, 0.05))
    fallback: Literal["relax_size", "hold_eligible"]
    replace_deletions: bool
    fast_entry_multiple: float = field(metadata=_range(1.0))
    fast_entry_min_sessions: int = field(metadata=_range(1, MAX_SESSIONS))
    suspension_max_sessions: int = field(metadata=_range(1, MAX_SESSIONS))
