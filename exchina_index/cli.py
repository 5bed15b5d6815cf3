"""The ``exchina-index`` command line.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 internal error.
Heavy libraries (pandas, cvxpy, yfinance, quantstats) are imported inside the command that needs
them so that ``exchina-index --help`` starts fast.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main"]


class _BadArgument(Exception):
    """A command-line value that cannot be used (reported like any input error)."""


def _date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO date YYYY-MM-DD") from None


def _aum(text: str) -> float:
    try:
        value = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (USD, e.g. 250e6)") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"AUM must be a positive amount in USD, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="exchina-index", description="Build, rebalance and backtest the U.S. & Allied "
                "(ex-China) Rare Earth Supply Chain index.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp: argparse.ArgumentParser, *, market: bool = False) -> None:
        sp.add_argument("--universe", type=Path, default=None, help="universe CSV (default: bundled)")
        sp.add_argument("--methodology", type=Path, default=None, help="rulebook TOML (default: bundled)")
        if market:
            sp.add_argument("--source", default="demo", help="demo | yahoo | a folder of CSV files (default: demo)")
            sp.add_argument("--cache-dir", type=Path, default=None, help="cache folder for --source yahoo")

    u = sub.add_parser("universe", help="validate or show the universe").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    v = u.add_parser("validate", help="validate a universe file, its China links and a rulebook")
    v.add_argument("path", nargs="?", type=Path, default=None)
    v.add_argument("--links", type=Path, default=None, help="China-link CSV (default: beside the universe)")
    v.add_argument("--methodology", type=Path, default=None)
    v.set_defaults(func=_cmd_universe_validate)
    s = u.add_parser("show", help="print the universe with stage exposures and eligibility")
    common(s)
    s.add_argument("--as-of", type=_date, default=None, help="screen date (default: today)")
    s.add_argument("--stage", choices=["mining", "refining", "manufacturing"], default=None,
                   help="only names with exposure to this stage")
    s.set_defaults(func=_cmd_universe_show)

    c = sub.add_parser("calendar", help="list review dates: cut-off, announcement, pro-forma, implementation")
    common(c)
    c.add_argument("--year", type=int, default=None, help="calendar year (default: this year)")
    c.set_defaults(func=_cmd_calendar)
    return p


# --- commands -------------------------------------------------------------------------------------


def _cmd_universe_validate(args: argparse.Namespace) -> int:
    from .methodology import load_methodology
    from .screens import screen
    from .universe import load_universe

    universe = load_universe(args.path, args.links)
    method = load_methodology(args.methodology)
    s = screen(universe, datetime.date.today().isoformat(), method)
    f = universe.frame
    print(f"universe OK: {len(f)} listings, {f['issuer'].nunique()} issuers, {len(universe.links)} China links "
          f"({universe.path})")
    print(f"rulebook OK: version {method.version} ({method.source})")
    print(f"eligible today (screens without market data): {int(s['eligible'].sum())} listings")
    return 0


def _cmd_universe_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from .methodology import load_methodology
    from .screens import screen
    from .universe import load_universe

    universe = load_universe(args.universe)
    method = load_methodology(args.methodology)
    as_of = args.as_of or datetime.date.today().isoformat()
    s = screen(universe, as_of, method)
    f = universe.frame
    table = pd.DataFrame({
        "name": f["name"].str.slice(0, 28), "country": s["country"], "exch": f["exchange"],
        "mining": f["mining"], "refining": f["refining"], "manuf": f["manufacturing"], "purity": f["purity"],
        "eligible": s["eligible"].map({True: "yes", False: "no"}), "reason": s["reason"],
    })
    if args.stage:
        table = table[f[args.stage] > 0]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
        print(table.to_string(float_format=lambda x: f"{x:.2f}"))
    eligible = s.loc[table.index, "eligible"]
    stage_line = ", ".join(f"{st} {f.loc[eligible[eligible].index, st].sum():.1f}"
                           for st in ("mining", "refining", "manufacturing"))
    print(f"\n{int(eligible.sum())} of {len(table)} listings eligible at {as_of} (without size/liquidity screens); "
          f"stage exposure of eligible names: {stage_line}")
    return 0


def _cmd_calendar(args: argparse.Namespace) -> int:
    from .calendar import review_dates
    from .methodology import load_methodology

    method = load_methodology(args.methodology)
    year = args.year or datetime.date.today().year
    dates = review_dates(method, start=f"{year}-01-01", end=f"{year}-12-31")
    print(dates.to_string(index=False, formatters={c: lambda d: d.date().isoformat() for c in dates.columns}))
    return 0


# --- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("exchina-index: interrupted; nothing was published", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        from .errors import ExchinaIndexError

        if isinstance(exc, (ExchinaIndexError, _BadArgument)):
            print(f"exchina-index: error: {exc}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(f"exchina-index: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
