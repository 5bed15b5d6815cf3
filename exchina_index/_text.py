"""Formatting shared by every layer: percentages, money and the synthetic-data label.

Error messages (construction), notes (data) and pages (publish) format numbers the same way and
label synthetic data with the same words, so they live here, below every layer.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["SYNTHETIC_TAG", "SYNTHETIC_BANNER", "pct", "pct_g", "usd", "usd_short"]

#: The words that mark every output made from the synthetic demo market.
SYNTHETIC_TAG = "SYNTHETIC DEMO DATA"
#: The full banner shown at the top of pages made from the synthetic demo market.
SYNTHETIC_BANNER = (
    f"{SYNTHETIC_TAG} \u2014 not real market prices; these numbers are not the performance of any "
    "real security or index"
)


def pct(x: Any, digits: int = 2) -> str:
    """``x`` as a percentage with ``digits`` decimals; ``"n/a"`` when not finite; no ``-0.00%``.

    >>> pct(0.12345), pct(-1e-9), pct(float("nan")), pct(0.5, 0)
    ('12.35%', '0.00%', 'n/a', '50%')
    """
    x = float("nan") if x is None else float(x)
    if not math.isfinite(x):
        return "n/a"
    s = f"{100 * x:.{digits}f}%"
    return s[1:] if s.startswith("-") and not s.strip("-0.%") else s


def pct_g(x: float, significant: int = 4) -> str:
    """``x`` as a percentage with ``significant`` significant digits (compliance details).

    >>> pct_g(0.123456), pct_g(0.1, 8)
    ('12.35%', '10%')
    """
    return f"{100.0 * x:.{significant}g}%"


def usd(x: Any) -> str:
    """Whole US dollars with thousands separators; ``"unbounded"`` for infinity, ``"n/a"`` for NaN.

    >>> usd(1234567.8), usd(float("inf"))
    ('$1,234,568', 'unbounded')
    """
    x = float(x)
    return "unbounded" if math.isinf(x) else ("n/a" if math.isnan(x) else f"${x:,.0f}")


def usd_short(x: Any) -> str:
    """An amount of USD in three significant digits with k, M or B; ``"n/a"`` when not finite.

    >>> usd_short(4_865_049), usd_short(250e6), usd_short(783_000), usd_short(512.4)
    ('$4.87M', '$250M', '$783k', '$512')
    """
    x = float("nan") if x is None else float(x)
    if not math.isfinite(x):
        return "n/a"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.3g}{unit}"
    return f"${x:,.0f}"
