"""Corporate actions in index-share space: what each event does to the index shares, the reference
prices and the divisor at the open of its ex-date.

The events come from the universe's validated event file
(:mod:`exchina_index.universe.corporate_actions`). This module is pure numpy: it is used by the
daily calculation (:mod:`exchina_index.simulation.daily`), which applies the events to its index
shares, and through it by the backtest, which turns the same adjustments into engine inputs. A
historical simulation through a takeover or a split is therefore what the daily agent would have
published.

Conventions (after S&P DJI "Index Mathematics" and the MVIS index guide)
-----------------------------------------------------------------------
``n`` are the index shares held after the close ``t - 1``; ``ref`` the USD reference price of each
listing for the open of ``t`` (the close ``t - 1`` as traded, times the FX of ``t - 1``). An event
with ex-date ``t`` changes ``n`` and ``ref`` *before* the session ``t`` trades. The index market value
at the open is ``MV' = sum n' ref'`` and the divisor becomes ``D' = D * MV' / MV``, so the level
``MV' / D'`` equals the previous close: no event moves the index level. Amounts in the terms are
local (per share, major unit) and converted at the FX of ``t - 1``.

==================  ================================================================================
split, consolidation  ``n_i *= ratio``, ``ref_i /= ratio``; the divisor does not change
special_dividend    ``ref_i -= amount`` (a price adjustment: the PR index does not fall by the special,
                    which is in effect reinvested across the index, gross in all three levels: no
                    withholding on it); divisor down
rights              subscribed: ``n_i *= 1 + ratio``, ``ref_i = (ref_i + ratio * price) / (1 + ratio)``,
                    the theoretical ex-rights price (TERP); divisor up by the cash subscribed
spin_off            the new line enters with ``n_new += ratio * n_parent`` at a price of zero; the
                    parent's fall on the ex-date is offset by the new line's value, so the divisor
                    does not change. The new line stays until the next review, which decides.
cash_merger         the target leaves at its last close (``n_i = 0``); the proceeds are spread pro rata
                    by the divisor (the cash terms are recorded, not used)
stock_merger        ``n_acquirer += ratio * n_target``, ``n_target = 0`` (an acquirer not yet in the
                    index enters); the cash part and any difference between the target's last price
                    and the terms are absorbed by the divisor
suspension          held at its last local price (valued at each day's FX) until it trades again or a
                    later terminal event, or deleted at that price after ``max_sessions`` sessions
                    (rulebook)
deletion            ``n_i = 0`` at the last close, divisor adjusted
==================  ================================================================================

A held listing whose market data ends (no event) is deleted the same way at its last close, which
is the backtest engine's delisting rule (sold at the last close, proceeds reinvested pro rata).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exchina_index.errors import DataError
from exchina_index.universe.corporate_actions import SPLIT_KINDS, TERMINAL_KINDS

__all__ = ["Effect", "apply_event", "split_factors", "suspension_spans", "DATA_DELETION"]

#: The kind recorded for a held listing whose market data ends without an event.
DATA_DELETION = "deletion (end of data)"


@dataclass(frozen=True)
class Effect:
    """What one event did at the open of its ex-date: the notice file's row.

    ``shares_before``/``shares_after`` and ``price_before``/``price_after`` are the index shares and
    the USD reference prices of the listings it touched (by column), ``held`` whether the index held
    any of them (an event on a listing not held changes nothing).
    """

    row: int
    kind: str
    ticker: str
    detail: str
    held: bool
    columns: tuple[int, ...] = ()
    shares_before: tuple[float, ...] = ()
    shares_after: tuple[float, ...] = ()
    price_before: tuple[float, ...] = ()
    price_after: tuple[float, ...] = ()


def split_factors(events: list[tuple[int, int, Any]], T: int, N: int) -> np.ndarray:
    """(T, N) factors that turn split-adjusted prices and dividends into prices as traded.

    ``events`` are ``(row, column, event)``; for each split or consolidation of column ``i`` at row
    ``s``, rows before ``s`` are multiplied by its ratio (market data are adjusted backwards for
    every later split, as Yahoo Finance and the CSV convention have them).
    """
    factor = np.ones((T, N))
    for row, col, ev in events:
        if ev.kind in SPLIT_KINDS:
            factor[:row, col] *= float(ev.term("ratio"))
    return factor


def suspension_spans(events: list[tuple[int, int, Any]], T: int, max_sessions: int) -> list[tuple[int, int, int]]:
    """``(column, first row, last row held)`` of each suspension on ``T`` rows: from the suspension's
    ex-date to the session before a later terminal event of the listing, or ``max_sessions``
    sessions at most.

    Inside the span the listing is held at its last price even where the market data say it is no
    longer alive (a suspended line has no prices).
    """
    spans = []
    for row, col, ev in events:
        if ev.kind != "suspension":
            continue
        end = min(T - 1, row + max_sessions - 1)
        for r2, c2, e2 in events:
            if c2 == col and r2 > row and e2.kind in TERMINAL_KINDS:
                end = min(end, r2 - 1)
                break
        spans.append((col, row, end))
    return spans


def apply_event(
    ev: Any,
    row: int,
    col: int,
    n: np.ndarray,
    ref: np.ndarray,
    fx_prev: np.ndarray,
    column_of: dict[str, int],
    priced: tuple[np.ndarray, np.ndarray],
    parent_of: dict[int, int],
) -> Effect:
    """Apply event ``ev`` (ex-date row ``row``, listing column ``col``) to the index shares ``n`` and
    the USD reference prices ``ref`` in place, as the module docstring describes.

    ``priced = (at the close row - 1, at the close row)`` says which listings have a price then: an
    acquirer needs one at ``row - 1``, a spun-off line at ``row``; ``parent_of`` receives ``new
    column -> parent column`` of a spin-off (the engine folds the new line into its parent for its
    first day).

    Raises
    ------
    DataError
        A special dividend at or above the price, or a listing the event brings in without a price.
    """
    kind, ticker = ev.kind, ev.ticker
    held = bool(n[col] > 0.0)
    other = column_of.get(str(ev.term("acquirer") or ev.term("new") or ""), -1)
    cols = (col,) if other < 0 else (col, other)
    before = (tuple(float(n[c]) for c in cols), tuple(float(ref[c]) for c in cols))
    detail = _describe_terms(ev)
    if not held:
        return Effect(row, kind, ticker, detail, False, cols, before[0], before[0], before[1], before[1])
    if kind in SPLIT_KINDS:
        ratio = float(ev.term("ratio"))
        n[col] *= ratio
        ref[col] /= ratio
    elif kind == "special_dividend":
        cash = float(ev.term("amount")) * fx_prev[col]
        if not cash < ref[col]:
            raise DataError(
                f"{ev.ticker}: special dividend of {ev.term('amount')} on {ev.ex_date.date()} is not below the "
                f"previous close ({ref[col] / fx_prev[col]:.6g}); check the event's amount and currency"
            )
        ref[col] -= cash
    elif kind == "rights":
        ratio, price = float(ev.term("ratio")), float(ev.term("price")) * fx_prev[col]
        ref[col] = (ref[col] + ratio * price) / (1.0 + ratio)
        n[col] *= 1.0 + ratio
    elif kind == "spin_off":
        _require_priced(ev, other, priced[1], "spun-off line")
        if n[other] > 0.0:
            raise DataError(
                f"{ev.ticker}: the spun-off line {ev.term('new')} of {ev.ex_date.date()} is already a constituent; "
                "a spin-off brings in a new line: check the event's ticker"
            )
        n[other] += float(ev.term("ratio")) * n[col]
        ref[other] = 0.0
        parent_of[other] = col
    elif kind == "stock_merger":
        _require_priced(ev, other, priced[0], "acquirer")
        n[other] += float(ev.term("ratio")) * n[col]
        n[col] = 0.0
    elif kind in ("cash_merger", "deletion"):
        n[col] = 0.0
    after = (tuple(float(n[c]) for c in cols), tuple(float(ref[c]) for c in cols))
    return Effect(row, kind, ticker, detail, True, cols, before[0], after[0], before[1], after[1])


def _require_priced(ev: Any, col: int, priced: np.ndarray, what: str) -> None:
    if col < 0 or not priced[col]:
        name = ev.term("acquirer") or ev.term("new")
        raise DataError(
            f"{ev.ticker}: the {what} {name} of the {ev.kind} on {ev.ex_date.date()} has no price in the market "
            "data where the index needs one; give its price file or correct the event"
        )


def _describe_terms(ev: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in ev.terms) if ev.terms else ""
