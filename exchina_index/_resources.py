"""Where the bundled universe and rulebook live, in a wheel and in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["bundled_path"]


def bundled_path(name: str) -> Path:
    """Path of a bundled data file (``allied_supply_chain.csv``, ``methodology.toml``, ...).

    A wheel carries ``universe/`` as ``exchina_index/_bundled``; an editable install or a source
    checkout reads ``universe/`` beside the package.
    """
    packaged = resources.files("exchina_index") / "_bundled" / name
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "universe" / name
