"""The ETF files of one day: the creation basket and the SEC Rule 6c-11 holdings disclosure.

Both are pure functions of the day's **closing composition** of the index (a DataFrame indexed by
ticker, columns :data:`COMPOSITION_COLUMNS`) and the fund's :class:`EtfTerms`:

* :func:`creation_basket`: the shares per constituent an authorised participant delivers for one
  creation unit, rounded to board lots, with the cash component and the dividends the basket
  receives on the next session's ex-dates.
* :func:`holdings_6c11`: the fund's portfolio in the layout of the daily website disclosure of SEC
  Rule 6c-11(c)(1)(i) (ticker, CUSIP or other identifier, description, quantity, market value,
  percentage weight), with a final ``CASH`` row so that the disclosed total is the fund.

Conventions
-----------
* **Exact arithmetic.** Share counts are computed from the inputs' float values with
  :class:`fractions.Fraction` (no float noise: ``300 / 3`` is 100 shares, never 99), and every
  published figure is the correctly rounded float of the exact figure. Results do not depend on the
  row order or on summation order.
* **Weights** must sum to 1 within :data:`WEIGHT_TOLERANCE`; they are then divided by their exact sum
  so that the basket and the holdings invest exactly the unit value and the fund.
* **Rows** are sorted by ticker (Python string order); the holdings' ``CASH`` row comes last.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.errors import InputError, short_repr
from exchina_index.rules.checks import check_aum
from exchina_index.rules.sections import MAX_AUM_USD
from exchina_index.universe.identifiers import figi_problem, isin_problem

__all__ = [
    "EtfTerms",
    "creation_basket",
    "holdings_6c11",
    "COMPOSITION_COLUMNS",
    "BASKET_COLUMNS",
    "BASKET_SUMMARY_KEYS",
    "HOLDINGS_COLUMNS",
    "CASH_TICKER",
    "WEIGHT_TOLERANCE",
]

#: Columns the closing composition must have (extra columns are ignored).
COMPOSITION_COLUMNS = (
    "name",
    "isin",
    "figi",
    "currency",
    "lot_size",
    "index_shares",
    "price",
    "fx",
    "market_value_usd",
    "weight",
)
BASKET_COLUMNS = (
    "ticker",
    "isin",
    "name",
    "currency",
    "lot_size",
    "shares",
    "price",
    "fx",
    "value_usd",
    "weight_in_basket",
)
BASKET_SUMMARY_KEYS = (
    "unit_value_usd",
    "basket_value_usd",
    "cash_component_usd",
    "estimated_dividends_usd",
    "constituents",
)
HOLDINGS_COLUMNS = ("ticker", "identifier", "identifier_type", "description", "shares", "market_value_usd", "weight")
#: The ticker of the holdings file's cash line (reserved: no constituent may use it).
CASH_TICKER = "CASH"
CASH_DESCRIPTION = "Cash and equivalents"
#: How far the composition's weights may be from summing to 1, and each weight from its market value's share.
WEIGHT_TOLERANCE = 1e-9
#: Relative tolerance of ``market_value_usd`` against ``index_shares * price * fx``.
VALUE_TOLERANCE = 1e-9
#: Share counts above this are not exact in a float (2**53); such a count means a price or FX typo.
MAX_SHARES = 2**53
MAX_UNIT_SHARES = 10**9
MAX_LOT_SIZE = 10**9


@dataclass(frozen=True)
class EtfTerms:
    """The fund's terms for one day's ETF files.

    Parameters
    ----------
    unit_shares
        ETF shares per creation unit (a whole number from 1 to 10**9).
    nav_per_share
        The ETF's NAV per share in USD for the day (positive, finite).
    fund_aum_usd
        The fund's size in USD for the holdings file (positive, at most USD 10 trillion).

    Raises
    ------
    InputError
        A term is not a number or out of range; the message names the term.
    """

    unit_shares: int = 50_000
    nav_per_share: float = 25.0
    fund_aum_usd: float = 250e6

    def __post_init__(self) -> None:
        u = self.unit_shares
        if not isinstance(u, numbers.Integral) or isinstance(u, bool) or not 1 <= int(u) <= MAX_UNIT_SHARES:
            raise InputError(
                f"EtfTerms.unit_shares must be a whole number of ETF shares from 1 to {MAX_UNIT_SHARES:.0e}, "
                f"got {short_repr(u)}"
            )
        nav = self.nav_per_share
        if not isinstance(nav, numbers.Real) or isinstance(nav, bool) or not (math.isfinite(nav) and nav > 0):
            raise InputError(f"EtfTerms.nav_per_share must be a positive USD amount, got {short_repr(nav)}")
        if int(u) * float(nav) > MAX_AUM_USD:
            raise InputError(
                f"EtfTerms: a creation unit of {int(u)} shares at NAV {float(nav)} is worth more than "
                f"USD {MAX_AUM_USD:.0e}; check unit_shares and nav_per_share"
            )
        if isinstance(self.fund_aum_usd, str):  # check_aum accepts text; the dataclass wants a number
            raise InputError(f"EtfTerms.fund_aum_usd must be a number, got {short_repr(self.fund_aum_usd)}")
        check_aum(self.fund_aum_usd, "EtfTerms.fund_aum_usd")

    @property
    def unit_value_usd(self) -> float:
        """The value of one creation unit, ``unit_shares * nav_per_share`` (USD)."""
        return float(_exact(self.unit_shares) * _exact(self.nav_per_share))


def _exact(x: Any) -> Fraction:
    return Fraction(x) if isinstance(x, numbers.Integral) else Fraction(float(x))


def _first(tickers: Any, limit: int = 5) -> str:
    tickers = [str(t) for t in tickers]
    more = f" and {len(tickers) - limit} more" if len(tickers) > limit else ""
    return ", ".join(tickers[:limit]) + more


def _numbers(frame: pd.DataFrame, column: str, *, positive: bool, whole: bool = False) -> pd.Series:
    """A numeric column as floats; raises naming the tickers whose value is not a finite (positive) number."""
    raw = frame[column]
    is_bool = raw.map(lambda v: isinstance(v, (bool, np.bool_)))
    values = pd.to_numeric(raw.where(~is_bool), errors="coerce").astype(float)
    ok = np.isfinite(values) & ((values > 0) if positive else (values >= 0))
    if whole:
        ok &= (values >= 1) & (values <= MAX_LOT_SIZE) & (values == np.round(values))
    bad = frame.index[~ok.to_numpy()]
    if len(bad):
        need = f"a whole number from 1 to {MAX_LOT_SIZE:.0e}" if whole else "a positive finite number"
        shown = short_repr(raw.loc[bad[0]])
        raise InputError(f"{column} of {_first(bad)} must be {need} (got {shown} for {bad[0]})", column=column)
    return values


def _identifier(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, str):
        raise TypeError
    return value


def _texts(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The text columns, checked: a non-empty name, a 3-letter currency, well-formed ISIN and FIGI or ""."""
    out: dict[str, pd.Series] = {}
    for ticker, name in frame["name"].items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"name of {ticker} must be a non-empty text, got {short_repr(name)}", column="name")
    out["name"] = frame["name"].astype(str)
    for ticker, cur in frame["currency"].items():
        if not (isinstance(cur, str) and len(cur) == 3 and cur.isascii() and cur.isalpha() and cur.isupper()):
            raise InputError(
                f"currency of {ticker} must be an ISO 4217 code such as USD, got {short_repr(cur)}", column="currency"
            )
    out["currency"] = frame["currency"].astype(str)
    for column, problem in (("isin", isin_problem), ("figi", figi_problem)):
        codes = {}
        for ticker, value in frame[column].items():
            try:
                code = _identifier(value)
            except TypeError:
                raise InputError(
                    f"{column} of {ticker} must be text or empty, got {short_repr(value)}", column=column
                ) from None
            why = problem(code) if code else None
            if why:
                raise InputError(f"{column} {code!r} of {ticker}: {why}; correct it or leave it empty", column=column)
            codes[ticker] = code
        out[column] = pd.Series(codes, dtype=object).reindex(frame.index)
    return out


