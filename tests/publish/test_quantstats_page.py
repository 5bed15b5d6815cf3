"""Tests of the quantstats tearsheet page: the EOY chart's labels, the CAGR label, same bytes.

Offline and hermetic, on synthetic daily returns from a seeded RNG. The EOY chart is checked in the
SVG that ends up in the page: each year label must sit under the centre of that year's bars, and
the bar heights must be proportional to the yearly returns computed here by hand.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import math
import re
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from exchina_index.publish import quantstats_page  # noqa: E402
from exchina_index.publish.quantstats_page import finish_quantstats_html, run_quantstats  # noqa: E402

FIRST_YEAR = 2014
_NUM = r"-?\d+(?:\.\d+)?"


def daily(years: int, seed: int = 3) -> tuple[pd.Series, pd.Series]:
    """Strategy and benchmark business-day returns over ``years`` whole calendar years."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + years - 1}-12-31")
    strategy = pd.Series(rng.normal(4e-4, 0.011, len(dates)), index=dates, name="Strategy")
    bench = pd.Series(rng.normal(2e-4, 0.009, len(dates)), index=dates, name="Bench")
    return strategy, bench


def yearly(r: pd.Series) -> np.ndarray:
    """Compounded calendar-year returns, by hand."""
    return np.array([float(np.prod(1.0 + g.to_numpy()) - 1.0) for _, g in r.groupby(r.index.year)])


def eoy_svg(page: str) -> str:
    m = re.search(r'<div id="eoy_returns">\s*(<svg\b.*?</svg>)', page, flags=re.DOTALL)
    assert m, "no EOY chart in the page"
    return m.group(1)


def parse_chart(svg: str) -> tuple[list[tuple[float, float]], list[tuple[float, str]]]:
    """The bars (x centre, signed height in px, up positive) and the labelled x ticks (x, text).

    Bars are the clipped rectangles drawn from the zero line (``M x0 y0 L x1 y0 L x1 y1 L x0 y1``);
    backgrounds and legend swatches are not clipped. A tick's x is its grid line's or mark's.
    """
    bars = []
    for d in re.findall(r'<path d="([^"]*)"\s+clip-path=[^>]*style="fill: #(?!ffffff)', svg):
        n = [float(v) for v in re.findall(_NUM, d)]
        if len(n) == 8 and d.count("L") == 3:
            bars.append(((n[0] + n[2]) / 2, n[1] - n[5]))
    ticks = []
    starts = [m.start() for m in re.finditer(r'<g id="(?:qs\d+-)?xtick_\d+">', svg)]
    end = svg.find("ytick_")
    for a, b in zip(starts, starts[1:] + [end]):
        part = svg[a:b]
        x = re.search(rf'<use [^>]*?\bx="({_NUM})"', part) or re.search(rf'd="M ({_NUM})', part)
        label = re.search(r"<!-- (.*?) -->", part)
        if x and label and label.group(1).strip():
            ticks.append((float(x.group(1)), label.group(1).strip()))
    return sorted(bars), ticks


def alignment_problems(svg: str, years: list[int], *series: np.ndarray) -> list[str]:
    """What is wrong with a grouped yearly bar chart of ``series`` (left to right within a year)."""
    bars, ticks = parse_chart(svg)
    k = len(series)
    if len(bars) != k * len(years):
        return [f"{len(bars)} bars for {len(years)} years of {k} series"]
    groups = [bars[i * k : (i + 1) * k] for i in range(len(years))]
    centre = {y: float(np.mean([x for x, _ in g])) for y, g in zip(years, groups)}
    problems = []
    for x, label in ticks:
        if not label.isdigit() or int(label) not in centre:
            problems.append(f"tick label {label!r} is not one of the years")
        elif abs(x - centre[int(label)]) > 1.0:
            problems.append(f"label {label} at x={x:.1f}, its bars at x={centre[int(label)]:.1f}")
    if [t for _, t in sorted(ticks)] != [t for _, t in ticks] or len({t for _, t in ticks}) != len(ticks):
        problems.append("tick labels not in order left to right")
    heights = np.array([[h for _, h in g] for g in groups]).T  # series x years
    values = np.vstack(series) * 100
    scale = float((heights * values).sum() / (values * values).sum())
    if not scale > 0 or np.abs(heights - scale * values).max() > 0.01 * np.abs(heights).max():
        problems.append("bar heights are not proportional to the yearly returns")
    return problems


