"""The tagged universe and the dated China-link table: loading and validation.

Both files are CSV (UTF-8, with or without a byte-order mark) with optional ``#`` comment lines at
the top. Every problem raises :class:`~exchina_index.errors.UniverseError` naming the file, the
physical line and the column. See ``universe/README.md`` for the column definitions.

The China-link table is required: a missing or empty ``china_links.csv`` beside the universe is an
error, because without links the control and stake screens pass every listing. A universe that
really has no links says so with ``allow_no_links=True`` (the command line's ``--no-china-links``);
the loaded :class:`Universe` then carries a note saying the screens ran without links. The discretion log
and the event file beside the universe file are read when present (``Universe.decisions``, ``.corporate_actions``).
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pycountry

from exchina_index._resources import bundled_path
from exchina_index.dates import parse_date
from exchina_index.errors import UniverseError, short_repr
from exchina_index.rules.calendar import MIC_CALENDAR
from exchina_index.rules.checks import PRICE_UNITS, is_iso_currency
from exchina_index.rules.sections import LINK_ENDINGS, LINK_KINDS, SHAREHOLDING_KINDS, STAGES, STAKE_ENDINGS
from exchina_index.universe.corporate_actions import CA_FILE, CorporateAction, actions_beside
from exchina_index.universe.csv_table import Row, read_rows, read_text
from exchina_index.universe.discretion import DISCRETION_FILE, DiscretionLog, empty_log, parse_discretion_log
from exchina_index.universe.history import HISTORY_FILE, DatedFacts, empty_history, parse_history
from exchina_index.universe.identifiers import figi_problem, isin_problem

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
    "isin",
    "figi",
    "float_factor",
    *STAGES,
    "purity",
    "listed_since",
    "delisted",
    "activities",
    "verified",
    "unconfirmed",
    "source",
    "notes",
)
LINK_COLUMNS: tuple[str, ...] = ("ticker", "counterparty", "kind", "stake", "from", "to", "ended_by", "source", "notes")
#: Exchanges (ISO 10383 MIC) the package knows a trading calendar for.
MICS: frozenset[str] = frozenset(MIC_CALENDAR)
ACTIVITIES: frozenset[str] = frozenset(
    {"mining", "byproduct", "separation", "process_tech", "metals_alloys", "magnets", "recycling"}
)
_OPTIONAL = frozenset({"delisted", "notes", "isin", "figi", "verified", "unconfirmed"})
_LINK_OPTIONAL = frozenset({"notes", "ended_by"})


@dataclass(frozen=True)
class Universe:
    """The investable universe: one row per listing, plus the dated China-link table.

    Attributes
    ----------
    frame
        DataFrame indexed by ``ticker`` (sorted) with the columns of :data:`UNIVERSE_COLUMNS`;
        ``listed_since``/``delisted`` are Timestamps (``NaT`` when not delisted).
    links
        China links: the columns of :data:`LINK_COLUMNS` (``to`` is ``NaT`` while a link is in force) and
        ``until``, the end the screens use: ``to``, except for a shareholding whose end is not shown (no ``ended_by``
        of :data:`~exchina_index.rules.sections.STAKE_ENDINGS`), which the ownership rule keeps in force (``NaT``).
    history
        Dated float factors, purities, stage splits and share counts
        (:mod:`exchina_index.universe.history`); empty when there is no history table.
    path, links_path, history_path
        Where the files came from (None when that file was not read).
    notes
        What a report should say about how the universe was loaded (e.g. that it has no China
        links because ``allow_no_links`` was given).
    decisions, corporate_actions
        The discretion log (:mod:`exchina_index.universe.discretion`) and the events sorted by (ex_date, line)
        (:mod:`exchina_index.universe.corporate_actions`) of the files beside the universe file; empty without one.
    """

    frame: pd.DataFrame
    links: pd.DataFrame
    path: Path | None = None
    links_path: Path | None = None
    history: pd.DataFrame = field(default_factory=empty_history, compare=False)
    history_path: Path | None = None
    fingerprint: str = field(default="", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)
    decisions: DiscretionLog = field(default_factory=empty_log, compare=False)
    corporate_actions: tuple[CorporateAction, ...] = field(default=(), compare=False)

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
        """The China links in force at ``as_of`` (``from <= as_of`` and ``until`` empty or after it), as
        recorded, on the line each is written on (the screens apply each to every line of its issuer)."""
        t = parse_date(as_of, "as_of")
        lk = self.links
        end = link_ends(lk)
        mask = (lk["from"] <= t) & (end.isna() | (end > t))
        return lk[mask]

    def facts_at(self, as_of: str | pd.Timestamp) -> pd.DataFrame:
        """Float factor, purity, stage split and shares outstanding of every listing in force at
        ``as_of`` (see :mod:`exchina_index.universe.history`), indexed by ticker.

        Examples
        --------
        >>> import exchina_index as xi
        >>> u = xi.load_universe()
        >>> float(u.facts_at("2026-11-27").loc["LYC.AX", "purity"]) == float(u.frame.loc["LYC.AX", "purity"])
        True
        """
        return DatedFacts.build(self.frame, self.history).frame_at(parse_date(as_of, "as_of"))


def link_ends(links: pd.DataFrame) -> pd.Series:
    """The end of each link the screens use (``until``; ``to`` for a table built by hand without it)."""
    return links["until"] if "until" in links else links["to"]


def load_universe(
    path: str | os.PathLike[str] | None = None,
    links: str | os.PathLike[str] | None = None,
    *,
    allow_no_links: bool = False,
    history: str | os.PathLike[str] | None = None,
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
    history
        The dated reference table; by default ``reference_history.csv`` beside ``path``. Without
        one, the universe file's float factors, purities and stage splits hold for every date (the
        result's ``notes`` say so).

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
    for name, value in (("path", path), ("links", links), ("history", history)):
        if value is not None and (not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip()):
            raise UniverseError(f"{name} must be a file path (str or Path) or None, got {short_repr(value)}")
    if not isinstance(allow_no_links, bool):
        raise UniverseError(f"allow_no_links must be True or False, got {allow_no_links!r}")
    upath = bundled_path("allied_supply_chain.csv") if path is None else Path(path)
    lpath = upath.with_name(LINKS_FILE) if links is None else Path(links)
    utext = read_text(upath)
    frame = _parse_universe(upath, utext)
    found = links is not None or os.path.lexists(lpath)  # an explicit path that does not exist is an error
    ltext = read_text(lpath) if found else ""
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
    notes += _carried_stake_notes(lpath, link_frame)
    hpath = upath.with_name(HISTORY_FILE) if history is None else Path(history)
    has_history = history is not None or os.path.lexists(hpath)
    htext = read_text(hpath) if has_history else ""
    hist = parse_history(hpath, htext, frame, upath) if has_history else empty_history()
    if hist.empty:
        notes += (
            f"no dated reference history ({hpath.name}): the universe file's float factors, purities and "
            "stage splits apply to every date",
        )
    dpath = upath.with_name(DISCRETION_FILE)  # optional: without it, no discretionary decisions
    dtext = read_text(dpath) if os.path.lexists(dpath) else ""
    events, ctext = actions_beside(upath, frame)  # optional too: without it, no corporate actions
    texts = (utext, ltext, htext) + ((dtext,) if dtext else ()) + ((f"{CA_FILE}\0{ctext}",) if ctext else ())
    return Universe(
        frame=frame,
        links=link_frame,
        path=upath,
        links_path=lpath if found else None,
        history=hist,
        history_path=hpath if has_history else None,
        fingerprint=hashlib.sha256(b"\0".join(t.encode() for t in texts)).hexdigest(),
        notes=notes,
        decisions=parse_discretion_log(dpath, dtext, frame.index) if dtext else empty_log(),
        corporate_actions=events,
    )


def _carried_stake_notes(path: Path, links: pd.DataFrame) -> tuple[str, ...]:
    """One note per shareholding kept in force past its ``to`` by the ownership rule."""
    carried = links[links["to"].notna() & links["until"].isna()] if "until" in links else links.iloc[:0]
    return tuple(
        f"{path.name}: the {r.stake:.1%} stake of {r.counterparty} in {r.ticker} has to {r.to.date()} but "
        f"{'no ended_by' if not r.ended_by else repr(r.ended_by)} shows no sale, dilution or transfer: kept in "
        "force (ownership rule)"
        for r in carried.itertuples()
    )


def require_universe(universe: Any) -> Universe:
    """``universe`` if it is a :class:`Universe`, else :class:`UniverseError` saying how to get one."""
    if not isinstance(universe, Universe):
        raise UniverseError(f"universe must be a Universe (from load_universe()), got {type(universe).__name__}")
    return universe


# --- parsing --------------------------------------------------------------------------------------


def _is_country(code: str) -> bool:
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def _parse_universe(path: Path, text: str) -> pd.DataFrame:
    records: list[dict] = []
    seen: dict[str, int] = {}
    lines: dict[str, int] = {}
    for line, values in read_rows(path, text, UNIVERSE_COLUMNS, _OPTIONAL):
        r = Row(path, line, values)
        ticker = r.text("ticker")
        if any(ch.isspace() or ch in ",;/" for ch in ticker):
            raise r.fail("ticker", f"'{ticker}' must be exactly one Yahoo symbol (no spaces, commas or slashes)")
        if ticker in seen:
            raise r.fail("ticker", f"duplicate ticker '{ticker}' (first on line {seen[ticker]}); one row per listing")
        seen[ticker] = line
        primary = r.text("primary").lower()
        if primary not in ("true", "false"):
            raise r.fail("primary", f"'{primary}' must be true or false")
        currency = r.code("currency", is_iso_currency, "an ISO 4217 currency code")
        unit = r.text("price_unit")
        if unit != currency and PRICE_UNITS.get(unit, ("", 0))[0] != currency:
            raise r.fail(
                "price_unit", f"'{unit}' does not match currency {currency} (use {currency} or a subunit such as GBp)"
            )
        exposures = _exposures(r)
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
        isin, figi = _identifiers(r)
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
                "isin": isin,
                "figi": figi,
                "float_factor": r.number("float_factor", 1e-6, 1.0, default=1.0),
                **exposures,
                "purity": r.number("purity", 0.0, 1.0),
                "listed_since": listed,
                "delisted": delisted,
                "activities": activities,
                "verified": r.date("verified", required=False),
                "unconfirmed": r.text("unconfirmed", required=False),
                "source": r.text("source"),
                "notes": r.text("notes", required=False),
            }
        )
        lines[ticker] = line
    if not records:
        raise UniverseError("no listings: add at least one row", path=path)
    frame = pd.DataFrame.from_records(records).set_index("ticker").sort_index()
    _check_issuers(path, frame, lines)
    for col in ("listed_since", "delisted", "verified"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _exposures(r: Row) -> dict[str, float]:
    """The row's stage exposures, each in [0, 1], summing to 1."""
    exposures = {s: r.number(s, 0.0, 1.0) for s in STAGES}
    total = math.fsum(exposures.values())
    if abs(total - 1.0) > 1e-9:
        raise r.fail(STAGES[0], f"stage exposures {'+'.join(STAGES)} sum to {total:.12g}, not 1; fix the split")
    return exposures


