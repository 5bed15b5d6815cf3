from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchina_index.errors import InputError
from exchina_index.rules.spec import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_bundled_specs_parse() -> None:
    demo = load_spec(REPO / "backtests" / "allied_demo.toml")
    assert demo.source == "demo" and demo.benchmark_kind == "universe_cap_weighted" and demo.aum == 250e6
    live = load_spec(REPO / "backtests" / "allied_yahoo.toml")
    assert live.source == "yahoo" and live.benchmark_ticker == "REMX"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\ncolour=1', "colour"),
        ('name="x"\nsource="demo"\nstart="2020-31-01"\nend="2021-01-01"', "start"),
        ('name="x"\nsource="demo"\nstart="2021-01-01"\nend="2020-01-01"', "end"),
        ('name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\naum=-5', "aum"),
        (
            'name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\n[benchmark]\nkind="ticker"',
            "benchmark.ticker",
        ),
        ('source="demo"\nstart="2020-01-01"\nend="2021-01-01"', "name"),
    ],
)
def test_bad_spec_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=f"'{key}'"):
        load_spec(p)


def test_relative_source_folder_resolves_beside_the_spec(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('name="x"\nsource="prices"\nstart="2020-01-01"\nend="2021-01-01"')
    assert load_spec(p).source == str((tmp_path / "prices").resolve())


BASE = 'name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\n'


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (BASE + "universe=5", "universe", "non-empty string"),
        (BASE + "links=5", "links", "non-empty string"),
        (BASE + 'allow_no_links="yes"', "allow_no_links", "true or false"),
        (BASE + "description=5", "description", "must be a string"),
        (BASE + "aum=inf", "aum", "up to 1e+13"),
        (BASE + "aum=1e30", "aum", "up to 1e+13"),
        (BASE + 'aum="big"', "aum", "amount in USD"),
        (BASE.replace('"2020-01-01"', '"2020-W01-1"'), "start", "ISO date"),
        (BASE.replace('"2020-01-01"', '"20200101"'), "start", "ISO date"),
        (BASE.replace('"2020-01-01"', "20200101"), "start", "ISO date"),
        (BASE.replace('name="x"', 'name="../x"'), "name", "plain folder name"),
        (BASE.replace('name="x"', 'name="."'), "name", "plain folder name"),
        (BASE.replace('name="x"', 'name="a\\\\b"'), "name", "plain folder name"),
        (BASE + "benchmark=5", "benchmark", "must be a table"),
        (BASE + "[benchmark]\nkind=['ticker']", "benchmark.kind", "must be one of"),
        (BASE + "[benchmark]\nkind='ticker'\nticker=5", "benchmark.ticker", "non-empty string"),
        (BASE + "[benchmark]\nkind='none'\nname=5", "benchmark.name", "non-empty string"),
        (BASE + "[benchmark]\nkind='none'\ntickr='REMX'", "benchmark.tickr", "unknown key"),
    ],
)
def test_values_of_the_wrong_type_or_form(tmp_path: Path, text: str, key: str, words: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(InputError, match=re.escape(f"key '{key}'")) as err:
        load_spec(p)
    assert words in str(err.value) and err.value.path == p


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("caps = 5", "key 'caps': expected a table"),
        ("[methodology.caps]\nsingle = 'x'", "key 'caps.single'"),
        ("[methodology.optimizer]\nsolver = 'SCSS'", "did you mean 'SCS'"),
    ],
)
def test_rulebook_overrides_are_validated_when_the_spec_is_read(tmp_path: Path, table: str, words: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(BASE + ("[methodology]\n" if not table.startswith("[") else "") + table)
    with pytest.raises(InputError, match=re.escape(words)) as err:
        load_spec(p)
    assert "[methodology] overrides" in str(err.value) and str(p) in str(err.value)


def test_undecodable_spec(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_bytes(BASE.encode() + b'description = "caf\xe9"\n')
    with pytest.raises(InputError, match="not UTF-8") as err:
        load_spec(p)
    assert err.value.line == 5


def test_toml_dates_universe_links_and_no_links(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'name="x"\nsource="demo"\nstart=2020-01-01\nend=2021-01-01T00:00:00\nuniverse="u/universe.csv"\n'
        'links="/abs/links.csv"\nallow_no_links=true\naum=1e13\n'
    )
    s = load_spec(p)
    assert (s.start, s.end, s.aum) == ("2020-01-01", "2021-01-01", 1e13)
    assert s.universe == str((tmp_path / "u" / "universe.csv").resolve()) and s.links == "/abs/links.csv"
    assert s.allow_no_links is True
    assert load_spec(REPO / "backtests" / "allied_demo.toml").allow_no_links is False
