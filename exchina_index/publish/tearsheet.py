"""Tearsheets of a backtest: the quantstats report and a thematic page of our own, offline.

:func:`write_tearsheet` writes, into one folder:

``tearsheet.html``
    The quantstats HTML report of the **net total-return** index's daily returns, against an
    optional benchmark. quantstats is always given pandas Series (never a ticker string, which would
    make it download data), an explicit output path (so it never opens a browser) and a benchmark
    we have aligned ourselves. The written file is then post-processed: every external reference
    (favicon, links to quantstats.io, SVG doctype and namespace URLs) is removed, a link to the
    thematic page is added and, for synthetic data, a banner.
``thematic.html``
    A self-contained page (inline CSS, inline SVG charts made with matplotlib's ``Figure``, no
    script, font or image from anywhere): summary statistics, PR/TR/NTR/NAV levels with the
    tracking difference, stage, country and currency allocation over time, top holdings at the last
    review, turnover and costs per review, liquidity profile, concentration and China nexus. Same
    result in, byte-identical page out.
``levels.csv``, ``weights.csv``, ``turnover.csv``
    Index levels by date, target weights by implementation date, turnover and costs by
    implementation date, with ``%.10g`` floats.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``).

The benchmark
-------------
``benchmark`` is a pandas Series indexed by date (a one-column DataFrame is accepted too) holding
either daily **returns** (``benchmark_kind="returns"``, the default) or **levels / prices**
(``benchmark_kind="levels"``). There is no guessing: a "returns" series that looks like prices
(all values >= 0 and some > 1) is rejected with a message saying to pass ``benchmark_kind="levels"``.
It is aligned on the index's dates without look-ahead: its level on each index date is its last
level on or before that date (a benchmark holiday is a zero return; a day the benchmark traded
but the index did not is carried into the next index date). Both the index and the benchmark are
then restricted to the dates both cover, so quantstats never re-aligns them itself.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import math
import os
import re
import secrets
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Sequence

import numpy as np
import pandas as pd

from exchina_index.atomic import TEMP_PREFIX, write_text
from exchina_index.publish.review_report import data_notes_html
from exchina_index.errors import DataError, InputError, OutputError

if TYPE_CHECKING:  # pragma: no cover
    from exchina_index.simulation.backtest import BacktestResult

__all__ = ["write_tearsheet", "SYNTHETIC_BANNER", "strip_external_references", "find_external_references"]

#: Banner text shown at the top of both pages when the backtest ran on the synthetic demo market.
SYNTHETIC_BANNER = (
    "SYNTHETIC DEMO DATA \u2014 not real market prices; these numbers are not the performance of any "
    "real security or index"
)
SYNTHETIC_TAG = "SYNTHETIC DEMO DATA"
TEARSHEET_FILE = "tearsheet.html"
THEMATIC_FILE = "thematic.html"
PERIODS_PER_YEAR = 252
DEFAULT_INDEX_NAME = "U.S. & Allied (ex-China) Rare Earth Supply Chain Index"
STAGES: tuple[str, ...] = ("mining", "refining", "manufacturing")
LEVEL_COLUMNS: tuple[str, ...] = ("price_return", "total_return", "net_total_return", "nav")
LEVEL_LABELS: dict[str, str] = {
    "price_return": "Price return (PR)",
    "total_return": "Gross total return (TR)",
    "net_total_return": "Net total return (NTR)",
    "nav": "Fund NAV",
    "benchmark": "Benchmark",
}
_FLOAT_FORMAT = "%.10g"
_TOP_HOLDINGS = 20
_MAX_GROUPS = 8  # countries / currencies shown separately in the allocation charts; the rest is "Other"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#aec7e8", "#ffbb78")
_STAGE_COLOURS = {"mining": "#8c564b", "refining": "#1f77b4", "manufacturing": "#2ca02c"}
_LEVEL_COLOURS = {"price_return": "#7f7f7f", "total_return": "#1f77b4", "net_total_return": "#d62728",
                  "nav": "#2ca02c", "benchmark": "#ff7f0e"}


# --- public entry point ---------------------------------------------------------------------------


def write_tearsheet(
    result: BacktestResult,
    out_dir: str | os.PathLike[str],
    benchmark: pd.Series | pd.DataFrame | None = None,
    *,
    title: str | None = None,
    benchmark_name: str | None = None,
    benchmark_kind: Literal["returns", "levels"] = "returns",
) -> Path:
    """Write the quantstats tearsheet, the thematic page and the CSVs of a backtest.

    Parameters
    ----------
    result
        A :class:`~exchina_index.simulation.backtest.BacktestResult`.
    out_dir
        Output folder (created if needed). Existing files of the same names are replaced.
    benchmark
        ``None`` or a pandas Series by date (daily returns or levels, see ``benchmark_kind``). A
        ticker string is refused: fetch the data first (quantstats would download it).
    title
        Page title; default: the index name from the rulebook. When ``result.synthetic`` the words
        ``SYNTHETIC DEMO DATA`` are appended if the title does not already contain them.
    benchmark_name
        Label of the benchmark; default: the Series name, else ``"Benchmark"``.
    benchmark_kind
        ``"returns"`` (simple daily returns, 0.01 = 1 %) or ``"levels"`` (prices or index levels).

    Returns
    -------
    pathlib.Path
        The path of ``tearsheet.html``; ``thematic.html``, ``levels.csv``, ``weights.csv`` and
        ``turnover.csv`` are beside it.

    Raises
    ------
    InputError
        The benchmark is a string, of the wrong kind, or does not overlap the backtest.
    DataError
        The result has fewer than two valid index levels.
    OutputError
        The folder cannot be created or written.

    Examples
    --------
    >>> import exchina_index as xi                                     # doctest: +SKIP
    >>> bt = xi.backtest(universe, market, start="2019-01-01")         # doctest: +SKIP
    >>> xi.write_tearsheet(bt, "backtests/output/demo", benchmark=basket_returns)  # doctest: +SKIP
    PosixPath('backtests/output/demo/tearsheet.html')
    """
    from exchina_index.simulation.backtest import BacktestResult

    if not isinstance(result, BacktestResult):
        raise InputError(f"result must be a BacktestResult (from backtest()), got {type(result).__name__}")
    if not isinstance(out_dir, (str, os.PathLike)) or "\x00" in os.fspath(out_dir):
        raise OutputError(f"out_dir must be a folder path, got {out_dir!r}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the tearsheet folder {out} ({exc.strerror}); choose a writable folder") from None

    levels = _clean_levels(result.levels)
    index_name = _index_name(result)
    synthetic = bool(getattr(result, "synthetic", False))
    page_title = title if title is not None else index_name
    if synthetic and SYNTHETIC_TAG.lower() not in page_title.lower():
        page_title = f"{page_title} \u2014 {SYNTHETIC_TAG}"

    strategy = _daily_returns(levels["net_total_return"])
    bench_returns = None
    bench_label = None
    if benchmark is not None:
        bench_label = benchmark_name or _series_name(benchmark) or "Benchmark"
        aligned = _align_benchmark(benchmark, levels.index, benchmark_kind)
        both = strategy.notna() & aligned.notna()
        if int(both.sum()) < 2:
            raise InputError(
                f"the benchmark {bench_label!r} does not overlap the backtest "
                f"({levels.index[0].date()} to {levels.index[-1].date()}); give a benchmark covering that period"
            )
        first, last = both[both].index[0], both[both].index[-1]
        window = (strategy.index >= first) & (strategy.index <= last)
        strategy = strategy[window]
        bench_returns = aligned[window].fillna(0.0).rename(_plain(bench_label))

    # 1. the CSVs
    for name, text in _csv_texts(result, levels).items():
        write_text(out / name, text)
    # 2. the thematic page
    write_text(out / THEMATIC_FILE, render_thematic(result, page_title, benchmark=bench_returns, benchmark_name=bench_label))
    # 3. the quantstats report, post-processed
    target = out / TEARSHEET_FILE
    raw_path = out / f"{TEMP_PREFIX}quantstats-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        _run_quantstats(strategy, bench_returns, raw_path, page_title, bench_label)
        try:
            raw = raw_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise OutputError(f"quantstats wrote no report to {raw_path}") from None
    finally:
        with contextlib.suppress(OSError):
            raw_path.unlink()
    write_text(target, finish_quantstats_html(raw, page_title, synthetic))
    return target


# --- inputs ---------------------------------------------------------------------------------------


def _index_name(result: Any) -> str:
    m = getattr(result, "methodology", None)
    name = getattr(m, "name", None)
    return str(name) if name else DEFAULT_INDEX_NAME


def _naive_dates(index: pd.Index, what: str) -> pd.DatetimeIndex:
    """A tz-naive, nanosecond DatetimeIndex (quantstats and pandas 3 resolution quirks)."""
    try:
        idx = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be indexed by dates ({exc})") from None
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # daily bars: keep the exchange's calendar date
    return idx.astype("datetime64[ns]")


def _clean_levels(levels: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in LEVEL_COLUMNS if c not in levels.columns]
    if missing:
        raise DataError(f"the backtest levels have no column(s) {', '.join(missing)}")
    lv = levels[list(LEVEL_COLUMNS)].astype("float64")
    lv.index = _naive_dates(lv.index, "the backtest levels")
    lv = lv.sort_index().dropna(how="any")  # the engine leaves rows before the first review NaN
    if len(lv) < 2:
        raise DataError("the backtest has fewer than two valid index levels; run it over a longer period")
    if (lv <= 0).to_numpy().any():
        raise DataError("the backtest has a non-positive index level; a tearsheet cannot be computed")
    lv.index.name = "date"
    return lv


def _daily_returns(level: pd.Series) -> pd.Series:
    r = level.pct_change(fill_method=None).iloc[1:].astype("float64")
    r.name = "Index (NTR)"
    return r


def _series_name(obj: Any) -> str | None:
    if isinstance(obj, pd.DataFrame) and obj.shape[1] == 1:
        return str(obj.columns[0])
    name = getattr(obj, "name", None)
    return None if name is None else str(name)


def _align_benchmark(benchmark: Any, dates: pd.DatetimeIndex, kind: str) -> pd.Series:
    """Benchmark returns on ``dates[1:]`` (NaN where the benchmark does not cover both ends)."""
    if isinstance(benchmark, (str, bytes)):
        raise InputError(
            f"the benchmark must be a pandas Series of daily returns or levels, not the string {benchmark!r} "
            "(quantstats would download it); load its prices first and pass them with benchmark_kind='levels'"
        )
    if isinstance(benchmark, pd.DataFrame):
        if benchmark.shape[1] != 1:
            raise InputError(f"a benchmark DataFrame must have one column, got {benchmark.shape[1]}")
        benchmark = benchmark.iloc[:, 0]
    if not isinstance(benchmark, pd.Series):
        raise InputError(f"the benchmark must be a pandas Series indexed by date, got {type(benchmark).__name__}")
    if kind not in ("returns", "levels"):
        raise InputError(f"benchmark_kind must be 'returns' or 'levels', got {kind!r}")
    s = pd.Series(pd.to_numeric(benchmark, errors="coerce").to_numpy(dtype="float64"),
                  index=_naive_dates(benchmark.index, "the benchmark"))
    if s.index.has_duplicates:
        dup = s.index[s.index.duplicated()][0]
        raise InputError(f"the benchmark has more than one value at {dup}")
    s = s.sort_index().dropna()
    if kind == "levels":  # a close stamped with a time of day is that day's close
        s = s.groupby(s.index.normalize()).last()
    elif not (s.index == s.index.normalize()).all():
        raise InputError("benchmark returns must be daily, indexed by dates without a time of day; "
                         "pass the prices with benchmark_kind='levels' instead")
    if s.empty:
        raise InputError("the benchmark has no numeric values")
    if kind == "returns":
        if s.min() >= 0 and s.max() > 1:
            raise InputError("the benchmark looks like prices or levels (all >= 0, some > 1); "
                             "pass benchmark_kind='levels'")
        if (s <= -1).any():
            raise InputError(f"the benchmark has a daily return of -100 % or less on {s.index[s <= -1][0].date()}")
        level = (1.0 + s).cumprod()
    else:
        if (s <= 0).any():
            raise InputError(f"the benchmark has a non-positive level on {s.index[s <= 0][0].date()}")
        level = s
    # Last benchmark level on or before each index date; undefined before its first and after its last date.
    pos = level.index.searchsorted(dates, side="right") - 1
    values = level.to_numpy()[np.clip(pos, 0, None)]
    known = (pos >= 0) & (dates <= level.index[-1])
    on_dates = pd.Series(np.where(known, values, np.nan), index=dates)
    ret = (on_dates / on_dates.shift(1) - 1.0).iloc[1:]
    return ret.astype("float64")


def _plain(text: str) -> str:
    """A label safe for quantstats, which pastes it raw into HTML and chart titles."""
    return re.sub(r"\s+", " ", str(text).replace("&", "and").replace("<", "").replace(">", "")).strip()


# --- quantstats ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _run_quantstats(
    returns: pd.Series, benchmark: pd.Series | None, output: Path, title: str, benchmark_name: str | None,
) -> None:
    """Call ``quantstats.reports.html`` with Series only and an explicit output path.

    quantstats is imported here (it is slow to import and sets global matplotlib state, which the
    ``rc_context`` undoes); its warnings (pandas deprecations, seaborn) and matplotlib's "font
    family 'Arial' not found" log lines are silenced for the duration of the call.
    """
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)
    except TypeError:  # matplotlib < 3.10
        backend = matplotlib.rcParams._get_backend_or_none()  # type: ignore[attr-defined]
    if backend is None:  # nothing chosen yet: never let quantstats' pyplot pick a GUI backend
        matplotlib.use("Agg")
    with matplotlib.rc_context(), warnings.catch_warnings(), _quiet("matplotlib.font_manager"):
        warnings.simplefilter("ignore")
        import quantstats

        kwargs: dict[str, Any] = {"strategy_title": returns.name}
        if benchmark is not None:
            kwargs["benchmark_title"] = _plain(benchmark_name or "Benchmark")
        quantstats.reports.html(
            returns,
            benchmark=benchmark,
            rf=0.0,
            title=html.escape(title, quote=False),
            output=str(output),
            compounded=True,
            periods_per_year=PERIODS_PER_YEAR,
            figfmt="svg",
            match_dates=True,
            **kwargs,
        )


# Resource references to another host: src/href/... attributes, CSS url() and @import.
_EXTERNAL = r"""(?:https?:)?//"""
_RESOURCE_ATTR_RE = re.compile(
    r"""\b(?:src|href|srcset|action|poster|data|xlink:href)\s*=\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE)
_CSS_URL_RE = re.compile(r"""url\(\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:url\()?\s*["']?\s*""" + _EXTERNAL, re.IGNORECASE)
_ANY_URL_RE = re.compile(r"https?://", re.IGNORECASE)


def find_external_references(text: str) -> list[str]:
    """Every ``http(s)://`` or protocol-relative reference in a src/href attribute, CSS ``url()`` or
    ``@import`` of ``text``, plus any other ``http(s)://`` string (returned as short excerpts)."""
    hits = []
    for rx in (_RESOURCE_ATTR_RE, _CSS_URL_RE, _CSS_IMPORT_RE, _ANY_URL_RE):
        hits += [text[max(m.start() - 40, 0): m.end() + 40] for m in rx.finditer(text)]
    return hits


def strip_external_references(text: str) -> str:
    """Remove every reference to another host from an HTML page with inline SVG.

    Elements that load something (``<link>``, ``<script src>``, ``<img>``, ``<iframe>``, ...) are
    dropped; ``<a href="http...">text</a>`` keeps its text; CSS ``@import`` and ``url()`` to another
    host are dropped; inline SVG loses its XML prolog, doctype (which names the W3C DTD), RDF
    metadata and ``xmlns`` declarations (an HTML5 parser needs none of them).
    """
    ext = r"""(?:https?:)?//"""
    attr = r"""\b(?:src|href|srcset|poster|data)\s*=\s*["']?\s*""" + ext
    flags = re.IGNORECASE | re.DOTALL
    text = re.sub(r"<\?xml[^>]*\?>\s*", "", text, flags=flags)
    text = re.sub(r"<!DOCTYPE\s+svg[^>]*>\s*", "", text, flags=flags)
    text = re.sub(r"<metadata\b.*?</metadata>\s*", "", text, flags=flags)
    text = re.sub(r"""\s+xmlns(?::[\w-]+)?\s*=\s*(["'])[^"']*\1""", "", text, flags=flags)
    for tag in ("script", "iframe", "object", "video", "audio"):
        text = re.sub(rf"<{tag}\b[^>]*{attr}[^>]*>.*?</{tag}\s*>", "", text, flags=flags)
    text = re.sub(rf"<(?:link|img|source|embed|input|image|use)\b[^>]*{attr}[^>]*?/?>", "", text, flags=flags)
    text = re.sub(rf"<a\b[^>]*{attr}[^>]*>(.*?)</a\s*>", r"\1", text, flags=flags)
    text = re.sub(r"""@import\s+[^;]*?""" + ext + r"""[^;]*;""", "", text, flags=flags)
    text = re.sub(r"""url\(\s*["']?\s*""" + ext + r"""[^)]*\)""", "none", text, flags=flags)
    return text


def _banner_html() -> str:
    return (
        '<div id="synthetic-banner" role="alert" style="background:#b00020;color:#fff;'
        'font:bold 16px/1.4 Arial,Helvetica,sans-serif;padding:12px 16px;margin:0 0 18px 0;'
        f'text-align:center;border-radius:4px">{html.escape(SYNTHETIC_BANNER, quote=False)}</div>'
    )


def finish_quantstats_html(text: str, title: str, synthetic: bool) -> str:
    """Post-process quantstats' page: offline, our title, a link to the thematic page, the banner."""
    text = strip_external_references(text)
    esc_title = html.escape(title, quote=False)
    if re.search(r"<title>.*?</title>", text, flags=re.DOTALL):
        text = re.sub(r"<title>.*?</title>", lambda _: f"<title>{esc_title}</title>", text, count=1, flags=re.DOTALL)
    top = (
        (_banner_html() if synthetic else "")
        + '<nav id="page-links" style="font:14px/1.4 Arial,Helvetica,sans-serif;margin:0 0 14px 0">'
        f'<a href="{THEMATIC_FILE}">Thematic page: stages, countries, holdings, turnover, liquidity, '
        "concentration, China nexus &rarr;</a></nav>"
    )
    m = re.search(r"<body\b[^>]*>", text, flags=re.IGNORECASE)
    if m is None:  # not the template we know: wrap what we got
        return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc_title}</title></head>' \
               f"<body>{top}{text}</body></html>\n"
    # drop the template's onload="save()" (an undefined function) along with any other body attribute
    return text[: m.start()] + "<body>\n" + top + text[m.end():]


# --- CSVs -----------------------------------------------------------------------------------------


def _csv_texts(result: Any, levels: pd.DataFrame) -> dict[str, str]:
    def csv(frame: pd.DataFrame, label: str) -> str:
        f = frame.copy()
        f.index = pd.DatetimeIndex(f.index)
        f.index.name = label
        return f.to_csv(float_format=_FLOAT_FORMAT, date_format="%Y-%m-%d", lineterminator="\n")

    weights = _frame_by_date(result.weights).fillna(0.0)
    weights = weights.reindex(columns=sorted(weights.columns, key=str))
    flows = pd.DataFrame({
        "turnover": _series_by_date(result.turnover),
        "cost": _series_by_date(result.costs),
    }).sort_index()
    return {
        "levels.csv": csv(levels, "date"),
        "weights.csv": csv(weights, "implement"),
        "turnover.csv": csv(flows, "implement"),
    }


def _frame_by_date(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.astype("float64")
    f.index = _naive_dates(f.index, "the backtest frames")
    return f.sort_index()


def _series_by_date(series: pd.Series) -> pd.Series:
    s = pd.Series(series, dtype="float64")
    s.index = _naive_dates(s.index, "the backtest series")
    return s.sort_index()


# --- numbers for the thematic page ----------------------------------------------------------------


def _years(index: pd.DatetimeIndex) -> float:
    return (index[-1] - index[0]).days / 365.25


def _cagr(level: pd.Series) -> float:
    years = _years(level.index)
    if years <= 0:
        return float("nan")
    return float((level.iloc[-1] / level.iloc[0]) ** (1.0 / years) - 1.0)


def _volatility(level: pd.Series) -> float:
    r = level.pct_change(fill_method=None).iloc[1:]
    return float(r.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if len(r) > 1 else float("nan")


def _max_drawdown(level: pd.Series) -> float:
    return float((level / level.cummax() - 1.0).min())


def _effective_n(weights: pd.DataFrame) -> pd.Series:
    w = weights.fillna(0.0).clip(lower=0.0)
    sq = (w ** 2).sum(axis=1)
    return (1.0 / sq.where(sq > 0)).astype("float64")


def _sample_dates(index: pd.DatetimeIndex, extra: Sequence[pd.Timestamp] = ()) -> pd.DatetimeIndex:
    """The first date, the last date of every month and the ``extra`` dates (those in ``index``)."""
    if len(index) == 0:
        return index
    ser = pd.Series(index, index=index)
    month_ends = ser.groupby([index.year, index.month]).max()
    keep = pd.DatetimeIndex([index[0], *month_ends.to_numpy(), *[d for d in extra if d in index]])
    return keep.unique().sort_values()


def _weekly(level: pd.DataFrame) -> pd.DataFrame:
    idx = level.index
    iso = idx.isocalendar()
    last = pd.Series(idx, index=idx).groupby([iso["year"].to_numpy(), iso["week"].to_numpy()]).max()
    keep = pd.DatetimeIndex([idx[0], *last.to_numpy()]).unique().sort_values()
    return level.loc[keep]


def _ticker_meta(result: Any, tickers: Sequence[str]) -> pd.DataFrame:
    """name, issuer, country (of classification), currency and stage exposures by ticker."""
    universe = getattr(result, "universe", None)
    frame = getattr(universe, "frame", None)
    frame = pd.DataFrame(index=pd.Index([], dtype=object)) if frame is None else frame
    meta = pd.DataFrame(index=pd.Index(sorted(set(tickers) | set(frame.index), key=str), name="ticker"))
    for col in ("name", "issuer", "currency"):
        meta[col] = frame[col].reindex(meta.index).astype(object) if col in frame.columns else np.nan
    for stage in STAGES:
        meta[stage] = frame[stage].reindex(meta.index).astype("float64") if stage in frame.columns else np.nan
    # country of classification: the review reports (newest first), then the universe's rule, then domicile
    country = pd.Series(np.nan, index=meta.index, dtype=object)
    for key in sorted(result.reviews, reverse=True):
        country = country.combine_first(result.reviews[key].report.names.country.reindex(meta.index).astype(object))
    if {"domicile", "hq"} <= set(frame.columns):
        try:
            from exchina_index.construction.screens import country_of_classification

            rule = country_of_classification(frame, result.methodology)
        except Exception:  # no rulebook at hand: domicile
            rule = frame["domicile"]
        country = country.combine_first(rule.reindex(meta.index).astype(object))
    meta["country"] = country
    for col in ("name", "issuer", "country", "currency"):
        meta[col] = meta[col].where(meta[col].notna(), "?").astype(str)
    meta[list(STAGES)] = meta[list(STAGES)].fillna(0.0)
    return meta


def _flags_of(report: Any, index: pd.Index) -> pd.Series:
    return report.names.flags.reindex(index).fillna("").astype(str).str.strip()


class _Numbers:
    """Everything the thematic page shows, computed once (and checkable in tests)."""

    def __init__(self, result: Any, benchmark: pd.Series | None) -> None:
        self.levels = _clean_levels(result.levels)
        lv = self.levels
        self.targets = _frame_by_date(result.weights).fillna(0.0)
        drifted = _frame_by_date(result.drifted)
        self.drifted = drifted.loc[(drifted.index >= lv.index[0]) & (drifted.index <= lv.index[-1])].fillna(0.0)
        self.reviews = {pd.Timestamp(k): v for k, v in result.reviews.items()}
        self.review_dates = sorted(set(self.targets.index) | set(self.reviews))
        tickers = sorted(set(self.targets.columns) | set(self.drifted.columns), key=str)
        self.targets = self.targets.reindex(columns=tickers, fill_value=0.0)
        self.drifted = self.drifted.reindex(columns=tickers, fill_value=0.0)
        self.meta = _ticker_meta(result, tickers)
        self.turnover = _series_by_date(result.turnover)
        self.costs = _series_by_date(result.costs)

        # summary statistics
        series = {c: lv[c] for c in LEVEL_COLUMNS}
        self.benchmark_level = None
        if benchmark is not None and len(benchmark):
            start = lv.index[lv.index.get_indexer([benchmark.index[0]])[0] - 1]
            base = lv.loc[start, "net_total_return"]
            b = pd.concat([pd.Series([0.0], index=[start]), benchmark])
            self.benchmark_level = (base * (1.0 + b).cumprod()).rename("benchmark")
            series["benchmark"] = self.benchmark_level
        self.series = series
        self.stats = pd.DataFrame({
            k: {
                "start": s.index[0], "end": s.index[-1], "start_level": float(s.iloc[0]), "end_level": float(s.iloc[-1]),
                "total_return": float(s.iloc[-1] / s.iloc[0] - 1.0), "cagr": _cagr(s), "volatility": _volatility(s),
                "max_drawdown": _max_drawdown(s),
            } for k, s in series.items()
        }).T
        self.years = _years(lv.index)

        # allocation over time (month ends + review dates)
        self.sample = _sample_dates(self.drifted.index, self.review_dates)
        d = self.drifted.loc[self.sample]
        self.stage_alloc = d @ self.meta.loc[d.columns, list(STAGES)]
        self.country_alloc = _grouped(d, self.meta["country"])
        self.currency_alloc = _grouped(d, self.meta["currency"])

        # concentration
        self.effn_targets = _effective_n(self.targets)
        self.effn_drifted = _effective_n(d)
        self.names_held = (self.targets > 0).sum(axis=1)

        # China nexus: targets at each review with that review's flags; drifted with the flags in force
        flagged_rows, drifted_nexus = {}, pd.Series(0.0, index=d.index)
        for k in self.review_dates:
            if k in self.reviews:
                flagged_rows[k] = _flags_of(self.reviews[k].report, self.targets.columns) != ""
        self.flagged = pd.DataFrame(flagged_rows).T.reindex(columns=self.targets.columns).fillna(False).astype(bool) \
            if flagged_rows else pd.DataFrame(False, index=self.targets.index[:0], columns=self.targets.columns)
        common = self.flagged.index.intersection(self.targets.index)
        self.nexus_targets = (self.targets.loc[common] * self.flagged.loc[common]).sum(axis=1).astype("float64")
        if len(self.flagged):
            pos = self.flagged.index.searchsorted(d.index, side="right") - 1
            in_force = self.flagged.to_numpy()[np.clip(pos, 0, None)] & (pos >= 0)[:, None]
            drifted_nexus[:] = (d.to_numpy() * in_force).sum(axis=1)
        self.nexus_drifted = drifted_nexus

        # the last review
        self.last = max(self.reviews) if self.reviews else None
        self.last_report = None if self.last is None else self.reviews[self.last].report
        if self.last is not None and self.last in self.targets.index:
            self.last_weights = self.targets.loc[self.last]
        elif self.last_report is not None:
            self.last_weights = self.last_report.names.weight.reindex(self.targets.columns).fillna(0.0)
        elif len(self.targets):
            self.last_weights = self.targets.iloc[-1]
        else:
            self.last_weights = pd.Series(dtype="float64")


def _grouped(weights: pd.DataFrame, label: pd.Series) -> pd.DataFrame:
    g = weights.T.groupby(label.reindex(weights.columns).fillna("?")).sum().T
    g = g.loc[:, (g > 0).any()]  # groups never held (e.g. excluded countries) get no legend entry
    order = sorted(g.columns, key=lambda c: (-float(g[c].mean()), str(c)))
    if len(order) > _MAX_GROUPS:
        keep, rest = order[: _MAX_GROUPS - 1], order[_MAX_GROUPS - 1:]
        g = pd.concat([g[keep], g[rest].sum(axis=1).rename("Other")], axis=1)
    else:
        g = g[order]
    return g


# --- formatting -----------------------------------------------------------------------------------


def _pct(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x * 100:.{digits}f}%"


def _bp(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 1e4:.1f} bp"


def _num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if np.isinf(x):
        return "inf"
    return f"{x:,.{digits}f}"


def _date(t: Any) -> str:
    return pd.Timestamp(t).strftime("%Y-%m-%d")


class _Cell:
    def __init__(self, text: str, id: str | None = None, cls: str | None = None) -> None:
        self.text, self.id, self.cls = text, id, cls


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str = "", table_id: str | None = None) -> str:
    def td(c: Any, tag: str) -> str:
        if isinstance(c, _Cell):
            attrs = (f' id="{html.escape(c.id)}"' if c.id else "") + (f' class="{c.cls}"' if c.cls else "")
            return f"<{tag}{attrs}>{html.escape(c.text, quote=False)}</{tag}>"
        return f"<{tag}>{html.escape(str(c), quote=False)}</{tag}>"

    head = "".join(td(h, "th") for h in headers)
    body = "\n".join("<tr>" + "".join(td(c, "td") for c in r) + "</tr>" for r in rows)
    tid = f' id="{table_id}"' if table_id else ""
    return f'<table class="{cls}"{tid}><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()


# --- charts ---------------------------------------------------------------------------------------

_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@contextlib.contextmanager
def _chart_rc() -> Iterator[None]:
    """matplotlib's defaults (not the user's style, nor what quantstats changed) and fixed SVG ids."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update({
            "font.family": "DejaVu Sans", "font.size": 9, "svg.fonttype": "none", "svg.hashsalt": "exchina-index",
            "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
            "legend.fontsize": 8, "legend.frameon": False, "path.simplify": True,
        })
        yield


def _figure(width: float = 9.0, height: float = 3.6, nrows: int = 1, *, legend_outside: bool = False,
            bottom: float = 0.55, **kw: Any) -> tuple[Any, Any]:
    """A figure with fixed margins (in inches): a layout engine would double the drawing time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.75 / width, right=1 - (1.9 if legend_outside else 0.2) / width,
                        top=1 - 0.35 / height, bottom=bottom / height, hspace=0.45)
    axes = fig.subplots(nrows, 1, **kw)
    return fig, axes


def _svg(fig: Any, name: str) -> str:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = f"exchina-index-{name}"  # ids unique per chart on the page
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=_SVG_METADATA)
    text = strip_external_references(buf.getvalue())
    return f'<div class="chart" id="chart-{name}">{text.strip()}</div>'


