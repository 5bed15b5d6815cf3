"""The corporate-action event file: splits, dividends, rights, spin-offs, mergers, suspensions, deletions.

``corporate_actions.csv`` (beside the universe file; see ``universe/README.md``) holds one event per
row, with the columns of :data:`CA_COLUMNS`:

=============  ===================================================================================
``ex_date``    the first session of the listing's exchange on which the event is in effect (ISO). The
               calculation applies it at the open of that session, after the previous close. For a
               terminal kind (:data:`TERMINAL_KINDS`) it is the first session on which the listing is
               no longer in the index: its last index close is the session before
``kind``       one of :data:`CA_KINDS`
``ticker``     a listing of the universe
``terms``      ``key=value`` pairs separated by ``;`` (see below); empty for a suspension or deletion
``source``     the evidence (``;``-separated URLs or source keys, as in the other universe files)
``notes``      free text (optional)
=============  ===================================================================================

Amounts are per share, in the currency of the listing's ``currency`` column, major unit (GBP, not
pence, for a pence-quoted ``.L`` line). A ratio is ``N:M`` (N new for M old, both > 0) or a decimal,
stored as the float N/M.

==================  ========================================================================
``split``           ``ratio`` (new shares per old), > 1
``consolidation``   ``ratio``, strictly between 0 and 1 (``1:10``)
``special_dividend`` ``amount`` > 0
``rights``          ``ratio`` (new shares per old held) > 0, ``price`` (subscription, per new share) > 0
``spin_off``        ``new`` (a universe ticker, not the parent, listed on or before ``ex_date``),
                    ``ratio`` (new shares per parent share) > 0
``cash_merger``     ``cash`` per share >= 0
``stock_merger``    ``acquirer`` (a universe ticker, not the target, listed at ``ex_date``), ``ratio``
                    (acquirer shares per target share) > 0, ``cash`` (optional, >= 0, default 0)
``suspension``      no terms: the listing is held at its last price
``deletion``        no terms: the listing leaves the index at its last price
==================  ========================================================================

Dates against the universe file: ``ex_date`` is a session of the listing's exchange, on or after its
``listed_since``. A listing's ``delisted`` is the day after its last session: on or after it only a
``suspension`` or a terminal event on the first session on or after ``delisted`` is allowed, and a
terminal event later than that only while a suspension of the listing holds it (from on or before
that session). After (or on the ex-date of) a terminal event a listing has no further event, and
one (ticker, kind, ex_date) appears once. Every problem raises
:class:`~exchina_index.errors.UniverseError` naming the file, line and column. A universe folder
without the file has no events.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from exchina_index.errors import UniverseError, short_repr
from exchina_index.rules.calendar import sessions
from exchina_index.universe.csv_table import Row, read_rows, read_text

__all__ = [
    "CA_COLUMNS",
    "CA_FILE",
    "CA_KINDS",
    "SPLIT_KINDS",
    "TERMINAL_KINDS",
    "CorporateAction",
    "actions_beside",
    "load_corporate_actions",
    "parse_corporate_actions",
]

#: The event file's name beside a universe file.
CA_FILE = "corporate_actions.csv"
CA_COLUMNS: tuple[str, ...] = ("ex_date", "kind", "ticker", "terms", "source", "notes")
CA_KINDS: tuple[str, ...] = (
    "split",
    "consolidation",
    "special_dividend",
    "rights",
    "spin_off",
    "cash_merger",
    "stock_merger",
    "suspension",
    "deletion",
)
#: Kinds after which the listing is no longer in the index.
TERMINAL_KINDS: frozenset[str] = frozenset({"cash_merger", "stock_merger", "deletion"})
#: kinds that change the number of shares by a ratio (prices in the market data are adjusted for them)
SPLIT_KINDS: frozenset[str] = frozenset({"split", "consolidation"})

#: kind -> (required keys, optional keys with their defaults), in the order :meth:`describe` prints.
_TERMS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "split": (("ratio",), {}),
    "consolidation": (("ratio",), {}),
    "special_dividend": (("amount",), {}),
    "rights": (("ratio", "price"), {}),
    "spin_off": (("new", "ratio"), {}),
    "cash_merger": (("cash",), {}),
    "stock_merger": (("acquirer", "ratio"), {"cash": 0.0}),
    "suspension": ((), {}),
    "deletion": ((), {}),
}
_TICKER_KEYS = frozenset({"new", "acquirer"})
#: key -> (lowest allowed, whether the lowest is allowed itself)
_FLOORS: dict[str, tuple[float, bool]] = {"ratio": (0.0, False), "price": (0.0, False), "amount": (0.0, False)}
_NEAR = pd.Timedelta(days=31)  # how far to look for the nearest sessions around a non-session


@dataclass(frozen=True)
class CorporateAction:
    """One event of the event file.

    Attributes
    ----------
    kind, ticker
        One of :data:`CA_KINDS`; a universe ticker.
    ex_date
        Tz-naive midnight Timestamp: the first session the event is in effect (see the module doc).
    terms
        The parsed ``key=value`` pairs, sorted by key: floats, except the tickers ``new`` and
        ``acquirer``; ratios as N/M; an omitted optional key with its default (``cash=0.0``).
    source, notes
        As in the file.
    line, path
        The physical line in the file (0: built in memory) and the file, for messages.
    """

    kind: str
    ticker: str
    ex_date: pd.Timestamp
    terms: tuple[tuple[str, float | str], ...]
    source: str
    notes: str = ""
    line: int = 0
    path: str = ""

    def term(self, key: str, default: Any = None) -> float | str | None:
        """The value of term ``key`` (``default`` when the event has no such term)."""
        return dict(self.terms).get(key, default)

    def describe(self) -> str:
        """One line: ``YYYY-MM-DD kind TICKER: key=value ... (source)``; the terms in their documented order."""
        required, optional = _TERMS.get(self.kind, ((), {}))
        order = [*required, *optional]
        keys = sorted(dict(self.terms), key=lambda k: (order.index(k) if k in order else len(order), k))
        values = dict(self.terms)
        text = " ".join(f"{k}={_show(values[k])}" for k in keys)
        return f"{self.ex_date:%Y-%m-%d} {self.kind} {self.ticker}:{' ' + text if text else ''} ({self.source})"


def _show(value: float | str) -> str:
    return value if isinstance(value, str) else format(value, ".12g")


def parse_corporate_actions(path: Path, text: str, frame: pd.DataFrame) -> tuple[CorporateAction, ...]:
    """The events in ``text`` (the contents of ``path``), checked against the universe ``frame``.

    Parameters
    ----------
    path
        The file, for messages.
    text
        Its contents (``#`` comment lines allowed at the top).
    frame
        ``Universe.frame``: indexed by ticker, with ``exchange``, ``listed_since`` and ``delisted``.

    Returns
    -------
    tuple of CorporateAction
        Sorted by (``ex_date``, line).

    Raises
    ------
    UniverseError
        Naming the file, physical line and column of the first problem (see the module doc).
    """
    events = [
        _parse_row(Row(path, line, values), frame)
        for line, values in read_rows(path, text, CA_COLUMNS, frozenset({"notes"}))
    ]
    events.sort(key=lambda e: (e.ex_date, e.line))
    _check_sequence(path, events, frame)
    return tuple(events)


def _parse_row(r: Row, frame: pd.DataFrame) -> CorporateAction:
    """One row, checked on its own and against the universe (not against the other rows)."""
    ex_date = r.date("ex_date")
    kind = r.text("kind")
    if kind not in CA_KINDS:
        raise r.fail("kind", f"unknown kind '{kind}' (known: {', '.join(CA_KINDS)})")
    ticker = r.text("ticker")
    if ticker not in frame.index:
        raise r.fail("ticker", f"'{ticker}' is not in the universe file; add the listing or fix the symbol")
    _check_session(r, "ex_date", ex_date, str(frame.at[ticker, "exchange"]), ticker)
    listed = frame.at[ticker, "listed_since"]
    if ex_date < listed:
        raise r.fail(
            "ex_date",
            f"{ex_date.date()} is before {ticker}'s listed_since {listed.date()}; fix the date or the listing",
        )
    terms = _parse_terms(r, kind, ticker, ex_date, frame)
    return CorporateAction(
        kind=kind,
        ticker=ticker,
        ex_date=ex_date,
        terms=tuple(sorted(terms.items())),
        source=r.text("source"),
        notes=r.text("notes", required=False),
        line=r.line,
        path=str(r.path),
    )


def _check_session(r: Row, column: str, day: pd.Timestamp, mic: str, ticker: str) -> None:
    """``day`` is a session of exchange ``mic``; else name the nearest sessions before and after."""
    if len(sessions(mic, day, day)):
        return
    before = sessions(mic, day - _NEAR, day - pd.Timedelta(days=1))
    after = sessions(mic, day + pd.Timedelta(days=1), day + _NEAR)
    near = [f"{s:%Y-%m-%d}" for s in (before[-1:].tolist() + after[:1].tolist())]
    raise r.fail(
        column,
        f"{day.date()} is not a session of {ticker}'s exchange {mic}; the nearest sessions are "
        f"{' and '.join(near) or 'none within a month'}: give the first session the event is in effect",
    )


def _parse_terms(r: Row, kind: str, ticker: str, ex_date: pd.Timestamp, frame: pd.DataFrame) -> dict[str, float | str]:
    """The ``terms`` cell as {key: value}, checked for ``kind``."""
    required, optional = _TERMS[kind]
    allowed = (*required, *optional)
    terms: dict[str, float | str] = {}
    for pair in (p.strip() for p in r.values.get("terms", "").split(";")):
        if not pair:
            continue
        key, eq, raw = (s.strip() for s in pair.partition("="))
        if not eq:
            raise r.fail("terms", f"'{pair}' is not a key=value pair; write e.g. {_example(kind)}")
        if key not in allowed:
            what = f"takes {', '.join(allowed)}" if allowed else "takes no terms"
            raise r.fail("terms", f"unknown term '{key}': {kind} {what} (e.g. {_example(kind)})")
        if key in terms:
            raise r.fail("terms", f"term '{key}' is given twice; give it once")
        terms[key] = _ticker_term(r, key, raw, ticker, ex_date, frame) if key in _TICKER_KEYS else _number(r, key, raw)
    missing = [k for k in required if k not in terms]
    if missing:
        raise r.fail("terms", f"{kind} needs the term(s) {', '.join(missing)} (e.g. {_example(kind)})")
    for key, default in optional.items():
        terms.setdefault(key, default)
    _check_ranges(r, kind, terms)
    return terms


def _example(kind: str) -> str:
    examples = {
        "split": "ratio=2:1",
        "consolidation": "ratio=1:10",
        "special_dividend": "amount=0.065",
        "rights": "ratio=1:4;price=0.25",
        "spin_off": "new=TICKER;ratio=1:10",
        "cash_merger": "cash=0.443",
        "stock_merger": "acquirer=TICKER;ratio=0.026;cash=0.065",
    }
    return examples.get(kind, "an empty terms cell")


def _number(r: Row, key: str, raw: str) -> float:
    """A finite float; for ``ratio`` also ``N:M`` (both > 0), read as N/M."""
    if key == "ratio" and ":" in raw:
        n, _, m = raw.partition(":")
        try:
            num, den = float(n), float(m)
        except ValueError:
            raise r.fail("terms", f"ratio '{raw}' is not N:M with two numbers (e.g. 2:1 or 1:10)") from None
        if not (math.isfinite(num) and math.isfinite(den) and num > 0 and den > 0):
            raise r.fail("terms", f"ratio '{raw}': N and M must be finite numbers > 0 (N new for M old)")
        return num / den
    try:
        value = float(raw)
    except ValueError:
        raise r.fail("terms", f"{key}='{raw}' is not a number") from None
    if not math.isfinite(value):
        raise r.fail("terms", f"{key}={raw} is not a finite number")
    return value


def _ticker_term(r: Row, key: str, raw: str, ticker: str, ex_date: pd.Timestamp, frame: pd.DataFrame) -> str:
    """``new`` or ``acquirer``: another universe listing, listed by ``ex_date`` (an acquirer: still listed)."""
    if raw not in frame.index:
        raise r.fail("terms", f"{key}='{raw}' is not in the universe file; add the listing or fix the symbol")
    if raw == ticker:
        raise r.fail("terms", f"{key}='{raw}' is the event's own ticker; name the other listing")
    listed, delisted = frame.at[raw, "listed_since"], frame.at[raw, "delisted"]
    if listed > ex_date:
        raise r.fail("terms", f"{key}='{raw}' is listed only from {listed.date()}, after the ex_date {ex_date.date()}")
    if key == "acquirer" and delisted is not pd.NaT and delisted <= ex_date:
        raise r.fail("terms", f"acquirer '{raw}' is delisted from {delisted.date()}, on or before the ex_date")
    return raw


def _check_ranges(r: Row, kind: str, terms: dict[str, float | str]) -> None:
    """The bounds of the terms table (module doc): ratios, prices and amounts > 0, cash >= 0."""
    for key, value in terms.items():
        if isinstance(value, str):
            continue
        floor, inclusive = _FLOORS.get(key, (0.0, True))
        if value < floor or (value == floor and not inclusive):
            relation = ">=" if inclusive else ">"
            raise r.fail("terms", f"{key}={_show(value)} must be {relation} {floor:g} for {kind}")
    ratio = terms.get("ratio")
    if kind == "split" and isinstance(ratio, float) and ratio <= 1:
        raise r.fail(
            "terms", f"a split's ratio must be > 1 (new shares per old), got {_show(ratio)}; 1:10 is a consolidation"
        )
    if kind == "consolidation" and isinstance(ratio, float) and ratio >= 1:
        raise r.fail("terms", f"a consolidation's ratio must be < 1 (e.g. 1:10), got {_show(ratio)}; 2:1 is a split")


def _check_sequence(path: Path, events: list[CorporateAction], frame: pd.DataFrame) -> None:
    """Across rows (``events`` sorted): no duplicate, nothing on or after a terminal event, the delisted rule."""
    seen: dict[tuple[str, str, pd.Timestamp], int] = {}
    terminal: dict[str, CorporateAction] = {}
    for e in events:
        if e.kind in TERMINAL_KINDS:
            terminal.setdefault(e.ticker, e)
    suspended: dict[str, pd.Timestamp] = {}  # ticker -> ex_date of its first suspension
    for e in events:
        key = (e.ticker, e.kind, e.ex_date)
        if key in seen:
            raise _fail(
                path, e, f"{e.kind} of {e.ticker} on {e.ex_date.date()} is already on line {seen[key]}; keep one"
            )
        seen[key] = e.line
        t = terminal.get(e.ticker)
        if t is not None and t is not e and e.ex_date >= t.ex_date:
            raise _fail(
                path,
                e,
                f"{e.ticker} leaves the index with the {t.kind} of {t.ex_date.date()} (line {t.line}); an event on "
                "or after it cannot apply: remove it, fold its cash into the terminal event's terms, or fix the dates",
            )
        _check_delisted(path, e, frame, suspended.get(e.ticker))
        if e.kind == "suspension":
            suspended.setdefault(e.ticker, e.ex_date)


def _fail(path: Path, e: CorporateAction, message: str, column: str = "ex_date") -> UniverseError:
    return UniverseError(message, path=path, line=e.line, column=column)


def _check_delisted(path: Path, e: CorporateAction, frame: pd.DataFrame, suspended_from: pd.Timestamp | None) -> None:
    """The ``delisted`` rule of the module doc for one event (``suspended_from``: the listing's suspension)."""
    delisted = frame.at[e.ticker, "delisted"]
    if delisted is pd.NaT or e.ex_date < delisted:
        return
    mic = str(frame.at[e.ticker, "exchange"])
    first = sessions(mic, delisted, delisted + _NEAR)[0]
    if e.kind not in TERMINAL_KINDS and e.kind != "suspension":
        raise _fail(
            path,
            e,
            f"{e.ticker} is delisted from {delisted.date()} (universe file) but this {e.kind} is on "
            f"{e.ex_date.date()}: an event of a listing must be in effect before it stops trading",
        )
    if e.ex_date == first or (e.kind in TERMINAL_KINDS and suspended_from is not None and suspended_from <= first):
        return
    later = "" if e.kind == "suspension" else ", or record a suspension from that session (held at its last price)"
    raise _fail(
        path,
        e,
        f"{e.ticker} is delisted from {delisted.date()} (universe file): its {e.kind} must be on the first "
        f"{mic} session after its last close, {first:%Y-%m-%d}{later}",
    )


def actions_beside(universe_path: Path, frame: pd.DataFrame) -> tuple[tuple[CorporateAction, ...], str]:
    """The events of :data:`CA_FILE` beside ``universe_path`` and the file's text (``((), "")`` without one)."""
    path = universe_path.with_name(CA_FILE)
    if not os.path.lexists(path):
        return (), ""
    text = read_text(path)
    return parse_corporate_actions(path, text, frame), text


def load_corporate_actions(path: str | os.PathLike[str], universe: Any) -> tuple[CorporateAction, ...]:
    """Load and validate a user's own event file against a loaded universe.

    Parameters
    ----------
    path
        The event CSV (columns :data:`CA_COLUMNS`).
    universe
        A :class:`~exchina_index.universe.loading.Universe` (from ``load_universe()``).

    Raises
    ------
    UniverseError
        A file that cannot be read, a universe that is not one, or the first problem found.

    Examples
    --------
    >>> from exchina_index.universe.loading import load_universe
    >>> u = load_universe()
    >>> [e.kind for e in load_corporate_actions(u.path.with_name(CA_FILE), u) if e.ticker == "PEK.AX"]
    ['suspension', 'cash_merger']
    """
    from exchina_index.universe.loading import require_universe  # loading imports this module

    if not isinstance(path, (str, os.PathLike)) or not str(os.fspath(path)).strip():
        raise UniverseError(f"path must be a file path (str or Path), got {short_repr(path)}")
    u = require_universe(universe)
    p = Path(path)
    return parse_corporate_actions(p, read_text(p), u.frame)
