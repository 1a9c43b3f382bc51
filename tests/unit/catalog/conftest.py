"""Small real root filesystems for the catalogers, assembled from the named files under data/.

The dpkg data (status stanzas, .list files, copyright files, diversions) is copied verbatim from a Debian 12
debootstrap; the tree is rebuilt from the .list files with merged-/usr symlinks, exactly as in a bookworm
image (files are empty: the catalogers never read package payloads).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
DPKG = DATA / "dpkg"
MERGED = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


def put(root: Path, path: str, data: bytes | str = b"", mode: int | None = None) -> Path:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        p.chmod(mode)
    return p


def link(root: Path, path: str, target: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, p)


def merged_usr(root: Path) -> None:
    for d in MERGED.values():
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, target in MERGED.items():
        os.symlink(target, root / name)


def debian_root(root: Path) -> Path:
    """A merged-/usr bookworm tree holding bash, dash, libc6, base-files, mawk and usr-is-merged."""
    merged_usr(root)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    lists = sorted((DPKG / "info").glob("*.list"))
    every = [e for lst in lists for e in lst.read_text().splitlines() if e and e != "/."]
    parents = {os.path.dirname(e) for e in every} | {"/boot", "/home", "/proc", "/etc/skel"}
    for lst in lists:
        shutil.copy(lst, info / lst.name)
        entries = [e for e in lst.read_text().splitlines() if e and e != "/."]
        for e in entries:
            host = root / e.lstrip("/")
            if e in parents:
                if not os.path.lexists(host):
                    host.mkdir(parents=True, exist_ok=True)
            elif not os.path.lexists(host):
                host.parent.mkdir(parents=True, exist_ok=True)
                host.write_bytes(b"")
    shutil.copy(DPKG / "status-bookworm", root / "var/lib/dpkg/status")
    shutil.copy(DPKG / "diversions", root / "var/lib/dpkg/diversions")
    shutil.copy(DPKG / "usr-is-merged.md5sums", info / "usr-is-merged.md5sums")
    for doc in (DPKG / "doc").iterdir():
        dest = root / "usr/share/doc" / doc.name / "copyright"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(doc / "copyright", dest)
    put(root, "/usr/lib/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n')
    (root / "etc/os-release").unlink(missing_ok=True)  # base-files ships it as this symlink
    link(root, "/etc/os-release", "../usr/lib/os-release")
    return root


@pytest.fixture
def deb_root(tmp_path: Path) -> Path:
    return debian_root(tmp_path / "root")
