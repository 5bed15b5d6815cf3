"""Quarterly review deliverables: the files an index administrator publishes.

:func:`rebalance` runs one review and writes a dated folder ``<out>/<implementation-date>/``:

==================  ===============================================================================
``announcement.csv``  additions, deletions and weight changes versus the previous review, with reasons
``proforma.csv``      the new constituents: weights, reference prices, index shares, fund shares
``trades.csv``        trades from the previous portfolio drifted to the cut-off to the new weights
``compliance.json``   every cap and the RIC and UCITS tests, pass or fail with the figure
``report.html``       a self-contained review report (exposures, binding constraints, capacity, flags)
``manifest.json``     versions and hashes of every input and of every other file written
==================  ===============================================================================

Conventions (also in the README)
--------------------------------
* **Point in time.** The review is the one whose implementation date is ``as_of`` or the next one
  after it (:func:`~exchina_index.rules.calendar.review_for`). Only data up to its cut-off is read.
* **Reference prices** are the closes at the *cut-off* (the last price on or before it), in the
  listing's ``currency`` (major unit: GBP, not the GBp quote unit given in ``price_unit``) and in USD. Index providers publish pro-forma
  shares at the close before implementation, but a run made at the announcement only knows the
  data to the cut-off; shares are therefore indicative and must be recomputed from the weights at
  the implementation close.
* **Index shares** per 1,000,000 units of index value: ``weight × 1,000,000 / reference price in
  USD`` (the index value is expressed in USD), unrounded (6 decimals).
* **Fund shares** for the given AUM: ``weight × AUM / reference price in USD`` rounded to the
  nearest board lot (universe ``lot_size``; 1 share when the file leaves it empty).
* **Trades** start from the previous pro-forma weights drifted with USD prices from the previous
  implementation date to the cut-off (names without a price at the cut-off are sold and the
  proceeds reinvested pro rata, as in the backtest). The fund is assumed worth ``aum`` at the
  cut-off. ``trade_weight = target_weight - drifted_weight``; one-way turnover is
  ``½ Σ |trade_weight|``; the cost is the rulebook's one-way rate × |trade value|; days to trade
  are ``|trade value| / (participation × ADTV)``.
* **Constituents** are the names with a weight of at least :data:`MIN_WEIGHT` (1e-10, the files'
  precision); smaller optimizer residue is set to zero and the weights renormalised.
* **Actions** in the announcement: ``ADD`` (not in the previous pro-forma, now held), ``DELETE``
  (held before, now out), ``CHANGE`` (weight moved by at least :data:`CHANGE_THRESHOLD` versus the
  previous pro-forma weight, or the binding cap changed), ``HOLD`` (otherwise).
* **Determinism.** Rows sorted by ticker, fixed float formats (weights ``%.10f``), JSON with sorted
  keys and two-space indentation, no timestamps except the manifest's ``run_at``. Solver timings
  are never written.
* **Safety.** Everything is rendered in memory, written into a temporary folder inside ``out`` and
  published with one rename (:mod:`exchina_index.atomic`). An existing review folder is never
  overwritten unless ``force=True``, and then it is kept as ``<date>.v1``, ``<date>.v2``, ...

Examples
--------
>>> import exchina_index as xi
>>> u = xi.load_universe(); mkt = xi.load_market_data(u, source="demo")
>>> xi.rebalance(u, mkt, as_of="2025-12-19", aum=250e6, out="rebalances/")  # doctest: +SKIP
PosixPath('rebalances/2025-12-19')
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import numbers
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from exchina_index import atomic
from exchina_index.rules.calendar import review_dates, review_for
from exchina_index.construction.compliance import ComplianceCheck, RegulatoryLimits, check_caps, check_regulatory
from exchina_index.simulation.costs import one_way_cost_rate
from exchina_index.dates import parse_date
from exchina_index.errors import DataError, InputError, OutputError, ReviewDateError
from exchina_index.rules.methodology import STAGES, Methodology, check_aum, load_methodology, resolve_methodology
from exchina_index.construction.screens import last_screenable_date
from exchina_index._files import csv_problem, decode_utf8, read_regular_file
from exchina_index.universe.loading import Universe, require_universe

__all__ = [
    "rebalance",
    "calendar_table",
    "read_portfolio",
    "summary",
    "FILES",
    "CHANGE_THRESHOLD",
    "ANNOUNCEMENT_COLUMNS",
    "PROFORMA_COLUMNS",
    "TRADES_COLUMNS",
]

#: Files of a review folder, in the order they are written (the manifest last).
FILES: tuple[str, ...] = (
    "announcement.csv", "proforma.csv", "trades.csv", "compliance.json", "report.html", "manifest.json",
)
#: A constituent whose weight moves by at least this much (1 basis point) is a ``CHANGE``.
CHANGE_THRESHOLD = 1e-4
#: A weight below this (the precision of the files) is solver residue: the name is not held.
MIN_WEIGHT = 1e-10
#: A trade smaller than this (in weight) is solver round-off and is reported as no trade.
ZERO_TRADE = 1e-12
#: Tolerance on the sum of a previous portfolio's weights.
SUM_TOLERANCE = 1e-6

ANNOUNCEMENT_COLUMNS: tuple[str, ...] = (
    "ticker", "name", "issuer", "country", "action", "previous_weight", "drifted_weight", "new_weight",
    "change", "previous_binding", "binding", "screen", "flags", "reason",
)
PROFORMA_COLUMNS: tuple[str, ...] = (
    "ticker", "name", "issuer", "country", "exchange", "currency", "price_unit", *STAGES, "weight",
    "binding", "reference_date", "reference_price", "reference_price_usd", "index_shares_per_1m",
    "lot_size", "fund_shares",
)
TRADES_COLUMNS: tuple[str, ...] = (
    "ticker", "name", "side", "drifted_weight", "target_weight", "trade_weight", "reference_price_usd",
    "trade_value_usd", "drifted_shares", "target_shares", "trade_shares", "adtv_usd", "cost_rate",
    "estimated_cost_usd", "days_to_trade",
)

_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_W = "%.10f"
_FORMATS: dict[str, str] = {
    "previous_weight": _W, "drifted_weight": _W, "new_weight": _W, "change": _W, "weight": _W,
    "target_weight": _W, "trade_weight": _W, **{s: "%.6f" for s in STAGES},
    "reference_price": "%.6f", "reference_price_usd": "%.6f", "index_shares_per_1m": "%.6f",
    "trade_value_usd": "%.2f", "adtv_usd": "%.2f", "cost_rate": "%.6f", "estimated_cost_usd": "%.2f",
    "days_to_trade": "%.4f",
}


# --- public API -----------------------------------------------------------------------------------


def rebalance(
    universe: Universe,
    market: Any,  # MarketData
    as_of: Any,
    aum: Any = None,
    out: str | os.PathLike[str] = "rebalances/",
    *,
    methodology: Methodology | None = None,
    previous: str | os.PathLike[str] | pd.Series | None = None,
    force: bool = False,
    command_line: str | None = None,
    optimizer: Any = None,
) -> Path:
    """Run the review implemented on ``as_of`` (or the next one) and publish its folder.

    Parameters
    ----------
    universe, market
        The tagged universe and its market data (any source).
    as_of
        A date; the review whose implementation date is this date or the next one after it is run.
    aum
        Fund size in USD (liquidity caps, fund shares, trade values, days to trade); the rulebook's
        ``liquidity.default_aum_usd`` when ``None``. Must be a positive finite number.
    out
        Output folder; the review is written to ``out/<implementation-date>/``. Created if missing.
    methodology
        The rulebook (bundled default when ``None``).
    previous
        The previous portfolio: a CSV file with ``ticker`` and ``weight`` columns (other columns
        are ignored, so a previous ``proforma.csv`` works) or a Series of weights by ticker, taken
        as set at the close of the previous review's implementation date (the folder's date when
        the file sits in a ``YYYY-MM-DD`` folder, else the scheduled review before this one). By
        default the latest ``out/<date>/proforma.csv`` dated before this implementation date is
        used; without one the review is an initial composition (everything is bought).
    force
        Replace an existing review folder; the old one is kept as ``<date>.v1`` (``.v2``, ...).
    command_line
        The command line to record in the manifest (the CLI passes it); otherwise the Python call's
        arguments are recorded (without the output folder, so runs into different folders match).
    optimizer
        A compiled optimizer from :func:`~exchina_index.construction.review.make_optimizer` to re-use across
        reviews (speed only).

    Returns
    -------
    pathlib.Path
        The published review folder ``out/<implementation-date>``.

    Raises
    ------
    InputError
        AUM not a positive number; a previous portfolio that does not match the universe (unknown
        ticker, bad weight, weights not summing to 1, missing columns), naming file, line and ticker.
    ReviewDateError
        Not a date, or no review with a cut-off inside the market data and enough history before
        it (the message gives the valid range).
    OutputError
        The output folder cannot be written, or the review folder exists and ``force`` is False.
    InfeasibleError, DataError
        From the review itself.

    In every error case nothing is written.
    """
    from exchina_index.data import require_market
    from exchina_index.construction.review import build_weights, drift_weights

    require_universe(universe)
    require_market(market)
    m = resolve_methodology(methodology)
    aum_usd = check_aum(m.liquidity.default_aum_usd if aum is None else aum)
    if not isinstance(out, (str, os.PathLike)) or "\x00" in os.fspath(out):
        raise OutputError(f"out must be a folder path, got {out!r}")
    if not isinstance(force, bool):
        raise InputError(f"force must be True or False, got {force!r}")
    if command_line is not None and not isinstance(command_line, str):
        raise InputError(f"command_line must be a string or None, got {type(command_line).__name__}")
    review = _review_row(m, as_of, market, universe)
    implement = review["implement"]
    cutoff = review["cutoff"]
    out_dir = Path(out)
    dest = out_dir / implement.date().isoformat()
    _check_output(out_dir, dest, force)
    prev = _resolve_previous(previous, out_dir, universe, m, implement)

    close_usd = market.close_usd(cutoff)  # point-in-time view: nothing after the cut-off
    drifted = None
    if prev is not None:
        start = min(prev.date, cutoff)
        if start < close_usd.index[0]:
            raise InputError(
                f"the previous portfolio is dated {prev.date.date()}, before the market data starts "
                f"({close_usd.index[0].date()}); give market data covering it", path=prev.path)
        drifted = drift_weights(prev.weights.reindex(universe.frame.index, fill_value=0.0), close_usd, start, cutoff)
    result = build_weights(universe, market, cutoff, m, aum_usd, previous=drifted, optimizer=optimizer)

    bundle = _assemble(universe, market, close_usd, m, review, aum_usd, result, prev, drifted, as_of)
    files = _render(bundle, command_line=command_line, call=_call_record(as_of, aum, previous, force, methodology))
    return _publish(out_dir, dest, files, force)


def calendar_table(methodology: Methodology | None = None, year: int | None = None) -> pd.DataFrame:
    """The reviews implemented in ``year``: cut-off, announcement, pro-forma, implementation, effective.

    A thin wrapper over :func:`~exchina_index.rules.calendar.review_dates` (same columns) for the
    ``exchina-index calendar`` command.

    Examples
    --------
    >>> import exchina_index as xi
    >>> calendar_table(xi.load_methodology(), 2026)["implement"].dt.strftime("%m-%d").tolist()
    ['03-20', '06-18', '09-18', '12-18']
    """
    import datetime

    m = methodology if methodology is not None else load_methodology()
    y = datetime.date.today().year if year is None else year
    if isinstance(y, bool) or not isinstance(y, numbers.Integral) or not 1900 <= int(y) <= 2200:
        raise ReviewDateError(f"year must be a whole number between 1900 and 2200, got {year!r}")
    return review_dates(m, f"{int(y)}-01-01", f"{int(y)}-12-31")


def summary(folder: str | os.PathLike[str]) -> str:
    """A few readable lines about a published review folder (for the command line)."""
    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    s = man["summary"]
    rv = man["review"]
    lines = [
        f"review {rv['implementation']} (cut-off {rv['cutoff']}, announced {rv['announcement']}) -> {folder}",
        f"{s['constituents']} constituents: {s['additions']} added, {s['deletions']} deleted, "
        f"{s['changes']} changed; one-way turnover {s['one_way_turnover']:.2%}, "
        f"estimated cost ${s['estimated_cost_usd']:,.0f} at AUM ${man['aum_usd']:,.0f}",
        f"compliance: {'all rules in force pass' if s['compliance_passed'] else 'FAILURES, see compliance.json'}",
    ]
    if man["relaxations"]:
        lines.append("relaxations: " + "; ".join(man["relaxations"]))
    if man["data"]["synthetic"]:
        lines.append("SYNTHETIC DEMO DATA: not real market prices")
    return "\n".join(lines)


def read_portfolio(path: str | os.PathLike[str], universe: Universe) -> pd.Series:
    """Read a portfolio CSV (``ticker`` and ``weight`` columns; others ignored) and validate it.

    Raises
    ------
    InputError
        Naming the file, the line and the column/ticker: unreadable file, missing columns, unknown
        or duplicate ticker, a weight that is not a finite number ≥ 0, or weights not summing to 1.
    """
    return _read_portfolio(Path(path), universe)[0]


# --- validation -----------------------------------------------------------------------------------


def _valid_reviews(m: Methodology, dates: pd.DatetimeIndex, last: pd.Timestamp) -> pd.DataFrame:
    """Reviews whose cut-off lies inside the data, on or before ``last`` (the last price of a
    listing the screens admit), with ``min_history_sessions`` sessions up to it."""
    sched = review_dates(m, dates[0], dates[-1] + pd.Timedelta(days=100))
    need = max(1, int(m.size.min_history_sessions))
    have = dates.searchsorted(sched["cutoff"].to_numpy(), side="right")
    ok = (have >= need) & (sched["cutoff"] <= last).to_numpy()
    return sched[ok].reset_index(drop=True)


def _review_row(m: Methodology, as_of: Any, market: Any, universe: Universe) -> pd.Series:
    row = review_for(m, parse_date(as_of, "as_of"))
    dates = pd.DatetimeIndex(market.close.index)
    if len(dates) == 0:
        raise ReviewDateError("the market data holds no dates; fetch or load data first")
    last, beyond = last_screenable_date(universe, market, m)
    valid = _valid_reviews(m, dates, last)
    if len(valid) and (valid["implement"] == row["implement"]).any():
        return row
    text = as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of)
    where = (f"valid review dates with this data ({dates[0].date()} to {dates[-1].date()}, "
             f"{m.size.min_history_sessions} sessions of history needed before a cut-off): "
             + (f"{valid['implement'].iloc[0].date()} to {valid['implement'].iloc[-1].date()}" if len(valid)
                else "none"))
    if row["cutoff"] > dates[-1]:
        why = f"its cut-off {row['cutoff'].date()} is after the last market data ({dates[-1].date()})"
    elif row["cutoff"] > last:
        why = (f"its cut-off {row['cutoff'].date()} is after the last price of a listing the screens admit "
               f"({last.date()}; later prices are only for screened-out listings: {', '.join(beyond[:10])})")
    else:
        why = f"its cut-off {row['cutoff'].date()} has too little market history before it"
    raise ReviewDateError(f"no review for {text}: the review implemented on {row['implement'].date()} "
                          f"cannot run because {why}; {where}")


def _check_output(out_dir: Path, dest: Path, force: bool) -> None:
    """Fail early (before any computation) when the output cannot be written."""
    probe = out_dir
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if os.path.lexists(probe) and not probe.is_dir():
        raise OutputError(f"cannot write to {out_dir}: {probe} is a file, not a folder; choose another --out")
    if os.path.isdir(probe) and not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {out_dir}: {probe} is not writable; choose another --out")
    if os.path.lexists(dest) and not force:
        raise OutputError(
            f"{dest} already exists; a published review is never overwritten (use --force / force=True "
            f"to keep the old one as {atomic.next_version_name(dest).name} and write a new one)")


@dataclass(frozen=True)
class _Previous:
    weights: pd.Series           # by ticker, as set at ``date``
    date: pd.Timestamp           # the previous implementation date
    source: str                  # recorded in the manifest
    sha256: str | None
    binding: pd.Series | None    # the binding cap of each previous constituent, when known
    path: Path | None = None


def _previous_schedule_date(m: Methodology, implement: pd.Timestamp) -> pd.Timestamp:
    sched = review_dates(m, implement - pd.Timedelta(days=400), implement - pd.Timedelta(days=1))
    if sched.empty:
        raise ReviewDateError(f"no scheduled review before {implement.date()} to date the previous portfolio")
    return pd.Timestamp(sched["implement"].iloc[-1])


def _resolve_previous(previous: Any, out_dir: Path, universe: Universe, m: Methodology,
                      implement: pd.Timestamp) -> _Previous | None:
    if previous is None:
        found = _latest_previous(out_dir, implement)
        if found is None:
            return None
        weights, binding, digest = _read_portfolio(found, universe)
        rel = f"{found.parent.name}/{found.name}"
        return _Previous(weights, pd.Timestamp(found.parent.name), rel, digest, binding, found)
    if isinstance(previous, pd.Series):
        w = _check_series(previous, universe)
        return _Previous(w, _previous_schedule_date(m, implement), "<Series>", None, None, None)
    if isinstance(previous, (str, os.PathLike)):
        path = Path(previous)
        weights, binding, digest = _read_portfolio(path, universe)
        date = None
        if _DATE_DIR.match(path.parent.name):
            try:
                date = pd.Timestamp(path.parent.name)
            except ValueError:
                date = None
        if date is not None and date >= implement:  # a later review's result: look-ahead, not a previous
            raise InputError(f"the previous portfolio's folder is dated {date.date()}, not before this review's "
                             f"implementation on {implement.date()}; give the proforma.csv of an earlier review",
                             path=path)
        if date is None:
            date = _previous_schedule_date(m, implement)
        return _Previous(weights, date, str(previous), digest, binding, path)
    raise InputError(f"previous must be a CSV path or a pandas Series of weights, got {type(previous).__name__}")


def _latest_previous(out_dir: Path, implement: pd.Timestamp) -> Path | None:
    if not os.path.isdir(out_dir):  # Path.is_dir raises for a name too long
        return None
    best: tuple[pd.Timestamp, Path] | None = None
    for p in out_dir.iterdir():
        if not _DATE_DIR.match(p.name) or not p.is_dir():
            continue
        try:
            d = pd.Timestamp(p.name)
        except ValueError:
            continue
        if d < implement and os.path.lexists(p / "proforma.csv") and (best is None or d > best[0]):
            best = (d, p / "proforma.csv")  # a folder or a pipe there is an error when read, not skipped
    return None if best is None else best[1]


def _read_portfolio(path: Path, universe: Universe) -> tuple[pd.Series, pd.Series | None, str]:
    def fail(message: str, line: int | None = None) -> InputError:
        return InputError(f"previous portfolio: {message}", path=path, line=line)

    raw = read_regular_file(path, fail)  # read once: parsed and hashed
    text = decode_utf8(raw, fail)
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    try:
        rows = list(csv.reader(io.StringIO("\n".join(lines[skip:]))))
    except csv.Error as exc:
        raise InputError(csv_problem(exc), path=path) from None
    reader = iter(rows)
    header = [h.strip() for h in next(reader, [])]
    if not header:
        raise InputError("the previous portfolio is empty; it needs a header with ticker and weight", path=path)
    for col in ("ticker", "weight"):
        if col not in header:
            raise InputError(f"missing column '{col}'; the header must hold ticker and weight (got {', '.join(header)})",
                             path=path, line=skip + 1, column=col)
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise InputError(f"column '{twice[0]}' appears twice in the header; keep one", path=path, line=skip + 1,
                         column=twice[0])
    it, iw = header.index("ticker"), header.index("weight")
    ib = header.index("binding") if "binding" in header else None
    known = universe.frame.index
    weights: dict[str, float] = {}
    binding: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for k, values in enumerate(reader):
        line = skip + 2 + k
        if not values or all(not v.strip() for v in values) or values[0].lstrip().startswith("#"):
            continue
        if len(values) != len(header):
            raise InputError(f"has {len(values)} fields, the header has {len(header)}", path=path, line=line)
        t = values[it].strip()
        if not t:
            raise InputError("empty ticker", path=path, line=line, column="ticker")
        if t not in known:
            raise InputError(f"unknown ticker '{t}': not in the universe; fix the symbol or the universe file",
                             path=path, line=line, column="ticker")
        if t in weights:
            raise InputError(f"duplicate ticker '{t}' (first on line {first_line[t]})", path=path, line=line, column="ticker")
        try:
            w = float(values[iw])
        except ValueError:
            raise InputError(f"weight of '{t}' is '{values[iw]}', not a number", path=path, line=line, column="weight") from None
        if not math.isfinite(w) or w < 0:
            raise InputError(f"weight of '{t}' is {values[iw]}; weights must be finite and >= 0",
                             path=path, line=line, column="weight")
        weights[t] = w
        first_line[t] = line
        if ib is not None:
            binding[t] = values[ib].strip()
    if not weights:
        raise InputError("the previous portfolio has no rows", path=path)
    over = next((t for t, w in weights.items() if w > 1 + SUM_TOLERANCE), None)
    if over is not None:  # also keeps the sum below from overflowing (1e308 + 1e308)
        raise InputError(f"weight of '{over}' is {weights[over]:g}; a weight is a fraction of the portfolio, at most 1",
                         path=path, line=first_line[over], column="weight")
    s = pd.Series(weights, dtype=float).sort_index()
    total = math.fsum(s.to_numpy())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError(f"weights sum to {total:.10g}, not 1 (tolerance {SUM_TOLERANCE:g})", path=path, column="weight")
    b = pd.Series(binding, dtype=object).sort_index() if ib is not None else None
    return s, b, hashlib.sha256(raw).hexdigest()


def _check_series(previous: pd.Series, universe: Universe) -> pd.Series:
    if not previous.index.is_unique:
        dup = previous.index[previous.index.duplicated()][0]
        raise InputError(f"previous portfolio (Series): duplicate ticker '{dup}'")
    unknown = [str(t) for t in previous.index if t not in universe.frame.index]
    if unknown:
        raise InputError(f"previous portfolio (Series): unknown ticker '{unknown[0]}': not in the universe")
    try:
        s = previous.astype(float)
    except (TypeError, ValueError):
        raise InputError("previous portfolio (Series): weights must be numbers") from None
    bad = s.index[~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0) | (s.to_numpy() > 1 + SUM_TOLERANCE)]
    if len(bad):
        raise InputError(f"previous portfolio (Series): weight of '{bad[0]}' is {s[bad[0]]}; weights are fractions "
                         "of the portfolio, finite, between 0 and 1")
    total = math.fsum(s.to_numpy())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError(f"previous portfolio (Series): weights sum to {total:.10g}, not 1")
    return s.sort_index()


# --- computing the deliverables -------------------------------------------------------------------


@dataclass(frozen=True)
class _Bundle:
    """Everything the writers need (all frames sorted by ticker)."""

    methodology: Methodology
    universe: Universe
    frame: pd.DataFrame       # the universe frame without attrs (fast scalar access)
    names: pd.DataFrame       # report.names without attrs
    market: Any
    review: pd.Series
    requested: str
    aum: float
    report: Any  # ReviewReport
    weights: pd.Series
    anchor: pd.Series
    country: pd.Series
    announcement: pd.DataFrame
    proforma: pd.DataFrame
    trades: pd.DataFrame
    compliance: dict[str, Any]
    summary: dict[str, Any]
    previous: _Previous | None


def _assemble(universe: Universe, market: Any, close_usd: pd.DataFrame, m: Methodology, review: pd.Series, aum: float,
              result: Any, prev: _Previous | None, drifted: pd.Series | None, as_of: Any) -> _Bundle:
    f = _plain(universe.frame)
    rep = result.report
    names = _plain(rep.names.to_frame())  # TODO(H4): read the record's fields
    w = result.weights.reindex(f.index).fillna(0.0).astype(float)
    dust = (w > 0) & (w < MIN_WEIGHT)
    if dust.any():  # solver residue below the files' precision: not a constituent
        w = w.where(~dust, 0.0)
        w = w / w.sum()
    cutoff = review["cutoff"]
    country = names["country"].reindex(f.index)
    prev_w = (prev.weights.reindex(f.index, fill_value=0.0) if prev is not None
              else pd.Series(0.0, index=f.index))
    drift = drifted.reindex(f.index, fill_value=0.0) if drifted is not None else pd.Series(0.0, index=f.index)

    # reference prices: the last price on or before the cut-off
    usd = close_usd.loc[:cutoff].reindex(columns=f.index).ffill()
    local = market.close.loc[:cutoff].reindex(columns=f.index).ffill()
    px_usd = usd.iloc[-1] if len(usd) else pd.Series(np.nan, index=f.index)
    px_local = local.iloc[-1] if len(local) else pd.Series(np.nan, index=f.index)
    held = w.index[w > 0]
    missing = [t for t in held if not (np.isfinite(px_usd.get(t, np.nan)) and px_usd[t] > 0)]
    if missing:
        raise DataError(f"no USD price at or before the cut-off {cutoff.date()} for held name(s) {', '.join(missing)}")
    lot = f["lot_size"].astype(float)

    def lots(x: pd.Series) -> pd.Series:
        size = lot.reindex(x.index)
        shares = (np.round(x / size) * size).fillna(0.0)
        too_big = shares.index[~(shares.abs() < 2.0**62)]  # int64 ends at 2**63; infinities and overflows
        if len(too_big):
            raise DataError(f"fund shares of {', '.join(map(str, too_big[:5]))} do not fit a 64-bit count "
                            f"at AUM ${aum:,.0f} (reference price too small for this AUM); check the prices "
                            "and the AUM")
        return shares.astype(np.int64)

    # proforma
    pf = pd.DataFrame({
        "ticker": held, "name": f.loc[held, "name"], "issuer": f.loc[held, "issuer"],
        "country": country[held], "exchange": f.loc[held, "exchange"], "currency": f.loc[held, "currency"],
        "price_unit": f.loc[held, "price_unit"], **{s: f.loc[held, s] for s in STAGES},
        "weight": w[held], "binding": names["binding"].reindex(held).fillna("").astype(str),
        "reference_date": cutoff.date().isoformat(), "reference_price": px_local[held],
        "reference_price_usd": px_usd[held], "index_shares_per_1m": w[held] * 1e6 / px_usd[held],
        "lot_size": f.loc[held, "lot_size"].astype(np.int64),
        "fund_shares": lots(w[held] * aum / px_usd[held]),
    })

    # trades
    touched = f.index[(w > 0) | (drift > 0)]
    trade = (w - drift)[touched]
    trade = trade.where(trade.abs() >= ZERO_TRADE, 0.0)  # solver round-off on names held at their drifted weight
    adtv = names["adtv_usd"].reindex(touched).astype(float)
    rate = one_way_cost_rate(adtv, m.costs).reindex(touched)
    value = trade * aum
    price = px_usd.reindex(touched)
    with np.errstate(divide="ignore", invalid="ignore"):
        drifted_sh = lots((drift[touched] * aum / price).where(drift[touched] > 0, 0.0))
        target_sh = lots((w[touched] * aum / price).where(w[touched] > 0, 0.0))
        days = (value.abs() / (m.liquidity.participation * adtv)).where(value != 0, 0.0)
    days = days.where(~((value != 0) & ~(adtv > 0)), np.inf)
    tr = pd.DataFrame({
        "ticker": touched, "name": f.loc[touched, "name"],
        "side": np.where(trade > 0, "BUY", np.where(trade < 0, "SELL", "NONE")),
        "drifted_weight": drift[touched], "target_weight": w[touched], "trade_weight": trade,
        "reference_price_usd": price, "trade_value_usd": value,
        "drifted_shares": drifted_sh, "target_shares": target_sh, "trade_shares": target_sh - drifted_sh,
        "adtv_usd": adtv, "cost_rate": rate, "estimated_cost_usd": rate * value.abs(), "days_to_trade": days,
    })

    # announcement
    union = f.index[(w > 0) | (prev_w > 0)]
    prev_bind = prev.binding.to_dict() if prev is not None and prev.binding is not None else None
    col = {c: names[c].to_dict() for c in ("binding", "reason", "eligible", "flags")}
    name_of, issuer_of, country_of = f["name"].to_dict(), f["issuer"].to_dict(), country.to_dict()
    pw_of, nw_of, dw_of = prev_w.to_dict(), w.to_dict(), drift.to_dict()
    rows = []
    for t in union:
        pw, nw = float(pw_of[t]), float(nw_of[t])
        now_b = str(col["binding"][t] or "")
        was_b = None if prev_bind is None else str(prev_bind.get(t, "") or "")
        if pw <= 0 < nw:
            action = "ADD"
        elif nw <= 0 < pw:
            action = "DELETE"
        elif abs(nw - pw) >= CHANGE_THRESHOLD or (was_b is not None and was_b != now_b):
            action = "CHANGE"
        else:
            action = "HOLD"
        scr = str(col["reason"][t])
        if action == "DELETE":
            reason = scr if not bool(col["eligible"][t]) else "ZERO_WEIGHT"
        else:
            parts = [scr] if action == "ADD" else []
            parts.append(now_b or "uncapped")
            if action != "ADD" and was_b is not None and was_b != now_b:
                parts.append(f"was {was_b or 'uncapped'}")
            reason = "; ".join(parts)
        rows.append({
            "ticker": t, "name": name_of[t], "issuer": issuer_of[t], "country": country_of[t],
            "action": action, "previous_weight": pw, "drifted_weight": float(dw_of[t]), "new_weight": nw,
            "change": nw - pw, "previous_binding": "" if was_b is None else was_b, "binding": now_b,
            "screen": scr, "flags": str(col["flags"][t]), "reason": reason,
        })
    ann = pd.DataFrame(rows, columns=list(ANNOUNCEMENT_COLUMNS))

    compliance = _compliance(w, f, country, names, aum, m, review, rep)
    turnover = 0.5 * float(np.abs(trade.to_numpy()).sum())
    finite_days = tr["days_to_trade"][np.isfinite(tr["days_to_trade"])]
    summ = {
        "constituents": int(len(held)),
        "additions": int((ann["action"] == "ADD").sum()),
        "deletions": int((ann["action"] == "DELETE").sum()),
        "changes": int((ann["action"] == "CHANGE").sum()),
        "holds": int((ann["action"] == "HOLD").sum()),
        "initial": prev is None,
        "one_way_turnover": _num(turnover),
        "buy_value_usd": _num(float(value[value > 0].sum()), 2),
        "sell_value_usd": _num(float(-value[value < 0].sum()), 2),
        "estimated_cost_usd": _num(float(tr["estimated_cost_usd"].sum()), 2),
        "estimated_cost_bps_of_aum": _num(float(tr["estimated_cost_usd"].sum()) / aum * 1e4, 6),
        "max_days_to_trade": _num(float(finite_days.max()) if len(finite_days) else 0.0, 6),
        "names_without_adtv_traded": sorted(tr.loc[~np.isfinite(tr["days_to_trade"]), "ticker"].tolist()),
        "compliance_passed": bool(compliance["all_in_force_passed"]),
        "capacity_aum_usd": _num(rep.capacity_aum, 2),
    }
    text = as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of)
    return _Bundle(
        methodology=m, universe=universe, frame=f, names=names, market=market, review=review, requested=text, aum=aum, report=rep,
        weights=w, anchor=names["u"].reindex(f.index).fillna(0.0).astype(float), country=country,
        announcement=ann, proforma=pf.reset_index(drop=True), trades=tr.reset_index(drop=True),
        compliance=compliance, summary=summ, previous=prev,
    )


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` (pandas deep-copies attrs on every operation: slow)."""
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _compliance(w: pd.Series, f: pd.DataFrame, country: pd.Series, names: pd.DataFrame, aum: float,
                m: Methodology, review: pd.Series, rep: Any) -> dict[str, Any]:
    from exchina_index.construction.review import name_caps

    checks: list[dict[str, Any]] = []
    w = w[w != 0]  # the held names (a negative weight would stay and fail "long only")

    def add(group: str, c: ComplianceCheck, **extra: Any) -> None:
        checks.append({"group": group, "name": c.name, "limit": _num(c.limit), "value": _num(c.value),
                       "passed": bool(c.passed), "detail": c.detail, **extra})

    country_caps = {c: m.caps.country_cap(c) for c in sorted(country.dropna().unique())}
    for c in check_caps(w, caps=m.caps.single, issuers=f["issuer"], issuer_cap=m.caps.issuer,
                        countries=country, country_caps=country_caps):
        add("caps", c, in_force=True)
    liq = name_caps(names["adtv_usd"].reindex(f.index).astype(float), aum, m)["liquidity"]
    single = [c for c in check_caps(w, caps=liq) if c.name == "single-name cap"][0]
    liq_check = dataclasses.replace(
        single, name="liquidity cap",
        detail=(f"weight x AUM <= {m.liquidity.participation:g} x ADTV x {m.liquidity.days_to_trade:g} days "
                f"at AUM ${aum:,.0f}; " + single.detail))
    add("caps", liq_check, in_force=True)

    mode = m.regulatory.mode
    for key, legal in (("ric", RegulatoryLimits.ric()), ("ucits", RegulatoryLimits.ucits())):
        rule = getattr(m.regulatory, key)
        buffered = RegulatoryLimits(f"{legal.name} (rulebook buffer)", rule.issuer_max, rule.large_threshold,
                                    rule.large_sum)
        for basis, limits in (("legal", legal), ("rulebook", buffered)):
            for c in check_regulatory(w, f["issuer"], limits):
                add("regulatory", c, rule=key, basis=basis, in_force=(mode == key))
    in_force = [c for c in checks if c["in_force"]]
    return {
        "implementation": review["implement"].date().isoformat(),
        "cutoff": review["cutoff"].date().isoformat(),
        "aum_usd": _num(aum, 2),
        "regulatory_mode": mode,
        "tolerance": 1e-8,
        "checks": checks,
        "all_in_force_passed": all(c["passed"] for c in in_force),
        "relaxations": list(rep.relaxations),
        "binding_constraints": list(rep.binding_constraints),
    }


