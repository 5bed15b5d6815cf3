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

The manifest also says whether the review is **official**: a review implemented before the
rulebook's ``governance.effective`` date is computed under the new rules but is a pro-forma
(``"official": false``, ``"rulebook_effective"``: that date; :func:`proforma_note` gives the line
the command line prints), and it lists the governance rules applied (``"governance"``) and the
discretion-log decisions in force at the cut-off (``"decisions"``), one line each.

Conventions (also in the README)
--------------------------------
* **Point in time.** The review is the one whose implementation date is ``as_of`` or the next one
  after it (:func:`~exchina_index.rules.calendar.review_for`). Only data up to its cut-off is read.
* **Reference prices** are the closes at the *cut-off* (the last price on or before it), in the
  listing's ``currency`` (major unit: GBP, not the GBp quote unit given in ``price_unit``) and in USD.
  Index providers publish pro-forma shares at the close before implementation, but a run made at
  the announcement only knows the data to the cut-off; shares are therefore indicative and must be
  recomputed from the weights at the implementation close.
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

import json
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index import atomic
from exchina_index._text import SYNTHETIC_TAG
from exchina_index.construction.screens import last_screenable_date
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import InputError, OutputError, ReviewDateError
from exchina_index.publish.deliverables import assemble
from exchina_index.publish.files import FILES, call_record, render_files
from exchina_index.publish.previous import resolve_previous
from exchina_index.rules.calendar import review_dates, review_for
from exchina_index.rules.methodology import Methodology, check_aum, load_methodology, resolve_methodology
from exchina_index.universe.loading import Universe, require_universe

__all__ = ["rebalance", "calendar_table", "summary", "proforma_note"]


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
    from exchina_index.construction.review import build_weights, drift_weights
    from exchina_index.data import require_market

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
    prev = resolve_previous(previous, out_dir, universe, m, implement)

    close_usd = market.close_usd(cutoff)  # point-in-time view: nothing after the cut-off
    drifted = None
    if prev is not None:
        start = min(prev.date, cutoff)
        if start < close_usd.index[0]:
            raise InputError(
                f"the previous portfolio is dated {prev.date.date()}, before the market data starts "
                f"({close_usd.index[0].date()}); give market data covering it",
                path=prev.path,
            )
        drifted = drift_weights(prev.weights.reindex(universe.frame.index, fill_value=0.0), close_usd, start, cutoff)
    result = build_weights(universe, market, cutoff, m, aum_usd, previous=drifted, optimizer=optimizer)

    bundle = assemble(universe, market, close_usd, m, review, aum_usd, result, prev, drifted, as_of)
    files = render_files(bundle, command_line=command_line, call=call_record(as_of, aum, previous, force, methodology))
    return _publish(out_dir, dest, files, force)


def proforma_note(manifest: Mapping[str, Any]) -> str | None:
    """The line to show for a review folder whose manifest says it is not the official review (else None).

    Examples
    --------
    >>> man = {"official": False, "rulebook_effective": "2027-03-19", "methodology": {"version": "2.0.0"},
    ...        "review": {"implementation": "2025-12-19"}}
    >>> for part in proforma_note(man).split("; "):
    ...     print(part)
    rulebook 2.0.0 takes effect on 2027-03-19
    the review of 2025-12-19 under it is a pro-forma, not the official review
    >>> proforma_note({**man, "official": True}) is None
    True
    """
    if manifest.get("official", True):
        return None
    return (
        f"rulebook {manifest['methodology']['version']} takes effect on {manifest['rulebook_effective']}; the review "
        f"of {manifest['review']['implementation']} under it is a pro-forma, not the official review"
    )


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
    if isinstance(y, bool) or not isinstance(y, numbers.Integral) or not MIN_DATE.year <= int(y) <= MAX_DATE.year:
        raise ReviewDateError(f"year must be a whole number between {MIN_DATE.year} and {MAX_DATE.year}, got {year!r}")
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
    note = proforma_note(man)
    if note:
        lines.append(note)
    if man["data"]["synthetic"]:
        lines.append(f"{SYNTHETIC_TAG}: not real market prices")
    return "\n".join(lines)


def _valid_reviews(m: Methodology, dates: pd.DatetimeIndex, last: pd.Timestamp) -> pd.DataFrame:
    """Reviews whose cut-off lies inside the data, on or before ``last`` (the last price of a
    listing the screens admit), with ``min_history_sessions`` sessions up to it."""
    sched = review_dates(m, dates[0], dates[-1] + pd.Timedelta(days=100))
    need = max(1, int(m.size.min_history_sessions))
    have = dates.searchsorted(sched["cutoff"].to_numpy(), side="right")
    ok = (have >= need) & (sched["cutoff"] <= last).to_numpy()
    return sched[ok].reset_index(drop=True)


def _review_row(m: Methodology, as_of: Any, market: Any, universe: Universe) -> pd.Series:
    """The review implemented on ``as_of`` or next, if the market data can run it (else why not)."""
    row = review_for(m, parse_date(as_of, "as_of"))
    dates = pd.DatetimeIndex(market.close.index)
    if len(dates) == 0:
        raise ReviewDateError("the market data holds no dates; fetch or load data first")
    last, beyond = last_screenable_date(universe, market, m)
    valid = _valid_reviews(m, dates, last)
    if len(valid) and (valid["implement"] == row["implement"]).any():
        return row
    text = as_of.date().isoformat() if isinstance(as_of, pd.Timestamp) else str(as_of)
    where = (
        f"valid review dates with this data ({dates[0].date()} to {dates[-1].date()}, "
        f"{m.size.min_history_sessions} sessions of history needed before a cut-off): "
        + (f"{valid['implement'].iloc[0].date()} to {valid['implement'].iloc[-1].date()}" if len(valid) else "none")
    )
    if row["cutoff"] > dates[-1]:
        why = f"its cut-off {row['cutoff'].date()} is after the last market data ({dates[-1].date()})"
    elif row["cutoff"] > last:
        why = (
            f"its cut-off {row['cutoff'].date()} is after the last price of a listing the screens admit "
            f"({last.date()}; later prices are only for screened-out listings: {', '.join(beyond[:10])})"
        )
    else:
        why = f"its cut-off {row['cutoff'].date()} has too little market history before it"
    raise ReviewDateError(
        f"no review for {text}: the review implemented on {row['implement'].date()} cannot run because {why}; {where}"
    )


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
            f"to keep the old one as {atomic.next_version_name(dest).name} and write a new one)"
        )


def _publish(out_dir: Path, dest: Path, files: Mapping[str, bytes], force: bool) -> Path:
    """Write ``files`` into a staged folder and publish it as ``dest`` with one rename."""
    atomic.clean_stale(out_dir)
    with atomic.staged_folder(dest, force=force) as tmp:  # makes out_dir; removes it again on failure
        for name in FILES:
            atomic.write_bytes(tmp / name, files[name])
    return dest
