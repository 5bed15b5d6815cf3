"""Sweep grids: the rulebook variants a committee studies, read from a TOML file and validated in
full before any work starts.

Format (every key is a rulebook key of ``universe/methodology.toml``, in TOML's dotted or table
form)::

    description = "caps, liquidity and stage tolerance"   # optional, shown on the sweep page
    [grid]                          # every combination of these lists (a cartesian product)
    caps.single = [0.06, 0.08, 0.10]
    liquidity.max_adv_participation = [0.1, 0.2]
    stages.tolerance = [0.05, 0.10]

    [[variant]]                     # and/or variants listed one by one
    caps.single = 0.12
    purity.min = 0.3

The overrides merge over the spec's rulebook (the bundled rulebook with the spec's
``[methodology]`` table). Each grid value is first checked alone over that rulebook, so a bad one is
named as ``key = value``; then every variant is built (a combination can break a rule that links two
keys) before the sweep loads any data. Refused with :class:`~exchina_index.errors.InputError` naming
the file, line and key: an unknown top-level or rulebook key, a value of the wrong type or out of
range, an empty grid, a grid key that is not a non-empty list, a list repeating a value, two variants
with the same rulebook, more than :data:`MAX_VARIANTS` variants.

The spec's own rulebook is always variant 0 (``base``), unless a variant of the grid is the same
rulebook (then that one is marked ``base``): the frontier page marks where the index stands today.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchina_index._files import read_utf8
from exchina_index.errors import InputError, MethodologyError, short_repr
from exchina_index.rules.methodology import Methodology

__all__ = ["MAX_VARIANTS", "Variant", "SweepGrid", "load_grid", "grid_from_mapping"]

#: The most variants one grid may hold (a typo such as a 1,000-value list fails at once).
MAX_VARIANTS = 100_000
_TOP_KEYS = ("description", "grid", "variant")


@dataclass(frozen=True)
class Variant:
    """One rulebook variant of a sweep.

    Attributes
    ----------
    number
        Its place in the sweep (0 is the spec's own rulebook, unless the grid holds it elsewhere).
    params
        ``(dotted key, value)`` of its overrides, in the grid's key order.
    methodology
        The spec's rulebook with the overrides applied (validated).
    is_base
        The variant is the spec's own rulebook.
    """

    number: int
    params: tuple[tuple[str, Any], ...]
    methodology: Methodology = field(compare=False, repr=False)
    is_base: bool = False

    @property
    def label(self) -> str:
        """``caps.single=0.1, stages.tolerance=0.05`` (``base`` for the spec's rulebook)."""
        text = ", ".join(f"{k}={_show(v)}" for k, v in self.params)
        return "base" + (f" ({text})" if text else "") if self.is_base else text

    def overrides(self) -> dict[str, Any]:
        """The overrides as the nested tables of a ``[methodology]`` section."""
        return _nest(self.params)


@dataclass(frozen=True)
class SweepGrid:
    """A validated sweep grid: its variants, the keys they vary and the file it came from."""

    variants: tuple[Variant, ...]
    keys: tuple[str, ...]
    description: str = ""
    path: Path | None = None


def load_grid(path: str | os.PathLike[str], base: Methodology) -> SweepGrid:
    """Read a grid file and build its variants over ``base`` (the spec's rulebook).

    Raises
    ------
    InputError
        The file cannot be read or is not TOML, or the grid is malformed (see the module docstring);
        the message names the file, the line when it can be found, and the key.
    """
    p = Path(path)
    text = read_utf8(
        p, lambda message, line: InputError(f"cannot read the sweep grid: {message}", path=p, line=line), "UTF-8 TOML"
    )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=p) from None
    return grid_from_mapping(data, base, path=p, text=text)


def grid_from_mapping(
    data: Mapping[str, Any], base: Methodology, *, path: Path | None = None, text: str | None = None
) -> SweepGrid:
    """Build a grid from the mapping a grid file holds (the Python API's way in; see :func:`load_grid`)."""

    def fail(key: str, message: str) -> InputError:
        return InputError(f"key '{key}': {message}", path=path, line=_line_of(text, key))

    if not isinstance(data, Mapping):
        raise InputError(f"a sweep grid must be a mapping, got {short_repr(data)}", path=path)
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key (allowed: {', '.join(_TOP_KEYS)}; rulebook keys go under [grid])")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be a string, got {short_repr(description)}")
    product = _grid_lists(data.get("grid", {}), fail)
    listed = _listed(data.get("variant", []), fail)
    if not product and not listed:
        raise fail("grid", "the grid is empty: give [grid] lists of values or [[variant]] tables")
    size = 1
    for _, values in product:
        size *= len(values)
    if size * bool(product) + len(listed) > MAX_VARIANTS:
        raise fail("grid", f"{size + len(listed):,} variants is more than {MAX_VARIANTS:,}; split the sweep")
    for key, values in product:  # each value alone first, so the error names key = value
        for value in values:
            refuse = lambda detail, k=key, v=value: fail(f"grid.{k}", f"value {_show(v)}: {detail}")
            _build(base, ((key, value),), refuse)
    combos = [tuple(zip((k for k, _ in product), values)) for values in itertools.product(*(v for _, v in product))]
    combos = (combos if product else []) + [tuple(v) for v in listed]
    variants = _variants(base, combos, fail)
    keys = tuple(dict.fromkeys(k for v in variants for k, _ in v.params))
    return SweepGrid(variants=variants, keys=keys, description=description, path=path)


