"""The impact of a rule change: what a provider publishes with a consultation.

Two rulebooks, OLD and NEW (files in the format of ``universe/methodology.toml``, loaded and
validated by :func:`~exchina_index.rules.methodology.load_methodology`; here
:class:`~exchina_index.rules.methodology.Methodology` objects, so ``m.with_overrides({...})``
works), each get a full backtest on the **same** universe, market data and AUM, from ``start``
(default: the market's first date) to the end of the data. A review sees only data up to its
cut-off, so running to the end of the data is no look-ahead.

Composition (at ``as_of``)
    The review **in force** under each rulebook: the last one implemented on or before ``as_of``
    (its target weights ``result.weights.loc[impl]``, its ``result.reviews[impl].report``). Per
    ticker held under either: name, stage, country, purity, old and new weight, change (new − old)
    and status ``add`` / ``delete`` / ``increase`` / ``decrease`` / ``unchanged``. The weights are
    optimizer floats, so held means a weight above :data:`TOLERANCE` (1e-12) and a change of at
    most :data:`TOLERANCE` is ``unchanged`` (an exact 0 is ``unchanged``). One-way turnover of the
    switch: ½ Σ |w_new − w_old| over every ticker. A ticker's facts are those of the NEW review at
    its cut-off: ``stage`` the largest of its stage shares (the first of mining, refining,
    manufacturing on a tie), ``country`` of classification, ``purity`` in force (dated history).
Exposures
    Old, new and change, each side with the facts of its own review: ``stage`` shares on each
    rulebook's ``stages.basis`` (``exposure``: Σ w·p·s / Σ w·p, ``weight``: Σ w·s; the figures the
    stage rule bounds, the report's ``stages["after"]``; they sum to 1), ``country`` weights
    (countries held under either) and ``purity`` bucket weights, both summing to the side's total
    weight. Bucket edges: 0, both rulebooks' ``purity.low_threshold``, 50 %, 75 %, then 100 %
    (the last bucket closed): the buckets below a low threshold hold its "low-purity" names.
History
    The backtests' figures side by side (:func:`~exchina_index.research.metrics.backtest_metrics`),
    both net total-return levels and their difference (new − old) by date, and per review date
    the one-way turnover (cost, names held, capacity) under each.

Pure computation; :mod:`exchina_index.publish.impact_files` writes the files and the page.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.dates import parse_date
from exchina_index.errors import InputError, ReviewDateError
from exchina_index.research.metrics import METRIC_COLUMNS, backtest_metrics, review_capacity
from exchina_index.rules.methodology import STAGES, Methodology, resolve_methodology

__all__ = [
    "TOLERANCE",
    "STATUSES",
    "CONSTITUENT_COLUMNS",
    "RuleChangeImpact",
    "rule_change_impact",
    "impact_from_results",
    "review_in_force",
    "composition_change",
    "purity_edges",
    "purity_buckets",
]

#: Weights within this of each other (and of 0) are equal: the optimizer's floats carry noise.
TOLERANCE = 1e-12
#: The status of a ticker in the switch, in the order the constituent table lists them.
STATUSES: tuple[str, ...] = ("add", "delete", "increase", "decrease", "unchanged")
_FACTS = ("name", "stage", "country", "purity")
#: The columns of :attr:`RuleChangeImpact.constituents`.
CONSTITUENT_COLUMNS: tuple[str, ...] = ("ticker", *_FACTS, "old_weight", "new_weight", "change", "status")
_REVIEW_FIGURES = ("turnover", "cost", "names", "capacity_usd", "rulebook_capacity_usd")


@dataclass(frozen=True)
class RuleChangeImpact:
    """The impact of switching from rulebook OLD to rulebook NEW (see the module docstring).

    Attributes
    ----------
    as_of, old_review, new_review, old_cutoff, new_cutoff
        The date compared at; implementation dates and cut-offs of the reviews in force under each.
    turnover
        One-way turnover of the switch, ½ Σ |w_new − w_old|.
    constituents
        :data:`CONSTITUENT_COLUMNS`, one row per ticker held under either rulebook, ordered by
        status (:data:`STATUSES`), then by the size of the change, then by ticker.
    exposures
        ``dimension`` (stage, country, purity), ``group``, ``old``, ``new``, ``change``.
    summary
        ``section``, ``figure``, ``old``, ``new``, ``change``: the changed keys (``rule``), each
        review in force (``composition``: the capacities of ``backtest_metrics``, purity...), the
        switch (``switch``: counts and turnover, in ``change``) and the backtests' figures
        (``history``: :data:`~exchina_index.research.metrics.METRIC_COLUMNS`).
    rules
        ``key`` (dotted), ``old``, ``new`` (canonical JSON) of every rulebook key that differs.
    levels
        By date: ``old``, ``new`` net total-return levels, ``difference`` (NaN where one is missing).
    reviews
        By implementation date of either: ``old_``/``new_`` turnover, cost, names, capacity_usd.
    old_rulebook, new_rulebook
        ``name``, ``version``, ``hash``, ``source`` (the file's name) and ``solver``.
    aum, universe_fingerprint, data_fingerprint, data_source, synthetic, notes
        The shared inputs; ``notes``: the universe's, the data's and this computation's own.
    """

    as_of: pd.Timestamp
    old_review: pd.Timestamp
    new_review: pd.Timestamp
    old_cutoff: pd.Timestamp
    new_cutoff: pd.Timestamp
    turnover: float
    constituents: pd.DataFrame = field(repr=False)
    exposures: pd.DataFrame = field(repr=False)
    summary: pd.DataFrame = field(repr=False)
    rules: pd.DataFrame = field(repr=False)
    levels: pd.DataFrame = field(repr=False)
    reviews: pd.DataFrame = field(repr=False)
    old_rulebook: Mapping[str, str] = field(repr=False)
    new_rulebook: Mapping[str, str] = field(repr=False)
    aum: float = math.nan
    universe_fingerprint: str = ""
    data_fingerprint: str = ""
    data_source: str = ""
    synthetic: bool = False
    notes: tuple[str, ...] = ()


def rule_change_impact(
    universe: Any,
    market: Any,
    old: Methodology,
    new: Methodology,
    *,
    as_of: Any,
    start: Any = None,
    aum: float | None = None,
) -> RuleChangeImpact:
    """Backtest both rulebooks on the same inputs and compute the impact of the switch.

    Parameters
    ----------
    universe, market, old, new
        The shared universe and market data; the two rulebooks (``Methodology`` objects).
    as_of, start
        The date whose reviews in force are compared; the backtests' start (default: the
        market's first date).
    aum
        Fund size in USD for both backtests (default: the OLD rulebook's
        ``liquidity.default_aum_usd``: the fund is a fact, not a rule, so both run at one size;
        the notes say so when NEW's default differs).

    Raises
    ------
    ReviewDateError
        ``as_of`` not a date, outside the market data or before the first review of either rulebook.
    MethodologyError, DataError, InputError, InfeasibleError
        A rulebook that is not a Methodology; from the backtests.
    """
    from exchina_index.simulation.backtest import backtest

    m_old, m_new = resolve_methodology(old), resolve_methodology(new)
    day = parse_date(as_of, "as_of")
    dates = market.close.index
    if len(dates) and not dates[0] <= day <= dates[-1]:
        raise ReviewDateError(
            f"as_of {day.date()} is outside the market data ({dates[0].date()} to {dates[-1].date()}); "
            "give a date inside it"
        )
    first = dates[0] if start is None and len(dates) else start
    size = m_old.liquidity.default_aum_usd if aum is None else aum
    old_result = backtest(universe, market, m_old, start=first, aum=size)
    new_result = backtest(universe, market, m_new, start=first, aum=size)
    return impact_from_results(old_result, new_result, as_of=day, data_fingerprint=str(market.fingerprint))


def review_in_force(result: Any, as_of: pd.Timestamp, label: str = "the rulebook") -> pd.Timestamp:
    """The implementation date of the last review of ``result`` on or before ``as_of``.

    Raises
    ------
    ReviewDateError
        ``as_of`` is before the first review, or after the last date of the backtest.
    """
    implemented = pd.DatetimeIndex(result.weights.index)
    end = result.levels.index[-1]
    if as_of > end:
        raise ReviewDateError(
            f"as_of {as_of.date()} is after the end of the data under {label} (its backtest ends on "
            f"{end.date()}); give a date up to {end.date()}"
        )
    before = implemented[implemented <= as_of]
    if before.empty:
        raise ReviewDateError(
            f"as_of {as_of.date()} is before the first review under {label} (implemented "
            f"{implemented[0].date()}); give an as_of on or after it, or an earlier start"
        )
    return pd.Timestamp(before[-1])


def impact_from_results(old: Any, new: Any, *, as_of: Any, data_fingerprint: str = "") -> RuleChangeImpact:
    """The impact of the switch from two backtests already run on the same inputs.

    ``old`` and ``new`` are the :class:`~exchina_index.simulation.backtest.BacktestResult` of each
    rulebook; ``data_fingerprint`` the market data's, recorded (a backtest does not carry it).

    Raises
    ------
    ReviewDateError, InputError
        As :func:`review_in_force`; the two backtests were not run on the same universe.
    """
    day = parse_date(as_of, "as_of")
    u_old, u_new = old.universe, new.universe
    if u_old.fingerprint != u_new.fingerprint or not u_old.frame.index.equals(u_new.frame.index):
        raise InputError("the two backtests were run on different universes; run both rulebooks on the same one")
    so, sn = (_side(r, review_in_force(r, day, label), r.methodology) for r, label in ((old, "OLD"), (new, "NEW")))
    constituents, turnover = composition_change(so.weights, sn.weights, _ticker_facts(sn, new.universe.frame))
    edges = purity_edges(old.methodology.purity.low_threshold, new.methodology.purity.low_threshold)
    rules = rule_changes(old.methodology, new.methodology)
    notes = tuple(dict.fromkeys(old.universe.notes + old.data_notes + new.data_notes))
    if old.methodology.stages.basis != new.methodology.stages.basis:
        notes += (
            f"the stage shares are on each rulebook's basis: OLD {old.methodology.stages.basis}, "
            f"NEW {new.methodology.stages.basis}",
        )
    if new.methodology.liquidity.default_aum_usd != new.aum:  # one fund size for both (a fact, not a rule)
        notes += (f"both rulebooks run at a fund of ${new.aum:,.0f} (NEW's liquidity.default_aum_usd differs)",)
    return RuleChangeImpact(
        as_of=day,
        old_review=so.implement,
        new_review=sn.implement,
        old_cutoff=so.report.as_of,
        new_cutoff=sn.report.as_of,
        turnover=turnover,
        constituents=constituents,
        exposures=_exposures(so, sn, edges),
        summary=_summary(old, new, so, sn, constituents, turnover, rules),
        rules=rules,
        levels=_levels(old, new),
        reviews=_reviews(old, new),
        old_rulebook=_rulebook(old.methodology),
        new_rulebook=_rulebook(new.methodology),
        aum=float(new.aum),
        universe_fingerprint=str(new.universe.fingerprint),
        data_fingerprint=data_fingerprint,
        data_source=str(new.data_source),
        synthetic=bool(old.synthetic or new.synthetic),
        notes=notes,
    )


@dataclass(frozen=True)
class _Side:
    """One rulebook's review in force: its weights and the facts at its cut-off."""

    implement: pd.Timestamp
    report: Any
    weights: pd.Series
    country: pd.Series
    purity: pd.Series
    stages: pd.DataFrame
    basis: str
    days_to_trade: float


def _side(result: Any, implement: pd.Timestamp, m: Methodology) -> _Side:
    report = result.reviews[implement].report
    index = result.universe.frame.index
    weights = result.weights.loc[implement].reindex(index, fill_value=0.0).fillna(0.0).astype(float)
    purity = result.universe.facts_at(report.as_of)["purity"].reindex(index).astype(float)
    stages = report.names.exposure.reindex(index).reindex(columns=list(STAGES)).astype(float)
    country = report.names.country.reindex(index)
    return _Side(implement, report, weights, country, purity, stages, m.stages.basis, m.liquidity.days_to_trade)


def _ticker_facts(side: _Side, frame: pd.DataFrame) -> pd.DataFrame:
    """Name, dominant stage, country and purity by ticker (the facts of ``side``'s review)."""
    stage = np.asarray(STAGES, dtype=object)[np.argmax(side.stages.to_numpy(), axis=1)]
    return pd.DataFrame({"name": frame["name"], "stage": stage, "country": side.country, "purity": side.purity})


def composition_change(
    old: pd.Series, new: pd.Series, facts: pd.DataFrame | None = None, *, tolerance: float = TOLERANCE
) -> tuple[pd.DataFrame, float]:
    """The per-ticker change from weights ``old`` to ``new`` and the one-way turnover of the switch.

    ``old``, ``new``: weights by ticker (0 where a ticker is missing); ``facts``: ``name``,
    ``stage``, ``country``, ``purity`` by ticker (empty where missing); held means a weight above
    ``tolerance`` and a change within it is ``unchanged``. Returns :data:`CONSTITUENT_COLUMNS`, one
    row per ticker with a positive weight on either side, and ½ Σ |new − old| over every ticker.

    Examples
    --------
    >>> t, turnover = composition_change(pd.Series({"A": 0.5, "B": 0.5}), pd.Series({"B": 0.6, "C": 0.4}))
    >>> list(t["status"]), round(turnover, 12)
    (['add', 'delete', 'increase'], 0.5)
    """
    tickers = old.index.union(new.index, sort=False)
    tickers = pd.Index(sorted(tickers, key=str), name="ticker")
    w_old = old.reindex(tickers, fill_value=0.0).astype(float)
    w_new = new.reindex(tickers, fill_value=0.0).astype(float)
    change = w_new - w_old
    turnover = float(0.5 * np.abs(change.to_numpy()).sum())
    held_old, held_new = w_old.to_numpy() > tolerance, w_new.to_numpy() > tolerance
    status = np.select(
        [~held_old & held_new, held_old & ~held_new, np.abs(change.to_numpy()) <= tolerance, change.to_numpy() > 0],
        ["add", "delete", "unchanged", "increase"],
        default="decrease",
    )
    keep = (w_old.to_numpy() > 0) | (w_new.to_numpy() > 0)
    facts = pd.DataFrame(index=tickers) if facts is None else facts
    table = pd.DataFrame(
        {
            "ticker": tickers,
            **{c: facts[c].reindex(tickers).to_numpy() if c in facts else "" for c in _FACTS[:3]},
            "purity": facts["purity"].reindex(tickers).to_numpy(dtype=float) if "purity" in facts else np.nan,
            "old_weight": w_old.to_numpy(),
            "new_weight": w_new.to_numpy(),
            "change": change.to_numpy(),
            "status": status,
        }
    )[keep]
    size = np.where(table["status"].to_numpy() == "unchanged", 0.0, np.abs(table["change"].to_numpy()))  # no noise
    order = np.lexsort((table["ticker"].to_numpy(), -size, table["status"].map(STATUSES.index)))
    return table.iloc[order].reset_index(drop=True), turnover


def group_weights(weights: pd.Series, groups: pd.Series) -> pd.Series:
    """Σ weight by group (``groups``: a label by ticker), groups sorted."""
    labels = groups.reindex(weights.index).fillna("").astype(str)
    return weights.groupby(labels.to_numpy()).sum().sort_index()


def purity_edges(*thresholds: float) -> tuple[float, ...]:
    """The purity bucket edges: 0, the rulebooks' low thresholds, 0.5 and 0.75, sorted, then 1.

    >>> purity_edges(0.25, 0.25)
    (0.0, 0.25, 0.5, 0.75, 1.0)
    """
    inner = sorted({0.0, 0.5, 0.75, *(float(t) for t in thresholds)} - {1.0})
    return (*inner, 1.0)


def _pct_label(x: float) -> str:
    return f"{100 * x:g}%"


def _bucket_labels(edges: tuple[float, ...]) -> list[str]:
    last = len(edges) - 2
    return [
        f"[{_pct_label(lo)}, {_pct_label(hi)}{']' if i == last else ')'}"
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))
    ]


