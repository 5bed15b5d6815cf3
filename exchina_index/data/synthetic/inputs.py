"""The model's inputs: the universe columns it reads as arrays, the union of the exchange sessions,
the listing lives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from exchina_index.errors import DataError
from exchina_index.rules.calendar import calendar_of, sessions

__all__ = ["Listings", "SessionGrid", "session_grid", "listing_lives", "last_sessions"]


@dataclass(frozen=True)
class Listings:
    """The universe columns the model reads, as arrays with one entry per listing (sorted by ticker)."""

    tickers: list[str]
    exchange: np.ndarray
    currency: np.ndarray
    primary: np.ndarray
    purity: np.ndarray
    stages: np.ndarray  # (n, 3) mining, refining, manufacturing
    issuer_names: list[str]  # sorted; issuer k of the model
    issuer: np.ndarray  # each listing's issuer k
    home_of_issuer: np.ndarray  # each issuer's home line (its primary line if it has one)
    home: np.ndarray  # each listing's home line
    beta: np.ndarray  # each listing's loading on the common factor (from its home line's purity)
    stage_loadings: np.ndarray  # (n, 3) each listing's stage exposures (its home line's)

    @classmethod
    def of(cls, f: pd.DataFrame) -> Listings:
        """The arrays of a universe frame sorted by ticker; an issuer's home line is its first primary line."""
        issuers = f["issuer"].astype(str).to_numpy()
        primary = f["primary"].astype(bool).to_numpy()
        issuer_names = sorted(set(issuers))
        home: dict[str, int] = {}
        for j in np.argsort(~primary, kind="stable"):  # primary lines first, then the rest
            home.setdefault(issuers[j], int(j))
        home_idx = np.array([home[i] for i in issuers])
        stages = f[["mining", "refining", "manufacturing"]].to_numpy(dtype=float)
        purity = f["purity"].to_numpy(dtype=float)
        return cls(
            tickers=[str(t) for t in f.index],
            exchange=f["exchange"].astype(str).to_numpy(),
            currency=f["currency"].astype(str).to_numpy(),
            primary=primary,
            purity=purity,
            stages=stages,
            issuer_names=issuer_names,
            issuer=pd.Index(issuer_names).get_indexer(issuers),
            home_of_issuer=np.array([home[i] for i in issuer_names]),
            home=home_idx,
            beta=0.3 + 0.7 * purity[home_idx],
            stage_loadings=stages[home_idx],
        )


@dataclass(frozen=True)
class SessionGrid:
    """The union of the listings' exchange sessions: the rows of every generated frame."""

    sessions: np.ndarray  # as the calendars give them
    days: np.ndarray  # datetime64[D]
    own: np.ndarray  # (T, n): the session is one of the listing's exchange's
    month: np.ndarray
    day: np.ndarray
    month_key: np.ndarray  # year * 12 + month


def session_grid(exchange: np.ndarray, lo: pd.Timestamp, hi: pd.Timestamp) -> SessionGrid:
    """The union of the sessions in ``[lo, hi]`` of the exchanges in ``exchange`` (one MIC per listing).

    Raises
    ------
    DataError
        Fewer than two sessions in the range.
    """
    cals = np.array([calendar_of(m) for m in exchange])
    cal_days = {c: sessions(c, lo, hi).to_numpy() for c in sorted(set(cals))}
    union = np.unique(np.concatenate(list(cal_days.values())))
    if len(union) < 2:
        raise DataError(f"no trading sessions between {lo.date()} and {hi.date()}")
    own = np.zeros((len(union), len(exchange)), dtype=bool)
    for c, days in cal_days.items():
        own[:, cals == c] = np.isin(union, days)[:, None]
    days = union.astype("datetime64[D]")
    cal = pd.DatetimeIndex(days)
    month = cal.month.to_numpy()
    return SessionGrid(
        sessions=union,
        days=days,
        own=own,
        month=month,
        day=cal.day.to_numpy(),
        month_key=cal.year.to_numpy() * 12 + month,
    )


def listing_lives(f: pd.DataFrame, grid: SessionGrid) -> np.ndarray:
    """(T, n): own sessions from ``listed_since`` to the day before ``delisted``."""
    since = pd.to_datetime(f["listed_since"]).to_numpy().astype("datetime64[D]")
    delisted = pd.to_datetime(f["delisted"]).to_numpy().astype("datetime64[D]")
    life = grid.own & (grid.days[:, None] >= since[None, :])
    has_d = ~np.isnat(delisted)
    life[:, has_d] &= grid.days[:, None] < delisted[None, has_d]
    return life


def last_sessions(life: np.ndarray) -> np.ndarray:
    """Row of each listing's last session (0 for a listing without any)."""
    return np.where(life.any(axis=0), len(life) - 1 - life[::-1].argmax(axis=0), 0)
