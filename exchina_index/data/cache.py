"""The local, append-only market-data cache used by the Yahoo source.

Layout (``root`` is :func:`default_cache_dir` unless a folder is passed)::

    root/
      metadata.json            index of every cached series (see below), written atomically
      .lock                    advisory lock held while the index is updated (POSIX only)
      prices/<SYMBOL>.parquet  one file per listing: date, close, dividends, volume, splits
      fx/<PAIR>.parquet        one file per Yahoo FX pair (e.g. GBPUSD%3DX.parquet): date, close
      shares/<SYMBOL>.parquet  one file per listing: date, shares (observations, not filled)

File names are the symbol percent-encoded (``urllib.parse.quote(symbol, safe=".-_^")``) so
``JPY=X`` becomes ``JPY%3DX``. Values are stored exactly as Yahoo quotes them (``.L`` lines in
pence, FX pairs as quoted): unit conversion and data repairs happen when the cache is *read* by
:func:`exchina_index.data.yahoo.load_yahoo`, so the notes of every load are the same whether the
rows came from the network or the cache. Two repairs are structural and happen before writing:
timestamps are normalised to calendar dates and a duplicated date keeps Yahoo's *last* row; the
entry records those repairs (``repairs``) so later loads report them again.

``metadata.json`` holds, per series key (``"prices/MP"``, ``"fx/GBPUSD=X"``, ``"shares/MP"``):

``file``        path relative to ``root``
``start, end``  the *covered* window ``[start, end)`` (ISO dates): the range that was requested
                and answered, which can be wider than the rows (a listing that started later, a
                holiday). A load whose window lies inside ``[start, end)`` makes no network call.
``first, last, rows``  first/last row date and row count of the file
``sha256``      SHA-256 of the file's bytes; checked on every read
``updated``     when the file was last written (UTC, ISO 8601)
``extra``       per-kind details (e.g. ``method`` of the share counts, ``repairs``)

Guarantees
----------
* **Atomic writes**: every file (and ``metadata.json``) is written with
  :func:`exchina_index.atomic.write_bytes` (a temporary file in the same folder, ``fsync``-ed, then
  moved into place with :func:`os.replace`). A crash or a failed download leaves the previous
  version in place.
* **Corruption is detected, never used**: a file whose bytes do not match ``sha256``, that cannot
  be parsed, or whose row count or first/last date disagree with its entry is logged, deleted,
  dropped from the index and reported to the caller (which refetches it). An unreadable
  ``metadata.json`` is moved aside (``metadata.json.corrupt-<UTC time>``) and the cache starts
  empty (every series is refetched; orphaned files are overwritten).
* **Append-only**: the caller (``load_yahoo``) only adds rows outside the covered window; see
  its documentation for the two exceptions (provisional rows of an unfinished session, and a
  full rewrite when a split or a Yahoo revision is detected in the overlap).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from exchina_index import atomic
from exchina_index.errors import CacheError, OutputError

__all__ = [
    "CACHE_ENV",
    "CacheEntry",
    "YahooCache",
    "default_cache_dir",
]

log = logging.getLogger(__name__)

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "EXCHINA_INDEX_CACHE"
#: Version of the on-disk layout; a different version in ``metadata.json`` empties the cache.
CACHE_FORMAT = 1
KINDS = ("prices", "fx", "shares")
_META = "metadata.json"


def default_cache_dir() -> Path:
    """The default cache folder.

    ``$EXCHINA_INDEX_CACHE`` if set, else ``$XDG_CACHE_HOME/exchina-index/yahoo``, else
    ``~/.cache/exchina-index/yahoo``. The folder is created on first write, not here.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exchina-index" / "yahoo"