def purity_buckets(purity: pd.Series, edges: tuple[float, ...]) -> pd.Series:
    """The bucket label of each purity: ``[lo, hi)``, the last one ``[lo, 100%]``.

    >>> list(purity_buckets(pd.Series([0.1, 0.25, 1.0]), (0.0, 0.25, 1.0)))
    ['[0%, 25%)', '[25%, 100%]', '[25%, 100%]']
    """
    labels = _bucket_labels(edges)
    pos = np.searchsorted(np.asarray(edges), purity.to_numpy(dtype=float), side="right") - 1
    pos = np.clip(pos, 0, len(labels) - 1)
    return pd.Series(np.asarray(labels, dtype=object)[pos], index=purity.index)


def _stage_shares(side: _Side) -> pd.Series:
    """The stage shares of the side's weights on its rulebook's basis."""
    w = side.weights.to_numpy()
    bw = w * side.purity.fillna(0.0).to_numpy() if side.basis == "exposure" else w
    total = bw.sum() if side.basis == "exposure" else 1.0
    shares = side.stages.fillna(0.0).to_numpy().T @ bw / total if total > 0 else np.zeros(len(STAGES))
    return pd.Series(shares, index=list(STAGES))


def _exposures(old: _Side, new: _Side, edges: tuple[float, ...]) -> pd.DataFrame:
    """Old, new and change by stage, country and purity bucket (the module docstring)."""
    countries = (group_weights(old.weights, old.country), group_weights(new.weights, new.country))
    held = sorted(set(countries[0].index[countries[0] > 0]) | set(countries[1].index[countries[1] > 0]))
    buckets = tuple(group_weights(s.weights, purity_buckets(s.purity, edges)) for s in (old, new))
    parts = []
    for dimension, (o, n), order in (
        ("stage", (_stage_shares(old), _stage_shares(new)), list(STAGES)),
        ("country", countries, held),
        ("purity", buckets, _bucket_labels(edges)),
    ):
        frame = pd.DataFrame(
            {"old": o.reindex(order, fill_value=0.0).to_numpy(), "new": n.reindex(order, fill_value=0.0).to_numpy()},
            index=pd.Index(order, name="group"),
        )
        frame["change"] = frame["new"] - frame["old"]
        parts.append(frame.reset_index().assign(dimension=dimension))
    return pd.concat(parts, ignore_index=True)[["dimension", "group", "old", "new", "change"]]


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(raw):
        value = raw[key]
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def rule_changes(old: Methodology, new: Methodology) -> pd.DataFrame:
    """``key``, ``old``, ``new`` of every rulebook key (dotted) whose value differs, sorted by key;
    texts as they are, other values as canonical JSON (``""`` for a key one rulebook does not have)."""
    a, b = _flatten(old.raw), _flatten(new.raw)

    def text(d: dict[str, Any], key: str) -> str:
        value = d.get(key, "")
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)

    rows = [(k, text(a, k), text(b, k)) for k in sorted(set(a) | set(b)) if text(a, k) != text(b, k)]
    return pd.DataFrame(rows, columns=["key", "old", "new"])


