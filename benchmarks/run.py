"""Run the performance harness: ``python -m benchmarks.run`` (see ``benchmarks/README.md``).

Writes ``benchmarks/results/latest.json`` (every number, the machine, the settings) and
``benchmarks/results/latest.md`` (the table), and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks.report import markdown  # noqa: E402
from benchmarks.timing import machine_info  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CASES = ("optimizer", "engine", "backtest", "e2e", "startup")

#: Reviews sampled (evenly over ~80) for the optimizer case, and how many of them are also built
#: from scratch. The review pipeline costs seconds per review at N >= 500 (see the README).
OPTIMIZER_PLAN = {50: (8, 4), 500: (16, 8), 2000: (6, 3)}


def _plan(n: int) -> tuple[int, int]:
    if n in OPTIMIZER_PLAN:
        return OPTIMIZER_PLAN[n]
    return (16, 8) if n <= 1000 else (6, 3)


def _git() -> dict[str, Any]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        return {"commit": head, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    p.add_argument("--sizes", type=_sizes, default=[50, 500, 2000], help="universe sizes N (default 50,500,2000)")
    p.add_argument(
        "--bt-sizes",
        type=_sizes,
        default=[50, 500, 2000],
        help="sizes at which bt runs (default 50,500,2000; bt alone takes about 3 "
        "minutes at 2000: pass 50,500 to skip it there)",
    )
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--quick", action="store_true", help="smoke run: N=50 only, 3 reviews for the optimizer, no bt")
    p.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results", help="folder for latest.json / latest.md"
    )
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    sizes, bt_sizes = args.sizes, args.bt_sizes
    if args.quick:
        sizes, bt_sizes = [50], []
    os.environ.setdefault("MPLBACKEND", "Agg")
    warnings.filterwarnings("ignore")

    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "git": _git(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "settings": {"sizes": sizes, "bt_sizes": bt_sizes, "cases": cases, "quick": args.quick},
        "data": {},
        "optimizer": {},
        "engine": {},
        "backtest": {},
        "e2e": None,
        "startup": None,
    }

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    if {"optimizer", "engine", "backtest"} & set(cases):
        from benchmarks.universes import build_case

        for n in sizes:
            log(f"N={n}: generating the synthetic universe and market")
            case = build_case(n)
            T, _ = case.shape
            results["data"][str(n)] = {
                "rows": T,
                "reviews": len(case.schedule),
                "issuers": int(case.universe.frame["issuer"].nunique()),
                **{f"{k}_s": v for k, v in case.build_seconds.items()},
            }
            if "optimizer" in cases:
                from benchmarks.optimizer import optimizer_case

                reviews, scratch = (3, 2) if args.quick else _plan(n)
                log(f"N={n}: optimizer ({reviews} reviews sampled, {scratch} built from scratch)")
                results["optimizer"][str(n)] = _guard(optimizer_case, case, reviews=reviews, scratch_reviews=scratch)
            if "engine" in cases:
                from benchmarks.engine import engine_case

                log(f"N={n}: engine vs {'bt, ' if n in bt_sizes else ''}naive loop, floor")
                results["engine"][str(n)] = _guard(engine_case, case, run_bt=n in bt_sizes)
            if "backtest" in cases and n >= 500:  # smaller synthetic universes cannot fill the early reviews
                from benchmarks.backtest import backtest_case

                log(f"N={n}: whole backtest (review pipeline / solver / engine) vs cvxportfolio, alternating")
                results["backtest"][str(n)] = _guard(
                    backtest_case, case, rounds=1 if args.quick else 3, run_cvxportfolio=not args.quick
                )
            del case
    if "e2e" in cases:
        from benchmarks.end_to_end import end_to_end_case

        log("end to end: backtests/allied_demo.toml in a child process")
        results["e2e"] = _guard(end_to_end_case)
    if "startup" in cases:
        from benchmarks.startup import startup_case

        log("CLI start-up")
        results["startup"] = _guard(startup_case)

    results["total_s"] = time.perf_counter() - t_start
    results["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(_clean(results), indent=2) + "\n", encoding="utf-8")
    table = markdown(results)
    (args.out / "latest.md").write_text(table, encoding="utf-8")
    print(table)
    log(f"done; wrote {args.out / 'latest.json'} and {args.out / 'latest.md'}")
    return 0


def _guard(fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one case; a failure is recorded (and the harness goes on with the others)."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a benchmark case failing must not stop the rest
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:500]}"}


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return _clean(obj.item())
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
