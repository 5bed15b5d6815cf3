"""The quantstats tearsheet (``tearsheet.html``), run offline and post-processed.

quantstats is always given pandas Series (never a ticker string, which would make it download
data), an explicit output path (so it never opens a browser) and a benchmark we have aligned
ourselves. The page it writes is then post-processed: every external reference (favicon, links to
quantstats.io, SVG doctype and namespace URLs) is removed, a link to the thematic page is added
and, for synthetic data, the banner.

Three workarounds keep the page correct and reproducible (issue 17):

* **EOY bar chart.** quantstats 0.0.86 mislabels its "EOY Returns vs Benchmark" chart
  (quantstats issue #518, fix proposed in PR #515): pandas >= 3 draws the bars of a yearly
  ``DatetimeIndex`` at period ordinals (2016 -> 46), while quantstats renames the locator's ticks
  in order (each bar one year off) and, beyond 10 years, moves the labels to ``0 .. n-1`` (piled up
  left of the bars). While our call runs, and only then, its ``plot_returns_bars`` is wrapped
  (:func:`_aligned_eoy_bars`): the chart is drawn unsaved, its year ticks are put under the bars
  found in the figure, and it is saved as quantstats asked. The relabelling is idempotent, so an
  upstream fix breaks nothing; if the function or its arguments change, nothing is patched.
* **Stray glyph.** quantstats labels CAGR ``"CAGR\ufe6a"`` (SMALL PERCENT SIGN); it becomes ``%``.
* **Same inputs, same bytes.** matplotlib's SVG ids are random unless ``svg.hashsalt`` is set,
  and quantstats styles matplotlib only once, when imported (so a second call in the same process
  drew in another style). Each call applies that recorded style and a fixed salt inside an
  ``rc_context`` (nothing leaks); the RDF metadata with the save date is removed by
  :func:`~exchina_index.publish.html.strip_external_references`, and the ids of each chart get a
  prefix of their own (``qs3-...``) so that the page's inline SVGs share none.
"""

from __future__ import annotations

import contextlib
import functools
import html
import importlib
import inspect
import itertools
import logging
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exchina_index.publish.backtest_series import PERIODS_PER_YEAR
from exchina_index.publish.html import THEMATIC_FILE, strip_external_references, synthetic_banner_html

__all__ = ["plain_label", "run_quantstats", "finish_quantstats_html"]

#: matplotlib's SVG id salt during our call: ids become hashes of the content, not random.
_SVG_SALT = "exchina-index-quantstats"
#: At most this many year labels under the EOY chart; beyond, every k-th year is labelled.
_MAX_YEAR_LABELS = 16
#: The rcParams quantstats set when it was imported (its chart style), re-applied on every call.
_QS_STYLE: dict[str, Any] | None = None