def _rulebook(m: Methodology) -> dict[str, str]:
    # the file's name, not its path: the same rulebook gives the same bytes wherever it lies
    keys = ("name", "version", "hash", "solver")
    return {**dict(zip(keys, (m.name, m.version, m.hash, m.optimizer.solver))), "source": Path(str(m.source)).name}


def _composition_figures(side: _Side) -> dict[str, Any]:
    rep = side.report
    return {
        "review": side.implement.date().isoformat(),
        "cutoff": pd.Timestamp(rep.as_of).date().isoformat(),
        "names_held": int((side.weights.to_numpy() > TOLERANCE).sum()),
        "capacity_usd": review_capacity(rep, side.days_to_trade),
        "rulebook_capacity_usd": float(rep.capacity_aum),
        "weighted_purity": float(rep.purity.get("weighted", math.nan)),
        "low_purity_weight": float(rep.purity.get("low_weight", math.nan)),
        "stage_deviation": float(rep.purity.get("stage_deviation", math.nan)),
        "stage_band": float(rep.stage_band),
        "single_cap": float(rep.single_cap),
        "relaxation_steps": len(rep.relaxations),
        "relaxations": "; ".join(rep.relaxations),
    }


def _change(a: Any, b: Any) -> Any:
    """``b − a`` for two numbers (None when either is not one, or for two infinities)."""
    numbers = (int, float, np.integer, np.floating)
    if any(isinstance(x, bool) or not isinstance(x, numbers) for x in (a, b)) or (math.isinf(a) and math.isinf(b)):
        return None
    return b - a


