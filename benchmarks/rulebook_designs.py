"""Rulebook 2 designs compared by measurement: ``python -m benchmarks.rulebook_designs``.

Backtests the bundled universe on the SYNTHETIC demo market (AUM $250M, 2016-01-01 to 2026-09-30)
under each design of :data:`DESIGNS` (the bundled rulebook with overrides) and measures, over the
reviews implemented from 2021 on and over all of them:

* weighted purity (Σ w·purity, purity in force at the cut-off: ``universe.facts_at``), mean and
  minimum; the largest weight in names with purity below ``purity.low_threshold``;
* the stage deviation (largest |stage share − target|) on BOTH bases, whatever the design's own:
  on weights (Σ w·stage fraction) and on rare-earth exposure (Σ w·purity·stage / Σ w·purity),
  computed here from the weights and the dated facts;
* names held, reviews below ``governance.min_constituents`` of the bundled rulebook (20), reviews
  with a last-resort step;
* the median capacity (``ReviewReport.capacity_aum``: largest AUM without relaxation) and the
  median AUM at which the liquidity caps were computed (the fund's AUM unless the ladder records
  "liquidity caps computed at $X");
* one-way turnover per year (the first review, bought from cash, left out), CAGR and maximum
  drawdown of the net total-return index over the window.

Writes ``benchmarks/results/rulebook_designs.csv`` and prints a markdown table. About 15 s.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/rulebook_designs.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import exchina_index as xi  # noqa: E402
from exchina_index.rules.methodology import STAGES  # noqa: E402
from exchina_index.simulation.performance import cagr, years_between  # noqa: E402

__all__ = [
    "DESIGNS",
    "START",
    "END",
    "AUM",
    "SPLIT",
    "RESULTS",
    "load_demo",
    "stage_deviations",
    "review_rows",
    "summarise",
    "compare",
    "markdown_table",
    "main",
]

#: The designs: rulebook overrides of the bundled rulebook (2.0.0), by name.
DESIGNS: dict[str, dict[str, Any]] = {
    # the bundled default: purity limits, stage balance on rare-earth exposure
    "exposure": {},
    # the same purity limits, stage balance on weights
    "weight": {"stages": {"basis": "weight"}},
    # MVIS pure-play screen (50 % to enter, 25 % to stay), no weighted floor, no low-purity bound
    "mvis_screen": {
        "purity": {"entry": 0.50, "retention": 0.25, "min_weighted": 0.0, "low_max_weight": 1.0},
        "stages": {"basis": "weight"},
    },
    # the MVIS screen with the stage balance on exposure (a fifth design: the screen alone, on the default basis)
    "mvis_exposure": {
        "purity": {"entry": 0.50, "retention": 0.25, "min_weighted": 0.0, "low_max_weight": 1.0},
    },
    # close to rulebook 1.x: no purity rules, weight basis, no constituent floor, no minimum weight
    "rulebook_1x": {
        "purity": {"entry": 0.01, "retention": 0.01, "min_weighted": 0.0, "low_max_weight": 1.0},
        "stages": {"basis": "weight"},
        "governance": {"min_constituents": 1, "min_weight": 0.0},
    },
}

START, END, AUM = "2016-01-01", "2026-09-30", 250e6
#: Reviews implemented on or after this date form the "2021+" window (issue 14's "done when").
SPLIT = pd.Timestamp("2021-01-01")
RESULTS = Path(__file__).resolve().parent / "results"
_LIQUIDITY_AT = re.compile(r"liquidity caps computed at \$([\d,]+)")
#: The purity threshold of the bundled rulebook, the count floor of the bundled rulebook.
_BUNDLED = xi.load_methodology()


def load_demo() -> tuple[xi.Universe, xi.MarketData]:
    """The bundled universe and its SYNTHETIC demo market."""
    universe = xi.load_universe()
    return universe, xi.load_market_data(universe, source="demo")


def stage_deviations(facts: pd.DataFrame, w: pd.Series, targets: Mapping[str, float]) -> tuple[float, float]:
    """Largest |stage share − target| of weights ``w`` on weights and on rare-earth exposure.

    Parameters
    ----------
    facts
        ``universe.facts_at(cutoff)``: ``purity`` and one column per stage (fractions), by ticker.
    w
        Weights by ticker (summing to 1).
    targets
        Stage targets by stage name.

    Returns
    -------
    (on_weight, on_exposure)
    """
    w = w.reindex(facts.index, fill_value=0.0)
    split = facts[list(STAGES)]
    target = pd.Series(targets).reindex(list(STAGES))
    on_weight = split.mul(w, axis=0).sum()
    pw = facts["purity"] * w
    on_exposure = split.mul(pw, axis=0).sum() / float(pw.sum())
    return float((on_weight - target).abs().max()), float((on_exposure - target).abs().max())


def _liquidity_aum(relaxations: tuple[str, ...], aum: float) -> float:
    """The AUM the liquidity caps were computed at: the last one recorded, else the fund's."""
    found = [float(m.group(1).replace(",", "")) for r in relaxations for m in [_LIQUIDITY_AT.search(r)] if m]
    return found[-1] if found else aum


