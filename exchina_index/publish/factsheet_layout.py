"""Drawing primitives of the factsheet PDF: an A4 page placed in inches from its top-left corner.

Everything is drawn on a bare matplotlib ``Figure`` (no pyplot, no layout engine): bands, text,
wrapped paragraphs, tables, horizontal bar charts and the level chart. Positions are fixed, so
the same numbers give the same drawing; :mod:`exchina_index.publish.factsheet` decides what goes
where.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from exchina_index._text import SYNTHETIC_BANNER, SYNTHETIC_TAG

__all__ = [
    "PAGE_WIDTH",
    "PAGE_HEIGHT",
    "MARGIN",
    "NAVY",
    "RED",
    "Page",
    "wrap",
    "fit",
    "level_chart",
    "bar_breakdown",
]

#: A4 portrait, in inches.
PAGE_WIDTH, PAGE_HEIGHT = 8.27, 11.69
#: Left and right margin, in inches.
MARGIN = 0.5
NAVY = "#12355b"
RED = "#b22222"
_LIGHT = "#e8eef5"
_STRIPE = "#f5f7fa"
_GREY = "#555555"
#: Average advance of a DejaVu Sans character in running text, in ems (wrapping), and a wider
#: one for table cells (truncation: digits and capitals are wider than the average letter).
_EM_PER_CHAR = 0.53
_EM_PER_CELL_CHAR = 0.56
_HEADER_TOP = 0.3  # the synthetic band's space, kept on every page so the layout does not move


def _chars(width_in: float, size_pt: float, em: float = _EM_PER_CHAR) -> int:
    """How many characters of ``size_pt`` fit, on average, in ``width_in`` inches."""
    return max(4, int(width_in * 72.0 / (size_pt * em)))


def wrap(text: str, width_in: float, size_pt: float) -> list[str]:
    """``text`` wrapped into lines that fit ``width_in`` inches at ``size_pt`` points."""
    return textwrap.wrap(text, _chars(width_in, size_pt)) or [""]


def fit(text: str, width_in: float, size_pt: float) -> str:
    """``text`` cut with an ellipsis to fit ``width_in`` inches at ``size_pt`` points."""
    n = _chars(width_in, size_pt, _EM_PER_CELL_CHAR)
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


class Page:
    """One A4 page: a bare ``Figure`` with helpers placing things in inches from the top-left.

    Parameters
    ----------
    synthetic
        Draw the red synthetic-data band at the top, a diagonal watermark and a footer line.
    """

    def __init__(self, *, synthetic: bool) -> None:
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(PAGE_WIDTH, PAGE_HEIGHT))
        self.synthetic = synthetic
        if synthetic:
            self.rect(0.0, 0.0, PAGE_WIDTH, 0.26, RED)
            self.text(PAGE_WIDTH / 2, 0.13, SYNTHETIC_BANNER, size=7.2, weight="bold", color="white", ha="center")
            self.fig.text(
                0.5,
                0.5,
                SYNTHETIC_TAG,
                fontsize=64,
                color=RED,
                alpha=0.07,
                rotation=55,
                ha="center",
                va="center",
                weight="bold",
                zorder=10,
            )

    def _fx(self, x: float) -> float:
        return x / PAGE_WIDTH

    def _fy(self, y: float) -> float:
        return 1.0 - y / PAGE_HEIGHT

    def text(self, x: float, y: float, s: str, *, size: float = 8.0, va: str = "center", **kw: Any) -> None:
        """``s`` at ``x`` inches from the left, ``y`` inches from the top (``va`` says which edge)."""
        kw.setdefault("color", "black")
        self.fig.text(self._fx(x), self._fy(y), s, fontsize=size, va=va, **kw)

    def rect(self, x: float, y: float, w: float, h: float, colour: str) -> None:
        """A filled rectangle whose top-left corner is at (``x``, ``y``)."""
        from matplotlib.patches import Rectangle

        self.fig.patches.append(
            Rectangle(
                (self._fx(x), self._fy(y + h)),
                w / PAGE_WIDTH,
                h / PAGE_HEIGHT,
                transform=self.fig.transFigure,
                facecolor=colour,
                edgecolor="none",
                zorder=0,
            )
        )

    def hline(self, x0: float, x1: float, y: float, colour: str = NAVY, width: float = 0.8) -> None:
        """A horizontal rule from ``x0`` to ``x1`` at ``y``."""
        from matplotlib.lines import Line2D

        self.fig.lines.append(
            Line2D(
                [self._fx(x0), self._fx(x1)],
                [self._fy(y), self._fy(y)],
                transform=self.fig.transFigure,
                color=colour,
                linewidth=width,
            )
        )

    def header(self, title: str, subtitle: str, *, height: float = 0.8) -> float:
        """The navy title band; returns the ``y`` below it."""
        self.rect(0.0, _HEADER_TOP, PAGE_WIDTH, height, NAVY)
        big = 15.0 if height >= 0.7 else 11.0
        title = fit(title, PAGE_WIDTH - 2 * MARGIN, big)
        self.text(MARGIN, _HEADER_TOP + height * 0.38, title, size=big, color="white", weight="bold")
        self.text(MARGIN, _HEADER_TOP + height * 0.76, subtitle, size=8.0, color="#d6e2f0")
        return _HEADER_TOP + height + 0.15

    def heading(self, x: float, y: float, width: float, s: str) -> float:
        """A section heading with a rule under it; returns the ``y`` below it."""
        self.text(x, y + 0.1, s, size=9.5, weight="bold", color=NAVY)
        self.hline(x, x + width, y + 0.22)
        return y + 0.3

    def paragraph(self, x: float, y: float, width: float, s: str, *, size: float = 8.0, **kw: Any) -> float:
        """``s`` wrapped to ``width`` inches; returns the ``y`` below it."""
        step = size * 1.35 / 72.0
        for i, line in enumerate(wrap(s, width, size)):
            self.text(x, y + i * step, line, size=size, va="top", **kw)
        return y + len(wrap(s, width, size)) * step + 0.05

    def table(
        self,
        x: float,
        y: float,
        widths: Sequence[float],
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        aligns: str | None = None,
        size: float = 7.5,
        row_height: float = 0.18,
        bold_last: bool = False,
    ) -> float:
        """A table: a shaded header row, striped body rows; ``aligns`` holds one of ``l``/``r``
        per column (the first left, the others right by default). Returns the ``y`` below it."""
        aligns = aligns or "l" + "r" * (len(widths) - 1)
        lefts = np.concatenate([[x], x + np.cumsum(widths)[:-1]])
        total = float(sum(widths))
        pad = 0.05

        def draw_row(cells: Sequence[str], top: float, **kw: Any) -> None:
            for cell, left, w, a in zip(cells, lefts, widths, aligns):
                at = left + pad if a == "l" else left + w - pad
                self.text(float(at), top + row_height / 2, fit(cell, w - 2 * pad, size), size=size, ha=a_map[a], **kw)

        a_map = {"l": "left", "r": "right", "c": "center"}
        self.rect(x, y, total, row_height, _LIGHT)
        draw_row(headers, y, weight="bold", color=NAVY)
        for i, row in enumerate(rows):
            top = y + (i + 1) * row_height
            if i % 2 == 1:
                self.rect(x, top, total, row_height, _STRIPE)
            last = bold_last and i == len(rows) - 1
            draw_row(row, top, weight="bold" if last else "normal")
        end = y + (len(rows) + 1) * row_height
        self.hline(x, x + total, end, colour="#9aa8b8", width=0.5)
        return end + 0.08

    def axes(self, x: float, y: float, w: float, h: float) -> Any:
        """Axes whose plotting area has its top-left corner at (``x``, ``y``)."""
        return self.fig.add_axes((self._fx(x), self._fy(y + h), w / PAGE_WIDTH, h / PAGE_HEIGHT))

    def footer(self, number: int, total: int, disclaimer: str, as_of: str) -> None:
        """The disclaimer, the data date and the page number at the foot of the page."""
        top = PAGE_HEIGHT - 0.95
        self.hline(MARGIN, PAGE_WIDTH - MARGIN, top, colour="#9aa8b8", width=0.5)
        y = self.paragraph(MARGIN, top + 0.06, PAGE_WIDTH - 2 * MARGIN, disclaimer, size=6.2, color=_GREY)
        if self.synthetic:
            self.text(MARGIN, y + 0.04, SYNTHETIC_BANNER, size=6.6, weight="bold", color=RED)
        self.text(MARGIN, PAGE_HEIGHT - 0.3, f"Index data as of {as_of}", size=6.6, color=_GREY)
        self.text(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 0.3, f"Page {number} of {total}", size=6.6, ha="right")


def _plain_axes(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=7)


def level_chart(ax: Any, series: Mapping[str, pd.Series], colours: Mapping[str, str]) -> None:
    """Level lines (one per label), a log scale when they span more than a factor of three."""
    _plain_axes(ax)
    for label, s in series.items():
        ax.plot(s.index.to_numpy(dtype="datetime64[ns]"), s.to_numpy(), label=label, color=colours[label], lw=1.1)
    lo = min(float(s.min()) for s in series.values())
    hi = max(float(s.max()) for s in series.values())
    if hi / lo > 3:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("log scale", fontsize=7)
    ax.grid(True, alpha=0.3, lw=0.5)
    ax.legend(loc="upper left", fontsize=7, frameon=False)


def bar_breakdown(ax: Any, weights: pd.Series, colours: Sequence[str] | None = None) -> None:
    """Horizontal bars of ``weights`` (fractions, largest on top), each labelled in per cent."""
    _plain_axes(ax)
    w = weights[weights > 0]
    pos = np.arange(len(w))[::-1]
    ax.barh(pos, w.to_numpy() * 100, color=list(colours) if colours is not None else NAVY, height=0.65)
    ax.set_yticks(pos, [str(k) for k in w.index], fontsize=7)
    top = float(w.max() * 100) if len(w) else 1.0
    ax.set_xlim(0, top * 1.28)
    for p, v in zip(pos, w.to_numpy()):
        ax.text(v * 100 + top * 0.02, p, f"{v * 100:.1f}%", va="center", fontsize=6.8)
    ax.set_xticks([])
    ax.spines["bottom"].set_visible(False)
    ax.grid(False)
