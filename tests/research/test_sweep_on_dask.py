"""Sweeps on a real Dask cluster (local, 127.0.0.1, two worker processes): each variant's figures
equal a separate backtest of the same rulebook exactly; finished variants survive an interrupted
sweep and a worker that dies; a variant the rules cannot build is a row with its error."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from exchina_index.data import load_market_data  # noqa: E402
from exchina_index.errors import InputError  # noqa: E402
from exchina_index.research.metrics import METRIC_COLUMNS, backtest_metrics  # noqa: E402
from exchina_index.research.sweep import sweep  # noqa: E402
from exchina_index.rules.spec import load_spec  # noqa: E402
from exchina_index.simulation.backtest import backtest  # noqa: E402
from exchina_index.simulation.benchmark import universe_cap_weighted_returns  # noqa: E402
from exchina_index.universe.loading import load_universe  # noqa: E402

GRID = {"grid": {"caps": {"single": [0.06, 0.10]}, "liquidity": {"participation": [0.1, 0.4]}}}
OVERRIDES = [  # the grid's variants, written out by hand: the base first, then the product in order
    {},
    {"caps": {"single": 0.06}, "liquidity": {"participation": 0.1}},
    {"caps": {"single": 0.06}, "liquidity": {"participation": 0.4}},
    {"caps": {"single": 0.10}, "liquidity": {"participation": 0.1}},
    {"caps": {"single": 0.10}, "liquidity": {"participation": 0.4}},
]


def _spec(folder: Path) -> Path:
    path = folder / "mini.toml"
    path.write_text(
        'name = "mini"\nsource = "demo"\nstart = "2025-06-01"\nend = "2026-09-30"\naum = 250_000_000\n'
        '[benchmark]\nkind = "universe_cap_weighted"\n',
        encoding="utf-8",
    )
    return path


def _local_cluster(n: int = 2):
    return distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL,
    )


@pytest.fixture(scope="module")
def client():
    with _local_cluster() as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Separate backtests of the five rulebooks, in this process, with the same figures."""
    spec = load_spec(_spec(tmp_path_factory.mktemp("reference")))
    universe = load_universe()
    market = load_market_data(universe, source="demo")
    bench = universe_cap_weighted_returns(universe, market)
    rows = []
    for overrides in OVERRIDES:
        method = spec.methodology.with_overrides(overrides) if overrides else spec.methodology
        result = backtest(universe, market, method, start=spec.start, end=spec.end, aum=spec.aum)
        rows.append(backtest_metrics(result, bench))
    return rows


def _assert_rows_equal(table, expected: list[dict]) -> None:
    assert len(table) == len(expected)
    for row, exp in zip(table.to_dict("records"), expected):
        assert row["error"] == ""
        for column in METRIC_COLUMNS:
            a, b = row[column], exp[column]
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (column, a, b)


def test_each_variant_equals_a_separate_backtest_exactly(tmp_path: Path, client, expected) -> None:
    result = sweep(_spec(tmp_path), GRID, client=client, variant_cache=tmp_path / "cache")
    assert (result.computed, result.from_cache) == (5, 0)
    assert result.table["base"].tolist() == [True, False, False, False, False]
    assert result.table["caps.single"].tolist() == [0.08, 0.06, 0.06, 0.10, 0.10]
    assert result.table["liquidity.participation"].tolist() == [0.25, 0.1, 0.4, 0.1, 0.4]
    _assert_rows_equal(result.table, expected)
    # the variants differ: a sweep that ran the base five times would fail here
    assert len({row["capacity_usd"] for row in expected}) > 1
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(f"{k}.json" for k in result.table["key"])


def test_an_interrupted_sweep_resumes_with_only_the_missing_variants(tmp_path: Path, client, expected) -> None:
    spec, cache = _spec(tmp_path), tmp_path / "cache"
    seen: list[str] = []

    def stop_after_two(done: int, total: int, label: object) -> None:
        if label != "cached":
            seen.append(str(label))
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(spec, GRID, client=client, variant_cache=cache, progress=stop_after_two)
    files = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.iterdir()}
    assert len(files) == 2
    again: list[tuple[int, int]] = []
    result = sweep(spec, GRID, client=client, variant_cache=cache, progress=lambda d, t, _: again.append((d, t)))
    assert (result.computed, result.from_cache) == (3, 2)
    assert again[0] == (2, 5) and again[-1] == (5, 5)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.iterdir() if p.name in files} == files
    _assert_rows_equal(result.table, expected)
    # a third run finds everything in the cache and starts no cluster at all
    result = sweep(spec, GRID, workers=1, variant_cache=cache)
    assert (result.computed, result.from_cache) == (0, 5)


def test_a_worker_that_dies_mid_sweep_loses_no_finished_variant(tmp_path: Path, expected) -> None:
    cache = tmp_path / "cache"
    finished: dict[str, tuple[int, bytes]] = {}
    killed: list[str] = []
    with _local_cluster() as cluster, distributed.Client(cluster) as c:

        def kill_a_busy_worker(done: int, total: int, label: object) -> None:
            if label == "cached" or killed:
                return
            finished.update({p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.iterdir()})
            deadline = time.monotonic() + 30
            while not killed and time.monotonic() < deadline:  # a worker with a variant running
                busy = [w for w, keys in c.processing().items() if keys]
                if busy:
                    killed.append(busy[0])
                    with contextlib.suppress(Exception):
                        c.run(os._exit, 1, workers=[busy[0]], wait=False)
                time.sleep(0.01)

        result = sweep(_spec(tmp_path), GRID, client=c, variant_cache=cache, progress=kill_a_busy_worker)
    assert killed, "no worker was busy when the first variant finished"
    assert len(finished) == 1
    assert result.computed == 5
    _assert_rows_equal(result.table, expected)
    # the variant finished before the death was written once and never again
    assert {n: (p.stat().st_mtime_ns, p.read_bytes()) for n, p in ((n, cache / n) for n in finished)} == finished


def test_a_variant_the_rules_cannot_build_is_a_row_with_its_error(tmp_path: Path, client) -> None:
    grid = {
        "variant": [
            {"caps": {"single": 0.02, "issuer": 0.02}, "relaxation": {"last_resort": False, "single_cap_steps": [0.03]}}
        ]
    }
    result = sweep(_spec(tmp_path), grid, client=client, variant_cache=tmp_path / "cache")
    assert result.table["error"].iloc[0] == ""
    failed = result.table.iloc[1]
    assert "infeasible" in failed["error"] and "caps" in failed["error"]
    assert all(
        failed[c] is None or (isinstance(failed[c], float) and math.isnan(failed[c])) for c in ("cagr", "turnover")
    )


def test_contradicting_cluster_options_fail_before_any_data_is_loaded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("exchina_index.data.load_market_data", lambda *a, **k: pytest.fail("data were loaded"))
    with pytest.raises(InputError, match="not several"):
        sweep(_spec(tmp_path), GRID, workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="at least 1"):
        sweep(_spec(tmp_path), GRID, workers=0)
    with pytest.raises(InputError, match="'grid.caps.single'"):
        sweep(_spec(tmp_path), {"grid": {"caps": {"single": [7]}}})
    assert not (tmp_path / "output").exists()


def test_a_scheduler_address_runs_the_same_sweep(tmp_path: Path, client, expected) -> None:
    result = sweep(_spec(tmp_path), GRID, scheduler=client.scheduler.address, variant_cache=tmp_path / "cache")
    assert result.computed == 5
    _assert_rows_equal(result.table, expected)
