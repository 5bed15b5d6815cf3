"""The ``exchina-index`` command line.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback, nothing written), 1 internal
error, 130 interrupted. Results go to stdout; progress bars (only when stderr is a terminal) and
errors go to stderr. Every note the market data carries (a repair, a calendar extended with
weekdays, a listing without a price file, what was served from the cache) is printed on stdout as
``note: ...`` after the result, and is recorded in the run's report and manifest.

Heavy libraries (pandas, cvxpy, yfinance, quantstats) are imported inside the command that needs
them so that ``exchina-index --help`` starts fast.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]


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


def _build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    p = _Parser(prog="exchina-index", description="Build, rebalance and backtest the U.S. & Allied "
                "(ex-China) Rare Earth Supply Chain index.")
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
    sp.add_argument("--deadline", type=_seconds, default=120.0, metavar="SECONDS",
                    help="wall-clock limit for Yahoo Finance downloads (default: 120)")


def _no_links(sp: argparse.ArgumentParser) -> None:
    """``--no-china-links``."""
    sp.add_argument("--no-china-links", action="store_true",
                    help="the universe has no China-link table (the control and stake screens exclude nobody)")


def _common(sp: argparse.ArgumentParser, *, market: bool = False) -> None:
    """The input options (universe, links, rulebook; with ``market`` also the data source)."""
    _debug(sp)
    sp.add_argument("--universe", type=Path, default=None, help="universe CSV (default: bundled)")
    sp.add_argument("--links", type=Path, default=None,
                    help="China-link CSV (default: china_links.csv beside the universe)")
    _no_links(sp)
    sp.add_argument("--methodology", type=Path, default=None, help="rulebook TOML (default: bundled)")
    if market:
        sp.add_argument("--source", default="demo", help="demo | yahoo | a folder of CSV files (default: demo)")
        sp.add_argument("--cache-dir", type=Path, default=None, help="cache folder for --source yahoo")
        _deadline(sp)


def _add_input_commands(sub: Any) -> None:
    """``universe``, ``calendar`` and ``data``: the inputs."""
    u = sub.add_parser("universe", help="validate or show the universe").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    v = u.add_parser("validate", help="validate a universe file, its China links and a rulebook")
    _debug(v)
    v.add_argument("path", nargs="?", type=Path, default=None)
    v.set_defaults(universe=None)  # the path above names it; _universe() reads args.universe
    v.add_argument("--links", type=Path, default=None, help="China-link CSV (default: beside the universe)")
    _no_links(v)
    v.add_argument("--methodology", type=Path, default=None)
    v.set_defaults(func=_cmd_universe_validate)
    s = u.add_parser("show", help="print the universe with stage exposures and eligibility")
    _common(s)
    s.add_argument("--as-of", type=_date, default=None, help="screen date (default: today)")
    s.add_argument("--stage", choices=["mining", "refining", "manufacturing"], default=None,
                   help="only names with exposure to this stage")
    s.set_defaults(func=_cmd_universe_show)

    c = sub.add_parser("calendar", help="list review dates: cut-off, announcement, pro-forma, implementation")
    _common(c)
    c.add_argument("--year", type=_year, default=None, help="calendar year (default: this year)")
    c.set_defaults(func=_cmd_calendar)

    d = sub.add_parser("data", help="fetch or inspect cached Yahoo Finance data").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    fetch = d.add_parser("fetch", help="download (or top up) the cache for the universe")
    _common(fetch)
    fetch.add_argument("--start", type=_date, default="2015-01-01")
    fetch.add_argument("--end", type=_date, default=None, help="default: the last complete day (yesterday, UTC)")
    fetch.add_argument("--cache-dir", type=Path, default=None)
    _deadline(fetch)
    fetch.set_defaults(func=_cmd_data_fetch)
    status = d.add_parser("status", help="per ticker: cached range, gaps, last update")
    _common(status)
    status.add_argument("--cache-dir", type=Path, default=None)
    status.set_defaults(func=_cmd_data_status)


def _add_index_commands(sub: Any) -> None:
    """``weights``, ``rebalance``, ``backtest`` and ``tearsheet``: the index."""
    w = sub.add_parser("weights", help="index weights at a review cut-off, with stage totals and binding caps")
    _common(w, market=True)
    w.add_argument("--as-of", type=_date, required=True, help="data cut-off of the review")
    w.add_argument("--aum", type=_aum, default=None, help="fund size in USD (default: rulebook)")
    w.add_argument("--out", type=Path, default=None, help="also write the weights and report to this CSV")
    w.set_defaults(func=_cmd_weights)

    r = sub.add_parser("rebalance", help="run a quarterly review and write the files a fund needs")
    _common(r, market=True)
    r.add_argument("--as-of", type=_date, required=True, help="implementation date (or the next review after it)")
    r.add_argument("--aum", type=_aum, default=None, help="fund size in USD (default: rulebook)")
    r.add_argument("--out", type=Path, default=Path("rebalances"), help="output folder (default: rebalances/)")
    r.add_argument("--previous", type=Path, default=None, help="previous portfolio CSV (ticker, weight)")
    r.add_argument("--force", action="store_true",
                   help="replace an existing review folder (the old one is kept as .vN)")
    r.set_defaults(func=_cmd_rebalance)

    for name, helptext in (("backtest", "run a backtest spec: levels, weights, turnover and the tearsheet"),
                           ("tearsheet", "run a backtest spec and write only its tearsheet")):
        b = sub.add_parser(name, help=helptext)
        _debug(b)
        _deadline(b)
        b.add_argument("spec", type=Path, help="a backtest spec, e.g. backtests/allied_demo.toml")
        b.add_argument("--source", default=None, help="override the spec's data source")
        b.add_argument("--cache-dir", type=Path, default=None)
        b.add_argument("--out", type=Path, default=None, help="output folder (default: backtests/output/<name>/)")
        b.set_defaults(func=_cmd_backtest, tearsheet_only=(name == "tearsheet"))


# --- commands -------------------------------------------------------------------------------------


def _cmd_universe_validate(args: argparse.Namespace) -> int:
    from exchina_index.construction.screens import screen
    from exchina_index.rules.methodology import load_methodology

    universe = _universe(args, args.path)
    method = load_methodology(args.methodology)
    s = screen(universe, datetime.date.today().isoformat(), method)
    f = universe.frame
    print(f"universe OK: {len(f)} listings, {f['issuer'].nunique()} issuers, {len(universe.links)} China links "
          f"({universe.path})")
    print(f"rulebook OK: version {method.version} ({method.source})")
    print(f"eligible today (screens without market data): {int(s['eligible'].sum())} listings")
    _print_notes(universe.notes)
    return 0


def _universe(args: argparse.Namespace, path: Path | None = None):
    """The universe named by --universe (or ``path``), --links and --no-china-links."""
    from exchina_index.universe.loading import load_universe

    return load_universe(path if path is not None else args.universe, args.links,
                         allow_no_links=args.no_china_links)


def _cmd_universe_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.construction.screens import screen
    from exchina_index.rules.methodology import load_methodology
    universe = _universe(args)
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
    _print_notes(universe.notes)
    return 0


def _cmd_calendar(args: argparse.Namespace) -> int:
    from exchina_index.publish.rebalance import calendar_table
    from exchina_index.rules.calendar import extrapolation_notes
    from exchina_index.rules.methodology import load_methodology

    method = load_methodology(args.methodology)
    year = args.year if args.year is not None else datetime.date.today().year
    dates = calendar_table(method, year)
    print(dates.to_string(index=False, formatters={c: lambda d: d.date().isoformat() for c in dates.columns}))
    _print_notes(extrapolation_notes([method.schedule.calendar], f"{year}-01-01", f"{year}-12-31"))
    return 0


def _load_inputs(args: argparse.Namespace):
    from exchina_index.data import load_market_data
    from exchina_index.rules.methodology import load_methodology

    _quiet_yfinance(args)
    universe = _universe(args)
    method = load_methodology(args.methodology)
    market = load_market_data(universe, source=args.source, cache_dir=args.cache_dir, deadline_s=args.deadline)
    return universe, method, market


def _print_notes(notes: Sequence[str]) -> None:
    """The run's notes (universe, market data), one line each, after the result; the manifest has them too."""
    for note in notes:
        print(f"note: {' '.join(str(note).split())}")


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from exchina_index.data.yahoo import fetch

    _quiet_yfinance(args)
    universe = _universe(args)
    with _progress("fetching") as bar:  # no --end: up to the last complete day (yesterday, UTC)
        market = fetch(universe, args.start, args.end, cache_dir=args.cache_dir, deadline_s=args.deadline,
                       progress=lambda stage, done, total: bar(done, total, stage))
    print(f"cache up to date for {len(market.close.columns)} listings, from {args.start}")
    _print_notes(market.notes)
    return 0