def _identifiers(r: Row) -> tuple[str, str]:
    """The row's ISIN and FIGI ("" when not given), each checked with its check digit."""
    isin, figi = r.text("isin", required=False), r.text("figi", required=False)
    for col, code, problem in (("isin", isin, isin_problem), ("figi", figi, figi_problem)):
        why = problem(code) if code else None
        if why:
            raise r.fail(col, f"'{code}' is not a valid {col.upper()}: {why}")
    return isin, figi


def _check_issuers(path: Path, frame: pd.DataFrame, lines: dict[str, int]) -> None:
    """Each issuer has one primary line, its own ISINs, and one purity and stage split on all lines."""
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
    _check_isin_per_issuer(path, frame, lines)
    for col in ("purity", *STAGES):
        differs = frame.groupby("issuer")[col].transform("nunique") > 1
        if differs.any():
            ticker = frame.index[differs.to_numpy()][-1]
            raise UniverseError(
                f"{col} differs between the lines of issuer '{frame.at[ticker, 'issuer']}'; it is a fact of the "
                "issuer: give every line the same value",
                path=path,
                line=lines[ticker],
                column=col,
            )


def _check_isin_per_issuer(path: Path, frame: pd.DataFrame, lines: dict[str, int]) -> None:
    """One ISIN belongs to one issuer (an OTC line of ordinary shares may share its home line's ISIN)."""
    given = frame[frame["isin"] != ""]
    for isin, g in given.groupby("isin", sort=True):
        if g["issuer"].nunique() > 1:
            raise UniverseError(
                f"ISIN {isin} is given to listings of different issuers ({', '.join(g.index)}); fix the identifier",
                path=path,
                line=lines[g.index[-1]],
                column="isin",
            )