def _check_composition(composition: Any) -> pd.DataFrame:
    """The composition checked and sorted by ticker, identifiers as text ("" when missing)."""
    if not isinstance(composition, pd.DataFrame):
        raise InputError(f"the closing composition must be a pandas DataFrame, got {type(composition).__name__}")
    missing = [c for c in COMPOSITION_COLUMNS if c not in composition.columns]
    if missing:
        raise InputError(
            f"the closing composition lacks the column(s) {', '.join(missing)}; "
            f"it needs {', '.join(COMPOSITION_COLUMNS)}",
            column=missing[0],
        )
    if composition.empty:
        raise InputError("the closing composition has no constituents; its weights cannot sum to 1")
    tickers = list(composition.index)
    bad = [t for t in tickers if not isinstance(t, str) or not t.strip() or t != t.strip()]
    if bad:
        raise InputError(f"tickers must be non-empty text without surrounding blanks, got {short_repr(bad[0])}")
    dup = sorted(set(composition.index[composition.index.duplicated()]))
    if dup:
        raise InputError(f"the closing composition lists {_first(dup)} more than once; keep one row per ticker")
    if CASH_TICKER in tickers:
        raise InputError(f"ticker {CASH_TICKER} is reserved for the holdings file's cash line; rename the listing")
    frame = composition.loc[sorted(tickers), list(COMPOSITION_COLUMNS)]
    out = pd.DataFrame(_texts(frame), index=frame.index)
    out["lot_size"] = _numbers(frame, "lot_size", positive=True, whole=True).astype(np.int64)
    for column in ("index_shares", "price", "fx", "market_value_usd"):
        out[column] = _numbers(frame, column, positive=True)
    out["weight"] = _numbers(frame, "weight", positive=False)
    _check_values(out)
    return out


