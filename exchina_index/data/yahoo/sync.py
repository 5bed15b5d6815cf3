"""Prices and FX rates: bring each cached series up to the window a load asks for.

Only the missing part is downloaded (the tail or the head, with :data:`TAIL_OVERLAP_DAYS` of
overlap); overlapping rows are compared with the cache, a re-adjusted history is downloaded again
in full, and what came in is written before any error is raised. See "Cache policy" in
:mod:`exchina_index.data.yahoo`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.data.yahoo.client import WORKERS, Outcome, pending
from exchina_index.data.yahoo.parse import dedupe, empty_block, history_block
from exchina_index.data.yahoo.run import ONE_DAY, Run
from exchina_index.errors import NetworkError

__all__ = [
    "EMPTY_RETRIES",
    "HOLIDAY_TOLERANCE_BDAYS",
    "NEGATIVE_TTL",
    "OVERLAP_RTOL",
    "TAIL_OVERLAP_DAYS",
    "sync_series",
]

log = logging.getLogger(__package__)

#: Days of overlap when extending a cached series (see the module docstring).
TAIL_OVERLAP_DAYS = 7
#: A short tail (at most this many weekdays) may legitimately be empty (holidays).
HOLIDAY_TOLERANCE_BDAYS = 5
#: Relative tolerance when comparing overlapping closes with the cache.
OVERLAP_RTOL = 5e-3
#: How long a listing that came back empty is remembered (used with ``allow_missing=True`` only).
NEGATIVE_TTL = pd.Timedelta(hours=24)
#: Re-asks for listings that came back empty (yfinance turns per-ticker errors into empty blocks).
EMPTY_RETRIES = 1


@dataclass
class _Need:
    """One series to download: its window, the download window, and the cached rows it extends."""

    symbol: str
    start: pd.Timestamp  # the listing's window [start, end)
    end: pd.Timestamp
    fetch_start: pd.Timestamp  # the download window
    fetch_end: pd.Timestamp
    mode: str  # "full" | "extend"
    cached: pd.DataFrame | None = None


def _bdays(start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Weekdays in ``[start, end)``."""
    if end <= start:
        return 0
    return int(np.busday_count(start.date(), end.date()))


def _plan(
    run: Run, kind: str, windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]]
) -> tuple[dict[str, pd.DataFrame], list[_Need], dict[str, tuple[pd.Timestamp, pd.Timestamp]]]:
    """Cached frames that cover their window, what must be downloaded, and remembered failures."""
    ready: dict[str, pd.DataFrame] = {}
    needs: list[_Need] = []
    known_failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    overlap = pd.Timedelta(days=TAIL_OVERLAP_DAYS)
    for sym, (ts, te) in windows.items():
        lo, hi = min(run.start, ts), max(run.end, te)
        if run.cache is None:
            needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        entry = run.cache.entry(kind, sym)
        cached = run.cache.read(kind, sym) if entry is not None else None
        if entry is None or cached is None:
            needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        cs, ce = entry.start, entry.end
        head = ts < cs
        tail = te > ce
        if entry.extra.get("failed"):
            age = pd.Timestamp.now("UTC") - pd.Timestamp(entry.updated)
            gone = sym in run.delisted  # a delisted symbol does not come back: remembered for good
            if (gone or (run.allow_missing and age < NEGATIVE_TTL)) and not head and not tail:
                known_failed[sym] = (ts, te)
                if not gone:
                    run.note(f"{sym}: Yahoo returned no data at {entry.updated} (asked again after {NEGATIVE_TTL})")
            else:
                needs.append(_Need(sym, ts, te, lo, hi, "full"))
            continue
        if not head and not tail:
            ready[sym] = cached
        elif head and tail:
            needs.append(_Need(sym, ts, te, lo, hi, "full", cached))
        elif tail:
            needs.append(_Need(sym, ts, te, max(ce - overlap, lo), hi, "extend", cached))
        else:
            needs.append(_Need(sym, ts, te, lo, min(cs + overlap, hi), "extend", cached))
    return ready, needs, known_failed


