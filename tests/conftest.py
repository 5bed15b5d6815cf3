"""Shared test fixtures. Tests are offline and hermetic: caches and outputs go to tmp_path."""

from __future__ import annotations

import os
import socket

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to open a network connection (loopback is allowed)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and (host.startswith("127.") or host in ("localhost", "::1"))
            or self.family == socket.AF_UNIX
        ):
            return real_connect(self, address)
        raise AssertionError(f"test tried to open a network connection to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _hermetic_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point caches (ours, yfinance's, matplotlib's) at a temporary folder."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("EXCHINA_INDEX_CACHE", str(cache / "exchina-index"))
    monkeypatch.setenv("MPLCONFIGDIR", str(cache / "matplotlib"))
    os.makedirs(cache, exist_ok=True)
