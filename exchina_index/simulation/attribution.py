"""Brinson–Fachler attribution of the index's active return against a benchmark with holdings.

The formulas and the linking: :mod:`exchina_index.simulation.brinson` (Brinson–Fachler per day,
Cariño's logarithmic linking over time).

The backtest (:func:`attribution_from_backtest`)
    The gross total-return index (dividends reinvested, gross of withholding) against the
    benchmark's total return, both in USD. The index's day-``t`` weights are ``result.drifted`` at
    ``t - 1`` and its name returns the engine's (USD price return plus dividend yield); the
    benchmark's weights are given (:func:`~exchina_index.simulation.benchmark.universe_cap_weighted_weights`)
    with ``market.returns("total")``. The effects explain ``Σ w r``; the **residual** (not
    attributed) is the reported day's active return ``TR_t − B_t`` minus the day's effects: corporate
    actions the engine follows, a held name without a market return that day (counted as 0), a day
    the index holds only cash (its whole active return), rounding. It is linked with the same
    coefficients, so effects + residual = the compounded TR return − the compounded benchmark
    return. Groups are point in time: the stage exposures and the country of classification of the
    review in force (implemented at a close before the day), a name missing from its record taking
    ``universe.facts_at(cut-off)`` splits and the universe's country of classification; the trading
    currency. Per period (the whole period, each calendar year): average
    weights are the mean start-of-day weights; a group's return compounds its daily returns over the
    days that side holds it (NaN when never).

    A benchmark that is a ticker (REMX on Yahoo) is a return series without holdings: attribution
    is not offered (:func:`~exchina_index.simulation.benchmark.spec_benchmark_weights` gives
    ``None``, and anything but a weights DataFrame here is an :class:`~exchina_index.errors.InputError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import DataError, InputError
from exchina_index.rules.methodology import STAGES
from exchina_index.simulation.brinson import DailyEffects, brinson_fachler, carino_coefficient, carino_link
from exchina_index.universe.screens import country_of_classification

__all__ = [
    "DIMENSIONS",
    "EFFECTS",
    "GROUP_COLUMNS",
    "METHOD",
    "TOTAL_COLUMNS",
    "Attribution",
    "DailyEffects",
    "attribution_from_backtest",
    "brinson_fachler",
    "carino_coefficient",
    "carino_link",
]

#: The effects of one group, in the order of every table.
EFFECTS = ("allocation", "selection", "interaction")
#: The groupings :func:`attribution_from_backtest` offers.
DIMENSIONS = ("stage", "country", "currency")
#: One line naming the method, for pages and files.
METHOD = "Brinson\u2013Fachler (allocation, selection, interaction), linked over time with Cari\u00f1o's log-linking"
#: The columns of :attr:`Attribution.groups`.
GROUP_COLUMNS = (
    *"dimension period group weight_portfolio weight_benchmark return_portfolio return_benchmark".split(),
    *EFFECTS,
    "total",
)
#: The columns of :attr:`Attribution.totals`.
TOTAL_COLUMNS = (
    *"dimension period start end days portfolio_return benchmark_return active_return".split(),
    *EFFECTS,
    "residual",
)


@dataclass(frozen=True, eq=False)
class Attribution:
    """An attribution of the index's active return (:func:`attribution_from_backtest`).

    Attributes
    ----------
    groups
        One row per dimension, period and group (:data:`GROUP_COLUMNS`): average weights, compounded
        group returns, linked effects and their sum ``total``.
    totals
        One row per dimension and period (:data:`TOTAL_COLUMNS`): the compounded returns, the active
        return, the effects summed over groups and the residual (effects + residual = active).
    daily
        The daily effects by dimension; the group labels are ``labels[dimension]``.
    labels
        The groups of each dimension, in the order of ``daily``'s columns.
    portfolio_returns, benchmark_returns
        The reported daily returns linked (the TR index, the benchmark).
    residual
        The daily residual by dimension (date × dimension).
    """

    groups: pd.DataFrame
    totals: pd.DataFrame
    daily: dict[str, DailyEffects]
    labels: dict[str, tuple[str, ...]]
    portfolio_returns: pd.Series
    benchmark_returns: pd.Series
    residual: pd.DataFrame
    method: str = METHOD

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The dimensions attributed, in order."""
        return tuple(self.daily)

    @property
    def periods(self) -> tuple[str, ...]:
        """The period labels (``"YYYY-MM-DD..YYYY-MM-DD"``): the whole period, then each calendar year."""
        return tuple(dict.fromkeys(self.totals["period"]))

    def table(self, dimension: str, period: str | None = None) -> pd.DataFrame:
        """The group rows of ``dimension`` for ``period`` (the whole period by default), by group."""
        g = self.groups
        rows = g[(g["dimension"] == dimension) & (g["period"] == (period or self.periods[0]))]
        return rows.drop(columns=["dimension", "period"]).set_index("group")

    def total(self, dimension: str, period: str | None = None) -> pd.Series:
        """The totals row of ``dimension`` for ``period`` (the whole period by default)."""
        t = self.totals
        return t[(t["dimension"] == dimension) & (t["period"] == (period or self.periods[0]))].iloc[0]