def plain_label(text: str) -> str:
    """A label safe for quantstats, which pastes it raw into HTML and chart titles."""
    return re.sub(r"\s+", " ", str(text).replace("&", "and").replace("<", "").replace(">", "")).strip()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def run_quantstats(
    returns: pd.Series,
    benchmark: pd.Series | None,
    output: Path,
    title: str,
    benchmark_name: str | None,
) -> None:
    """Call ``quantstats.reports.html`` with Series only and an explicit output path.

    Parameters
    ----------
    returns
        The strategy's simple daily returns by date, named (the name is the strategy's label).
    benchmark
        ``None`` or the benchmark's daily returns on the same dates.
    output
        Where quantstats writes its page (never a browser).
    title
        Page title (escaped here).
    benchmark_name
        Label of the benchmark; default ``"Benchmark"``.

    Notes
    -----
    quantstats is imported here (it is slow to import and sets global matplotlib state); the call
    runs inside an ``rc_context`` with quantstats' recorded style and a fixed SVG id salt, and with
    the EOY chart's workaround (:func:`_aligned_eoy_bars`), all undone on return. Its warnings
    (pandas deprecations, seaborn) and matplotlib's "font family 'Arial' not found" log lines are
    silenced for the duration of the call.
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
        quantstats = _styled_quantstats()
        matplotlib.rcParams["svg.hashsalt"] = _SVG_SALT
        kwargs: dict[str, Any] = {"strategy_title": returns.name}
        if benchmark is not None:
            kwargs["benchmark_title"] = plain_label(benchmark_name or "Benchmark")
        with _aligned_eoy_bars():
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


def _styled_quantstats() -> Any:
    """The quantstats module, with its chart style applied to ``rcParams`` (call in an rc_context).

    quantstats styles matplotlib (seaborn theme, Arial) once, as a side effect of its import. On the
    first call that import runs on matplotlib's defaults (so the user's matplotlibrc does not leak
    in) and the resulting rcParams are recorded; later calls apply the record, so every call draws
    alike. If quantstats was imported before our first call (a notebook), the rcParams of that moment
    are used: the same bytes in any fresh process (the CLI, a script), the session's style there.
    """
    global _QS_STYLE
    import matplotlib

    if _QS_STYLE is None and "quantstats" not in sys.modules:
        matplotlib.rcdefaults()
    import quantstats

    if _QS_STYLE is None:
        _QS_STYLE = {k: v for k, v in matplotlib.rcParams.copy().items() if k != "backend"}
    else:
        rc: Any = matplotlib.rcParams  # typed with literal keys only
        rc.update(_QS_STYLE)
    return quantstats


@contextlib.contextmanager
def _aligned_eoy_bars() -> Iterator[None]:
    """While in the block, quantstats' ``plot_returns_bars`` puts its year labels under its bars.

    A narrowly scoped patch of ``quantstats._plotting.core.plot_returns_bars`` (used only by the
    EOY chart), restored on exit; see the module notes. Nothing is patched if quantstats no longer
    has that function or its ``returns``, ``benchmark``, ``savefig`` and ``show`` arguments.
    """
    try:
        core: Any = importlib.import_module("quantstats._plotting.core")
    except ImportError:  # pragma: no cover - another quantstats layout
        core = None
    original = getattr(core, "plot_returns_bars", None)
    patched = None if original is None else _relabelling(original)
    if patched is None:
        yield
        return
    core.plot_returns_bars = patched
    try:
        yield
    finally:
        core.plot_returns_bars = original


def _relabelling(original: Callable[..., Any]) -> Callable[..., Any] | None:
    """``original`` drawing unsaved, relabelled by :func:`_label_year_bars`, then saved as asked."""
    from matplotlib.figure import Figure

    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):  # pragma: no cover
        return None
    if not {"returns", "benchmark", "savefig", "show"} <= set(signature.parameters):
        return None

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        savefig, show = bound.arguments["savefig"], bound.arguments["show"]
        if show:  # interactive use, not our report: leave it alone
            return original(*args, **kwargs)
        bound.arguments["savefig"] = None
        fig = original(*bound.args, **bound.kwargs)
        if not isinstance(fig, Figure):  # a version returning no figure: draw as asked, unfixed
            return original(*args, **kwargs)
        _label_year_bars(fig, _year_span(bound.arguments["returns"], bound.arguments["benchmark"]))
        if isinstance(savefig, dict):
            fig.savefig(**savefig)
        elif savefig:
            fig.savefig(savefig)
        return fig

    return patched


def _year_span(returns: Any, benchmark: Any) -> list[int]:
    """The years of the bars ``plot_returns_bars`` draws: it keeps the dates where the returns and
    the benchmark are all known and resamples them to year ends (every year, first to last)."""
    try:
        known = pd.DataFrame(returns).notna().all(axis=1)
        if isinstance(benchmark, pd.Series):
            known &= benchmark.reindex(known.index).notna()
        dates = known.index[known.to_numpy()]
    except (TypeError, ValueError):
        return []
    if not isinstance(dates, pd.DatetimeIndex) or len(dates) == 0:
        return []
    return list(range(dates.min().year, dates.max().year + 1))


def _label_year_bars(fig: Any, years: list[int]) -> None:
    """Put the year ticks of a grouped yearly bar chart under the centres of its bar groups.

    Left untouched unless the figure has one axes whose bar containers each hold one bar per year,
    left to right. At most :data:`_MAX_YEAR_LABELS` years are labelled (every k-th from the first);
    the labels keep quantstats' rotation and alignment and the view spans the bars.
    """
    from matplotlib.container import BarContainer

    if len(fig.axes) != 1 or not years:
        return
    ax = fig.axes[0]
    groups = [c for c in ax.containers if isinstance(c, BarContainer)]
    if not groups or any(len(c) != len(years) for c in groups):
        return
    centres = np.mean([[p.get_x() + p.get_width() / 2 for p in c] for c in groups], axis=0)
    if not np.all(np.diff(centres) > 0):
        return
    step = math.ceil(len(years) / _MAX_YEAR_LABELS)
    old = ax.get_xticklabels()
    rotation, ha = (old[0].get_rotation(), old[0].get_horizontalalignment()) if old else (0.0, "center")
    ax.set_xticks([], minor=True)  # pandas' date locator would add minor ticks of its own
    ax.set_xticks(centres[::step], [str(y) for y in years[::step]], rotation=rotation, ha=ha)
    ax.set_xlim(centres[0] - 0.5, centres[-1] + 0.5)
    with contextlib.suppress(ValueError, RuntimeError):  # as quantstats: a layout that fails is kept
        fig.tight_layout()


def finish_quantstats_html(text: str, title: str, synthetic: bool) -> str:
    """Post-process quantstats' page: offline, our title, a link to the thematic page, the banner.

    Also: quantstats' SMALL PERCENT SIGN (``"CAGR\ufe6a"``) becomes ``%`` and the ids of each
    inline SVG get a prefix of their own, so that the charts share no id (see the module notes).
    The result depends on ``text``, ``title`` and ``synthetic`` only.
    """
    text = _unique_svg_ids(strip_external_references(text))
    text = re.sub("\ufe6a%?", "%", text)
    esc_title = html.escape(title, quote=False)
    if re.search(r"<title>.*?</title>", text, flags=re.DOTALL):
        text = re.sub(r"<title>.*?</title>", lambda _: f"<title>{esc_title}</title>", text, count=1, flags=re.DOTALL)
    top = (
        (synthetic_banner_html() if synthetic else "")
        + '<nav id="page-links" style="font:14px/1.4 Arial,Helvetica,sans-serif;margin:0 0 14px 0">'
        f'<a href="{THEMATIC_FILE}">Thematic page: stages, countries, holdings, turnover, liquidity, '
        "concentration, China nexus &rarr;</a></nav>"
    )
    m = re.search(r"<body\b[^>]*>", text, flags=re.IGNORECASE)
    if m is None:  # not the template we know: wrap what we got
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc_title}</title></head>'
            f"<body>{top}{text}</body></html>\n"
        )
    # drop the template's onload="save()" (an undefined function) along with any other body attribute
    return text[: m.start()] + "<body>\n" + top + text[m.end() :]


def _unique_svg_ids(text: str) -> str:
    """Prefix the ids defined in each ``<svg>`` of ``text``, and the references to them, with
    ``qs<n>-`` (``n`` counts the SVGs from 1): matplotlib reuses ids such as ``DejaVuSans-32`` or a
    clip path's hash in every chart, and an HTML page must not repeat an id."""
    counter = itertools.count(1)

    def one_svg(m: re.Match[str]) -> str:
        svg = m.group(0)
        prefix = f"qs{next(counter)}-"
        ids = set(re.findall(r'(?<![\w:-])id="([^"]+)"', svg))

        def rename(r: re.Match[str]) -> str:
            name = r.group(2)
            return r.group(1) + (prefix + name if name in ids else name) + r.group(3)

        return re.sub(r'((?<![\w:-])id="|url\(#|href="#)([^")]+)([")])', rename, svg)

    return re.sub(r"<svg\b.*?</svg\s*>", one_svg, text, flags=re.DOTALL | re.IGNORECASE)
