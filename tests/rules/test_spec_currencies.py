"""The backtest spec's ``currencies`` key: parsed in order, refused with the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchina_index.errors import InputError
from exchina_index.rules.checks import PRICE_UNITS, currency_problem
from exchina_index.rules.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
BASE = 'name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\n'  # 4 lines: the key is on line 5


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_list_of_codes_is_parsed_in_its_order(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, BASE + 'currencies = ["EUR", "GBP", "AUD", "JPY"]\n'))
    assert spec.currencies == ("EUR", "GBP", "AUD", "JPY")
    assert load_spec(_spec(tmp_path, BASE + 'currencies = ["JPY", "USD"]')).currencies == ("JPY", "USD")


def test_absent_or_empty_means_no_currency(tmp_path: Path) -> None:
    assert load_spec(_spec(tmp_path, BASE)).currencies == ()
    assert load_spec(_spec(tmp_path, BASE + "currencies = []")).currencies == ()
    assert load_spec(REPO / "backtests" / "allied_demo.toml").currencies == ("EUR", "GBP", "AUD", "JPY")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"EUR"', 'must be a list such as ["EUR", "GBP"]'),
        ("5", "must be a list"),
        ("{ EUR = 1 }", "must be a list"),
        ('["EUR", 5]', "3-letter ISO 4217 currency code such as 'EUR', got 5"),
        ('[["EUR"]]', "3-letter ISO 4217"),
        ('["eur"]', "'eur' must be written in capitals: 'EUR'"),
        ('["Gbp"]', "capitals: 'GBP'"),
        ('["GBp"]', "'GBp' is a quote unit (1/100 of GBP), not a currency: write 'GBP'"),
        ('["GBX"]', "write 'GBP'"),
        ('["ZAc"]', "write 'ZAR'"),
        ('["EUT"]', "'EUT' is not an ISO 4217 currency code"),
        ('["EURO"]', "not an ISO 4217"),
        ('[""]', "not an ISO 4217"),
        ('["EUR", "GBP", "EUR"]', "'EUR' is listed twice; list each currency once"),
    ],
)
def test_bad_values_are_one_line_errors_naming_file_line_and_key(tmp_path: Path, value: str, words: str) -> None:
    p = _spec(tmp_path, BASE + f"currencies = {value}\n")
    with pytest.raises(InputError) as err:
        load_spec(p)
    message = str(err.value)
    assert err.value.path == p and err.value.line == 5
    assert message.startswith(f"{p}, line 5: key 'currencies': ")
    assert words in message and "\n" not in message


def test_the_line_is_the_keys_line_in_a_longer_spec(tmp_path: Path) -> None:
    text = "# a comment\n" + BASE + 'aum = 1e8\n\n"currencies" = [\n  "EUR",\n  "jpy",\n]\n[benchmark]\nkind = "none"\n'
    with pytest.raises(InputError, match="capitals: 'JPY'") as err:
        load_spec(_spec(tmp_path, text))
    assert err.value.line == 8


def test_the_key_inside_a_table_is_an_unknown_key_of_that_table(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="key 'benchmark.currencies': unknown key"):
        load_spec(_spec(tmp_path, BASE + '[benchmark]\nkind = "none"\ncurrencies = ["EUR"]\n'))


def test_every_quote_unit_of_the_universe_is_refused_with_its_currency() -> None:
    for unit, (currency, _) in PRICE_UNITS.items():
        assert f"write '{currency}'" in str(currency_problem(unit))


def test_currency_problem_accepts_iso_codes_only() -> None:
    assert [currency_problem(c) for c in ("EUR", "GBP", "AUD", "JPY", "USD", "CHF")] == [None] * 6
    assert all(currency_problem(c) is not None for c in ("eur", "GBp", "EUT", "EU", "EURO", None, 3, b"EUR"))
