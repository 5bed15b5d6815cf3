"""The embedded SYNTHETIC demo market: offline, deterministic, labelled everywhere it shows up.

:func:`load_demo` generates a market for any universe (the bundled one by default) from
2015-01-01 to 2026-09-30 with :func:`generate_market`. Nothing here is a real price: the numbers
only have a realistic *shape* so that screens, caps and backtests have something to bite on.

How it is generated (all from seeded ``numpy.random.Generator`` streams; seeds come from
``zlib.crc32`` of the ticker or issuer name, never Python's salted ``hash``, so two processes give
the same bytes with the same numpy version):

* **Calendars**: every listing trades only on its own exchange's sessions
  (:func:`exchina_index.rules.calendar.sessions`, bundled table: no ``exchange_calendars`` start-up cost
  inside it; weekdays, with a note, where an exchange's holidays are not known),
  from ``listed_since`` (or the start) to the day before ``delisted`` (or the end).
* **Returns**: daily log returns on the union of all sessions = beta x a common rare-earth factor
  (Student-t, 4 degrees of freedom, 35 %/yr, plus an illustrative boom/bust drift path) + the
  issuer's stage exposures x three stage factors (12 %/yr each) + an issuer-specific Student-t
  shock that mean-reverts in level (half-life 1.5 years, so a name's size stays in a realistic
  band over the 12 years), so fat tails and co-movement are built in. Beta rises with ``purity``; total volatility
  falls with size (about 25 %/yr for $30B+ names, 80 %/yr for micro-caps). A listing's return over
  a holiday on its exchange is the sum of the union-day moves it missed. All lines of one issuer
  share one path (an ADR also moves with the FX rate between its currency and the home line's).
* **Size**: an issuer's market cap at its last session is taken from :data:`ROUGH_CAP_USD`
  (rough orders of magnitude for well-known names, *not* market data) or drawn log-uniformly
  from a range that depends on the exchange (see :data:`CAP_RANGE_USD`). Earlier caps follow the
  price path and the share count.
* **Liquidity**: daily traded value = turnover x market cap x a lognormal shock. Turnover is
  0.45-0.65 %/day for $10B+ caps, 0.25-0.5 % for $1-10B caps and 0.1-0.6 % for small and micro-caps;
  secondary lines (OTC ADRs, second listings) trade a fraction of that. Micro-caps also have
  sessions with zero volume (and an unchanged close). So Shin-Etsu/TDK get ADTVs above $100M,
  Lynas/MP tens of $M, and micro-caps below $1M (several below $250k).
* **Shares**: issuance steps (Poisson; juniors about 0.6 a year of 3-25 % each, large caps buy back a little).
* **Dividends**: larger, diversified issuers pay 1-4 % a year, quarterly (US/Canada), twice a year
  (Japan, Australia, Europe, UK) or yearly (China/HK); the price drops by the dividend on the ex-date.
* **FX**: USD per unit for every non-USD currency of the universe: a trend (in logs) from a
  plausible early-2015 level to a plausible 2026 level plus a mean-reverting deviation with the
  currency's usual daily volatility (HKD stays near its peg).

The result has ``synthetic=True`` and ``source="demo"``; reports must print :data:`DEMO_LABEL`.
Generating it for the bundled universe (63 listings, 3056 dates) takes about 0.25 s of CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from exchina_index._text import SYNTHETIC_TAG
from exchina_index.data.demo_universe import synthetic_universe
from exchina_index.data.market import MarketData
from exchina_index.data.seeds import stable_seed
from exchina_index.errors import DataError
from exchina_index.rules.calendar import calendar_of, sessions

__all__ = [
    "DEMO_LABEL", "DEMO_START", "DEMO_END", "ROUGH_CAP_USD", "CAP_RANGE_USD",
    "load_demo", "generate_market", "synthetic_universe",
]

#: Printed on every report and tearsheet made from the demo market.
DEMO_LABEL = f"{SYNTHETIC_TAG} — not real market prices"
DEMO_START = pd.Timestamp("2015-01-01")
DEMO_END = pd.Timestamp("2026-09-30")

#: Rough market caps (USD) at the end of the demo for well-known issuers' primary lines. Orders of
#: magnitude only (about 2025-26), used to give the synthetic market a realistic spread of sizes.
ROUGH_CAP_USD: dict[str, float] = {
    "4063.T": 6e10, "6762.T": 3e10, "4004.T": 5e9, "5471.T": 2e9, "SOLB.BR": 3.5e9,
    "MP": 8e9, "LYC.AX": 8e9, "ILU.AX": 1.8e9, "UUUU": 3e9, "TROX": 1e9, "CODI": 5e8,
    "METC": 1e9, "USAR": 1.5e9, "CRML": 1e9, "NB": 5e8, "AREC": 1.5e8, "ALOY": 3e8,
    "ARU.AX": 4e8, "NEO.TO": 5e8, "BRE.AX": 3e8, "ASM.AX": 2e8, "MEI.AX": 2e8, "HAS.AX": 8e7,
    "NTU.AX": 1e8, "ETM.AX": 1e8, "ARR.AX": 1.2e8, "IXR.AX": 8e7, "UCU.V": 2e8, "ARA.TO": 1.5e8,
    "PRE.L": 1.5e8, "RBW.L": 8e7, "MKA.V": 5e7, "REEMF": 1e8, "TMRC": 5e7, "PEK.AX": 1e8,
    "600111.SS": 1.5e10, "600392.SS": 4e9, "000831.SZ": 5e9, "600549.SS": 4e9, "300748.SZ": 3e9,
    "000970.SZ": 2.5e9, "600366.SS": 1e9,
}

#: Range (USD) of the end-of-demo market cap drawn for other issuers, by the primary line's exchange.
CAP_RANGE_USD: dict[str, tuple[float, float]] = {
    "XTKS": (1e9, 3e10), "XBRU": (1e9, 2e10), "XAMS": (1e9, 2e10), "XPAR": (1e9, 2e10),
    "XETR": (1e9, 2e10), "XSTO": (5e8, 1e10), "XOSL": (5e8, 1e10), "XHEL": (5e8, 1e10),
    "XKRX": (5e8, 1e10), "XNYS": (1e8, 5e9), "XNAS": (5e7, 3e9), "XASE": (5e7, 1e9),
    "OTCM": (1e7, 2e8), "XASX": (1e7, 6e8), "XTSE": (5e7, 2e9), "XTSX": (5e6, 2e8),
    "XCNQ": (3e6, 5e7), "XLON": (1e7, 3e8), "XSHG": (1e9, 2e10), "XSHE": (1e9, 2e10),
    "XHKG": (5e8, 1e10),
}

# (USD per unit early 2015, USD per unit 2026, annual volatility of the log rate)
_FX_PATHS: dict[str, tuple[float, float, float]] = {
    "AUD": (0.82, 0.66, 0.10), "CAD": (0.86, 0.72, 0.07), "GBP": (1.55, 1.32, 0.08),
    "JPY": (0.0084, 0.0067, 0.09), "EUR": (1.20, 1.15, 0.07), "CNY": (0.161, 0.140, 0.03),
    "HKD": (0.1290, 0.1282, 0.003), "SEK": (0.128, 0.105, 0.09), "NOK": (0.134, 0.098, 0.10),
    "KRW": (0.00091, 0.00072, 0.08), "CHF": (1.00, 1.25, 0.07), "ZAR": (0.086, 0.056, 0.14),
    "NZD": (0.78, 0.60, 0.10), "DKK": (0.161, 0.154, 0.07), "INR": (0.0158, 0.0114, 0.05),
    "SGD": (0.75, 0.77, 0.05),
}

# Illustrative drift of the common rare-earth factor (total log move over each period). A made-up
# boom/bust shape, not a history.
_RE_REGIMES: tuple[tuple[str, str, float], ...] = (
    ("2015-01-01", "2016-01-31", -0.40), ("2016-02-01", "2017-08-31", 0.60),
    ("2017-09-01", "2019-04-30", -0.45), ("2019-05-01", "2019-06-30", 0.35),
    ("2019-07-01", "2020-03-20", -0.45), ("2020-03-23", "2022-04-30", 1.20),
    ("2022-05-01", "2024-06-30", -0.90), ("2024-07-01", "2025-10-15", 1.10),
    ("2025-10-16", "2026-09-30", -0.25),
)

_DIV_FREQ = {"XNYS": 4, "XNAS": 4, "XASE": 4, "OTCM": 4, "XTSE": 4, "XTSX": 4, "XCNQ": 4,
             "XSHG": 1, "XSHE": 1, "XHKG": 1}
_STEPS_PER_YEAR = 261.0
_CHUNK = 256  # listings generated at once
_T_DF = 4.0
_IDIO_HALF_LIFE_YEARS = 1.5
_T_SCALE = math.sqrt((_T_DF - 2.0) / _T_DF)  # unit-variance Student-t
_DT = 1.0 / _STEPS_PER_YEAR
_PHI = math.exp(-math.log(2.0) / (_IDIO_HALF_LIFE_YEARS * _STEPS_PER_YEAR))  # daily mean reversion of the shocks


def load_demo(universe: Any = None, start: Any = None, end: Any = None) -> MarketData:
    """The synthetic demo market for ``universe`` (default: the bundled universe).

    The market is always generated for the full demo range (:data:`DEMO_START` to :data:`DEMO_END`,
    seed 0) and then cut to ``[start, end]``, so a date's data never depends on the range asked for.

    Raises
    ------
    DataError
        ``start``/``end`` outside the demo range, or a currency the demo has no FX path for.

    Examples
    --------
    >>> import exchina_index as xi
    >>> m = load_demo(xi.load_universe())
    >>> m.synthetic, m.source
    (True, 'demo')
    """
    if universe is None:
        from exchina_index.universe.loading import load_universe

        universe = load_universe()
    frame = universe.frame if hasattr(universe, "frame") else universe
    lo = DEMO_START if start is None else pd.Timestamp(start)
    hi = DEMO_END if end is None else pd.Timestamp(end)
    if lo < DEMO_START or hi > DEMO_END or hi < lo:
        raise DataError(
            f"the demo market covers {DEMO_START.date()} to {DEMO_END.date()}; asked for "
            f"{lo.date()} to {hi.date()}: choose dates inside that range (or use source='yahoo' or a CSV folder)"
        )
    market = generate_market(frame, DEMO_START, DEMO_END, seed=0, source="demo")
    if start is None and end is None:
        return market
    return market.truncate(hi, start=None if start is None else lo)


def generate_market(
    frame: pd.DataFrame, start: Any, end: Any, seed: int = 0, *, source: str = "synthetic"
) -> MarketData:
    """Generate a synthetic market for a universe frame (see the module docstring for the model).

    Parameters
    ----------
    frame
        A universe frame (index ``ticker``; columns ``issuer, primary, exchange, currency,
        mining, refining, manufacturing, purity, listed_since, delisted``), e.g.
        ``load_universe().frame`` or :func:`synthetic_universe`.
    start, end
        Date range (inclusive), any dates: where an exchange's calendar is not known (Shanghai
        after 2026, see :func:`exchina_index.rules.calendar.known_range`) its sessions are weekdays and
        the result's ``notes`` say so.
    seed
        Global seed; with the ticker and issuer names it fixes every number.
    source
        Recorded as ``MarketData.source``.

    Returns
    -------
    MarketData
        ``synthetic=True``. Vectorised over listings in chunks of 256 (per-listing random draws,
        no loops over days): 2000 listings over 20 years take about 8 s of CPU and 1.5 GB.
    """
    f = frame.sort_index()
    f.attrs = {}  # the universe loader keeps line numbers there; pandas would deep-copy them on every access
    if len(f) == 0:
        raise DataError("the universe has no listings; nothing to generate")
    listings = _Listings.of(f)
    grid = _session_grid(listings.exchange, pd.Timestamp(start), pd.Timestamp(end))
    life = _listing_lives(f, grid)
    fx = _fx_paths(grid.sessions, sorted(set(listings.currency) - {"USD"}), seed)
    cum_re, cum_stage = _common_factors(grid.days, seed)
    model = _Model(
        seed=seed, listings=listings, grid=grid, life=life, last=_last_sessions(life),
        issuers=_draw_issuers(listings, len(grid.days), seed), cum_re=cum_re, cum_stage=cum_stage,
        logfx={"USD": np.zeros(len(grid.days)), **{c: np.log(v) for c, v in fx.items()}},
    )
    close, volume, shares, dividends = _line_series(model)

    idx = pd.DatetimeIndex(grid.sessions.astype("datetime64[us]"), name="date")
    tickers = listings.tickers
    notes = [f"synthetic market generated with seed {seed}: not real prices"]
    empty = [t for t, alive in zip(tickers, life.any(axis=0)) if not alive]
    if empty:
        notes.append(f"no sessions inside the listing life for {', '.join(empty)}: left empty (NaN)")
    return MarketData(
        close=pd.DataFrame(close, index=idx, columns=tickers),
        fx=pd.DataFrame(fx, index=idx),
        currency=pd.Series(listings.currency, index=tickers),
        dividends=pd.DataFrame(dividends, index=idx, columns=tickers),
        volume=pd.DataFrame(volume, index=idx, columns=tickers),
        shares=pd.DataFrame(shares, index=idx, columns=tickers),
        exchange=pd.Series(listings.exchange, index=tickers),
        delisted=pd.Series(pd.to_datetime(f["delisted"]).to_numpy(), index=tickers),
        source=source,
        synthetic=True,
        notes=tuple(notes),
    )


# --- the model's inputs: listings, sessions, listing lives ------------------------------------------


@dataclass(frozen=True)
class _Listings:
    """The universe columns the model reads, as arrays with one entry per listing (sorted by ticker)."""

    tickers: list[str]
    exchange: np.ndarray
    currency: np.ndarray
    primary: np.ndarray
    purity: np.ndarray
    stages: np.ndarray  # (n, 3) mining, refining, manufacturing
    issuer_names: list[str]  # sorted; issuer k of the model
    issuer: np.ndarray  # each listing's issuer k
    home_of_issuer: np.ndarray  # each issuer's home line (its primary line if it has one)
    home: np.ndarray  # each listing's home line
    beta: np.ndarray  # each listing's loading on the common factor (from its home line's purity)
    stage_loadings: np.ndarray  # (n, 3) each listing's stage exposures (its home line's)

    @classmethod
    def of(cls, f: pd.DataFrame) -> _Listings:
        issuers = f["issuer"].astype(str).to_numpy()
        primary = f["primary"].astype(bool).to_numpy()
        issuer_names = sorted(set(issuers))
        home: dict[str, int] = {}
        for j in np.argsort(~primary, kind="stable"):  # primary lines first, then the rest
            home.setdefault(issuers[j], int(j))
        home_idx = np.array([home[i] for i in issuers])
        stages = f[["mining", "refining", "manufacturing"]].to_numpy(dtype=float)
        purity = f["purity"].to_numpy(dtype=float)
        return cls(
            tickers=[str(t) for t in f.index], exchange=f["exchange"].astype(str).to_numpy(),
            currency=f["currency"].astype(str).to_numpy(), primary=primary, purity=purity, stages=stages,
            issuer_names=issuer_names, issuer=pd.Index(issuer_names).get_indexer(issuers),
            home_of_issuer=np.array([home[i] for i in issuer_names]), home=home_idx,
            beta=0.3 + 0.7 * purity[home_idx], stage_loadings=stages[home_idx],
        )


@dataclass(frozen=True)
class _Grid:
    """The union of the listings' exchange sessions: the rows of every generated frame."""

    sessions: np.ndarray  # as the calendars give them
    days: np.ndarray  # datetime64[D]
    own: np.ndarray  # (T, n): the session is one of the listing's exchange
    month: np.ndarray
    day: np.ndarray
    month_key: np.ndarray  # year * 12 + month


