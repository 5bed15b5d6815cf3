"""Each line's daily series (close, volume, shares, dividends) from the model's inputs and draws."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exchina_index.data.synthetic.calibration import ADTV_TOLERANCE, ADTV_WINDOW, LineAnchors, bridge
from exchina_index.data.synthetic.draws import IssuerDraws
from exchina_index.data.synthetic.inputs import Listings, SessionGrid
from exchina_index.data.synthetic.seeds import stable_seed
from exchina_index.errors import DataError

__all__ = ["LineInputs", "line_series"]

_CHUNK = 256  # listings generated at once
_ADTV_PASSES = 8  # fixed-point passes of the turnover factor


@dataclass(frozen=True)
class LineInputs:
    """Everything the per-line series are made from."""

    seed: int
    listings: Listings
    grid: SessionGrid
    life: np.ndarray  # (T, n)
    last: np.ndarray  # row of each listing's last session
    issuers: IssuerDraws
    cum_re: np.ndarray  # (T,) log level of the rare-earth factor
    cum_stage: np.ndarray  # (T, 3) log levels of the stage factors
    logfx: dict[str, np.ndarray]  # log USD per unit, by currency (USD included)
    anchors: LineAnchors  # reference points the paths pass through (none: the uncalibrated model)


@dataclass(frozen=True)
class _LineDraws:
    """One chunk's per-line draws."""

    price_end_usd: np.ndarray  # the close (in USD) at the last session
    turnover: np.ndarray
    noise: np.ndarray  # (T, chunk) log volume noise
    zero_volume: np.ndarray  # (T, chunk) sessions without trades (inside the life)


