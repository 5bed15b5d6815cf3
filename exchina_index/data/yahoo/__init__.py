"""Market data from Yahoo Finance (yfinance), through the local append-only cache.

:func:`load_yahoo` returns a :class:`~exchina_index.data.market.MarketData`; :func:`fetch` fills
the cache for the ``exchina-index data fetch`` command. yfinance is imported lazily, inside the
function, and can be replaced by any object with the same ``Ticker`` API (tests use
``tests/fixtures/fake_yfinance.py``, and the real yfinance against a local stand-in for Yahoo in
``tests/data/test_yahoo_http.py``). :func:`quiet_yfinance_logs` keeps yfinance's own log lines
off stderr.

What is fetched
---------------
* **Prices** -- ``yf.Ticker(symbol).history(start, end, interval="1d", auto_adjust=False,
  actions=True, timeout=...)`` for every listing whose cache does not cover the requested window,
  on up to :data:`WORKERS` daemon threads of our own (not ``yf.download``, whose ``threads=True``
  workers are not daemon threads: one stuck on a silent server keeps the interpreter alive after
  the deadline). From it: ``Close`` (Yahoo's close, split-adjusted, **not** dividend-adjusted;
  ``Adj Close`` is ignored), ``Dividends`` (cash per share on the ex-date), ``Volume`` and
  ``Stock Splits``, picked by name. yfinance puts daily bars at midnight in the exchange time
  zone; the time zone is dropped, so every row is on its exchange-local date.
* **FX** -- the same call for the Yahoo pairs of the currencies in use (see
  :data:`FX_PAIRS`): ``GBPUSD=X`` etc. quote USD per unit; ``JPY=X`` (and the other pairs marked
  inverted) quote units per USD and are inverted. ``MarketData.fx`` is USD per unit, USD = 1.0.
* **Share counts** -- ``yf.Ticker(t).get_shares_full(start, end)`` per listing (parallel, under
  the same deadline). yfinance attaches the exchange time zone to Yahoo's UTC timestamps
  without converting them, so a count is dated on its UTC date; several counts on one date keep
  the last. If that fails or is empty, ``Ticker(t).fast_info['shares']`` (today's count)
  is used as a **constant over the whole history** (a note says so: it carries today's share count
  into the past). If that fails too, the listing has no share count: its ``shares`` column is
  NaN, ``market_cap_usd`` is NaN and the size screen gives it ``NO_DATA``; a note says so.
  Counts are asked from ``SHARES_LOOKBACK_DAYS`` before ``start`` (or from ``listed_since``) so a
  count is known at ``start`` when Yahoo has one; earlier dates stay NaN (never back-filled).
  ``MarketData.shares`` receives the observations on their own dates; ``MarketData`` carries
  each count forward. A fallback or a missing count is cached like a history (no new call for
  the same window); it is asked again, from the start of the window, when the window grows.

Units and repairs (each one logged and added to ``MarketData.notes``; nothing is filled with zeros)
------------------------------------------------------------------------------------------------
* ``price_unit`` GBp/GBX/ZAc (quoted in pence/cents): ``Close`` **and** ``Dividends`` are divided
  by 100. Yahoo quotes ``.L`` dividends in the same unit as the price (pence; yfinance's own
  dividend repair assumes the same and looks for occasional 100x mix-ups). A dividend above 50 %
  of the close, or (minor-unit lines) below 0.05 % of it, is flagged as a possible unit mix-up
  (kept as is, noted); ``repair=True`` is not used (it costs extra requests).
* Sessions a listing did not trade (other exchanges' dates in the combined frame, halts) stay NaN.
* ``Stock Splits`` becomes ``MarketData.splits`` as Yahoo gives it (new shares per old on the
  ex-date; 0 or NaN = none; never divided by the quote unit). ``Close`` and ``Dividends`` are
  already split-adjusted. A ratio outside ``BOUNDS["splits"]`` (negative, infinite, above 1e6) or a
  split on a date without a close is ignored (noted).
* A duplicated date keeps Yahoo's last row; zero or negative closes and FX rates become NaN;
  negative volumes become NaN; negative dividends become 0 (no dividend). Values outside the
  plausible ranges of the CSV source (:data:`~exchina_index.data.csv_source.BOUNDS` and
  ``FX_BOUNDS``: a close of 1e300 or 1e-300, an infinite dividend, a volume of 9e18, an FX rate
  of 1e9) are dropped the same way (closes, volumes and rates NaN, dividends 0). Share counts
  that are missing or outside 1 to 1e15 are dropped, from ``fast_info`` too. A column given
  twice keeps the last one. A close column that is all NaN (dividends only) is an empty answer.
* Rows before ``listed_since`` (SPAC shells: MP before 2020-11, USAR before 2025-03, ...) and
  on or after ``delisted`` (the first date it no longer trades) are dropped.
* A listing delisted inside the window (the universe's ``delisted``) that comes back empty is
  expected: Yahoo drops delisted symbols. It gets no prices, a note names the survivorship gap of
  this source, and the empty answer is remembered for good (not asked again).
* Any other listing whose download comes back empty or all-NaN raises :class:`DataError` naming exactly
  those tickers, unless ``allow_missing=True`` (they are dropped, with a note; a listing with
  cached rows keeps them). If *every* symbol asked for (two or more) comes back empty,
  :class:`NetworkError` is raised instead. A listing that came back empty is remembered in the
  cache for ``NEGATIVE_TTL`` (24 h): with ``allow_missing=True`` it is not asked again before
  then (so a second run makes no call); without it, it is always asked again.
* Every listing of the universe gets a column; listings without data are all-NaN.

Cache policy (append-only; files and layout in :mod:`exchina_index.data.cache`)
-----------------------------------------------------------------------------
Each series records the window ``[start, end)`` it covers. A load inside that window makes no
network call. Otherwise only the missing part is fetched: the **tail** from
``covered_end - TAIL_OVERLAP_DAYS`` (a one-week overlap, so at least one cached session of every
exchange is fetched again), or the head up to ``covered_start + TAIL_OVERLAP_DAYS``. Overlapping
rows are compared with the cache, not rewritten. Existing rows are never rewritten, except:

1. *provisional rows*: sessions dated today (UTC) or later may be unfinished, so the covered
   window never extends past today; rows on or after the covered end are replaced by the next
   fetch. (Consequence: a range that *explicitly* includes today is refetched on every run;
   the default ``end`` stops before today, see below.)
2. *re-adjusted history*: if the overlap shows a different close (more than 0.5 %), or the new
   rows contain a stock split, Yahoo has re-adjusted the whole history; that listing is
   downloaded again over its full cached window and its file is replaced (noted).

An empty answer is accepted when no session was expected in the uncovered part of the window
(the listing's exchange calendar from :mod:`exchina_index.rules.calendar`; weekdays for FX and unknown
MICs; nothing after today). An answer with no new row for a listing that has cached rows (a
holiday, a trading halt, a delisting not yet in the universe) keeps the cached rows, does not
advance the covered window (asked again next time) and is noted; it is not an error.

Offline reruns
--------------
``end=None`` (what the command line passes unless told otherwise) means **the last complete
day: yesterday, UTC**. Today's session may be unfinished, and today is never covered (rule 1),
so a default range never asks for it: a cache filled today -- by ``data fetch`` (any ``end``) or
by any earlier run -- covers the default range of every run later today, which then makes no
network call at all (no pre-flight either; it works without a network). To include today's
unfinished session, pass ``end`` explicitly (it is then asked again on every run). The first
note of every load says in one line what was served from the cache and up to which date, e.g.
``yahoo: all 133 series served from the cache, no network call; prices to 2026-11-30 (asked up
to 2026-11-30, the last complete UTC day)``.

Network behaviour
-----------------
* A pre-flight TCP connection to ``query1.finance.yahoo.com:443`` (or the HTTPS proxy) with a 3 s
  timeout runs before the first network call, so a dead network fails in seconds with
  :class:`NetworkError`. It is skipped when nothing needs fetching; ``preflight=False`` (or a
  callable) replaces it.
* Every call runs in a daemon worker thread (up to :data:`WORKERS` at once); the whole load has
  one wall-clock ``deadline_s``. When it passes, :class:`NetworkError` names what was still
  pending, no further call is started, and the workers are abandoned: being daemon threads they
  never keep the process alive, and they never write to the cache (only the calling thread does).
  So against a server that accepts connections and never answers, the load fails within the
  deadline and the process can exit at once.
* yfinance gets a per-request ``timeout`` of :data:`REQUEST_TIMEOUT_S` (30 s: a ten-year daily
  history is a few hundred kB), never more than what is left of the deadline, so an abandoned
  price request ends soon after the deadline. yfinance's cookie/crumb (30 s), time-zone (10 s)
  and share-count (30 s) requests have fixed timeouts that no argument reaches: the deadline is
  what bounds them.
* Exceptions from yfinance (including ``YFRateLimitError`` from ``yfinance.exceptions``, matched
  by class name so a stand-in module works) are retried ``retries`` times with exponential
  backoff (``backoff_s`` x 1, 2, 4 ...; rate limits 4x longer), within the deadline. yfinance
  turns other failed requests (a timeout, HTTP 500, a truncated answer) into an empty frame
  without raising, so tickers that came back empty are asked again once (``EMPTY_RETRIES``) after
  a backoff. (yfinance memoises in-process the answers for ranges ending over 30 minutes ago, a
  failed one included, so that second ask only helps for ranges that reach the present; the next
  run asks again.)
* Series that came in are written to the cache even when the load then fails for other symbols
  or at the deadline, so a rerun continues where the last one stopped.

Modules
-------
:mod:`.loader` (:func:`load_yahoo`, :func:`fetch`), :mod:`.run` (listings and the state of one
load), :mod:`.sync` (prices and FX through the cache), :mod:`.shares` (share counts),
:mod:`.assembly` (units, repairs, the MarketData), :mod:`.parse` (yfinance frames, FX pairs,
price units) and :mod:`.client` (deadline, threads, retries, pre-flight, yfinance logging).
"""

from __future__ import annotations

from exchina_index.data.yahoo.client import WORKERS, YAHOO_HOST, preflight_check, quiet_yfinance_logs
from exchina_index.data.yahoo.loader import DEFAULT_START, fetch, load_yahoo
from exchina_index.data.yahoo.parse import FX_PAIRS, fx_pair
from exchina_index.data.yahoo.sync import TAIL_OVERLAP_DAYS

__all__ = [
    "DEFAULT_START",
    "FX_PAIRS",
    "TAIL_OVERLAP_DAYS",
    "WORKERS",
    "YAHOO_HOST",
    "fetch",
    "fx_pair",
    "load_yahoo",
    "preflight_check",
    "quiet_yfinance_logs",
]
