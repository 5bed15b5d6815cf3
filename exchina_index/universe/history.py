"""Point-in-time reference data: float factors, purity, stage splits and share counts with the dates
they were in force (``reference_history.csv`` beside the universe file).

A review reads each fact as of its cut-off, so a backtest of 2018 uses the float factor and the stage
split known for 2018, not today's. Rules of the table (checked on loading; see ``universe/README.md``):

- one row per value: ``ticker, field, value, from, to, source, notes``; ``to`` empty = still in force;
- the entries of one ticker and field follow each other without gap or overlap and the last is open;
  the open entry equals the universe file's column (the universe file shows the facts in force now);
- ``purity`` and the stage fields are facts of the issuer: given on its primary line, they apply to
  every line of the issuer; ``float_factor`` and ``shares_outstanding`` are given per line;
- the three stage fields change together and sum to 1.

- the first entry of a float factor, purity or stage field starts on or before the listing's
  ``listed_since`` (a value known only later is written from ``listed_since`` on, with a note), so no
  value dated after a cut-off is ever read back; share counts may start later: before a ticker's first
  count none is known.

A ticker or field without entries uses the universe file's column for every date (no
``shares_outstanding``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exchina_index.errors import UniverseError
from exchina_index.rules.sections import STAGES
from exchina_index.universe.csv_table import Row, read_rows

__all__ = [
    "HISTORY_FILE",
    "HISTORY_COLUMNS",
    "FIELDS",
    "ISSUER_FIELDS",
    "DatedFacts",
    "parse_history",
    "empty_history",
    "lines_by_issuer",
]

#: The history table's file name beside a universe file.
HISTORY_FILE = "reference_history.csv"
HISTORY_COLUMNS: tuple[str, ...] = ("ticker", "field", "value", "from", "to", "source", "notes")
#: Facts of the issuer: given on its primary line, read on all its lines.
ISSUER_FIELDS: tuple[str, ...] = ("purity", *STAGES)
#: Every dated field, with the range of its values.
FIELDS: dict[str, tuple[float, float]] = {
    "float_factor": (1e-6, 1.0),
    "purity": (0.0, 1.0),
    **{s: (0.0, 1.0) for s in STAGES},
    "shares_outstanding": (1.0, 1e13),
}
_STATIC_FIELDS = ("float_factor", *ISSUER_FIELDS)  # fields that are also universe columns


def empty_history() -> pd.DataFrame:
    """A history table with no rows (the universe's columns hold for every date)."""
    return pd.DataFrame(
        {
            "ticker": pd.Series(dtype=str),
            "field": pd.Series(dtype=str),
            "value": pd.Series(dtype=float),
            "from": pd.Series(dtype="datetime64[ns]"),
            "to": pd.Series(dtype="datetime64[ns]"),
            "source": pd.Series(dtype=str),
            "notes": pd.Series(dtype=str),
            "line": pd.Series(dtype=int),
        }
    )


def parse_history(path: Path, text: str, universe: pd.DataFrame, universe_path: Path) -> pd.DataFrame:
    """Read and check the history table against the universe frame (see the module docstring).

    Returns the rows sorted by ticker, field and date, with the physical ``line`` of each.

    Raises
    ------
    UniverseError
        Naming the file, line and column of the first problem.
    """
    records = []
    for line, values in read_rows(path, text, HISTORY_COLUMNS, frozenset({"notes"})):
        r = Row(path, line, values)
        ticker, fld = r.text("ticker"), r.text("field")
        if ticker not in universe.index:
            raise r.fail("ticker", f"'{ticker}' is not in the universe file; add the listing or fix the symbol")
        if fld not in FIELDS:
            raise r.fail("field", f"unknown field '{fld}' (known: {', '.join(FIELDS)})")
        if fld in ISSUER_FIELDS and not universe.at[ticker, "primary"]:
            raise r.fail("ticker", f"{fld} is a fact of the issuer: give it on the issuer's primary line, not {ticker}")
        start, end = r.date("from"), r.date("to", required=False)
        if end is not pd.NaT and end <= start:
            raise r.fail("to", f"{end.date()} is not after from {start.date()}")
        records.append(
            {
                "ticker": ticker,
                "field": fld,
                "value": r.number("value", *FIELDS[fld]),
                "from": start,
                "to": end,
                "source": r.text("source"),
                "notes": r.text("notes", required=False),
                "line": line,
            }
        )
    if not records:
        return empty_history()
    h = pd.DataFrame.from_records(records)
    h["from"], h["to"] = pd.to_datetime(h["from"]), pd.to_datetime(h["to"])
    h = h.sort_values(["ticker", "field", "from"], kind="stable").reset_index(drop=True)
    _check_stage_sums(path, h)
    for (ticker, fld), g in h.groupby(["ticker", "field"], sort=True):
        _check_chain(path, universe_path, universe, str(ticker), str(fld), g)
    return h


def _check_chain(
    path: Path, universe_path: Path, universe: pd.DataFrame, ticker: str, fld: str, g: pd.DataFrame
) -> None:
    """Entries follow each other without gap or overlap; the last is open and equals the universe column."""
    ends, starts, lines = g["to"].to_numpy(), g["from"].to_numpy(), g["line"].to_numpy()
    for k in range(1, len(g)):
        if ends[k - 1] != starts[k]:
            prev_end = "open" if np.isnat(ends[k - 1]) else str(pd.Timestamp(ends[k - 1]).date())
            raise UniverseError(
                f"{ticker} {fld}: this entry starts {pd.Timestamp(starts[k]).date()} but the one before "
                f"(line {lines[k - 1]}) ends {prev_end}; entries must follow each other without gap or overlap",
                path=path,
                line=int(lines[k]),
                column="from",
            )
    listed = universe.at[ticker, "listed_since"]
    if fld != "shares_outstanding" and starts[0] > np.datetime64(listed, "ns"):
        raise UniverseError(
            f"{ticker} {fld}: the first entry starts {pd.Timestamp(starts[0]).date()}, after listed_since "
            f"{listed.date()}; start it on listed_since (the oldest value known, with a note), so that no later "
            "value is read back into earlier reviews",
            path=path,
            line=int(lines[0]),
            column="from",
        )
    if not np.isnat(ends[-1]):
        raise UniverseError(
            f"{ticker} {fld}: the last entry ends {pd.Timestamp(ends[-1]).date()}; the last entry must be open "
            "(empty to) and equal the universe file's value",
            path=path,
            line=int(lines[-1]),
            column="to",
        )
    if fld in _STATIC_FIELDS:
        now, listed = float(g["value"].iloc[-1]), float(universe.at[ticker, fld])
        if abs(now - listed) > 1e-12:
            raise UniverseError(
                f"{ticker} {fld}: the entry in force now is {now:g} but {universe_path.name} says {listed:g}; "
                "the universe file holds the values in force now, so make them agree",
                path=path,
                line=int(lines[-1]),
                column="value",
            )


def _check_stage_sums(path: Path, h: pd.DataFrame) -> None:
    """The stage fields of a ticker change on the same dates and sum to 1."""
    stages = h[h["field"].isin(STAGES)]
    for ticker, g in stages.groupby("ticker", sort=True):
        dates = {s: set(g.loc[g["field"] == s, "from"]) for s in STAGES}
        every = set().union(*dates.values())
        lacking = [(s, d) for d in sorted(every) for s in STAGES if d not in dates[s]]
        if lacking:
            field_, day = lacking[0]
            raise UniverseError(
                f"{ticker}: no {field_} entry from {pd.Timestamp(day).date()}; the stage fields "
                f"{', '.join(STAGES)} must be given together, on the same dates",
                path=path,
                line=int(g["line"].min()),
                column="field",
            )
        for start, rows in g.groupby("from", sort=True):
            total = math.fsum(rows["value"])
            if abs(total - 1.0) > 1e-9:
                raise UniverseError(
                    f"{ticker}: the stage split from {pd.Timestamp(start).date()} sums to {total:.12g}, not 1",
                    path=path,
                    line=int(rows["line"].min()),
                    column="value",
                )


def lines_by_issuer(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each issuer's lines as positions in ``frame`` (facts of an issuer apply to all its lines)."""
    codes, issuers = pd.factorize(frame["issuer"], sort=False)
    order = np.argsort(codes, kind="stable")  # lines of one issuer together, in the frame's order
    order = order[codes[order] >= 0]  # no issuer: no group
    groups = np.split(order, np.cumsum(np.bincount(codes[codes >= 0], minlength=len(issuers)))[:-1])
    return {str(iss): g for iss, g in zip(issuers, groups)}


@dataclass(frozen=True, eq=False)
class DatedFacts:
    """The history laid out as arrays over a universe's listings, read as of a date with :meth:`at`."""

    tickers: pd.Index
    static: dict[str, np.ndarray]  # the universe columns (NaN for shares_outstanding)
    entries: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # field -> (listing, from, value), sorted

    @classmethod
    def build(cls, frame: pd.DataFrame, history: pd.DataFrame) -> DatedFacts:
        """Lay out ``history`` over the listings of ``frame`` (issuer facts copied to every line)."""
        n = len(frame)
        static = {f: frame[f].to_numpy(dtype=float) for f in _STATIC_FIELDS}
        static["shares_outstanding"] = np.full(n, np.nan)
        lines_of = lines_by_issuer(frame)
        issuer = frame["issuer"]
        entries = {}
        for fld in FIELDS:
            rows = history[history["field"] == fld]
            pos, start, value = [], [], []
            for ticker, t0, v in zip(rows["ticker"], rows["from"], rows["value"]):
                targets = lines_of[issuer[ticker]] if fld in ISSUER_FIELDS else [frame.index.get_loc(ticker)]
                for i in targets:
                    pos.append(int(i))
                    start.append(np.datetime64(t0, "ns"))
                    value.append(float(v))
            p, s, v = np.array(pos, dtype=int), np.array(start, dtype="datetime64[ns]"), np.array(value)
            order = np.lexsort((s, p))
            entries[fld] = (p[order], s[order], v[order])
        return cls(tickers=frame.index, static=static, entries=entries)

    def at(self, t: pd.Timestamp) -> dict[str, np.ndarray]:
        """Each field's value per listing in force at ``t`` (arrays in the universe's order)."""
        a = np.datetime64(t, "ns")
        out = {}
        for fld, (pos, start, value) in self.entries.items():
            v = self.static[fld].copy()
            if pos.size:
                first = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
                last = np.maximum.reduceat(np.where(start <= a, np.arange(pos.size), -1), first)
                started = last >= 0  # before a listing's first entry: its universe column (NaN shares)
                v[pos[first[started]]] = value[last[started]]
            out[fld] = v
        return out

    def frame_at(self, t: pd.Timestamp) -> pd.DataFrame:
        """:meth:`at` as a DataFrame indexed by ticker."""
        return pd.DataFrame(self.at(t), index=self.tickers)