def line_series(inputs: LineInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(close, volume, shares, dividends), each (T, n), generated in column chunks (bounded memory,
    no loops over days)."""
    T, n = inputs.life.shape
    close, volume, shares = (np.empty((T, n), order="F") for _ in range(3))
    dividends = np.zeros((T, n), order="F")
    for c0 in range(0, n, _CHUNK):
        cols = np.arange(c0, min(c0 + _CHUNK, n))
        lf = inputs.life[:, cols]
        draws = _line_draws(inputs, cols)
        logp = _log_paths(inputs, cols)
        _hold_zero_volume_closes(logp, lf, draws.zero_volume)
        ex_rows = _drop_on_ex_dates(inputs, cols, logp, draws.zero_volume)
        cap_end = _pin_market_caps(inputs, cols, logp, draws.zero_volume)
        c = _anchored_close(inputs, cols, logp, draws.price_end_usd)
        sh = _share_counts(inputs, cols, draws.price_end_usd, cap_end)
        close[:, cols], shares[:, cols] = c, sh
        volume[:, cols] = _volumes(inputs, cols, draws, sh, c)
        for jj, rows in ex_rows.items():
            dividends[:, cols[jj]] = _cash_dividends(inputs, cols[jj], rows, c[:, jj])
    return close, volume, shares, dividends


def _line_draws(inputs: LineInputs, cols: np.ndarray) -> _LineDraws:
    """Each line's own stream: price level, turnover of secondary lines, volume noise, zero-volume days."""
    T, ls, iss = len(inputs.life), inputs.listings, inputs.issuers
    price_end = np.empty(len(cols))
    turnover = np.empty(len(cols))
    noise = np.empty((T, len(cols)))
    zero_vol = np.zeros((T, len(cols)), dtype=bool)
    for jj, j in enumerate(cols):
        r = np.random.default_rng(stable_seed(inputs.seed, "line", ls.tickers[j]))
        cap = iss.cap_end[ls.issuer[j]]
        p_lo, p_hi = _price_range_usd(cap)
        price_end[jj] = math.exp(r.uniform(math.log(p_lo), math.log(p_hi)))
        mult = 1.0 if ls.primary[j] else (r.uniform(0.02, 0.1) if ls.exchange[j] == "OTCM" else r.uniform(0.1, 0.4))
        turnover[jj] = iss.turnover[ls.issuer[j]] * mult
        noise[:, jj] = r.normal(-0.18, 0.6, T)  # lognormal with mean about 1
        if cap < 1.5e8 or not ls.primary[j]:
            zero_vol[:, jj] = r.uniform(size=T) < r.uniform(0.02, 0.15)
    return _LineDraws(price_end, turnover, noise, zero_vol & inputs.life[:, cols])


def _price_range_usd(cap: float) -> tuple[float, float]:
    """Range of the end-of-demo share price (USD), drawn log-uniformly, by the issuer's market cap."""
    if cap < 1.5e8:
        return 0.02, 0.6
    if cap < 1e9:
        return 0.3, 8.0
    return (5.0, 60.0) if cap < 1e10 else (15.0, 120.0)


def _log_paths(inputs: LineInputs, cols: np.ndarray) -> np.ndarray:
    """(T, chunk) log price paths up to a constant: the issuer's path, plus the FX ratio for a line
    quoted in another currency than its home line."""
    ls, iss = inputs.listings, inputs.issuers
    k_iss = ls.issuer[cols]
    steps = np.arange(len(inputs.life), dtype=float)
    logp = (
        inputs.cum_re[:, None] * ls.beta[cols]
        + inputs.cum_stage @ ls.stage_loadings[cols].T
        + iss.cum_idio[:, k_iss]
        + steps[:, None] * iss.drift[k_iss]
    )
    for jj, j in enumerate(cols):
        hc, lc = ls.currency[ls.home[j]], ls.currency[j]
        if hc != lc:
            logp[:, jj] += inputs.logfx[hc] - inputs.logfx[lc]
    return logp


def _hold_zero_volume_closes(logp: np.ndarray, lf: np.ndarray, zero_vol: np.ndarray) -> None:
    """A zero-volume session repeats the previous close: sample the path at the last traded session."""
    zcols = np.flatnonzero(zero_vol.any(axis=0))
    if len(zcols):
        traded = lf[:, zcols] & ~zero_vol[:, zcols]
        src = np.maximum.accumulate(np.where(traded, np.arange(len(logp))[:, None], 0), axis=0)
        logp[:, zcols] = np.take_along_axis(logp[:, zcols], src, axis=0)


def _drop_on_ex_dates(
    inputs: LineInputs, cols: np.ndarray, logp: np.ndarray, zero_vol: np.ndarray
) -> dict[int, np.ndarray]:
    """Ex-date rows of each paying line of the chunk (position in the chunk -> rows); the price drops
    by the dividend there. Ex-date = first traded session on/after the 10th of each paying month."""
    ls, iss, grid = inputs.listings, inputs.issuers, inputs.grid
    per_payment = iss.per_payment[ls.issuer]
    ex_rows: dict[int, np.ndarray] = {}
    for jj in np.flatnonzero(per_payment[cols] > 0):
        j, k = cols[jj], ls.issuer[cols[jj]]
        paying = ((grid.month - iss.div_month0[k]) % (12 // iss.div_freq[k])) == 0
        cand = np.flatnonzero(inputs.life[:, j] & ~zero_vol[:, jj] & paying & (grid.day >= 10))
        _, first = np.unique(grid.month_key[cand], return_index=True)
        ex_rows[int(jj)] = cand[first]
        drop = np.zeros(len(logp))
        drop[cand[first]] = math.log1p(-per_payment[j])
        logp[:, jj] += np.cumsum(drop)
    return ex_rows


def _pin_market_caps(inputs: LineInputs, cols: np.ndarray, logp: np.ndarray, zero_vol: np.ndarray) -> np.ndarray:
    """Each line's market cap (USD) at its last session, after adding to ``logp`` (in place) the bridge
    that takes the USD market cap through the line's reference points
    (:mod:`~exchina_index.data.synthetic.calibration`); held on zero-volume sessions like the close.

    Without the bridge the cap at row t is ``cap_end * exp(L(t) - L(last))``, L = log close in USD +
    log share count (up to constants), so the residual at each reference row is known before the
    close is anchored; the bridge moves the end cap by its value at the last session.
    """
    ls, iss, T = inputs.listings, inputs.issuers, len(inputs.life)
    k_iss = ls.issuer[cols]
    cap_end = iss.cap_end[k_iss].astype(float)
    pinned = [(jj, inputs.anchors.cap[j]) for jj, j in enumerate(cols) if j in inputs.anchors.cap]
    if not pinned:
        return cap_end
    shift = np.zeros_like(logp)
    for jj, (rows, log_caps) in pinned:
        j, k = cols[jj], k_iss[jj]
        level = logp[:, jj] + inputs.logfx[ls.currency[j]] + iss.share_cum[:, k]
        natural = math.log(cap_end[jj]) + level[rows] - level[inputs.last[j]]
        shift[:, jj] = bridge(T, rows, log_caps - natural)
    _hold_zero_volume_closes(shift, inputs.life[:, cols], zero_vol)
    logp += shift
    for jj, _ in pinned:
        cap_end[jj] *= math.exp(shift[inputs.last[cols[jj]], jj])
    return cap_end


def _anchored_close(inputs: LineInputs, cols: np.ndarray, logp: np.ndarray, price_end_usd: np.ndarray) -> np.ndarray:
    """Closes in local units, the one at the last session of the life being the drawn price level;
    NaN outside the life."""
    lst = inputs.last[cols]
    fx_end = np.array([inputs.logfx[inputs.listings.currency[j]][inputs.last[j]] for j in cols])
    logp += (np.log(price_end_usd) - fx_end - logp[lst, np.arange(len(cols))])[None, :]
    c = np.exp(logp).astype(np.float32).astype(np.float64)  # Yahoo-like float32 values
    c[~inputs.life[:, cols]] = np.nan
    return c


def _share_counts(inputs: LineInputs, cols: np.ndarray, price_end_usd: np.ndarray, cap_end: np.ndarray) -> np.ndarray:
    """The end count from the end cap, earlier counts from the issuance steps; NaN outside the life."""
    k_iss, lst, cum = inputs.listings.issuer[cols], inputs.last[cols], inputs.issuers.share_cum
    sh = np.round((cap_end / price_end_usd)[None, :] * np.exp(cum[:, k_iss] - cum[lst, k_iss][None, :]))
    sh[~inputs.life[:, cols]] = np.nan
    return sh


def _volumes(
    inputs: LineInputs, cols: np.ndarray, draws: _LineDraws, shares: np.ndarray, close: np.ndarray
) -> np.ndarray:
    """Turnover x shares x lognormal noise, bigger on large idiosyncratic moves; 0 on zero-volume days.
    A line with ADTV reference points has its turnover scaled (:func:`_turnover_factor`)."""
    k_iss, iss = inputs.listings.issuer[cols], inputs.issuers
    shock = np.minimum(np.abs(iss.idio[:, k_iss]) / iss.idio_sd[k_iss], 4.0)
    v = draws.turnover[None, :] * shares * np.exp(draws.noise) * (0.7 + 0.3 * shock)
    v[draws.zero_volume] = 0.0
    for jj, j in enumerate(cols):
        if j in inputs.anchors.adtv:
            traded_usd = np.nan_to_num(close[:, jj] * v[:, jj] * np.exp(inputs.logfx[inputs.listings.currency[j]]))
            factor, missed = _turnover_factor(traded_usd, inputs.life[:, j], *inputs.anchors.adtv[j])
            if missed is not None:  # points closer than one ADTV window that contradict each other
                raise DataError(
                    f"market reference: the ADTV points of {inputs.listings.tickers[j]} cannot all be met within "
                    f"{ADTV_TOLERANCE:.0%} (the one at {inputs.grid.days[missed]} is off); points less than "
                    f"{ADTV_WINDOW} sessions apart share one window: keep one of them"
                )
            v[:, jj] *= factor
    return np.round(v)


def _turnover_factor(
    traded_usd: np.ndarray, life: np.ndarray, rows: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, int | None]:
    """(T,) factor on a line's volume so that its ADTV (mean USD traded value over the last
    :data:`ADTV_WINDOW` priced sessions) at each reference row is the target: log-linear between the
    rows, flat outside; solved by fixed-point passes (the factor varies inside a window, and the
    windows of close reference dates overlap).
    Reference rows whose window traded nothing are left out (nothing to scale). Returns the factor and
    the row of the worst-met point when one is off by more than :data:`ADTV_TOLERANCE` (else None)."""
    own = np.flatnonzero(life)
    ends = np.searchsorted(own, rows) + 1
    windows = [own[max(0, e - ADTV_WINDOW) : e] for e in ends]
    base = np.array([traded_usd[w].mean() for w in windows])
    ok = base > 0
    if not ok.any():
        return np.ones(len(traded_usd)), None
    rows, targets, base, windows = rows[ok], targets[ok], base[ok], [w for w, o in zip(windows, ok) if o]
    log_factor = np.log(targets / base)
    for _ in range(_ADTV_PASSES):
        factor = np.exp(bridge(len(traded_usd), rows, log_factor))
        got = np.array([(traded_usd[w] * factor[w]).mean() for w in windows])
        log_factor += np.log(targets / got)
    factor = np.exp(bridge(len(traded_usd), rows, log_factor))
    miss = np.abs(np.array([(traded_usd[w] * factor[w]).mean() for w in windows]) / targets - 1.0)
    return factor, (int(rows[np.argmax(miss)]) if miss.max() > ADTV_TOLERANCE else None)


def _cash_dividends(inputs: LineInputs, j: int, ex_rows: np.ndarray, close: np.ndarray) -> np.ndarray:
    """(T,) cash dividend of line ``j`` on its ex-dates: the payout fraction of the previous close
    (4 significant digits); none on an ex-date that is the life's first session."""
    out = np.zeros(len(close))
    life_rows = np.flatnonzero(inputs.life[:, j])
    pos = np.searchsorted(life_rows, ex_rows)
    ok = pos > 0
    prev = close[life_rows[pos[ok] - 1]]
    out[ex_rows[ok]] = _round_sig(inputs.issuers.per_payment[inputs.listings.issuer[j]] * prev)
    return out


def _round_sig(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round positive values to ``digits`` significant digits (NaN stays NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        scale = np.power(10.0, digits - 1 - np.nan_to_num(mag, nan=0.0, posinf=0.0, neginf=0.0))
        return np.round(x * scale) / scale
