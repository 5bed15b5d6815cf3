"""Sweep throughput on Dask (``python -m benchmarks.sweep``).

On the SYNTHETIC demo index (``backtests/allied_demo.toml``, 2016-01-01 to 2026-09-30, 43 reviews)
and the grid ``backtests/sweep_demo.toml`` (200 variants over three rulebook keys):

* throughput: the first ``--sample`` variants (default 24) with a local cluster of 1 and of 2
  worker processes, already started (start-up timed apart), every variant computed (an empty
  variant cache); variants per second and the ratio 2 workers / 1 worker;
* the whole 200-variant sweep from one call of :func:`exchina_index.publish.sweep_files.run_sweep`
  on 2 workers (cluster start-up, data, files included), then the same call again (every variant
  from the cache);
* memory: the resident set of each worker after every 25 variants of the 200-variant sweep.

Prints a markdown table and writes ``benchmarks/results/sweep.json``. A few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/sweep.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks.timing import machine_info  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "backtests" / "allied_demo.toml"
GRID = REPO / "backtests" / "sweep_demo.toml"


def _cluster(n: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )


def _throughput(n_workers: int, sample: Any, folder: Path) -> dict[str, float]:
    from distributed import Client

    from exchina_index.research.sweep import sweep

    t = time.perf_counter()
    with _cluster(n_workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(n_workers)
        startup = time.perf_counter() - t
        t = time.perf_counter()
        result = sweep(SPEC, sample, client=client, variant_cache=folder / f"cache-{n_workers}")
        elapsed = time.perf_counter() - t
    assert result.computed == len(sample.variants)
    return {
        "workers": n_workers,
        "variants": result.computed,
        "seconds": elapsed,
        "startup_s": startup,
        "variants_per_s": result.computed / elapsed,
    }


def _full(folder: Path) -> dict[str, Any]:
    import psutil
    from distributed import Client

    from exchina_index.publish.sweep_files import run_sweep

    rss: list[list[float]] = []
    holder: dict[str, Any] = {}

    def sample_memory(done: int, total: int, label: object) -> None:
        if label != "cached" and done % 25 == 0 and "client" in holder:
            per_worker = holder["client"].run(lambda: psutil.Process().memory_info().rss / 2**20)
            rss.append([round(v, 1) for _, v in sorted(per_worker.items())])

    # the whole command as a user runs it (a cluster of its own), timed from the call
    t = time.perf_counter()
    _, result = run_sweep(SPEC, GRID, out=folder / "full", variant_cache=folder / "cache-full", workers=2)
    full_s = time.perf_counter() - t
    t = time.perf_counter()
    _, again = run_sweep(SPEC, GRID, out=folder / "full", variant_cache=folder / "cache-full", workers=2)
    cached_s = time.perf_counter() - t
    # memory: the same sweep on a cluster we can ask (a fresh cache, so every variant runs)
    with _cluster(2) as cluster, Client(cluster) as client:
        holder["client"] = client
        from exchina_index.research.sweep import sweep

        sweep(SPEC, GRID, client=client, variant_cache=folder / "cache-mem", progress=sample_memory)
    return {
        "variants": len(result.table),
        "computed": result.computed,
        "seconds": full_s,
        "rerun_from_cache_s": cached_s,
        "rerun_computed": again.computed,
        "worker_rss_mib_every_25": rss,
    }


def main(argv: list[str] | None = None) -> int:
    from exchina_index.research.grid import SweepGrid, load_grid
    from exchina_index.rules.spec import load_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=24, help="variants for the throughput runs")
    parser.add_argument("--skip-full", action="store_true", help="only the throughput runs")
    args = parser.parse_args(argv)
    grid = load_grid(GRID, load_spec(SPEC).methodology)
    sample = SweepGrid(variants=grid.variants[: args.sample], keys=grid.keys, path=grid.path)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one = _throughput(1, sample, folder)
        two = _throughput(2, sample, folder)
        full = None if args.skip_full else _full(folder)
    out = {
        "machine": machine_info(),
        "one_worker": one,
        "two_workers": two,
        "scaling": two["variants_per_s"] / one["variants_per_s"],
        "full": full,
    }
    print("| case | variants | seconds | variants/s |")
    print("|---|---:|---:|---:|")
    for case in (one, two):
        print(
            f"| {case['workers']} worker(s), started | {case['variants']} | {case['seconds']:.1f} | "
            f"{case['variants_per_s']:.2f} |"
        )
    print(
        f"\nscaling 1 -> 2 workers: {out['scaling']:.2f}x "
        f"(start-up {one['startup_s']:.1f} s / {two['startup_s']:.1f} s)"
    )
    if full:
        print(
            f"200-variant sweep, one call on 2 workers: {full['seconds']:.1f} s; rerun from the cache "
            f"{full['rerun_from_cache_s']:.1f} s ({full['rerun_computed']} computed)"
        )
        print(
            "worker RSS (MiB) every 25 variants: "
            + "; ".join("/".join(f"{v:.0f}" for v in r) for r in full["worker_rss_mib_every_25"])
        )
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "sweep.json").write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