def _x(index: pd.DatetimeIndex) -> np.ndarray:
    return index.to_numpy(dtype="datetime64[ns]")


def _stacked(frame: pd.DataFrame, title: str, name: str, colours: Sequence[str] | None = None) -> str:
    fig, ax = _figure(height=3.2, legend_outside=True)
    cols = list(frame.columns)
    colours = list(colours) if colours is not None else [_PALETTE[i % len(_PALETTE)] for i in range(len(cols))]
    ax.stackplot(_x(frame.index), *[frame[c].to_numpy() * 100 for c in cols], labels=[str(c) for c in cols],
                 colors=colours, linewidth=0.0, alpha=0.9)
    ax.set_ylim(0, max(100.0, float(frame.sum(axis=1).max() * 100) if len(frame) else 100.0))
    ax.set_ylabel("% of index")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, name)


def _levels_chart(n: _Numbers) -> str:
    fig, (ax, ax2) = _figure(height=5.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for key, s in n.series.items():
        w = _weekly(s.to_frame())[s.name]
        ax.plot(_x(w.index), w.to_numpy(), label=LEVEL_LABELS.get(key, key), color=_LEVEL_COLOURS[key],
                linewidth=1.4 if key == "net_total_return" else 1.0)
    lo = min(float(s.min()) for s in n.series.values())
    hi = max(float(s.max()) for s in n.series.values())
    if hi / lo > 3:  # log scale only where it helps; minor labels off (they are slow and cluttered)
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("level (log scale, start 1000)")
    else:
        ax.set_ylabel("level (start 1000)")
    ax.set_title("Index levels and fund NAV", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    td = _weekly((n.levels["nav"] / n.levels["net_total_return"] - 1.0).to_frame("td"))["td"]
    ax2.plot(_x(td.index), td.to_numpy() * 100, color=_LEVEL_COLOURS["nav"], linewidth=1.0)
    ax2.axhline(0.0, color="black", linewidth=0.6)
    ax2.set_ylabel("NAV / NTR \u2212 1 (%)")
    ax2.set_title("Cumulative tracking difference of the fund", loc="left", fontsize=9)
    return _svg(fig, "levels")


def _turnover_chart(n: _Numbers) -> str:
    fig, (ax, ax2) = _figure(height=4.2, nrows=2, sharex=True, bottom=0.8)
    labels = [_date(t) for t in n.turnover.index]
    pos = np.arange(len(labels))
    ax.bar(pos, n.turnover.to_numpy() * 100, color="#1f77b4")
    ax.set_ylabel("one-way turnover (%)")
    ax.set_title("Turnover and trading costs per review (the first is the initial purchase)", loc="left", fontsize=10)
    costs = n.costs.reindex(n.turnover.index).fillna(0.0)
    ax2.bar(pos, costs.to_numpy() * 1e4, color="#d62728")
    ax2.set_ylabel("cost (bp of NAV)")
    step = max(1, len(labels) // 16)
    ax2.set_xticks(pos[::step], labels[::step], rotation=45, ha="right", fontsize=7)
    return _svg(fig, "turnover")


def _review_lines_chart(n: _Numbers) -> str:
    fig, (ax, ax2) = _figure(height=4.6, nrows=2, sharex=True)
    ax.plot(_x(n.effn_drifted.index), n.effn_drifted.to_numpy(), color="#7f7f7f", linewidth=1.0, label="drifted (month ends)")
    ax.plot(_x(n.effn_targets.index), n.effn_targets.to_numpy(), "o", color="#1f77b4", markersize=3.5, label="at reviews (targets)")
    ax.set_ylabel("effective names 1/\u03a3w\u00b2")
    ax.set_title("Concentration: effective number of names", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    ax2.plot(_x(n.nexus_drifted.index), n.nexus_drifted.to_numpy() * 100, color="#7f7f7f", linewidth=1.0, label="drifted (month ends)")
    ax2.plot(_x(n.nexus_targets.index), n.nexus_targets.to_numpy() * 100, "o", color="#d62728", markersize=3.5, label="at reviews (targets)")
    ax2.set_ylabel("% in flagged names")
    ax2.set_title("China nexus: weight in names with a reported China link", loc="left", fontsize=10)
    ax2.legend(loc="upper left")
    return _svg(fig, "concentration")


def _liquidity_chart(stats: pd.DataFrame) -> str:
    fig, ax = _figure(height=2.8)
    pos = np.arange(len(stats))
    mx = stats["max"].replace([np.inf], np.nan).to_numpy()
    avg = stats["wavg"].replace([np.inf], np.nan).to_numpy()
    ax.bar(pos - 0.2, mx, width=0.4, label="max (least liquid holding)", color="#d62728")
    ax.bar(pos + 0.2, avg, width=0.4, label="weighted average", color="#1f77b4")
    ax.set_xticks(pos, [f"AUM {c}" for c in stats.index])
    ax.set_ylabel("days to liquidate")
    ax.set_title("Liquidity profile at the last review", loc="left", fontsize=10)
    ax.legend(loc="upper left")
    return _svg(fig, "liquidity")


# --- the thematic page ----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 Arial,Helvetica,sans-serif;color:#111;background:#fff;margin:24px}
.container{max-width:1040px;margin:auto}
h1{font-size:22px;margin:0 0 4px 0}h2{font-size:17px;margin:28px 0 8px 0;border-bottom:1px solid #ccc;padding-bottom:3px}
p.meta{color:#555;margin:2px 0}
nav a{color:#06c;text-decoration:none}nav a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:6px 0 14px 0;font-size:12.5px}
th,td{padding:3px 8px;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th{background:#f2f2f2;font-weight:bold}
td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left;white-space:normal}
.chart svg{width:100%;height:auto;max-width:1000px}
.note{color:#555;font-size:12.5px}
.warn{background:#fff4e5;border:1px solid #f0b37e;padding:6px 10px;border-radius:4px;margin:8px 0}
""".strip()


def render_thematic(
    result: Any, title: str, *, benchmark: pd.Series | None = None, benchmark_name: str | None = None,
) -> str:
    """The thematic page as one HTML string (deterministic for a given result and benchmark)."""
    n = _Numbers(result, benchmark)
    synthetic = bool(getattr(result, "synthetic", False))
    m = getattr(result, "methodology", None)
    source = str(getattr(result, "data_source", "unknown"))
    with _chart_rc():
        parts = [
            _section_summary(n, result, benchmark_name),
            _section_levels(n, result),
            _section_stages(n, m),
            _section_countries(n),
            _section_holdings(n),
            _section_turnover(n),
            _section_liquidity(n, m),
            _section_concentration(n),
            _section_china(n),
        ]
    version = getattr(m, "version", None)
    meta_line = (
        f"Data source: {source}{' (synthetic)' if synthetic else ''} \u00b7 rulebook "
        f"{getattr(m, 'name', DEFAULT_INDEX_NAME)}{f' v{version}' if version else ''} \u00b7 "
        f"period {_date(n.levels.index[0])} to {_date(n.levels.index[-1])} \u00b7 fund AUM "
        f"${float(getattr(result, 'aum', float('nan'))):,.0f}"
    )
    head = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title, quote=False)} \u2014 thematic page</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
        "<div class=\"container\">\n"
    )
    top = (
        (_banner_html() + "\n" if synthetic else "")
        + f'<nav id="page-links"><a href="{TEARSHEET_FILE}">&larr; Performance tearsheet (quantstats, net total return)</a></nav>\n'
        + f"<h1>{html.escape(title, quote=False)}</h1>\n"
        + f'<p class="meta" id="data-source">{html.escape(meta_line, quote=False)}</p>\n'
        + data_notes_html(result.universe.notes + result.data_notes)
    )
    return head + top + "\n".join(parts) + "\n</div>\n</body>\n</html>\n"


def _section_summary(n: _Numbers, result: Any, benchmark_name: str | None) -> str:
    st = n.stats
    rows = []
    for key in st.index:
        s = st.loc[key]
        label = LEVEL_LABELS.get(key, key) if key != "benchmark" else f"Benchmark: {benchmark_name or 'Benchmark'}"
        rows.append([
            label, f"{_date(s['start'])} to {_date(s['end'])}", _num(s["start_level"]), _num(s["end_level"]),
            _Cell(_pct(s["total_return"]), id=f"total-{key}"), _Cell(_pct(s["cagr"]), id=f"cagr-{key}"),
            _Cell(_pct(s["volatility"]), id=f"vol-{key}"), _Cell(_pct(s["max_drawdown"]), id=f"mdd-{key}"),
        ])
    perf = _table(["Series", "Period", "Start", "End", "Total return", "CAGR", "Volatility (ann.)", "Max drawdown"],
                  rows, table_id="summary-performance")
    t = n.turnover
    later = t.iloc[1:] if len(t) > 1 else t
    delistings = getattr(result, "delistings", ()) or ()
    facts = [
        ["Period", _Cell(f"{_date(n.levels.index[0])} to {_date(n.levels.index[-1])} ({n.years:.2f} years, "
                         f"{len(n.levels)} closes)", id="period")],
        ["Reviews", _Cell(str(len(n.review_dates)), id="n-reviews")],
        ["Average one-way turnover per review (after the initial purchase)", _Cell(_pct(float(later.mean()) if len(later) else float('nan')), id="avg-turnover")],
        ["Annual one-way turnover (after the initial purchase)",
         _Cell(_pct(float(later.sum()) / n.years if len(t) > 1 and n.years > 0 else float("nan")), id="annual-turnover")],
        ["Total trading costs (sum over reviews, fraction of NAV)", _Cell(_bp(float(n.costs.sum())), id="total-costs")],
        ["Tracking difference (annualised NAV return \u2212 NTR return)",
         _Cell(_pct(float(getattr(result, "tracking_difference", float("nan")))), id="tracking-difference")],
        ["Max drawdown of the net total-return index", _Cell(_pct(n.stats.loc["net_total_return", "max_drawdown"]), id="mdd-ntr")],
        ["Delistings sold between reviews", str(len(delistings))],
        ["Data source", _Cell(str(getattr(result, "data_source", "unknown"))
                              + (" \u2014 SYNTHETIC" if getattr(result, "synthetic", False) else ""), id="summary-source")],
    ]
    return (
        '<h2 id="summary">Summary</h2>\n' + perf + "\n"
        + _table(["Item", "Value"], facts, table_id="summary-facts")
        + '\n<p class="note">CAGR = (last level / first level)^(1/years) \u2212 1 with years = calendar days / 365.25; '
        "volatility = standard deviation of daily returns \u00d7 \u221a252. PR, TR and NTR are index levels, gross "
        "of trading costs and fees; the NAV is a fund tracking the NTR index after trading costs and the expense ratio."
        + (" The benchmark is aligned on the index's dates and shown from its first common date, rebased to the NTR level."
           if n.benchmark_level is not None else "") + "</p>"
    )


def _section_levels(n: _Numbers, result: Any) -> str:
    td = float(getattr(result, "tracking_difference", float("nan")))
    return (
        '<h2 id="levels">PR, TR, NTR and NAV</h2>\n' + _levels_chart(n)
        + f'\n<p class="note">Annualised tracking difference of the fund to the NTR index: '
        f'<b id="td-figure">{html.escape(_pct(td))}</b> per year (weekly points in the chart).</p>'
    )


def _section_stages(n: _Numbers, m: Any) -> str:
    sa = n.stage_alloc
    chart = _stacked(sa, "Stage allocation over time (\u03a3 drifted weight \u00d7 stage exposure)", "stages",
                     [_STAGE_COLOURS[s] for s in sa.columns])
    targets = dict(getattr(getattr(m, "stages", None), "target_map", {}) or {})
    after = n.last_report.stages["after"] if n.last_report is not None and "after" in n.last_report.stages else None
    rows = [[s, _pct(targets.get(s, float("nan")), 1), _pct(float(after[s]) if after is not None and s in after.index else float("nan"), 1),
             _Cell(_pct(float(sa[s].iloc[-1]) if len(sa) else float("nan"), 1), id=f"stage-now-{s}")] for s in sa.columns]
    return ('<h2 id="stages">Stage allocation</h2>\n' + chart + "\n"
            + _table(["Stage", "Target", "At the last review", f"Drifted, {_date(sa.index[-1]) if len(sa) else 'n/a'}"], rows,
                     table_id="stage-table"))


def _section_countries(n: _Numbers) -> str:
    def last_table(frame: pd.DataFrame, what: str) -> str:
        if not len(frame):
            return ""
        last = frame.iloc[-1]
        order = sorted(frame.columns, key=lambda c: (-float(last[c]), str(c)))
        return _table([what, f"Weight {_date(frame.index[-1])}"], [[str(c), _pct(float(last[c]))] for c in order if last[c] > 0],
                      table_id=f"{_slug(what)}-table")

    return (
        '<h2 id="countries">Country and currency allocation</h2>\n'
        + _stacked(n.country_alloc, "Country of classification (domicile; offshore shells take their HQ)", "countries")
        + last_table(n.country_alloc, "Country")
        + _stacked(n.currency_alloc, "Trading currency of the listing", "currencies")
        + last_table(n.currency_alloc, "Currency")
    )


def _section_holdings(n: _Numbers) -> str:
    if n.last is None and not len(n.last_weights):
        return '<h2 id="holdings">Top holdings</h2>\n<p>No review.</p>'
    w = n.last_weights[n.last_weights > 0]
    order = sorted(w.index, key=lambda t: (-float(w[t]), str(t)))
    flags = _flags_of(n.last_report, w.index) if n.last_report is not None else pd.Series("", index=w.index)
    rows = []
    for rank, t in enumerate(order[:_TOP_HOLDINGS], start=1):
        mt = n.meta.loc[t]
        split = " / ".join(f"{mt[s] * 100:.0f}" for s in STAGES)
        rows.append([str(rank), _Cell(str(t), cls="text"), _Cell(mt["name"], cls="text"), _Cell(mt["issuer"], cls="text"),
                     mt["country"], split, _Cell(_pct(float(w[t])), id=f"weight-{_slug(t)}"),
                     _Cell(flags[t].replace(";", "; ") or "\u2014", cls="text")])
    when = _date(n.last) if n.last is not None else "last"
    shown = f"top {_TOP_HOLDINGS} of {len(order)}" if len(order) > _TOP_HOLDINGS else f"all {len(order)}"
    return (f'<h2 id="holdings">Top holdings at the last review ({when}; {shown} names held)</h2>\n'
            + _table(["#", "Ticker", "Name", "Issuer", "Country", "Mining / refining / manufacturing (%)", "Weight",
                      "China-link flags"], rows, table_id="holdings-table"))


def _section_turnover(n: _Numbers) -> str:
    rows = []
    costs = n.costs.reindex(n.turnover.index).fillna(0.0)
    for t in n.turnover.index:
        rows.append([_date(t), str(int(n.names_held.get(t, 0))), _pct(float(n.turnover[t])), _bp(float(costs[t]))])
    total = ["Total", "", _pct(float(n.turnover.sum())), _Cell(_bp(float(costs.sum())), id="turnover-total-costs")]
    return ('<h2 id="turnover">Turnover and costs per review</h2>\n' + _turnover_chart(n) + "\n"
            + _table(["Implementation date", "Names held", "One-way turnover", "Trading cost (of NAV)"], [*rows, total],
                     table_id="turnover-table"))


def _section_liquidity(n: _Numbers, m: Any) -> str:
    head = '<h2 id="liquidity">Liquidity profile</h2>\n'
    rep = n.last_report
    dtt = getattr(rep, "days_to_trade", None)
    if rep is None or dtt is None or not len(dtt.columns):
        return head + "<p>No liquidity figures in the last review.</p>"
    dtt = dtt.astype("float64").sort_index()
    w = rep.names.weight.reindex(dtt.index).fillna(0.0).astype("float64")
    limit = getattr(getattr(m, "liquidity", None), "days_to_trade", None)
    participation = getattr(getattr(m, "liquidity", None), "participation", None)
    stats = {}
    for col in dtt.columns:
        d = dtt[col]
        ok = d.notna()
        wsum = float(w[ok].sum())
        stats[col] = {
            "max": float(d[ok].max()) if ok.any() else float("nan"),
            "wavg": float((w[ok] * d[ok]).sum() / wsum) if wsum > 0 else float("nan"),
            "over": int((d > limit).sum()) if limit is not None else None,
        }
    st = pd.DataFrame(stats).T
    rows = [[f"AUM {c}", _Cell(_num(st.loc[c, "max"]), id=f"liq-max-{_slug(c)}"),
             _Cell(_num(st.loc[c, "wavg"]), id=f"liq-wavg-{_slug(c)}"),
             "n/a" if limit is None else str(int(st.loc[c, "over"]))] for c in st.index]
    summary = _table(["Fund size", "Max days (least liquid holding)", "Weighted-average days",
                      f"Holdings over {_num(limit, 1) if limit is not None else '?'} days"], rows, table_id="liquidity-table")
    largest = dtt.columns[-1]
    worst = sorted(dtt.index, key=lambda t: (-(dtt.loc[t, largest] if np.isfinite(dtt.loc[t, largest]) else np.inf), str(t)))[:10]
    per_name = _table(["Ticker", "Weight", *[f"Days at {c}" for c in dtt.columns]],
                      [[str(t), _pct(float(w[t])), *[_num(float(dtt.loc[t, c])) for c in dtt.columns]] for t in worst],
                      table_id="liquidity-names")
    note = (f'<p class="note">Days to liquidate a holding = weight \u00d7 AUM / ({_pct(participation, 0) if participation else "participation"} '
            f"of its average daily traded value), at the last review ({_date(n.last)}). Least liquid holdings at AUM {largest}:</p>")
    return head + _liquidity_chart(st) + "\n" + summary + "\n" + note + "\n" + per_name


def _section_concentration(n: _Numbers) -> str:
    rows = [[_date(t), str(int(n.names_held.get(t, 0))),
             _Cell(_num(float(n.effn_targets[t])), id=f"effn-{_date(t)}" if t != n.effn_targets.index[-1] else "effn-last"),
             _pct(float(n.targets.loc[t].max()))] for t in n.effn_targets.index]
    return ('<h2 id="concentration">Concentration and China nexus over time</h2>\n' + _review_lines_chart(n) + "\n"
            + _table(["Implementation date", "Names held", "Effective names (1/\u03a3w\u00b2)", "Largest weight"], rows,
                     table_id="concentration-table"))


def _section_china(n: _Numbers) -> str:
    rows = [[_date(t), _Cell(_pct(float(v)), id="china-nexus-last" if t == n.nexus_targets.index[-1] else f"china-nexus-{_date(t)}")]
            for t, v in n.nexus_targets.items()]
    over = _table(["Implementation date", "Weight in names with a China-link flag"], rows, table_id="china-nexus-table")
    held = n.last_weights[n.last_weights > 0]
    if n.last_report is not None:
        flags = _flags_of(n.last_report, held.index)
        names = n.last_report.names
        detail = names.detail.reindex(held.index).fillna("").astype(str)
        flagged = sorted(held.index[flags != ""], key=lambda t: (-float(held[t]), str(t)))
        frows = [[_Cell(str(t), cls="text"), _Cell(n.meta.loc[t, "name"], cls="text"), n.meta.loc[t, "country"],
                  _pct(float(held[t])), _Cell(flags[t].replace(";", "; "), cls="text"), _Cell(detail[t], cls="text")]
                 for t in flagged]
    else:
        frows = []
    table = (_table(["Ticker", "Name", "Country", "Weight", "Flags", "Links in force"], frows, table_id="china-flagged")
             if frows else '<p id="china-flagged">No holding has a reported China link at the last review.</p>')
    return ('<h2 id="china">China nexus</h2>\n<p class="note">Eligible names keep their weight but carry a flag when a '
            "China link below the exclusion threshold is in force at the review (a minority Chinese stake, operations "
            "in China, an offtake agreement).</p>\n" + over + f"\n<h3>Flagged holdings at the last review "
            f"({_date(n.last) if n.last is not None else 'n/a'})</h3>\n" + table)