def _summary(
    old: Any, new: Any, so: _Side, sn: _Side, constituents: pd.DataFrame, turnover: float, rules: pd.DataFrame
) -> pd.DataFrame:
    rows: list[tuple[str, str, Any, Any, Any]] = [
        ("rule", r.key, r.old, r.new, None) for r in rules.itertuples(index=False)
    ]
    co, cn = _composition_figures(so), _composition_figures(sn)
    rows += [("composition", k, co[k], cn[k], _change(co[k], cn[k])) for k in co]
    counts = constituents["status"].value_counts()
    rows += [("switch", f"{s}s" if s != "unchanged" else s, None, None, int(counts.get(s, 0))) for s in STATUSES]
    rows.append(("switch", "one_way_turnover", None, None, turnover))
    mo, mn = backtest_metrics(old), backtest_metrics(new)
    rows += [
        ("history", k, mo[k], mn[k], None if k in ("start", "end") else _change(mo[k], mn[k])) for k in METRIC_COLUMNS
    ]
    return pd.DataFrame(rows, columns=["section", "figure", "old", "new", "change"])


def _levels(old: Any, new: Any) -> pd.DataFrame:
    frame = pd.DataFrame({"old": old.levels["net_total_return"], "new": new.levels["net_total_return"]}).sort_index()
    frame["difference"] = frame["new"] - frame["old"]
    frame.index = pd.DatetimeIndex(frame.index).rename("date")
    return frame


def _review_figures(result: Any) -> pd.DataFrame:
    index, days = pd.DatetimeIndex(result.weights.index), result.methodology.liquidity.days_to_trade
    return pd.DataFrame(
        {
            "turnover": result.turnover.to_numpy(dtype=float),
            "cost": result.costs.to_numpy(dtype=float),
            "names": [int((result.weights.loc[t].to_numpy() > TOLERANCE).sum()) for t in index],
            "capacity_usd": [review_capacity(result.reviews[t].report, days) for t in index],
            "rulebook_capacity_usd": [float(result.reviews[t].report.capacity_aum) for t in index],
        },
        index=index,
    )


def _reviews(old: Any, new: Any) -> pd.DataFrame:
    frame = pd.concat(
        [_review_figures(old).add_prefix("old_"), _review_figures(new).add_prefix("new_")], axis=1
    ).sort_index()
    frame.index = pd.DatetimeIndex(frame.index).rename("implement")
    return frame[[f"{side}_{f}" for f in _REVIEW_FIGURES for side in ("old", "new")]]
