"""Run a named backtest specification end to end: data → reviews → levels → files and tearsheet.

Outputs go to ``<spec folder>/output/<name>/`` by default, built in a temporary sibling folder and
swapped into place at the end, so an interrupted run leaves the previous output intact.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .spec import load_spec

__all__ = ["run_spec"]


def run_spec(
    spec_path: str | Path,
    *,
    source: str | None = None,
    cache_dir: Path | None = None,
    out: Path | None = None,
    tearsheet_only: bool = False,
    progress: Callable[[int, int, object], None] | None = None,
) -> Path:
    """Run the spec and write its outputs; returns the output folder.

    Files: ``tearsheet.html`` (quantstats) and ``thematic.html`` with their CSVs (``levels.csv``,
    ``weights.csv``, ``turnover.csv``), plus ``drifted_weights.csv`` and ``reviews.csv`` (one row
    per review: dates, names held, binding constraints, relaxations) unless ``tearsheet_only``.
    """
    from .backtester import backtest
    from .benchmark import universe_cap_weighted_returns
    from .data import load_market_data
    from .methodology import load_methodology
    from .tearsheet import write_tearsheet
    from .universe import load_universe

    spec = load_spec(spec_path)
    universe = load_universe(spec.universe)
    method = load_methodology()
    if spec.methodology_overrides:
        method = method.with_overrides(spec.methodology_overrides)
    market = load_market_data(universe, source=source or spec.source, cache_dir=cache_dir)
    result = backtest(universe, market, method, start=spec.start, end=spec.end, aum=spec.aum, progress=progress)

    benchmark = None
    if spec.benchmark_kind == "universe_cap_weighted":
        benchmark = universe_cap_weighted_returns(universe, market, start=result.levels.index[0], end=result.levels.index[-1])
    elif spec.benchmark_kind == "ticker":
        from .data import load_benchmark_returns

        benchmark = load_benchmark_returns(spec.benchmark_ticker, market, cache_dir=cache_dir)

    target = out if out is not None else spec.path.parent / "output" / spec.name
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the published folder is an ordinary one
    try:
        write_tearsheet(result, staging, benchmark=benchmark, title=spec.description or spec.name,
                        benchmark_name=spec.benchmark_name)
        if not tearsheet_only:
            _write_extras(result, staging)
        _swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_extras(result, folder: Path) -> None:
    import pandas as pd

    result.drifted.dropna(how="all").to_csv(folder / "drifted_weights.csv", float_format="%.10g", lineterminator="\n")
    rows = []
    for (impl, wr), sched in zip(result.reviews.items(), result.schedule.itertuples(index=False)):
        rep = wr.report
        rows.append({
            "implement": impl.date().isoformat(), "cutoff": sched.cutoff.date().isoformat(),
            "held": int((wr.weights > 0).sum()), "eligible": int(rep.names["eligible"].sum()),
            "binding": "; ".join(rep.binding_constraints),
            "liquidity_capped": "; ".join(rep.names.index[rep.names["binding"] == "cap:liquidity"]),
            "relaxations": "; ".join(rep.relaxations), "capacity_aum_usd": rep.capacity_aum,
            "solver": rep.solver, "status": rep.status,
        })
    pd.DataFrame(rows).to_csv(folder / "reviews.csv", index=False, float_format="%.10g", lineterminator="\n")


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames only (the old output is removed last)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
