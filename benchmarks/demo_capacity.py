"""The demo market's eligible count and capacity, one review a year: ``python -m benchmarks.demo_capacity``.

Reviews the bundled universe on the SYNTHETIC demo market (the paths calibrated to
``universe/market_reference.csv``) with the bundled rulebook at each year's December review cut-off
(the last session of November, from the rulebook's schedule) and at the demo's last cut-off, and
prints a markdown table:

* ``eligible``: names passing every screen at the entry thresholds (each review on its own, as a
  first review: no incumbents, so no retention buffer);
* ``capacity``: the largest AUM at which the rulebook's caps and stage band hold with the liquidity
  caps computed at that AUM, i.e. without a liquidity relaxation (``ReviewReport.capacity_aum``);
* ``relaxed``: whether a fund of $250M needs the liquidity relaxation at that review.

``--uncalibrated`` runs the same on the model without reference points, for comparison. Not part of
the test suite (a report, not a check).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/demo_capacity.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

import exchina_index as xi  # noqa: E402
from exchina_index.construction.review import make_optimizer  # noqa: E402
from exchina_index.data.demo import DEMO_END, DEMO_START, generate_market  # noqa: E402

__all__ = ["yearly_table", "markdown_table", "main"]


def yearly_table(calibrated: bool = True, aum: float = 250e6) -> pd.DataFrame:
    """One row per year: the December review's cut-off (the demo's last cut-off for its last year),
    eligible and held counts, capacity and the relaxations taken at ``aum``.

    Parameters
    ----------
    calibrated
        The demo market as shipped (True) or the model without reference points (False).
    aum
        Fund size (USD) of the reviews, for the relaxations column.
    """
    universe = xi.load_universe()
    methodology = xi.load_methodology()
    if calibrated:
        market = xi.load_market_data(universe, source="demo")
    else:
        market = generate_market(universe.frame, DEMO_START, DEMO_END, seed=0, source="demo")
    schedule = xi.review_dates(methodology, "2016-01-01", DEMO_END)
    schedule = schedule[schedule["cutoff"] <= DEMO_END]
    last_of_year = schedule.groupby(schedule["implement"].dt.year).tail(1)
    optimizer = make_optimizer(universe, methodology)
    rows = []
    for r in last_of_year.itertuples():
        report = xi.build_weights(universe, market, r.cutoff, methodology, aum=aum, optimizer=optimizer).report
        rows.append(
            {
                "year": r.implement.year,
                "cutoff": report.as_of.date(),
                "eligible": int(report.names.eligible.sum()),
                "held": len(report.names.held()),
                "capacity_usd": report.capacity_aum,
                "relaxations": "; ".join(report.relaxations) or "none",
            }
        )
    return pd.DataFrame(rows)


def _usd(x: float) -> str:
    if not math.isfinite(x):
        return "unbounded"
    if x <= 0:
        return "none (caps infeasible as written)"
    return f"${x / 1e9:,.2f}B" if x >= 1e9 else f"${x / 1e6:,.0f}M"


def markdown_table(table: pd.DataFrame) -> str:
    """The table as markdown (capacity in $M/$B, relaxations shortened to the liquidity step)."""
    lines = [
        "| year | cut-off | eligible | held | capacity (no liquidity relaxation) | liquidity relaxed at $250M |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        relaxed = "yes" if "liquidity caps computed" in r.relaxations else "no"
        lines.append(f"| {r.year} | {r.cutoff} | {r.eligible} | {r.held} | {_usd(r.capacity_usd)} | {relaxed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the yearly table (``--uncalibrated``: of the model without reference points)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uncalibrated", action="store_true", help="the model without reference points")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    table = yearly_table(calibrated=not args.uncalibrated)
    label = "uncalibrated model" if args.uncalibrated else "calibrated demo market"
    print(f"SYNTHETIC DEMO DATA ({label}), bundled rulebook, reviews at AUM $250M ({time.perf_counter() - t:.1f} s)\n")
    print(markdown_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
