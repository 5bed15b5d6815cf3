"""Named backtest specifications (``backtests/*.toml``): period, AUM, data source, benchmark and
rulebook overrides.

Example::

    name = "allied_demo"
    source = "demo"                 # demo | yahoo | a folder of CSV files
    start = "2016-01-01"
    end = "2026-09-30"
    aum = 250_000_000
    [benchmark]
    kind = "universe_cap_weighted"  # or kind = "ticker", ticker = "REMX" (fetched with --source yahoo)
    [methodology.regulatory]        # any rulebook key, merged over the bundled rulebook
    mode = "ucits"
"""

from __future__ import annotations

import datetime
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InputError

__all__ = ["BacktestSpec", "load_spec"]

_KEYS = {"name", "description", "source", "start", "end", "aum", "benchmark", "methodology", "universe"}
_BENCHMARK_KINDS = {"universe_cap_weighted", "ticker", "none"}


@dataclass(frozen=True)
class BacktestSpec:
    """A parsed backtest specification."""

    name: str
    path: Path
    source: str
    start: str
    end: str
    aum: float
    benchmark_kind: str
    benchmark_ticker: str | None
    benchmark_name: str | None
    description: str = ""
    universe: str | None = None
    methodology_overrides: Mapping[str, Any] = field(default_factory=dict)


def load_spec(path: str | Path) -> BacktestSpec:
    """Read and validate a backtest specification; errors name the file and key."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the backtest spec ({exc.strerror}); check the path", path=p) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p) from None

    def fail(key: str, msg: str) -> InputError:
        return InputError(f"key '{key}': {msg}", path=p)

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    for key in ("name", "source", "start", "end"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise fail(key, "missing or not a string")
    for key in ("start", "end"):
        try:
            datetime.date.fromisoformat(data[key])
        except ValueError:
            raise fail(key, f"'{data[key]}' is not an ISO date YYYY-MM-DD") from None
    if data["start"] >= data["end"]:
        raise fail("end", "must be after start")
    aum = data.get("aum", 250e6)
    if isinstance(aum, bool) or not isinstance(aum, (int, float)) or not aum > 0:
        raise fail("aum", f"must be a positive number of USD, got {aum!r}")
    bench = data.get("benchmark", {"kind": "none"})
    kind = bench.get("kind", "none") if isinstance(bench, dict) else None
    if kind not in _BENCHMARK_KINDS:
        raise fail("benchmark.kind", f"must be one of {', '.join(sorted(_BENCHMARK_KINDS))}")
    if kind == "ticker" and not bench.get("ticker"):
        raise fail("benchmark.ticker", "is required when benchmark.kind = 'ticker'")
    overrides = data.get("methodology", {})
    if not isinstance(overrides, dict):
        raise fail("methodology", "must be a table of rulebook overrides")
    source = data["source"]
    if source not in ("demo", "yahoo") and not Path(source).is_absolute():
        source = str((p.parent / source).resolve())
    return BacktestSpec(
        name=data["name"], path=p, source=source, start=data["start"], end=data["end"], aum=float(aum),
        benchmark_kind=kind, benchmark_ticker=bench.get("ticker"), benchmark_name=bench.get("name"),
        description=data.get("description", ""), universe=data.get("universe"), methodology_overrides=overrides,
    )
