from __future__ import annotations

import random
import string

import pytest

from exchina_index.universe.identifiers import figi_problem, isin_problem


@pytest.mark.parametrize(
    "isin",
    [
        "US0378331005",  # Apple (ISO 6166 worked example)
        "AU0000XVGZA3",  # Treasury Corporation of Victoria bond (ISO 6166 example with letters)
        "GB0002634946",  # BAE Systems
    ],
)
def test_published_isins_pass(isin: str) -> None:
    assert isin_problem(isin) is None


def test_isin_check_digit_by_hand() -> None:
    # US037833100: letters U=30 S=28 -> digits 3 0 2 8 0 3 7 8 3 3 1 0 0; doubling every second digit
    # from the right gives 0+3+0+2+(1+6)+0+7+(1+6)+3+6+1+0+0 = 45 -> check digit (10 - 45 % 10) % 10 = 5
    assert isin_problem("US0378331005") is None
    assert isin_problem("US0378331004") == "check digit is 4, expected 5"


@pytest.mark.parametrize(
    ("code", "part"),
    [
        ("US037833100", "12 characters"),
        ("us0378331005", "12 characters"),
        ("ZZ0378331005", "not an ISO 3166"),
        ("US037833100X", "must be a digit"),
    ],
)
def test_malformed_isins_say_why(code: str, part: str) -> None:
    problem = isin_problem(code)
    assert problem is not None and part in problem


def test_any_single_digit_change_is_caught() -> None:
    # Property of the Luhn check: every single-character substitution among digits is detected.
    base = "US0378331005"
    for k in range(2, 11):
        for d in string.digits:
            if d != base[k]:
                assert isin_problem(base[:k] + d + base[k + 1 :]) is not None


@pytest.mark.parametrize("figi", ["BBG000BLNNH6", "BBG000B9XRY4", "BBG000BPH459"])  # IBM, Apple, Microsoft
def test_published_figis_pass(figi: str) -> None:
    assert figi_problem(figi) is None


def test_figi_rules() -> None:
    assert "check digit" in (figi_problem("BBG000BLNNH7") or "")
    assert "prefix" in (figi_problem("GBG000BLNNH6") or "")  # GB is excluded (would read as an ISIN)
    assert "third character" in (figi_problem("BBX000BLNNH6") or "")
    rng = random.Random(1)
    for _ in range(50):  # a vowel anywhere in characters 4-11 is not a FIGI
        k = rng.randrange(3, 11)
        assert figi_problem("BBG000BLNNH6"[:k] + rng.choice("AEIOU") + "BBG000BLNNH6"[k + 1 :]) is not None
