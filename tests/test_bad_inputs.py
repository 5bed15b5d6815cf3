"""The exit-code contract over a corpus of malformed inputs.

Every bad input to the public API raises one of the package's typed errors (never a raw
AttributeError, TypeError, ValueError or pandas' DateParseError) and emits no warnings; every bad
input to the command line exits 2 with exactly one line on stderr, no traceback, and writes
nothing. The CSV and TOML loaders are fuzzed with random bytes and random cells (hypothesis).
"""

from __future__ import annotations

import io
import math
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2, raises_typed, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exchina_index as xi
from exchina_index._resources import bundled_path
from exchina_index.construction.optimizer import stage_balanced_weights
from exchina_index.data.csv_source import load_csv
from exchina_index.data.status import cache_status
from exchina_index.errors import (
    CacheError,
    DataError,
    ExchinaIndexError,
    InputError,
    MethodologyError,
    ReviewDateError,
    UniverseError,
)
from exchina_index.rules.spec import load_spec

FIXTURES = Path(__file__).parent / "fixtures"
UNIVERSE_CSV = bundled_path("allied_supply_chain.csv")
LINKS_CSV = bundled_path("china_links.csv")
RULEBOOK = bundled_path("methodology.toml")
SPEC = 'name = "s"\nsource = "demo"\nstart = "2025-01-01"\nend = "2025-12-31"\n'


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    u = xi.load_universe()
    return {
        "u": u,
        "m": xi.load_methodology(),
        "mk": xi.load_market_data(u, "demo", start="2024-06-01", end="2026-03-31"),
    }


# --------------------------------------------------------------------------------------------------
# the API
# --------------------------------------------------------------------------------------------------

BAD_DATES = [
    "28/11/2025",
    20251128,
    "20251128",
    "2024-W01-1",
    "2025-W48-5",
    None,
    pd.NaT,
    np.datetime64("NaT"),
    "garbage",
    "",
    2025.5,
    ["2025-11-28"],
    "2025-02-30",
    "1899-12-29",
    "9999-12-31",
    True,
    "2025-11-28T00:00",
    "Nov 28 2025",
    b"2025-11-28",
]

A = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
E = pd.DataFrame({"mining": [1.0, 0.0, 0.5], "refining": [0.0, 1.0, 0.5]}, index=list("ABC"))
T = {"mining": 0.5, "refining": 0.5}
COUNTRIES = pd.Series({"A": "US", "B": "US", "C": "AU"})


def _sbw(**change: Any) -> Callable[[dict], Any]:
    args = {"anchor": A, "stage_exposure": E, "targets": T, "caps": 0.6, **change}
    return lambda w: stage_balanced_weights(**args)


def _prev(values: dict[str, Any]) -> pd.Series:
    return pd.Series(values)


