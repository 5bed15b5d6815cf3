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
    # currencies = ["EUR", "GBP"]   # also the unhedged index levels in these ISO 4217 currencies
    [benchmark]
    kind = "universe_cap_weighted"  # or kind = "ticker", ticker = "REMX" (fetched with --source yahoo)
    [methodology.regulatory]        # any rulebook key, merged over the bundled rulebook
    mode = "ucits"

Every key is checked when the spec is read (types, dates, AUM bound, benchmark keys, the rulebook
overrides against the bundled rulebook), so a bad spec fails before any data is loaded or any
folder is made; errors are :class:`~exchina_index.errors.InputError` naming the file and key (and
the line, for ``currencies``).

``currencies`` (default ``[]``: nothing extra) lists distinct ISO 4217 codes in capitals, e.g.
``["EUR", "GBP", "AUD", "JPY"]``; ``"USD"`` is allowed (the USD levels again, rebased). Whether
the market data has FX rates for them is checked once the data is loaded
(:func:`~exchina_index.simulation.currency.currency_levels`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index._files import read_utf8
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import ExchinaIndexError, InputError, MethodologyError, short_repr
from exchina_index.rules.checks import check_aum, currency_problem
from exchina_index.rules.methodology import Methodology, load_methodology

__all__ = ["BacktestSpec", "load_spec"]

_KEYS = {
    "name",
    "description",
    "source",
    "start",
    "end",
    "aum",
    "benchmark",
    "methodology",
    "universe",
    "links",
    "allow_no_links",
    "currencies",
}
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
    #: ISO 4217 codes to express the index levels in too (unhedged), in the spec's order.
    currencies: tuple[str, ...] = ()
    #: The bundled rulebook with the overrides applied (validated once, when the spec is read).
    methodology: Methodology = field(default_factory=load_methodology, compare=False, repr=False)


def load_spec(path: str | Path) -> BacktestSpec:
    """Read and validate a backtest specification.

    Raises
    ------
    InputError
        Naming the file and the key: unreadable or non-UTF-8 file, invalid TOML, an unknown key,
        a value of the wrong type, a name that is not a plain folder name, a date that is not
        ``YYYY-MM-DD``, ``end`` not after ``start``, an AUM out of range, a bad benchmark table,
        rulebook overrides the bundled rulebook refuses, or ``currencies`` that is not a list of
        distinct ISO 4217 codes in capitals (``"GBp"`` is a quote unit: write ``"GBP"``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"the backtest spec must be a file path, got {short_repr(path)}")
    p = Path(path)
    text = read_utf8(
        p,
        lambda message, line: InputError(f"cannot read the backtest spec: {message}", path=p, line=line),
        "UTF-8 TOML",
    )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p) from None

    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _fail(p, unknown[0], f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
    name = _folder_name(p, data)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(p, "description", f"must be a string, got {short_repr(description)}")
    source = _required_text(p, data, "source")
    start, end = _period(p, data)
    try:
        aum = check_aum(data.get("aum", _DEFAULT_AUM), "aum")
    except InputError as exc:
        raise _fail(p, "aum", str(exc).removeprefix("aum ")) from None
    kind, ticker, bench_name = _benchmark(p, data)
    overrides, method = _overrides(p, data)
    allow_no_links = data.get("allow_no_links", False)
    if not isinstance(allow_no_links, bool):
        raise _fail(p, "allow_no_links", f"must be true or false, got {short_repr(allow_no_links)}")
    currencies = _currencies(p, text, data)

    def beside(value: str | None) -> str | None:
        """A path relative to the spec's folder (``demo``/``yahoo`` are names, not paths)."""
        if value is None or Path(value).is_absolute():
            return value
        return str((p.parent / value).resolve())

    return BacktestSpec(
        name=name,
        path=p,
        source=source if source in ("demo", "yahoo") else str(beside(source)),
        start=start.date().isoformat(),
        end=end.date().isoformat(),
        aum=aum,
        benchmark_kind=kind,
        benchmark_ticker=ticker,
        benchmark_name=bench_name,
        description=description,
        universe=beside(_text(p, data, "universe")),
        methodology_overrides=overrides,
        methodology=method,
        links=beside(_text(p, data, "links")),
        allow_no_links=allow_no_links,
        currencies=currencies,
    )


def _fail(p: Path, key: str, msg: str, line: int | None = None) -> InputError:
    return InputError(f"key '{key}': {msg}", path=p, line=line)


def _currencies(p: Path, text: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``currencies`` list as a tuple (empty when absent): distinct ISO 4217 codes."""
    value = data.get("currencies", [])
    line = _key_line(text, "currencies")
    if not isinstance(value, list):
        raise _fail(p, "currencies", f'must be a list such as ["EUR", "GBP"], got {short_repr(value)}', line)
    for code in value:
        problem = currency_problem(code)
        if problem is not None:
            raise _fail(p, "currencies", problem, line)
    repeated = [c for i, c in enumerate(value) if c in value[:i]]
    if repeated:
        raise _fail(p, "currencies", f"'{repeated[0]}' is listed twice; list each currency once", line)
    return tuple(value)


def _key_line(text: str, key: str) -> int | None:
    """The 1-based line where the top-level ``key`` is assigned (None when not found): the lines
    before the first table header, read as plain text (a best effort, for error messages)."""
    name = re.escape(key)
    pattern = re.compile(rf"""\s*(?:{name}|"{name}"|'{name}')\s*=""")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("["):
            return None
        if pattern.match(line):
            return number
    return None


def _text(p: Path, table: Mapping[str, Any], key: str, *, prefix: str = "") -> str | None:
    """The optional string ``table[key]`` (None when absent), refused when empty or not a string."""
    value = table.get(key)
    return None if value is None else _required_text(p, table, key, prefix=prefix)


def _required_text(p: Path, table: Mapping[str, Any], key: str, *, prefix: str = "") -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _fail(
            p,
            prefix + key,
            "missing or not a string"
            if value is None
            else f"must be a non-empty string without NUL characters, got {short_repr(value)}",
        )
    return value


def _folder_name(p: Path, data: Mapping[str, Any]) -> str:
    """The spec's name, which names its output folder: a plain folder name."""
    name = _required_text(p, data, "name")
    if (
        name != name.strip()
        or name.startswith(".")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
        or len(name) > _MAX_NAME
    ):
        raise _fail(
            p,
            "name",
            f"{short_repr(name)} must be a plain folder name (no '/', '\\', control "
            f"characters, leading '.' or surrounding spaces; at most {_MAX_NAME} characters): "
            "outputs go to output/<name>/",
        )
    return name


def _period(p: Path, data: Mapping[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``start`` and ``end`` as dates, ``end`` after ``start``."""
    dates = {}
    for key in ("start", "end"):
        if key not in data:
            raise _fail(p, key, "missing; give an ISO date YYYY-MM-DD")
        try:
            dates[key] = parse_date(data[key], key)
        except ExchinaIndexError:
            raise _fail(
                p,
                key,
                f"must be an ISO date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE} (a TOML "
                f"date works too), got {short_repr(data[key])}",
            ) from None
    if dates["start"] >= dates["end"]:
        raise _fail(p, "end", f"{dates['end'].date()} must be after start {dates['start'].date()}")
    return dates["start"], dates["end"]


def _benchmark(p: Path, data: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """The ``[benchmark]`` table as (kind, ticker, name)."""
    bench = data.get("benchmark", {"kind": "none"})
    if not isinstance(bench, dict):
        raise _fail(p, "benchmark", f"must be a table ([benchmark] with kind = ...), got {short_repr(bench)}")
    extra = sorted(set(bench) - _BENCHMARK_KEYS)
    if extra:
        raise _fail(p, f"benchmark.{extra[0]}", f"unknown key (allowed: {', '.join(sorted(_BENCHMARK_KEYS))})")
    kind = bench.get("kind", "none")
    if not isinstance(kind, str) or kind not in _BENCHMARK_KINDS:
        raise _fail(
            p, "benchmark.kind", f"must be one of {', '.join(sorted(_BENCHMARK_KINDS))}, got {short_repr(kind)}"
        )
    if kind == "ticker":
        ticker: str | None = _required_text(p, bench, "ticker", prefix="benchmark.")
    else:
        ticker = _text(p, bench, "ticker", prefix="benchmark.")
    return kind, ticker, _text(p, bench, "name", prefix="benchmark.")


def _overrides(p: Path, data: Mapping[str, Any]) -> tuple[dict[str, Any], Methodology]:
    """The ``[methodology]`` overrides and the bundled rulebook with them applied."""
    overrides = data.get("methodology", {})
    if not isinstance(overrides, dict):
        raise _fail(p, "methodology", f"must be a table of rulebook overrides, got {short_repr(overrides)}")
    method = load_methodology()
    if overrides:
        try:
            method = method.with_overrides(overrides)
        except MethodologyError as exc:
            raise InputError(f"[methodology] overrides: {exc.detail}", path=p) from None
    return overrides, method
