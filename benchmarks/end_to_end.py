"""Case 4: the whole demo backtest (``backtests/allied_demo.toml``), wall time split by stage.

It runs in a fresh Python process, so the time includes what a user of
``exchina-index backtest backtests/allied_demo.toml`` pays: interpreter start, imports, data load,
reviews, engine, tearsheet and output files. The child calls ``runner.run_spec`` (what the CLI
calls) with the output in a temporary folder; the stages are timed by wrapping the functions
``run_spec`` and ``backtester.backtest`` look up at call time (no change to their code):

``imports``        the package modules the run needs and their heavy libraries (pandas, scipy,
                   quantstats, matplotlib, ...), imported before the run starts (cvxpy is not
                   among them: the optimizer imports it only for a fallback solver)
``data_load``      ``data.load_market_data`` (the demo generator and ``MarketData`` validation),
                   plus reading the spec, universe and rulebook
``reviews``        ``construction.review.review_context`` (static screens, feature panels, the
                   compiled optimizer) + every ``run_review`` (screens, anchors, caps, optimizer,
                   capacity LP) + ``caps.drift_array``; ``solver`` is the part spent in the
                   optimizer's solve (``report.solve_seconds``)
``engine``         ``simulation.engine.run_index``
``backtest_other`` the rest of ``simulation.backtest.backtest`` (schedule, return frames, labelling)
``benchmark``      the comparison basket (``benchmark.universe_cap_weighted_returns``)
``tearsheet``      ``tearsheet.write_tearsheet`` (quantstats report, thematic page, charts)
``outputs_other``  the rest of ``run_spec`` (CSV files, swap into place)

Run by hand: ``python -m benchmarks.end_to_end [SPEC]`` prints the JSON.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

__all__ = ["end_to_end_case", "DEFAULT_SPEC"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO / "backtests" / "allied_demo.toml"


def _wrap(module: Any, name: str, acc: dict[str, float], key: str, hook=None) -> None:
    inner = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            out = inner(*args, **kwargs)
        finally:
            acc[key] = acc.get(key, 0.0) + time.perf_counter() - t
        if hook is not None:
            hook(out)
        return out

    setattr(module, name, timed)


def _child(spec: Path) -> dict[str, Any]:
    import tempfile

    t = time.perf_counter()
    import exchina_index.construction.optimizer  # noqa: F401
    import exchina_index.construction.review  # noqa: F401
    import exchina_index.data as data_mod
    import exchina_index.data.demo  # noqa: F401  (the demo generator)
    import exchina_index.publish.runner as runner
    import exchina_index.publish.tearsheet as ts_mod
    import exchina_index.simulation.backtest as bt_mod
    import exchina_index.simulation.benchmark as bench_mod

    try:
        import quantstats  # noqa: F401  (the tearsheet imports it lazily)
    except ImportError:  # pragma: no cover
        pass
    imports = time.perf_counter() - t

    acc: dict[str, float] = {}
    solver = {"s": 0.0, "reviews": 0}

    def on_review(result: Any) -> None:
        solver["s"] += float(result.report.solve_seconds)
        solver["reviews"] += 1

    _wrap(data_mod, "load_market_data", acc, "data_load")
    _wrap(bt_mod, "review_context", acc, "reviews")
    _wrap(bt_mod, "run_review", acc, "reviews", on_review)
    _wrap(bt_mod, "drift_array", acc, "reviews")
    _wrap(bt_mod, "run_index", acc, "engine")
    _wrap(bt_mod, "backtest", acc, "backtest_total")
    _wrap(bench_mod, "universe_cap_weighted_returns", acc, "benchmark")
    _wrap(ts_mod, "write_tearsheet", acc, "tearsheet")

    with tempfile.TemporaryDirectory(prefix="exchina-bench-") as tmp:
        t = time.perf_counter()
        out = runner.run_spec(spec, out=Path(tmp) / "out")
        run = time.perf_counter() - t
        files = sorted(p.name for p in out.iterdir())
    stages = {
        "imports": imports,
        "data_load": acc.get("data_load", 0.0),
        "reviews": acc.get("reviews", 0.0),
        "engine": acc.get("engine", 0.0),
        "backtest_other": acc.get("backtest_total", 0.0) - acc.get("reviews", 0.0) - acc.get("engine", 0.0),
        "benchmark": acc.get("benchmark", 0.0),
        "tearsheet": acc.get("tearsheet", 0.0),
    }
    stages["outputs_other"] = run - sum(v for k, v in stages.items() if k != "imports")
    return {
        "stages_s": stages,
        "reviews": solver["reviews"],
        "solver_s": solver["s"],
        "in_process_s": time.perf_counter() - _T0,
        "files": files,
    }


def end_to_end_case(spec: Path = DEFAULT_SPEC, timeout: float = 600.0) -> dict[str, Any]:
    """Run the spec in a child process; wall time (process start to exit) and stage split."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.end_to_end", str(spec)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "wall_s": wall, "error": tail[0][:500], "spec": spec.name}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(
        ok=True, wall_s=wall, spec=spec.name, interpreter_start_s=wall - res["in_process_s"], target_lt_20s=wall < 20.0
    )
    return res


if __name__ == "__main__":
    spec_arg = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    result = _child(spec_arg)
    sys.stdout.flush()
    print(json.dumps(result))
