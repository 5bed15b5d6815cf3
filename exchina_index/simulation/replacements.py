"""Holdings between two reviews in shares: the replacement of deletions (rulebook
``governance.replace_deletions``) and the portfolio the next review sees as its incumbents.

Both follow the index's units (shares per unit of index value) from a trade: they grow with the
prices and change only with the corporate actions that change shares (:class:`UnitOps`: a split,
a consolidation, a rights issue, a spin-off, a stock merger). Cash events (a special dividend, a
cash merger) and deletions at the end of a line's data leave the other units as they are; their
value is spread pro rata, which only the weights see.

Replacement (see :mod:`exchina_index.simulation.backtest`): when a constituent's listing ends
between two reviews (its last close ``c``) and the number of constituents left falls below
``governance.min_constituents``, its weight at the close ``c`` goes to the first name of the
review's reserve list that is not held and trades on ``c`` and the day after. The targets of stock
mergers are not deletions: their shares become the acquirer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exchina_index.rules.methodology import Methodology

__all__ = ["UnitOps", "replacements", "weights_at"]


@dataclass(frozen=True)
class UnitOps:
    """Share changes by row: ``(ex-date row, column, other column or -1, factor, moves)``, sorted.

    ``other < 0``: the column's units are multiplied by ``factor`` (split, consolidation, rights
    taken up). Otherwise ``factor`` units of ``other`` per unit of the column are added (a spin-off,
    ``moves`` False; a stock merger, ``moves`` True, which also ends the column's units). ``price``
    are the USD closes the units are valued at (as traded when there are ops).
    """

    price: np.ndarray
    ops: tuple[tuple[int, int, int, float, bool], ...] = ()
    exchanged: frozenset[tuple[int, int]] = field(default_factory=frozenset)

    def apply(self, units: np.ndarray, after: int, upto: int) -> None:
        """Apply, in place, the ops of the rows ``after < row <= upto``."""
        for row, col, other, factor, moves in self.ops:
            if row <= after:
                continue
            if row > upto:
                return
            if other < 0:
                units[col] *= factor
            else:
                units[other] += factor * units[col]
                if moves:
                    units[col] = 0.0


def _units(w: np.ndarray, price: np.ndarray) -> np.ndarray:
    units = np.zeros(len(w))
    held = w > 0
    units[held] = w[held] / price[held]
    return units


def weights_at(w: np.ndarray, row: int, to: int, prices: UnitOps) -> np.ndarray:
    """The weights ``w`` set at the close ``row``, at the close ``to``: the units through the share
    changes in between, at the prices of ``to``; a name without a price there is sold and its value
    spread pro rata (the result sums to 1; all zeros when nothing is left)."""
    units = _units(w, prices.price[row])
    prices.apply(units, row, to)
    held = np.flatnonzero(units > 0)
    value = units[held] * prices.price[to, held]
    value = np.where(np.isnan(value), 0.0, value)
    out = np.zeros(len(w))
    total = value.sum()
    out[held] = value / total if total > 0 else value
    return out


def replacements(
    w: np.ndarray,
    start: int,
    stop: int,
    prices: UnitOps,
    alive: np.ndarray,
    reserve: np.ndarray,
    m: Methodology,
    replaced: list[tuple[int, int, int, float]],
) -> list[tuple[int, np.ndarray]]:
    """The trades that replace the deletions between the review trading ``w`` at row ``start`` and
    the next one at row ``stop``, in time order: ``(row, target)``.

    A target keeps a deletion that is not replaced: the engine sells it pro rata at once. Each
    replacement is appended to ``replaced`` as ``(row, deleted, replacement, weight)``. Deletions
    on one close are replaced in column order while the count is below the floor.
    """
    floor = m.governance.min_constituents
    price = prices.price
    held = w > 0
    if start + 1 < len(alive):
        held &= alive[start + 1]  # a target name gone the next day is sold at once by the engine
    units = _units(np.where(held, w, 0.0), price[start])
    trades: list[tuple[int, np.ndarray]] = []
    row = start
    while True:
        cols = np.flatnonzero(units > 0)
        seg = alive[row + 1 : stop + 1][:, cols]  # deaths at the closes row+1 .. stop-1
        dies = seg[:-1] & ~seg[1:]
        hit = np.flatnonzero(dies.any(axis=1))
        if cols.size == 0 or hit.size == 0:
            return trades
        death = row + 1 + int(hit[0])
        prices.apply(units, row, death)  # the share changes up to that close
        row = death
        deleted = cols[dies[hit[0]]]
        value = np.where(units > 0, units * price[row], 0.0)
        target = value / value.sum()
        count = int((units > 0).sum()) - deleted.size
        moved = False
        for j in deleted:
            if (row, int(j)) in prices.exchanged:
                continue
            if count >= floor:
                break
            free = (units[reserve] == 0) & alive[row, reserve] & alive[row + 1, reserve]
            free &= np.isfinite(price[row, reserve]) & (target[reserve] == 0)
            if not free.any():
                break
            r = int(reserve[np.flatnonzero(free)[0]])
            target[r], target[j] = target[j], 0.0
            replaced.append((row, int(j), r, float(target[r])))
            count += 1
            moved = True
        if moved:
            trades.append((row, target.copy()))
        kept = target.copy()
        gone = [int(j) for j in deleted if (row, int(j)) not in prices.exchanged]
        kept[gone] = 0.0  # a stock-merger target keeps its units until its shares become the acquirer's
        units = _units(kept, price[row])
