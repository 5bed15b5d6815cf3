"""The daily calculation agent against the array engine: the same index, two computations.

``python -m benchmarks.daily_calc`` times, median of 5 runs each:

* the kernels on random arrays of the demo's shape and of a 500-listing universe (T = 2,700
  sessions, quarterly trades): :func:`exchina_index.simulation.daily.run_daily` (a loop over days
  on index shares, corporate actions at the open) and :func:`exchina_index.simulation.engine.run_index`
  (weights drifted for all periods at once), with the largest level difference between them;
* the demo backtest with and without the bundled corporate actions (with them, the daily
  calculation runs too and the engine follows its events);
* ``exchina-index calc`` for a quarter of the demo (in-process, files to a temporary folder).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPEATS = 5


def _median_s(fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _kernels(T: int, N: int, seed: int = 0) -> dict[str, float]:
    from exchina_index.simulation.daily import run_daily
    from exchina_index.simulation.engine import run_index

    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.02, (T, N))
    price = 10.0 * np.cumprod(1.0 + r, axis=0)
    ret = np.vstack([np.zeros((1, N)), price[1:] / price[:-1] - 1.0])
    rows = np.arange(0, T, 63)
    targets = rng.dirichlet(np.ones(N), size=rows.size)
    zeros, alive = np.zeros((T, N)), np.ones((T, N), dtype=bool)
    daily = lambda: run_daily(price, np.ones((T, N)), zeros, zeros, alive, rows, targets, [], {})  # noqa: E731
    engine = lambda: run_index(  # noqa: E731
        ret, None, np.zeros(N), alive, rows, targets, np.zeros((rows.size, N)), 0.0, np.ones(T, dtype=int)
    )
    gap = float(np.nanmax(np.abs(daily().price_return - engine().price_return_level)))
    return {"daily_s": _median_s(daily), "engine_s": _median_s(engine), "max_level_gap": gap}


def _demo() -> dict[str, float]:
    import exchina_index as xi
    from exchina_index.publish.daily_files import run_calc

    u = xi.load_universe()
    market = xi.load_market_data(u, source="demo")
    plain = dataclasses.replace(u, corporate_actions=())
    spec = Path(__file__).resolve().parents[1] / "backtests" / "allied_demo.toml"

    def calc() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            run_calc(spec, "2026-07-01", "2026-09-30", out=Path(tmp) / "q")

    xi.backtest(plain, market)  # warm the market's cached views, so that neither case pays for them
    return {
        "backtest_without_events_s": _median_s(lambda: xi.backtest(plain, market)),
        "backtest_with_events_s": _median_s(lambda: xi.backtest(u, market)),
        "calc_quarter_s": _median_s(calc),
    }


def main() -> None:
    for label, (T, N) in {"demo shape (67 listings)": (2700, 67), "500 listings": (2700, 500)}.items():
        k = _kernels(T, N)
        print(
            f"kernels, {label}, T={T}: run_daily {k['daily_s'] * 1e3:.1f} ms, run_index {k['engine_s'] * 1e3:.1f} ms, "
            f"largest level difference {k['max_level_gap']:.2e}"
        )
    d = _demo()
    print(
        f"demo backtest: {d['backtest_without_events_s']:.2f} s without the corporate actions, "
        f"{d['backtest_with_events_s']:.2f} s with them; calc for a quarter: {d['calc_quarter_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
