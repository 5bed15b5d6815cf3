"""More of the exit-code contract: inputs a hostile operator brings that tests/test_bad_inputs.py
does not cover (pipes, devices, folders where files go, names too long for the file system,
lower-case country codes, schedules that announce after implementing, numbers that overflow the
solvers or the sums), and a screened-out listing whose data outlives every other listing's.

Each case gives the package's typed error (API) or exit 2 with one line naming the culprit (CLI),
never a hang, a raw exception, a numpy warning or an exit 0 with a wrong answer.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _cli_helpers import assert_one_line_exit_2, raises_typed, run_cli

import exchina_index as xi
from exchina_index._resources import bundled_path
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

RULEBOOK = bundled_path("methodology.toml")
LONG_NAME = "a" * 300  # longer than any file system's NAME_MAX (255)
A = pd.Series({"A": 0.5, "B": 0.3, "C": 0.2})
E = pd.DataFrame({"mining": [1.0, 0.0, 0.5], "refining": [0.0, 1.0, 0.5]}, index=list("ABC"))
T = {"mining": 0.5, "refining": 0.5}
GOOD_PREVIOUS = "ticker,weight\nMP,0.5\nLYC.AX,0.5\n"


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    u = xi.load_universe()
    return {"u": u, "mk": xi.load_market_data(u, "demo", start="2024-06-01", end="2026-03-31")}


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory, world: dict) -> Path:
    """A small CSV source: three US listings and one Australian one (with fx.csv), 2024-06 to 2026-03."""
    m, f = world["mk"], world["u"].frame
    folder = tmp_path_factory.mktemp("prices")
    for t in ("MP", "USAR", "UUUU", "LYC.AX"):
        rows = m.close[t].notna()
        pd.DataFrame(
            {
                "date": m.close.index[rows].strftime("%Y-%m-%d"),
                "close": m.close[t][rows].map(repr),
                "volume": m.volume[t][rows].fillna(0).map(lambda v: f"{v:.0f}"),
                "shares": m.shares[t][rows].map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
            },
        ).to_csv(folder / f"{t}.csv", index=False)
    assert (f.loc[["MP", "USAR", "UUUU"], "currency"] == "USD").all()
    fx = m.fx[["AUD"]].set_axis(m.fx.index.strftime("%Y-%m-%d"), axis=0).rename_axis("date")
    fx.to_csv(folder / "fx.csv")
    return folder


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    return Path(shutil.copytree(src, dst))


# --------------------------------------------------------------------------------------------------
# files that are not files: pipes, folders, names too long, dangling links
# --------------------------------------------------------------------------------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _source_with(prices: Path, tmp: Path, change: str) -> Path:
    folder = _copy(prices, tmp / "p")
    if change == "price file is a pipe":
        (folder / "MP.csv").unlink()
        _fifo(folder / "MP.csv")
    elif change == "fx.csv is a folder":
        (folder / "fx.csv").unlink()
        (folder / "fx.csv").mkdir()
    elif change == "fx.csv is a pipe":
        (folder / "fx.csv").unlink()
        _fifo(folder / "fx.csv")
    elif change == "fx.csv has two date columns":
        lines = (folder / "fx.csv").read_text().splitlines()
        (folder / "fx.csv").write_text(
            "\n".join([f"date,{lines[0]}"] + [f"{ln.split(',')[0]},{ln}" for ln in lines[1:]]) + "\n"
        )
    return folder


SOURCE_CASES = [
    ("price file is a pipe", ("MP.csv", "not a regular file")),
    ("fx.csv is a folder", ("fx.csv", "is a folder")),
    ("fx.csv is a pipe", ("fx.csv", "not a regular file")),
    ("fx.csv has two date columns", ("fx.csv", "column 'date'", "twice")),
]


@pytest.mark.parametrize(("change", "words"), SOURCE_CASES, ids=[c[0] for c in SOURCE_CASES])
def test_cli_odd_files_in_a_csv_source(prices: Path, tmp_path: Path, change: str, words: tuple) -> None:
    folder = _source_with(prices, tmp_path, change)
    assert_one_line_exit_2(
        ["weights", "--as-of", "2025-11-28", "--source", folder, "--out", tmp_path / "w.csv"], *words
    )
    assert not (tmp_path / "w.csv").exists()


def test_cli_source_that_is_a_pipe_or_a_name_too_long(tmp_path: Path) -> None:
    pipe = _fifo(tmp_path / "prices.csv")
    assert_one_line_exit_2(["weights", "--as-of", "2025-11-28", "--source", pipe], "prices.csv", "not a regular file")
    assert_one_line_exit_2(["weights", "--as-of", "2025-11-28", "--source", tmp_path / LONG_NAME], "source")


FILE_OPTIONS = [
    # (id, argv with {bad} where the odd path goes, word)
    ("universe show --universe", ["universe", "show", "--universe", "{bad}", "--as-of", "2025-09-25"], "{bad}"),
    ("calendar --methodology", ["calendar", "--methodology", "{bad}", "--year", "2026"], "{bad}"),
    ("weights --links", ["weights", "--as-of", "2025-11-28", "--links", "{bad}"], "{bad}"),
    (
        "rebalance --previous",
        ["rebalance", "--as-of", "2025-12-19", "--previous", "{bad}", "--out", "{tmp}/rb"],
        "{bad}",
    ),
    ("backtest spec", ["backtest", "{bad}", "--out", "{tmp}/bt"], "{bad}"),
]


@pytest.mark.parametrize("kind", ["pipe", "folder"])
@pytest.mark.parametrize(("argv", "word"), [c[1:] for c in FILE_OPTIONS], ids=[c[0] for c in FILE_OPTIONS])
def test_cli_a_pipe_or_a_folder_where_a_file_goes(tmp_path: Path, argv: list[str], word: str, kind: str) -> None:
    bad = tmp_path / "odd.csv"
    _fifo(bad) if kind == "pipe" else bad.mkdir()
    fill = {"{bad}": str(bad), "{tmp}": str(tmp_path)}

    def sub(a: str) -> str:
        for k, v in fill.items():
            a = a.replace(k, v)
        return a

    assert_one_line_exit_2([sub(a) for a in argv], sub(word), "not a regular file" if kind == "pipe" else "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.csv"]


def test_cli_weights_out_on_a_pipe_refuses_and_leaves_it(tmp_path: Path) -> None:
    pipe = _fifo(tmp_path / "w.csv")
    assert_one_line_exit_2(["weights", "--as-of", "2025-11-28", "--out", pipe], "w.csv", "not a regular file")
    assert pipe.is_fifo()  # os.replace would have swapped it for a file (a device such as /dev/null as root)


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["data", "status", "--cache-dir", "{long}"], LONG_NAME[:20]),
        (["data", "status", "--cache-dir", "~no_such_user_xyz/cache"], "~no_such_user_xyz"),
        (["rebalance", "--as-of", "2025-12-19", "--out", "{long}"], LONG_NAME[:20]),
    ],
    ids=["status long cache", "status ~nobody", "rebalance long out"],
)
def test_cli_names_the_file_system_refuses(tmp_path: Path, argv: list[str], word: str) -> None:
    long = str(tmp_path / LONG_NAME)
    assert_one_line_exit_2([a.replace("{long}", long) for a in argv], word)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# previous portfolios
# --------------------------------------------------------------------------------------------------

PREVIOUS_FILES = [
    ("weights 1e308", "ticker,weight\nMP,1e308\nLYC.AX,1e308\n", ("line 2", "column 'weight'", "at most 1")),
    ("weight 1.5", "ticker,weight\nMP,1.5\nLYC.AX,0.5\n", ("line 2", "at most 1")),
    ("weight column twice", "ticker,weight,weight\nMP,0.5,0.1\nLYC.AX,0.5,0.9\n", ("column 'weight'", "twice")),
    ("ticker column twice", "ticker,ticker,weight\nMP,LYC.AX,1\n", ("column 'ticker'", "twice")),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in PREVIOUS_FILES], ids=[c[0] for c in PREVIOUS_FILES])
def test_cli_bad_previous_file(tmp_path: Path, text: str, words: tuple) -> None:
    prev = tmp_path / "prev.csv"
    prev.write_text(text)
    assert_one_line_exit_2(
        ["rebalance", "--as-of", "2025-12-19", "--previous", prev, "--out", tmp_path / "rb"], "prev.csv", *words
    )
    assert not (tmp_path / "rb").exists()


def test_cli_latest_proforma_that_is_a_folder_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    (tmp_path / "rb" / "2025-09-19" / "proforma.csv").mkdir(parents=True)
    assert_one_line_exit_2(
        ["rebalance", "--as-of", "2025-12-19", "--out", tmp_path / "rb"], "2025-09-19/proforma.csv", "is a folder"
    )
    assert sorted(p.name for p in (tmp_path / "rb").iterdir()) == ["2025-09-19"]


def test_rebalance_records_a_previous_path_that_is_not_utf8(world: dict, tmp_path: Path) -> None:
    prev = Path(os.fsdecode(bytes(tmp_path) + b"/prev\xff.csv"))  # a name with a byte that is not UTF-8
    prev.write_text(GOOD_PREVIOUS)
    folder = xi.rebalance(world["u"], world["mk"], "2025-12-19", out=tmp_path / "rb", previous=prev)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert "prev\\udcff.csv" in json.dumps(manifest)


# --------------------------------------------------------------------------------------------------
# rulebooks that read well and mean something else
# --------------------------------------------------------------------------------------------------

RULEBOOK_EDITS = [
    ("country cap in lower case", "country = {}", "country = { us = 0.30 }", ("caps.country", "'US'")),
    ("country of concern in lower case", '"CN", "HK", "MO"', '"cn", "HK", "MO"', ("countries_of_concern", "'CN'")),
    ("withholding in lower case", "US = 0.30\nAU", "us = 0.30\nAU", ("withholding.rates", "'US'")),
    (
        "announced after implementation",
        "announcement_week = 2 ",
        "announcement_week = 4 ",
        ("schedule.announcement_week",),
    ),
    (
        "announced on implementation",
        "announcement_week = 2 ",
        "announcement_week = 3 ",
        ("schedule.announcement_week",),
    ),
    (
        "pro-forma before the announcement",
        "proforma_sessions = 3 ",
        "proforma_sessions = 10 ",
        ("schedule.proforma_sessions", "announcement"),
    ),
    ("turnover penalty 1e300", "turnover_penalty = 0.002", "turnover_penalty = 1e300", ("optimizer.turnover_penalty",)),
]


@pytest.mark.parametrize(("old", "new", "words"), [c[1:] for c in RULEBOOK_EDITS], ids=[c[0] for c in RULEBOOK_EDITS])
@pytest.mark.parametrize("command", ["calendar", "rebalance"])
def test_cli_rulebook_that_would_silently_mean_something_else(
    tmp_path: Path, old: str, new: str, words: tuple, command: str
) -> None:
    text = RULEBOOK.read_text()
    assert old in text
    p = tmp_path / "methodology.toml"
    p.write_text(text.replace(old, new, 1))
    argv = {
        "calendar": ["calendar", "--year", "2026"],
        "rebalance": ["rebalance", "--as-of", "2025-12-19", "--out", tmp_path / "rb"],
    }[command]
    assert_one_line_exit_2([*argv, "--methodology", p], str(p), *words)
    if command == "rebalance":
        assert not (tmp_path / "rb").exists()


# --------------------------------------------------------------------------------------------------
# the API
# --------------------------------------------------------------------------------------------------


def _sbw(**change: Any) -> Callable[[], Any]:
    from exchina_index.construction.optimizer import stage_balanced_weights

    args = {"anchor": A, "stage_exposure": E, "targets": T, "caps": 0.6, **change}
    return lambda: stage_balanced_weights(**args)


def _yahoo(**kw: Any) -> Callable[[], Any]:
    from exchina_index.data.yahoo import load_yahoo
    from exchina_index.errors import NetworkError

    def offline() -> None:  # never reached when the arguments are checked first
        raise NetworkError("offline test")

    return lambda: load_yahoo(xi.load_universe(), "2025-01-01", "2025-02-01", preflight=offline, **kw)


def _dtt(*args: Any) -> Callable[[], Any]:
    from exchina_index.construction.optimizer import days_to_trade

    return lambda: days_to_trade(*args)


def _fifo_call(loader: Callable[[Path], Any]) -> Callable[[dict, Path], Any]:
    return lambda w, tmp: loader(_fifo(tmp / "pipe.csv"))


API_CASES: list[tuple[str, type[ExchinaIndexError], str, Callable[[dict, Path], Any]]] = [
    ("returns kind='net'", InputError, "'total' or 'price'", lambda w, tmp: w["mk"].returns("net")),
    ("returns kind=5", InputError, "'total' or 'price'", lambda w, tmp: w["mk"].returns(5)),
    *[
        (f"snapshot window={v!r}", InputError, "window", lambda w, tmp, v=v: w["mk"].snapshot("2025-11-28", v))
        for v in [0, -1, 2.5, "x", 10**20, True]
    ],
    ("adtv_usd window=0", InputError, "window", lambda w, tmp: w["mk"].adtv_usd("2025-11-28", 0)),
    ("links_in_force 'x'", ReviewDateError, "as_of", lambda w, tmp: w["u"].links_in_force("x")),
    ("links_in_force compact date", ReviewDateError, "as_of", lambda w, tmp: w["u"].links_in_force("20250101")),
    ("write_tearsheet result=5", InputError, "BacktestResult", lambda w, tmp: xi.write_tearsheet(5, tmp / "ts")),
    (
        "load_csv universe=5",
        DataError,
        "universe",
        lambda w, tmp: __import__("exchina_index.data.csv_source", fromlist=["load_csv"]).load_csv(5, tmp),
    ),
    (
        "load_csv fx=5",
        DataError,
        "fx",
        lambda w, tmp: __import__("exchina_index.data.csv_source", fromlist=["load_csv"]).load_csv(w["u"], tmp, fx=5),
    ),
    ("load_universe a pipe", UniverseError, "not a regular file", _fifo_call(xi.load_universe)),
    (
        "load_universe links a pipe",
        UniverseError,
        "not a regular file",
        lambda w, tmp: xi.load_universe(None, _fifo(tmp / "links.csv")),
    ),
    ("load_methodology a pipe", MethodologyError, "not a regular file", _fifo_call(xi.load_methodology)),
    ("load_spec a pipe", InputError, "not a regular file", _fifo_call(load_spec)),
    (
        "load_market_data a pipe",
        DataError,
        "not a regular file",
        lambda w, tmp: xi.load_market_data(w["u"], _fifo(tmp / "p.csv")),
    ),
    (
        "load_market_data a name too long",
        DataError,
        "source",
        lambda w, tmp: xi.load_market_data(w["u"], tmp / LONG_NAME),
    ),
    (
        "cache_status ~nobody",
        CacheError,
        "~",
        lambda w, tmp: __import__("exchina_index.data.status", fromlist=["cache_status"]).cache_status(
            w["u"], "~no_such_user_xyz/c"
        ),
    ),
    (
        "cache_status a name too long",
        CacheError,
        LONG_NAME[:20],
        lambda w, tmp: __import__("exchina_index.data.status", fromlist=["cache_status"]).cache_status(
            w["u"], tmp / LONG_NAME
        ),
    ),
    *[
        (f"load_yahoo {k}={v!r}", DataError, k, lambda w, tmp, k=k, v=v: _yahoo(**{k: v})())
        for k, v in [
            ("deadline_s", "x"),
            ("deadline_s", math.inf),
            ("deadline_s", math.nan),
            ("progress", 5),
            ("retries", -1),
            ("use_cache", "yes"),
        ]
    ],
    ("days_to_trade weights='x'", InputError, "weights", lambda w, tmp: _dtt("x", 1e6, pd.Series({"A": 1e6}), 0.25)()),
    (
        "days_to_trade aum=-5",
        InputError,
        "AUM",
        lambda w, tmp: _dtt(pd.Series({"A": 0.5}), -5, pd.Series({"A": 1e6}), 0.25)(),
    ),
    (
        "days_to_trade aum=inf",
        InputError,
        "AUM",
        lambda w, tmp: _dtt(pd.Series({"A": 0.5}), math.inf, pd.Series({"A": 1e6}), 0.25)(),
    ),
    (
        "days_to_trade participation=5",
        InputError,
        "participation",
        lambda w, tmp: _dtt(pd.Series({"A": 0.5}), 1e6, pd.Series({"A": 1e6}), 5)(),
    ),
    ("sbw previous 1e300", InputError, "previous", lambda w, tmp: _sbw(previous=A * 1e300, turnover_penalty=0.1)()),
    (
        "sbw turnover_penalty 1e300",
        InputError,
        "turnover_penalty",
        lambda w, tmp: _sbw(previous=A, turnover_penalty=1e300)(),
    ),
    ("sbw min_weight 1e308", InputError, "min_weight", lambda w, tmp: _sbw(min_weight=pd.Series({"A": 1e308}))()),
    (
        "build_weights previous 1e300",
        InputError,
        "between 0 and 1",
        lambda w, tmp: xi.build_weights(w["u"], w["mk"], "2025-11-28", previous=pd.Series({"MP": 1e300})),
    ),
    (
        "rebalance previous Series 1e308",
        InputError,
        "between 0 and 1",
        lambda w, tmp: xi.rebalance(
            w["u"], w["mk"], "2025-12-19", out=tmp / "rb", previous=pd.Series({"MP": 1e308, "LYC.AX": 1e308})
        ),
    ),
    (
        "with_overrides caps.country lower case",
        MethodologyError,
        "'US'",
        lambda w, tmp: xi.load_methodology().with_overrides({"caps": {"country": {"us": 0.3}}}),
    ),
    (
        "with_overrides announcement after implementation",
        MethodologyError,
        "schedule.announcement_week",
        lambda w, tmp: xi.load_methodology().with_overrides({"schedule": {"announcement_week": 4}}),
    ),
    (
        "with_overrides turnover_penalty 1e300",
        MethodologyError,
        "optimizer.turnover_penalty",
        lambda w, tmp: xi.load_methodology().with_overrides({"optimizer": {"turnover_penalty": 1e300}}),
    ),
]


@pytest.mark.parametrize(("name", "expected", "match", "call"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input_raises_a_typed_error(
    world: dict, tmp_path: Path, name: str, expected: type[ExchinaIndexError], match: str, call: Callable
) -> None:
    raises_typed(lambda: call(world, tmp_path), expected, match)
    if name.startswith("rebalance"):  # the one call here that would write
        assert not (tmp_path / "rb").exists()


def test_anchors_near_the_float_limit_give_the_same_weights_without_warnings() -> None:
    # equal anchors: mining = 1/3 + 1/6 = 1/2 meets the targets, so the answer is 1/3 each
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = _sbw(anchor=pd.Series({"A": 1e308, "B": 1e308, "C": 1e308}))()
    assert np.allclose(w.to_numpy(), 1 / 3, atol=1e-6)


def test_a_failing_scs_prints_nothing_on_stdout(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import exchina_index.construction.optimizer.problem as problem
    from exchina_index.errors import SolverError

    monkeypatch.setattr(problem, "MAX_TURNOVER_PENALTY", math.inf)  # past the bound: SCS fails numerically
    with pytest.raises(SolverError):
        _sbw(previous=A, turnover_penalty=1e300, solver="SCS", fallback_solvers=())()
    out, _ = capfd.readouterr()
    assert out == ""  # SCS printf()s "ERROR: could not determine problem status." on fd 1 otherwise


# --------------------------------------------------------------------------------------------------
# a screened-out listing whose data runs past every other listing's
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def china_outlives(tmp_path_factory: pytest.TempPathFactory, world: dict) -> tuple[Path, pd.Timestamp]:
    """The demo market as a CSV source, with 600111.SS (Chinese, CN_DOMICILE) priced to 2026-08-31
    while every other listing stops on 2026-03-31."""
    m, f = world["mk"], world["u"].frame
    folder = tmp_path_factory.mktemp("cn")
    for t in m.tickers:
        rows = m.close[t].notna()
        if not rows.any():
            continue
        unit = 100.0 if f.at[t, "price_unit"] == "GBp" else 1.0
        df = pd.DataFrame(
            {
                "date": m.close.index[rows].strftime("%Y-%m-%d"),
                "close": m.close[t][rows] * unit,
                "volume": m.volume[t][rows].fillna(0.0),
                "shares": m.shares[t][rows],
            }
        )
        if t == "600111.SS":
            extra = pd.bdate_range("2026-04-01", "2026-08-31").strftime("%Y-%m-%d")
            df = pd.concat(
                [df, pd.DataFrame({"date": extra, "close": df["close"].iloc[-1], "volume": 1000.0, "shares": np.nan})]
            )
        df.to_csv(folder / f"{t}.csv", index=False)
    fx = m.fx.drop(columns="USD")
    fx.set_axis(fx.index.strftime("%Y-%m-%d"), axis=0).rename_axis("date").to_csv(folder / "fx.csv")
    return folder, pd.Timestamp(m.close.index[-1])


def test_a_screened_out_listing_cannot_extend_a_backtest(world: dict, china_outlives: tuple) -> None:
    folder, last = china_outlives
    market = xi.load_market_data(world["u"], folder)
    assert market.end == pd.Timestamp("2026-08-31")  # the data does run further
    result = xi.backtest(world["u"], market, start="2025-01-01")
    assert result.levels.index[-1] == last == pd.Timestamp("2026-03-31")
    assert result.schedule["implement"].max() <= last
    assert any("600111.SS" in n and "2026-03-31" in n for n in result.data_notes)
    explicit = xi.backtest(world["u"], market, start="2025-01-01", end="2026-12-31")  # an end past the data too
    assert explicit.levels.index[-1] == last


def test_cli_backtest_with_a_screened_out_listing_outliving_the_rest(china_outlives: tuple, tmp_path: Path) -> None:
    folder, _ = china_outlives
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "s"\nsource = "{folder}"\nstart = "2025-01-01"\nend = "2026-12-31"\n')
    code, out, err = run_cli(["backtest", spec, "--out", tmp_path / "bt"])
    assert code == 0, err
    assert (tmp_path / "bt" / "tearsheet.html").is_file()


def test_rebalance_after_the_last_admissible_price_names_the_screened_out_listing(
    world: dict, china_outlives: tuple, tmp_path: Path
) -> None:
    folder, _ = china_outlives
    market = xi.load_market_data(world["u"], folder)
    with pytest.raises(ReviewDateError, match=r"600111\.SS") as info:  # not "no eligible name has ..."
        xi.rebalance(world["u"], market, "2026-06-18", out=tmp_path / "rb")
    assert "2026-03-31" in str(info.value)
    assert not (tmp_path / "rb").exists()
    assert xi.rebalance(world["u"], market, "2026-03-20", out=tmp_path / "rb").name == "2026-03-20"


def test_last_screenable_date_screens_each_listing_on_its_own_last_date(world: dict, china_outlives: tuple) -> None:
    from exchina_index.construction.screens import last_screenable_date

    folder, last = china_outlives
    market = xi.load_market_data(world["u"], folder)
    assert last_screenable_date(world["u"], market) == (last, ("600111.SS",))
    assert last_screenable_date(world["u"], world["mk"]) == (world["mk"].end, ())
