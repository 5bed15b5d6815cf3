"""Market data from CSV files a user brings.

Two layouts
-----------
A folder
    One file per listing named ``<TICKER>.csv`` (the Yahoo symbol, e.g. ``LYC.AX.csv``,
    ``MKA.L.csv``) plus an optional ``fx.csv``. Every other ``*.csv`` file must be a ticker of the
    universe.
One long file
    Any ``.csv`` file with a ``ticker`` column and the same price columns; FX rates come from the
    ``fx`` argument or an ``fx.csv`` beside the file.

Price file columns (header names are case-insensitive; other columns such as ``open`` or ``high``
are ignored and listed in the notes)
-------------------------------------------------------------------------------------------------
==============  ========  ==================================================================
column          required  meaning
==============  ========  ==================================================================
``date``        yes       exchange-local trading date, ``YYYY-MM-DD`` (a time or UTC offset
                          after it is ignored); one row per date and ticker
``close``       yes       split-adjusted close in the universe's ``price_unit`` (pence for
                          ``GBp`` lines such as ``.L``); empty = no price that day; must be > 0
``volume``      no        shares traded (>= 0); empty = unknown
``dividend``    no        cash dividend per share on its ex-date, in ``price_unit``; empty or
                          0 = none (``dividends`` is accepted too)
``shares``      no        shares outstanding known on that date (> 0); empty = unchanged/unknown
``splits``      no        stock split on its ex-date, new shares per old (2 for a 2-for-1 split,
                          0.1 for a 1-for-10 consolidation; ``close`` is already adjusted for it);
                          empty or 0 = none; only on a row with a close
``ticker``      long file the listing's symbol, as in the universe file
==============  ========  ==================================================================

``fx.csv``: a ``date`` column and one column per currency code (``AUD``, ``GBP``, ``JPY``...)
holding **USD per one unit** of the currency (e.g. AUD 0.66, JPY 0.0067). A ``USD`` column is
optional (it must be 1). An empty cell means no quote that day: the previous rate is used. Every
currency of a listing in the data needs a column, with a rate on or before the listing's first price.

Empty cells may also be written ``NA``, ``NaN``, ``null`` or ``N/A``. Lines starting with ``#``
before the header are comments; blank lines are skipped. Files are UTF-8 (a byte-order mark is
accepted).

Values must be plausible as well as well-formed (:data:`BOUNDS`): a close between 1e-6 and 1e12
price units, a dividend up to 1e12, a split ratio up to 1e6, a volume and a share count up to 1e15
shares (share counts at least 1), an FX rate between 1e-9 and 1e6 USD per unit, dates between
1900-01-01 and 2200-12-31.
Anything outside is a typo or a corrupt export (``1e300`` would overflow market caps and returns
into infinities) and is refused with the file, line and column.

Every problem raises :class:`~exchina_index.errors.DataError` naming the file, the physical line
(1-based, the header is line 1 unless comments precede it), the column and what to do: a missing
column, an unparsable date, a non-numeric value, a repeated date, a non-positive price, a ticker
that is not in the universe, a currency without an FX column.

Prices only (``date, close``) is enough. Without volumes the reviews skip the ADTV screens and the
liquidity caps; a listing without share counts takes the universe's dated ``shares_outstanding``
(``reference_history.csv``) for its market cap, and where neither exists its size screen is skipped
unless the anchor needs market caps (see "Prices-only data" in :mod:`exchina_index.data.market`).
Each case is a note. Listing lives follow the universe: rows before ``listed_since`` and on or after
``delisted`` are dropped (with a note).

Two listings whose closes are identical on every date (a copied or linked file) are noted.

Listings without data are reported, not dropped silently: a universe listing without a price file
(or without rows in the long file), or without a price in the requested dates, gets no prices
(NaN), screens as ``NO_DATA``, and ``MarketData.notes`` names it (the command line prints the
notes; rebalance reports and manifests record them). A CSV source may legitimately leave out
listings (delisted or China-controlled names the screens exclude anyway), so this is a note rather
than an error; a folder without any price file is an error.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._files import csv_problem, path_problem, read_utf8
from exchina_index.data import _universe_frame
from exchina_index.data.frames import identical_close_notes
from exchina_index.data.market import MarketData
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import DataError

__all__ = ["load_csv", "PRICE_COLUMNS", "FX_FILE", "BOUNDS", "FX_BOUNDS"]

#: Recognised price-file columns: name -> required.
PRICE_COLUMNS: dict[str, bool] = {
    "date": True, "close": True, "volume": False, "dividend": False, "shares": False, "splits": False
}  # fmt: skip
#: Plausible range [lo, hi] of each numeric column (price units for close and dividend, shares for
#: volume and shares); the sign rules (close > 0, volume >= 0...) are checked first, then these.
BOUNDS: dict[str, tuple[float, float]] = {
    "close": (1e-6, 1e12),
    "volume": (0.0, 1e15),
    "dividend": (0.0, 1e12),
    "shares": (1.0, 1e15),
    "splits": (0.0, 1e6),
}
#: Plausible range of an FX rate, USD per one unit of a currency.
FX_BOUNDS: tuple[float, float] = (1e-9, 1e6)
FX_FILE = "fx.csv"
_ALIASES = {"dividends": "dividend"}
_MISSING = {"", "na", "nan", "null", "n/a", "none"}
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T].*)?$")


def load_csv(
    universe: Any,
    path: str | Path,
    start: Any = None,
    end: Any = None,
    *,
    fx: str | Path | None = None,
) -> MarketData:
    """Load a folder of per-ticker CSV files, or one long CSV file with a ``ticker`` column.

    Parameters
    ----------
    universe
        A :class:`~exchina_index.universe.loading.Universe` (its ``frame``, and its ``history`` for
        share counts the files lack) or its frame.
    path
        The folder or the long file.
    start, end
        Keep only dates in [start, end] (inclusive).
    fx
        The FX file; default ``fx.csv`` in the folder (or beside the long file).

    Returns
    -------
    MarketData
        ``source = "csv:<path>"``, ``synthetic = False``.

    Raises
    ------
    DataError
        Naming file, line, column and what to do (see the module docstring).
    """
    frame = _universe_frame(universe)
    known = set(map(str, frame.index))
    if not isinstance(path, (str, os.PathLike)):
        raise DataError(f"path must be a folder or a CSV file, got {type(path).__name__}")
    if fx is not None and not isinstance(fx, (str, os.PathLike)):
        raise DataError(f"fx must be the path of an FX file, got {type(fx).__name__}")
    root = Path(path)
    notes: list[str] = []
    kind = _kind(root)
    per_ticker, fx_beside = _read_listings(root, kind, known, notes)
    lo = None if start is None else parse_date(start, "start")
    hi = None if end is None else parse_date(end, "end")
    per_ticker = {t: _between(df, lo, hi) for t, df in per_ticker.items()}
    if not any(len(df) for df in per_ticker.values()):
        raise DataError(f"{root}: no price rows between {lo} and {hi}; check the dates")
    notes.extend(_coverage_notes(root, kind, known, per_ticker, lo, hi))
    fx_frame = _fx_for(Path(fx) if fx is not None else fx_beside, per_ticker, frame["currency"].astype(str))

    def wide(col: str) -> pd.DataFrame:
        return pd.DataFrame({t: df[col] for t, df in per_ticker.items()}).sort_index()

    close = wide("close").reindex(columns=sorted(known))  # absent listings: NaN, already in the notes
    return MarketData.from_frames(
        universe if hasattr(universe, "frame") else frame,
        close,
        fx=fx_frame,
        dividends=wide("dividend").reindex(close.index),
        volume=wide("volume").reindex(close.index),
        shares=wide("shares").reindex(close.index),
        splits=wide("splits").reindex(close.index),
        source=f"csv:{root}",
        synthetic=False,
        notes=notes,
    )


# --- the source: listings, coverage, FX -----------------------------------------------------------


def _read_listings(root: Path, kind: str, known: set[str], notes: list[str]) -> tuple[dict[str, pd.DataFrame], Path]:
    """The price rows of each listing in the folder or the long file, and the default FX file's path."""
    if kind == "file":
        return _read_prices(root, known, notes), root.with_name(FX_FILE)
    if kind != "dir":
        raise DataError(
            f"{root}: {path_problem(root) or 'no such file or folder'}; give a folder of "
            "<TICKER>.csv files or one CSV file"
        )
    files = sorted(p for p in root.glob("*.csv") if p.name != FX_FILE and not p.name.startswith("."))
    if not files:
        raise DataError(f"{root}: no <TICKER>.csv files in this folder; add one file per listing")
    per_ticker: dict[str, pd.DataFrame] = {}
    for p in files:
        ticker = p.name[: -len(".csv")]
        if ticker not in known:
            raise DataError(
                f"{p}: ticker '{ticker}' (from the file name) is not in the universe; rename the file "
                "to a universe ticker, add the listing to the universe, or remove the file"
            )
        per_ticker[ticker] = _read_prices(p, None, notes)[ticker]
    return per_ticker, root / FX_FILE


