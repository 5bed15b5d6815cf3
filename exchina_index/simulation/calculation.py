"""The daily calculation, labelled: levels with the divisor, compositions and corporate-action notices.

:func:`~exchina_index.simulation.backtest.backtest` builds it (``daily=True``, or whenever the
universe has corporate actions in the period) from the same reviews and trades as its levels, with
:func:`~exchina_index.simulation.daily.run_daily`; :mod:`exchina_index.publish.daily_files` writes it
out day by day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import ReviewDateError
from exchina_index.simulation.daily import DailyArrays

__all__ = ["DailyCalculation", "label_daily", "NOTICE_COLUMNS"]

#: Columns of the corporate-action notice table (:attr:`DailyCalculation.notices`).
NOTICE_COLUMNS: tuple[str, ...] = (
    "date", "kind", "ticker", "terms", "held", "affects", "shares_before", "shares_after",
    "price_before", "price_after", "divisor_before", "divisor_after", "level",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class DailyCalculation:
    """The index calculated from index shares and a divisor, day by day.

    Attributes
    ----------
    levels
        By date: ``price_return``, ``total_return``, ``net_total_return``, ``divisor``,
        ``constituents``.
    shares
        Index shares valuing each close (date x ticker; 0 where not held).
    reference
        USD reference price of each session's open (the previous close adjusted by the events).
    price_usd, fx, dividends
        Closes as traded times FX, FX (USD per unit of the listing's currency), and cash dividends
        per share as traded (local) on their ex-dates, date x ticker.
    after_close
        Index shares after the trades of the last close (the next session's opening, before its
        corporate actions).
    notices
        One row per corporate action on a listing of the universe in the period, and per deletion at
        the end of a line's data (:data:`NOTICE_COLUMNS`); prices are local, as traded.
    """

    levels: pd.DataFrame
    shares: pd.DataFrame
    reference: pd.DataFrame
    price_usd: pd.DataFrame
    fx: pd.DataFrame
    dividends: pd.DataFrame
    after_close: pd.Series
    notices: pd.DataFrame

    def closing(self, date: Any) -> pd.DataFrame:
        """The closing composition of ``date``: index shares, local price, FX, USD market value and
        weight of each constituent (by ticker)."""
        day = self._day(date)
        n = self.shares.loc[day]
        return _composition(n, self.price_usd.loc[day], self.fx.loc[day])

    def opening(self, date: Any) -> pd.DataFrame:
        """The opening composition of the session after ``date``: its index shares at the reference
        prices (after that session's corporate actions; after the last date, before them)."""
        day = self._day(date)
        pos = self.levels.index.get_loc(day)
        if pos + 1 < len(self.levels.index):
            nxt = self.levels.index[pos + 1]
            return _composition(self.shares.loc[nxt], self.reference.loc[nxt], self.fx.loc[day])
        return _composition(self.after_close, self.price_usd.loc[day], self.fx.loc[day])

    def _day(self, date: Any) -> pd.Timestamp:
        day = pd.Timestamp(date)
        if day not in self.levels.index or np.isnan(self.levels.at[day, "price_return"]):
            raise ReviewDateError(f"{day.date()} is not a date of the daily calculation")
        return day


def _composition(n: pd.Series, price_usd: pd.Series, fx: pd.Series) -> pd.DataFrame:
    held = n.index[n.to_numpy() > 0]
    value = n[held] * price_usd[held]
    return pd.DataFrame(
        {
            "index_shares": n[held],
            "price": price_usd[held] / fx[held],
            "fx": fx[held],
            "market_value_usd": value,
            "weight": value / value.sum(),
        }
    )


def label_daily(run: DailyArrays, dates: pd.DatetimeIndex, columns: pd.Index) -> DailyCalculation:
    """Label the arrays of :func:`~exchina_index.simulation.daily.run_daily` (``dates`` its rows)."""
    levels = pd.DataFrame(
        {
            "price_return": run.price_return,
            "total_return": run.total_return,
            "net_total_return": run.net_total_return,
            "divisor": run.divisor,
            "constituents": run.constituents,
        },
        index=dates,
    )
    price_usd = pd.DataFrame(run.price_usd, index=dates, columns=columns)
    fx = pd.DataFrame(run.fx, index=dates, columns=columns)
    rows = []
    for e in run.effects:
        t = e.row
        cols = list(e.columns)
        rate = run.fx[t - 1, cols]
        rows.append(
            {
                "date": dates[t],
                "kind": e.kind,
                "ticker": e.ticker or columns[cols[0]],
                "terms": e.detail,
                "held": e.held,
                "affects": " ".join(columns[cols]),
                "shares_before": " ".join(f"{v:.12g}" for v in e.shares_before),
                "shares_after": " ".join(f"{v:.12g}" for v in e.shares_after),
                "price_before": " ".join(f"{v:.12g}" for v in np.divide(e.price_before, rate[: len(e.price_before)])),
                "price_after": " ".join(f"{v:.12g}" for v in np.divide(e.price_after, rate[: len(e.price_after)])),
                "divisor_before": run.divisor[t - 1],
                "divisor_after": run.divisor[t],
                "level": run.price_return[t - 1],
            }
        )
    notices = pd.DataFrame(rows, columns=list(NOTICE_COLUMNS))
    return DailyCalculation(
        levels=levels,
        shares=pd.DataFrame(run.shares, index=dates, columns=columns),
        reference=pd.DataFrame(run.reference, index=dates, columns=columns),
        price_usd=price_usd,
        fx=fx,
        dividends=pd.DataFrame(run.dividend_usd / run.fx, index=dates, columns=columns).fillna(0.0),
        after_close=pd.Series(run.after_close, index=columns),
        notices=notices,
    )