def review_rows(universe: xi.Universe, result: xi.BacktestResult) -> pd.DataFrame:
    """One row per review of a backtest: its figures measured from the weights and the dated facts."""
    targets = result.methodology.stages.target_map
    rows = []
    for implement, wr in result.reviews.items():
        rep, w = wr.report, wr.weights
        facts = universe.facts_at(rep.as_of)
        purity = facts["purity"].reindex(w.index)
        dev_w, dev_e = stage_deviations(facts, w, targets)
        rows.append(
            {
                "implement": implement,
                "cutoff": rep.as_of,
                "weighted_purity": float(purity @ w),
                "low_weight": float(w[(purity < _BUNDLED.purity.low_threshold).to_numpy()].sum()),
                "dev_weight": dev_w,
                "dev_exposure": dev_e,
                "held": int((w > 0).sum()),
                "last_resort": any(r.startswith("last resort") for r in rep.relaxations),
                "capacity": float(rep.capacity_aum),
                "liquidity_aum": _liquidity_aum(rep.relaxations, rep.aum),
                "turnover": float(result.turnover.get(implement, np.nan)),
            }
        )
    return pd.DataFrame(rows).set_index("implement")


def _max_drawdown(level: pd.Series) -> float:
    return float((level / level.cummax() - 1.0).min())


def summarise(rows: pd.DataFrame, level: pd.Series, first_is_start: bool) -> dict[str, float]:
    """The figures of one window of reviews (``rows``) and its net total-return levels (``level``,
    from the window's first implementation date). ``first_is_start``: the window's first review is
    the backtest's first (bought from cash), left out of the turnover."""
    turnover = rows["turnover"].iloc[1:] if first_is_start else rows["turnover"]
    floor = _BUNDLED.governance.min_constituents
    return {
        "reviews": len(rows),
        "purity_mean": float(rows["weighted_purity"].mean()),
        "purity_min": float(rows["weighted_purity"].min()),
        "low_weight_max": float(rows["low_weight"].max()),
        "dev_weight_mean": float(rows["dev_weight"].mean()),
        "dev_weight_max": float(rows["dev_weight"].max()),
        "dev_exposure_mean": float(rows["dev_exposure"].mean()),
        "dev_exposure_max": float(rows["dev_exposure"].max()),
        "held_mean": float(rows["held"].mean()),
        f"below_{floor}": int((rows["held"] < floor).sum()),
        "last_resort": int(rows["last_resort"].sum()),
        "capacity_median": float(rows["capacity"].median()),
        "liquidity_aum_median": float(rows["liquidity_aum"].median()),
        "turnover_per_year": float(turnover.sum() / years_between(level.index)),
        "cagr": cagr(level),
        "max_drawdown": _max_drawdown(level),
    }


