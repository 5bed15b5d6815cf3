"""The append-only parquet cache: layout, atomic writes, corruption detection, status."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from exchina_index import atomic as atomic_mod
from exchina_index.data import cache as cache_mod
from exchina_index.data.cache import CACHE_ENV, YahooCache, default_cache_dir
from exchina_index.data.status import STATUS_COLUMNS, cache_status
from exchina_index.errors import CacheError


def _frame(days: list[str], values: list[float] | None = None) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime(days), name="date")
    values = values if values is not None else [float(i + 1) for i in range(len(days))]
    return pd.DataFrame({"close": values, "volume": [100.0] * len(days)}, index=idx)


DAYS = ["2025-09-01", "2025-09-02", "2025-09-03", "2025-09-05"]


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "exchina-index" / "yahoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "exchina-index" / "yahoo"


def test_default_folder_is_used_when_none_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    c = YahooCache()
    c.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    assert (tmp_path / "env-cache" / "prices" / "MP.parquet").exists()


def test_round_trip_and_layout(tmp_path: Path) -> None:
    c = YahooCache(tmp_path)
    f = _frame(DAYS)
    entry = c.write("fx", "JPY=X", f, start="2025-09-01", end="2025-09-06", extra={"note": "x"})
    assert entry.file == "fx/JPY%3DX.parquet"
    assert (tmp_path / "fx" / "JPY%3DX.parquet").exists()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["format"] == cache_mod.CACHE_FORMAT
    e = meta["entries"]["fx/JPY=X"]
    assert (e["start"], e["end"], e["first"], e["last"], e["rows"]) == (
        "2025-09-01",
        "2025-09-06",
        "2025-09-01",
        "2025-09-05",
        4,
    )
    assert len(e["sha256"]) == 64 and e["updated"].endswith("+00:00")
    fresh = YahooCache(tmp_path)  # a new process sees the same
    pd.testing.assert_frame_equal(fresh.read("fx", "JPY=X"), f, check_freq=False, check_index_type=False)
    assert fresh.entry("fx", "JPY=X").extra == {"note": "x"}
    assert fresh.read("prices", "NOPE") is None


def test_write_refuses_duplicate_or_unsorted_dates(tmp_path: Path) -> None:
    c = YahooCache(tmp_path)
    with pytest.raises(CacheError, match="unique and increasing"):
        c.write("prices", "MP", _frame(["2025-09-02", "2025-09-02"]), start="2025-09-01", end="2025-09-03")
    with pytest.raises(CacheError, match="unique and increasing"):
        c.write("prices", "MP", _frame(["2025-09-03", "2025-09-02"]), start="2025-09-01", end="2025-09-04")
    assert not (tmp_path / "metadata.json").exists()


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "flipped_byte", "deleted", "rows_in_index", "dates_in_index"],
)
def test_corruption_is_detected_deleted_and_reported(tmp_path: Path, damage: str) -> None:
    c = YahooCache(tmp_path)
    c.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    c.write("prices", "LYC.AX", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    path = c.file_for("prices", "MP")
    data = path.read_bytes()
    meta_path = tmp_path / "metadata.json"
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 50)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "flipped_byte":
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        path.write_bytes(bytes(b))
    elif damage == "deleted":
        path.unlink()
    else:  # the file is intact but the index disagrees with it
        import hashlib

        meta = json.loads(meta_path.read_text())
        e = meta["entries"]["prices/MP"]
        if damage == "rows_in_index":
            e["rows"] = 99
        else:
            e["last"] = "2025-09-04"
        e["sha256"] = hashlib.sha256(data).hexdigest()
        meta_path.write_text(json.dumps(meta))
    fresh = YahooCache(tmp_path)
    assert fresh.read("prices", "MP") is None
    assert fresh.repairs and "MP" in fresh.repairs[0] and "corrupt" in fresh.repairs[0]
    assert fresh.entry("prices", "MP") is None  # forgotten: the loader will refetch it
    assert not path.exists()
    assert YahooCache(tmp_path).entry("prices", "MP") is None
    # the other series is untouched
    assert fresh.read("prices", "LYC.AX") is not None


def test_read_can_leave_a_corrupt_file_in_place(tmp_path: Path) -> None:
    c = YahooCache(tmp_path)
    c.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    c.file_for("prices", "MP").write_bytes(b"junk")
    assert c.read("prices", "MP", delete_corrupt=False) is None
    assert c.entry("prices", "MP") is not None and c.file_for("prices", "MP").exists()


def test_unreadable_index_is_moved_aside(tmp_path: Path) -> None:
    c = YahooCache(tmp_path)
    c.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    (tmp_path / "metadata.json").write_text("[1, 2", encoding="utf-8")
    fresh = YahooCache(tmp_path)
    assert fresh.entries() == {}
    assert "unreadable" in fresh.repairs[0]
    assert len(list(tmp_path.glob("metadata.json.corrupt-*"))) == 1
    # writing again works and starts a clean index
    fresh.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    assert set(YahooCache(tmp_path).entries()) == {"prices/MP"}


def test_index_of_another_format_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text(json.dumps({"format": 999, "entries": {}}))
    fresh = YahooCache(tmp_path)
    assert fresh.entries() == {}
    assert "unknown cache format" in fresh.repairs[0]


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = YahooCache(tmp_path)
    old = _frame(DAYS)
    c.write("prices", "MP", old, start="2025-09-01", end="2025-09-06")
    before = c.file_for("prices", "MP").read_bytes()

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.os, "replace", fail)
    with pytest.raises(CacheError, match="disk full"):
        c.write("prices", "MP", _frame(DAYS + ["2025-09-08"]), start="2025-09-01", end="2025-09-09")
    monkeypatch.undo()
    assert c.file_for("prices", "MP").read_bytes() == before
    assert [p.name for p in (tmp_path / "prices").iterdir()] == ["MP.parquet"]  # no temporary left over
    pd.testing.assert_frame_equal(
        YahooCache(tmp_path).read("prices", "MP"), old, check_freq=False, check_index_type=False
    )


def test_cache_files_are_written_by_the_atomic_writer_fsync_then_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(atomic_mod.os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        atomic_mod.os, "replace", lambda a, b: (events.append(f"replace {Path(b).name}"), real_replace(a, b))
    )
    YahooCache(tmp_path / "sub").write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    assert (tmp_path / "sub" / "prices" / "MP.parquet").exists()
    # each file: its bytes flushed, then renamed into place; the parquet file before the index
    assert events[:2] == ["fsync", "replace MP.parquet"]
    assert "replace metadata.json" in events[2:] and events[events.index("replace metadata.json") - 1] == "fsync"


def test_two_writers_do_not_lose_each_others_entries(tmp_path: Path) -> None:
    a, b = YahooCache(tmp_path), YahooCache(tmp_path)
    a.entries(), b.entries()  # both loaded the (empty) index
    a.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    b.write("prices", "LYC.AX", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    assert set(YahooCache(tmp_path).entries()) == {"prices/MP", "prices/LYC.AX"}


def test_drop_removes_file_and_entry(tmp_path: Path) -> None:
    c = YahooCache(tmp_path)
    c.write(
        "shares",
        "MP",
        pd.DataFrame({"shares": [1.0]}, index=pd.DatetimeIndex(["2025-09-01"], name="date")),
        start="2025-01-01",
        end="2025-09-02",
        extra={"method": "history"},
    )
    c.drop("shares", "MP")
    assert c.entry("shares", "MP") is None and not c.file_for("shares", "MP").exists()


def test_status_reports_missing_ok_corrupt_and_gaps(tmp_path: Path) -> None:
    uni = SimpleNamespace(
        frame=pd.DataFrame(
            {
                "currency": ["USD", "GBP", "USD"],
                "exchange": ["XNYS", "XLON", "XNYS"],
                "price_unit": ["USD", "GBp", "USD"],
            },
            index=pd.Index(["MP", "PRE.L", "NEW"], name="ticker"),
        )
    )
    c = YahooCache(tmp_path)
    # MP misses 2025-09-04 (an NYSE session); 2025-09-01 is Labor Day, not a gap
    c.write("prices", "MP", _frame(["2025-09-02", "2025-09-03", "2025-09-05"]), start="2025-09-01", end="2025-09-06")
    c.write("prices", "PRE.L", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    c.write("fx", "GBPUSD=X", _frame(DAYS), start="2025-08-20", end="2025-09-06")
    c.write(
        "shares",
        "MP",
        pd.DataFrame({"shares": [1.0, 2.0]}, index=pd.DatetimeIndex(["2025-06-30", "2025-09-01"], name="date")),
        start="2024-08-01",
        end="2025-09-06",
        extra={"method": "history"},
    )
    c.file_for("prices", "PRE.L").write_bytes(b"junk")
    status = cache_status(uni, tmp_path)
    assert list(status.columns) == list(STATUS_COLUMNS)
    assert list(status.index) == ["MP", "PRE.L", "NEW", "GBPUSD=X"]
    mp = status.loc["MP"]
    assert (mp["status"], mp["rows"], mp["gaps"], mp["gap_basis"]) == ("ok", 3, 1, "XNYS sessions")
    assert mp["covered_from"] == pd.Timestamp("2025-09-01") and mp["covered_to"] == pd.Timestamp("2025-09-05")
    assert mp["shares"] == "history (2)"
    assert status.loc["PRE.L", "status"] == "corrupt"
    assert c.file_for("prices", "PRE.L").exists()  # status is read-only
    assert status.loc["NEW", "status"] == "missing"
    assert status.loc["GBPUSD=X", "kind"] == "fx" and status.loc["GBPUSD=X", "gap_basis"] == "weekdays"
    # counting weekdays instead gives the same here (the range starts after Labor Day)
    assert cache_status(uni, tmp_path, calendars=False).loc["MP", "gap_basis"] == "weekdays"


def _read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make ``root`` behave as a read-only folder (chmod does not stop root, who runs CI)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Read-only file system", str(root))

    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(os, "replace", refuse)
    real_open = os.open

    def no_new_files(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT:  # the atomic writer's temporary file
            refuse()
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic_mod.os, "open", no_new_files)


def test_corrupt_file_in_a_read_only_cache_is_one_cache_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = YahooCache(tmp_path)
    c.write("prices", "MP", _frame(DAYS), start="2025-09-01", end="2025-09-06")
    c.file_for("prices", "MP").write_bytes(b"garbage")
    _read_only(monkeypatch, tmp_path)
    fresh = YahooCache(tmp_path)
    with pytest.raises(
        CacheError,
        match=r"prices/MP\.parquet for prices MP is corrupt \(SHA-256 mismatch.*"
        r"cannot be deleted .*Read-only file system.*delete it by hand",
    ):
        fresh.read("prices", "MP")
    assert c.file_for("prices", "MP").read_bytes() == b"garbage"  # nothing was changed
    # data status only reports it (it never deletes)
    assert fresh.read("prices", "MP", delete_corrupt=False) is None


def test_unreadable_index_in_a_read_only_cache_is_one_cache_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "metadata.json").write_text("{ not json", encoding="utf-8")
    _read_only(monkeypatch, tmp_path)
    with pytest.raises(CacheError, match=r"metadata\.json is unreadable .* cannot be moved aside .*--cache-dir"):
        YahooCache(tmp_path).entries()
    assert (tmp_path / "metadata.json").read_text(encoding="utf-8") == "{ not json"