def attribution_from_backtest(
    result: Any,
    market: Any,
    benchmark_weights: pd.DataFrame,
    *,
    by: Sequence[str] = DIMENSIONS,
    benchmark_returns: pd.Series | None = None,
) -> Attribution:
    """Brinson–Fachler attribution of a backtest's TR index against a benchmark with holdings.

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    market
        The market data of the backtest (its USD price and total returns).
    benchmark_weights
        The benchmark's weights at the start of each day (date × ticker of the universe), e.g.
        :func:`~exchina_index.simulation.benchmark.universe_cap_weighted_weights`; every date of
        the index's returns needs a row.
    by
        The dimensions, from :data:`DIMENSIONS`.
    benchmark_returns
        The benchmark's reported daily returns (default: those of its weights); a difference
        goes to the residual.

    Raises
    ------
    InputError
        The benchmark is not a weights DataFrame (a ticker benchmark has no holdings), names a
        ticker outside the universe, or ``by`` names an unknown dimension.
    DataError
        The benchmark has no weights or return for a date of the index.
    """
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown or not by:
        raise InputError(f"by: unknown dimension(s) {unknown}; choose from {', '.join(DIMENSIONS)}")
    dates, cols, arrays = _inputs(result, market, benchmark_weights, benchmark_returns)
    wp, wb, rp, rb, tr, bench = arrays
    in_force = _review_in_force(result, dates)
    daily, labels, residual = {}, {}, {}
    for dim in dict.fromkeys(by):
        labels[dim], m = _membership(result, dim, cols, in_force)
        daily[dim] = brinson_fachler(wp, wb, rp, rb, m, days=dates, names=cols)
        residual[dim] = (tr - bench) - daily[dim].total.sum(axis=1)
    groups, totals = _summaries(daily, labels, residual, dates, tr, bench)
    return Attribution(
        groups=groups,
        totals=totals,
        daily=daily,
        labels=labels,
        portfolio_returns=pd.Series(tr, index=dates, name="total_return"),
        benchmark_returns=pd.Series(bench, index=dates, name="benchmark"),
        residual=pd.DataFrame(residual, index=dates),
    )


def _inputs(
    result: Any, market: Any, benchmark_weights: Any, benchmark_returns: pd.Series | None
) -> tuple[pd.DatetimeIndex, pd.Index, tuple[np.ndarray, ...]]:
    """The index's dates, the tickers, and (wp, wb, rp, rb, TR, benchmark) as arrays."""
    if not isinstance(benchmark_weights, pd.DataFrame):
        raise InputError(
            "attribution needs the benchmark's holdings, a DataFrame of daily weights (e.g. "
            f"universe_cap_weighted_weights), got {type(benchmark_weights).__name__}; a ticker benchmark "
            "(REMX) is a return series only: leave attribution out for it"
        )
    cols = result.universe.frame.index
    outside = benchmark_weights.columns.difference(cols)
    if len(outside):
        raise InputError(f"benchmark weights: ticker(s) not in the universe: {', '.join(map(str, outside[:10]))}")
    tr = result.returns["total_return"].dropna()
    dates = pd.DatetimeIndex(tr.index)
    missing = dates.difference(benchmark_weights.index)
    if len(missing):
        raise DataError(
            f"the benchmark has no weights for {len(missing)} date(s) of the index, first {missing[0].date()}; "
            "give weights over the whole backtest period"
        )
    # copies: the engine's weights are read-only, and a day in cash is overwritten below
    wp = np.array(result.drifted.reindex(columns=cols).shift(1).reindex(dates).fillna(0.0), dtype=np.float64)
    wb = np.array(benchmark_weights.reindex(index=dates, columns=cols).fillna(0.0), dtype=np.float64)
    price = market.returns("price").reindex(index=dates, columns=cols)
    total = market.returns("total").reindex(index=dates, columns=cols)
    # the engine's name returns: price return plus the dividend yield (0 where none)
    rp = (price + (total - price).fillna(0.0)).to_numpy()
    rb = total.to_numpy()
    rp, rb = np.where(wp > 0, np.nan_to_num(rp, nan=0.0), rp), np.where(wb > 0, np.nan_to_num(rb, nan=0.0), rb)
    cash = wp.sum(axis=1) == 0.0  # a day in cash: no effect, its active return is residual
    wp[cash], rp[cash] = wb[cash], rb[cash]
    bench = (np.where(wb > 0, wb * rb, 0.0)).sum(axis=1)
    if benchmark_returns is not None:
        given = benchmark_returns.reindex(dates)
        if given.isna().any():
            raise DataError(
                f"the benchmark returns miss {int(given.isna().sum())} date(s) of the index, first "
                f"{given.index[given.isna()][0].date()}; give returns over the whole backtest period"
            )
        bench = given.to_numpy(dtype=np.float64)
    return dates, cols, (wp, wb, rp, rb, tr.to_numpy(dtype=np.float64), bench)


