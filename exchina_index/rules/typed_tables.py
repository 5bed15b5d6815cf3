"""Reading TOML tables into frozen dataclasses, every key typed and range-checked.

:class:`TableReader` walks a dataclass's fields and the type hints of each (``bool``, ``str``,
``int``, ``float``, ``Literal``, ``tuple[...]``, ``Mapping[str, ...]``, nested dataclasses), refusing
unknown keys (with a "did you mean" hint), missing keys, values of the wrong type and numbers
outside the field's ``metadata`` range. Every failure is a :class:`MethodologyError` naming the
file, the dotted key and, where it can be found, the line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from exchina_index.errors import MethodologyError, short_repr

__all__ = ["TableReader"]


@dataclass
class TableReader:
    """Builds dataclasses from the tables of one TOML document.

    Parameters
    ----------
    source
        The file name used in error messages.
    text
        The TOML text, to find the line of a key (``None``: messages name no line).
    """

    source: str
    text: str | None

    def fail(self, key: str, message: str) -> typing.NoReturn:
        """Raise :class:`MethodologyError` for the dotted ``key``, naming its line when found."""
        raise MethodologyError(f"key '{key}': {message}", path=self.source, line=self._line_of(key))

    def build(self, cls: Any, data: Any, *, prefix: str, skip: tuple[str, ...] = ()) -> Any:
        """An instance of dataclass ``cls`` from the table ``data`` at dotted ``prefix``.

        The fields named in ``skip`` are neither read nor passed (they keep their defaults).
        """
        if not isinstance(data, Mapping):
            self.fail(prefix or "<top>", f"expected a table, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if f.name not in skip]
        names = {f.name for f in fields}
        for key in data:
            if not isinstance(key, str):
                self.fail(_join(prefix, repr(key)), "keys must be strings (the names of the TOML keys)")
        for key in sorted(data):
            if key not in names:
                close = _closest(key, names)
                hint = f"; did you mean '{_join(prefix, close)}'?" if close else ""
                self.fail(_join(prefix, key), f"unknown key{hint} (allowed: {', '.join(sorted(names))})")
        kwargs = {}
        for f in fields:
            dotted = _join(prefix, f.name)
            if f.name not in data:
                self.fail(dotted, "missing; add it (see the bundled methodology.toml for the default)")
            kwargs[f.name] = self._value(hints[f.name], data[f.name], dotted, f.metadata)
        return cls(**kwargs)

    def _value(self, tp: Any, v: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            return self.build(tp, v, prefix=key)
        if origin is Literal:
            if not isinstance(v, str) or v not in args:
                self.fail(key, f"{short_repr(v)} is not one of {', '.join(repr(a) for a in args)}")
            return v
        if tp is bool:
            if not isinstance(v, bool):
                self.fail(key, f"expected true or false, got {short_repr(v)}")
            return v
        if tp is str:
            if not isinstance(v, str):
                self.fail(key, f"expected a string, got {short_repr(v)}")
            return v
        if tp in (int, float):
            return self._number(tp, v, key, meta)
        if origin is tuple:
            if not isinstance(v, (list, tuple)):
                self.fail(key, f"expected a list, got {short_repr(v)}")
            return tuple(self._value(args[0], x, f"{key}[{i}]", meta) for i, x in enumerate(v))
        if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
            if not isinstance(v, Mapping):
                self.fail(key, f"expected a table, got {short_repr(v)}")
            for k in v:
                if not isinstance(k, str):
                    self.fail(_join(key, repr(k)), "keys must be strings")
            return types.MappingProxyType({k: self._value(args[1], v[k], _join(key, k), meta) for k in sorted(v)})
        raise TypeError(f"unsupported rulebook type {tp!r} for {key}")  # a bug in the dataclasses

    def _number(self, tp: type, v: Any, key: str, meta: Mapping[str, Any]) -> float | int:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            self.fail(key, f"expected a number, got {short_repr(v)}")
        try:
            x = float(v)
        except OverflowError:  # an integer beyond float range
            x = math.inf
        if not math.isfinite(x):
            self.fail(key, f"{short_repr(v)} is not allowed: give a finite number")
        if tp is int and not x.is_integer():
            self.fail(key, f"expected a whole number, got {short_repr(v)}")
        v = tp(v)
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and (v < lo or (meta.get("lo_open") and v == lo)):
            op = ">" if meta.get("lo_open") else ">="
            upper = f" and <= {hi:g}" if hi is not None else ""
            self.fail(key, f"{short_repr(v)} is out of range: must be {op} {lo:g}{upper}")
        if hi is not None and v > hi:
            self.fail(key, f"{short_repr(v)} is out of range: must be <= {hi:g}")
        return v

    def _line_of(self, dotted: str) -> int | None:
        """Best-effort physical line of a dotted key (the TOML parser does not keep positions)."""
        if not self.text:
            return None
        parts = dotted.split(".")
        lines = self.text.splitlines()
        section, leaf = ".".join(parts[:-1]), parts[-1].split("[")[0]  # "fallback_solvers[1]": its key's line
        current = ""
        for i, raw in enumerate(lines, start=1):
            s = raw.strip()
            if s.startswith("[") and s.endswith("]"):
                current = s.strip("[]").strip()
                if current == dotted:
                    return i
                continue
            if current == section and (s.startswith(leaf + " ") or s.startswith(leaf + "=")):
                return i
        # fall back to the section header
        for i, raw in enumerate(lines, start=1):
            if raw.strip() == f"[{section}]":
                return i
        return None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _closest(key: str, names: set[str]) -> str | None:
    hits = difflib.get_close_matches(key, sorted(names), n=1, cutoff=0.75)
    return hits[0] if hits else None