def _check_root(root: Path) -> None:
    """A cache folder that exists must be a readable folder; a missing one is created on first write."""
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:  # a name too long, a symlink loop, a NUL character
        why = getattr(exc, "strerror", None) or "not a valid path"
        raise CacheError(f"{root}: not usable as the cache folder ({why}); give another --cache-dir") from None
    if not stat.S_ISDIR(mode):
        raise CacheError(
            f"{root} is not a folder (it is a file); give the cache folder (--cache-dir), "
            "e.g. ~/.cache/exchina-index/yahoo"
        )
    if not os.access(root, os.R_OK | os.X_OK):
        raise CacheError(f"{root}: the cache folder is not readable; fix its permissions or give another --cache-dir")


def _utcnow_iso() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d")


def _ts(value: str | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def _write_file(path: Path, data: bytes) -> None:
    """Write one cache file with :func:`exchina_index.atomic.write_bytes`, creating its folder first.

    Raises
    ------
    CacheError
        The folder cannot be created or the file cannot be written (the previous version stays).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"cannot create the cache folder {path.parent} ({exc.strerror or exc}); check the cache "
            "folder or pass another one (--cache-dir)"
        ) from exc
    try:
        atomic.write_bytes(path, data)
    except OutputError as exc:
        raise CacheError(f"{exc}; or pass another cache folder (--cache-dir)") from exc


@dataclass(frozen=True)
class CacheEntry:
    """One cached series (see the module docstring for the fields)."""

    kind: str
    symbol: str
    file: str
    start: pd.Timestamp
    end: pd.Timestamp
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    rows: int
    sha256: str
    updated: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.symbol}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "file": self.file,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "first": _iso(self.first),
            "last": _iso(self.last),
            "rows": int(self.rows),
            "sha256": self.sha256,
            "updated": self.updated,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CacheEntry:
        return cls(
            kind=str(d["kind"]),
            symbol=str(d["symbol"]),
            file=str(d["file"]),
            start=pd.Timestamp(d["start"]),
            end=pd.Timestamp(d["end"]),
            first=_ts(d.get("first")),
            last=_ts(d.get("last")),
            rows=int(d["rows"]),
            sha256=str(d["sha256"]),
            updated=str(d["updated"]),
            extra=dict(d.get("extra") or {}),
        )


class YahooCache:
    """Parquet files plus a JSON index under one folder (see the module docstring).

    Parameters
    ----------
    root
        The cache folder; ``None`` means :func:`default_cache_dir`.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> c = YahooCache(tempfile.mkdtemp())
    >>> f = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date"))
    >>> _ = c.write("fx", "GBPUSD=X", f, start="2024-01-01", end="2024-01-04")
    >>> c.read("fx", "GBPUSD=X").equals(f)
    True
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise CacheError(f"cache_dir must be a folder path, got {type(root).__name__}")
        try:
            self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        except RuntimeError:  # '~nobody/...': no such user, no home folder
            raise CacheError(
                f"{root}: cannot expand '~' (no such user's home folder); give the cache folder "
                "(--cache-dir) as a full path"
            ) from None
        _check_root(self.root)
        #: Human-readable descriptions of corrupt files found (and deleted) by this instance.
        self.repairs: list[str] = []
        self._index: dict[str, CacheEntry] | None = None

    # -- index ---------------------------------------------------------------------------------

    @property
    def metadata_path(self) -> Path:
        return self.root / _META

    def _load_index(self) -> dict[str, CacheEntry]:
        if self._index is not None:
            return self._index
        index: dict[str, CacheEntry] = {}
        path = self.metadata_path
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(raw, dict) or raw.get("format") != CACHE_FORMAT:
                    raise ValueError(f"unknown cache format {raw.get('format') if isinstance(raw, dict) else raw!r}")
                for key, d in (raw.get("entries") or {}).items():
                    entry = CacheEntry.from_json(d)
                    if entry.key != key or entry.kind not in KINDS:
                        raise ValueError(f"entry {key!r} does not match its content")
                    index[key] = entry
            except (OSError, ValueError, KeyError, TypeError) as exc:
                aside = path.with_name(f"{_META}.corrupt-{_dt.datetime.now(_dt.UTC):%Y%m%dT%H%M%S}")
                msg = (
                    f"cache index {path} is unreadable ({type(exc).__name__}: {exc}); moved it to "
                    f"{aside.name} and starting with an empty cache (everything will be refetched)"
                )
                try:
                    os.replace(path, aside)
                except OSError as err:  # a read-only folder: it can never be repaired here
                    raise CacheError(
                        f"cache index {path} is unreadable ({type(exc).__name__}: {exc}) and cannot be moved "
                        f"aside ({err}); delete it by hand or pass another cache folder (--cache-dir)"
                    ) from err
                log.warning(msg)
                self.repairs.append(msg)
                index = {}
        self._index = index
        return index

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an advisory lock on ``root/.lock`` (no-op where ``fcntl`` is unavailable)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        with open(self.root / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _save_index(self, update: Mapping[str, CacheEntry | None]) -> None:
        """Merge ``update`` (key -> entry, or None to delete) into the index on disk, atomically."""
        with self._locked():
            # Re-read what is on disk so entries written by another process are not lost.
            self._index = None
            index = dict(self._load_index())
            for key, entry in update.items():
                if entry is None:
                    index.pop(key, None)
                else:
                    index[key] = entry
            payload = {
                "format": CACHE_FORMAT,
                "entries": {k: index[k].to_json() for k in sorted(index)},
            }
            _write_file(self.metadata_path, json.dumps(payload, indent=1, sort_keys=True).encode("utf-8"))
            self._index = index

    # -- public API ----------------------------------------------------------------------------

    def file_for(self, kind: str, symbol: str) -> Path:
        """Where the series ``kind/symbol`` lives (whether or not it exists)."""
        if kind not in KINDS:
            raise ValueError(f"unknown cache kind {kind!r}; expected one of {KINDS}")
        return self.root / kind / f"{quote(symbol, safe='.-_^')}.parquet"

    def entries(self) -> dict[str, CacheEntry]:
        """Every entry of the index (key ``"kind/symbol"``)."""
        return dict(self._load_index())

    def entry(self, kind: str, symbol: str) -> CacheEntry | None:
        """The index entry of one series, or None."""
        return self._load_index().get(f"{kind}/{symbol}")

    def read(self, kind: str, symbol: str, *, delete_corrupt: bool = True) -> pd.DataFrame | None:
        """The cached frame of one series (index ``date``), or None if absent.

        A corrupt file (hash, parse, row-count or date-range mismatch) is logged, recorded in
        :attr:`repairs`, deleted together with its entry (unless ``delete_corrupt=False``) and
        reported as absent, so the caller refetches it.

        Raises
        ------
        CacheError
            The corrupt file cannot be deleted (a read-only cache folder): it could never be
            repaired, and a refetch could not be saved either.
        """
        entry = self.entry(kind, symbol)
        if entry is None:
            return None
        path = self.root / entry.file
        problem: str | None = None
        frame: pd.DataFrame | None = None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            problem = "file is missing"
        except OSError as exc:
            problem = f"cannot read the file ({exc})"
        else:
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry.sha256:
                problem = f"SHA-256 mismatch (index {entry.sha256[:12]}..., file {digest[:12]}...)"
            else:
                try:
                    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
                except Exception as exc:  # pyarrow raises several types for garbage
                    problem = f"not a readable parquet file ({type(exc).__name__}: {exc})"
                else:
                    problem = self._check(entry, frame)
        if problem is None:
            return frame
        msg = f"cache file {path} for {kind} {symbol} is corrupt: {problem}; " + (
            "deleted it, will refetch" if delete_corrupt else "left in place"
        )
        if delete_corrupt:
            try:
                self.drop(kind, symbol)
            except CacheError as exc:
                raise CacheError(
                    f"cache file {path} for {kind} {symbol} is corrupt ({problem}) and cannot be deleted "
                    f"({exc.__cause__}); delete it by hand or pass another cache folder (--cache-dir)"
                ) from exc.__cause__
        log.warning(msg)
        self.repairs.append(msg)
        return None

    @staticmethod
    def _check(entry: CacheEntry, frame: pd.DataFrame) -> str | None:
        if not isinstance(frame.index, pd.DatetimeIndex):
            return "index is not a date index"
        if len(frame) != entry.rows:
            return f"{len(frame)} rows, index says {entry.rows}"
        if len(frame):
            if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
                return "dates are not strictly increasing"
            if frame.index[0] != entry.first or frame.index[-1] != entry.last:
                return (
                    f"dates {frame.index[0].date()}..{frame.index[-1].date()} differ from the index "
                    f"({_iso(entry.first)}..{_iso(entry.last)})"
                )
        return None

    def write(
        self,
        kind: str,
        symbol: str,
        frame: pd.DataFrame,
        *,
        start: Any,
        end: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> CacheEntry:
        """Replace the file of one series with ``frame`` and record its covered window.

        ``frame`` must have a strictly increasing, duplicate-free DatetimeIndex of dates.
        ``[start, end)`` is the covered window (see the module docstring). The caller is
        responsible for merging with the previous content (append-only policy).
        """
        return self.write_many([(kind, symbol, frame, start, end, extra)])[0]

    def write_many(
        self,
        items: list[tuple[str, str, pd.DataFrame, Any, Any, Mapping[str, Any] | None]],
    ) -> list[CacheEntry]:
        """Write several series, then update the index once (atomic per file and for the index)."""
        entries: dict[str, CacheEntry] = {}
        out: list[CacheEntry] = []
        for kind, symbol, frame, start, end, extra in items:
            idx = frame.index
            if not isinstance(idx, pd.DatetimeIndex) or idx.has_duplicates or not idx.is_monotonic_increasing:
                raise CacheError(f"refusing to cache {kind} {symbol}: dates must be unique and increasing")
            frame = frame.copy()
            frame.index = pd.DatetimeIndex(idx.normalize().tz_localize(None) if idx.tz else idx, name="date")
            frame.index = frame.index.astype("datetime64[ns]")
            buf = io.BytesIO()
            frame.to_parquet(buf, engine="pyarrow", index=True)
            data = buf.getvalue()
            path = self.file_for(kind, symbol)
            _write_file(path, data)
            entry = CacheEntry(
                kind=kind,
                symbol=symbol,
                file=str(path.relative_to(self.root).as_posix()),
                start=pd.Timestamp(start).normalize(),
                end=pd.Timestamp(end).normalize(),
                first=frame.index[0] if len(frame) else None,
                last=frame.index[-1] if len(frame) else None,
                rows=len(frame),
                sha256=hashlib.sha256(data).hexdigest(),
                updated=_utcnow_iso(),
                extra=dict(extra or {}),
            )
            entries[entry.key] = entry
            out.append(entry)
        if entries:
            try:
                self._save_index(entries)
            except OSError as exc:  # the lock file
                raise CacheError(f"cannot write the cache index {self.metadata_path}: {exc}") from exc
        return out

    def drop(self, kind: str, symbol: str) -> None:
        """Delete one series (file and entry).

        Raises
        ------
        CacheError
            The file or the index cannot be changed (read-only folder); the OSError is its cause.
        """
        entry = self.entry(kind, symbol)
        path = self.root / entry.file if entry is not None else self.file_for(kind, symbol)
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if entry is not None:
                self._save_index({entry.key: None})
        except OSError as exc:
            raise CacheError(f"cannot delete {kind} {symbol} from the cache {self.root}: {exc}") from exc

    def with_extra(self, entry: CacheEntry, **extra: Any) -> CacheEntry:
        """A copy of ``entry`` with ``extra`` keys updated (not saved)."""
        return replace(entry, extra={**entry.extra, **extra})