def _session_grid(exchange: np.ndarray, lo: pd.Timestamp, hi: pd.Timestamp) -> _Grid:
    cals = np.array([calendar_of(m) for m in exchange])
    cal_days = {c: sessions(c, lo, hi).to_numpy() for c in sorted(set(cals))}
    union = np.unique(np.concatenate(list(cal_days.values())))
    if len(union) < 2:
        raise DataError(f"no trading sessions between {lo.date()} and {hi.date()}")
    own = np.zeros((len(union), len(exchange)), dtype=bool)
    for c, days in cal_days.items():
        own[:, cals == c] = np.isin(union, days)[:, None]
    days = union.astype("datetime64[D]")
    cal = pd.DatetimeIndex(days)
    month = cal.month.to_numpy()
    return _Grid(sessions=union, days=days, own=own, month=month, day=cal.day.to_numpy(),
                 month_key=cal.year.to_numpy() * 12 + month)


def _listing_lives(f: pd.DataFrame, grid: _Grid) -> np.ndarray:
    """(T, n): own sessions from ``listed_since`` to the day before ``delisted``."""
    since = pd.to_datetime(f["listed_since"]).to_numpy().astype("datetime64[D]")
    delisted = pd.to_datetime(f["delisted"]).to_numpy().astype("datetime64[D]")
    life = grid.own & (grid.days[:, None] >= since[None, :])
    has_d = ~np.isnat(delisted)
    life[:, has_d] &= grid.days[:, None] < delisted[None, has_d]
    return life


