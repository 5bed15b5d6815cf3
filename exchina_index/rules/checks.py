"""Single values checked the same way everywhere they enter: a fund size (:func:`check_aum`) and
a solver name (:func:`solver_problem`), shared by the rulebook, the specs, the API and the command
line.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import math
import numbers
from typing import Any

import pycountry

from exchina_index.errors import InputError, short_repr
from exchina_index.rules.sections import MAX_AUM_USD

__all__ = ["check_aum", "solver_problem", "SOLVER_MODULES", "PRICE_UNITS", "is_iso_currency", "currency_problem"]

#: Quote units that differ from the ISO currency: unit -> (currency, divisor).
PRICE_UNITS: dict[str, tuple[str, int]] = {"GBp": ("GBP", 100), "GBX": ("GBP", 100), "ZAc": ("ZAR", 100)}

#: The solvers the optimizer can use (cvxpy names that solve quadratic programs) -> their Python
#: module. ``optimizer.solver`` and ``optimizer.fallback_solvers`` must name installed ones.
SOLVER_MODULES: dict[str, str] = {
    "CLARABEL": "clarabel",
    "SCS": "scs",
    "OSQP": "osqp",
    "ECOS": "ecos",
    "CVXOPT": "cvxopt",
    "MOSEK": "mosek",
    "GUROBI": "gurobipy",
    "CPLEX": "cplex",
    "XPRESS": "xpress",
    "COPT": "coptpy",
    "PIQP": "piqp",
    "PROXQP": "proxsuite",
    "DAQP": "daqp",
    "QOCO": "qoco",
    "HIGHS": "highspy",
    "KNITRO": "knitro",
}


def check_aum(value: Any, what: str = "AUM") -> float:
    """A fund size in USD as a float: a positive finite number up to :data:`MAX_AUM_USD`.

    Numbers (not booleans) and numeric text (``"250e6"``, ``"250_000_000"``, ``"250,000,000"``)
    are accepted, so the command line and the API share one rule.

    Raises
    ------
    InputError
        Not a number, not positive, not finite or above :data:`MAX_AUM_USD`; the message names
        ``what`` and the value.

    Examples
    --------
    >>> check_aum("250_000_000")
    250000000.0
    """
    shown = short_repr(value)
    if isinstance(value, str):
        try:
            x = float(value.strip().replace("_", "").replace(",", ""))
        except ValueError:
            raise InputError(f"{what} must be an amount in USD (e.g. 250e6), got {shown}") from None
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    else:
        raise InputError(f"{what} must be an amount in USD (e.g. 250e6), got {shown}")
    if not (math.isfinite(x) and 0 < x <= MAX_AUM_USD):
        raise InputError(
            f"{what} must be a positive amount in USD up to {MAX_AUM_USD:.0e} (USD 10 trillion), got {shown}"
        )
    return x


def solver_problem(name: Any) -> str | None:
    """Why ``name`` cannot be used as a solver (misspelt, not a QP solver, not installed), or None.

    The optimizer needs a solver of quadratic programs known to cvxpy (:data:`SOLVER_MODULES`)
    whose Python package is installed; a misspelt name used to be skipped silently in favour of
    the fallback.

    Examples
    --------
    >>> solver_problem("CLARABEL") is None
    True
    >>> print(solver_problem("CLARABLE"))  # doctest: +ELLIPSIS
    unknown solver 'CLARABLE'; did you mean 'CLARABEL'? installed: CLARABEL...
    """
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a solver name; use one of {', '.join(_usable())}"
    if name not in SOLVER_MODULES:
        close = difflib.get_close_matches(name.upper(), list(SOLVER_MODULES), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown solver '{name}'; {hint}installed: {', '.join(_usable())}"
    if not _installed(SOLVER_MODULES[name]):
        return (
            f"solver '{name}' is not installed (pip install {SOLVER_MODULES[name]}); installed: {', '.join(_usable())}"
        )
    return None


@functools.cache
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _usable() -> list[str]:
    return [s for s, mod in SOLVER_MODULES.items() if _installed(mod)]


def is_iso_currency(code: str) -> bool:
    """An ISO 4217 code in capitals (pycountry alone would also match ``'eur'``)."""
    return len(code) == 3 and code.isupper() and pycountry.currencies.get(alpha_3=code) is not None


def currency_problem(code: Any) -> str | None:
    """Why ``code`` is not an ISO 4217 currency code in capitals, or ``None`` when it is one.

    Shared by the spec's ``currencies`` key and
    :func:`~exchina_index.simulation.currency.currency_levels`, so both refuse the same values.

    Examples
    --------
    >>> currency_problem("EUR") is None
    True
    >>> currency_problem("GBp")
    "'GBp' is a quote unit (1/100 of GBP), not a currency: write 'GBP'"
    """
    if not isinstance(code, str):
        return f"must be a 3-letter ISO 4217 currency code such as 'EUR', got {short_repr(code)}"
    if code in PRICE_UNITS:
        whole, divisor = PRICE_UNITS[code]
        return f"'{code}' is a quote unit (1/{divisor} of {whole}), not a currency: write '{whole}'"
    if is_iso_currency(code):
        return None
    if is_iso_currency(code.upper()):
        return f"{short_repr(code)} must be written in capitals: '{code.upper()}'"
    return f"{short_repr(code)} is not an ISO 4217 currency code (3 capital letters such as 'EUR')"