def _download(
    run: Run, symbols: list[str], fs: pd.Timestamp, fe: pd.Timestamp, kind: str, columns: Mapping[str, str]
) -> tuple[dict[str, pd.DataFrame], dict[str, Outcome | None]]:
    """``Ticker(symbol).history`` for each symbol on the worker pool, under the deadline.

    Returns the blocks of the symbols that answered, and the others: symbol -> the failed
    :class:`Outcome` (it kept raising), or None (still pending when the deadline passed).
    """
    run.go_online()
    run.asked.update(f"{kind}/{sym}" for sym in symbols)

    def history(sym: str) -> Callable[[], Any]:
        def call() -> Any:
            return run.ticker(sym).history(
                start=fs.strftime("%Y-%m-%d"),
                end=fe.strftime("%Y-%m-%d"),
                interval="1d",
                auto_adjust=False,
                actions=True,
                timeout=run.request_timeout(),
            )

        label = f"{sym}: {'FX' if kind == 'fx' else 'price'} download"
        return lambda: run.retry(label, call)

    results = run.deadline.run_many({sym: history(sym) for sym in symbols}, WORKERS)
    blocks: dict[str, pd.DataFrame] = {}
    unanswered: dict[str, Outcome | None] = {}
    for sym in symbols:  # sorted: notes in a stable order whatever the threads did
        out = results.get(sym)
        if isinstance(out, BaseException):  # a bug in the task itself, not a Yahoo failure
            raise out
        if out is None or out.error is not None:
            unanswered[sym] = out
            continue
        for msg in out.notes:
            run.note(msg, logging.WARNING)
        blocks[sym] = history_block(out.value, columns)
    return blocks, unanswered


def _unanswered_error(run: Run, kind: str, unanswered: Mapping[str, Outcome | None]) -> NetworkError:
    """The error for symbols that kept failing, or were still pending at the deadline."""
    what = f"{'FX' if kind == 'fx' else 'price'} download"
    failed = {s: o for s, o in sorted(unanswered.items()) if o is not None}
    if not failed:
        return run.deadline.expired(pending(what, unanswered))
    first = next(iter(failed.values()))
    return NetworkError(
        f"{pending(what, failed)} failed after {first.attempts} attempt(s): "
        f"{type(first.error).__name__}: {first.error}; try again later, or use --source demo or a CSV folder"
    )


def sync_series(
    run: Run,
    kind: str,
    windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
    columns: Mapping[str, str],
) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[pd.Timestamp, pd.Timestamp]]]:
    """Bring every series of ``kind`` up to its window; return frames (raw quote units) and failures.

    ``kind`` is ``"prices"`` or ``"fx"``; ``windows`` maps each symbol to its ``[start, end)``;
    ``columns`` maps the ``Ticker.history`` columns kept to their cache names.
    """
    ready, needs, known_failed = _plan(run, kind, windows)
    run.progress.stage("FX rates" if kind == "fx" else "prices", len(windows))
    run.progress.advance(len(ready) + len(known_failed))
    failed: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    to_write: list[_CacheItem] = []
    refetch: list[_Need] = []
    for (fs, fe), group in _by_window(needs):
        results = _fetch_group(run, kind, group, fs, fe, columns, to_write)
        for need in group:
            if need.symbol not in results:
                continue
            result = results[need.symbol]
            if isinstance(result, tuple):
                _keep(run, kind, need, result, ready, to_write)
            elif result == "refetch":
                refetch.append(need)
            else:
                failed[need.symbol] = (max(need.start, fs), min(need.end, fe))
                if need.cached is not None:
                    ready[need.symbol] = need.cached
                else:  # remember the failure (used with allow_missing, for NEGATIVE_TTL)
                    to_write.append(
                        (
                            kind,
                            need.symbol,
                            empty_block(columns.values()),
                            need.start,
                            run.covered_end(need.end),
                            {"failed": True},
                        )
                    )
            run.progress.advance()
        _flush(run, kind, to_write, results.unanswered)

    # history re-adjusted by Yahoo: download those listings again over their whole window
    for need in refetch:
        _widen_to_cache(run, kind, need)
    for (fs, fe), group in _by_window(refetch):
        results = _fetch_group(run, kind, group, fs, fe, columns, to_write)
        for need in group:
            result = results.get(need.symbol)
            if isinstance(result, tuple):
                _keep(run, kind, need, result, ready, to_write)
            elif need.symbol in results:
                failed[need.symbol] = (need.start, need.end)
        _flush(run, kind, to_write, results.unanswered)

    if failed and len(failed) >= 2 and len(failed) == len(needs) and not any(len(ready.get(t, ())) for t in failed):
        # every symbol asked for came back empty: almost certainly the network, not the symbols
        raise NetworkError(
            f"Yahoo Finance returned no {'FX' if kind == 'fx' else 'price'} data for any of the "
            f"{len(failed)} symbols requested ({', '.join(sorted(failed))}); the network or Yahoo may be down "
            "(or rate limiting). Try again later, or use --source demo or a CSV folder"
        )
    failed.update(known_failed)
    return ready, failed


