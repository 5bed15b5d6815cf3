"""The subcommands: each loads its inputs, runs one job of the package and prints its result.

Heavy libraries (pandas, cvxpy, yfinance, quantstats) are imported inside the command that needs
them so that ``exchina-index --help`` starts fast.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "cmd_backtest",
    "cmd_calc",
    "cmd_calendar",
    "cmd_data_fetch",
    "cmd_data_status",
    "cmd_diff",
    "cmd_rebalance",
    "cmd_sweep",
    "cmd_universe_show",
    "cmd_universe_validate",
    "cmd_weights",
]


def cmd_universe_validate(args: argparse.Namespace) -> int:
    from exchina_index.construction.screens import screen
    from exchina_index.rules.methodology import load_methodology

    if args.path is not None:
        from exchina_index.errors import InputError

        raise InputError(f"name the universe with --universe: exchina-index universe validate --universe {args.path}")
    universe = _universe(args)
    method = load_methodology(args.methodology)
    s = screen(universe, datetime.date.today().isoformat(), method)
    f = universe.frame
    print(
        f"universe OK: {len(f)} listings, {f['issuer'].nunique()} issuers, {len(universe.links)} China links, "
        f"{len(universe.history)} dated reference entries, {len(universe.corporate_actions)} corporate actions "
        f"({universe.path})"
    )
    print(f"rulebook OK: version {method.version} ({method.source})")
    print(f"eligible today (screens without market data): {int(s['eligible'].sum())} listings")
    _print_notes(universe.notes)
    return 0


def _universe(args: argparse.Namespace):
    """The universe named by --universe, --links and --no-china-links."""
    from exchina_index.universe.loading import load_universe

    return load_universe(args.universe, args.links, allow_no_links=args.no_china_links)


def cmd_universe_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.construction.screens import screen
    from exchina_index.rules.methodology import load_methodology

    universe = _universe(args)
    method = load_methodology(args.methodology)
    as_of = args.as_of or datetime.date.today().isoformat()
    s = screen(universe, as_of, method)
    f = universe.frame
    facts = universe.facts_at(as_of)  # the stage split and purity in force at the date
    table = pd.DataFrame(
        {
            "name": f["name"].str.slice(0, 28),
            "country": s["country"],
            "exch": f["exchange"],
            "mining": facts["mining"],
            "refining": facts["refining"],
            "manuf": facts["manufacturing"],
            "purity": facts["purity"],
            "eligible": s["eligible"].map({True: "yes", False: "no"}),
            "reason": s["reason"],
        }
    )
    if args.stage:
        table = table[facts[args.stage] > 0]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
        print(table.to_string(float_format=lambda x: f"{x:.2f}"))
    eligible = s.loc[table.index, "eligible"]
    stage_line = ", ".join(
        f"{st} {facts.loc[eligible[eligible].index, st].sum():.1f}" for st in ("mining", "refining", "manufacturing")
    )
    print(
        f"\n{int(eligible.sum())} of {len(table)} listings eligible at {as_of} (without size/liquidity screens); "
        f"stage exposure of eligible names: {stage_line}"
    )
    _print_notes(universe.notes)
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
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


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from exchina_index.data.yahoo import fetch

    _quiet_yfinance(args)
    universe = _universe(args)
    with _progress("fetching") as bar:  # no --end: up to the last complete day (yesterday, UTC)
        market = fetch(
            universe,
            args.start,
            args.end,
            cache_dir=args.cache_dir,
            deadline_s=args.deadline,
            progress=lambda stage, done, total: bar(done, total, stage),
        )
    print(f"cache up to date for {len(market.close.columns)} listings, from {args.start}")
    _print_notes(market.notes)
    return 0


def cmd_data_status(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.data.status import cache_status

    table = cache_status(_universe(args), cache_dir=args.cache_dir)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string())
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    import pandas as pd

    from exchina_index.atomic import write_text
    from exchina_index.construction.review import build_weights
    from exchina_index.rules.methodology import STAGES

    universe, method, market = _load_inputs(args)
    result = build_weights(universe, market, args.as_of, method, aum=args.aum)
    n = result.report.names
    held = n.held()
    table = pd.DataFrame(
        {
            "name": universe.frame.loc[held, "name"].str.slice(0, 26),
            "country": n.country[held],
            **{s: n.exposure.loc[held, s] for s in STAGES},
            "u": n.anchor[held],
            "cap": n.cap[held],
            "weight": n.weight[held],
            "binding": n.binding[held],
        }
    ).sort_values("weight", ascending=False)
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


def cmd_rebalance(args: argparse.Namespace) -> int:
    import json

    from exchina_index.cli.summary import rebalance_lines
    from exchina_index.publish.rebalance import proforma_note, rebalance

    universe, method, market = _load_inputs(args)
    folder = rebalance(
        universe,
        market,
        args.as_of,
        aum=args.aum,
        out=args.out,
        methodology=method,
        previous=args.previous,
        force=args.force,
        command_line=" ".join(sys.argv),
    )
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    note = proforma_note(manifest)
    _report(args, manifest, folder, rebalance_lines, [*((note,) if note else ()), *universe.notes, *market.notes])
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from exchina_index.cli.summary import backtest_lines
    from exchina_index.publish.runner import run_spec

    _quiet_yfinance(args)
    with _progress("reviews") as bar:
        out = run_spec(
            args.spec,
            source=args.source,
            cache_dir=args.cache_dir,
            out=args.out,
            tearsheet_only=args.tearsheet_only,
            progress=bar,
            deadline_s=args.deadline,
        )
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    _report(args, manifest, out, backtest_lines, manifest["universe"]["notes"] + manifest["data"]["notes"])
    return 0


def _report(
    args: argparse.Namespace,
    manifest: dict,
    folder: Path,
    lines: Callable[[dict, Path], list[str]],
    notes: Sequence[str],
) -> None:
    """The summary table and the notes; only the notes with --quiet; one JSON document with --json."""
    if args.json:
        from exchina_index.cli.summary import json_document

        print(json_document(manifest, folder, [" ".join(str(n).split()) for n in notes]))
        return
    if not args.quiet:
        print("\n".join(lines(manifest, folder)))
    _print_notes(notes)


def cmd_calc(args: argparse.Namespace) -> int:
    from exchina_index.publish.daily_files import run_calc

    _quiet_yfinance(args)
    with _progress("reviews") as bar:
        folder, result = run_calc(
            args.spec,
            args.date_from,
            args.date_to,
            source=args.source,
            cache_dir=args.cache_dir,
            out=args.out,
            force=args.force,
            unit_shares=args.unit_shares,
            nav_per_share=args.nav_per_share,
            progress=bar,
            deadline_s=args.deadline,
        )
    levels = result.daily.levels.loc[args.date_from : args.date_to]
    first, last = levels.iloc[0], levels.iloc[-1]
    notices = result.corporate_actions
    inside = notices[(notices["date"] >= levels.index[0]) & (notices["date"] <= levels.index[-1])]
    print(f"daily files for {len(levels)} days ({levels.index[0].date()} to {levels.index[-1].date()}) in {folder}")
    print(
        f"price return {first['price_return']:.4f} -> {last['price_return']:.4f}, net total return "
        f"{first['net_total_return']:.4f} -> {last['net_total_return']:.4f}, divisor {last['divisor']:.6g}, "
        f"{int(last['constituents'])} constituents"
    )
    print(f"corporate actions in the period: {len(inside)} ({int(inside['held'].sum())} on constituents)")
    synthetic = ["the market data are SYNTHETIC (demo): no level here is the performance of a real index"]
    _print_notes((synthetic if result.synthetic else []) + list(result.data_notes))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from exchina_index.publish.sweep_files import run_sweep

    _quiet_yfinance(args)
    with _progress("variants") as bar:
        folder, result = run_sweep(
            args.spec,
            args.grid,
            source=args.source,
            cache_dir=args.cache_dir,
            out=args.out,
            variant_cache=args.variant_cache,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=bar,
            deadline_s=args.deadline,
        )
    t = result.table
    failed = int((t["error"] != "").sum())
    print(
        f"sweep: {len(t)} variants over {', '.join(result.grid.keys)} "
        f"({result.computed} computed, {result.from_cache} from the variant cache"
        + (f", {failed} failed: see the page" if failed else "")
        + ")"
    )
    print(f"table: {folder / 'sweep.csv'} (and sweep.parquet)")
    print(f"frontier page: {folder / 'sweep.html'}")
    synthetic = ["the market data are SYNTHETIC (demo): no figure here is the performance of a real index"]
    _print_notes((synthetic if result.synthetic else []) + list(result.data_notes))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    import json

    from exchina_index.publish.impact_files import run_diff

    _quiet_yfinance(args)
    folder = run_diff(
        args.old,
        args.new,
        as_of=args.as_of,
        universe=args.universe,
        links=args.links,
        source=args.source,
        cache_dir=args.cache_dir,
        aum=args.aum,
        start=args.start,
        out=args.out,
        force=args.force,
        deadline_s=args.deadline,
    )
    import pandas as pd

    summary = pd.read_csv(folder / "summary.csv", keep_default_na=False).set_index(["section", "figure"])
    switch = summary.loc["switch", "change"]
    review = summary.loc[("composition", "review")]
    print(
        f"switch at the review in force on {args.as_of} (OLD {review['old']}, NEW {review['new']}): "
        f"{switch['adds']} adds, {switch['deletes']} deletes, {switch['increases']} increases, "
        f"{switch['decreases']} decreases; one-way turnover {float(switch['one_way_turnover']):.2%}"
    )
    cagr = summary.loc[("history", "cagr")]
    print(f"net total return CAGR over the history: OLD {float(cagr['old']):.2%}, NEW {float(cagr['new']):.2%}")
    print(f"impact files and page: {folder} (open {folder / 'impact.html'})")
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["data"]
    synthetic = ["the market data are SYNTHETIC (demo): no figure here is the performance of a real index"]
    _print_notes((synthetic if data["synthetic"] else []) + list(data["notes"]))
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


def _quiet_yfinance(args: argparse.Namespace) -> None:
    """yfinance's own log and warnings off stderr (imports pandas: only in commands that load data)."""
    from exchina_index.data.yahoo import quiet_yfinance_logs

    quiet_yfinance_logs(args.debug)
