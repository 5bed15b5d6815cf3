"""Public reference points for the synthetic market: the bundled ``universe/market_reference.csv``.

Each row gives, for one listing at one date, its equity market value and/or its average daily traded
value in USD from a public source (format: ``ticker,date,market_cap_usd,adtv_usd,source,notes``).
:func:`load_market_reference` reads and validates the file; :func:`line_anchors` turns the rows into
the rows of the generator's session grid where each line's paths are pinned
(:mod:`~exchina_index.data.synthetic.series` applies them):

* **market cap**: issuer-level (all lines of an issuer share one path); the issuer's log market cap
  gets a piecewise-linear correction through the residuals at the reference dates, flat before the
  first and after the last (a bridge on top of the random path), so the generated cap (close x
  shares in USD, as :class:`~exchina_index.data.market.MarketData` computes it) passes through each
  reference point. Within :data:`CAP_TOLERANCE` (tested; the remaining error is the float32 close,
  rounded share counts and a zero-volume session held at the reference date);
* **ADTV**: per line; the line's turnover is scaled by a factor interpolated in logs between the
  reference dates (flat outside them) and solved so that the mean USD traded value over the last
  :data:`ADTV_WINDOW` priced sessions to each reference date is the reference value, within
  :data:`ADTV_TOLERANCE`.

Reference dates before a line's first session or after its last one are ignored. Lines without
reference points keep the uncalibrated model exactly (their random streams do not change).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exchina_index._resources import bundled_path
from exchina_index.universe.csv_table import Row, read_rows, read_text

__all__ = [
    "REFERENCE_COLUMNS",
    "CAP_TOLERANCE",
    "ADTV_TOLERANCE",
    "ADTV_WINDOW",
    "LineAnchors",
    "load_market_reference",
    "line_anchors",
    "bridge",
]

#: Columns of ``market_reference.csv``, in order.
REFERENCE_COLUMNS = ("ticker", "date", "market_cap_usd", "adtv_usd", "source", "notes")
#: Largest relative gap between a generated market cap and its reference point (|gen / ref - 1|).
CAP_TOLERANCE = 0.20
#: Largest relative gap between a generated 63-session ADTV and its reference point.
ADTV_TOLERANCE = 0.35
#: Sessions of the ADTV that is calibrated: the bundled rulebook's 3-month window (fixed here, not
#: read from a rulebook override: the demo market is one market whatever the rulebook).
ADTV_WINDOW = 63
_MAX_USD = 1e14  # USD 100 trillion: anything larger is a typo
_URL = re.compile(r"https?://\S+")


def load_market_reference(path: str | Path | None = None, tickers: Iterable[str] | None = None) -> pd.DataFrame:
    """The reference points of ``path`` (default: the bundled ``market_reference.csv``), validated.

    Parameters
    ----------
    path
        A CSV file in the format above (``#`` comment lines at the top only).
    tickers
        The universe's tickers; when given, every row's ticker must be one of them.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REFERENCE_COLUMNS` in order, one row per (ticker, date), sorted by ticker and
        date; ``date`` a Timestamp; ``market_cap_usd``/``adtv_usd`` floats, NaN when empty.

    Raises
    ------
    UniverseError
        Naming the file, line and column: a missing or unknown column, an empty ticker, a ticker not
        in ``tickers``, a date that is not ISO ``YYYY-MM-DD``, a figure that is not a positive number,
        a row with neither figure, a source without a URL, or a (ticker, date) given twice.

    Examples
    --------
    >>> ref = load_market_reference()
    >>> list(ref.columns) == list(REFERENCE_COLUMNS) and bool((ref["source"].str.len() > 0).all())
    True
    """
    p = bundled_path("market_reference.csv") if path is None else Path(path)
    known = None if tickers is None else set(tickers)
    records = []
    seen: dict[tuple[str, pd.Timestamp], int] = {}
    for line, values in read_rows(p, read_text(p), REFERENCE_COLUMNS):
        row = Row(p, line, values)
        ticker = row.text("ticker")
        if known is not None and ticker not in known:
            raise row.fail("ticker", f"'{ticker}' is not in the universe; fix the ticker or add the listing first")
        date = row.date("date")
        cap, adtv = _usd(row, "market_cap_usd"), _usd(row, "adtv_usd")
        if math.isnan(cap) and math.isnan(adtv):
            raise row.fail("market_cap_usd", "and adtv_usd are both empty; give at least one figure or drop the row")
        source = row.text("source")
        if not _URL.search(source):
            raise row.fail(
                "source", "holds no URL; give the address (http:// or https://) of the page the figure is from"
            )
        key = (ticker, date)
        if key in seen:
            raise row.fail("date", f"{ticker} {date.date()} is already given on line {seen[key]}; keep one row")
        seen[key] = line
        records.append((ticker, date, cap, adtv, source, row.text("notes", required=False)))
    out = pd.DataFrame.from_records(records, columns=list(REFERENCE_COLUMNS))
    out["date"] = pd.to_datetime(out["date"])
    out[["market_cap_usd", "adtv_usd"]] = out[["market_cap_usd", "adtv_usd"]].astype(float)
    return out.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)


def _usd(row: Row, column: str) -> float:
    """A positive USD figure of the row, NaN when the cell is empty."""
    if not row.values.get(column, ""):
        return math.nan
    value = row.number(column, 0.0, _MAX_USD)
    if value <= 0:
        raise row.fail(column, "must be a positive number of USD (leave it empty when not known)")
    return value


@dataclass(frozen=True)
class LineAnchors:
    """Where each line's paths are pinned: ``{line j: (grid rows, targets)}``, rows increasing.

    ``cap`` targets are log market caps (USD) of the line's issuer, ``adtv`` targets are USD.
    ``size`` is each issuer's latest reference market cap (NaN without one): the generator draws
    the issuer's size-dependent numbers (volatility, turnover range, price level) from it.
    """

    cap: dict[int, tuple[np.ndarray, np.ndarray]]
    adtv: dict[int, tuple[np.ndarray, np.ndarray]]
    size: np.ndarray

    @classmethod
    def none(cls, n_issuers: int) -> LineAnchors:
        """No reference points: the uncalibrated model."""
        return cls({}, {}, np.full(n_issuers, np.nan))


def line_anchors(
    reference: pd.DataFrame,
    tickers: list[str],
    issuer: np.ndarray,
    primary: np.ndarray,
    days: np.ndarray,
    life: np.ndarray,
) -> LineAnchors:
    """The grid rows and targets of each line's reference points (rows of other tickers are ignored).

    A reference date maps to the line's last session on or before it; a date before the line's
    first session or more than a week after its last one is dropped (the week's grace keeps a point
    dated on the day after a last session). A market cap applies to every line of the
    issuer; at a date given for several lines of one issuer, the primary line's figure is used.

    Parameters
    ----------
    reference
        From :func:`load_market_reference`.
    tickers, issuer, primary
        Per line: its ticker, its issuer number, whether it is the primary line.
    days
        The session grid (``datetime64[D]``), ``life`` the (T, n) listing lives on it.
    """
    pos = {t: j for j, t in enumerate(tickers)}
    ref = reference[reference["ticker"].isin(pos)]
    n_issuers = int(issuer.max()) + 1 if len(issuer) else 0
    size = np.full(n_issuers, np.nan)
    issuer_caps: dict[int, dict[np.datetime64, tuple[bool, float]]] = {}
    adtv: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ticker, rows in ref.groupby("ticker", sort=True):
        j = pos[str(ticker)]
        dates = rows["date"].to_numpy().astype("datetime64[D]")
        caps = issuer_caps.setdefault(int(issuer[j]), {})
        for d, c in zip(dates, rows["market_cap_usd"].to_numpy()):
            if not np.isnan(c) and (d not in caps or (primary[j] and not caps[d][0])):
                caps[d] = (bool(primary[j]), float(c))
        a = rows["adtv_usd"].to_numpy()
        pinned = _pinned(_rows_in_life(days, life[:, j], dates[~np.isnan(a)]), a[~np.isnan(a)])
        if pinned is not None:
            adtv[j] = pinned
    cap: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k, caps in issuer_caps.items():
        dates = np.array(sorted(caps), dtype="datetime64[D]")
        log_caps = np.log([caps[d][1] for d in dates])
        in_life = np.zeros(len(dates), dtype=bool)  # points outside every line's life are ignored
        for line in np.flatnonzero(issuer == k):
            rows = _rows_in_life(days, life[:, line], dates)
            in_life |= rows >= 0
            pinned = _pinned(rows, log_caps)
            if pinned is not None:
                cap[int(line)] = pinned
        if in_life.any():
            size[k] = math.exp(log_caps[in_life][-1])
    return LineAnchors(cap=cap, adtv=adtv, size=size)


def _rows_in_life(days: np.ndarray, life: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Row of the last life session on or before each date; -1 for dates outside the life."""
    own = np.flatnonzero(life)
    if not len(own) or not len(dates):
        return np.full(len(dates), -1)
    k = np.searchsorted(days[own], dates, side="right") - 1
    inside = (k >= 0) & (dates <= days[own[-1]] + np.timedelta64(7, "D"))  # a week's grace past the end
    return np.where(inside, own[np.maximum(k, 0)], -1)


def _pinned(rows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The (rows, targets) inside the life (row >= 0), one per row (the latest date's when two dates
    fall on one session); None when none is left."""
    ok = rows >= 0
    if not ok.any():
        return None
    r, v = rows[ok], targets[ok]
    last = len(r) - 1 - np.unique(r[::-1], return_index=True)[1]  # rows ascending, latest entry of each
    return r[last], v[last]


def bridge(n_rows: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n_rows,) piecewise-linear path through ``values`` at ``rows``, flat before the first and after
    the last.

    Examples
    --------
    >>> bridge(5, np.array([1, 3]), np.array([0.0, 1.0])).tolist()
    [0.0, 0.0, 0.5, 1.0, 1.0]
    """
    return np.interp(np.arange(n_rows, dtype=float), rows.astype(float), values)