#: One series to write: (kind, symbol, frame, covered start, covered end, entry extra).
_CacheItem = tuple[str, str, pd.DataFrame, Any, Any, Mapping[str, Any] | None]


class _Results(dict[str, Any]):
    """The :func:`_absorb` result of every symbol of a group that answered, by symbol."""

    unanswered: dict[str, Outcome | None]


def _by_window(needs: list[_Need]) -> list[tuple[tuple[pd.Timestamp, pd.Timestamp], list[_Need]]]:
    """``needs`` grouped by download window (one request window per group), in window order."""
    groups: dict[tuple[pd.Timestamp, pd.Timestamp], list[_Need]] = {}
    for need in needs:
        groups.setdefault((need.fetch_start, need.fetch_end), []).append(need)
    return sorted(groups.items())


def _fetch_group(
    run: Run,
    kind: str,
    group: list[_Need],
    fs: pd.Timestamp,
    fe: pd.Timestamp,
    columns: Mapping[str, str],
    to_write: list[_CacheItem],
) -> _Results:
    """Download one group and absorb each answer; ``unanswered`` holds the symbols without one."""
    blocks, unanswered = _download_with_empty_retries(run, kind, group, fs, fe, columns)
    results = _Results()
    results.unanswered = unanswered
    for need in group:
        if need.symbol not in unanswered:
            results[need.symbol] = _absorb(run, kind, need, blocks[need.symbol], columns)
    return results


def _keep(
    run: Run,
    kind: str,
    need: _Need,
    result: tuple[pd.DataFrame, Any, Any],
    ready: dict[str, pd.DataFrame],
    to_write: list[_CacheItem],
) -> None:
    """A merged series: ready for the load, and queued for the cache when its coverage changed."""
    frame, cover, extra = result
    ready[need.symbol] = frame
    if cover is not None:
        to_write.append((kind, need.symbol, frame, cover[0], cover[1], extra))


def _widen_to_cache(run: Run, kind: str, need: _Need) -> None:
    """Make ``need`` a full download over its window and the whole cached window."""
    entry = run.cache.entry(kind, need.symbol) if run.cache is not None else None
    need.fetch_start = min(run.start, entry.start) if entry else run.start
    need.fetch_end = max(run.end, entry.end) if entry else run.end
    need.start = min(need.start, entry.start) if entry else need.start
    need.end = max(need.end, entry.end) if entry else need.end
    need.mode, need.cached = "full", None


def _flush(run: Run, kind: str, to_write: list[_CacheItem], unanswered: Mapping[str, Outcome | None]) -> None:
    """Save what came in, then raise for the symbols without an answer (a rerun continues from here)."""
    if run.cache is not None and to_write:
        run.cache.write_many(list(to_write))
    to_write.clear()
    if unanswered:
        raise _unanswered_error(run, kind, unanswered)


