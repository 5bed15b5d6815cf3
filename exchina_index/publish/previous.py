"""The previous portfolio of a review: found, read and validated.

By default it is the latest ``<out>/<date>/proforma.csv`` dated before the review's
implementation; otherwise a CSV file with ``ticker`` and ``weight`` columns (other columns are
ignored, so a previous ``proforma.csv`` works) or a Series of weights by ticker. It is taken as set
at the close of the previous review's implementation date: the folder's date when the file sits in
a ``YYYY-MM-DD`` folder, else the scheduled review before this one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._files import csv_problem, decode_utf8, read_regular_file
from exchina_index.errors import InputError, ReviewDateError
from exchina_index.rules.calendar import review_dates
from exchina_index.rules.methodology import Methodology
from exchina_index.universe.loading import Universe

__all__ = ["Previous", "resolve_previous", "read_portfolio", "DATE_DIR", "SUM_TOLERANCE"]

#: The name of a published review folder.
DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Tolerance on the sum of a previous portfolio's weights.
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Previous:
    """A previous portfolio and where it came from."""

    weights: pd.Series  # by ticker, as set at ``date``
    date: pd.Timestamp  # the previous implementation date
    source: str  # recorded in the manifest
    sha256: str | None
    binding: pd.Series | None  # the binding cap of each previous constituent, when known
    path: Path | None = None


def _previous_schedule_date(m: Methodology, implement: pd.Timestamp) -> pd.Timestamp:
    """The implementation date of the scheduled review before ``implement``."""
    sched = review_dates(m, implement - pd.Timedelta(days=400), implement - pd.Timedelta(days=1))
    if sched.empty:
        raise ReviewDateError(f"no scheduled review before {implement.date()} to date the previous portfolio")
    return pd.Timestamp(sched["implement"].iloc[-1])


def resolve_previous(
    previous: Any, out_dir: Path, universe: Universe, m: Methodology, implement: pd.Timestamp
) -> Previous | None:
    """The previous portfolio of the review implemented on ``implement`` (``None``: an initial
    composition); ``previous`` is ``None`` (the latest review in ``out_dir``), a CSV path or a Series."""
    if previous is None:
        found = _latest_previous(out_dir, implement)
        if found is None:
            return None
        weights, binding, digest = _read_portfolio(found, universe)
        rel = f"{found.parent.name}/{found.name}"
        return Previous(weights, pd.Timestamp(found.parent.name), rel, digest, binding, found)
    if isinstance(previous, pd.Series):
        w = _check_series(previous, universe)
        return Previous(w, _previous_schedule_date(m, implement), "<Series>", None, None, None)
    if isinstance(previous, (str, os.PathLike)):
        path = Path(previous)
        weights, binding, digest = _read_portfolio(path, universe)
        date = None
        if DATE_DIR.match(path.parent.name):
            try:
                date = pd.Timestamp(path.parent.name)
            except ValueError:
                date = None
        if date is not None and date >= implement:  # a later review's result: look-ahead, not a previous
            raise InputError(
                f"the previous portfolio's folder is dated {date.date()}, not before this review's "
                f"implementation on {implement.date()}; give the proforma.csv of an earlier review",
                path=path,
            )
        if date is None:
            date = _previous_schedule_date(m, implement)
        return Previous(weights, date, str(previous), digest, binding, path)
    raise InputError(f"previous must be a CSV path or a pandas Series of weights, got {type(previous).__name__}")


def _latest_previous(out_dir: Path, implement: pd.Timestamp) -> Path | None:
    """The ``proforma.csv`` of the latest review folder in ``out_dir`` dated before ``implement``."""
    if not os.path.isdir(out_dir):  # Path.is_dir raises for a name too long
        return None
    best: tuple[pd.Timestamp, Path] | None = None
    for p in out_dir.iterdir():
        if not DATE_DIR.match(p.name) or not p.is_dir():
            continue
        try:
            d = pd.Timestamp(p.name)
        except ValueError:
            continue
        if d < implement and os.path.lexists(p / "proforma.csv") and (best is None or d > best[0]):
            best = (d, p / "proforma.csv")  # a folder or a pipe there is an error when read, not skipped
    return None if best is None else best[1]


def read_portfolio(path: str | os.PathLike[str], universe: Universe) -> pd.Series:
    """Read a portfolio CSV (``ticker`` and ``weight`` columns; others ignored) and validate it.

    Raises
    ------
    InputError
        Naming the file, the line and the column/ticker: unreadable file, missing columns, unknown
        or duplicate ticker, a weight that is not a finite number >= 0, or weights not summing to 1.
    """
    return _read_portfolio(Path(path), universe)[0]


def _read_portfolio(path: Path, universe: Universe) -> tuple[pd.Series, pd.Series | None, str]:
    """The weights, the binding column (when the file has one) and the SHA-256 of the file."""
    raw, skip, rows = _csv_rows(path)
    reader = iter(rows)
    header = _check_header([h.strip() for h in next(reader, [])], path, skip + 1)
    it, iw = header.index("ticker"), header.index("weight")
    ib = header.index("binding") if "binding" in header else None
    known = universe.frame.index
    weights: dict[str, float] = {}
    binding: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for k, values in enumerate(reader):
        line = skip + 2 + k
        if not values or all(not v.strip() for v in values) or values[0].lstrip().startswith("#"):
            continue
        if len(values) != len(header):
            raise InputError(f"has {len(values)} fields, the header has {len(header)}", path=path, line=line)
        t = values[it].strip()
        if not t:
            raise InputError("empty ticker", path=path, line=line, column="ticker")
        if t not in known:
            raise InputError(
                f"unknown ticker '{t}': not in the universe; fix the symbol or the universe file",
                path=path,
                line=line,
                column="ticker",
            )
        if t in weights:
            raise InputError(
                f"duplicate ticker '{t}' (first on line {first_line[t]})", path=path, line=line, column="ticker"
            )
        weights[t] = _weight(values[iw], t, path, line)
        first_line[t] = line
        if ib is not None:
            binding[t] = values[ib].strip()
    s = _check_total(weights, first_line, path)
    b = pd.Series(binding, dtype=object).sort_index() if ib is not None else None
    return s, b, hashlib.sha256(raw).hexdigest()


def _csv_rows(path: Path) -> tuple[bytes, int, list[list[str]]]:
    """The file's bytes (read once: parsed and hashed), the number of leading blank or comment
    lines, and the CSV rows after them."""

    def fail(message: str, line: int | None = None) -> InputError:
        return InputError(f"previous portfolio: {message}", path=path, line=line)

    raw = read_regular_file(path, fail)
    lines = decode_utf8(raw, fail).splitlines()
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    try:
        return raw, skip, list(csv.reader(io.StringIO("\n".join(lines[skip:]))))
    except csv.Error as exc:
        raise InputError(csv_problem(exc), path=path) from None


def _check_header(header: list[str], path: Path, line: int) -> list[str]:
    """The header, which must hold ``ticker`` and ``weight`` and no column twice."""
    if not header:
        raise InputError("the previous portfolio is empty; it needs a header with ticker and weight", path=path)
    for col in ("ticker", "weight"):
        if col not in header:
            raise InputError(
                f"missing column '{col}'; the header must hold ticker and weight (got {', '.join(header)})",
                path=path,
                line=line,
                column=col,
            )
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        raise InputError(
            f"column '{twice[0]}' appears twice in the header; keep one", path=path, line=line, column=twice[0]
        )
    return header


def _weight(text: str, ticker: str, path: Path, line: int) -> float:
    """A weight cell: a finite number >= 0."""
    try:
        w = float(text)
    except ValueError:
        raise InputError(
            f"weight of '{ticker}' is '{text}', not a number", path=path, line=line, column="weight"
        ) from None
    if not math.isfinite(w) or w < 0:
        raise InputError(
            f"weight of '{ticker}' is {text}; weights must be finite and >= 0", path=path, line=line, column="weight"
        )
    return w


def _check_total(weights: dict[str, float], first_line: dict[str, int], path: Path) -> pd.Series:
    """The weights as a Series by ticker; each at most 1 and all summing to 1."""
    if not weights:
        raise InputError("the previous portfolio has no rows", path=path)
    over = next((t for t, w in weights.items() if w > 1 + SUM_TOLERANCE), None)
    if over is not None:  # also keeps the sum below from overflowing (1e308 + 1e308)
        raise InputError(
            f"weight of '{over}' is {weights[over]:g}; a weight is a fraction of the portfolio, at most 1",
            path=path,
            line=first_line[over],
            column="weight",
        )
    s = pd.Series(weights, dtype=float).sort_index()
    total = math.fsum(s.to_numpy())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError(
            f"weights sum to {total:.10g}, not 1 (tolerance {SUM_TOLERANCE:g})", path=path, column="weight"
        )
    return s


def _check_series(previous: pd.Series, universe: Universe) -> pd.Series:
    """A previous portfolio given as a Series, validated against the universe."""
    if not previous.index.is_unique:
        dup = previous.index[previous.index.duplicated()][0]
        raise InputError(f"previous portfolio (Series): duplicate ticker '{dup}'")
    unknown = [str(t) for t in previous.index if t not in universe.frame.index]
    if unknown:
        raise InputError(f"previous portfolio (Series): unknown ticker '{unknown[0]}': not in the universe")
    try:
        s = previous.astype(float)
    except (TypeError, ValueError):
        raise InputError("previous portfolio (Series): weights must be numbers") from None
    bad = s.index[~np.isfinite(s.to_numpy()) | (s.to_numpy() < 0) | (s.to_numpy() > 1 + SUM_TOLERANCE)]
    if len(bad):
        raise InputError(
            f"previous portfolio (Series): weight of '{bad[0]}' is {s[bad[0]]}; weights are fractions "
            "of the portfolio, finite, between 0 and 1"
        )
    total = math.fsum(s.to_numpy())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError(f"previous portfolio (Series): weights sum to {total:.10g}, not 1")
    return s.sort_index()