def _empty_links() -> pd.DataFrame:
    dtypes = {"stake": float, "from": "datetime64[ns]", "to": "datetime64[ns]", "until": "datetime64[ns]"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, str)) for c in (*LINK_COLUMNS, "until")})


def _parse_links(path: Path, text: str, universe: pd.DataFrame) -> pd.DataFrame:
    records = []
    for line, values in read_rows(path, text, LINK_COLUMNS, _LINK_OPTIONAL):
        r = Row(path, line, values)
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
        ended_by = r.text("ended_by", required=False)
        if ended_by and end is pd.NaT:
            raise r.fail("ended_by", f"'{ended_by}' but the link has no end date: fill in to, or clear ended_by")
        if ended_by and ended_by not in LINK_ENDINGS:
            raise r.fail("ended_by", f"unknown ending '{ended_by}' (known: {', '.join(sorted(LINK_ENDINGS))})")
        records.append(
            {
                "ticker": ticker,
                "counterparty": r.text("counterparty"),
                "kind": kind,
                "stake": stake,
                "from": start,
                "to": end,
                "ended_by": ended_by,
                "source": r.text("source"),
                "notes": r.text("notes", required=False),
                # the ownership rule: a shareholding stays in force until its end is shown
                "until": pd.NaT if kind in SHAREHOLDING_KINDS and ended_by not in STAKE_ENDINGS else end,
                "line": line,
            }
        )
    if not records:
        return _empty_links()
    links = pd.DataFrame.from_records(records)
    for col in ("from", "to", "until"):
        links[col] = pd.to_datetime(links[col])
    _check_superseded(path, links)
    _check_one_row_per_holder(path, links, universe)
    links = links.sort_values(["ticker", "from", "kind", "counterparty"], kind="stable").reset_index(drop=True)
    return links.drop(columns="line")


