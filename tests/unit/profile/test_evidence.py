"""Tracer output → evidence per image path, on a small real tree with the symlink shapes of Debian images."""

from __future__ import annotations

from pathlib import Path

from honed.model import Access
from honed.profile.evidence import FAN_OPEN_EXEC, Evidence
from honed.profile.strace import Access as Call

from .conftest import make_rootfs

FAN_OPEN = 0x20


def _tree(tmp_path: Path) -> Path:
    root = make_rootfs(tmp_path / "r")
    lib = root / "usr/lib/python3.11"
    (lib / "__pycache__").mkdir(parents=True)
    (lib / "json.py").write_text("x")
    (lib / "__pycache__/json.cpython-311.pyc").write_bytes(b"pyc")
    (root / "usr/bin/python3.11").write_bytes(b"#!")
    (root / "usr/bin/python3").symlink_to("python3.11")
    (root / "etc/alternatives").mkdir()
    (root / "etc/alternatives/py").symlink_to("/usr/bin/python3")
    (root / "usr/bin/py").symlink_to("/etc/alternatives/py")
    (root / "usr/lib/pydir").symlink_to("python3.11")  # a directory link onto a used file's parent
    (root / "app/run.sh").write_text("#!/bin/sh -e\necho hi\n")
    return root


def test_fanotify_targets_get_their_links(tmp_path: Path) -> None:
    ev = Evidence(_tree(tmp_path))
    ev.add_fanotify(
        {
            "/usr/bin/python3.11": FAN_OPEN | FAN_OPEN_EXEC,
            "/usr/lib/x86_64-linux-gnu/libc.so.6": FAN_OPEN,
            "/usr/lib/python3.11/__pycache__/json.cpython-311.pyc": FAN_OPEN,
            "/app/created-by-the-app.txt": FAN_OPEN,  # not in the image: not evidence
            "/usr/lib/python3.11": FAN_OPEN,  # a directory: never evidence
            "/etc/hello.txt (deleted)": FAN_OPEN,  # opened, then deleted by the app: still used
        }
    )
    got = ev.result()
    assert got["/usr/bin/python3.11"] == {Access.EXEC}
    assert got["/etc/hello.txt"] == {Access.OPEN}
    # the whole alternatives chain onto the interpreter
    for link in ("/usr/bin/python3", "/etc/alternatives/py", "/usr/bin/py"):
        assert got[link] == {Access.LOOKUP}
    assert got["/usr/lib/x86_64-linux-gnu/libc.so.6"] == {Access.MAP}  # an ELF DSO opened = mapped
    assert "/usr/lib/x86_64-linux-gnu/libc.so" not in got  # development link
    assert got["/usr/lib/python3.11/json.py"] == {Access.LOOKUP}  # the source of a loaded .pyc
    assert got["/usr/lib/pydir"] == {Access.LOOKUP}
    assert "/app/created-by-the-app.txt" not in got and "/usr/lib/python3.11" not in got
    assert "/lib" not in got and "/lib64" not in got and "/bin" not in got
    assert list(got) == sorted(got)


def test_strace_exec_credits_what_the_kernel_loads(tmp_path: Path) -> None:
    # execve of a script: the kernel runs its #! interpreter, and that binary's PT_INTERP loader; strace
    # shows only the execve of the script
    ev = Evidence(_tree(tmp_path))
    ev.add_strace([Call(1, "exec", "/app/run.sh", None)])
    got = ev.result()
    assert got["/app/run.sh"] == {Access.EXEC}
    assert got["/usr/bin/sh"] == {Access.LOOKUP} and got["/usr/bin/dash"] == {Access.EXEC}
    assert got["/usr/lib64/ld-linux-x86-64.so.2"] == {Access.LOOKUP}
    assert got["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"] == {Access.EXEC}
    assert "/bin" not in got and "/lib64" not in got


def test_strace_follows_the_path_the_program_used(tmp_path: Path) -> None:
    ev = Evidence(_tree(tmp_path))
    ev.add_strace(
        [
            Call(1, "exec", "/usr/bin/py", None),
            Call(1, "open", "/lib/x86_64-linux-gnu/libc.so.6", None),
            Call(1, "lookup", "/etc/hello.txt", None),
            Call(1, "open", "/usr/lib/x86_64-linux-gnu/libssl.so.3", "ENOENT"),
            Call(1, "open", "/etc/hello.txt", "EACCES"),  # a refused open is not a missing file
        ]
    )
    got = ev.result()
    assert got["/usr/bin/py"] == got["/etc/alternatives/py"] == got["/usr/bin/python3"] == {Access.LOOKUP}
    assert got["/usr/bin/python3.11"] == {Access.EXEC}
    assert got["/usr/lib/x86_64-linux-gnu/libc.so.6"] == {Access.MAP}
    assert got["/etc/hello.txt"] == {Access.LOOKUP}
    assert got["/usr/lib/x86_64-linux-gnu/libssl.so.3"] == {Access.MISSING}
    assert "/lib" not in got