def _cmd_data_status(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.data.status import cache_status

    table = cache_status(_universe(args), cache_dir=args.cache_dir)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string())
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.atomic import write_text
    from exchina_index.construction.review import build_weights
    from exchina_index.rules.methodology import STAGES

    universe, method, market = _load_inputs(args)
    result = build_weights(universe, market, args.as_of, method, aum=args.aum)
    n = result.report.names
    held = n.held()
    table = pd.DataFrame({
        "name": universe.frame.loc[held, "name"].str.slice(0, 26), "country": n.country[held],
        **{s: n.exposure.loc[held, s] for s in STAGES}, "u": n.anchor[held], "cap": n.cap[held],
        "weight": n.weight[held], "binding": n.binding[held],
    }).sort_values("weight", ascending=False)
    if args.out is not None:  # the file keeps every field of the record, one column each
        out = n.to_frame().assign(weight=result.weights).sort_index()
        write_text(args.out, out.to_csv(float_format="%.10f", lineterminator="\n"))
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(float_format=lambda x: f"{x:.4f}"))
    print()
    print(result.report.summary())
    _print_notes(universe.notes + market.notes)
    if args.out is not None:
        print(f"wrote {args.out}")
    return 0


def _cmd_rebalance(args: argparse.Namespace) -> int:
    from exchina_index.publish.rebalance import rebalance

    universe, method, market = _load_inputs(args)
    folder = rebalance(universe, market, args.as_of, aum=args.aum, out=args.out, methodology=method,
                       previous=args.previous, force=args.force, command_line=" ".join(sys.argv))
    print(f"review written to {folder}")
    _print_notes(universe.notes + market.notes)
    return 0