def _between(df: pd.DataFrame, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.DataFrame:
    """The rows dated in [lo, hi] (either bound optional)."""
    if lo is not None:
        df = df[df.index >= lo]
    if hi is not None:
        df = df[df.index <= hi]
    return df


def _coverage_notes(
    root: Path,
    kind: str,
    known: set[str],
    per_ticker: dict[str, pd.DataFrame],
    lo: pd.Timestamp | None,
    hi: pd.Timestamp | None,
) -> list[str]:
    """Notes on listings without a file, without prices in the dates, or with copied closes."""
    notes: list[str] = []
    absent = sorted(known - set(per_ticker))
    if absent:
        where = f"expected {root / '<TICKER>.csv'}" if kind == "dir" else f"no rows in {root.name}"
        notes.append(
            f"no price file for {len(absent)} listing(s) ({where}): {', '.join(absent)}; "
            "they have no prices and screen as NO_DATA"
        )
    notes.extend(identical_close_notes({t: df["close"] for t, df in per_ticker.items()}, "the files hold"))
    unpriced = sorted(t for t, df in per_ticker.items() if not df["close"].notna().any())
    if unpriced:
        first, last = ("the first date" if lo is None else lo.date()), ("the last date" if hi is None else hi.date())
        span = "" if lo is None and hi is None else f" between {first} and {last}"
        notes.append(f"no prices{span} for {len(unpriced)} listing(s): {', '.join(unpriced)}; they screen as NO_DATA")
    return notes


def _fx_for(fx_path: Path, per_ticker: dict[str, pd.DataFrame], currency: pd.Series) -> pd.DataFrame | None:
    """The FX rates the priced listings need (None when all are in USD and there is no FX file)."""
    needed = sorted({currency[t] for t, df in per_ticker.items() if df["close"].notna().any()} - {"USD"})
    fx_kind = _kind(fx_path)
    if fx_kind != "file" and os.path.lexists(fx_path):  # a folder, a pipe, a dangling link: not "no FX file"
        raise DataError(f"{fx_path}: {path_problem(fx_path)}; it must be the FX file (date, one column per currency)")
    if fx_kind != "file":
        if needed:
            who = next(t for t in sorted(per_ticker) if currency[t] == needed[0])
            raise DataError(
                f"{fx_path}: file not found, but {who} is quoted in {needed[0]}; add {FX_FILE} with a 'date' "
                f"column and one column per currency ({', '.join(needed)}) in USD per unit"
            )
        return None
    fx_frame = _read_fx(fx_path)
    for cur in needed:
        _check_fx_column(fx_path, fx_frame, cur, per_ticker, currency)
    return fx_frame


def _check_fx_column(
    fx_path: Path, fx_frame: pd.DataFrame, cur: str, per_ticker: dict[str, pd.DataFrame], currency: pd.Series
) -> None:
    """Refuse an FX file without a ``cur`` column, or without a rate by the first price of a listing in ``cur``."""
    if cur not in fx_frame.columns:
        who = next(t for t in sorted(per_ticker) if currency[t] == cur)
        raise DataError(
            f"{fx_path}, line 1: no column '{cur}' for {who} (quoted in {cur}); add a '{cur}' "
            f"column holding USD per one {cur}"
        )
    first_fx = fx_frame[cur].first_valid_index()
    for t in sorted(per_ticker):
        df = per_ticker[t]
        if currency[t] != cur or not df["close"].notna().any():
            continue
        first_px = df["close"].first_valid_index()
        if first_fx is None or first_px < first_fx:
            raise DataError(
                f"{fx_path}, column '{cur}': no rate on or before {first_px.date()}, the first price of "
                f"{t}; add {cur} rates from that date"
            )


# --- parsing --------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    """``"dir"``, ``"file"`` (regular) or ``"other"`` (missing, unreadable, a device or a pipe)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, a name too long, a NUL character
        return "other"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _fail(path: Path, line: int | None, column: str | None, message: str) -> DataError:
    where = [
        str(path),
        *([] if line is None else [f"line {line}"]),
        *([] if column is None else [f"column '{column}'"]),
    ]
    return DataError(f"{', '.join(where)}: {message}")


def _table(path: Path) -> tuple[list[str], int, list[list[str]], np.ndarray]:
    """(lower-cased header, header line, rows, physical line of each row)."""
    text = read_utf8(path, lambda message, line: _fail(path, line, None, message))
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith("#")):
        skip += 1
    reader = csv.reader(io.StringIO("".join(lines[skip:])))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise _fail(path, None, None, "the file is empty; it needs a header row") from None
    except csv.Error as exc:
        raise _fail(path, skip + 1, None, csv_problem(exc)) from None
    header = [_ALIASES.get(h, h) for h in header]
    rows: list[list[str]] = []
    where: list[int] = []
    start = reader.line_num
    while True:
        line = skip + start + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _fail(path, line, None, csv_problem(exc)) from None
        start = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise _fail(path, line, None, f"has {len(values)} fields but the header has {len(header)}; check commas")
        rows.append(values)
        where.append(line)
    return header, skip + 1, rows, np.array(where, dtype=int)