def _run(universe: xi.Universe, market: xi.MarketData, m: xi.Methodology, aum: float) -> tuple[xi.BacktestResult, str]:
    """The design's backtest from ``START``; when a review aborts it (``InfeasibleError``), the note and
    the backtest started at ``SPLIT`` instead (the 2021+ window is then measured from cash)."""
    try:
        return xi.backtest(universe, market, m, start=START, end=END, aum=aum), ""
    except xi.InfeasibleError as exc:
        note = f"aborted: {str(exc).split(';')[0]}; 2021+ from a backtest started {SPLIT.date()}"
        return xi.backtest(universe, market, m, start=SPLIT, end=END, aum=aum), note


def compare(
    designs: Mapping[str, Mapping[str, Any]] = DESIGNS, aum: float = AUM
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Backtest every design; one summary row per design and window (with a ``note`` when the full
    backtest aborted: its "all" row is then left out), and the per-review rows."""
    universe, market = load_demo()
    out, per_review = [], {}
    for name, overrides in designs.items():
        m = _BUNDLED.with_overrides(overrides) if overrides else _BUNDLED
        result, note = _run(universe, market, m, aum)
        rows = review_rows(universe, result)
        per_review[name] = rows
        level = result.levels["net_total_return"]
        late = rows[rows.index >= SPLIT]
        windows = [("2021+", late, level[level.index >= late.index[0]], bool(note))]
        if not note:
            windows.append(("all", rows, level, True))
        for window, sel, lv, from_cash in windows:
            out.append({"design": name, "window": window, **summarise(sel, lv, from_cash), "note": note})
    return pd.DataFrame(out), per_review


def _usd(x: float) -> str:
    if not math.isfinite(x):
        return "unbounded"
    return "0" if x <= 0 else (f"${x / 1e9:,.2f}B" if x >= 1e9 else f"${x / 1e6:,.1f}M")


def markdown_table(table: pd.DataFrame) -> str:
    """The comparison as markdown: one row per design and window."""
    floor = _BUNDLED.governance.min_constituents
    head = (
        "| design | window | reviews | purity mean / min | max weight purity<0.25 | stage dev. on weights mean / max "
        f"| stage dev. on exposure mean / max | names held | reviews <{floor} names | last resort "
        "| median capacity | median liquidity AUM | turnover / yr | CAGR | max DD |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in table.to_dict("records"):
        lines.append(
            f"| {r['design']} | {r['window']} | {r['reviews']} | {r['purity_mean']:.3f} / {r['purity_min']:.3f} "
            f"| {r['low_weight_max']:.1%} | {r['dev_weight_mean']:.1%} / {r['dev_weight_max']:.1%} "
            f"| {r['dev_exposure_mean']:.1%} / {r['dev_exposure_max']:.1%} | {r['held_mean']:.1f} "
            f"| {r[f'below_{floor}']} | {r['last_resort']} | {_usd(r['capacity_median'])} "
            f"| {_usd(r['liquidity_aum_median'])} | {r['turnover_per_year']:.0%} | {r['cagr']:.1%} "
            f"| {r['max_drawdown']:.1%} |"
        )
    notes = dict.fromkeys(f"- {r['design']}: {r['note']}" for r in table.to_dict("records") if r["note"])
    return "\n".join(lines + ([""] + list(notes) if notes else []))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison, write the CSV, print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rulebook_designs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for rulebook_designs.csv")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    table, _ = compare()
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "rulebook_designs.csv", index=False, float_format="%.6g")
    print(
        f"SYNTHETIC DEMO DATA, rulebook {_BUNDLED.version} with overrides, AUM ${AUM / 1e6:,.0f}M, "
        f"{START} to {END} ({time.perf_counter() - t:.1f} s)\n"
    )
    print(markdown_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
