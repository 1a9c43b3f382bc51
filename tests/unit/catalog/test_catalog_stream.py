"""Streaming catalog (no extraction) gives exactly the catalog of the extracted rootfs, across whiteouts,
opaque directories, hardlinks and merged-/usr symlinks; hostile names are refused like extraction does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.fixtures.synth import dir, file, hardlink, opaque, symlink, whiteout, write_oci

from honed.catalog import catalog_image, native
from honed.errors import ImageError

from .conftest import DPKG

STATUS_TWO = (DPKG / "status-bookworm").read_bytes()


def _layers() -> list[list]:  # type: ignore[type-arg]
    base = [
        dir("usr"), dir("usr/bin"), dir("usr/lib"), symlink("bin", "usr/bin"), symlink("lib", "usr/lib"),
        dir("etc"), file("etc/os-release", "ID=debian\nVERSION_ID=12\nVERSION_CODENAME=bookworm\n"),
        dir("var"), dir("var/lib"), dir("var/lib/dpkg"), dir("var/lib/dpkg/info"),
        file("var/lib/dpkg/status", STATUS_TWO),
        file("var/lib/dpkg/info/bash.list", (DPKG / "info" / "bash.list").read_bytes()),
        file("usr/bin/bash", b"\x7fELF not really", mode=0o755),
        dir("usr/lib/python3"), dir("usr/lib/python3/dist-packages"),
        dir("usr/lib/python3/dist-packages/gone-1.0.dist-info"),
        file("usr/lib/python3/dist-packages/gone-1.0.dist-info/METADATA", "Name: gone\nVersion: 1.0\n"),
        dir("app"), dir("app/node_modules"), dir("app/node_modules/old"),
        file("app/node_modules/old/package.json", '{"name": "old", "version": "1.0.0"}'),
        file("opt/tool/METADATA-ignored", "x"),
    ]
    top = [
        whiteout("usr/lib/python3/dist-packages/gone-1.0.dist-info"),
        opaque("app/node_modules"),
        dir("app/node_modules/new"),
        file("app/node_modules/new/package.json", '{"name": "new", "version": "2.0.0", "license": "MIT"}'),
        hardlink("app/node_modules/new/copy.json", "app/node_modules/new/package.json"),
        file("usr/local/lib/python3.11/dist-packages/fresh-3.0.dist-info/METADATA",
             "Metadata-Version: 2.1\nName: fresh\nVersion: 3.0\n"),
        file("usr/local/lib/python3.11/dist-packages/fresh-3.0.dist-info/RECORD", "fresh/__init__.py,,\n"),
        file("usr/local/lib/python3.11/dist-packages/fresh/__init__.py", ""),
    ]
    return [base, top]


def test_stream_equals_extract(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "img", _layers())
    ref = f"oci:{layout}:latest"
    streamed = catalog_image(ref, mode="stream", cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("rootfs/*"))  # nothing extracted
    extracted = catalog_image(ref, mode="extract", cache_dir=tmp_path / "cache")
    assert native.dumps(streamed) == native.dumps(extracted)
    names = {p.name for p in streamed.packages}
    assert {"bash", "new", "fresh"} <= names
    assert not {"gone", "old"} & names  # whited out / hidden by the opaque directory
    bash = next(p for p in streamed.packages if p.name == "bash")
    assert streamed.ownership.owners("/usr/bin/bash") == (bash.id,)
    layer_top = next(p for p in streamed.packages if p.name == "fresh").locations[0].layer
    assert layer_top and layer_top != bash.locations[0].layer
    # auto mode uses the extraction now that the cache has it, and agrees
    assert native.dumps(catalog_image(ref, cache_dir=tmp_path / "cache")) == native.dumps(extracted)


def test_stream_refuses_escaping_names(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "img", [[dir("etc"), file("../escape", "x")]])
    with pytest.raises(ImageError):
        catalog_image(f"oci:{layout}:latest", mode="stream", cache_dir=tmp_path / "cache")
    layout2 = write_oci(tmp_path / "img2", [[symlink("etc", "/tmp"), file("etc/passwd", "x")]])
    with pytest.raises(ImageError):
        catalog_image(f"oci:{layout2}:latest", mode="stream", cache_dir=tmp_path / "cache")
    assert not os.path.exists("/tmp/passwd") or Path("/tmp/passwd").read_text() != "x"


def test_stream_caps_what_it_keeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_MAX_UNPACKED", "1000")
    layout = write_oci(tmp_path / "img", [[file("usr/bin/big", b"\x7fELF" + b"\0" * 5000, mode=0o755)]])
    with pytest.raises(ImageError, match="HONED_MAX_UNPACKED"):
        catalog_image(f"oci:{layout}:latest", mode="stream", cache_dir=tmp_path / "cache")


def test_elf_maintainer_script_is_no_package_streamed_or_extracted(tmp_path: Path) -> None:
    # bullseye's bash.preinst is a compiled ELF; a cold (streamed) and a warm (extracted) sbom disagreed on it
    elf = Path("/usr/bin/true").read_bytes()
    base = _layers()[0] + [file("var/lib/dpkg/info/bash.preinst", elf, mode=0o755),
                           file("opt/tool/mystery", elf, mode=0o755)]
    layout = write_oci(tmp_path / "img", [base])
    ref = f"oci:{layout}:latest"
    streamed = catalog_image(ref, mode="stream", cache_dir=tmp_path / "cache")
    extracted = catalog_image(ref, mode="extract", cache_dir=tmp_path / "cache")
    assert native.dumps(streamed) == native.dumps(extracted)
    names = {p.name for p in streamed.packages}
    assert "mystery" in names and "bash.preinst" not in names