def _check_values(out: pd.DataFrame) -> None:
    """Market values agree with shares x price x FX, weights with market values and sum to 1."""
    value = out["index_shares"] * out["price"] * out["fx"]
    off = out.index[~(np.abs(out["market_value_usd"] - value) <= VALUE_TOLERANCE * value).to_numpy()]
    if len(off):
        t = off[0]
        raise InputError(
            f"market_value_usd of {_first(off)} is not index_shares x price x fx "
            f"({float(out.at[t, 'market_value_usd'])!r} against {float(value[t])!r} for {t}); recompute it",
            column="market_value_usd",
        )
    total = math.fsum(out["weight"])
    if not abs(total - 1.0) <= WEIGHT_TOLERANCE:
        raise InputError(
            f"the weights sum to {total!r}, not 1 within {WEIGHT_TOLERANCE:.0e}; recompute them from the market values",
            column="weight",
        )
    share = out["market_value_usd"] / math.fsum(out["market_value_usd"])
    off = out.index[~(np.abs(out["weight"] - share) <= WEIGHT_TOLERANCE).to_numpy()]
    if len(off):
        t = off[0]
        raise InputError(
            f"weight of {_first(off)} is not its share of the market value ({float(out.at[t, 'weight'])!r} against "
            f"{float(share[t])!r} for {t}); recompute the weights",
            column="weight",
        )


def _check_terms(terms: Any) -> EtfTerms:
    if not isinstance(terms, EtfTerms):
        raise InputError(f"terms must be an EtfTerms, got {type(terms).__name__}")
    return terms


def _check_dividends(next_dividends: Any, tickers: pd.Index) -> pd.Series:
    """Dividends per share by ticker, 0 where not given; raises on unknown tickers and bad amounts."""
    if not isinstance(next_dividends, pd.Series):
        raise InputError(f"next_dividends must be a pandas Series by ticker, got {type(next_dividends).__name__}")
    if not next_dividends.index.is_unique:
        dup = next_dividends.index[next_dividends.index.duplicated()]
        raise InputError(f"next_dividends lists {_first(dup)} more than once; give one amount per ticker")
    unknown = sorted(str(t) for t in next_dividends.index if t not in tickers)
    if unknown:
        raise InputError(
            f"next_dividends names {_first(unknown)}, not in the closing composition; pass constituents only"
        )
    # tickers left out have no dividend; a NaN given for a ticker is an error, not a zero
    frame = pd.DataFrame({"dividend": next_dividends.astype(object)}).reindex(tickers, fill_value=0.0)
    return _numbers(frame, "dividend", positive=False)


