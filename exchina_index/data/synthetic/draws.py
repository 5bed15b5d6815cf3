"""The random draws of the synthetic market: the common factors, each issuer's numbers, the FX paths.

Every stream is seeded with :func:`~exchina_index.data.synthetic.seeds.stable_seed` from the global
seed and a name, so the draws of one issuer or currency do not depend on the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from exchina_index.data.synthetic.inputs import Listings
from exchina_index.data.synthetic.seeds import stable_seed
from exchina_index.errors import DataError

__all__ = ["ROUGH_CAP_USD", "CAP_RANGE_USD", "IssuerDraws", "common_factors", "draw_issuers", "fx_paths"]

#: Rough market caps (USD) at the end of the demo for well-known issuers' primary lines. Orders of
#: magnitude only (about 2025-26), used to give the synthetic market a realistic spread of sizes.
ROUGH_CAP_USD: dict[str, float] = {
    "4063.T": 6e10,
    "6762.T": 3e10,
    "4004.T": 5e9,
    "5471.T": 2e9,
    "SOLB.BR": 3.5e9,
    "MP": 8e9,
    "LYC.AX": 8e9,
    "ILU.AX": 1.8e9,
    "UUUU": 3e9,
    "TROX": 1e9,
    "CODI": 5e8,
    "METC": 1e9,
    "USAR": 1.5e9,
    "CRML": 1e9,
    "NB": 5e8,
    "AREC": 1.5e8,
    "ALOY": 3e8,
    "ARU.AX": 4e8,
    "NEO.TO": 5e8,
    "BRE.AX": 3e8,
    "ASM.AX": 2e8,
    "MEI.AX": 2e8,
    "HAS.AX": 8e7,
    "NTU.AX": 1e8,
    "ETM.AX": 1e8,
    "ARR.AX": 1.2e8,
    "IXR.AX": 8e7,
    "UCU.V": 2e8,
    "ARA.TO": 1.5e8,
    "PRE.L": 1.5e8,
    "RBW.L": 8e7,
    "MKA.V": 5e7,
    "REEMF": 1e8,
    "TMRC": 5e7,
    "PEK.AX": 1e8,
    "600111.SS": 1.5e10,
    "600392.SS": 4e9,
    "000831.SZ": 5e9,
    "600549.SS": 4e9,
    "300748.SZ": 3e9,
    "000970.SZ": 2.5e9,
    "600366.SS": 1e9,
}

#: Range (USD) of the end-of-demo market cap drawn for other issuers, by the primary line's exchange.
CAP_RANGE_USD: dict[str, tuple[float, float]] = {
    "XTKS": (1e9, 3e10),
    "XBRU": (1e9, 2e10),
    "XAMS": (1e9, 2e10),
    "XPAR": (1e9, 2e10),
    "XETR": (1e9, 2e10),
    "XSTO": (5e8, 1e10),
    "XOSL": (5e8, 1e10),
    "XHEL": (5e8, 1e10),
    "XKRX": (5e8, 1e10),
    "XNYS": (1e8, 5e9),
    "XNAS": (5e7, 3e9),
    "XASE": (5e7, 1e9),
    "OTCM": (1e7, 2e8),
    "XASX": (1e7, 6e8),
    "XTSE": (5e7, 2e9),
    "XTSX": (5e6, 2e8),
    "XCNQ": (3e6, 5e7),
    "XLON": (1e7, 3e8),
    "XSHG": (1e9, 2e10),
    "XSHE": (1e9, 2e10),
    "XHKG": (5e8, 1e10),
}

# (USD per unit early 2015, USD per unit 2026, annual volatility of the log rate)
_FX_PATHS: dict[str, tuple[float, float, float]] = {
    "AUD": (0.82, 0.66, 0.10),
    "CAD": (0.86, 0.72, 0.07),
    "GBP": (1.55, 1.32, 0.08),
    "JPY": (0.0084, 0.0067, 0.09),
    "EUR": (1.20, 1.15, 0.07),
    "CNY": (0.161, 0.140, 0.03),
    "HKD": (0.1290, 0.1282, 0.003),
    "SEK": (0.128, 0.105, 0.09),
    "NOK": (0.134, 0.098, 0.10),
    "KRW": (0.00091, 0.00072, 0.08),
    "CHF": (1.00, 1.25, 0.07),
    "ZAR": (0.086, 0.056, 0.14),
    "NZD": (0.78, 0.60, 0.10),
    "DKK": (0.161, 0.154, 0.07),
    "INR": (0.0158, 0.0114, 0.05),
    "SGD": (0.75, 0.77, 0.05),
}

# Illustrative drift of the common rare-earth factor (total log move over each period). A made-up
# boom/bust shape, not a history.
_RE_REGIMES: tuple[tuple[str, str, float], ...] = (
    ("2015-01-01", "2016-01-31", -0.40),
    ("2016-02-01", "2017-08-31", 0.60),
    ("2017-09-01", "2019-04-30", -0.45),
    ("2019-05-01", "2019-06-30", 0.35),
    ("2019-07-01", "2020-03-20", -0.45),
    ("2020-03-23", "2022-04-30", 1.20),
    ("2022-05-01", "2024-06-30", -0.90),
    ("2024-07-01", "2025-10-15", 1.10),
    ("2025-10-16", "2026-09-30", -0.25),
)

_DIV_FREQ = {
    "XNYS": 4,
    "XNAS": 4,
    "XASE": 4,
    "OTCM": 4,
    "XTSE": 4,
    "XTSX": 4,
    "XCNQ": 4,
    "XSHG": 1,
    "XSHE": 1,
    "XHKG": 1,
}
_STEPS_PER_YEAR = 261.0
_T_DF = 4.0
_IDIO_HALF_LIFE_YEARS = 1.5
_T_SCALE = math.sqrt((_T_DF - 2.0) / _T_DF)  # unit-variance Student-t
_DT = 1.0 / _STEPS_PER_YEAR
_PHI = math.exp(-math.log(2.0) / (_IDIO_HALF_LIFE_YEARS * _STEPS_PER_YEAR))  # daily mean reversion of the shocks


def common_factors(days: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
class IssuerDraws:
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


def draw_issuers(listings: Listings, T: int, seed: int, size: np.ndarray | None = None) -> IssuerDraws:
    """Each issuer's numbers, from its own stream (so one issuer's numbers do not depend on the
    others') in a fixed order: size, shocks, drift, turnover, dividends, share steps.

    ``size`` (per issuer, NaN = none) is the market cap to use instead of :data:`ROUGH_CAP_USD` or
    the drawn one: the latest reference point of a calibrated issuer (the draw is still made, so the
    rest of the issuer's stream is unchanged)."""
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
        given = math.nan if size is None else float(size[k])
        cap = cap_end[k] = given if math.isfinite(given) else ROUGH_CAP_USD.get(listings.tickers[j], drawn)
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
    return IssuerDraws(
        cap_end=cap_end,
        idio=idio,
        idio_sd=idio.std(axis=0) + 1e-12,
        cum_idio=lfilter([1.0], [1.0, -_PHI], idio, axis=0),  # issuer-specific moves mean-revert too
        drift=drift,
        turnover=tau,
        per_payment=np.where(div_yield > 0, div_yield / np.maximum(div_freq, 1), 0.0),
        div_freq=div_freq,
        div_month0=div_month0,
        share_cum=np.cumsum(share_log, axis=0),
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


def _regime_drift(days: np.ndarray) -> np.ndarray:
    """Daily drift of the rare-earth factor: each regime's total move spread evenly over its days."""
    out = np.zeros(len(days))
    for a, b, move in _RE_REGIMES:
        sel = (days >= np.datetime64(a)) & (days <= np.datetime64(b))
        k = int(sel.sum())
        if k:
            out[sel] = move / k
    return out


def fx_paths(days: np.ndarray, currencies: list[str], seed: int) -> dict[str, np.ndarray]:
    """USD per unit on ``days``: a trend between the early-2015 and 2026 levels (in logs) plus a
    mean-reverting (Ornstein-Uhlenbeck, half-life about 8 months) deviation with the currency's
    daily volatility, starting at zero."""
    T = len(days)
    d = days.astype("datetime64[D]")
    span = (np.datetime64("2026-09-30") - np.datetime64("2015-01-02")).astype(float)
    pos = (d - np.datetime64("2015-01-02")).astype(float) / span  # 0 at 2015, 1 at 2026 (extrapolated outside)
    for c in currencies:
        if c not in _FX_PATHS:
            raise DataError(f"the synthetic market has no FX path for {c}; known: {', '.join(sorted(_FX_PATHS))}")
    if not currencies:
        return {}
    shocks = np.column_stack(
        [
            np.random.default_rng(stable_seed(seed, "fx", c)).normal(
                0.0, _FX_PATHS[c][2] / math.sqrt(_STEPS_PER_YEAR), T
            )
            for c in currencies
        ]
    )
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
