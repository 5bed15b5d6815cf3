"""The daily calculation agent's files: levels, compositions, corporate-action notices, ETF files.

:func:`run_calc` runs a backtest spec's index from its start (the same reviews, replacements and
corporate actions as the backtest) with the daily calculation from index shares and a divisor
(:mod:`exchina_index.simulation.daily`), and writes the days ``date_from`` to ``date_to`` into one
folder, default ``<spec folder>/output/<name>/daily/<from>_<to>/``:

============================  ====================================================================
``levels.csv``                per day: price_return, total_return, net_total_return, divisor,
                              constituents
``closing/DATE.csv``          the closing composition: ticker, isin, name, currency, index_shares,
                              price (local, as traded), fx (USD per unit), market_value_usd, weight
``opening/DATE.csv``          the opening composition of the next session (``session``), after its
                              corporate actions: index shares at the reference prices. After the
                              last date of the data, before the next session's events (unknown)
``corporate_actions.csv``     every event with an ex-date in the period and its effect (index shares,
                              prices, divisor before and after, the level it kept)
``etf/basket_DATE.csv``       the creation basket of one creation unit, rounded to board lots
``etf/holdings_DATE.csv``     the fund's holdings in the layout of SEC Rule 6c-11 disclosures
``etf/summary.csv``           per day: NAV per share, unit value, basket value, cash component,
                              estimated dividends
``manifest.json``             the spec, the period, rulebook, universe and data fingerprints (and
                              whether the data are synthetic) and the SHA-256 of every file
============================  ====================================================================

The folder is built in a temporary sibling and published with one rename
(:func:`~exchina_index.atomic.staged_folder`); an existing folder is never replaced without
``force`` (the old one is then kept as ``.vN``). Nothing in it depends on the clock: the same inputs
give the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index import atomic
from exchina_index.errors import ReviewDateError
from exchina_index.publish.etf import (
    BASKET_COLUMNS,
    CASH_DESCRIPTION,
    CASH_TICKER,
    HOLDINGS_COLUMNS,
    EtfTerms,
    creation_basket,
    holdings_6c11,
)
from exchina_index.rules.spec import load_spec

__all__ = ["run_calc", "CALC_SCHEMA", "write_daily_files"]

#: Schema name of a daily calculation folder's ``manifest.json``.
CALC_SCHEMA = "exchina-index/daily-calculation/1"
_COMPOSITION = ("isin", "name", "currency", "index_shares", "price", "fx", "market_value_usd", "weight")


def run_calc(
    spec_path: str | Path,
    date_from: str,
    date_to: str,
    *,
    source: str | None = None,
    cache_dir: Path | None = None,
    out: Path | None = None,
    force: bool = False,
    unit_shares: int = 50_000,
    nav_per_share: float = 25.0,
    progress: Callable[[int, int, object], None] | None = None,
    deadline_s: float | None = None,
) -> tuple[Path, Any]:
    """Calculate the spec's index and write the daily files of ``date_from`` .. ``date_to``.

    Returns the folder and the :class:`~exchina_index.simulation.backtest.BacktestResult` (whose
    ``daily`` holds the calculation). The index is calculated to the end of the data, so a day's
    files do not depend on ``date_to`` (the opening composition of its last day knows the next
    session). The ETF files are for a creation unit of ``unit_shares`` ETF shares at
    ``nav_per_share`` USD at the index start (growing with the fund's NAV) and a fund of the
    spec's AUM.

    Raises
    ------
    ReviewDateError
        The period is empty, reversed, or outside the index's life in the data.
    OutputError
        The folder exists and ``force`` is not given, or cannot be written (checked before any work).
    InputError, DataError
        From the spec, the universe (the event file is validated with it) or the data.
    """
    from exchina_index.data import load_market_data
    from exchina_index.simulation.backtest import backtest
    from exchina_index.universe.loading import load_universe

    spec = load_spec(spec_path)
    lo, hi = pd.Timestamp(date_from), pd.Timestamp(date_to)
    if hi < lo:
        raise ReviewDateError(f"--to {hi.date()} is before --from {lo.date()}")
    if hi <= pd.Timestamp(spec.start):
        raise ReviewDateError(
            f"no day of the index up to {hi.date()}: the spec {spec.path.name} starts on {spec.start}"
        )
    target = (
        Path(out) if out is not None else spec.path.parent / "output" / spec.name / "daily" / f"{date_from}_{date_to}"
    )
    if target.parent.is_dir():
        atomic.clean_stale(target.parent)  # temporary folders of a killed run
    with atomic.staged_folder(target, force=force) as staging:
        universe = load_universe(spec.universe, spec.links, allow_no_links=spec.allow_no_links)
        market = load_market_data(universe, source=source or spec.source, cache_dir=cache_dir, deadline_s=deadline_s)
        result = backtest(
            universe, market, spec.methodology, start=spec.start, aum=spec.aum, progress=progress, daily=True
        )
        days = result.levels.index[(result.levels.index >= lo) & (result.levels.index <= hi)]
        if days.empty:
            raise ReviewDateError(
                f"no day of the index between {lo.date()} and {hi.date()}: it runs from "
                f"{result.levels.index[0].date()} to {result.levels.index[-1].date()} on this data"
            )
        write_daily_files(result, days, staging, EtfTerms(unit_shares, nav_per_share, spec.aum))
        manifest = _manifest(spec, result, market, universe, days, staging)
        atomic.write_bytes(staging / "manifest.json", manifest)
    return target, result


def write_daily_files(result: Any, days: pd.DatetimeIndex, folder: Path, etf: EtfTerms) -> None:
    """Write the files of the module docstring (all but the manifest) for ``days`` into ``folder``."""
    calc = result.daily
    frame = result.universe.frame
    levels = calc.levels.loc[days].copy()
    levels["constituents"] = levels["constituents"].astype(int)
    _write_csv(folder / "levels.csv", levels.rename_axis("date").reset_index())
    nav = result.levels["nav"]
    dates = calc.levels.index
    summary = []
    for day in days:
        stamp = day.date().isoformat()
        pos = dates.get_loc(day)
        following = dates[pos + 1] if pos + 1 < len(dates) else None
        closing = _with_identity(calc.closing(day), frame)
        _write_csv(folder / "closing" / f"{stamp}.csv", closing[["ticker", *_COMPOSITION]])
        opening = _with_identity(calc.opening(day), frame)
        opening.insert(0, "session", following.date().isoformat() if following is not None else "")
        _write_csv(folder / "opening" / f"{stamp}.csv", opening[["session", "ticker", *_COMPOSITION]])
        scale = float(nav.loc[day] / nav.dropna().iloc[0])
        terms = EtfTerms(etf.unit_shares, etf.nav_per_share * scale, etf.fund_aum_usd * scale)
        composition = closing.set_index("ticker")
        upcoming = calc.dividends.loc[following] if following is not None else calc.dividends.loc[day] * 0.0
        basket, totals, holdings = _etf_files(composition, upcoming.reindex(composition.index).fillna(0.0), terms)
        _write_csv(folder / "etf" / f"basket_{stamp}.csv", basket)
        _write_csv(folder / "etf" / f"holdings_{stamp}.csv", holdings)
        summary.append({"date": stamp, "nav_per_share": terms.nav_per_share, **totals})
    _write_csv(folder / "etf" / "summary.csv", pd.DataFrame(summary))
    notices = calc.notices[(calc.notices["date"] >= days[0]) & (calc.notices["date"] <= days[-1])].copy()
    notices["date"] = pd.to_datetime(notices["date"]).dt.strftime("%Y-%m-%d")
    _write_csv(folder / "corporate_actions.csv", notices)


def _etf_files(
    composition: pd.DataFrame, dividends: pd.Series, terms: EtfTerms
) -> tuple[pd.DataFrame, dict[str, float], pd.DataFrame]:
    """The creation basket, its summary and the holdings; all cash when the index holds no
    constituent (every one deleted until the next trade)."""
    if not composition.empty:
        basket, totals = creation_basket(composition, dividends, terms)
        return basket, totals, holdings_6c11(composition, terms)
    unit = terms.unit_value_usd
    totals = dict(unit_value_usd=unit, basket_value_usd=0.0, cash_component_usd=unit, estimated_dividends_usd=0.0)
    cash = [CASH_TICKER, "", "", CASH_DESCRIPTION, 0, terms.fund_aum_usd, 1.0]
    return (
        pd.DataFrame(columns=list(BASKET_COLUMNS)),
        {**totals, "constituents": 0},
        pd.DataFrame([cash], columns=list(HOLDINGS_COLUMNS)),
    )


def _with_identity(composition: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The composition with the universe's identity columns (name, isin, figi, currency, lot size)."""
    ident = frame.reindex(composition.index)[["name", "isin", "figi", "currency", "lot_size"]]
    ident = ident.fillna({"isin": "", "figi": "", "name": ""})
    return ident.join(composition).rename_axis("ticker").reset_index()


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def _manifest(spec: Any, result: Any, market: Any, universe: Any, days: pd.DatetimeIndex, folder: Path) -> bytes:
    from exchina_index.publish.files import canonical_json, software_versions

    method = result.methodology
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {
        "schema": CALC_SCHEMA,
        "spec": {"name": spec.name, "file": spec.path.name, "start": spec.start, "aum_usd": spec.aum},
        "period": {"from": days[0].date().isoformat(), "to": days[-1].date().isoformat(), "days": len(days)},
        "methodology": {"version": method.version, "hash": method.hash},
        "universe": {"fingerprint": universe.fingerprint, "corporate_actions": len(universe.corporate_actions)},
        "data": {
            "source": str(market.source),
            "synthetic": bool(market.synthetic),
            "fingerprint": str(market.fingerprint),
            "notes": list(result.data_notes),
        },
        "software": software_versions(method.optimizer.solver),
        "files": {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }
    return canonical_json(manifest)
