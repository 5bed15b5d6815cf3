"""The discretion log: dated decisions of the index committee, with their reasons and sources.

Index committees sometimes decide outside the mechanical rules: exclude a name pending a takeover,
keep a name whose status is uncertain, record how a rule was read. ``discretion_log.csv`` (beside
the universe file; see ``universe/README.md``) holds one decision per row:

==============  ==================================================================================
``date``        the day the decision was taken (ISO); it applies from the first cut-off on or after it
``kind``        ``exclude`` (the listing is screened out with reason ``DISCRETION``) or ``note`` (a
                recorded decision without mechanical effect)
``ticker``      a listing of the universe; required for ``exclude``, may be empty for a ``note``
``until``       the decision applies to cut-offs before this date (ISO, after ``date``); empty: no end
``reason``      why, in one sentence
``decided_by``  who decided (the index committee, ...)
``source``      the evidence (``;``-separated URLs or source keys, as in the other universe files)
==============  ==================================================================================

A decision is *in force* at a cut-off ``t`` when ``date <= t < until``. Every problem raises
:class:`~exchina_index.errors.UniverseError` naming the file, line and column. A universe folder
without the file has no decisions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from exchina_index._resources import bundled_path
from exchina_index.dates import parse_date
from exchina_index.errors import UniverseError, short_repr
from exchina_index.universe.csv_table import Row, read_rows, read_text

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

__all__ = [
    "DISCRETION_COLUMNS",
    "DISCRETION_FILE",
    "DISCRETION_KINDS",
    "DiscretionLog",
    "decisions_at",
    "empty_log",
    "load_discretion_log",
    "parse_discretion_log",
]

#: The discretion log's file name beside a universe file.
DISCRETION_FILE = "discretion_log.csv"
DISCRETION_COLUMNS: tuple[str, ...] = ("date", "kind", "ticker", "until", "reason", "decided_by", "source")
#: ``exclude`` screens the listing out (reason ``DISCRETION``); ``note`` only records the decision.
DISCRETION_KINDS: frozenset[str] = frozenset({"exclude", "note"})
_TEXT = ("kind", "ticker", "reason", "decided_by", "source")


@dataclass(frozen=True, eq=False)
class DiscretionLog:
    """The decisions of a discretion log, one array entry each, sorted by date (then file line).

    Attributes
    ----------
    date, until
        ``datetime64[ns]`` arrays; ``until`` is ``NaT`` when the decision has no end.
    kind, ticker, reason, decided_by, source
        Object arrays of strings (``ticker`` is ``""`` for a note about no particular listing).
    line
        The physical line of each decision in ``path`` (0 for a log built in memory).
    path
        The file read (None for an empty or hand-built log).
    """

    date: np.ndarray
    kind: np.ndarray
    ticker: np.ndarray
    until: np.ndarray
    reason: np.ndarray
    decided_by: np.ndarray
    source: np.ndarray
    line: np.ndarray
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.date)

    def take(self, mask: np.ndarray) -> DiscretionLog:
        """The decisions where ``mask`` is True (a boolean array of ``len(self)``), in order."""
        return DiscretionLog(**{c: getattr(self, c)[mask] for c in (*_TEXT, "date", "until", "line")}, path=self.path)

    def lines(self) -> tuple[str, ...]:
        """One line per decision: ``YYYY-MM-DD kind TICKER: reason (source)`` (no ticker: ``kind:``)."""
        days = pd.DatetimeIndex(self.date).strftime("%Y-%m-%d")
        return tuple(
            f"{d} {k}{' ' + t if t else ''}: {r} ({s})"
            for d, k, t, r, s in zip(days, self.kind, self.ticker, self.reason, self.source)
        )

    def to_frame(self) -> pd.DataFrame:
        """The log as a DataFrame with the columns of :data:`DISCRETION_COLUMNS` and ``line``."""
        return pd.DataFrame({c: getattr(self, c) for c in (*DISCRETION_COLUMNS, "line")})


def empty_log(path: Path | None = None) -> DiscretionLog:
    """A log without decisions."""
    text = {c: np.array([], dtype=object) for c in _TEXT}
    no_dates = np.array([], dtype="datetime64[ns]")
    return DiscretionLog(**text, date=no_dates, until=no_dates.copy(), line=np.array([], dtype=np.int64), path=path)


def parse_discretion_log(path: Path, text: str, tickers: Iterable[str]) -> DiscretionLog:
    """The decisions in ``text`` (the contents of ``path``), checked against the universe's ``tickers``.

    Raises
    ------
    UniverseError
        Naming the file, line and column: a missing or unknown column, a date that is not ISO, an
        ``until`` not after ``date``, an unknown ``kind``, an ``exclude`` without ticker, a ticker
        not in the universe, an empty ``reason``, ``decided_by`` or ``source``.
    """
    known = frozenset(tickers)
    records: list[dict[str, Any]] = []
    for line, values in read_rows(path, text, DISCRETION_COLUMNS):
        r = Row(path, line, values)
        date = r.date("date")
        kind = r.text("kind")
        if kind not in DISCRETION_KINDS:
            raise r.fail("kind", f"unknown kind '{kind}' (known: {', '.join(sorted(DISCRETION_KINDS))})")
        ticker = r.text("ticker", required=kind == "exclude")
        if ticker and ticker not in known:
            raise r.fail("ticker", f"'{ticker}' is not in the universe file; add the listing or fix the symbol")
        until = r.date("until", required=False)
        if until is not pd.NaT and until <= date:
            raise r.fail("until", f"{until.date()} is not after date {date.date()}; give a later end or leave it empty")
        records.append(
            {
                "date": date,
                "kind": kind,
                "ticker": ticker,
                "until": until,
                **{c: r.text(c) for c in ("reason", "decided_by", "source")},
                "line": line,
            }
        )
    if not records:
        return empty_log(path)
    f = pd.DataFrame.from_records(records).sort_values(["date", "line"], kind="stable")
    return DiscretionLog(
        **{c: f[c].to_numpy(dtype=object) for c in _TEXT},
        date=f["date"].to_numpy(dtype="datetime64[ns]"),
        until=pd.to_datetime(f["until"]).to_numpy(dtype="datetime64[ns]"),
        line=f["line"].to_numpy(dtype=np.int64),
        path=path,
    )


def load_discretion_log(
    path: str | os.PathLike[str] | None = None, tickers: Iterable[str] | None = None
) -> DiscretionLog:
    """Load and validate a discretion log.

    Parameters
    ----------
    path
        The log CSV; ``None`` reads the bundled ``discretion_log.csv``.
    tickers
        The universe's tickers, which every ``ticker`` must be one of; ``None``: the bundled universe's.

    Raises
    ------
    UniverseError
        A file that cannot be read, or the first problem found (see :func:`parse_discretion_log`).

    Examples
    --------
    >>> log = load_discretion_log()
    >>> "ASM.AX" in set(decisions_at(log, "2026-02-27").ticker)
    True
    """
    if path is not None and (not isinstance(path, (str, os.PathLike)) or not str(os.fspath(path)).strip()):
        raise UniverseError(f"path must be a file path (str or Path) or None, got {short_repr(path)}")
    p = bundled_path(DISCRETION_FILE) if path is None else Path(path)
    if tickers is None:
        from exchina_index.universe.loading import load_universe  # the loader reads this module's log too

        tickers = load_universe().frame.index
    return parse_discretion_log(p, read_text(p), tickers)


def decisions_at(log: DiscretionLog, cutoff: Any) -> DiscretionLog:
    """The decisions in force at the cut-off: ``date <= cutoff`` and (``until`` empty or ``cutoff < until``).

    Examples
    --------
    >>> log = load_discretion_log()
    >>> len(decisions_at(log, "2015-01-30"))
    0
    """
    t = np.datetime64(parse_date(cutoff, "cutoff"), "ns")
    return log.take((log.date <= t) & (np.isnat(log.until) | (t < log.until)))