API_CASES: list[tuple[str, type[ExchinaIndexError], Callable[[dict], Any]]] = [
    *[
        (f"build_weights as_of={d!r}", ReviewDateError, lambda w, d=d: xi.build_weights(w["u"], w["mk"], d))
        for d in BAD_DATES
    ],
    ("build_weights universe=5", UniverseError, lambda w: xi.build_weights(5, w["mk"], "2025-11-28")),
    ("build_weights universe=frame", UniverseError, lambda w: xi.build_weights(w["u"].frame, w["mk"], "2025-11-28")),
    ("build_weights market='x'", DataError, lambda w: xi.build_weights(w["u"], "x", "2025-11-28")),
    ("build_weights market=None", DataError, lambda w: xi.build_weights(w["u"], None, "2025-11-28")),
    ("build_weights methodology={}", MethodologyError, lambda w: xi.build_weights(w["u"], w["mk"], "2025-11-28", {})),
    (
        "build_weights methodology=path",
        MethodologyError,
        lambda w: xi.build_weights(w["u"], w["mk"], "2025-11-28", str(RULEBOOK)),
    ),
    *[
        (f"build_weights aum={a!r}", InputError, lambda w, a=a: xi.build_weights(w["u"], w["mk"], "2025-11-28", aum=a))
        for a in ["big", -1, 0, math.inf, math.nan, 1e30, True, [1], "1e30", 1e13 * 1.01]
    ],
    *[
        (
            f"build_weights previous={p!r}"[:60],
            InputError,
            lambda w, p=p: xi.build_weights(w["u"], w["mk"], "2025-11-28", previous=p),
        )
        for p in [
            42,
            "MP",
            [0.5, 0.5],
            {"MP": 1.0},
            _prev({"NOPE": 1.0}),
            _prev({"MP": math.nan}),
            _prev({"MP": -0.1}),
            _prev({"MP": math.inf}),
            _prev({"MP": "x"}),
            pd.Series([0.5, 0.5], index=["MP", "MP"]),
        ]
    ],
    (
        "build_weights optimizer='x'",
        InputError,
        lambda w: xi.build_weights(w["u"], w["mk"], "2025-11-28", optimizer="x"),
    ),
    *[(f"screen as_of={d!r}", ReviewDateError, lambda w, d=d: xi.screen(w["u"], d)) for d in BAD_DATES],
    ("screen universe=5", UniverseError, lambda w: xi.screen(5, "2025-11-28")),
    ("screen universe=path", UniverseError, lambda w: xi.screen(str(UNIVERSE_CSV), "2025-11-28")),
    ("screen methodology={}", MethodologyError, lambda w: xi.screen(w["u"], "2025-11-28", {})),
    ("screen market='x'", DataError, lambda w: xi.screen(w["u"], "2025-11-28", market="x")),
    ("screen previous=5", InputError, lambda w: xi.screen(w["u"], "2025-11-28", market=w["mk"], previous=5)),
    ("screen previous='MP'", InputError, lambda w: xi.screen(w["u"], "2025-11-28", market=w["mk"], previous="MP")),
    ("load_universe path=5", UniverseError, lambda w: xi.load_universe(5)),
    ("load_universe links=5", UniverseError, lambda w: xi.load_universe(None, 5)),
    ("load_universe path={}", UniverseError, lambda w: xi.load_universe({})),
    ("load_universe allow_no_links='yes'", UniverseError, lambda w: xi.load_universe(allow_no_links="yes")),
    ("load_universe folder", UniverseError, lambda w: xi.load_universe(FIXTURES)),
    ("load_universe missing", UniverseError, lambda w: xi.load_universe(FIXTURES / "nope.csv")),
    ("load_universe links missing", UniverseError, lambda w: xi.load_universe(None, FIXTURES / "nope.csv")),
    ("load_universe path=''", UniverseError, lambda w: xi.load_universe("")),
    ("load_universe path with NUL", UniverseError, lambda w: xi.load_universe("u\x00.csv")),
    ("load_universe links with NUL", UniverseError, lambda w: xi.load_universe(None, "l\x00.csv")),
    ("load_methodology path with NUL", MethodologyError, lambda w: xi.load_methodology("m\x00.toml")),
    ("load_spec path=5", InputError, lambda w: load_spec(5)),
    ("load_spec path with NUL", InputError, lambda w: load_spec("s\x00.toml")),
    ("load_spec folder", InputError, lambda w: load_spec(FIXTURES)),
    ("load_methodology path=5", MethodologyError, lambda w: xi.load_methodology(5)),
    ("load_methodology path={}", MethodologyError, lambda w: xi.load_methodology({})),
    ("load_methodology folder", MethodologyError, lambda w: xi.load_methodology(FIXTURES)),
    ("load_methodology a CSV", MethodologyError, lambda w: xi.load_methodology(UNIVERSE_CSV)),
    *[
        (f"with_overrides {o!r}"[:70], MethodologyError, lambda w, o=o: w["m"].with_overrides(o))
        for o in [
            5,
            "caps.single=0.1",
            {"caps": 5},
            {5: 1},
            {"caps": {"country": {5: 0.1}}},
            {"optimizer": {"solver": "CLARABLE"}},
            {"optimizer": {"solver": "clarabel"}},
            {"optimizer": {"fallback_solvers": ["SCSS"]}},
            {"optimizer": {"fallback_solvers": "SCS"}},
            {"optimizer": {"solver": "MOSEK_NOT_A_SOLVER"}},
            {"optimizer": {"turnover_penalty": math.inf}},
            {"costs": {"commission_bps": 1e308}},
            {"costs": {"half_spread_bps": [5.0, 15.0, 30.0, 1e308]}},
            {"costs": {"spread_tier_floors_usd": [math.inf, 5e6, 1e6, 0]}},
            {"liquidity": {"default_aum_usd": math.inf}},
            {"liquidity": {"default_aum_usd": 1e30}},
            {"liquidity": {"capacity_aum_levels_usd": [1e30]}},
            {"liquidity": {"days_to_trade": 1e308}},
            {"size": {"adtv_window_sessions": 10**12}},
            {"size": {"market_cap_entry_usd": math.inf}},
            {"caps": {"single": math.nan}},
            {"caps": {"single": "8%"}},
            {"caps": {"single": 10**400}},
            {"caps": {"single": None}},
            {"caps": {"country": {"US": "x"}}},
            {"caps": {"country": "US"}},
            {"stages": {"targets": "x"}},
            {"stages": {"targets": [0.5, 0.5, math.nan]}},
            {"schedule": {"months": [12, 3]}},
            {"schedule": {"months": [3, 3, 6]}},
            {"schedule": {"months": []}},
            {"schedule": {"calendar": "NYSE"}},
            {"schedule": {"weekday": 5}},
            {"regulatory": {"mode": ["ric"]}},
            {"regulatory": {"mode": np.array([1])}},
            {"withholding": {"as_of": "20250101"}},
            {"withholding": {"as_of": "2025-W01-1"}},
            {"withholding": {"rates": {"XX": 0.1}}},
            {"anchor": {"use_float_factor": "yes"}},
            {"countries": {"eligible_sets": ["nato"]}},
        ]
    ],
    ("load_market_data universe=5", DataError, lambda w: xi.load_market_data(5, "demo")),
    ("load_market_data universe='x'", DataError, lambda w: xi.load_market_data("x", "demo")),
    (
        "load_market_data universe=frame without columns",
        DataError,
        lambda w: xi.load_market_data(w["u"].frame[["name"]], "demo"),
    ),
    ("load_market_data source=5", DataError, lambda w: xi.load_market_data(w["u"], 5)),
    ("load_market_data source=None", DataError, lambda w: xi.load_market_data(w["u"], None)),
    ("load_market_data source='nope'", DataError, lambda w: xi.load_market_data(w["u"], "nope")),
    *[
        (f"load_market_data start={d!r}", ReviewDateError, lambda w, d=d: xi.load_market_data(w["u"], "demo", start=d))
        for d in BAD_DATES
        if d is not None
    ],
    (
        "load_market_data end before start",
        ReviewDateError,
        lambda w: xi.load_market_data(w["u"], "demo", start="2025-01-01", end="2024-01-01"),
    ),
    ("load_market_data cache_dir=5", DataError, lambda w: xi.load_market_data(w["u"], "demo", cache_dir=5)),
    ("load_market_data colour=1", DataError, lambda w: xi.load_market_data(w["u"], "demo", colour=1)),
    ("load_csv path=5", DataError, lambda w: load_csv(w["u"], 5)),
    ("cache_status universe=5", DataError, lambda w: cache_status(5)),
    ("cache_status cache_dir=file", CacheError, lambda w: cache_status(w["u"], UNIVERSE_CSV)),
    ("cache_status cache_dir=5", CacheError, lambda w: cache_status(w["u"], 5)),
    ("sbw anchor list", InputError, _sbw(anchor=[0.5, 0.3, 0.2])),
    ("sbw anchor NaN", InputError, _sbw(anchor=A.replace(0.2, math.nan))),
    ("sbw anchor negative", InputError, _sbw(anchor=A.replace(0.2, -1.0))),
    ("sbw anchor inf", InputError, _sbw(anchor=A.replace(0.2, math.inf))),
    ("sbw anchor text", InputError, _sbw(anchor=pd.Series({"A": "x", "B": 0.3, "C": 0.2}))),
    ("sbw anchor duplicate", InputError, _sbw(anchor=pd.Series([0.5, 0.5], index=["A", "A"]))),
    ("sbw anchor empty", InputError, _sbw(anchor=pd.Series(dtype=float))),
    ("sbw exposure misaligned", InputError, _sbw(stage_exposure=E.set_axis(list("XYZ")))),
    ("sbw exposure text", InputError, _sbw(stage_exposure=E.astype(object).where(E != 1.0, "x"))),
    ("sbw exposure dict", InputError, _sbw(stage_exposure={"mining": [1.0]})),
    ("sbw exposure wrong stages", InputError, _sbw(stage_exposure=E.rename(columns={"mining": "digging"}))),
    ("sbw exposure row sum", InputError, _sbw(stage_exposure=E * 0.5)),
    ("sbw targets sum", InputError, _sbw(targets={"mining": 0.5, "refining": 0.7})),
    ("sbw targets list", InputError, _sbw(targets=[0.5, 0.5])),
    ("sbw targets text", InputError, _sbw(targets={"mining": "a", "refining": 0.5})),
    ("sbw targets None", InputError, _sbw(targets=None)),
    ("sbw targets NaN", InputError, _sbw(targets={"mining": math.nan, "refining": 0.5})),
    ("sbw caps text", InputError, _sbw(caps="big")),
    ("sbw caps NaN", InputError, _sbw(caps=math.nan)),
    ("sbw caps None", InputError, _sbw(caps=None)),
    ("sbw caps bool", InputError, _sbw(caps=pd.Series({"A": True, "B": "x", "C": None}))),
    ("sbw caps negative", InputError, _sbw(caps=-0.1)),
    ("sbw caps Series text", InputError, _sbw(caps=pd.Series({"A": "x", "B": 0.5, "C": 0.5}))),
    ("sbw stage_tolerance text", InputError, _sbw(stage_tolerance="x")),
    ("sbw stage_tolerance None", InputError, _sbw(stage_tolerance=None)),
    ("sbw stage_tolerance negative", InputError, _sbw(stage_tolerance=-0.1)),
    ("sbw stage_tolerance inf", InputError, _sbw(stage_tolerance=math.inf)),
    ("sbw issuer_cap text", InputError, _sbw(issuer_cap="x")),
    ("sbw issuer_cap 0", InputError, _sbw(issuer_cap=0)),
    ("sbw issuers list", InputError, _sbw(issuers=["a", "b", "c"])),
    ("sbw countries list", InputError, _sbw(countries=["US", "US", "AU"])),
    ("sbw country_caps text", InputError, _sbw(countries=COUNTRIES, country_caps="x")),
    ("sbw country_caps mapping text", InputError, _sbw(countries=COUNTRIES, country_caps={"US": "x"})),
    ("sbw country_caps without countries", InputError, _sbw(country_caps=0.5)),
    ("sbw previous 42", InputError, _sbw(previous=42, turnover_penalty=0.1)),
    ("sbw previous NaN", InputError, _sbw(previous=A.replace(0.2, math.nan), turnover_penalty=0.1)),
    ("sbw turnover text", InputError, _sbw(turnover_penalty="x")),
    ("sbw turnover negative", InputError, _sbw(previous=A, turnover_penalty=-1.0)),
    ("sbw min_weight text", InputError, _sbw(min_weight="x")),
    ("sbw solver typo", InputError, _sbw(solver="CLARABLE")),
    ("sbw fallback typo", InputError, _sbw(fallback_solvers=("SCSS",))),
    ("sbw fallback a string", InputError, _sbw(fallback_solvers="SCS")),
    ("sbw regulatory text", InputError, _sbw(regulatory="ric")),
    *[
        (f"backtest start={d!r}", ReviewDateError, lambda w, d=d: xi.backtest(w["u"], w["mk"], start=d))
        for d in BAD_DATES
        if d is not None
    ],
    (
        "backtest end before start",
        ReviewDateError,
        lambda w: xi.backtest(w["u"], w["mk"], start="2025-06-01", end="2025-01-01"),
    ),
    ("backtest universe=5", UniverseError, lambda w: xi.backtest(5, w["mk"])),
    ("backtest market='x'", DataError, lambda w: xi.backtest(w["u"], "x")),
    ("backtest methodology={}", MethodologyError, lambda w: xi.backtest(w["u"], w["mk"], {})),
    *[
        (f"backtest aum={a!r}", InputError, lambda w, a=a: xi.backtest(w["u"], w["mk"], aum=a))
        for a in ["big", math.inf, 1e30, -5]
    ],
    ("backtest progress=5", InputError, lambda w: xi.backtest(w["u"], w["mk"], progress=5)),
    *[
        (
            f"review_dates start={d!r}",
            ReviewDateError,
            lambda w, d=d: xi.review_dates(xi.load_methodology(), d, "2026-12-31"),
        )
        for d in BAD_DATES
    ],
    ("review_dates methodology={}", MethodologyError, lambda w: xi.review_dates({}, "2025-01-01", "2025-12-31")),
    *[
        (f"market view as_of={d!r}", ReviewDateError, lambda w, d=d: w["mk"].close_usd(as_of=d))
        for d in BAD_DATES
        if d is not None
    ],
    ("truncate before the data", DataError, lambda w: w["mk"].truncate("2010-01-01")),
]