def _cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from exchina_index.publish.runner import run_spec

    _quiet_yfinance(args)
    with _progress("reviews") as bar:
        out = run_spec(args.spec, source=args.source, cache_dir=args.cache_dir, out=args.out,
                       tearsheet_only=args.tearsheet_only, progress=bar, deadline_s=args.deadline)
    print(f"tearsheet: {out / 'tearsheet.html'}")
    print(f"thematic page: {out / 'thematic.html'}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    relaxed = [f"{manifest['relaxed_reviews']} of {manifest['reviews']} reviews needed the relaxation ladder "
               "(see reviews.csv)"] if manifest["relaxed_reviews"] else []
    _print_notes(manifest["universe"]["notes"] + manifest["data"]["notes"] + relaxed)
    return 0


class _progress:
    """A transient rich progress bar on stderr, usable as ``progress(done, total, label)``.

    Drawn only when stderr is a terminal, so redirected or piped output carries no bar and no
    blank line.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._bar: object = None

    def __enter__(self) -> Callable[..., None]:
        if not sys.stderr.isatty():
            return lambda done, total, label="": None
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(transient=True, console=Console(stderr=True))
        bar.start()
        task = bar.add_task(self.what, total=None)
        self._bar = bar

        def update(done: int, total: int, label: object = "") -> None:
            bar.update(task, completed=done, total=total, description=f"{self.what} {label}")

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()  # type: ignore[attr-defined]


# --- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the console script)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("exchina-index: interrupted; nothing was published", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        from exchina_index.errors import ExchinaIndexError

        if isinstance(exc, ExchinaIndexError):
            print(f"exchina-index: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(f"exchina-index: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


def _configure_logging(debug: bool) -> None:
    """Log records to stderr only with ``--debug``: otherwise what matters is the one-line error
    or a ``note:`` line on stdout, which the package's log records (and yfinance's) would repeat."""
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        return
    package = logging.getLogger("exchina_index")
    package.addHandler(logging.NullHandler())
    package.propagate = False


def _quiet_yfinance(args: argparse.Namespace) -> None:
    """yfinance's own log and warnings off stderr (imports pandas: only in commands that load data)."""
    from exchina_index.data.yahoo import quiet_yfinance_logs

    quiet_yfinance_logs(args.debug)


def run() -> None:
    """The console script: :func:`main`, then exit even if a library left a worker thread behind.

    A backstop: the Yahoo loader runs its downloads on daemon threads, but a non-daemon thread
    stuck on a server that never answers (from any library) would keep the interpreter alive
    after the error was printed. Once the result is printed there is nothing left to wait for, so
    the process then ends with ``os._exit``.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, bad arguments (already printed)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
