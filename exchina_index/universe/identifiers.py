"""Security identifiers of a listing: ISIN (ISO 6166) and FIGI (OpenFIGI), checked by their own rules.

Both carry a check digit, so a mistyped identifier is caught here rather than by a vendor's file
that fails to match.
"""

from __future__ import annotations

import pycountry

__all__ = ["isin_problem", "figi_problem"]

_ISIN_PREFIXES_NOT_COUNTRIES = frozenset({"XS", "EU", "XA", "XB", "XC", "XD", "QS", "QT"})
_FIGI_CONSONANTS = frozenset("BCDFGHJKLMNPQRSTVWXYZ")


def _expanded_digits(code: str) -> list[int]:
    """Letters as their two-digit values (A = 10 ... Z = 35), digits as themselves."""
    return [int(d) for ch in code for d in (str(int(ch, 36)) if ch.isalpha() else ch)]


def _luhn_check_digit(digits: list[int]) -> int:
    """The digit that makes ``digits`` + it pass the Luhn test (double every second digit from the right)."""
    total = 0
    for k, d in enumerate(reversed(digits)):
        if k % 2 == 0:
            d *= 2
        total += d // 10 + d % 10
    return (10 - total % 10) % 10


def _figi_check_digit(body: str) -> int:
    """FIGI check digit: character values (A = 10 ... Z = 35), every second one doubled, digits summed."""
    total = 0
    for k, ch in enumerate(body):
        v = int(ch, 36) * (2 if k % 2 else 1)
        total += sum(int(d) for d in str(v))
    return (10 - total % 10) % 10


def isin_problem(code: str) -> str | None:
    """What is wrong with ``code`` as an ISIN, or None when it is a well-formed ISIN.

    Examples
    --------
    >>> isin_problem("US0378331005") is None   # Apple
    True
    >>> isin_problem("US0378331006")
    'check digit is 6, expected 5'
    """
    if len(code) != 12 or not code.isascii() or not code.isalnum() or code != code.upper():
        return "must be 12 characters: a 2-letter country code, 9 letters or digits and a check digit"
    prefix = code[:2]
    if not prefix.isalpha() or (
        prefix not in _ISIN_PREFIXES_NOT_COUNTRIES and pycountry.countries.get(alpha_2=prefix) is None
    ):
        return f"prefix {prefix} is not an ISO 3166 country code"
    if not code[11].isdigit():
        return "the last character (check digit) must be a digit"
    expected = _luhn_check_digit(_expanded_digits(code[:11]))
    return None if int(code[11]) == expected else f"check digit is {code[11]}, expected {expected}"


def figi_problem(code: str) -> str | None:
    """What is wrong with ``code`` as a FIGI, or None when it is well formed.

    A FIGI is 12 characters: two consonants (not BS, BM, GG, GB, GH, KY, VG), ``G``, eight consonants
    or digits and a check digit (each character's value, A = 10 ... Z = 35,
    doubled at every second position, digits summed: modulus 10 double-add-double).

    Examples
    --------
    >>> figi_problem("BBG000BLNNH6") is None   # IBM
    True
    """
    if len(code) != 12 or not code.isascii() or not code.isalnum() or code != code.upper():
        return "must be 12 upper-case letters or digits"
    if not (set(code[:2]) <= _FIGI_CONSONANTS) or code[:2] in {"BS", "BM", "GG", "GB", "GH", "KY", "VG"}:
        return f"prefix {code[:2]} is not a FIGI prefix"
    if code[2] != "G" or not all(ch.isdigit() or ch in _FIGI_CONSONANTS for ch in code[3:11]):
        return "the third character must be G and characters 4-11 consonants or digits"
    if not code[11].isdigit():
        return "the last character (check digit) must be a digit"
    expected = _figi_check_digit(code[:11])
    return None if int(code[11]) == expected else f"check digit is {code[11]}, expected {expected}"