def _uncovered(
    run: Run, kind: str, need: _Need, fs: pd.Timestamp, fe: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of the download window that the cache did not cover, up to today (inclusive)."""
    lo, hi = max(need.start, fs), min(need.end, fe)
    entry = run.cache.entry(kind, need.symbol) if (need.mode == "extend" and run.cache is not None) else None
    if entry is not None and not entry.extra.get("failed"):
        if fe > entry.end:  # tail
            lo = max(lo, entry.end)
        else:  # head
            hi = min(hi, entry.start)
    return lo, min(hi, run.today + ONE_DAY)  # no session can exist after today


def _expected_sessions(run: Run, kind: str, symbol: str, lo: pd.Timestamp, hi: pd.Timestamp) -> int:
    """Sessions expected in ``[lo, hi)``: the listing's exchange calendar, else weekdays."""
    if hi <= lo:
        return 0
    mic = run.mics.get(symbol, "") if kind == "prices" else ""
    if mic:
        try:
            from exchina_index.rules.calendar import MIC_CALENDAR, sessions

            if mic in MIC_CALENDAR:
                return len(sessions(mic, lo, hi - ONE_DAY))
        except Exception as exc:  # noqa: BLE001 - fall back to weekdays
            log.debug("no calendar for %s (%s); counting weekdays", mic, exc)
    return _bdays(lo, hi)


def _is_empty_ok(run: Run, kind: str, need: _Need, fs: pd.Timestamp, fe: pd.Timestamp) -> str | None:
    """Why an empty answer is acceptable for ``need`` (None: it is a failure)."""
    n = _expected_sessions(run, kind, need.symbol, *_uncovered(run, kind, need, fs, fe))
    if n == 0:
        return "no session expected in the window"
    if need.cached is not None and len(need.cached) and n <= HOLIDAY_TOLERANCE_BDAYS:
        return "short window (holiday?)"
    return None


def _download_with_empty_retries(
    run: Run, kind: str, group: list[_Need], fs: pd.Timestamp, fe: pd.Timestamp, columns: Mapping[str, str]
) -> tuple[dict[str, pd.DataFrame], dict[str, Outcome | None]]:
    """Download a group; re-ask (with backoff) for symbols that came back empty where data is expected.

    yfinance turns a failed request (a timeout, an HTTP error, a truncated answer) into an empty
    frame without raising, so an empty block is asked again like an exception. Returns the
    blocks and the unanswered symbols (see :func:`_download`).
    """
    symbols = sorted(n.symbol for n in group)
    by_sym = {n.symbol: n for n in group}
    blocks, unanswered = _download(run, symbols, fs, fe, kind, columns)
    attempt = 0
    while not unanswered:
        empty = [t for t in symbols if blocks[t].empty and _is_empty_ok(run, kind, by_sym[t], fs, fe) is None]
        if not empty or attempt >= min(run.retries, EMPTY_RETRIES):
            break
        wait = run.backoff_s * (2**attempt)
        if not run.deadline.backoff(wait):
            return blocks, dict.fromkeys(empty)
        run.note(f"{kind}: Yahoo returned nothing for {', '.join(empty)}; asked again after {wait:g} s", logging.INFO)
        attempt += 1
        again, unanswered = _download(run, empty, fs, fe, kind, columns)
        blocks.update(again)
    return blocks, unanswered


def _absorb(run: Run, kind: str, need: _Need, block: pd.DataFrame, columns: Mapping[str, str]) -> Any:
    """Merge a downloaded block into the cached rows of ``need``.

    Returns ``"failed"``, ``"refetch"`` (history re-adjusted: download the whole window again) or
    ``(frame, cover, extra)``: the whole series (cached + new rows, not clipped to the request),
    its new covered window (None: leave the cache as it is) and the entry's ``extra``.
    """
    entry = run.cache.entry(kind, need.symbol) if run.cache is not None else None
    repairs: list[str] = list(entry.extra.get("repairs", [])) if (entry is not None and need.cached is not None) else []
    block = _trim(run, kind, need, block, repairs)
    if block.empty:
        return _absorb_empty(run, kind, need, entry, repairs, columns)
    if need.mode == "full" or need.cached is None or entry is None:
        return block, _new_cover(run, need, entry if need.cached is not None else None), _extra(repairs)
    return _extend(run, kind, need, block, entry, repairs)


def _trim(run: Run, kind: str, need: _Need, block: pd.DataFrame, repairs: list[str]) -> pd.DataFrame:
    """One row per date, inside the download window and (prices) the listing's life; repairs noted."""
    sym = need.symbol
    block, dup_note = dedupe(block, sym)
    if dup_note:
        run.note(dup_note, logging.WARNING)
        repairs.append(dup_note)
    if len(block):
        block = block.loc[(block.index >= need.fetch_start) & (block.index < need.fetch_end)]
    # listing life: SPAC shells and post-delisting rows
    if kind == "prices" and len(block):
        before = block.index < need.start
        after = block.index >= need.end
        if before.any():
            msg = (
                f"{sym}: dropped {int(before.sum())} row(s) before listed_since {need.start.date()} "
                f"({block.index[before][0].date()}..{block.index[before][-1].date()}; pre-listing/SPAC shell history)"
            )
            run.note(msg)
            repairs.append(msg)
        if after.any():
            msg = f"{sym}: dropped {int(after.sum())} row(s) on or after delisted {need.end.date()}"
            run.note(msg)
            repairs.append(msg)
        block = block.loc[~before & ~after]
    return block


def _absorb_empty(run: Run, kind: str, need: _Need, entry: Any, repairs: list[str], columns: Mapping[str, str]) -> Any:
    """An empty answer: ``"failed"``, or the cached rows when no session (or only a holiday) was expected."""
    fs, fe = need.fetch_start, need.fetch_end
    why = _is_empty_ok(run, kind, need, fs, fe)
    if why is None:
        return "failed"
    frame = empty_block(columns.values()) if need.cached is None else need.cached
    if why == "no session expected in the window":
        return frame, _new_cover(run, need, entry), _extra(repairs)
    run.note(
        f"{need.symbol}: no rows from Yahoo for {fs.date()}..{(fe - ONE_DAY).date()} ({why}); cached rows kept, "
        "will ask again"
    )
    return frame, None, None


def _extend(run: Run, kind: str, need: _Need, block: pd.DataFrame, entry: Any, repairs: list[str]) -> Any:
    """Add the new rows of ``block`` to the cached ones (immutable: those before the covered end)."""
    sym = need.symbol
    cached = need.cached
    assert cached is not None
    immutable = cached.loc[cached.index < entry.end]
    provisional = len(cached) - len(immutable)
    if _readjusted(run, sym, block, immutable):
        return "refetch"
    new_part = block.loc[(block.index >= entry.end) | (block.index < entry.start)]
    if new_part.empty:
        # Yahoo knows the listing (the overlap came back) but has no session in the uncovered part
        lo, hi = _uncovered(run, kind, need, need.fetch_start, need.fetch_end)
        if _expected_sessions(run, kind, sym, lo, hi) == 0:
            return cached, _new_cover(run, need, entry), _extra(repairs)
        run.note(
            f"{sym}: no new rows from Yahoo for {lo.date()}..{(hi - ONE_DAY).date()} (holiday, trading halt or "
            "delisting?); cached rows kept, will ask again",
            logging.WARNING,
        )
        return cached, None, None
    added = block.loc[~block.index.isin(immutable.index)]
    inside = added.index[(added.index >= entry.start) & (added.index < entry.end)]
    if len(inside):
        run.note(f"{sym}: added {len(inside)} session(s) inside the cached window that Yahoo did not return before")
    if provisional:
        log.debug("%s: replaced %d provisional row(s)", sym, provisional)
    merged = pd.concat([immutable, added]).sort_index()
    return merged, _new_cover(run, need, entry), _extra(repairs)


def _readjusted(run: Run, sym: str, block: pd.DataFrame, immutable: pd.DataFrame) -> bool:
    """Whether Yahoo re-adjusted the history: a changed close in the overlap, or a split after the cached rows."""
    common = block.index.intersection(immutable.index)
    if len(common):
        old = immutable.loc[common, "close"].to_numpy(dtype=float)
        new = block.loc[common, "close"].to_numpy(dtype=float)
        same = np.isclose(new, old, rtol=OVERLAP_RTOL, atol=0.0, equal_nan=True)
        if not same.all():
            bad = common[~same][0]
            run.note(
                f"{sym}: Yahoo's close on {bad.date()} changed from {immutable.loc[bad, 'close']:g} to "
                f"{block.loc[bad, 'close']:g} (history re-adjusted); refetching its whole cached window",
                logging.WARNING,
            )
            return True
    if "splits" in block.columns and len(immutable):
        newer = block.loc[block.index > immutable.index[-1], "splits"].fillna(0.0)
        if (newer != 0).any():
            when = newer.index[(newer != 0).to_numpy()][0]
            run.note(
                f"{sym}: stock split on {when.date()} after the cached rows; refetching its whole cached window",
                logging.WARNING,
            )
            return True
    return False


def _new_cover(run: Run, need: _Need, entry: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = need.start
    hi = run.covered_end(need.end)
    if entry is not None:
        lo = min(lo, entry.start)
        hi = max(hi, entry.end)
    return lo, max(hi, lo)


def _extra(repairs: list[str]) -> dict[str, Any]:
    return {"repairs": list(dict.fromkeys(repairs))} if repairs else {}
