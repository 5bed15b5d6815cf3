"""CSV tables of the universe folder: rows with their physical line numbers, typed cells whose
errors point at the file, line and column (:class:`~exchina_index.errors.UniverseError`)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from exchina_index._files import csv_problem, read_utf8
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import ReviewDateError, UniverseError

__all__ = ["read_text", "read_rows", "Row"]


def read_text(path: Path) -> str:
    """The file's text (UTF-8, BOM allowed); unreadable bytes are a UniverseError naming the line."""
    return read_utf8(path, lambda message, line: UniverseError(message, path=path, line=line))


def read_rows(
    path: Path, text: str, columns: tuple[str, ...], optional: frozenset[str] = frozenset()
) -> list[tuple[int, dict[str, str]]]:
    """CSV rows as (physical line, {column: text}); ``#`` lines before the header are comments.

    Every column of ``columns`` but those in ``optional`` must be in the header, and nothing else.
    """
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (lines[skip].lstrip().startswith("#") or not lines[skip].strip()):
        skip += 1
    reader = csv.reader(io.StringIO("".join(lines[skip:])))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UniverseError("the file is empty: it needs a header row", path=path) from None
    except csv.Error as exc:
        raise UniverseError(csv_problem(exc), path=path, line=skip + 1) from None
    header_line = skip + 1
    missing = [c for c in columns if c not in header and c not in optional]
    if missing:
        raise UniverseError(
            f"missing column(s) {', '.join(missing)}; the header must hold {', '.join(columns)}",
            path=path,
            line=header_line,
            column=missing[0],
        )
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise UniverseError(
            f"unknown column; allowed: {', '.join(columns)}", path=path, line=header_line, column=unknown[0]
        )
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise UniverseError("column appears twice", path=path, line=header_line, column=dup[0])
    out = []
    start = reader.line_num
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the row starting on the line after the last one read
            raise UniverseError(csv_problem(exc), path=path, line=skip + start + 1) from None
        if not values or all(not v.strip() for v in values) or values[0].lstrip().startswith("#"):
            start = reader.line_num
            continue
        if len(values) != len(header):
            raise UniverseError(
                f"has {len(values)} fields, the header has {len(header)}; check commas and quotes",
                path=path,
                line=skip + start + 1,
            )
        out.append((skip + start + 1, {h: v.strip() for h, v in zip(header, values)}))
        start = reader.line_num
    return out


class Row:
    """Typed access to one CSV row, raising errors that point at the cell."""

    def __init__(self, path: Path, line: int, values: dict[str, str]) -> None:
        self.path, self.line, self.values = path, line, values

    def fail(self, column: str, message: str) -> UniverseError:
        return UniverseError(message, path=self.path, line=self.line, column=column)

    def text(self, col: str, *, required: bool = True) -> str:
        v = self.values.get(col, "")
        if required and not v:
            raise self.fail(col, "is empty; fill it in")
        return v

    def number(self, col: str, lo: float, hi: float, *, default: float | None = None) -> float:
        raw = self.values.get(col, "")
        if not raw and default is not None:
            return default
        try:
            v = float(raw)
        except ValueError:
            raise self.fail(col, f"'{raw}' is not a number") from None
        if not math.isfinite(v) or not lo <= v <= hi:
            raise self.fail(col, f"{raw} is outside [{lo:g}, {hi:g}]")
        return v

    def date(self, col: str, *, required: bool = True) -> pd.Timestamp:
        raw = self.values.get(col, "")
        if not raw:
            if required:
                raise self.fail(col, "is empty; give an ISO date YYYY-MM-DD")
            return pd.NaT
        try:
            return parse_date(raw, col)
        except ReviewDateError:
            raise self.fail(col, f"'{raw}' is not an ISO date YYYY-MM-DD between {MIN_DATE} and {MAX_DATE}") from None

    def code(self, col: str, valid: Callable[[str], bool], what: str) -> str:
        v = self.text(col)
        if not valid(v):
            raise self.fail(col, f"'{v}' is not {what}")
        return v
