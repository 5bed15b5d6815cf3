"""The tagged universe and the dated China-link table: loading and validation.

Both files are CSV (UTF-8, with or without a byte-order mark) with optional ``#`` comment lines at
the top. Every problem raises :class:`~exchina_index.errors.UniverseError` naming the file, the
physical line and the column. See ``universe/README.md`` for the column definitions.

The China-link table is required: a missing or empty ``china_links.csv`` beside the universe is an
error, because without links the control and stake screens pass every listing. A universe that
really has no links says so with ``allow_no_links=True`` (the command line's ``--no-china-links``);
the loaded :class:`Universe` then carries a note saying the screens ran without links.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pycountry

from exchina_index._files import csv_problem, read_utf8
from exchina_index._resources import bundled_path
from exchina_index.dates import MAX_DATE, MIN_DATE, parse_date
from exchina_index.errors import ReviewDateError, UniverseError, short_repr
from exchina_index.rules.calendar import MIC_CALENDAR
from exchina_index.rules.sections import LINK_KINDS, STAGES

__all__ = [
    "Universe",
    "load_universe",
    "require_universe",
    "UNIVERSE_COLUMNS",
    "LINK_COLUMNS",
    "LINK_KINDS",
    "MICS",
    "LINKS_FILE",
]

#: The China-link table's file name beside a universe file.
LINKS_FILE = "china_links.csv"

UNIVERSE_COLUMNS: tuple[str, ...] = (
    "ticker",
    "name",
    "issuer",
    "primary",
    "domicile",
    "hq",
    "exchange",
    "currency",
    "price_unit",
    "lot_size",
    "float_factor",
    *STAGES,
    "purity",
    "listed_since",
    "delisted",
    "activities",
    "source",
    "notes",
)
LINK_COLUMNS: tuple[str, ...] = ("ticker", "counterparty", "kind", "stake", "from", "to", "source", "notes")
#: Exchanges (ISO 10383 MIC) the package knows a trading calendar for.
MICS: frozenset[str] = frozenset(MIC_CALENDAR)
ACTIVITIES: frozenset[str] = frozenset(
    {"mining", "byproduct", "separation", "process_tech", "metals_alloys", "magnets", "recycling"}
)
#: Quote units that differ from the ISO currency: unit -> (currency, divisor).
PRICE_UNITS: dict[str, tuple[str, int]] = {"GBp": ("GBP", 100), "GBX": ("GBP", 100), "ZAc": ("ZAR", 100)}
_OPTIONAL = {"delisted", "notes"}


@dataclass(frozen=True)
class Universe:
    """The investable universe: one row per listing, plus the dated China-link table.

    Attributes
    ----------
    frame
        DataFrame indexed by ``ticker`` (sorted) with the columns of :data:`UNIVERSE_COLUMNS`;
        ``listed_since``/``delisted`` are Timestamps (``NaT`` when not delisted).
    links
        China links: ``ticker, counterparty, kind, stake, from, to, source, notes`` (``to`` is
        ``NaT`` while a link is in force).
    path, links_path
        Where the files came from (``links_path`` is None when no link file was read).
    notes
        What a report should say about how the universe was loaded (e.g. that it has no China
        links because ``allow_no_links`` was given).
    """

    frame: pd.DataFrame
    links: pd.DataFrame
    path: Path | None = None
    links_path: Path | None = None
    fingerprint: str = field(default="", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def tickers(self) -> list[str]:
        return list(self.frame.index)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        n_issuers = self.frame["issuer"].nunique()
        return (
            f"Universe({len(self.frame)} listings, {n_issuers} issuers, {len(self.links)} China links, "
            f"path={self.path})"
        )

    def links_in_force(self, as_of: str | pd.Timestamp) -> pd.DataFrame:
        """The China links in force at ``as_of`` (``from <= as_of`` and ``to`` empty or after it)."""
        t = parse_date(as_of, "as_of")
        lk = self.links
        mask = (lk["from"] <= t) & (lk["to"].isna() | (lk["to"] > t))
        return lk[mask]


def load_universe(
    path: str | os.PathLike[str] | None = None,
    links: str | os.PathLike[str] | None = None,
    *,
    allow_no_links: bool = False,
) -> Universe:
    """Load and validate the universe file and its China-link table.

    Parameters
    ----------
    path
        The universe CSV; ``None`` loads the bundled ``allied_supply_chain.csv``.
    links
        The China-link CSV; by default ``china_links.csv`` beside ``path``.
    allow_no_links
        Accept a missing or empty link table (no links: the control and stake screens exclude
        nobody; the result's ``notes`` say so). Without it that is an error, so that a forgotten
        file cannot silently switch the China screen off. A link file that is there is always
        read and validated.

    Raises
    ------
    UniverseError
        Naming the file, line and column of the first problem found; a missing or empty link
        table unless ``allow_no_links``; an explicit ``links`` file that does not exist.

    Examples
    --------
    >>> import exchina_index as xi
    >>> u = xi.load_universe()
    >>> u.frame.loc["LYC.AX", "issuer"]
    'lynas'
    """
    for name, value in (("path", path), ("links", links)):
        if value is not None and (not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip()):
            raise UniverseError(f"{name} must be a file path (str or Path) or None, got {short_repr(value)}")
    if not isinstance(allow_no_links, bool):
        raise UniverseError(f"allow_no_links must be True or False, got {allow_no_links!r}")
    upath = bundled_path("allied_supply_chain.csv") if path is None else Path(path)
    lpath = upath.with_name(LINKS_FILE) if links is None else Path(links)
    utext = _read(upath)
    frame = _parse_universe(upath, utext)
    found = links is not None or os.path.lexists(lpath)  # an explicit path that does not exist is an error
    ltext = _read(lpath) if found else ""
    has_rows = any(ln.strip() and not ln.lstrip().startswith("#") for ln in ltext.splitlines())
    link_frame = _parse_links(lpath, ltext, frame) if has_rows else _empty_links()
    notes: tuple[str, ...] = ()
    if link_frame.empty:
        what = f"{lpath} holds no China links" if found else f"no China-link table: {lpath} does not exist"
        if not allow_no_links:
            raise UniverseError(
                f"{what}. Without links the control and stake screens pass every listing: add the file "
                f"(header: {','.join(LINK_COLUMNS)}), give its path (links=, --links), or, if the universe "
                "really has no China links, say so with allow_no_links=True (--no-china-links)"
            )
        notes = (f"{what}: the China control and stake screens ran without links (allow_no_links)",)
    digest = hashlib.sha256(utext.encode() + b"\0" + ltext.encode()).hexdigest()
    return Universe(
        frame=frame, links=link_frame, path=upath, links_path=lpath if found else None, fingerprint=digest, notes=notes
    )


def require_universe(universe: Any) -> Universe:
    """``universe`` if it is a :class:`Universe`, else :class:`UniverseError` saying how to get one."""
    if not isinstance(universe, Universe):
        raise UniverseError(f"universe must be a Universe (from load_universe()), got {type(universe).__name__}")
    return universe


# --- parsing --------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    return read_utf8(path, lambda message, line: UniverseError(message, path=path, line=line))


def _rows(path: Path, text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """CSV rows as (physical line, {column: text}); ``#`` lines before the header are comments."""
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
    missing = [c for c in columns if c not in header and c not in _OPTIONAL]
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


class _Row:
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


def _is_country(code: str) -> bool:
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def _is_currency(code: str) -> bool:
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def _parse_universe(path: Path, text: str) -> pd.DataFrame:
    records: list[dict] = []
    seen: dict[str, int] = {}
    lines: dict[str, int] = {}
    for line, values in _rows(path, text, UNIVERSE_COLUMNS):
        r = _Row(path, line, values)
        ticker = r.text("ticker")
        if any(ch.isspace() or ch in ",;/" for ch in ticker):
            raise r.fail("ticker", f"'{ticker}' must be exactly one Yahoo symbol (no spaces, commas or slashes)")
        if ticker in seen:
            raise r.fail("ticker", f"duplicate ticker '{ticker}' (first on line {seen[ticker]}); one row per listing")
        seen[ticker] = line
        primary = r.text("primary").lower()
        if primary not in ("true", "false"):
            raise r.fail("primary", f"'{primary}' must be true or false")
        currency = r.code("currency", _is_currency, "an ISO 4217 currency code")
        unit = r.text("price_unit")
        if unit != currency and PRICE_UNITS.get(unit, ("", 0))[0] != currency:
            raise r.fail(
                "price_unit", f"'{unit}' does not match currency {currency} (use {currency} or a subunit such as GBp)"
            )
        exposures = {s: r.number(s, 0.0, 1.0) for s in STAGES}
        total = math.fsum(exposures.values())
        if abs(total - 1.0) > 1e-9:
            raise r.fail(STAGES[0], f"stage exposures {'+'.join(STAGES)} sum to {total:.12g}, not 1; fix the split")
        activities = r.text("activities")
        for act in activities.split(";"):
            if act.strip() not in ACTIVITIES:
                raise r.fail(
                    "activities", f"unknown activity or stage '{act}' (known: {', '.join(sorted(ACTIVITIES))})"
                )
        listed = r.date("listed_since")
        delisted = r.date("delisted", required=False)
        if delisted is not pd.NaT and delisted <= listed:
            raise r.fail("delisted", f"{delisted.date()} is not after listed_since {listed.date()}")
        lot = r.number("lot_size", 1, 1e6, default=1.0)
        if not float(lot).is_integer():
            raise r.fail("lot_size", f"{lot} is not a whole number of shares")
        records.append(
            {
                "ticker": ticker,
                "name": r.text("name"),
                "issuer": r.text("issuer"),
                "primary": primary == "true",
                "domicile": r.code("domicile", _is_country, "an ISO 3166-1 alpha-2 country code"),
                "hq": r.code("hq", _is_country, "an ISO 3166-1 alpha-2 country code"),
                "exchange": r.code("exchange", MICS.__contains__, f"a known exchange MIC ({', '.join(sorted(MICS))})"),
                "currency": currency,
                "price_unit": unit,
                "lot_size": int(lot),
                "float_factor": r.number("float_factor", 1e-6, 1.0, default=1.0),
                **exposures,
                "purity": r.number("purity", 0.0, 1.0),
                "listed_since": listed,
                "delisted": delisted,
                "activities": activities,
                "source": r.text("source"),
                "notes": r.text("notes", required=False),
            }
        )
        lines[ticker] = line
    if not records:
        raise UniverseError("no listings: add at least one row", path=path)
    frame = pd.DataFrame.from_records(records).set_index("ticker").sort_index()
    primaries = frame.groupby("issuer")["primary"].sum()
    for issuer, count in primaries.items():
        if count != 1:
            first = frame.index[frame["issuer"] == issuer][0]
            raise UniverseError(
                f"issuer '{issuer}' has {int(count)} primary listings; mark exactly one as primary",
                path=path,
                line=lines[first],
                column="primary",
            )
    frame["listed_since"] = pd.to_datetime(frame["listed_since"])
    frame["delisted"] = pd.to_datetime(frame["delisted"])
    return frame


def _empty_links() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": pd.Series(dtype=str),
            "counterparty": pd.Series(dtype=str),
            "kind": pd.Series(dtype=str),
            "stake": pd.Series(dtype=float),
            "from": pd.Series(dtype="datetime64[ns]"),
            "to": pd.Series(dtype="datetime64[ns]"),
            "source": pd.Series(dtype=str),
            "notes": pd.Series(dtype=str),
        }
    )