def _check_one_row_per_holder(path: Path, links: pd.DataFrame, universe: pd.DataFrame) -> None:
    """A holder's stake in an issuer is one row at any date, whichever line it is recorded on (a stake
    written on two lines of an issuer would count twice toward the threshold)."""
    stakes = links[links["kind"].isin(SHAREHOLDING_KINDS)].assign(
        issuer=lambda d: universe["issuer"].reindex(d["ticker"]).to_numpy()
    )
    for _, g in stakes.sort_values("from", kind="stable").groupby(["issuer", "counterparty", "kind"], sort=True):
        ends = g["to"].to_numpy(dtype="datetime64[ns]")
        ends[np.isnat(ends)] = np.datetime64("2262-01-01", "ns")  # an open row runs to the end of time
        starts, lines = g["from"].to_numpy(dtype="datetime64[ns]"), g["line"].to_numpy()
        for k in range(1, len(g)):
            if starts[k] < ends[:k].max():
                raise UniverseError(
                    f"this stake of {g['counterparty'].iloc[k]} overlaps the one on line {lines[k - 1]} (same issuer, "
                    "counterparty and kind): record a holder's stake once per issuer, ending the old row where a "
                    "new one starts",
                    path=path,
                    line=int(lines[k]),
                    column="from",
                )


def _check_superseded(path: Path, links: pd.DataFrame) -> None:
    """A link ended as ``superseded`` is followed by a row of the same ticker, counterparty and kind."""
    starts = set(zip(links["ticker"], links["counterparty"], links["kind"], links["from"]))
    for r in links[links["ended_by"] == "superseded"].itertuples():
        if (r.ticker, r.counterparty, r.kind, r.to) not in starts:
            raise UniverseError(
                f"ended_by superseded, but no row for {r.ticker}, {r.counterparty}, {r.kind} starts on "
                f"{r.to.date()}: add the new stake's row or give the real ending",
                path=path,
                line=int(r.line),
                column="ended_by",
            )