def _variants(base: Methodology, combos: Sequence[tuple[tuple[str, Any], ...]], fail: Any) -> tuple[Variant, ...]:
    """Every combination built and checked; the base first unless a combination is the base."""
    seen: dict[str, int] = {}
    built = []
    for i, params in enumerate(combos):
        where = "variant " + (", ".join(f"{k}={_show(v)}" for k, v in params) or "(no overrides)")
        m = _build(base, params, lambda detail, where=where: fail("grid", f"{where}: {detail}"))
        if m.hash in seen:
            raise fail("grid", f"{where} gives the same rulebook as an earlier variant; remove one")
        seen[m.hash] = i
        built.append((params, m))
    if base.hash not in seen:
        built.insert(0, ((), base))
    return tuple(
        Variant(number=n, params=params, methodology=m, is_base=m.hash == base.hash)
        for n, (params, m) in enumerate(built)
    )


def _grid_lists(table: Any, fail: Any) -> list[tuple[str, list[Any]]]:
    """``[grid]`` flattened to ``(dotted key, values)``: every leaf must be a non-empty list."""
    if not isinstance(table, Mapping):
        raise fail("grid", f"must be a table of rulebook keys with lists of values, got {short_repr(table)}")
    out = []
    for key, values in _flatten(table):
        if not isinstance(values, list):
            raise fail(f"grid.{key}", f"must be a list of values, e.g. {key} = [{_show(values)}]")
        if not values:
            raise fail(f"grid.{key}", "is an empty list: give at least one value")
        shown = [_canonical(v) for v in values]
        if len(set(shown)) < len(shown):
            raise fail(f"grid.{key}", f"repeats a value in {_show(values)}")
        out.append((key, values))
    return out


def _listed(items: Any, fail: Any) -> list[list[tuple[str, Any]]]:
    """``[[variant]]`` tables flattened to ``(dotted key, value)`` lists."""
    if not isinstance(items, list) or not all(isinstance(t, Mapping) for t in items):
        raise fail("variant", f"must be [[variant]] tables of rulebook keys, got {short_repr(items)}")
    out = []
    for n, t in enumerate(items, 1):
        params = _flatten(t)
        if not params:
            raise fail("variant", f"[[variant]] number {n} is empty: give at least one rulebook key")
        out.append(params)
    return out


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            out.extend(_flatten(value, f"{prefix}{key}."))
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _nest(params: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _build(base: Methodology, params: Sequence[tuple[str, Any]], fail: Any) -> Methodology:
    try:
        return base.with_overrides(_nest(params))
    except MethodologyError as exc:  # the rulebook's message, less its own "key '...': " when it is ours
        detail = exc.detail
        if len(params) == 1:
            detail = detail.removeprefix(f"key '{params[0][0]}': ")
        raise fail(detail) from None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    return value if isinstance(value, str) and len(value) < 40 else short_repr(value)


def _line_of(text: str | None, key: str) -> int | None:
    """The first line that sets ``key`` (or its last part) or opens its table, when the text is known."""
    if not text:
        return None
    parts = key.removeprefix("grid.").split(".")
    for candidate in (".".join(parts), parts[-1]):
        pattern = re.compile(rf'^\s*(\[+\s*)?"?{re.escape(candidate)}"?\s*[.=\]]')
        for n, line in enumerate(text.splitlines(), 1):
            if pattern.match(line):
                return n
    return None
