"""Small timing helpers and the machine description recorded with every result."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

__all__ = ["Timing", "measure_interleaved", "machine_info"]


class Timing(dict):
    """``{"best": s, "median": s, "runs": n}`` in seconds (a dict so it goes straight to JSON)."""

    @property
    def best(self) -> float:
        return self["best"]

    @property
    def median(self) -> float:
        return self["median"]


def measure_interleaved(fns: dict[str, Callable[[], Any]], *, rounds: int = 10, warmup: int = 1) -> dict[str, Timing]:
    """Time several functions in alternation: each round calls every one once, so that all of
    them see the same phases of a noisy machine and their ratios are fair."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, rounds)):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: Timing(best=min(ts), median=statistics.median(ts), runs=len(ts)) for name, ts in times.items()}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU, OS, interpreter and library versions; BLAS-related environment variables as found."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            d: _version(d)
            for d in (
                "numpy",
                "pandas",
                "scipy",
                "cvxpy",
                "clarabel",
                "highspy",
                "osqp",
                "scs",
                "bt",
                "cvxportfolio",
                "ffn",
                "quantstats",
                "yfinance",
                "exchina-index",
            )
        },
        "env": {
            k: os.environ[k]
            for k in sorted(os.environ)
            if k.startswith(("OPENBLAS", "OMP_", "MKL_")) and "KEY" not in k
        },
    }
