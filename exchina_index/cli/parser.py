"""The command line's arguments: value types that refuse bad input in one line, and the parser."""

from __future__ import annotations

import argparse
import datetime
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from exchina_index.cli.commands import (
    cmd_backtest,
    cmd_calc,
    cmd_calendar,
    cmd_data_fetch,
    cmd_data_status,
    cmd_diff,
    cmd_rebalance,
    cmd_sweep,
    cmd_universe_show,
    cmd_universe_validate,
    cmd_weights,
)

__all__ = ["build_parser"]

#: The years the command line accepts (those of :data:`exchina_index.dates.MIN_DATE`/``MAX_DATE``).
_YEARS = (1900, 2200)


def _date(text: str) -> str:
    # exactly YYYY-MM-DD: fromisoformat alone also takes '20251128' and ISO weeks ('2025-W48-5')
    try:
        day = datetime.date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        day = None
    if day is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO date YYYY-MM-DD")
    if not _YEARS[0] <= day.year <= _YEARS[1]:
        raise argparse.ArgumentTypeError(f"{text} is outside the years {_YEARS[0]}-{_YEARS[1]}")
    return day.isoformat()


def _aum(text: str) -> float:
    from exchina_index.errors import InputError
    from exchina_index.rules.methodology import check_aum  # the API's rule: positive, finite, at most MAX_AUM_USD

    try:
        return check_aum(text, "--aum")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _year(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a year (e.g. 2027)") from None
    if not _YEARS[0] <= value <= _YEARS[1]:
        raise argparse.ArgumentTypeError(f"year {value} is outside {_YEARS[0]}-{_YEARS[1]}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"the deadline must be between 0 and 86400 seconds, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    p = _Parser(
        prog="exchina-index",
        description="Build, rebalance and backtest the U.S. & Allied (ex-China) Rare Earth Supply Chain index.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors and yfinance's log")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_input_commands(sub)
    _add_index_commands(sub)
    return p


def _debug(sp: argparse.ArgumentParser) -> None:
    """``--debug`` also after the subcommand."""
    sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _deadline(sp: argparse.ArgumentParser) -> None:
    """``--deadline`` for commands that may download."""
    sp.add_argument(
        "--deadline",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="wall-clock limit for Yahoo Finance downloads (default: 120)",
    )


def _no_links(sp: argparse.ArgumentParser) -> None:
    """``--no-china-links``."""
    sp.add_argument(
        "--no-china-links",
        action="store_true",
        help="the universe has no China-link table (the control and stake screens exclude nobody)",
    )


def _report(sp: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--json``: what a script reads instead of the summary table."""
    how = sp.add_mutually_exclusive_group()
    how.add_argument("--quiet", action="store_true", help="print no summary, only the note: lines")
    how.add_argument("--json", action="store_true", help="print one JSON document: folder, files, summary, notes")


def _common(sp: argparse.ArgumentParser, *, market: bool = False) -> None:
    """The input options (universe, links, rulebook; with ``market`` also the data source)."""
    _debug(sp)
    sp.add_argument("--universe", type=Path, default=None, help="universe CSV (default: bundled)")
    sp.add_argument(
        "--links", type=Path, default=None, help="China-link CSV (default: china_links.csv beside the universe)"
    )
    _no_links(sp)
    sp.add_argument("--methodology", type=Path, default=None, help="rulebook TOML (default: bundled)")
    if market:
        sp.add_argument("--source", default="demo", help="demo | yahoo | a folder of CSV files (default: demo)")
        sp.add_argument("--cache-dir", type=Path, default=None, help="cache folder for --source yahoo")
        _deadline(sp)


def _add_input_commands(sub: Any) -> None:
    """``universe``, ``calendar`` and ``data``: the inputs."""
    u = sub.add_parser("universe", help="validate or show the universe").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    v = u.add_parser("validate", help="validate a universe file, its China links and a rulebook")
    _common(v)
    # a positional path (earlier versions) is refused with the one spelling every command takes
    v.add_argument("path", nargs="?", type=Path, default=None, help=argparse.SUPPRESS)
    v.set_defaults(func=cmd_universe_validate)
    s = u.add_parser("show", help="print the universe with stage exposures and eligibility")
    _common(s)
    s.add_argument("--as-of", type=_date, default=None, help="screen date (default: today)")
    s.add_argument(
        "--stage",
        choices=["mining", "refining", "manufacturing"],
        default=None,
        help="only names with exposure to this stage",
    )
    s.set_defaults(func=cmd_universe_show)

    c = sub.add_parser("calendar", help="list review dates: cut-off, announcement, pro-forma, implementation")
    _common(c)
    c.add_argument("--year", type=_year, default=None, help="calendar year (default: this year)")
    c.set_defaults(func=cmd_calendar)

    d = sub.add_parser("data", help="fetch or inspect cached Yahoo Finance data").add_subparsers(
        dest="action", required=True, parser_class=_Parser
    )
    fetch = d.add_parser("fetch", help="download (or top up) the cache for the universe")
    _common(fetch)
    fetch.add_argument("--start", type=_date, default="2015-01-01")
    fetch.add_argument("--end", type=_date, default=None, help="default: the last complete day (yesterday, UTC)")
    fetch.add_argument("--cache-dir", type=Path, default=None)
    _deadline(fetch)
    fetch.set_defaults(func=cmd_data_fetch)
    status = d.add_parser("status", help="per ticker: cached range, gaps, last update")
    _common(status)
    status.add_argument("--cache-dir", type=Path, default=None)
    status.set_defaults(func=cmd_data_status)


def _add_index_commands(sub: Any) -> None:
    """``weights``, ``rebalance``, ``backtest`` and ``tearsheet``: the index."""
    w = sub.add_parser("weights", help="index weights at a review cut-off, with stage totals and binding caps")
    _common(w, market=True)
    w.add_argument("--as-of", type=_date, required=True, help="data cut-off of the review")
    w.add_argument("--aum", type=_aum, default=None, help="fund size in USD (default: rulebook)")
    w.add_argument("--out", type=Path, default=None, help="also write the weights and report to this CSV")
    w.set_defaults(func=cmd_weights)

    r = sub.add_parser("rebalance", help="run a quarterly review and write the files a fund needs")
    _common(r, market=True)
    r.add_argument("--as-of", type=_date, required=True, help="implementation date (or the next review after it)")
    r.add_argument("--aum", type=_aum, default=None, help="fund size in USD (default: rulebook)")
    r.add_argument("--out", type=Path, default=Path("rebalances"), help="output folder (default: rebalances/)")
    r.add_argument("--previous", type=Path, default=None, help="previous portfolio CSV (ticker, weight)")
    r.add_argument(
        "--force", action="store_true", help="replace an existing review folder (the old one is kept as .vN)"
    )
    _report(r)
    r.set_defaults(func=cmd_rebalance)

    for name, helptext in (
        ("backtest", "run a backtest spec: levels, weights, turnover and the tearsheet"),
        ("tearsheet", "run a backtest spec and write only its tearsheet"),
    ):
        b = sub.add_parser(name, help=helptext)
        _debug(b)
        _deadline(b)
        b.add_argument("spec", type=Path, help="a backtest spec, e.g. backtests/allied_demo.toml")
        b.add_argument("--source", default=None, help="override the spec's data source")
        b.add_argument("--cache-dir", type=Path, default=None)
        b.add_argument("--out", type=Path, default=None, help="output folder (default: backtests/output/<name>/)")
        _report(b)
        b.set_defaults(func=cmd_backtest, tearsheet_only=(name == "tearsheet"))
    _add_calc_command(sub)
    _add_research_commands(sub)


def _add_calc_command(sub: Any) -> None:
    """``calc``: the daily calculation agent's files for a period."""
    c = sub.add_parser(
        "calc", help="daily calculation of a spec's index: levels, divisor, compositions, corporate actions, ETF files"
    )
    _debug(c)
    _deadline(c)
    c.add_argument("spec", type=Path, help="a backtest spec, e.g. backtests/allied_demo.toml")
    c.add_argument("--from", dest="date_from", type=_date, required=True, help="first day of the files")
    c.add_argument("--to", dest="date_to", type=_date, required=True, help="last day of the files")
    c.add_argument("--source", default=None, help="override the spec's data source")
    c.add_argument("--cache-dir", type=Path, default=None)
    c.add_argument(
        "--out", type=Path, default=None, help="output folder (default: backtests/output/<name>/daily/<from>_<to>/)"
    )
    c.add_argument("--force", action="store_true", help="replace an existing folder (the old one is kept as .vN)")
    c.add_argument(
        "--unit-shares", type=_positive(int, 1e9, "a whole number"), default=50_000, help="ETF shares per creation unit"
    )
    c.add_argument(
        "--nav-per-share",
        type=_positive(float, 1e6, "a number"),
        default=25.0,
        help="ETF NAV per share at the index start",
    )
    c.set_defaults(func=cmd_calc)


def _add_research_commands(sub: Any) -> None:
    """``sweep`` (rulebook variants on Dask) and ``diff`` (the impact of a rule change)."""
    s = sub.add_parser("sweep", help="backtest a grid of rulebook variants on Dask: table and frontier page")
    _debug(s)
    _deadline(s)
    s.add_argument("spec", type=Path, help="a backtest spec, e.g. backtests/allied_demo.toml")
    s.add_argument(
        "--grid", type=Path, required=True, help="grid TOML of rulebook overrides, e.g. backtests/sweep_demo.toml"
    )
    cluster = s.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=_positive(int, 4096, "a whole number"),
        default=None,
        help="local worker processes (default: one per core)",
    )
    cluster.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786"
    )
    s.add_argument("--source", default=None, help="override the spec's data source")
    s.add_argument("--cache-dir", type=Path, default=None, help="cache folder for --source yahoo")
    s.add_argument("--out", type=Path, default=None, help="output folder (default: backtests/output/<name>-sweep/)")
    s.add_argument(
        "--variant-cache",
        type=Path,
        default=None,
        help="folder of finished variants, for resuming (default: backtests/output/.sweep-cache/)",
    )
    s.set_defaults(func=cmd_sweep)

    d = sub.add_parser("diff", help="impact of a rule change: composition, exposures, turnover, levels")
    _debug(d)
    _deadline(d)
    d.add_argument("old", help="the rulebook in force (TOML, or 'bundled')")
    d.add_argument("new", help="the proposed rulebook (TOML, or 'bundled')")
    d.add_argument("--as-of", type=_date, required=True, help="compare the reviews in force on this date")
    d.add_argument("--start", type=_date, default=None, help="first day of the backtests (default: the data's first)")
    d.add_argument("--aum", type=_aum, default=None, help="fund size in USD (default: the old rulebook's)")
    d.add_argument("--universe", type=Path, default=None, help="universe CSV (default: bundled)")
    d.add_argument(
        "--links", type=Path, default=None, help="China-link CSV (default: china_links.csv beside the universe)"
    )
    d.add_argument("--source", default="demo", help="demo | yahoo | a folder of CSV files (default: demo)")
    d.add_argument("--cache-dir", type=Path, default=None, help="cache folder for --source yahoo")
    d.add_argument("--out", type=Path, default=Path("impact"), help="output folder (default: impact/)")
    d.add_argument("--force", action="store_true", help="replace an existing folder (the old one is kept as .vN)")
    d.set_defaults(func=cmd_diff)


def _positive(cast: Callable[[str], Any], high: float, what: str) -> Callable[[str], Any]:
    """An argument type: ``cast(text)``, more than 0 and at most ``high``."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most {high:g}")
        return value

    return parse


# --- commands -------------------------------------------------------------------------------------
