from __future__ import annotations

from pathlib import Path

import pytest

from exchina_index.errors import InputError
from exchina_index.spec import load_spec

REPO = Path(__file__).resolve().parent.parent


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
        ('name="x"\nsource="demo"\nstart="2020-01-01"\nend="2021-01-01"\n[benchmark]\nkind="ticker"', "benchmark.ticker"),
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
