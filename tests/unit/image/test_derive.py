"""The hardened image's rootfs derived from the original's extraction must be the tree extraction gives."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from tests.fixtures.synth import device, dir, fifo, file, hardlink, opaque, symlink, whiteout, write_oci

from honed.image import open_image
from honed.image.extract import derive_rootfs, extract, image_cache_dir
from honed.image.writer import write_image


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))


def _tree(root: Path, dirs_with_entries: set[str]) -> dict[str, tuple[object, ...]]:
    """Everything extraction decides about each entry (hardlink groups by a representative name). Parents
    implied by a layer (no entry of their own) get the time of extraction: their mtimes are not compared."""
    out: dict[str, tuple[object, ...]] = {}
    groups: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath, name)
            rel = "/" + str(p.relative_to(root))
            s = p.lstat()
            kind = stat.S_IFMT(s.st_mode)
            extra: object = None
            if stat.S_ISREG(s.st_mode):
                extra = (hashlib.sha256(p.read_bytes()).hexdigest(), groups.setdefault(s.st_ino, rel))
            elif stat.S_ISLNK(s.st_mode):
                extra = os.readlink(p)
            implied = stat.S_ISDIR(s.st_mode) and rel not in dirs_with_entries
            made_now = implied or stat.S_ISFIFO(s.st_mode)  # fifos are created without the entry's metadata
            mtime = None if stat.S_ISLNK(s.st_mode) or made_now else s.st_mtime_ns
            out[rel] = (kind, stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid, mtime, extra)
    return out


def test_derived_rootfs_equals_extraction(tmp_path: Path) -> None:
    layout = write_oci(
        tmp_path / "base",
        [
            [dir("usr/share/doc"), file("usr/share/doc/a/README", "doc"), file("usr/bin/tool", "elf", mode=0o4755),
             dir("etc", mode=0o750, uid=3, gid=4), file("etc/keep", "k", uid=5), symlink("bin", "usr/bin"),
             file("z/target", "data", mode=0o640), hardlink("a/link1", "z/target"), fifo("run/pipe"),
             device("dev/null"), file("var/lib/dpkg/status", "Package: a\n"), dir("ro", mode=0o555),
             file("ro/f", "r"), file("old/x", "1"), file("old/y", "2")],
            [file("app/main.py", "print(1)"), whiteout("old/x"), opaque("usr/share/doc"),
             file("usr/share/doc/b/README", "more"), file("usr/bin/tool", "elf2", mode=0o755)],
            [file("etc/extra", "x")],
        ],
    )
    base = open_image(f"oci:{layout}:latest")
    base.rootfs()
    replace = {"/var/lib/dpkg/status": b"", "/etc/new": b"n"}
    write_image(base, f"oci:{tmp_path / 'out'}:h", drop_paths=["/usr/share/doc", "/z/target", "/etc/extra"],
                replace_files=replace)
    hard = open_image(f"oci:{tmp_path / 'out'}:h")
    derived = derive_rootfs(base, hard, drop_paths=["/usr/share/doc", "/z/target", "/etc/extra"],
                            replace_files=replace)
    assert derived is not None
    assert hard.rootfs().root == derived.root  # the cache now holds it: no extraction
    assert json.loads((image_cache_dir(hard) / "layers.json").read_text())["derived_from"] == base.manifest_digest

    layers = extract(hard, tmp_path / "fresh")
    explicit = {"/etc", "/ro"}
    assert _tree(derived.root, explicit) == _tree(tmp_path / "fresh", explicit)
    assert json.loads((image_cache_dir(hard) / "layers.json").read_text())["layers"] == layers
    assert derived.read_bytes("/a/link1") == b"data" and not derived.exists("/z/target")
    assert derived.layer_of("/etc/new") == hard.layers[-1].diff_id
    assert derived.layer_of("/app/main.py") == hard.layers[1].diff_id


def test_not_derived_without_the_base_extraction(tmp_path: Path) -> None:
    layout = write_oci(tmp_path / "base", [[file("a", "1"), file("b", "2")]])
    base = open_image(f"oci:{layout}:latest")
    write_image(base, f"oci:{tmp_path / 'out'}:h", drop_paths=["/b"])
    hard = open_image(f"oci:{tmp_path / 'out'}:h")
    assert derive_rootfs(base, hard, drop_paths=["/b"]) is None  # base never extracted: nothing to derive from
    assert [i.path for i in hard.rootfs().walk("/")] == ["/a"]
