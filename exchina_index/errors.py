"""The exception hierarchy of exchina-index.

Every error the package raises on purpose derives from :class:`ExchinaIndexError`. The command line
turns these into one line on stderr and exit code 2; anything else is an internal error (exit 1).

Messages name where the problem is (file, line, column, ticker, date) and say what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "ExchinaIndexError",
    "InputError",
    "UniverseError",
    "MethodologyError",
    "DataError",
    "NetworkError",
    "CacheError",
    "EngineInputError",
    "ReviewDateError",
    "InfeasibleError",
    "SolverError",
    "OutputError",
    "SweepError",
    "short_repr",
]


class ExchinaIndexError(Exception):
    """Root of every error raised on purpose by exchina-index."""


class InputError(ExchinaIndexError):
    """A user-supplied file or value is malformed.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    path, line, column
        Where the problem is, when known. ``line`` is the 1-based physical line in the file.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.line = line
        self.column = column
        self.detail = message
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UniverseError(InputError):
    """The universe file or the China-link table is malformed."""


class MethodologyError(InputError):
    """The rulebook (methodology TOML) is malformed or holds an out-of-range value."""


class DataError(ExchinaIndexError):
    """Market data is missing, inconsistent or unusable (names the tickers and dates)."""


class NetworkError(DataError):
    """A download failed: no network, rate limit, or the wall-clock deadline was hit."""


class CacheError(DataError):
    """The local market-data cache is unreadable or corrupt."""


class EngineInputError(DataError, ValueError):
    """Arrays given to the index engine break one of its preconditions (names the row and column)."""


class ReviewDateError(ExchinaIndexError):
    """A date is outside the review schedule or the data range."""


class InfeasibleError(ExchinaIndexError):
    """The rulebook's constraints cannot all hold; the message names the constraint and shortfall."""


class SolverError(ExchinaIndexError):
    """Every allowed solver failed on a problem that passed the feasibility pre-checks."""


class SweepError(ExchinaIndexError):
    """A sweep's variant failed on the Dask cluster (its workers died too often, or a bug in a
    task); the variants already finished are kept in the variant cache."""


class OutputError(ExchinaIndexError):
    """An output folder is unwritable, or writing would overwrite a published review."""


def short_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages (a value can be a 400-digit
    integer or a 100 kB string)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
