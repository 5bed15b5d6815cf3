"""Named backtest specifications (``backtests/*.toml``): period, AUM, data source, benchmark and
rulebook overrides.

Example::

    name = "allied_demo"            # the output folder's name: no '/', '\\' or leading '.'
    source = "demo"                 # demo | yahoo | a folder of CSV files (relative to this file)
    start = "2016-01-01"            # ISO dates (a TOML date such as 2016-01-01 works too)
    end = "2026-09-30"
    aum = 250_000_000               # USD, up to MAX_AUM_USD
    # universe = "my_universe.csv"  # default: the bundled universe (relative to this file)
    # links = "my_links.csv"        # default: china_links.csv beside the universe
    # allow_no_links = true         # the universe really has no China links (see load_universe)
    [benchmark]
    kind = "universe_cap_weighted"  # or kind = "ticker", ticker = "REMX" (fetched with --source yahoo)
    [methodology.regulatory]        # any rulebook key, merged over the bundled rulebook
    mode = "ucits"

Every key is checked when the spec is read (types, dates, AUM bound, benchmark keys, the rulebook
overrides against the bundled rulebook), so a bad spec fails before any data is loaded or any
folder is made; errors are :class:`~exchina_index.errors.InputError` naming the file and key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from exchina_index._files import read_utf8
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import short_repr, ExchinaIndexError, InputError, MethodologyError
from exchina_index.rules.methodology import check_aum, load_methodology

__all__ = ["BacktestSpec", "load_spec"]

_KEYS = {"name", "description", "source", "start", "end", "aum", "benchmark", "methodology", "universe",
         "links", "allow_no_links"}
_BENCHMARK_KEYS = {"kind", "ticker", "name"}
_BENCHMARK_KINDS = {"universe_cap_weighted", "ticker", "none"}
_DEFAULT_AUM = 250e6
_MAX_NAME = 100


@dataclass(frozen=True)
class BacktestSpec:
    """A parsed backtest specification (paths already resolved beside the spec file)."""

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
    links: str | None = None
    allow_no_links: bool = False


def load_spec(path: str | Path) -> BacktestSpec:
    """Read and validate a backtest specification.

    Raises
    ------
    InputError
        Naming the file and the key: unreadable or non-UTF-8 file, invalid TOML, an unknown key,
        a value of the wrong type, a name that is not a plain folder name, a date that is not
        ``YYYY-MM-DD``, ``end`` not after ``start``, an AUM out of range, a bad benchmark table,
        or rulebook overrides the bundled rulebook refuses.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"the backtest spec must be a file path, got {short_repr(path)}")
    p = Path(path)
    text = read_utf8(p, lambda message, line: InputError(f"cannot read the backtest spec: {message}", path=p, line=line),
                     "UTF-8 TOML")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p) from None

    def fail(key: str, msg: str) -> InputError:
        return InputError(f"key '{key}': {msg}", path=p)

    def text_of(key: str, table: Mapping[str, Any] = data, *, prefix: str = "", required: bool = False) -> str | None:
        value = table.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise fail(prefix + key, "missing or not a string" if value is None else
                       f"must be a non-empty string without NUL characters, got {short_repr(value)}")
        return value

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    name = text_of("name", required=True)
    if (name != name.strip() or name.startswith(".") or any(c in name for c in "/\\")
            or any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name) > _MAX_NAME):
        raise fail("name", f"{short_repr(name)} must be a plain folder name (no '/', '\\', control characters, "
                   f"leading '.' or surrounding spaces; at most {_MAX_NAME} characters): outputs go to output/<name>/")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be a string, got {short_repr(description)}")
    source = text_of("source", required=True)
    dates = {}
    for key in ("start", "end"):
        if key not in data:
            raise fail(key, "missing; give an ISO date YYYY-MM-DD")
        try:
            dates[key] = parse_date(data[key], key)
        except ExchinaIndexError:
            raise fail(key, f"must be an ISO date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE} (a TOML date "
                       f"works too), got {short_repr(data[key])}") from None
    if dates["start"] >= dates["end"]:
        raise fail("end", f"{dates['end'].date()} must be after start {dates['start'].date()}")
    try:
        aum = check_aum(data.get("aum", _DEFAULT_AUM), "aum")
    except InputError as exc:
        raise fail("aum", str(exc).removeprefix("aum ")) from None

    bench = data.get("benchmark", {"kind": "none"})
    if not isinstance(bench, dict):
        raise fail("benchmark", f"must be a table ([benchmark] with kind = ...), got {short_repr(bench)}")
    extra = sorted(set(bench) - _BENCHMARK_KEYS)
    if extra:
        raise fail(f"benchmark.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(_BENCHMARK_KEYS))})")
    kind = bench.get("kind", "none")
    if not isinstance(kind, str) or kind not in _BENCHMARK_KINDS:
        raise fail("benchmark.kind", f"must be one of {', '.join(sorted(_BENCHMARK_KINDS))}, got {short_repr(kind)}")
    ticker = text_of("ticker", bench, prefix="benchmark.", required=kind == "ticker")
    bench_name = text_of("name", bench, prefix="benchmark.")

    overrides = data.get("methodology", {})
    if not isinstance(overrides, dict):
        raise fail("methodology", f"must be a table of rulebook overrides, got {short_repr(overrides)}")
    if overrides:
        try:
            load_methodology().with_overrides(overrides)
        except MethodologyError as exc:
            raise InputError(f"[methodology] overrides: {exc.detail}", path=p) from None

    allow_no_links = data.get("allow_no_links", False)
    if not isinstance(allow_no_links, bool):
        raise fail("allow_no_links", f"must be true or false, got {short_repr(allow_no_links)}")

    def beside(value: str | None) -> str | None:
        """A path relative to the spec's folder (``demo``/``yahoo`` are names, not paths)."""
        if value is None or Path(value).is_absolute():
            return value
        return str((p.parent / value).resolve())

    return BacktestSpec(
        name=name, path=p, source=source if source in ("demo", "yahoo") else beside(source),
        start=dates["start"].date().isoformat(), end=dates["end"].date().isoformat(), aum=aum,
        benchmark_kind=kind, benchmark_ticker=ticker, benchmark_name=bench_name, description=description,
        universe=beside(text_of("universe")), methodology_overrides=overrides, links=beside(text_of("links")),
        allow_no_links=allow_no_links,
    )
