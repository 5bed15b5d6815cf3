"""The numbers of the thematic page, computed once from a backtest result (and checkable in tests).

Summary statistics of each level series, allocation by stage, country and currency over time
(month ends and review dates), concentration and the China nexus at and between reviews, and the
last review's holdings. Per-name facts (country of classification, flags, weights) are read from
the review records, never recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.publish.backtest_series import (
    LEVEL_COLUMNS,
    clean_levels,
    frame_by_date,
    series_by_date,
)
from exchina_index.rules.methodology import STAGES
from exchina_index.simulation.performance import cagr, max_drawdown, volatility, years_between

__all__ = ["ThematicNumbers", "flags_of"]

_MAX_GROUPS = 8  # countries / currencies shown separately in the allocation charts; the rest is "Other"


def _effective_n(weights: pd.DataFrame) -> pd.Series:
    w = weights.fillna(0.0).clip(lower=0.0)
    sq = (w**2).sum(axis=1)
    return (1.0 / sq.where(sq > 0)).astype("float64")


def _sample_dates(index: pd.DatetimeIndex, extra: Sequence[pd.Timestamp] = ()) -> pd.DatetimeIndex:
    """The first date, the last date of every month and the ``extra`` dates (those in ``index``)."""
    if len(index) == 0:
        return index
    ser = pd.Series(index, index=index)
    month_ends = ser.groupby([index.year, index.month]).max()
    keep = pd.DatetimeIndex([index[0], *month_ends.to_numpy(), *[d for d in extra if d in index]])
    return keep.unique().sort_values()


def _ticker_meta(result: Any, tickers: Sequence[str]) -> pd.DataFrame:
    """name, issuer, country (of classification), currency and stage exposures by ticker.

    The country of classification is the one the review records give, the newest first (every
    review classifies the whole universe); a ticker in no review is ``"?"``.
    """
    universe = getattr(result, "universe", None)
    frame = getattr(universe, "frame", None)
    frame = pd.DataFrame(index=pd.Index([], dtype=object)) if frame is None else frame
    meta = pd.DataFrame(index=pd.Index(sorted(set(tickers) | set(frame.index), key=str), name="ticker"))
    for col in ("name", "issuer", "currency"):
        meta[col] = frame[col].reindex(meta.index).astype(object) if col in frame.columns else np.nan
    for stage in STAGES:
        meta[stage] = frame[stage].reindex(meta.index).astype("float64") if stage in frame.columns else np.nan
    country = pd.Series(np.nan, index=meta.index, dtype=object)
    for key in sorted(result.reviews, reverse=True):
        country = country.combine_first(result.reviews[key].report.names.country.reindex(meta.index).astype(object))
    meta["country"] = country
    for col in ("name", "issuer", "country", "currency"):
        meta[col] = meta[col].where(meta[col].notna(), "?").astype(str)
    meta[list(STAGES)] = meta[list(STAGES)].fillna(0.0)
    return meta


def flags_of(report: Any, index: pd.Index) -> pd.Series:
    """The China-link flags of a review record on ``index`` (empty string for none)."""
    return report.names.flags.reindex(index).fillna("").astype(str).str.strip()


def _grouped(weights: pd.DataFrame, label: pd.Series) -> pd.DataFrame:
    g = weights.T.groupby(label.reindex(weights.columns).fillna("?")).sum().T
    g = g.loc[:, (g > 0).any()]  # groups never held (e.g. excluded countries) get no legend entry
    order = sorted(g.columns, key=lambda c: (-float(g[c].mean()), str(c)))
    if len(order) > _MAX_GROUPS:
        keep, rest = order[: _MAX_GROUPS - 1], order[_MAX_GROUPS - 1 :]
        g = pd.concat([g[keep], g[rest].sum(axis=1).rename("Other")], axis=1)
    else:
        g = g[order]
    return g


def _statistics(series: dict[str, pd.Series]) -> pd.DataFrame:
    """By level series: period, first and last level, total return, CAGR, volatility, max drawdown."""
    return pd.DataFrame(
        {
            k: {
                "start": s.index[0],
                "end": s.index[-1],
                "start_level": float(s.iloc[0]),
                "end_level": float(s.iloc[-1]),
                "total_return": float(s.iloc[-1] / s.iloc[0] - 1.0),
                "cagr": cagr(s),
                "volatility": volatility(s),
                "max_drawdown": max_drawdown(s),
            }
            for k, s in series.items()
        }
    ).T


class ThematicNumbers:
    """Everything the thematic page shows, computed once from a backtest result.

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    benchmark
        Daily benchmark returns aligned on the index's dates (or ``None``); shown rebased to the
        NTR level from its first date.
    """

    def __init__(self, result: Any, benchmark: pd.Series | None) -> None:
        self.levels = lv = clean_levels(result.levels)
        targets = frame_by_date(result.weights).fillna(0.0)
        drifted = frame_by_date(result.drifted)
        drifted = drifted.loc[(drifted.index >= lv.index[0]) & (drifted.index <= lv.index[-1])].fillna(0.0)
        self.reviews = {pd.Timestamp(k): v for k, v in result.reviews.items()}
        self.review_dates = sorted(set(targets.index) | set(self.reviews))
        tickers = sorted(set(targets.columns) | set(drifted.columns), key=str)
        self.targets = targets.reindex(columns=tickers, fill_value=0.0)
        self.drifted = drifted.reindex(columns=tickers, fill_value=0.0)
        self.meta = _ticker_meta(result, tickers)
        self.turnover = series_by_date(result.turnover)
        self.costs = series_by_date(result.costs)

        self.series = {c: lv[c] for c in LEVEL_COLUMNS}
        self.benchmark_level = self._benchmark_level(benchmark)
        if self.benchmark_level is not None:
            self.series["benchmark"] = self.benchmark_level
        self.stats = _statistics(self.series)
        self.years = years_between(lv.index)

        # allocation over time (month ends + review dates)
        self.sample = _sample_dates(self.drifted.index, self.review_dates)
        d = self.drifted.loc[self.sample]
        self.stage_alloc = self._stage_allocation(d)
        self.country_alloc = _grouped(d, self.meta["country"])
        self.currency_alloc = _grouped(d, self.meta["currency"])

        # concentration
        self.effn_targets = _effective_n(self.targets)
        self.effn_drifted = _effective_n(d)
        self.names_held = (self.targets > 0).sum(axis=1)

        self._china_nexus(d)
        self._last_review()

    def _stage_allocation(self, d: pd.DataFrame) -> pd.DataFrame:
        """Stage weights of the drifted portfolio ``d``, each name split as at the last review on or
        before the date (the review records carry the splits in force at their cut-offs; before the
        first review, the first review's)."""
        keys = [k for k in self.review_dates if k in self.reviews]
        if not keys:
            return d @ self.meta.loc[d.columns, list(STAGES)]
        splits = np.stack(
            [
                self.reviews[k]
                .report.names.exposure.reindex(index=d.columns, columns=list(STAGES))
                .fillna(0.0)
                .to_numpy()
                for k in keys
            ]
        )
        at = np.clip(pd.DatetimeIndex(keys).searchsorted(d.index, side="right") - 1, 0, None)
        alloc = np.einsum("tn,tns->ts", d.to_numpy(dtype=float), splits[at])
        return pd.DataFrame(alloc, index=d.index, columns=list(STAGES))

    def _benchmark_level(self, benchmark: pd.Series | None) -> pd.Series | None:
        """The benchmark as a level, starting at the NTR level the day before its first return."""
        if benchmark is None or not len(benchmark):
            return None
        lv = self.levels
        start = lv.index[lv.index.get_indexer([benchmark.index[0]])[0] - 1]
        base = lv.loc[start, "net_total_return"]
        b = pd.concat([pd.Series([0.0], index=[start]), benchmark])
        return (base * (1.0 + b).cumprod()).rename("benchmark")

    def _china_nexus(self, d: pd.DataFrame) -> None:
        """Weight in flagged names: targets with each review's flags; drifted with the flags in force."""
        flagged_rows = {
            k: flags_of(self.reviews[k].report, self.targets.columns) != ""
            for k in self.review_dates
            if k in self.reviews
        }
        self.flagged = (
            pd.DataFrame(flagged_rows).T.reindex(columns=self.targets.columns).fillna(False).astype(bool)
            if flagged_rows
            else pd.DataFrame(False, index=self.targets.index[:0], columns=self.targets.columns)
        )
        common = self.flagged.index.intersection(self.targets.index)
        self.nexus_targets = (self.targets.loc[common] * self.flagged.loc[common]).sum(axis=1).astype("float64")
        drifted_nexus = pd.Series(0.0, index=d.index)
        if len(self.flagged):
            pos = self.flagged.index.searchsorted(d.index, side="right") - 1
            in_force = self.flagged.to_numpy()[np.clip(pos, 0, None)] & (pos >= 0)[:, None]
            drifted_nexus[:] = (d.to_numpy() * in_force).sum(axis=1)
        self.nexus_drifted = drifted_nexus

    def _last_review(self) -> None:
        """The last review's date, record and target weights."""
        self.last = max(self.reviews) if self.reviews else None
        self.last_report = None if self.last is None else self.reviews[self.last].report
        if self.last is not None and self.last in self.targets.index:
            self.last_weights = self.targets.loc[self.last]
        elif self.last_report is not None:
            self.last_weights = self.last_report.names.weight.reindex(self.targets.columns).fillna(0.0)
        elif len(self.targets):
            self.last_weights = self.targets.iloc[-1]
        else:
            self.last_weights = pd.Series(dtype="float64")
