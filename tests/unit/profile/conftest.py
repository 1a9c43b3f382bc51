"""A tiny real root filesystem for fast sandbox tests: host binaries (dash, coreutils) with their libc and
loader, laid out like a merged-/usr Debian image (/bin, /lib, /lib64 are symlinks into /usr)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

LIBDIR = "usr/lib/x86_64-linux-gnu"
BINARIES = ("dash", "cat", "sleep", "true")


def _copy(src: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(src), dest)


def make_rootfs(root: Path) -> Path:
    for d in ("usr/bin", LIBDIR, "usr/lib64", "etc", "app", "tmp", "proc", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in BINARIES:
        _copy(f"/usr/bin/{name}", root / "usr/bin" / name)
    _copy("/lib/x86_64-linux-gnu/libc.so.6", root / LIBDIR / "libc.so.6")
    _copy("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", root / LIBDIR / "ld-linux-x86-64.so.2")
    (root / "usr/lib64/ld-linux-x86-64.so.2").symlink_to("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    (root / LIBDIR / "libc.so").symlink_to("libc.so.6")  # a development link: never credited
    for top in ("bin", "lib", "lib64"):
        (root / top).symlink_to(f"usr/{top}")
    (root / "usr/bin/sh").symlink_to("dash")
    (root / "usr/bin/mycat").symlink_to("cat")
    (root / "etc/hello.txt").write_text("hello\n")
    (root / "etc/untouched.txt").write_text("never read\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\napp:x:1000:\n")
    return root


@pytest.fixture(scope="session")
def tiny_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("tinyroot") / "rootfs")


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_ok() -> bool:
    return os.geteuid() == 0 and shutil.which("bwrap") is not None


needs_sandbox = pytest.mark.skipif(
    not sandbox_ok(), reason="needs root and bubblewrap (make setup installs it)"
)


@pytest.fixture
def run_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Sandboxes of this test are made under its own tmp dir, so leftover checks see only this test's runs
    (other pytest sessions may be profiling on the same machine at the same time)."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return str(d)


def leftovers(*markers: str) -> tuple[list[str], list[str]]:
    """Mounts and processes (zombies too) a run could have left behind: a process whose command line (a
    bwrap's names its overlay) or a mount that holds one of `markers`."""
    with open("/proc/self/mounts") as f:
        mounts = [line for line in f if any(m in line for m in markers)]
    procs = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            procs.append(f"{pid}: {cmd}")
    return mounts, procs
