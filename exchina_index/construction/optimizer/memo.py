"""Facts of one review computed once: the layouts every LP and QP of its relaxation ladder shares.

The ladder solves up to a few dozen LPs and QPs per review on the same anchor, exposures, stage
basis and limits; laying them out in canonical order (and building the Series they come in) is
most of the work of each. A :class:`Memo` lives for one review (the ladder makes one per
:func:`~exchina_index.construction.ladder.solve_with_ladder` call) and is dropped with it: nothing
is kept across reviews or rulebooks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["Memo", "remembered"]

T = TypeVar("T")


class Memo:
    """Values computed once, keyed by the identity of the objects they are computed from (and a
    hashable tag). The memo holds those objects, so an id cannot be reused by another object while
    it lives; the objects must not be changed meanwhile (a review's inputs are not)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[tuple[tuple[int, ...], Hashable], tuple[tuple[object, ...], Any]] = {}

    def get(self, sources: tuple[object, ...], tag: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once for these ``sources`` (by identity) and ``tag``."""
        key = (tuple(map(id, sources)), tag)
        hit = self._values.get(key)
        if hit is None:
            hit = (sources, compute())
            self._values[key] = hit
        return hit[1]

    def clear(self) -> None:
        """Forget every value (and the objects held for their keys)."""
        self._values.clear()


def remembered(memo: Memo | None, sources: tuple[object, ...], tag: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` through ``memo`` (computed each time without one)."""
    return compute() if memo is None else memo.get(sources, tag, compute)