def qs_yearly_svg(strategy: pd.Series, bench: pd.Series, patched: bool) -> str:
    """quantstats' EOY chart alone, drawn as the report draws it, with or without our workaround."""
    buf = io.BytesIO()
    workaround = quantstats_page._aligned_eoy_bars() if patched else contextlib.nullcontext()
    with matplotlib.rc_context({"svg.hashsalt": "test"}), warnings.catch_warnings(), workaround:
        warnings.simplefilter("ignore")
        quantstats = quantstats_page._styled_quantstats()  # quantstats' style, as in the report
        quantstats.plots.yearly_returns(
            strategy,
            bench,
            figsize=(8, 4),
            subtitle=False,
            savefig={"fname": buf, "format": "svg"},
            show=False,
            ylabel="",
            prepare_returns=False,
        )
    return buf.getvalue().decode()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Finished pages: two identical 12-year runs and an 8-year run (about 5 s each)."""
    out = tmp_path_factory.mktemp("qs")
    strategy12, bench12 = daily(12)
    strategy8, bench8 = daily(8, seed=5)
    result = {}
    for key, (s, b) in {"12a": (strategy12, bench12), "12b": (strategy12, bench12), "8": (strategy8, bench8)}.items():
        raw = out / f"raw{key}.html"
        run_quantstats(s, b, raw, "Test index", "Bench")
        result[key] = finish_quantstats_html(raw.read_text(encoding="utf-8"), "Test index", synthetic=True)
    return result


@pytest.mark.parametrize(("key", "years", "seed"), [("12a", 12, 3), ("8", 8, 5)])
def test_eoy_chart_labels_sit_under_their_bars(pages: dict[str, str], key: str, years: int, seed: int) -> None:
    strategy, bench = daily(years, seed)
    svg = eoy_svg(pages[key])
    span = list(range(FIRST_YEAR, FIRST_YEAR + years))
    # quantstats puts the benchmark left of the strategy in each year
    assert alignment_problems(svg, span, yearly(bench), yearly(strategy)) == []
    assert [t for _, t in parse_chart(svg)[1]] == [str(y) for y in span]  # every year labelled


def test_upstream_chart_is_misaligned_and_the_check_sees_it() -> None:
    """The check catches the bug: quantstats 0.0.86 alone, 12 years; and an off-by-one made by hand."""
    from matplotlib.figure import Figure

    strategy, bench = daily(12)
    span = list(range(FIRST_YEAR, FIRST_YEAR + 12))
    # not `import quantstats` here: its import restyles matplotlib globally (our call undoes it)
    if tuple(int(p) for p in importlib.metadata.version("quantstats").split(".")[:3]) <= (0, 0, 86):
        raw = qs_yearly_svg(strategy, bench, patched=False)
        assert any(p.startswith("label ") for p in alignment_problems(raw, span, yearly(bench), yearly(strategy)))
    assert alignment_problems(qs_yearly_svg(strategy, bench, patched=True), span, yearly(bench), yearly(strategy)) == []

    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    ax.bar(np.arange(12) + 0.5, yearly(strategy) * 100, width=0.4)
    ax.set_xticks(np.arange(12) + 0.5, [str(y + 1) for y in span])  # each label one year late
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "test"}):
        fig.savefig(buf, format="svg")
    problems = alignment_problems(buf.getvalue(), span, yearly(strategy))
    assert sum(p.startswith("label ") for p in problems) == 11  # 2015 .. 2025 each under the year before
    assert "tick label '2026' is not one of the years" in problems


@pytest.mark.parametrize("years", [3, 11, 30])
def test_workaround_on_the_chart_alone(years: int) -> None:
    """quantstats' EOY chart with the workaround: aligned for short and long histories; at most
    16 labels, every k-th year from the first."""
    strategy, bench = daily(years, seed=years)
    svg = qs_yearly_svg(strategy, bench, patched=True)
    span = list(range(FIRST_YEAR, FIRST_YEAR + years))
    assert alignment_problems(svg, span, yearly(bench), yearly(strategy)) == []
    step = math.ceil(years / 16)
    assert [t for _, t in parse_chart(svg)[1]] == [str(y) for y in span[::step]]


def test_cagr_label_is_plain_and_no_stray_glyph(pages: dict[str, str]) -> None:
    page = pages["12a"]
    assert "\ufe6a" not in page
    assert re.search(r"<td>CAGR%</td>", page)
    assert not re.search(r"CAGR[^%<]", page)
    # the only non-ASCII characters written on purpose: Sortino/√2, minus signs in SVG comments and
    # the dash of our title's "— SYNTHETIC DEMO DATA"
    assert {c for c in page if ord(c) > 127} <= {"\u221a", "\u2212", "\u2014"}


def test_two_runs_give_the_same_bytes(pages: dict[str, str]) -> None:
    assert pages["12a"].encode() == pages["12b"].encode()
    assert "<metadata" not in pages["12a"] and "dc:date" not in pages["12a"]


def test_svg_ids_unique_and_references_resolve(pages: dict[str, str]) -> None:
    page = pages["12a"]
    ids = re.findall(r'(?<![\w:-])id="([^"]+)"', page)
    assert len(ids) == len(set(ids)) > 100
    refs = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', page))
    missing = {a or b for a, b in refs} - set(ids)
    assert missing == set()
    assert len(re.findall(r'id="qs\d+-figure_1"', page)) == len(re.findall(r"<svg\b", page)) > 10


def test_no_global_state_leaks(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    from quantstats._plotting import core

    before = dict(matplotlib.rcParams.copy())
    original = core.plot_returns_bars
    strategy, bench = daily(2)
    run_quantstats(strategy, bench, tmp_path / "raw.html", "T", "Bench")
    assert dict(matplotlib.rcParams.copy()) == before
    assert core.plot_returns_bars is original
    assert plt.get_fignums() == []
    assert (tmp_path / "raw.html").stat().st_size > 10_000
