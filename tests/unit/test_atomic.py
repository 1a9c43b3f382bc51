from __future__ import annotations

import os
from pathlib import Path

import pytest

from honed.atomic import atomic_dir, atomic_write, commit_dir


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_atomic_write_failure_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.json"
    atomic_write(target, b"old")

    def fail(*a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_commit_dir_refuses_existing_unless_replace(tmp_path: Path) -> None:
    final = tmp_path / "out"
    tmp = atomic_dir(final)
    (tmp / "a").write_text("1")
    commit_dir(tmp, final)
    assert (final / "a").read_text() == "1"
    tmp2 = atomic_dir(final)
    (tmp2 / "b").write_text("2")
    with pytest.raises(FileExistsError):
        commit_dir(tmp2, final)
    assert not tmp2.exists()
    tmp3 = atomic_dir(final)
    (tmp3 / "c").write_text("3")
    commit_dir(tmp3, final, replace=True)
    assert sorted(p.name for p in final.iterdir()) == ["c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_atomic_write_to_a_device_or_fifo_writes_in_place(tmp_path: Path) -> None:
    # `-o /dev/null` once replaced the machine's /dev/null with a regular file (every later `< /dev/null`
    # then read the report): a device node or FIFO is written to, never renamed over
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write(fifo, b"report")
    reader.join(10)
    assert got == [b"report"] and fifo.is_fifo()


def test_unwritable_output_is_a_user_error(tmp_path: Path) -> None:
    # `-o DIR/` or an output below a file was an internal error (exit 5) with a raw OSError
    from honed.errors import OutputError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for bad in (tmp_path, blocker / "sub" / "report.json"):
        with pytest.raises(OutputError, match="cannot write") as e:
            atomic_write(bad, b"data")
        assert e.value.exit_code == 3 and isinstance(e.value, OSError)
    with pytest.raises(OutputError):
        atomic_dir(blocker / "record")
    assert blocker.read_text() == "x"
