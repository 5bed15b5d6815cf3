"""The state of one Yahoo load: its listings and windows, the cache, the clock, the yfinance
session, progress reporting and the notes every step adds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.cache import YahooCache
from exchina_index.data.yahoo.client import REQUEST_TIMEOUT_S, Deadline, Outcome, retrying
from exchina_index.data.yahoo.parse import unit_divisor
from exchina_index.dates import parse_date
from exchina_index.errors import DataError

__all__ = ["ONE_DAY", "SHARES_LOOKBACK_DAYS", "Listing", "Progress", "Run", "listings_of"]

log = logging.getLogger(__package__)

#: Share counts are requested from this many days before ``start`` (so a count is known at
#: ``start``), or from ``listed_since`` if later.
SHARES_LOOKBACK_DAYS = 400
ONE_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Listing:
    """One universe listing as the loader asks Yahoo for it."""

    ticker: str  # as spelled in the universe (the MarketData column)
    symbol: str  # upper-cased Yahoo symbol (the cache key)
    currency: str
    divisor: float
    start: pd.Timestamp  # first date that counts (inclusive): max(start, listed_since)
    end: pd.Timestamp  # exclusive: min(end + 1 day, delisted)
    shares_from: pd.Timestamp  # share counts are asked from here (a count known at `start`)
    exchange: str = ""  # MIC, for the sessions expected in a window


class Progress:
    """Adapts ``progress``: None, a callable ``(stage, done, total)``, or a rich ``Progress``."""

    def __init__(self, progress: Any) -> None:
        self._p = progress
        self._task: Any = None
        self._stage = ""
        self._total = 0
        self._done = 0

    def stage(self, name: str, total: int) -> None:
        self._stage, self._total, self._done = name, total, 0
        if self._p is None:
            return
        if hasattr(self._p, "add_task"):
            self._task = self._p.add_task(name, total=total)
        else:
            self._p(name, 0, total)

    def advance(self, n: int = 1) -> None:
        self._done += n
        if self._p is None:
            return
        if hasattr(self._p, "add_task"):
            self._p.update(self._task, completed=self._done)
        else:
            self._p(self._stage, self._done, self._total)


@dataclass
class Run:
    """State shared by the steps of one load."""

    cache: YahooCache | None
    yf: Any
    deadline: Deadline
    retries: int
    backoff_s: float
    today: pd.Timestamp
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive
    preflight: Callable[[], None] | None
    progress: Progress
    allow_missing: bool = False
    mics: dict[str, str] = field(default_factory=dict)  # symbol -> exchange MIC
    # symbols delisted inside the window (the universe's ``delisted``): Yahoo drops such symbols, so an
    # empty answer for them is expected and remembered for good
    delisted: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    network_used: bool = False
    session: Any = None  # passed to yfinance.Ticker when given
    end_given: bool = True  # False: ``end`` defaulted to the last complete day
    asked: set[str] = field(default_factory=set)  # "kind/symbol" of every series asked from Yahoo

    def note(self, msg: str, level: int = logging.INFO) -> None:
        """Log ``msg`` and keep it (once) for ``MarketData.notes``."""
        log.log(level, msg)
        if msg not in self.notes:
            self.notes.append(msg)

    def go_online(self) -> None:
        """Run the pre-flight check before the first network call of the load."""
        if not self.network_used:
            self.network_used = True
            if self.preflight is not None:
                self.deadline.run(self.preflight, "the pre-flight connection check")

    def ticker(self, symbol: str) -> Any:
        """``yf.Ticker(symbol)``, on the caller's session when one was given."""
        return self.yf.Ticker(symbol) if self.session is None else self.yf.Ticker(symbol, session=self.session)

    def request_timeout(self) -> float:
        """The per-request timeout for yfinance: :data:`REQUEST_TIMEOUT_S`, never past the deadline."""
        return max(1.0, min(REQUEST_TIMEOUT_S, self.deadline.remaining()))

    def retry(self, label: str, call: Callable[[], Any], *, rate_limits_only: bool = False) -> Outcome:
        """:func:`~exchina_index.data.yahoo.client.retrying` with this load's deadline, retries and backoff."""
        return retrying(
            label,
            call,
            deadline=self.deadline,
            retries=self.retries,
            backoff_s=self.backoff_s,
            rate_limits_only=rate_limits_only,
        )

    def covered_end(self, end: pd.Timestamp) -> pd.Timestamp:
        """Sessions dated today (UTC) or later are provisional: coverage stops before today."""
        return min(end, self.today)


def listings_of(frame: pd.DataFrame, s: pd.Timestamp, e: pd.Timestamp) -> tuple[dict[str, Listing], list[str]]:
    """The listings of ``frame`` traded in ``[s, e)`` by Yahoo symbol (sorted), and notes on the others."""
    out: dict[str, Listing] = {}
    notes: list[str] = []
    for ticker, row in frame.iterrows():
        sym = str(ticker).strip().upper()
        currency = str(row["currency"]).strip().upper()
        divisor = unit_divisor(sym, row.get("price_unit"), currency)
        ls = row.get("listed_since")
        dl = row.get("delisted")
        ts = max(s, parse_date(ls, f"{sym} listed_since")) if ls is not None and not pd.isna(ls) else s
        # ``delisted`` is the first date the listing no longer trades (MarketData's convention)
        te = min(e, parse_date(dl, f"{sym} delisted")) if dl is not None and not pd.isna(dl) else e
        if ts >= te:
            notes.append(
                f"{sym}: not listed between {s.date()} and {(e - ONE_DAY).date()} (listed_since/delisted); "
                "no data requested"
            )
            continue
        if sym in out:
            raise DataError(f"ticker {sym} appears twice in the universe")
        lookback = s - pd.Timedelta(days=SHARES_LOOKBACK_DAYS)
        shares_from = max(lookback, parse_date(ls, "listed_since")) if ls is not None and not pd.isna(ls) else lookback
        mic = row.get("exchange")
        mic = "" if mic is None or (isinstance(mic, float) and np.isnan(mic)) else str(mic).strip()
        out[sym] = Listing(str(ticker), sym, currency, divisor, ts, te, shares_from, mic)
    return dict(sorted(out.items())), notes
