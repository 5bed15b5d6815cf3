"""Sweeps of rulebook variants on Dask: one backtest per variant, one row of committee figures each.

How it runs
    The grid is validated in full first (:mod:`exchina_index.research.grid`), then the universe and
    the market data are loaded **once**, on the caller's machine, and handed to every Dask worker
    once as a worker plugin (a worker that joins or restarts later gets it too): variants carry only
    their rulebook. Each variant is one task, a full :func:`~exchina_index.simulation.backtest.backtest`
    of the spec's period and AUM, whose figures are :func:`~exchina_index.research.metrics.backtest_metrics`
    against the spec's benchmark. By default the work runs on a local cluster of this machine (one
    single-threaded worker process per core, everything on 127.0.0.1; the dashboard, when bokeh is
    installed, on a free port); ``scheduler`` names an existing cluster (every worker needs this
    package installed, the same version) and ``client``
    takes a ``distributed.Client`` the caller already holds.

Resuming
    Each finished variant is written at once to the variant cache as ``<key>.json``, where the key
    is a SHA-256 over the variant's rulebook hash, the spec's period, AUM and benchmark, the universe
    and market-data fingerprints, the package version and the names of the figures. A sweep first
    reads the cache and sends only the missing variants to the cluster, so a sweep killed halfway (or
    whose workers died)
    recomputes only what was not finished. The files are written by the caller, atomically, as the
    results arrive: a worker dying loses at most the variants it was computing, which Dask runs
    again elsewhere (up to its ``allowed-failures`` limit, then :class:`~exchina_index.errors.SweepError`).

A variant the rules cannot build (the package's typed error, e.g. infeasible caps) is a row with
its message in ``error`` and no figures: that too is an answer for a committee.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from distributed import WorkerPlugin

from exchina_index import atomic
from exchina_index._version import __version__
from exchina_index.errors import ExchinaIndexError, InputError, NetworkError, OutputError, SweepError, short_repr
from exchina_index.research.grid import SweepGrid, Variant, grid_from_mapping, load_grid
from exchina_index.research.metrics import METRIC_COLUMNS, backtest_metrics
from exchina_index.rules.spec import BacktestSpec, load_spec

__all__ = ["CACHE_SCHEMA", "SweepResult", "sweep", "variant_key"]

#: Schema of one cached variant file; part of the cache key, so a change of layout recomputes.
CACHE_SCHEMA = "exchina-index/sweep-variant/1"


@dataclass(frozen=True)
class SweepResult:
    """The table of a sweep and what it was computed from.

    Attributes
    ----------
    table
        One row per variant, in the grid's order: ``variant`` (number), ``key`` (the cache key),
        ``base`` (the spec's own rulebook), ``label``, one column per swept key (the value in force,
        lists as JSON text), the figures of :data:`~exchina_index.research.metrics.METRIC_COLUMNS`
        and ``error`` (empty when the variant ran).
    grid, spec
        The validated grid and the spec.
    computed, from_cache
        Variants computed by this call and read from the variant cache.
    """

    table: pd.DataFrame
    grid: SweepGrid
    spec: BacktestSpec
    computed: int
    from_cache: int
    data_source: str
    synthetic: bool
    universe_fingerprint: str
    data_fingerprint: str
    data_notes: tuple[str, ...] = ()


def sweep(
    spec: str | os.PathLike[str] | BacktestSpec,
    grid: str | os.PathLike[str] | Mapping[str, Any] | SweepGrid,
    *,
    source: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    variant_cache: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: Callable[[int, int, object], None] | None = None,
    deadline_s: float | None = None,
) -> SweepResult:
    """Run every variant of ``grid`` over the backtest ``spec`` on Dask; see the module docstring.

    Parameters
    ----------
    spec
        A backtest spec (path or :class:`~exchina_index.rules.spec.BacktestSpec`): data source,
        universe, period, AUM, benchmark, and the rulebook the grid's overrides merge over.
    grid
        A grid file, the mapping such a file holds, or a :class:`~exchina_index.research.grid.SweepGrid`.
    source, cache_dir, deadline_s
        Override the spec's data source; the Yahoo cache folder and download limit.
    variant_cache
        Folder of finished variants (default ``<spec folder>/output/.sweep-cache``).
    workers
        Worker processes of the local cluster (default: one per core). Not with ``scheduler``/``client``.
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``).
    client
        A ``distributed.Client`` to run on (left open).
    progress
        Called as ``progress(done, total, label)``: once with the variants found in the cache, then
        after each variant finishes.

    Raises
    ------
    InputError
        The spec or grid is malformed (before any data is loaded), or the options contradict each other.
    DataError, NetworkError
        The data cannot be loaded; the scheduler cannot be reached.
    OutputError
        The variant cache folder cannot be made (before any data is loaded).
    SweepError
        A variant failed on the cluster for a reason that is not the package's own error (its
        workers died too often, or a bug); the finished variants stay in the cache.
    """
    spec = spec if isinstance(spec, BacktestSpec) else load_spec(Path(spec))
    grid = _resolve_grid(grid, spec)
    _check_cluster_options(workers, scheduler, client)
    folder = Path(variant_cache) if variant_cache is not None else spec.path.parent / "output" / ".sweep-cache"
    try:  # before any work: a cache that cannot be written would lose every result
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make the variant cache {folder}: {exc.strerror}; give another folder") from None

    from exchina_index.data import load_market_data
    from exchina_index.simulation.benchmark import spec_benchmark_returns
    from exchina_index.universe.loading import load_universe

    universe = load_universe(spec.universe, spec.links, allow_no_links=spec.allow_no_links)
    market = load_market_data(
        universe,
        source=source or spec.source,
        cache_dir=None if cache_dir is None else Path(cache_dir),
        deadline_s=deadline_s,
    )
    bench = spec_benchmark_returns(
        spec, universe, market, cache_dir=None if cache_dir is None else Path(cache_dir), deadline_s=deadline_s
    )
    keys = [variant_key(spec, v, universe.fingerprint, str(market.fingerprint)) for v in grid.variants]
    rows: dict[int, dict[str, Any]] = {}
    for i, key in enumerate(keys):
        cached = _read_cached(folder / f"{key}.json", key)
        if cached is not None:
            rows[i] = cached
    missing = [i for i in range(len(keys)) if i not in rows]
    if progress is not None:
        progress(len(rows), len(keys), "cached")
    if missing:
        payload = pickle.dumps((universe, market, bench), protocol=pickle.HIGHEST_PROTOCOL)
        with _cluster(client, scheduler, workers) as c:
            _run_missing(c, payload, spec, grid, keys, missing, folder, rows, progress)
    return SweepResult(
        table=_table(grid, keys, rows),
        grid=grid,
        spec=spec,
        computed=len(missing),
        from_cache=len(keys) - len(missing),
        data_source=str(market.source),
        synthetic=bool(market.synthetic),
        universe_fingerprint=universe.fingerprint,
        data_fingerprint=str(market.fingerprint),
        data_notes=tuple(market.notes),
    )


def variant_key(spec: BacktestSpec, variant: Variant, universe_fingerprint: str, data_fingerprint: str) -> str:
    """The cache key of one variant's result (see the module docstring)."""
    content = {
        "schema": CACHE_SCHEMA,
        "package": __version__,
        "figures": list(METRIC_COLUMNS),
        "rulebook": variant.methodology.hash,
        "period": [spec.start, spec.end],
        "aum": spec.aum,
        "benchmark": [spec.benchmark_kind, spec.benchmark_ticker],
        "universe": universe_fingerprint,
        "data": data_fingerprint,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _resolve_grid(grid: Any, spec: BacktestSpec) -> SweepGrid:
    if isinstance(grid, SweepGrid):
        return grid
    if isinstance(grid, (str, os.PathLike)):
        return load_grid(grid, spec.methodology)
    if isinstance(grid, Mapping):
        return grid_from_mapping(grid, spec.methodology)
    raise InputError(f"grid must be a grid file, a mapping or a SweepGrid, got {short_repr(grid)}")


def _check_cluster_options(workers: Any, scheduler: Any, client: Any) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a whole number of at least 1, got {short_repr(workers)}")
    if sum(x is not None for x in (workers, scheduler, client)) > 1:
        raise InputError("give one of workers (a local cluster), scheduler (an address) or client, not several")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InputError(f"scheduler must be an address such as tcp://10.0.0.5:8786, got {short_repr(scheduler)}")


@contextlib.contextmanager
def _cluster(client: Any, scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """The client to run on: the caller's, one connected to ``scheduler``, or a local cluster's."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            remote = Client(scheduler, timeout=30)
        except (OSError, TimeoutError, ValueError) as exc:
            raise NetworkError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; check --scheduler") from None
        with remote:
            yield remote
        return
    with (
        LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,  # a backtest is single-threaded Python and numpy: one per process
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # loopback, any free port: never clashes with another cluster
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as local,
    ):
        yield local


def _run_missing(
    client: Any,
    payload: bytes,
    spec: BacktestSpec,
    grid: SweepGrid,
    keys: list[str],
    missing: list[int],
    folder: Path,
    rows: dict[int, dict[str, Any]],
    progress: Callable[[int, int, object], None] | None,
) -> None:
    """Send the missing variants to the cluster; write each result to the cache as it arrives."""
    from distributed import as_completed

    plugin = _SweepData(payload)
    client.register_plugin(plugin, name=plugin.name)
    futures = {
        client.submit(
            _run_variant,
            plugin.name,
            grid.variants[i].methodology,
            spec.start,
            spec.end,
            spec.aum,
            key=f"variant-{keys[i]}",
        ): i
        for i in missing
    }
    try:
        for future in as_completed(futures):
            i = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a bug in a task: reported, cache kept
                raise SweepError(
                    f"variant {grid.variants[i].number} ({grid.variants[i].label}) failed on the cluster: "
                    f"{type(exc).__name__}: {exc}; the {len(rows)} finished variants are saved in {folder}: "
                    "rerun to resume"
                ) from None
            _write_cached(folder, keys[i], grid.variants[i], row)
            rows[i] = row
            if progress is not None:
                progress(len(rows), len(keys), grid.variants[i].label)
    finally:
        client.cancel(list(futures))
        with contextlib.suppress(Exception):  # the cluster may be gone: nothing left to unregister
            client.unregister_worker_plugin(plugin.name)


class _SweepData(WorkerPlugin):
    """A Dask worker plugin carrying the universe, market data and benchmark to every worker once."""

    def __init__(self, payload: bytes) -> None:
        self.name = "exchina-sweep-" + hashlib.sha256(payload).hexdigest()[:16]
        self._payload = payload
        self.data: tuple[Any, Any, Any] | None = None

    def setup(self, worker: Any) -> None:
        self.data = pickle.loads(self._payload)
        self._payload = b""  # the worker keeps the objects, not their bytes too

    def teardown(self, worker: Any) -> None:
        self.data = None


def _run_variant(plugin_name: str, methodology: Any, start: str, end: str, aum: float) -> dict[str, Any]:
    """One variant, on a worker: the backtest and its figures (the package's errors become a row)."""
    from distributed import get_worker

    from exchina_index.simulation.backtest import backtest

    plugin = get_worker().plugins[plugin_name]
    assert isinstance(plugin, _SweepData) and plugin.data is not None  # set up when the worker joined
    universe, market, bench = plugin.data
    try:
        result = backtest(universe, market, methodology, start=start, end=end, aum=aum)
    except ExchinaIndexError as exc:
        return {"error": " ".join(str(exc).split())}
    return {**backtest_metrics(result, bench), "error": ""}


def _read_cached(path: Path, key: str) -> dict[str, Any] | None:
    """A finished variant's figures, or ``None`` when absent or not a file of this key and schema."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA or data.get("key") != key:
        return None
    row = data.get("row")
    if not isinstance(row, dict) or not ("error" in row and (row["error"] or set(METRIC_COLUMNS) <= set(row))):
        return None
    return row


def _write_cached(folder: Path, key: str, variant: Variant, row: dict[str, Any]) -> None:
    record = {"schema": CACHE_SCHEMA, "key": key, "params": [list(p) for p in variant.params], "row": row}
    atomic.write_bytes(folder / f"{key}.json", json.dumps(record, sort_keys=True, default=str).encode())


def _table(grid: SweepGrid, keys: list[str], rows: dict[int, dict[str, Any]]) -> pd.DataFrame:
    records = []
    for i, (v, key) in enumerate(zip(grid.variants, keys)):
        record: dict[str, Any] = {"variant": v.number, "key": key, "base": v.is_base, "label": v.label}
        for k in grid.keys:
            value = _value_at(v.methodology.raw, k)
            record[k] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value, sort_keys=True)
        record.update({c: rows[i].get(c) for c in METRIC_COLUMNS})
        record["error"] = rows[i].get("error", "")
        records.append(record)
    return pd.DataFrame.from_records(records)


def _value_at(raw: Mapping[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node
