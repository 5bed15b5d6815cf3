"""Share counts: ``get_shares_full`` per listing through the cache, ``fast_info`` as the fallback.

See "Share counts" in :mod:`exchina_index.data.yahoo` for what is asked and how a missing
history is handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from exchina_index.data.csv_source import BOUNDS
from exchina_index.data.yahoo.client import WORKERS, pending
from exchina_index.data.yahoo.parse import empty_series, shares_block
from exchina_index.data.yahoo.run import ONE_DAY, Listing, Run
from exchina_index.data.yahoo.sync import TAIL_OVERLAP_DAYS

__all__ = ["Shares", "sync_shares"]


@dataclass
class Shares:
    """Share-count observations of one listing and how they were obtained."""

    series: pd.Series  # float64 by date (may be empty)
    method: str  # "history" (get_shares_full) | "fast_info" (one count, used as a constant) | "none"
    reason: str = ""  # why the history is missing (for the note)


def sync_shares(run: Run, listings: Mapping[str, Listing]) -> dict[str, Shares]:
    """Bring the share counts of every listing up to its window (see :mod:`exchina_index.data.yahoo`)."""
    out: dict[str, Shares] = {}
    tasks: dict[str, Callable[[], Any]] = {}
    plans: dict[str, tuple[str, Any, pd.Series | None]] = {}
    overlap = pd.Timedelta(days=TAIL_OVERLAP_DAYS)
    run.progress.stage("share counts", len(listings))
    for sym, lst in listings.items():
        entry = run.cache.entry("shares", sym) if run.cache is not None else None
        frame = run.cache.read("shares", sym) if run.cache is not None and entry is not None else None
        if frame is None:
            entry = None
        cached = frame["shares"].astype("float64") if frame is not None else None
        method = str(entry.extra.get("method", "history")) if entry is not None else "none"
        reason = str(entry.extra.get("reason", "")) if entry is not None else ""
        if entry is not None and lst.shares_from >= entry.start and lst.end <= entry.end:
            out[sym] = Shares(cached, method, reason)
            run.progress.advance()
            continue
        if entry is not None and method == "history" and lst.shares_from >= entry.start:
            ws, mode = max(entry.end - overlap, lst.shares_from), "extend"
        else:  # nothing cached, or no history to extend: ask for the whole window again
            ws, mode = lst.shares_from, "full"
        plans[sym] = (mode, entry, cached)
        tasks[sym] = _shares_task(run, sym, ws, lst.end, fallback=(mode == "full"))
    results: dict[str, Any] = {}
    if tasks:
        run.go_online()
        run.asked.update(f"shares/{sym}" for sym in tasks)
        results = run.deadline.run_many(tasks, WORKERS)
    to_write: list[Any] = []
    for sym in sorted(results):
        out[sym] = _absorb_shares(run, listings[sym], results[sym], plans[sym], to_write)
        run.progress.advance()
    if run.cache is not None and to_write:
        run.cache.write_many(to_write)
    if len(results) < len(tasks):  # the deadline passed: what came in is saved above
        raise run.deadline.expired(pending("share counts", (k for k in tasks if k not in results)))
    return out


def _absorb_shares(
    run: Run, lst: Listing, value: Any, plan: tuple[str, Any, pd.Series | None], to_write: list[Any]
) -> Shares:
    """The counts of one listing from its task's answer; what changed is queued for the cache."""
    sym = lst.symbol
    mode, entry, cached = plan
    hi = run.covered_end(lst.end)
    if isinstance(value, BaseException):  # a bug in the task itself, not a Yahoo failure
        value = (None, "error", f"{type(value).__name__}: {value}", [])
    series, method, reason, retries = value
    for msg in retries:
        run.note(msg, logging.WARNING)
    if mode == "extend" and cached is not None and entry is not None:
        if method == "error":  # keep what we have; asked again next time
            run.note(f"{sym}: share-count update failed ({reason}); using the cached counts", logging.WARNING)
            return Shares(cached, "history")
        # Yahoo publishes counts sporadically: an empty answer just means nothing new
        add = series.loc[~series.index.isin(cached.index) & (series.index >= entry.end)]
        merged = pd.concat([cached.loc[cached.index < entry.end], add]).sort_index()
        merged.index.name = "date"
        to_write.append(
            (
                "shares",
                sym,
                merged.to_frame("shares"),
                min(entry.start, lst.shares_from),
                max(entry.end, hi),
                {"method": "history"},
            )
        )
        return Shares(merged, "history")
    if method == "error":
        method = "none"
    if series is None:
        series = empty_series()
    to_write.append(
        (
            "shares",
            sym,
            series.to_frame("shares"),
            lst.shares_from,
            hi,
            {"method": method, "reason": reason} if reason else {"method": method},
        )
    )
    return Shares(series, method, reason)


def _shares_task(run: Run, sym: str, ws: pd.Timestamp, we: pd.Timestamp, *, fallback: bool) -> Callable[[], Any]:
    """``get_shares_full`` (retried on rate limits), then ``fast_info['shares']`` if ``fallback``.

    The task returns ``(series or None, method, reason, retry notes)``; method is "history",
    "fast_info", "none" (no count at all) or "error" (an update failed; only when not ``fallback``).
    """

    def task() -> tuple[pd.Series | None, str, str, list[str]]:
        ticker = run.ticker(sym)
        got = run.retry(
            f"{sym}: share-count download",
            lambda: ticker.get_shares_full(start=ws.strftime("%Y-%m-%d"), end=we.strftime("%Y-%m-%d")),
            rate_limits_only=True,
        )
        err = got.error
        series, bad = shares_block(got.value if err is None else None)
        if bad:
            lo, hi = BOUNDS["shares"]
            got.notes.append(
                f"{sym}: dropped {bad} share count(s) from Yahoo that are missing or outside {lo:g} to {hi:g} shares"
            )
        if err is None and len(series):
            return series, "history", "", got.notes
        why = (
            f"get_shares_full failed ({type(err).__name__}: {err})"
            if err is not None
            else "get_shares_full gave no data"
        )
        if not fallback:
            return (None, "error", why, got.notes) if err is not None else (series, "history", "", got.notes)
        try:
            value = ticker.fast_info["shares"]
            value = float(value) if value is not None else float("nan")
        except Exception as exc:  # noqa: BLE001
            return None, "none", f"{why}; fast_info['shares'] failed ({type(exc).__name__}: {exc})", got.notes
        if not BOUNDS["shares"][0] <= value <= BOUNDS["shares"][1]:  # NaN, 0, negative or 1e30
            return None, "none", f"{why}; fast_info['shares'] gave {value!r}", got.notes
        when = min(run.today, we - ONE_DAY)
        return (
            pd.Series([value], index=pd.DatetimeIndex([when], name="date"), dtype="float64"),
            "fast_info",
            why,
            got.notes,
        )

    return task