def _review_in_force(result: Any, dates: pd.DatetimeIndex) -> tuple[list[Any], np.ndarray]:
    """The review records by implementation date, and for each day the position of the one in
    force: implemented at a close before the day (the first review before its own first day)."""
    keys = sorted(result.reviews)
    if not keys:
        raise DataError("the backtest has no review record, so no point-in-time groups; rerun the backtest")
    at = pd.DatetimeIndex(keys).searchsorted(dates, side="left") - 1
    return [result.reviews[k].report for k in keys], np.clip(at, 0, None)


def _membership(
    result: Any, dim: str, cols: pd.Index, in_force: tuple[list[Any], np.ndarray]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The groups of ``dim`` and the membership matrix: (N, G), or (T, N, G) when point in time."""
    universe = result.universe
    reports, at = in_force
    if dim == "currency":
        # the universe's currency is an ISO code (pence quotes are its price_unit, not its currency)
        cur = universe.frame["currency"].reindex(cols).astype(object).fillna("?").astype(str)
        labels = tuple(sorted(set(cur)))
        return labels, (cur.to_numpy()[:, None] == np.array(labels, dtype=object)[None, :]).astype(np.float64)
    if dim == "stage":
        stack = np.stack([_stage_splits(universe, rep, cols) for rep in reports])
        return tuple(STAGES), stack[at]
    fallback = country_of_classification(universe.frame, result.methodology).reindex(cols)
    countries = [rep.names.country.reindex(cols).combine_first(fallback).fillna("?").astype(str) for rep in reports]
    labels = tuple(sorted({c for country in countries for c in country}))
    lab = np.array(labels, dtype=object)
    stack = np.stack([(c.to_numpy(dtype=object)[:, None] == lab[None, :]).astype(np.float64) for c in countries])
    return labels, stack[at]


def _stage_splits(universe: Any, report: Any, cols: pd.Index) -> np.ndarray:
    """(N, 3) stage exposures of a review record, names it lacks from the facts at its cut-off."""
    split = report.names.exposure.reindex(index=cols, columns=list(STAGES))
    if split.isna().any().any():
        facts = universe.facts_at(report.as_of).reindex(index=cols, columns=list(STAGES))
        split = split.combine_first(facts)
    return split.fillna(0.0).to_numpy(dtype=np.float64)


def _summaries(
    daily: dict[str, DailyEffects],
    labels: dict[str, tuple[str, ...]],
    residual: dict[str, np.ndarray],
    dates: pd.DatetimeIndex,
    tr: np.ndarray,
    bench: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The group rows and the totals rows of every dimension, for the whole period and each year."""
    periods = [np.ones(len(dates), dtype=bool)] + [dates.year == y for y in sorted(set(dates.year))]
    group_rows: list[tuple[Any, ...]] = []
    total_rows: list[tuple[Any, ...]] = []
    for dim, e in daily.items():
        order = _group_order(dim, e, labels[dim])
        for mask in periods:
            days = dates[mask]
            label = f"{days[0]:%Y-%m-%d}..{days[-1]:%Y-%m-%d}"
            linked = {x: carino_link(getattr(e, x)[mask], tr[mask], bench[mask]) for x in EFFECTS}
            wp, wb = e.weight_portfolio[mask], e.weight_benchmark[mask]
            rp_g = _compound(e.return_portfolio[mask], wp > 0)
            rb_g = _compound(e.return_benchmark[mask], wb > 0)
            for j in order:
                effects = [float(linked[x][j]) for x in EFFECTS]
                values = (wp[:, j].mean(), wb[:, j].mean(), rp_g[j], rb_g[j], *effects, sum(effects))
                group_rows.append((dim, label, labels[dim][j], *map(float, values)))
            p, b = float(np.prod(1.0 + tr[mask]) - 1.0), float(np.prod(1.0 + bench[mask]) - 1.0)
            sums = [float(linked[x][order].sum()) for x in EFFECTS]
            res = float(carino_link(residual[dim][mask], tr[mask], bench[mask]))
            total_rows.append((dim, label, days[0], days[-1], int(mask.sum()), p, b, p - b, *sums, res))
    return pd.DataFrame(group_rows, columns=list(GROUP_COLUMNS)), pd.DataFrame(total_rows, columns=list(TOTAL_COLUMNS))


def _group_order(dim: str, e: DailyEffects, labels: tuple[str, ...]) -> list[int]:
    """The groups held by either side over the whole period: stages in rulebook order, others by
    average weight (index + benchmark, largest first), then label."""
    size = e.weight_portfolio.mean(axis=0) + e.weight_benchmark.mean(axis=0)
    held = [
        j for j in range(len(labels)) if (e.weight_portfolio[:, j] > 0).any() or (e.weight_benchmark[:, j] > 0).any()
    ]
    if dim == "stage":
        return held
    return sorted(held, key=lambda j: (-float(size[j]), labels[j]))


def _compound(returns: np.ndarray, held: np.ndarray) -> list[float]:
    """Each column's daily returns compounded over the days it is held (NaN when never)."""
    growth = np.where(held, 1.0 + returns, 1.0).prod(axis=0) - 1.0
    return np.where(np.any(held, axis=0), growth, np.nan).tolist()
