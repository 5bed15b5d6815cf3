"""The default rulebook's frontier of purity, stage balance and capacity (``python -m benchmarks.rulebook_frontier``).

For each review of the default backtest on the SYNTHETIC demo market (AUM $250M, 2016-01-01 to
2026-09-30; the eligible set, stage exposures and ADTV as the backtest had them, purity from
``universe.facts_at(cutoff)``), the capacity LP (the largest AUM at which the rules hold with the
liquidity caps ``participation x ADTV x days / AUM`` and no relaxation,
``StageBalancedOptimizer.max_feasible_aum``) over a grid of weighted-purity floors x stage
tolerances, at the rulebook's 8 % single-name and issuer caps and at 15 %. Everything else is the
bundled rulebook: stage balance on rare-earth exposure, at most 15 % of the weight in names with
purity below 0.25, country caps of 50 %; a floor ``none`` drops both purity limits. Capacity 0: no
portfolio meets the rules at any AUM.

Per review and floor it also records the least stage deviation the caps and purity limits allow
(``min_stage_deviation``, with the rulebook's minimum weight) and the ceiling the minimum weight
puts on the AUM (every eligible name holds ``governance.min_weight``, so AUM <= the smallest
notional / min_weight; the capacity LP does not see the minimum weights).

Writes ``benchmarks/results/rulebook_frontier.csv`` (review, floor, low_max_weight, tolerance, caps,
capacity), ``benchmarks/results/rulebook_frontier_least.csv`` and ``docs/frontier.png``, and prints
the summary tables (medians over the reviews implemented from 2021 on, and by year). About a minute.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/rulebook_frontier.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import exchina_index as xi  # noqa: E402
from benchmarks.rulebook_designs import AUM, END, RESULTS, SPLIT, START, load_demo  # noqa: E402
from exchina_index.construction.caps import liquidity_notional  # noqa: E402
from exchina_index.construction.integrity import purity_limits, stage_basis  # noqa: E402
from exchina_index.construction.review import make_optimizer  # noqa: E402
from exchina_index.errors import InfeasibleError  # noqa: E402

__all__ = [
    "FLOORS",
    "LABELS",
    "TOLERANCES",
    "CAPS",
    "CHART",
    "frontier",
    "summary",
    "by_year",
    "markdown",
    "chart",
    "main",
]

#: The purity rules of each line: (weighted-purity floor, most weight in names with purity < 0.25).
#: The floors 0 to 0.6 at the rulebook's 15 % low-purity bound, then the bound loosened at the
#: rulebook's floor, then no purity limit at all.
FLOORS: tuple[tuple[float, float], ...] = (
    (0.0, 0.15),
    (0.3, 0.15),
    (0.4, 0.15),
    (0.5, 0.15),
    (0.6, 0.15),
    (0.5, 0.30),
    (0.5, 1.0),
    (0.0, 1.0),
)
TOLERANCES = (0.02, 0.05, 0.10, 0.15, 0.20, 0.35, 1.0)
CAPS = (0.08, 0.15)
CHART = Path(__file__).resolve().parent.parent / "docs" / "frontier.png"


def _label(floor: float, low: float) -> str:
    """``0.5`` (the low-purity bound at 15 %), ``0.5, low<=30%``, ``0.5, no low bound``, ``none``."""
    if low >= 1:
        return "none" if floor == 0 else f"{floor:.1f}, no low bound"
    return f"{floor:.1f}" if low == 0.15 else f"{floor:.1f}, low<={low:.0%}"


LABELS = [_label(f, low) for f, low in FLOORS]


def _rulebook(m: xi.Methodology, floor: float, low: float) -> xi.Methodology:
    """The bundled rulebook with the weighted-purity floor ``floor`` and the low-purity bound ``low``."""
    return m.with_overrides({"purity": {"min_weighted": floor, "low_max_weight": low}})


def _review_cells(opt, m: xi.Methodology, rep, facts: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """The capacity grid and the least deviations of one review."""
    n = rep.names
    eligible = n.eligible.astype(bool)
    purity = facts["purity"].reindex(eligible.index)
    notional = pd.Series(
        np.where(eligible, liquidity_notional(n.adtv_usd.to_numpy(dtype=float), m.liquidity), 0.0), index=eligible.index
    )
    ceiling = float(notional[eligible].min()) / m.governance.min_weight if m.governance.min_weight > 0 else math.inf
    grid, least = [], []
    for floor, low in FLOORS:
        rb = _rulebook(m, floor, low)
        limits, basis = purity_limits(rb, purity), stage_basis(rb, purity, eligible.to_numpy())
        for cap in CAPS:
            static = pd.Series(np.where(eligible, cap, 0.0), index=eligible.index)
            common = {
                "issuer_cap": max(m.caps.issuer, cap),
                "country_caps": {c: m.caps.country_cap(c) for c in sorted(n.country.unique())},
                "eligible": eligible,
                "stage_basis": basis,
                "limits": limits,
            }
            key = {"review": rep.as_of.date(), "line": _label(floor, low), "floor": floor, "low_max_weight": low}
            for tol in TOLERANCES:
                try:
                    aum = opt.max_feasible_aum(
                        n.exposure, m.stages.target_map, static, notional, stage_tolerance=tol, **common
                    )
                except InfeasibleError:
                    aum = 0.0
                grid.append({**key, "tolerance": tol, "caps": cap, "capacity": float(aum)})
            try:
                lowest = opt.min_stage_deviation(
                    n.exposure,
                    m.stages.target_map,
                    static,
                    min_weight=pd.Series(
                        np.where(eligible, min(m.governance.min_weight, cap), 0.0), index=static.index
                    ),
                    **common,
                )
            except InfeasibleError:  # the caps and purity limits cannot hold whatever the stages
                lowest = math.inf
            least.append({**key, "caps": cap, "least_deviation": float(lowest), "min_weight_ceiling": ceiling})
    return grid, least


def frontier(aum: float = AUM) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The capacity grid of every review of the default backtest, the least deviations, and the
    implementation date of each review (``review`` = cut-off date)."""
    universe, market = load_demo()
    m = xi.load_methodology()
    result = xi.backtest(universe, market, m, start=START, end=END, aum=aum)
    opt = make_optimizer(universe, m)
    grid, least, dates = [], [], []
    for implement, wr in result.reviews.items():
        rep = wr.report
        g, lst = _review_cells(opt, m, rep, universe.facts_at(rep.as_of))
        grid += g
        least += lst
        dates.append({"review": rep.as_of.date(), "implement": implement})
    return pd.DataFrame(grid), pd.DataFrame(least), pd.DataFrame(dates).set_index("review")


