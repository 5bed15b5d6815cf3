"""Stable random seeds for the synthetic generators (the demo market and the benchmark universes)."""

from __future__ import annotations

import zlib

__all__ = ["stable_seed"]


def stable_seed(*parts: str | int) -> list[int]:
    """A seed sequence for ``numpy.random.default_rng`` from integers and names.

    Names go through ``zlib.crc32``, never Python's salted built-in ``hash``, so two processes draw
    the same numbers.

    Examples
    --------
    >>> stable_seed(0, "factors")
    [0, 467924967]
    """
    return [p if isinstance(p, int) else zlib.crc32(str(p).encode("utf-8")) for p in parts]
