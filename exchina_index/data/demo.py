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
import zlib
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from exchina_index.rules.calendar import calendar_of, sessions
from exchina_index.errors import DataError
from exchina_index.data.market import MarketData

__all__ = [
    "DEMO_LABEL", "DEMO_START", "DEMO_END", "ROUGH_CAP_USD", "CAP_RANGE_USD",
    "load_demo", "generate_market", "synthetic_universe",
]

#: Printed on every report and tearsheet made from the demo market.
DEMO_LABEL = "SYNTHETIC DEMO DATA — not real market prices"
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


def _seed(*parts: str | int) -> list[int]:
    """A stable seed sequence from names (zlib.crc32, not the salted built-in hash)."""
    return [p if isinstance(p, int) else zlib.crc32(str(p).encode("utf-8")) for p in parts]


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
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    f = frame.sort_index()
    f.attrs = {}  # the universe loader keeps line numbers there; pandas would deep-copy them on every access
    tickers = [str(t) for t in f.index]
    n = len(tickers)
    if n == 0:
        raise DataError("the universe has no listings; nothing to generate")
    exch = f["exchange"].astype(str).to_numpy()
    cals = np.array([calendar_of(m) for m in exch])
    cal_days = {c: sessions(c, lo, hi).to_numpy() for c in sorted(set(cals))}
    union = np.unique(np.concatenate(list(cal_days.values())))
    if len(union) < 2:
        raise DataError(f"no trading sessions between {lo.date()} and {hi.date()}")
    T = len(union)
    own = np.zeros((T, n), dtype=bool)
    for c, days in cal_days.items():
        own[:, cals == c] = np.isin(union, days)[:, None]

    currencies = f["currency"].astype(str).to_numpy()
    fx = _fx_paths(union, sorted(set(currencies) - {"USD"}), seed)
    logfx = {c: np.log(v) for c, v in fx.items()}
    logfx["USD"] = np.zeros(T)

    # listing lives
    since = pd.to_datetime(f["listed_since"]).to_numpy().astype("datetime64[D]")
    delisted = pd.to_datetime(f["delisted"]).to_numpy().astype("datetime64[D]")
    u_days = union.astype("datetime64[D]")
    life = own & (u_days[:, None] >= since[None, :])
    has_d = ~np.isnat(delisted)
    life[:, has_d] &= u_days[:, None] < delisted[None, has_d]

    # issuers: the primary line fixes size, dividends and the path's home currency
    issuers = f["issuer"].astype(str).to_numpy()
    primary = f["primary"].astype(bool).to_numpy()
    issuer_names = sorted(set(issuers))
    home: dict[str, int] = {}
    for j in np.argsort(~primary, kind="stable"):  # primary lines first, then the rest
        home.setdefault(issuers[j], int(j))
    iss_idx = pd.Index(issuer_names).get_indexer(issuers)

    stages = f[["mining", "refining", "manufacturing"]].to_numpy(dtype=float)
    purity = f["purity"].to_numpy(dtype=float)

    # common factors on the union calendar
    rng = np.random.default_rng(_seed(seed, "factors"))
    dt = 1.0 / _STEPS_PER_YEAR
    # factor noise mean-reverts around the illustrative regime path, so the boom/bust shape (and
    # hence each name's size over time) is the designed one rather than the luck of one seed
    phi = math.exp(-math.log(2.0) / (_IDIO_HALF_LIFE_YEARS * _STEPS_PER_YEAR))
    re_noise = 0.35 * math.sqrt(dt) * _T_SCALE * rng.standard_t(_T_DF, T)
    stage_inc = 0.12 * math.sqrt(dt) * _T_SCALE * rng.standard_t(_T_DF, (T, 3))
    cum_re = lfilter([1.0], [1.0, -phi], re_noise) + np.cumsum(_regime_drift(u_days))
    cum_stage = lfilter([1.0], [1.0, -phi], stage_inc, axis=0)

    # issuer-level draws
    I = len(issuer_names)
    cap_end = np.empty(I)
    idio = np.empty((T, I))
    drift = np.empty(I)
    tau = np.empty(I)
    div_yield = np.zeros(I)
    div_freq = np.ones(I, dtype=int)
    div_month0 = np.ones(I, dtype=int)
    share_log = np.zeros((T, I))
    for k, iss in enumerate(issuer_names):
        j = home[iss]
        r = np.random.default_rng(_seed(seed, "issuer", iss))
        lo_cap, hi_cap = CAP_RANGE_USD.get(exch[j], (5e7, 2e9))
        drawn = math.exp(r.uniform(math.log(lo_cap), math.log(hi_cap)))
        cap_end[k] = ROUGH_CAP_USD.get(tickers[j], drawn)
        size = math.log10(cap_end[k])
        sigma = 0.25 + 0.55 * min(max((10.5 - size) / 3.0, 0.0), 1.0)
        beta = 0.3 + 0.7 * purity[j]
        sys_var = (beta * 0.35) ** 2 + 0.12**2 * float(np.sum(stages[j] ** 2))
        idio_sigma = math.sqrt(max(sigma**2 - sys_var, (0.5 * sigma) ** 2))
        idio[:, k] = idio_sigma * math.sqrt(dt) * _T_SCALE * r.standard_t(_T_DF, T)
        drift[k] = r.normal(0.0, 0.06) * dt
        if cap_end[k] >= 1e10:
            tau[k] = math.exp(r.uniform(math.log(0.0045), math.log(0.0065)))
        elif cap_end[k] >= 1e9:
            tau[k] = math.exp(r.uniform(math.log(0.0025), math.log(0.005)))
        else:
            tau[k] = math.exp(r.uniform(math.log(0.001), math.log(0.006)))
        # dividends: larger, less pure (diversified) issuers pay
        pays = cap_end[k] >= 1e9 and r.uniform() < (0.85 if purity[j] < 0.5 else 0.35)
        if pays:
            div_yield[k] = r.uniform(0.01, 0.04)
            div_freq[k] = _DIV_FREQ.get(exch[j], 2)
            div_month0[k] = 1 + int(r.integers(0, 12 // div_freq[k]))
        # share issuance steps
        years = T / _STEPS_PER_YEAR
        if cap_end[k] >= 1e10:
            rate, step = 0.3, lambda m: r.normal(-0.005, 0.01, m)
        elif cap_end[k] >= 1e9:
            rate, step = 0.6, lambda m: r.uniform(0.0, 0.06, m)
        else:
            rate, step = 0.6, lambda m: r.uniform(0.03, 0.25, m)
        m = int(r.poisson(rate * years))
        if m:
            rows = r.integers(1, T, m)
            np.add.at(share_log[:, k], rows, step(m))
    share_cum = np.cumsum(share_log, axis=0)
    # issuer-specific moves mean-revert too (same half-life)
    cum_idio = lfilter([1.0], [1.0, -phi], idio, axis=0)

    # line-level outputs, generated in column chunks (bounded memory, no loops over days)
    home_idx = np.array([home[i] for i in issuers])
    beta_line = 0.3 + 0.7 * purity[home_idx]
    stage_line = stages[home_idx]
    idio_sd = idio.std(axis=0) + 1e-12
    steps = np.arange(T, dtype=float)
    cal = pd.DatetimeIndex(u_days)
    months, day = cal.month.to_numpy(), cal.day.to_numpy()
    month_key = cal.year.to_numpy() * 12 + months
    ann = div_yield[iss_idx]
    freq = div_freq[iss_idx]
    per_payment = np.where(ann > 0, ann / np.maximum(freq, 1), 0.0)
    has_life = life.any(axis=0)
    last = np.where(has_life, T - 1 - life[::-1].argmax(axis=0), 0)
    close = np.empty((T, n), order="F")
    volume = np.empty((T, n), order="F")
    shares = np.empty((T, n), order="F")
    dividends = np.zeros((T, n), order="F")

    for c0 in range(0, n, _CHUNK):
        cols = np.arange(c0, min(c0 + _CHUNK, n))
        k_iss = iss_idx[cols]
        lf = life[:, cols]
        # the issuer's path, plus the FX ratio for a line quoted in another currency than the home line
        logp = (cum_re[:, None] * beta_line[cols] + cum_stage @ stage_line[cols].T
                + cum_idio[:, k_iss] + steps[:, None] * drift[k_iss])
        for jj, j in enumerate(cols):
            hc, lc = currencies[home_idx[j]], currencies[j]
            if hc != lc:
                logp[:, jj] += logfx[hc] - logfx[lc]
        # per-line draws: price level, turnover of secondary lines, volume noise, zero-volume days
        p_end_usd = np.empty(len(cols))
        line_tau = np.empty(len(cols))
        noise = np.empty((T, len(cols)))
        zero_vol = np.zeros((T, len(cols)), dtype=bool)
        for jj, j in enumerate(cols):
            r = np.random.default_rng(_seed(seed, "line", tickers[j]))
            cap = cap_end[iss_idx[j]]
            p_lo, p_hi = (0.02, 0.6) if cap < 1.5e8 else (0.3, 8.0) if cap < 1e9 else (5.0, 60.0) if cap < 1e10 else (15.0, 120.0)
            p_end_usd[jj] = math.exp(r.uniform(math.log(p_lo), math.log(p_hi)))
            mult = 1.0 if primary[j] else (r.uniform(0.02, 0.1) if exch[j] == "OTCM" else r.uniform(0.1, 0.4))
            line_tau[jj] = tau[iss_idx[j]] * mult
            noise[:, jj] = r.normal(-0.18, 0.6, T)  # lognormal with mean about 1
            if cap < 1.5e8 or not primary[j]:
                zero_vol[:, jj] = r.uniform(size=T) < r.uniform(0.02, 0.15)
        zero_vol &= lf
        # a zero-volume session repeats the previous close: sample the path at the last traded session
        zcols = np.flatnonzero(zero_vol.any(axis=0))
        if len(zcols):
            traded = lf[:, zcols] & ~zero_vol[:, zcols]
            src = np.maximum.accumulate(np.where(traded, np.arange(T)[:, None], 0), axis=0)
            logp[:, zcols] = np.take_along_axis(logp[:, zcols], src, axis=0)
        # dividends: ex-date = first traded session on/after the 10th of each paying month; the price drops
        ex_rows: dict[int, np.ndarray] = {}
        for jj in np.flatnonzero(per_payment[cols] > 0):
            j = cols[jj]
            paying = ((months - div_month0[iss_idx[j]]) % (12 // freq[j])) == 0
            cand = np.flatnonzero(lf[:, jj] & ~zero_vol[:, jj] & paying & (day >= 10))
            _, first = np.unique(month_key[cand], return_index=True)
            ex_rows[jj] = cand[first]
            drop = np.zeros(T)
            drop[cand[first]] = math.log1p(-per_payment[j])
            logp[:, jj] += np.cumsum(drop)
        # anchor: the close at the last session of the life is the drawn price level (local units)
        lst = last[cols]
        fx_end = np.array([logfx[currencies[j]][last[j]] for j in cols])
        logp += (np.log(p_end_usd) - fx_end - logp[lst, np.arange(len(cols))])[None, :]
        c = np.exp(logp).astype(np.float32).astype(np.float64)  # Yahoo-like float32 values
        c[~lf] = np.nan
        # shares: end count from the target cap, earlier counts from the issuance steps
        sh = np.round((cap_end[k_iss] / p_end_usd)[None, :] * np.exp(share_cum[:, k_iss] - share_cum[lst, k_iss][None, :]))
        sh[~lf] = np.nan
        # volume: turnover x shares x lognormal noise, bigger on large idiosyncratic moves
        shock = np.minimum(np.abs(idio[:, k_iss]) / idio_sd[k_iss], 4.0)
        v = np.round(line_tau[None, :] * sh * np.exp(noise) * (0.7 + 0.3 * shock))
        v[zero_vol] = 0.0
        for jj, rows_ in ex_rows.items():
            life_rows = np.flatnonzero(lf[:, jj])
            pos = np.searchsorted(life_rows, rows_)
            ok = pos > 0
            prev = c[life_rows[pos[ok] - 1], jj]
            dividends[rows_[ok], cols[jj]] = _round_sig(per_payment[cols[jj]] * prev)
        close[:, cols], shares[:, cols], volume[:, cols] = c, sh, v

    idx = pd.DatetimeIndex(union.astype("datetime64[us]"), name="date")
    notes = [f"synthetic market generated with seed {seed}: not real prices"]
    empty = [t for t, h in zip(tickers, has_life) if not h]
    if empty:
        notes.append(f"no sessions inside the listing life for {', '.join(empty)}: left empty (NaN)")
    fx_frame = pd.DataFrame({c: v for c, v in fx.items()}, index=idx)
    return MarketData(
        close=pd.DataFrame(close, index=idx, columns=tickers),
        fx=fx_frame,
        currency=pd.Series(currencies, index=tickers),
        dividends=pd.DataFrame(dividends, index=idx, columns=tickers),
        volume=pd.DataFrame(volume, index=idx, columns=tickers),
        shares=pd.DataFrame(shares, index=idx, columns=tickers),
        exchange=pd.Series(exch, index=tickers),
        delisted=pd.Series(pd.to_datetime(f["delisted"]).to_numpy(), index=tickers),
        source=source,
        synthetic=True,
        notes=tuple(notes),
    )


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
        np.random.default_rng(_seed(seed, "fx", c)).normal(0.0, _FX_PATHS[c][2] / math.sqrt(_STEPS_PER_YEAR), T)
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


# --- synthetic universes for benchmarks -------------------------------------------------------------

_SYN_EXCHANGES: tuple[tuple[str, str, str, str, str, float], ...] = (
    # MIC, suffix, currency, price unit, country, weight
    ("XASX", ".AX", "AUD", "AUD", "AU", 0.32),
    ("XTSX", ".V", "CAD", "CAD", "CA", 0.12),
    ("XTSE", ".TO", "CAD", "CAD", "CA", 0.07),
    ("XCNQ", ".CN", "CAD", "CAD", "CA", 0.03),
    ("XNYS", "", "USD", "USD", "US", 0.07),
    ("XNAS", "", "USD", "USD", "US", 0.07),
    ("XASE", "", "USD", "USD", "US", 0.03),
    ("OTCM", "", "USD", "USD", "US", 0.04),
    ("XLON", ".L", "GBP", "GBp", "GB", 0.10),
    ("XTKS", ".T", "JPY", "JPY", "JP", 0.10),
    ("XBRU", ".BR", "EUR", "EUR", "BE", 0.02),
    ("XAMS", ".AS", "EUR", "EUR", "NL", 0.03),
)
_STAGE_TEMPLATES: tuple[tuple[float, float, float, str], ...] = (
    (1.0, 0.0, 0.0, "mining"), (0.5, 0.5, 0.0, "mining;separation"), (0.0, 1.0, 0.0, "separation"),
    (0.0, 0.0, 1.0, "magnets"), (0.0, 0.4, 0.6, "separation;metals_alloys;magnets"),
    (0.4, 0.35, 0.25, "mining;separation;metals_alloys;magnets"), (0.0, 0.0, 1.0, "recycling"),
)


def synthetic_universe(n: int, seed: int = 0) -> pd.DataFrame:
    """A fake universe frame of ``n`` listings with the columns of the real one (for benchmarks).

    Tickers look like ``SYN0001.AX``; listings spread over the allied exchanges, currencies, stages
    and countries; about one issuer in ten also has an OTC line (``primary=False``). Deterministic in
    ``(n, seed)``.

    Examples
    --------
    >>> u = synthetic_universe(5)
    >>> len(u), u.index[0][:3]
    (5, 'SYN')
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    r = np.random.default_rng(_seed(seed, "synthetic_universe"))
    weights = np.array([e[5] for e in _SYN_EXCHANGES])
    width = max(4, len(str(n)))
    records = []
    k = 0
    issuer_no = 0
    while k < n:
        issuer_no += 1
        e = _SYN_EXCHANGES[int(r.choice(len(_SYN_EXCHANGES), p=weights / weights.sum()))]
        mic, suffix, cur, unit, country, _ = e
        tmpl = _STAGE_TEMPLATES[int(r.integers(len(_STAGE_TEMPLATES)))]
        purity = float(np.round(r.uniform(0.02, 1.0) ** 0.5, 2))
        if r.uniform() < 0.6:
            since = pd.Timestamp("2000-01-01")
        else:
            since = pd.Timestamp("2005-01-01") + pd.Timedelta(days=int(r.integers(0, 20 * 365)))
        delisted = pd.NaT
        if r.uniform() < 0.03:
            delisted = since + pd.Timedelta(days=int(r.integers(400, 6000)))
        issuer = f"syn_{issuer_no:0{width}d}"
        base = {
            "issuer": issuer, "domicile": country, "hq": country,
            "lot_size": 100 if mic == "XTKS" else 1, "float_factor": float(np.round(r.uniform(0.5, 1.0), 2)),
            "mining": tmpl[0], "refining": tmpl[1], "manufacturing": tmpl[2], "purity": purity,
            "delisted": delisted, "activities": tmpl[3], "source": "synthetic", "notes": "",
        }
        k += 1
        records.append({"ticker": f"SYN{k:0{width}d}{suffix}", "name": f"Synthetic Listing {k}", "primary": True,
                        "exchange": mic, "currency": cur, "price_unit": unit, "listed_since": since, **base})
        if k < n and mic != "OTCM" and r.uniform() < 0.1:
            k += 1
            records.append({"ticker": f"SYN{k:0{width}d}", "name": f"Synthetic Listing {k} (OTC line)",
                            "primary": False, "exchange": "OTCM", "currency": "USD", "price_unit": "USD",
                            "listed_since": max(since, pd.Timestamp("2010-01-01")), **base,
                            "lot_size": 1})
    columns = ["ticker", "name", "issuer", "primary", "domicile", "hq", "exchange", "currency", "price_unit",
               "lot_size", "float_factor", "mining", "refining", "manufacturing", "purity", "listed_since",
               "delisted", "activities", "source", "notes"]
    out = pd.DataFrame.from_records(records, columns=columns).set_index("ticker").sort_index()
    out["listed_since"] = pd.to_datetime(out["listed_since"]).astype("datetime64[s]")
    out["delisted"] = pd.to_datetime(out["delisted"]).astype("datetime64[s]")
    out["lot_size"] = out["lot_size"].astype("int64")
    return out