# --- rendering ------------------------------------------------------------------------------------


def _num(x: Any, digits: int = 12) -> float | None:
    """A JSON-safe float rounded to ``digits`` decimals (``None`` for NaN or infinity)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    r = round(x, digits)
    return 0.0 if r == 0 else r


def _fmt(value: Any, fmt: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        s = (fmt or "%.10g") % x
        if s.startswith("-") and not s.strip("-0.") :
            s = s[1:]  # no negative zero
        return s
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def _csv(frame: pd.DataFrame, columns: tuple[str, ...]) -> bytes:
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(columns)
    frame = frame.sort_values("ticker", kind="stable") if len(frame) else frame
    for row in frame[list(columns)].itertuples(index=False):
        wr.writerow([_fmt(v, _FORMATS.get(c)) for c, v in zip(columns, row)])
    return buf.getvalue().encode("utf-8")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON: sorted keys, floats rounded to 12 significant digits so that solver noise in
    the last bits (1e-17) never changes the published bytes."""
    # a path holding bytes that are not UTF-8 (a surrogate escape) is written as its \\udcXX escape
    return (json.dumps(_round_floats(obj), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8", "backslashreplace")


def _round_floats(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {k: _round_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round_floats(v) for v in obj]
    return obj


def software_versions(solver: str) -> dict[str, Any]:
    """Versions of the package, Python, pandas, numpy, cvxpy and ``solver`` (for manifests)."""
    from importlib import metadata

    from exchina_index._version import __version__

    def ver(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    solver_dist = {"CLARABEL": "clarabel", "SCS": "scs", "ECOS": "ecos", "OSQP": "osqp", "HIGHS": "highspy",
                   "MOSEK": "mosek", "GUROBI": "gurobipy", "CVXOPT": "cvxopt"}.get(str(solver).upper())
    return {
        "exchina_index": __version__,
        "python": sys.version.split()[0],
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "cvxpy": ver("cvxpy"),
        "solver": str(solver),
        "solver_version": ver(solver_dist) if solver_dist else None,
    }


def _call_record(as_of: Any, aum: Any, previous: Any, force: bool, methodology: Any) -> dict[str, Any]:
    prev = None if previous is None else ("<Series>" if isinstance(previous, pd.Series) else str(previous))
    return {
        "function": "exchina_index.publish.rebalance",
        "as_of": as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of),
        "aum": None if aum is None else str(aum),
        "previous": prev,
        "force": bool(force),
        "methodology": None if methodology is None else getattr(methodology, "source", None),
    }


def _render(b: _Bundle, *, command_line: str | None, call: dict[str, Any]) -> dict[str, bytes]:
    """All file contents, in memory; the manifest last, with the hashes of the others."""
    from exchina_index.publish.review_report import render_report

    files: dict[str, bytes] = {
        "announcement.csv": _csv(b.announcement, ANNOUNCEMENT_COLUMNS),
        "proforma.csv": _csv(b.proforma, PROFORMA_COLUMNS),
        "trades.csv": _csv(b.trades, TRADES_COLUMNS),
        "compliance.json": canonical_json(b.compliance),
        "report.html": render_report(b).encode("utf-8", "backslashreplace"),
    }
    mk = b.market
    rv = b.review
    rep = b.report
    close_index = mk.close.index
    manifest: dict[str, Any] = {
        "schema": "exchina-index/rebalance-manifest/1",
        "index": b.methodology.name,
        "review": {
            "requested_as_of": b.requested,
            **{k: pd.Timestamp(rv[c]).date().isoformat() for k, c in (
                ("cutoff", "cutoff"), ("announcement", "announce"), ("proforma", "proforma"),
                ("implementation", "implement"), ("effective", "effective"))},
        },
        "aum_usd": _num(b.aum, 2),
        "methodology": {"version": b.methodology.version, "hash": b.methodology.hash,
                        "regulatory_mode": b.methodology.regulatory.mode},
        "universe": {"fingerprint": b.universe.fingerprint, "listings": len(b.universe.frame),
                     "notes": list(b.universe.notes)},
        "data": {
            "source": str(mk.source), "synthetic": bool(mk.synthetic),
            "start": pd.Timestamp(close_index[0]).date().isoformat(),
            "end": pd.Timestamp(close_index[-1]).date().isoformat(),
            "used_through": pd.Timestamp(rv["cutoff"]).date().isoformat(),
            "fingerprint": str(getattr(mk, "fingerprint", "")),
            "notes": list(mk.notes),
        },
        "previous": None if b.previous is None else {
            "source": b.previous.source, "implementation": b.previous.date.date().isoformat(),
            "sha256": b.previous.sha256,
        },
        "software": software_versions(rep.solver),
        "solver": {"name": str(rep.solver), "status": str(rep.status), "fallback_used": bool(rep.fallback_used)},
        "relaxations": list(rep.relaxations),
        "binding_constraints": list(rep.binding_constraints),
        "summary": b.summary,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "run_at": _now(),
    }
    if command_line is not None:
        manifest["command_line"] = command_line
    else:
        manifest["call"] = call
    files["manifest.json"] = canonical_json(manifest)
    return files


def _now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- publishing -----------------------------------------------------------------------------------


def _publish(out_dir: Path, dest: Path, files: Mapping[str, bytes], force: bool) -> Path:
    atomic.clean_stale(out_dir)
    with atomic.staged_folder(dest, force=force) as tmp:  # makes out_dir; removes it again on failure
        for name in FILES:
            atomic.write_bytes(tmp / name, files[name])
    return dest
