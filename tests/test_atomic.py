"""Atomic file and folder writes (exchina_index.atomic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exchina_index import atomic
from exchina_index.errors import OutputError


def _tree(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_bytes_replaces_whole_file_and_leaves_no_temp(tmp_path) -> None:
    target = tmp_path / "a.csv"
    atomic.write_bytes(target, b"old\n")
    atomic.write_text(target, "new\nline\n")
    assert target.read_bytes() == b"new\nline\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_write_bytes_into_missing_folder_is_an_output_error(tmp_path) -> None:
    with pytest.raises(OutputError, match="cannot write"):
        atomic.write_bytes(tmp_path / "missing" / "a.csv", b"x")
    assert list(tmp_path.iterdir()) == []


def test_write_bytes_interrupted_keeps_old_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "a.csv"
    target.write_bytes(b"old")

    def boom(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic.write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_staged_folder_publishes_with_one_rename(tmp_path) -> None:
    dest = tmp_path / "2025-12-19"
    with atomic.staged_folder(dest) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(atomic.TEMP_PREFIX)
        atomic.write_text(tmp / "a.txt", "a")
        assert not dest.exists()  # nothing visible before the block ends
    assert _tree(dest) == {"a.txt": b"a"}
    assert [p.name for p in tmp_path.iterdir()] == ["2025-12-19"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_staged_folder_failure_leaves_nothing(tmp_path, exc) -> None:
    dest = tmp_path / "2025-12-19"
    with pytest.raises(type(exc)):
        with atomic.staged_folder(dest) as tmp:
            atomic.write_text(tmp / "a.txt", "a")
            raise exc
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_never_overwritten_without_force(tmp_path) -> None:
    dest = tmp_path / "2025-12-19"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(OutputError, match="already exists"):
        with atomic.staged_folder(dest):
            pytest.fail("the block must not run")
    assert _tree(dest) == {"old.txt": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["2025-12-19"]


def test_force_keeps_old_folders_as_versions(tmp_path) -> None:
    dest = tmp_path / "2025-12-19"
    for k in range(3):
        with atomic.staged_folder(dest, force=True) as tmp:
            atomic.write_text(tmp / "n.txt", str(k))
    assert _tree(dest) == {"n.txt": b"2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-12-19", "2025-12-19.v1", "2025-12-19.v2"]
    # the oldest run is in .v1, then .v2: first free name each time
    assert (tmp_path / "2025-12-19.v1").joinpath("n.txt").read_text() == "0"
    assert (tmp_path / "2025-12-19.v2").joinpath("n.txt").read_text() == "1"


def test_force_interrupted_before_publishing_keeps_old_in_place(tmp_path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.staged_folder(dest, force=True) as tmp:
            atomic.write_text(tmp / "new.txt", "new")
            raise KeyboardInterrupt
    assert _tree(dest) == {"old.txt": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_destination_appearing_during_the_run_is_not_replaced(tmp_path) -> None:
    dest = tmp_path / "d"
    with pytest.raises(OutputError, match="appeared"):
        with atomic.staged_folder(dest) as tmp:
            atomic.write_text(tmp / "new.txt", "new")
            dest.mkdir()
            (dest / "other.txt").write_text("other run")
    assert _tree(dest) == {"other.txt": b"other run"}
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_unwritable_parent_is_an_output_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError):
        with atomic.staged_folder(blocker / "2025-12-19"):
            pytest.fail("the block must not run")
    assert blocker.read_text() == "not a folder"


def test_clean_stale_removes_only_dead_processes_temps(tmp_path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".tmp-2025-12-19-{dead_pid}-0123abcd"
    stale.mkdir()
    (stale / "a.csv").write_text("half")
    stale_file = tmp_path / f".tmp-x.csv-{dead_pid}-89abcdef"
    stale_file.write_text("half")
    live = tmp_path / f".tmp-2025-12-19-{os.getpid()}-0123abcd"
    live.mkdir()
    other = tmp_path / ".tmp-notours"
    other.mkdir()
    review = tmp_path / "2025-12-19"
    review.mkdir()
    removed = atomic.clean_stale(tmp_path)
    assert sorted(removed) == sorted([stale, stale_file])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, review.name])


def test_next_version_name(tmp_path) -> None:
    dest = tmp_path / "d"
    assert atomic.next_version_name(dest).name == "d.v1"
    (tmp_path / "d.v1").mkdir()
    (tmp_path / "d.v3").mkdir()
    assert atomic.next_version_name(dest).name == "d.v2"


def test_force_interrupted_between_the_two_renames_restores_old(tmp_path, monkeypatch) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    real = os.rename
    calls = []

    def rename(src, dst):
        calls.append((os.fspath(src), os.fspath(dst)))
        if len(calls) == 2:  # old -> d.v1 done; the interrupt hits before new -> d
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic.staged_folder(dest, force=True) as tmp:
            atomic.write_text(tmp / "new.txt", "new")
    assert calls[0][1].endswith("d.v1")
    assert _tree(dest) == {"old.txt": b"old"}
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_replace_is_one_exchange_where_linux_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if atomic._renameat2() is None:
        pytest.skip("renameat2 is not available on this platform")
    old = tmp_path / "out"
    old.mkdir()
    (old / "levels.csv").write_text("old", encoding="utf-8")
    renames: list[tuple[str, str]] = []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda a, b: (renames.append((str(a), str(b))), real_rename(a, b))[1])
    with atomic.staged_folder(old, replace=True) as tmp:
        (tmp / "levels.csv").write_text("new", encoding="utf-8")
    assert (old / "levels.csv").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert renames == []  # swapped by renameat2(RENAME_EXCHANGE), not by two os.rename calls


def test_exchange_swaps_two_folders(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("from a", encoding="utf-8")
    (b / "y").write_text("from b", encoding="utf-8")
    if not atomic.exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available on this platform")
    assert [p.name for p in a.iterdir()] == ["y"] and [p.name for p in b.iterdir()] == ["x"]


def test_replace_falls_back_to_two_renames_and_deletes_the_old(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    old = tmp_path / "out"
    old.mkdir()
    (old / "levels.csv").write_text("old", encoding="utf-8")
    with atomic.staged_folder(old, replace=True) as tmp:
        (tmp / "levels.csv").write_text("new", encoding="utf-8")
    assert (old / "levels.csv").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old one is gone, no .vN kept