def _nearest_lots(shares: Fraction, lot: int) -> int:
    """Whole board lots nearest to ``shares``, halves rounded away from zero (shares are >= 0 here)."""
    return math.floor(shares / lot + Fraction(1, 2))


def _count(n: int, ticker: str, what: str) -> int:
    if n >= MAX_SHARES:
        raise InputError(
            f"{what} of {ticker} would be {n} shares, beyond an exact count (2**53); check its price and fx",
            column="price",
        )
    return n


def creation_basket(
    composition: pd.DataFrame, next_dividends: pd.Series, terms: EtfTerms
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The creation basket of one creation unit and its summary.

    A unit is worth ``U = unit_shares * nav_per_share`` USD. Each constituent's basket holding is
    ``U * weight / (price * fx)`` shares rounded to the **nearest whole board lot**
    (``lot_size``), an exact half lot rounded **away from zero** (up). A constituent whose holding
    rounds to 0 lots is **left out of the basket**; its value goes to the cash component.

    Parameters
    ----------
    composition
        The closing composition, indexed by ticker, columns :data:`COMPOSITION_COLUMNS`.
    next_dividends
        Cash dividend per share (local currency, major unit) going ex on the next session, by
        ticker; tickers left out have none. Every ticker must be in ``composition``.
    terms
        The fund's terms (``unit_shares`` and ``nav_per_share`` are used).

    Returns
    -------
    basket
        One row per constituent in the basket, sorted by ticker, columns :data:`BASKET_COLUMNS`:
        ``shares`` (int64, a multiple of ``lot_size``), ``value_usd = shares * price * fx`` and
        ``weight_in_basket = value_usd / U``.
    summary
        ``unit_value_usd`` (U), ``basket_value_usd`` (sum of the values), ``cash_component_usd``
        (``U - basket_value_usd``, negative when the rounded lots are worth more than the unit),
        ``estimated_dividends_usd`` (``sum shares * next dividend * fx``: what the basket receives
        on the next session's ex-dates) and ``constituents`` (rows in the basket).

    Raises
    ------
    InputError
        A column is missing, a value is malformed or out of range, the weights do not sum to 1
        within 1e-9, a dividend names an unknown ticker, or the terms are bad; the message names
        the ticker and column.

    Examples
    --------
    A lot of 100 shares at 1,000 JPY and 0.0066 USD per JPY is worth 660 USD; a one-name index's
    1,250,000 USD unit is 1,893.94 lots of it, rounded to 1,894 (189,400 shares worth 1,250,040 USD):

    >>> comp = pd.DataFrame({"name": ["Tokyo Co"], "isin": [""], "figi": [""], "currency": ["JPY"],
    ...     "lot_size": [100], "index_shares": [1e4], "price": [1000.0], "fx": [0.0066],
    ...     "market_value_usd": [66_000.0], "weight": [1.0]}, index=["9999.T"])
    >>> basket, summary = creation_basket(comp, pd.Series({"9999.T": 20.0}), EtfTerms())
    >>> int(basket.at[0, "shares"]), round(summary["cash_component_usd"], 6)
    (189400, -40.0)
    >>> round(summary["estimated_dividends_usd"], 6)  # 189,400 x 20 JPY x 0.0066
    25000.8
    """
    terms = _check_terms(terms)
    comp = _check_composition(composition)
    dividends = _check_dividends(next_dividends, comp.index)
    unit = _exact(terms.unit_shares) * _exact(terms.nav_per_share)
    weight_sum = sum((_exact(w) for w in comp["weight"]), Fraction(0))
    rows = []
    for t, row in comp.iterrows():
        price_usd = _exact(row["price"]) * _exact(row["fx"])
        lot = int(row["lot_size"])
        shares = _count(_nearest_lots(unit * _exact(row["weight"]) / weight_sum / price_usd, lot) * lot, t, "basket")
        if shares == 0:
            continue  # under half a lot: left out, its value is in the cash component
        value = shares * price_usd
        rows.append((t, row["isin"], row["name"], row["currency"], lot, shares, row["price"], row["fx"], value))
    values = [r[-1] for r in rows]
    divs = [r[5] * _exact(dividends[r[0]]) * _exact(r[7]) for r in rows]
    basket = pd.DataFrame(
        {
            "ticker": pd.Series([r[0] for r in rows], dtype=object),
            "isin": pd.Series([r[1] for r in rows], dtype=object),
            "name": pd.Series([r[2] for r in rows], dtype=object),
            "currency": pd.Series([r[3] for r in rows], dtype=object),
            "lot_size": pd.Series([r[4] for r in rows], dtype=np.int64),
            "shares": pd.Series([r[5] for r in rows], dtype=np.int64),
            "price": pd.Series([float(r[6]) for r in rows], dtype=float),
            "fx": pd.Series([float(r[7]) for r in rows], dtype=float),
            "value_usd": pd.Series([float(v) for v in values], dtype=float),
            "weight_in_basket": pd.Series([float(v / unit) for v in values], dtype=float),
        },
        columns=list(BASKET_COLUMNS),
    )
    total = sum(values, Fraction(0))
    summary: dict[str, float] = {
        "unit_value_usd": float(unit),
        "basket_value_usd": float(total),
        "cash_component_usd": float(unit - total),
        "estimated_dividends_usd": float(sum(divs, Fraction(0))),
        "constituents": len(rows),
    }
    return basket, summary


def holdings_6c11(composition: pd.DataFrame, terms: EtfTerms) -> pd.DataFrame:
    """The fund's holdings in the layout of the SEC Rule 6c-11(c)(1)(i) daily disclosure.

    Each constituent is held as ``fund_aum_usd * weight / (price * fx)`` shares **rounded down**
    to whole shares (a fund holds no fractions; board lots do not bind a fund's holdings). A
    constituent that rounds to 0 shares is not held and not listed. A final ``CASH`` row holds
    the rest of the fund, so the market values sum to ``fund_aum_usd`` (the cash is never
    negative).

    Parameters
    ----------
    composition
        The closing composition, indexed by ticker, columns :data:`COMPOSITION_COLUMNS`.
    terms
        The fund's terms (``fund_aum_usd`` is used).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HOLDINGS_COLUMNS`, one row per holding sorted by ticker, then ``CASH``:
        ``identifier`` is the ISIN, else the FIGI, else ""; ``identifier_type`` says which
        (``"ISIN"``, ``"FIGI"`` or ""); ``description`` is the name; ``shares`` int64;
        ``market_value_usd = shares * price * fx``; ``weight`` is the market value over the total
        of the file's market values (the fund), so the weights sum to 1 within rounding.

    Raises
    ------
    InputError
        As :func:`creation_basket`.
    """
    terms = _check_terms(terms)
    comp = _check_composition(composition)
    aum = _exact(terms.fund_aum_usd)
    weight_sum = sum((_exact(w) for w in comp["weight"]), Fraction(0))
    rows: list[tuple[str, str, str, str, int, Fraction]] = []
    for t, row in comp.iterrows():
        price_usd = _exact(row["price"]) * _exact(row["fx"])
        shares = _count(math.floor(aum * _exact(row["weight"]) / weight_sum / price_usd), t, "the fund's holding")
        if shares == 0:
            continue
        if row["isin"]:
            ident, kind = row["isin"], "ISIN"
        elif row["figi"]:
            ident, kind = row["figi"], "FIGI"
        else:
            ident, kind = "", ""
        rows.append((t, ident, kind, row["name"], shares, shares * price_usd))
    cash = aum - sum((r[5] for r in rows), Fraction(0))
    rows.append((CASH_TICKER, "", "", CASH_DESCRIPTION, 0, cash))
    total = sum((r[5] for r in rows), Fraction(0))  # the fund, exactly
    return pd.DataFrame(
        {
            "ticker": pd.Series([r[0] for r in rows], dtype=object),
            "identifier": pd.Series([r[1] for r in rows], dtype=object),
            "identifier_type": pd.Series([r[2] for r in rows], dtype=object),
            "description": pd.Series([r[3] for r in rows], dtype=object),
            "shares": pd.Series([r[4] for r in rows], dtype=np.int64),
            "market_value_usd": pd.Series([float(r[5]) for r in rows], dtype=float),
            "weight": pd.Series([float(r[5] / total) for r in rows], dtype=float),
        },
        columns=list(HOLDINGS_COLUMNS),
    )