def _late(frame: pd.DataFrame, dates: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["review"].map(dates["implement"]) >= SPLIT]


def summary(grid: pd.DataFrame, dates: pd.DataFrame, caps: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median capacity (USD) by floor (rows) and tolerance (columns) over the reviews from 2021 on at
    ``caps``, and the number of those reviews with a positive capacity."""
    sel = _late(grid[grid["caps"] == caps], dates)
    median = sel.pivot_table(index="line", columns="tolerance", values="capacity", aggfunc="median").loc[LABELS]
    feasible = sel.assign(ok=sel["capacity"] > 0).pivot_table(
        index="line", columns="tolerance", values="ok", aggfunc="sum"
    )
    return median, feasible.loc[LABELS].astype(int)


def by_year(grid: pd.DataFrame, dates: pd.DataFrame, floor: str, caps: float) -> pd.DataFrame:
    """Median capacity by implementation year (rows) and tolerance (columns) at one floor and cap."""
    sel = grid[(grid["line"] == floor) & (grid["caps"] == caps)]
    sel = sel.assign(year=sel["review"].map(dates["implement"]).map(lambda d: d.year))
    return sel.pivot_table(index="year", columns="tolerance", values="capacity", aggfunc="median")


def _usd(x: float) -> str:
    if not math.isfinite(x):
        return "unbounded"
    if x <= 0:
        return "0"
    return f"${x / 1e9:,.2f}B" if x >= 1e9 else (f"${x / 1e6:,.1f}M" if x < 1e8 else f"${x / 1e6:,.0f}M")


def markdown(table: pd.DataFrame, counts: pd.DataFrame | None = None, row_name: str = "floor") -> str:
    """A capacity table as markdown (``counts``: reviews feasible, shown beside each median)."""
    cols = list(table.columns)
    lines = [f"| {row_name} | " + " | ".join(f"±{c:.0%}" for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for r in table.index:
        cells = [_usd(float(table.loc[r, c])) + (f" ({counts.loc[r, c]})" if counts is not None else "") for c in cols]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _merged(median: pd.DataFrame, feasible: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The lines to draw: lines with equal medians and counts are drawn once, their labels joined."""
    lines: list[tuple[str, np.ndarray, np.ndarray]] = []
    for label in median.index:
        y, k = median.loc[label].to_numpy(dtype=float), feasible.loc[label].to_numpy(dtype=float)
        if lines and np.allclose(lines[-1][1], y, rtol=1e-4) and np.array_equal(lines[-1][2], k):
            first = lines[-1][0].split(" = ")[0]
            lines[-1] = (f"{first} = ... = {label}", y, k)
        else:
            lines.append((label, y, k))
    return lines


def chart(grid: pd.DataFrame, dates: pd.DataFrame, path: Path = CHART) -> None:
    """Two columns (8 % and 15 % caps): on top the median capacity over the reviews from 2021 on (log
    scale, $M) against the stage tolerance, one line per purity rule; below the number of those
    reviews feasible at any AUM. Deterministic (no dates, no software version in the file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "exchina-frontier", "font.size": 9})
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True, height_ratios=(2, 1))
    x = np.array(TOLERANCES) * 100
    n = len(_late(dates.reset_index(), dates))
    for col, caps in enumerate(CAPS):
        median, feasible = summary(grid, dates, caps)
        top, bottom = axes[0, col], axes[1, col]
        for label, y, k in _merged(median, feasible):
            style = dict(marker="o", color=f"C{LABELS.index(label.split(' = ')[0])}", label=label)
            top.plot(x, np.where(y > 0, y / 1e6, np.nan), "-", **style)  # 0: infeasible, not drawn on a log scale
            bottom.plot(x, k, "-", **style)
        top.set_yscale("log")
        top.set_yticks([1, 2, 5, 10, 20, 50, 100, 200], ["1", "2", "5", "10", "20", "50", "100", "200"])
        top.set_title(f"single-name and issuer caps {caps:.0%}")
        bottom.set_ylim(-1, n + 1)
        bottom.set_xlabel("stage tolerance (exposure basis)")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_xticks(x, [f"±{t:.0%}" for t in TOLERANCES])
            ax.minorticks_off()
            ax.grid(True, which="major", alpha=0.3)
        bottom.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.3),
            ncol=2,
            fontsize=8,
            title="weighted-purity floor (low-purity bound 15 % unless said)",
        )
    axes[0, 0].set_ylabel("capacity ($M, log): median of the\nreviews 2021+ (missing: median 0)")
    axes[1, 0].set_ylabel(f"reviews feasible\nat any AUM (of {n})")
    fig.suptitle("SYNTHETIC (demo market): largest AUM without relaxation under bundled rulebook 2 (country caps 50 %)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Compute the frontier, write the CSVs and the chart, print the tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rulebook_frontier", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSVs")
    parser.add_argument("--chart", type=Path, default=CHART, help="the PNG chart")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    grid, least, dates = frontier()
    args.out.mkdir(parents=True, exist_ok=True)
    grid.to_csv(args.out / "rulebook_frontier.csv", index=False, float_format="%.6g")
    least.to_csv(args.out / "rulebook_frontier_least.csv", index=False, float_format="%.6g")
    chart(grid, dates, args.chart)
    n_late = int((dates["implement"] >= SPLIT).sum())
    print(f"SYNTHETIC DEMO DATA, bundled rulebook, {len(dates)} reviews ({time.perf_counter() - t:.1f} s)\n")
    for caps in CAPS:
        median, feasible = summary(grid, dates, caps)
        print(f"Median capacity over the {n_late} reviews from 2021 on at {caps:.0%} caps (reviews feasible):\n")
        print(markdown(median, feasible) + "\n")
    for caps in CAPS:
        print(f"Median capacity by year, floor 0.5 (the rulebook's), {caps:.0%} caps:\n")
        print(markdown(by_year(grid, dates, "0.5", caps), row_name="year") + "\n")
    late = _late(least, dates)
    table = late.pivot_table(index="line", columns="caps", values="least_deviation", aggfunc="median").loc[LABELS]
    print("Median least stage deviation (exposure basis, minimum weights in; infeasible counts as infinite) 2021+:\n")
    print(table.map(lambda v: f"{v:.1%}" if math.isfinite(v) else "infeasible").to_markdown())
    ceiling = late.drop_duplicates("review")["min_weight_ceiling"].median()
    print(f"\nMedian AUM ceiling of the 0.5 % minimum weight (smallest notional / 0.005), 2021+: {_usd(ceiling)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