def _dates(path: Path, col: str, raw: list[str], lines: np.ndarray) -> pd.DatetimeIndex:
    text = [v.strip() for v in raw]
    day = [m.group(1) if (m := _DATE.match(v)) else "" for v in text]
    parsed = pd.to_datetime(pd.Series(day, dtype=object), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        k = int(np.argmax(bad))
        raise _fail(path, int(lines[k]), col, f"'{text[k]}' is not a date; write it as YYYY-MM-DD")
    out = pd.DatetimeIndex(parsed.to_numpy().astype("datetime64[us]"), name="date")
    far = (out < pd.Timestamp(MIN_DATE)) | (out > pd.Timestamp(MAX_DATE))
    if far.any():
        k = int(np.argmax(far))
        raise _fail(path, int(lines[k]), col, f"{text[k]} is outside {MIN_DATE} to {MAX_DATE}; check the year")
    return out


def _numbers(path: Path, col: str, raw: list[str], lines: np.ndarray) -> np.ndarray:
    text = np.array([v.strip() for v in raw], dtype=object)
    missing = np.array([v.lower() in _MISSING for v in text], dtype=bool)
    cells = pd.Series(text, dtype=object).mask(missing)  # an empty cell is NaN, not a bad number
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = (np.isnan(values) & ~missing) | np.isinf(values)
    if bad.any():
        k = int(np.argmax(bad))
        raise _fail(path, int(lines[k]), col, f"'{text[k]}' is not a number; fix it or leave the cell empty")
    return values


def _check_bounds(
    path: Path, col: str, values: np.ndarray, raw: list[str], lines: np.ndarray, bounds: tuple[float, float]
) -> None:
    """Refuse the first value outside ``bounds`` (NaN = an empty cell, allowed)."""
    lo, hi = bounds
    with np.errstate(invalid="ignore"):
        bad = (values < lo) | (values > hi)
    if bad.any():
        k = int(np.argmax(bad))
        raise _fail(
            path,
            int(lines[k]),
            col,
            f"{raw[k].strip()} is outside the plausible range "
            f"[{lo:g}, {hi:g}] for {col}; fix the value (a typo or a corrupt export)",
        )


def _read_prices(path: Path, known: set[str] | None, notes: list[str]) -> dict[str, pd.DataFrame]:
    """Parse a per-ticker file (``known is None``) or a long file with a ticker column."""
    header, header_line, rows, lines = _table(path)
    long = known is not None
    required = [c for c, req in PRICE_COLUMNS.items() if req] + (["ticker"] if long else [])
    for c in required:
        if c not in header:
            hint = " (a long file needs a 'ticker' column)" if c == "ticker" else ""
            raise _fail(path, header_line, c, f"missing column '{c}'{hint}; the header needs {', '.join(required)}")
    dup = sorted({h for h in header if header.count(h) > 1 and h in (*PRICE_COLUMNS, "ticker")})
    if dup:
        raise _fail(path, header_line, dup[0], "column appears twice; keep one")
    ignored = [h for h in header if h not in PRICE_COLUMNS and h != "ticker"]
    if ignored:
        notes.append(f"{path.name}: ignored column(s) {', '.join(ignored)}")
    if not rows:
        raise _fail(path, header_line, None, "no data rows; add at least one row or remove the file")
    cols = {h: [r[i] for r in rows] for i, h in enumerate(header) if h in PRICE_COLUMNS or h == "ticker"}

    dates = _dates(path, "date", cols["date"], lines)
    n = len(rows)  # the columns a file may leave out: unknown volume and shares, no dividend or split
    defaults = dict(volume=np.full(n, np.nan), dividend=np.zeros(n), shares=np.full(n, np.nan), splits=np.zeros(n))
    data = {c: _numbers(path, c, cols[c], lines) if c in cols else defaults[c] for c in PRICE_COLUMNS if c != "date"}
    checks = (
        ("close", lambda v: v <= 0, "must be > 0 (a price); leave the cell empty when there is no price"),
        ("volume", lambda v: v < 0, "must be >= 0 (shares traded)"),
        ("dividend", lambda v: v < 0, "must be >= 0 (cash per share)"),
        ("shares", lambda v: v <= 0, "must be > 0; leave the cell empty when unknown"),
        ("splits", lambda v: v < 0, "must be >= 0 (new shares per old; 0 or empty = no split)"),
    )
    for col, test, what in checks:
        with np.errstate(invalid="ignore"):
            bad = test(data[col]) & ~np.isnan(data[col])
        if bad.any():
            k = int(np.argmax(bad))
            raise _fail(path, int(lines[k]), col, f"{cols[col][k].strip()} {what}")
        if col in cols:  # a column the file leaves out holds defaults (no dividend or split, unknown volume/shares)
            _check_bounds(path, col, data[col], cols[col], lines, BOUNDS[col])
    data["dividend"], data["splits"] = np.nan_to_num(data["dividend"], nan=0.0), np.nan_to_num(data["splits"], nan=0.0)

    if known is not None:
        tickers = np.array([v.strip() for v in cols["ticker"]], dtype=object)
        for k, t in enumerate(tickers):
            if t not in known:
                raise _fail(
                    path,
                    int(lines[k]),
                    "ticker",
                    f"'{t}' is not in the universe; add the listing to the universe or remove these rows",
                )
    else:
        tickers = np.full(len(rows), path.name[: -len(".csv")], dtype=object)

    table = pd.DataFrame({"ticker": tickers, **data, "line": lines}, index=dates)
    out: dict[str, pd.DataFrame] = {}
    for t, df in table.groupby("ticker", sort=True):
        dup = df.index.duplicated(keep=False)
        if dup.any():
            d = df.index[dup][0]
            first, second = df.loc[df.index == d, "line"].to_numpy()[:2]
            raise _fail(
                path,
                int(second),
                "date",
                f"{t} has the date {d.date()} twice (lines {first} and {second}); keep one row per date",
            )
        out[str(t)] = df.drop(columns=["ticker", "line"]).sort_index()
    return out


def _read_fx(path: Path) -> pd.DataFrame:
    """Parse an FX file: one column per currency code, USD per unit, by date."""
    header, header_line, rows, lines = _table(path)
    if "date" not in header:
        raise _fail(
            path, header_line, "date", "missing column 'date'; the header needs date and one column per currency"
        )
    if header.count("date") > 1:
        raise _fail(path, header_line, "date", "column appears twice; keep one")
    if not rows:
        raise _fail(path, header_line, None, "no data rows; add the daily rates")
    raw_header = [h.upper() for h in header]
    cols: dict[str, np.ndarray] = {}
    for i, h in enumerate(raw_header):
        if h == "DATE":
            continue
        if not re.fullmatch(r"[A-Z]{3}", h):
            raise _fail(path, header_line, header[i], "is not a currency code; name the column like AUD, GBP, JPY")
        if h in cols:
            raise _fail(path, header_line, header[i], "column appears twice; keep one")
        values = _numbers(path, h, [r[i] for r in rows], lines)
        with np.errstate(invalid="ignore"):
            bad = values <= 0
        if bad.any():
            k = int(np.argmax(bad))
            raise _fail(path, int(lines[k]), h, f"{rows[k][i].strip()} must be > 0 (USD per one {h})")
        _check_bounds(path, h, values, [r[i] for r in rows], lines, FX_BOUNDS)
        if h == "USD" and not np.allclose(values[~np.isnan(values)], 1.0):
            k = int(np.argmax(~np.isclose(values, 1.0) & ~np.isnan(values)))
            raise _fail(path, int(lines[k]), h, "must be 1 (rates are USD per one unit)")
        cols[h] = values
    dates = _dates(path, "date", [r[header.index("date")] for r in rows], lines)
    dup = dates.duplicated(keep=False)
    if dup.any():
        d = dates[int(np.argmax(dup))]
        first, second = lines[np.flatnonzero(dates == d)[:2]]
        raise _fail(
            path, int(second), "date", f"the date {d.date()} appears twice (lines {first} and {second}); keep one"
        )
    return pd.DataFrame(cols, index=dates).sort_index()