@pytest.mark.parametrize(("expected", "call"), [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input_raises_a_typed_error(world: dict, expected: type[ExchinaIndexError], call: Callable) -> None:
    raises_typed(lambda: call(world), expected)


REBALANCE_CASES: list[tuple[str, type[ExchinaIndexError], dict[str, Any]]] = [
    *[(f"as_of={d!r}", ReviewDateError, {"as_of": d}) for d in BAD_DATES],
    ("universe=5", UniverseError, {"universe": 5}),
    ("market='x'", DataError, {"market": "x"}),
    ("methodology={}", MethodologyError, {"methodology": {}}),
    *[(f"aum={a!r}", InputError, {"aum": a}) for a in ["big", math.inf, 1e30, -1, 0]],
    ("previous=42", InputError, {"previous": 42}),
    ("previous=unknown ticker", InputError, {"previous": pd.Series({"NOPE": 1.0})}),
    ("force='yes'", InputError, {"force": "yes"}),
    ("previous=missing file", InputError, {"previous": FIXTURES / "no_such_portfolio.csv"}),
    ("previous=a field over the csv limit", InputError, {"previous": "OVERSIZED"}),
    ("command_line=5", InputError, {"command_line": 5}),
]


@pytest.mark.parametrize(("expected", "change"), [c[1:] for c in REBALANCE_CASES], ids=[c[0] for c in REBALANCE_CASES])
def test_rebalance_bad_input_raises_a_typed_error_and_writes_nothing(
    world: dict, tmp_path: Path, expected: type[ExchinaIndexError], change: dict
) -> None:
    args = {"universe": world["u"], "market": world["mk"], "as_of": "2025-12-19", "out": tmp_path / "out", **change}
    if (
        isinstance(args.get("previous"), str) and args["previous"] == "OVERSIZED"
    ):  # an unclosed quote swallowing the rest of the file
        args["previous"] = _write(tmp_path / "prev.csv", 'ticker,weight\n"LYC.AX,' + "x" * 200_000 + "\n")
    raises_typed(lambda: xi.rebalance(**args), expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("out", [5, None, b"out", "out\x00"])
def test_rebalance_out_that_is_not_a_path(world: dict, out: object) -> None:
    raises_typed(lambda: xi.rebalance(world["u"], world["mk"], "2025-12-19", out=out), xi.OutputError)


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _universe_copy(folder: Path, *, links: str | bytes | None = None, universe: str | bytes | None = None) -> Path:
    """The bundled universe copied into ``folder``, with its links file as given (None: no file)."""
    u = _write(folder / "u.csv", UNIVERSE_CSV.read_text() if universe is None else universe)
    if links is not None:
        _write(folder / "china_links.csv", links)
    return u


BINARY = bytes(range(128, 256)) * 4
LONG_FIELD = "x" * 140_000
RULEBOOK_EDITS = [
    ("commission_bps = 1e308", "commission_bps = 2.0", "commission_bps = 1e308", "costs.commission_bps"),
    (
        "half_spread 1e308",
        "half_spread_bps = [5.0, 15.0, 30.0, 60.0]",
        "half_spread_bps = [5.0, 15.0, 30.0, 1e308]",
        "costs.half_spread_bps",
    ),
    ("default_aum inf", "default_aum_usd = 250_000_000", "default_aum_usd = inf", "liquidity.default_aum_usd"),
    ("default_aum 1e30", "default_aum_usd = 250_000_000", "default_aum_usd = 1e30", "liquidity.default_aum_usd"),
    ("solver typo", 'solver = "CLARABEL"', 'solver = "CLARABLE"', "did you mean 'CLARABEL'"),
    ("fallback typo", 'fallback_solvers = ["SCS"]', 'fallback_solvers = ["SCSS"]', "did you mean 'SCS'"),
    ("months unordered", "months = [3, 6, 9, 12]", "months = [12, 3]", "schedule.months"),
    ("unknown calendar", 'calendar = "XNYS"', 'calendar = "NYSE"', "schedule.calendar"),
    ("withholding date", 'as_of = "2026-12-02"', 'as_of = "20261202"', "withholding.as_of"),
    (
        "stake kind that is no shareholding",
        'stake_kinds = ["state_linked_shareholder", "chinese_shareholder"]',
        'stake_kinds = ["state_linked_shareholder", "control"]',
        "china.stake_kinds",
    ),
    ("single cap text", "single = 0.08", 'single = "8%"', "caps.single"),
]


def _rulebook(tmp: Path, old: str, new: str) -> Path:
    text = RULEBOOK.read_text()
    assert old in text, old
    return _write(tmp / "methodology.toml", text.replace(old, new, 1))


@pytest.mark.parametrize(("old", "new", "word"), [e[1:] for e in RULEBOOK_EDITS], ids=[e[0] for e in RULEBOOK_EDITS])
def test_cli_bad_rulebook_is_one_line_exit_2(tmp_path: Path, old: str, new: str, word: str) -> None:
    p = _rulebook(tmp_path, old, new)
    assert_one_line_exit_2(
        ["weights", "--as-of", "2025-11-28", "--methodology", str(p), "--out", str(tmp_path / "w.csv")], str(p), word
    )
    assert not (tmp_path / "w.csv").exists()


UNIVERSE_FILES = [
    # (id, universe text or None for the bundled one's, links text or None for no file, words)
    ("no links file", None, None, ("china_links.csv", "does not exist", "--no-china-links")),
    ("empty links file", None, "", ("holds no China links",)),
    ("links header only", None, LINKS_CSV.read_text().splitlines()[0] + "\n", ("holds no China links",)),
    ("links comments only", None, "# nothing yet\n", ("holds no China links",)),
    (
        "long field in universe",
        UNIVERSE_CSV.read_text().replace("Lynas", LONG_FIELD, 1),
        LINKS_CSV.read_text(),
        ("u.csv", "longer than"),
    ),
    (
        "long field in links",
        None,
        LINKS_CSV.read_text().replace("2024", LONG_FIELD + "2024", 1),
        ("china_links.csv", "longer than"),
    ),
    (
        "unclosed quote in universe",
        UNIVERSE_CSV.read_text().replace("Lynas", '"Lynas', 1),
        LINKS_CSV.read_text(),
        ("u.csv",),
    ),
    ("binary universe", BINARY, LINKS_CSV.read_text(), ("u.csv", "line 1", "not UTF-8")),
    ("binary links", None, BINARY, ("china_links.csv", "not UTF-8")),
    (
        "latin-1 universe",
        UNIVERSE_CSV.read_text().replace("Lynas", "Lyn\u00e4s", 1).encode("latin-1", "replace"),
        LINKS_CSV.read_text(),
        ("u.csv", "not UTF-8"),
    ),
    (
        "compact date in universe",
        re.sub(r",(\d{4})-(\d{2})-(\d{2}),", r",\1\2\3,", UNIVERSE_CSV.read_text(), count=1),
        LINKS_CSV.read_text(),
        ("u.csv", "column 'listed_since'", "ISO date"),
    ),
    (
        "ISO week date in links",
        None,
        re.sub(r",(\d{4})-\d{2}-\d{2},", r",\1-W47-2,", LINKS_CSV.read_text(), count=1),
        ("china_links.csv", "column 'from'", "ISO date"),
    ),
]


@pytest.mark.parametrize(
    ("universe", "links", "words"), [c[1:] for c in UNIVERSE_FILES], ids=[c[0] for c in UNIVERSE_FILES]
)
@pytest.mark.parametrize("command", ["validate", "show", "weights"])
def test_cli_bad_universe_files_are_one_line_exit_2(
    tmp_path: Path, universe: Any, links: Any, words: tuple, command: str
) -> None:
    u = _universe_copy(tmp_path / "in", universe=universe, links=links)
    argv = {
        "validate": ["universe", "validate", "--universe", str(u)],
        "show": ["universe", "show", "--universe", str(u), "--as-of", "2025-09-25"],
        "weights": ["weights", "--universe", str(u), "--as-of", "2025-11-28", "--out", str(tmp_path / "w.csv")],
    }
    assert_one_line_exit_2(argv[command], *words)
    if command == "weights":
        assert not (tmp_path / "w.csv").exists()


def test_cli_universe_and_links_with_a_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    u = _write(tmp_path / "u.csv", "\ufeff" + UNIVERSE_CSV.read_text())
    _write(tmp_path / "china_links.csv", "\ufeff" + LINKS_CSV.read_text())
    code, out, err = run_cli(["universe", "validate", "--universe", str(u)])
    bundled = xi.load_universe()
    assert code == 0 and f"universe OK: {len(bundled.frame)} listings" in out, err
    assert f"{len(bundled.links)} China links" in out


def test_cli_aum_beyond_the_bound_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    for aum in ("1e30", "inf", "-5", "abc", "1.1e13", "nan"):
        for argv in (
            ["rebalance", "--as-of", "2025-12-19", "--out", str(tmp_path / "rb")],
            ["weights", "--as-of", "2025-11-28", "--out", str(tmp_path / "w.csv")],
        ):
            err = assert_one_line_exit_2([*argv, "--aum", aum])
            assert "aum" in err.lower(), err
    assert not (tmp_path / "rb").exists() and not (tmp_path / "w.csv").exists()


def test_cli_data_status_on_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    f = _write(tmp_path / "cache", "not a folder")
    assert_one_line_exit_2(["data", "status", "--cache-dir", str(f)], str(f), "not a folder")


SPEC_CASES = [
    ("universe = 5", SPEC + "universe = 5\n", "'universe'"),
    ("universe empty", SPEC + 'universe = ""\n', "'universe'"),
    ("links = 5", SPEC + "links = 5\n", "'links'"),
    ("allow_no_links text", SPEC + 'allow_no_links = "yes"\n', "'allow_no_links'"),
    ("description = 5", SPEC + "description = 5\n", "'description'"),
    ("name = 5", SPEC.replace('name = "s"', "name = 5"), "'name'"),
    ("name with a slash", SPEC.replace('name = "s"', 'name = "a/b"'), "'name'"),
    ("name ..", SPEC.replace('name = "s"', 'name = ".."'), "'name'"),
    ("name hidden", SPEC.replace('name = "s"', 'name = ".s"'), "'name'"),
    ("name backslash", SPEC.replace('name = "s"', 'name = "a\\\\b"'), "'name'"),
    ("source = 5", SPEC.replace('source = "demo"', "source = 5"), "'source'"),
    ("start ISO week", SPEC.replace("2025-01-01", "2024-W01-1"), "'start'"),
    ("start compact", SPEC.replace("2025-01-01", "20250101"), "'start'"),
    ("start day first", SPEC.replace("2025-01-01", "01/01/2025"), "'start'"),
    ("start a number", SPEC.replace('"2025-01-01"', "20250101"), "'start'"),
    ("start a time", SPEC.replace('"2025-01-01"', "10:00:00"), "'start'"),
    ("start year 1", SPEC.replace('"2025-01-01"', "0001-01-01"), "'start'"),
    ("end before start", SPEC.replace("2025-12-31", "2024-12-31"), "'end'"),
    ("end missing", SPEC.replace('end = "2025-12-31"\n', ""), "'end'"),
    ("aum inf", SPEC + "aum = inf\n", "'aum'"),
    ("aum nan", SPEC + "aum = nan\n", "'aum'"),
    ("aum 1e30", SPEC + "aum = 1e30\n", "'aum'"),
    ("aum text", SPEC + 'aum = "big"\n', "'aum'"),
    ("aum bool", SPEC + "aum = true\n", "'aum'"),
    ("benchmark = 5", SPEC + "benchmark = 5\n", "'benchmark'"),
    ("benchmark kind = 5", SPEC + "[benchmark]\nkind = 5\n", "'benchmark.kind'"),
    ("benchmark kind list", SPEC + "[benchmark]\nkind = ['ticker']\n", "'benchmark.kind'"),
    ("benchmark ticker = 5", SPEC + "[benchmark]\nkind = 'ticker'\nticker = 5\n", "'benchmark.ticker'"),
    ("benchmark ticker missing", SPEC + "[benchmark]\nkind = 'ticker'\n", "'benchmark.ticker'"),
    ("benchmark name = 5", SPEC + "[benchmark]\nkind = 'none'\nname = 5\n", "'benchmark.name'"),
    ("benchmark unknown key", SPEC + "[benchmark]\nkind = 'none'\ncolour = 1\n", "'benchmark.colour'"),
    ("methodology = 5", SPEC + "methodology = 5\n", "'methodology'"),
    ("methodology caps = 5", SPEC + "[methodology]\ncaps = 5\n", "'caps'"),
    ("methodology single text", SPEC + "[methodology.caps]\nsingle = 'x'\n", "'caps.single'"),
    ("methodology unknown key", SPEC + "[methodology.caps]\nsingel = 0.1\n", "did you mean 'caps.single'"),
    ("methodology solver typo", SPEC + "[methodology.optimizer]\nsolver = 'SCSS'\n", "did you mean 'SCS'"),
    ("methodology commission", SPEC + "[methodology.costs]\ncommission_bps = 1e308\n", "'costs.commission_bps'"),
    ("unknown key", SPEC + "colour = 1\n", "'colour'"),
    ("binary spec", BINARY, "not UTF-8"),
    ("not TOML", "name = \n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "word"), [c[1:] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
@pytest.mark.parametrize("command", ["backtest", "tearsheet"])
def test_cli_bad_spec_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, text: Any, word: str, command: str) -> None:
    spec = _write(tmp_path / "spec" / "s.toml", text)
    out = tmp_path / "out"
    assert_one_line_exit_2([command, str(spec), "--out", str(out)], str(spec), word)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["spec"]
    assert sorted(p.name for p in spec.parent.iterdir()) == ["s.toml"]  # no output/ folder beside the spec


def test_cli_spec_source_folder_that_does_not_exist(tmp_path: Path) -> None:
    spec = _write(tmp_path / "spec" / "s.toml", SPEC.replace('source = "demo"', 'source = "no_such_folder"'))
    assert_one_line_exit_2(["backtest", str(spec), "--out", str(tmp_path / "out")], str(spec.parent / "no_such_folder"))
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def price_folder(tmp_path_factory: pytest.TempPathFactory, world: dict) -> Path:
    """The demo market of the bundled universe written as a CSV folder (2024-06 to 2026-03)."""
    m, f = world["mk"], world["u"].frame
    folder = tmp_path_factory.mktemp("prices")
    for t in m.tickers:
        rows = m.close[t].notna()
        if not rows.any():
            continue
        unit = 100.0 if f.at[t, "price_unit"] == "GBp" else 1.0
        pd.DataFrame(
            {
                "date": m.close.index[rows].strftime("%Y-%m-%d"),
                "close": (m.close[t][rows] * unit).map(repr),
                "volume": m.volume[t][rows].map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
                "dividend": (m.dividends[t][rows] * unit).map(repr),
                "shares": m.shares[t][rows].map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
            }
        ).to_csv(folder / f"{t}.csv", index=False)
    fx = m.fx.drop(columns="USD")
    fx.index = fx.index.strftime("%Y-%m-%d")
    fx.rename_axis("date").to_csv(folder / "fx.csv")
    return folder


def _edit_cell(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


PRICE_EDITS = [
    # (id, file, line, column, value, words)
    ("close 1e300", "LYC.AX.csv", 10, "close", "1e300", ("LYC.AX.csv", "line 10", "column 'close'")),
    ("close 1e-300", "LYC.AX.csv", 10, "close", "1e-300", ("line 10", "column 'close'")),
    ("close negative", "LYC.AX.csv", 10, "close", "-3", ("line 10", "column 'close'")),
    ("close inf", "LYC.AX.csv", 10, "close", "inf", ("line 10", "column 'close'")),
    ("close hex", "LYC.AX.csv", 10, "close", "0x10", ("line 10", "column 'close'")),
    ("volume 1e300", "MP.csv", 5, "volume", "1e300", ("MP.csv", "line 5", "column 'volume'")),
    ("volume negative", "MP.csv", 5, "volume", "-1", ("line 5", "column 'volume'")),
    ("shares 1e300", "MP.csv", 5, "shares", "1e300", ("line 5", "column 'shares'")),
    ("shares 0.5", "MP.csv", 5, "shares", "0.5", ("line 5", "column 'shares'")),
    ("dividend 1e300", "MP.csv", 5, "dividend", "1e300", ("line 5", "column 'dividend'")),
    ("dividend NaN text", "MP.csv", 5, "dividend", "lots", ("line 5", "column 'dividend'")),
    ("fx 1e300", "fx.csv", 6, "AUD", "1e300", ("fx.csv", "line 6", "column 'AUD'")),
    ("fx 1e-300", "fx.csv", 6, "AUD", "1e-300", ("fx.csv", "line 6", "column 'AUD'")),
    ("fx negative", "fx.csv", 6, "AUD", "-0.6", ("fx.csv", "line 6", "column 'AUD'")),
    ("date year 9999", "MP.csv", 5, "date", "9999-01-04", ("line 5", "column 'date'")),
    ("date year 1", "MP.csv", 5, "date", "0001-01-04", ("line 5", "column 'date'")),
    ("date day first", "MP.csv", 5, "date", "04/01/2025", ("line 5", "column 'date'")),
    ("long field", "MP.csv", 5, "close", LONG_FIELD, ("MP.csv", "line 5", "longer than")),
]


@pytest.mark.parametrize(
    ("name", "line", "column", "value", "words"), [c[1:] for c in PRICE_EDITS], ids=[c[0] for c in PRICE_EDITS]
)
def test_cli_bad_price_csv_is_one_line_exit_2(
    price_folder: Path, tmp_path: Path, name: str, line: int, column: str, value: str, words: tuple
) -> None:
    folder = shutil.copytree(price_folder, tmp_path / "prices")
    _edit_cell(folder / name, line, column, value)
    assert_one_line_exit_2(
        ["weights", "--as-of", "2025-11-28", "--source", str(folder), "--out", str(tmp_path / "w.csv")], *words
    )
    assert not (tmp_path / "w.csv").exists()


@pytest.mark.parametrize(
    "data",
    [BINARY, b"date,close,volume\n2025-01-02,\xff1,5\n", b"\x00" * 100],
    ids=["binary", "bad byte in a cell", "NUL bytes"],
)
def test_cli_undecodable_price_csv_is_one_line_exit_2(price_folder: Path, tmp_path: Path, data: bytes) -> None:
    folder = shutil.copytree(price_folder, tmp_path / "prices")
    (folder / "MP.csv").write_bytes(data)
    assert_one_line_exit_2(["weights", "--as-of", "2025-11-28", "--source", str(folder)], "MP.csv")


# --------------------------------------------------------------------------------------------------
# fuzzing the loaders: random bytes and random cells give the loader's typed error or a result
# --------------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-inf",
            "1e300",
            "-1e300",
            "1e-300",
            "0",
            "-0",
            "NaN",
            "true",
            '"',
            '""',
            "a,b",
            "\n",
            "2024-W01-1",
            "20240101",
            "9999-12-31",
            "0001-01-01",
            "\x00",
            "\ufeff",
            "１２",
            LONG_FIELD,
        ]
    ),
)


def _outcome(call: Callable[[], Any], allowed: type[ExchinaIndexError]) -> None:
    try:
        call()
    except allowed:
        pass


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_universe_bytes(tmp_path: Path, data: bytes) -> None:
    u = _write(tmp_path / "u.csv", data)
    _outcome(lambda: xi.load_universe(u, FIXTURES / "mini_china_links.csv"), UniverseError)
    _outcome(lambda: xi.load_universe(FIXTURES / "mini_universe.csv", u), UniverseError)


def _csv_text(rows: list[list[str]]) -> str:
    import csv

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


@FUZZ
@given(which=st.sampled_from(["universe", "links"]), row=st.integers(0, 8), col=st.integers(0, 19), cell=CELL)
def test_fuzz_universe_and_link_cells(tmp_path: Path, which: str, row: int, col: int, cell: str) -> None:
    src = FIXTURES / ("mini_universe.csv" if which == "universe" else "mini_china_links.csv")
    rows = _rows_with_header(src)
    r = rows[min(row, len(rows) - 1)]
    r[min(col, len(r) - 1)] = cell
    p = _write(tmp_path / "f.csv", _csv_text(rows))
    if which == "universe":
        _outcome(lambda: xi.load_universe(p, FIXTURES / "mini_china_links.csv"), UniverseError)
    else:
        _outcome(lambda: xi.load_universe(FIXTURES / "mini_universe.csv", p), UniverseError)


def _rows_with_header(path: Path) -> list[list[str]]:
    import csv

    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    return list(csv.reader(io.StringIO("\n".join(lines))))


_MINI_PRICES = "date,close,volume,dividend,shares\n2024-01-02,10.5,100,,1000\n2024-01-03,10.6,200,0.1,\n"
_MINI_FX = "date,AUD\n2024-01-02,0.68\n2024-01-03,0.67\n"


def _fx_universe() -> pd.DataFrame:
    from _universe_helpers import make_universe

    return make_universe({"MP": {}, "LYC.AX": {"exchange": "XASX", "currency": "AUD", "price_unit": "AUD"}})


@FUZZ
@given(
    which=st.sampled_from(["MP.csv", "LYC.AX.csv", "fx.csv"]), row=st.integers(0, 2), col=st.integers(0, 4), cell=CELL
)
def test_fuzz_price_cells(tmp_path: Path, which: str, row: int, col: int, cell: str) -> None:
    files = {"MP.csv": _MINI_PRICES, "LYC.AX.csv": _MINI_PRICES, "fx.csv": _MINI_FX}
    rows = _rows_from_text(files[which])
    r = rows[row]
    r[min(col, len(r) - 1)] = cell
    files[which] = _csv_text(rows)
    folder = tmp_path / "p"
    shutil.rmtree(folder, ignore_errors=True)
    for name, text in files.items():
        _write(folder / name, text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning is a failure too
        _outcome(lambda: load_csv(_fx_universe(), folder), DataError)


def _rows_from_text(text: str) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(text)))


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_price_bytes(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / "p"
    shutil.rmtree(folder, ignore_errors=True)
    _write(folder / "MP.csv", data)
    _outcome(lambda: load_csv(_fx_universe(), folder), DataError)


_LEAVES = [
    ("caps", "single"),
    ("caps", "country"),
    ("liquidity", "default_aum_usd"),
    ("costs", "commission_bps"),
    ("costs", "half_spread_bps"),
    ("optimizer", "solver"),
    ("optimizer", "fallback_solvers"),
    ("schedule", "months"),
    ("schedule", "calendar"),
    ("size", "stale_sessions"),
    ("stages", "targets"),
    ("withholding", "as_of"),
    ("regulatory", "mode"),
    ("relaxation", "single_cap_steps"),
]
VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


@FUZZ
@given(leaf=st.sampled_from(_LEAVES), value=VALUE)
def test_fuzz_rulebook_overrides(leaf: tuple[str, str], value: Any) -> None:
    _outcome(lambda: xi.load_methodology().with_overrides({leaf[0]: {leaf[1]: value}}), MethodologyError)


@FUZZ
@given(
    key=st.sampled_from(
        [
            "name",
            "source",
            "start",
            "end",
            "aum",
            "benchmark",
            "methodology",
            "universe",
            "links",
            "allow_no_links",
            "description",
        ]
    ),
    value=st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.text(max_size=20),
        st.sampled_from(["2024-W01-1", "20240101", "..", "/", "inf", "1e30"]),
    ),
)
def test_fuzz_spec_values(tmp_path: Path, key: str, value: Any) -> None:
    import json

    rendered = (
        json.dumps(value)
        if not (isinstance(value, float) and not math.isfinite(value))
        else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    )
    lines = [ln for ln in SPEC.splitlines() if not ln.startswith(f"{key} =")]
    p = _write(tmp_path / "s.toml", "\n".join([f"{key} = {rendered}", *lines]) + "\n")
    _outcome(lambda: load_spec(p), InputError)