def _parse_links(path: Path, text: str, universe: pd.DataFrame) -> pd.DataFrame:
    records = []
    for line, values in _rows(path, text, LINK_COLUMNS):
        r = _Row(path, line, values)
        ticker = r.text("ticker")
        if ticker not in universe.index:
            raise r.fail("ticker", f"'{ticker}' is not in the universe file; add the listing or fix the symbol")
        kind = r.text("kind")
        if kind not in LINK_KINDS:
            raise r.fail("kind", f"unknown link kind '{kind}' (known: {', '.join(sorted(LINK_KINDS))})")
        stake = r.number("stake", 0.0, 1.0, default=float("nan"))
        start = r.date("from")
        end = r.date("to", required=False)
        if end is not pd.NaT and end <= start:
            raise r.fail("to", f"{end.date()} is not after from {start.date()}")
        records.append(
            {
                "ticker": ticker,
                "counterparty": r.text("counterparty"),
                "kind": kind,
                "stake": stake,
                "from": start,
                "to": end,
                "source": r.text("source"),
                "notes": r.text("notes", required=False),
            }
        )
    if not records:
        return _empty_links()
    links = pd.DataFrame.from_records(records)
    links["from"] = pd.to_datetime(links["from"])
    links["to"] = pd.to_datetime(links["to"])
    return links.sort_values(["ticker", "from", "kind", "counterparty"], kind="stable").reset_index(drop=True)