def _last_sessions(life: np.ndarray) -> np.ndarray:
    """Row of each listing's last session (0 for a listing without any)."""
    return np.where(life.any(axis=0), len(life) - 1 - life[::-1].argmax(axis=0), 0)


# --- common factors and issuer draws ----------------------------------------------------------------


def _common_factors(days: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log levels of the rare-earth factor (T,) and of the three stage factors (T, 3).

    The noise mean-reverts around the illustrative regime path, so the boom/bust shape (and hence
    each name's size over time) is the designed one rather than the luck of one seed.
    """
    rng = np.random.default_rng(stable_seed(seed, "factors"))
    T = len(days)
    re_noise = 0.35 * math.sqrt(_DT) * _T_SCALE * rng.standard_t(_T_DF, T)
    stage_inc = 0.12 * math.sqrt(_DT) * _T_SCALE * rng.standard_t(_T_DF, (T, 3))
    cum_re = lfilter([1.0], [1.0, -_PHI], re_noise) + np.cumsum(_regime_drift(days))
    return cum_re, lfilter([1.0], [1.0, -_PHI], stage_inc, axis=0)


@dataclass(frozen=True)
class _Issuers:
    """Per-issuer draws (one entry or column per issuer k): size, shocks, turnover, payouts, shares."""

    cap_end: np.ndarray  # market cap (USD) at the home line's last session
    idio: np.ndarray  # (T, I) daily issuer-specific shocks
    idio_sd: np.ndarray
    cum_idio: np.ndarray  # (T, I) their mean-reverting level
    drift: np.ndarray  # daily
    turnover: np.ndarray  # of the home line, per day
    per_payment: np.ndarray  # dividend per payment as a fraction of the price (0: pays none)
    div_freq: np.ndarray  # payments a year
    div_month0: np.ndarray  # first paying month of the year
    share_cum: np.ndarray  # (T, I) log share count, up to a constant


def _draw_issuers(listings: _Listings, T: int, seed: int) -> _Issuers:
    """Each issuer's numbers from its own stream, in a fixed order (size, shocks, drift, turnover,
    dividends, share steps) so that adding a draw to one step does not shift the others' issuers."""
    n_issuers = len(listings.issuer_names)
    cap_end, drift, tau = np.empty(n_issuers), np.empty(n_issuers), np.empty(n_issuers)
    idio = np.empty((T, n_issuers))
    div_yield = np.zeros(n_issuers)
    div_freq = np.ones(n_issuers, dtype=int)
    div_month0 = np.ones(n_issuers, dtype=int)
    share_log = np.zeros((T, n_issuers))
    for k, iss in enumerate(listings.issuer_names):
        j = listings.home_of_issuer[k]
        exchange, purity = listings.exchange[j], listings.purity[j]
        r = np.random.default_rng(stable_seed(seed, "issuer", iss))
        lo_cap, hi_cap = CAP_RANGE_USD.get(exchange, (5e7, 2e9))
        drawn = math.exp(r.uniform(math.log(lo_cap), math.log(hi_cap)))
        cap = cap_end[k] = ROUGH_CAP_USD.get(listings.tickers[j], drawn)
        idio_sigma = _idio_sigma(cap, purity, listings.stages[j])
        idio[:, k] = idio_sigma * math.sqrt(_DT) * _T_SCALE * r.standard_t(_T_DF, T)
        drift[k] = r.normal(0.0, 0.06) * _DT
        lo_tau, hi_tau = _turnover_range(cap)
        tau[k] = math.exp(r.uniform(math.log(lo_tau), math.log(hi_tau)))
        # dividends: larger, less pure (diversified) issuers pay
        if cap >= 1e9 and r.uniform() < (0.85 if purity < 0.5 else 0.35):
            div_yield[k] = r.uniform(0.01, 0.04)
            div_freq[k] = _DIV_FREQ.get(exchange, 2)
            div_month0[k] = 1 + int(r.integers(0, 12 // div_freq[k]))
        rows, moves = _share_steps(r, cap, T)
        np.add.at(share_log[:, k], rows, moves)
    return _Issuers(
        cap_end=cap_end, idio=idio, idio_sd=idio.std(axis=0) + 1e-12,
        cum_idio=lfilter([1.0], [1.0, -_PHI], idio, axis=0),  # issuer-specific moves mean-revert too
        drift=drift, turnover=tau,
        per_payment=np.where(div_yield > 0, div_yield / np.maximum(div_freq, 1), 0.0),
        div_freq=div_freq, div_month0=div_month0, share_cum=np.cumsum(share_log, axis=0),
    )


def _idio_sigma(cap: float, purity: float, stages: np.ndarray) -> float:
    """Annual volatility of the issuer-specific shock: the total volatility (falling with size)
    less the systematic part, but at least half of the total."""
    size = math.log10(cap)
    sigma = 0.25 + 0.55 * min(max((10.5 - size) / 3.0, 0.0), 1.0)
    beta = 0.3 + 0.7 * purity
    sys_var = (beta * 0.35) ** 2 + 0.12**2 * float(np.sum(stages**2))
    return math.sqrt(max(sigma**2 - sys_var, (0.5 * sigma) ** 2))


def _turnover_range(cap: float) -> tuple[float, float]:
    """Daily turnover (fraction of the market cap) of the home line, drawn log-uniformly in this range."""
    if cap >= 1e10:
        return 0.0045, 0.0065
    return (0.0025, 0.005) if cap >= 1e9 else (0.001, 0.006)


def _share_steps(r: np.random.Generator, cap: float, T: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, log moves) of the share-count steps: Poisson arrivals; large caps buy back a little,
    juniors issue 3-25 % at a time."""
    m = int(r.poisson((0.3 if cap >= 1e10 else 0.6) * (T / _STEPS_PER_YEAR)))
    if not m:
        return np.empty(0, dtype=int), np.empty(0)
    rows = r.integers(1, T, m)
    if cap >= 1e10:
        return rows, r.normal(-0.005, 0.01, m)
    return rows, (r.uniform(0.0, 0.06, m) if cap >= 1e9 else r.uniform(0.03, 0.25, m))


# --- line-level series ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Model:
    """Everything the per-line series are made from."""

    seed: int
    listings: _Listings
    grid: _Grid
    life: np.ndarray  # (T, n)
    last: np.ndarray  # row of each listing's last session
    issuers: _Issuers
    cum_re: np.ndarray
    cum_stage: np.ndarray
    logfx: dict[str, np.ndarray]  # log USD per unit, by currency (USD included)


@dataclass(frozen=True)
class _LineDraws:
    """One chunk's per-line draws."""

    price_end_usd: np.ndarray  # the close (in USD) at the last session
    turnover: np.ndarray
    noise: np.ndarray  # (T, chunk) log volume noise
    zero_volume: np.ndarray  # (T, chunk) sessions without trades (inside the life)


def _line_series(model: _Model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(close, volume, shares, dividends), each (T, n), generated in column chunks (bounded memory,
    no loops over days)."""
    T, n = model.life.shape
    close, volume, shares = (np.empty((T, n), order="F") for _ in range(3))
    dividends = np.zeros((T, n), order="F")
    for c0 in range(0, n, _CHUNK):
        cols = np.arange(c0, min(c0 + _CHUNK, n))
        lf = model.life[:, cols]
        draws = _line_draws(model, cols)
        logp = _log_paths(model, cols)
        _hold_zero_volume_closes(logp, lf, draws.zero_volume)
        ex_rows = _drop_on_ex_dates(model, cols, logp, draws.zero_volume)
        c = _anchored_close(model, cols, logp, draws.price_end_usd)
        sh = _share_counts(model, cols, draws.price_end_usd)
        close[:, cols], shares[:, cols] = c, sh
        volume[:, cols] = _volumes(model, cols, draws, sh)
        for jj, rows in ex_rows.items():
            dividends[:, cols[jj]] = _cash_dividends(model, cols[jj], rows, c[:, jj])
    return close, volume, shares, dividends


def _line_draws(model: _Model, cols: np.ndarray) -> _LineDraws:
    """Each line's own stream: price level, turnover of secondary lines, volume noise, zero-volume days."""
    T, ls, iss = len(model.life), model.listings, model.issuers
    price_end = np.empty(len(cols))
    turnover = np.empty(len(cols))
    noise = np.empty((T, len(cols)))
    zero_vol = np.zeros((T, len(cols)), dtype=bool)
    for jj, j in enumerate(cols):
        r = np.random.default_rng(stable_seed(model.seed, "line", ls.tickers[j]))
        cap = iss.cap_end[ls.issuer[j]]
        p_lo, p_hi = _price_range_usd(cap)
        price_end[jj] = math.exp(r.uniform(math.log(p_lo), math.log(p_hi)))
        mult = 1.0 if ls.primary[j] else (r.uniform(0.02, 0.1) if ls.exchange[j] == "OTCM" else r.uniform(0.1, 0.4))
        turnover[jj] = iss.turnover[ls.issuer[j]] * mult
        noise[:, jj] = r.normal(-0.18, 0.6, T)  # lognormal with mean about 1
        if cap < 1.5e8 or not ls.primary[j]:
            zero_vol[:, jj] = r.uniform(size=T) < r.uniform(0.02, 0.15)
    return _LineDraws(price_end, turnover, noise, zero_vol & model.life[:, cols])


def _price_range_usd(cap: float) -> tuple[float, float]:
    """Range of the end-of-demo share price (USD), drawn log-uniformly, by the issuer's market cap."""
    if cap < 1.5e8:
        return 0.02, 0.6
    if cap < 1e9:
        return 0.3, 8.0
    return (5.0, 60.0) if cap < 1e10 else (15.0, 120.0)


def _log_paths(model: _Model, cols: np.ndarray) -> np.ndarray:
    """(T, chunk) log price paths up to a constant: the issuer's path, plus the FX ratio for a line
    quoted in another currency than its home line."""
    ls, iss = model.listings, model.issuers
    k_iss = ls.issuer[cols]
    steps = np.arange(len(model.life), dtype=float)
    logp = (model.cum_re[:, None] * ls.beta[cols] + model.cum_stage @ ls.stage_loadings[cols].T
            + iss.cum_idio[:, k_iss] + steps[:, None] * iss.drift[k_iss])
    for jj, j in enumerate(cols):
        hc, lc = ls.currency[ls.home[j]], ls.currency[j]
        if hc != lc:
            logp[:, jj] += model.logfx[hc] - model.logfx[lc]
    return logp


def _hold_zero_volume_closes(logp: np.ndarray, lf: np.ndarray, zero_vol: np.ndarray) -> None:
    """A zero-volume session repeats the previous close: sample the path at the last traded session."""
    zcols = np.flatnonzero(zero_vol.any(axis=0))
    if len(zcols):
        traded = lf[:, zcols] & ~zero_vol[:, zcols]
        src = np.maximum.accumulate(np.where(traded, np.arange(len(logp))[:, None], 0), axis=0)
        logp[:, zcols] = np.take_along_axis(logp[:, zcols], src, axis=0)


def _drop_on_ex_dates(model: _Model, cols: np.ndarray, logp: np.ndarray,
                      zero_vol: np.ndarray) -> dict[int, np.ndarray]:
    """Ex-date rows of each paying line of the chunk (position in the chunk -> rows); the price drops
    by the dividend there. Ex-date = first traded session on/after the 10th of each paying month."""
    ls, iss, grid = model.listings, model.issuers, model.grid
    per_payment = iss.per_payment[ls.issuer]
    ex_rows: dict[int, np.ndarray] = {}
    for jj in np.flatnonzero(per_payment[cols] > 0):
        j, k = cols[jj], ls.issuer[cols[jj]]
        paying = ((grid.month - iss.div_month0[k]) % (12 // iss.div_freq[k])) == 0
        cand = np.flatnonzero(model.life[:, j] & ~zero_vol[:, jj] & paying & (grid.day >= 10))
        _, first = np.unique(grid.month_key[cand], return_index=True)
        ex_rows[int(jj)] = cand[first]
        drop = np.zeros(len(logp))
        drop[cand[first]] = math.log1p(-per_payment[j])
        logp[:, jj] += np.cumsum(drop)
    return ex_rows


def _anchored_close(model: _Model, cols: np.ndarray, logp: np.ndarray, price_end_usd: np.ndarray) -> np.ndarray:
    """Closes in local units, the one at the last session of the life being the drawn price level;
    NaN outside the life."""
    lst = model.last[cols]
    fx_end = np.array([model.logfx[model.listings.currency[j]][model.last[j]] for j in cols])
    logp += (np.log(price_end_usd) - fx_end - logp[lst, np.arange(len(cols))])[None, :]
    c = np.exp(logp).astype(np.float32).astype(np.float64)  # Yahoo-like float32 values
    c[~model.life[:, cols]] = np.nan
    return c


def _share_counts(model: _Model, cols: np.ndarray, price_end_usd: np.ndarray) -> np.ndarray:
    """The end count from the target cap, earlier counts from the issuance steps; NaN outside the life."""
    k_iss, lst, cum = model.listings.issuer[cols], model.last[cols], model.issuers.share_cum
    sh = np.round((model.issuers.cap_end[k_iss] / price_end_usd)[None, :]
                  * np.exp(cum[:, k_iss] - cum[lst, k_iss][None, :]))
    sh[~model.life[:, cols]] = np.nan
    return sh


def _volumes(model: _Model, cols: np.ndarray, draws: _LineDraws, shares: np.ndarray) -> np.ndarray:
    """Turnover x shares x lognormal noise, bigger on large idiosyncratic moves; 0 on zero-volume days."""
    k_iss, iss = model.listings.issuer[cols], model.issuers
    shock = np.minimum(np.abs(iss.idio[:, k_iss]) / iss.idio_sd[k_iss], 4.0)
    v = np.round(draws.turnover[None, :] * shares * np.exp(draws.noise) * (0.7 + 0.3 * shock))
    v[draws.zero_volume] = 0.0
    return v


def _cash_dividends(model: _Model, j: int, ex_rows: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(T,) cash dividend of line ``j`` on its ex-dates: the payout fraction of the previous close
    (4 significant digits); none on an ex-date that is the life's first session."""
    out = np.zeros(len(close))
    life_rows = np.flatnonzero(model.life[:, j])
    pos = np.searchsorted(life_rows, ex_rows)
    ok = pos > 0
    prev = close[life_rows[pos[ok] - 1]]
    out[ex_rows[ok]] = _round_sig(model.issuers.per_payment[model.listings.issuer[j]] * prev)
    return out


# --- FX and the factor's regimes -------------------------------------------------------------------


def _regime_drift(days: np.ndarray) -> np.ndarray:
    out = np.zeros(len(days))
    for a, b, move in _RE_REGIMES:
        sel = (days >= np.datetime64(a)) & (days <= np.datetime64(b))
        k = int(sel.sum())
        if k:
            out[sel] = move / k
    return out


def _fx_paths(days: np.ndarray, currencies: list[str], seed: int) -> dict[str, np.ndarray]:
    """USD per unit on ``days``: a trend between the early-2015 and 2026 levels (in logs) plus a
    mean-reverting (Ornstein-Uhlenbeck, half-life about 8 months) deviation with the currency's
    daily volatility, starting at zero."""
    T = len(days)
    d = days.astype("datetime64[D]")
    span = (np.datetime64("2026-09-30") - np.datetime64("2015-01-02")).astype(float)
    pos = (d - np.datetime64("2015-01-02")).astype(float) / span  # 0 at 2015, 1 at 2026 (extrapolated outside)
    for c in currencies:
        if c not in _FX_PATHS:
            raise DataError(
                f"the synthetic market has no FX path for {c}; known: {', '.join(sorted(_FX_PATHS))}"
            )
    if not currencies:
        return {}
    shocks = np.column_stack([
        np.random.default_rng(stable_seed(seed, "fx", c)).normal(0.0, _FX_PATHS[c][2] / math.sqrt(_STEPS_PER_YEAR), T)
        for c in currencies
    ])
    phi = 1.0 - 1.0 / _STEPS_PER_YEAR  # kappa = 1 per year
    dev = np.empty_like(shocks)
    level = np.zeros(len(currencies))
    for t in range(T):  # one short loop over days for all currencies at once (a linear filter)
        level = phi * level + shocks[t]
        dev[t] = level
    out: dict[str, np.ndarray] = {}
    for k, c in enumerate(currencies):
        a, b, _ = _FX_PATHS[c]
        out[c] = np.exp(math.log(a) + (math.log(b) - math.log(a)) * pos + dev[:, k])
    return out


def _round_sig(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round positive values to ``digits`` significant digits (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        scale = np.power(10.0, digits - 1 - np.nan_to_num(mag, nan=0.0, posinf=0.0, neginf=0.0))
        return np.round(x * scale) / scale
