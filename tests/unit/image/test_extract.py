"""Layer semantics of the safe extraction: whiteouts, opaque dirs, hardlinks, symlinks, compressions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.fixtures.synth import (
    Entry,
    compress,
    device,
    dir,
    fifo,
    file,
    hardlink,
    layer_tar,
    opaque,
    symlink,
    whiteout,
    write_oci,
)

from honed.image import open_image
from honed.image.extract import extract


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))


def _open(tmp_path: Path, layers, **kw):  # type: ignore[no-untyped-def]
    layout = write_oci(tmp_path / "img", layers, **kw)
    return open_image(f"oci:{layout}:latest")


def test_whiteout_removes_lower_file_and_dir(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [
            [dir("etc"), file("etc/a", "a"), file("etc/b", "b"), dir("var/lib/x"), file("var/lib/x/f", "f")],
            [whiteout("etc/a"), whiteout("var/lib/x")],
        ],
    )
    fs = img.rootfs()
    assert not fs.exists("/etc/a")
    assert fs.read_bytes("/etc/b") == b"b"
    assert not fs.exists("/var/lib/x") and not fs.exists("/var/lib/x/f")
    assert fs.exists("/var/lib")
    assert fs.layer_of("/etc/b") == img.layers[0].diff_id
    assert fs.layer_of("/etc/a") is None and fs.layer_of("/var/lib/x/f") is None
    # whiteout markers never appear in the result
    assert not any(".wh." in i.path for i in fs.walk("/"))


def test_whiteout_then_recreate_in_same_layer(tmp_path: Path) -> None:
    img = _open(tmp_path, [[file("d/x", "old"), file("d/y", "y")], [whiteout("d"), file("d/x", "new")]])
    fs = img.rootfs()
    assert fs.read_bytes("/d/x") == b"new"
    assert not fs.exists("/d/y")
    assert fs.layer_of("/d/x") == img.layers[1].diff_id


def test_opaque_dir_hides_lower_content_only(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [
            [dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/deep", "2"), file("keep", "k")],
            # the entry written before the marker in the same layer must survive it
            [dir("d"), file("d/new", "3"), opaque("d")],
        ],
    )
    fs = img.rootfs()
    assert fs.listdir("/d") == ["new"]
    assert fs.read_bytes("/keep") == b"k"
    assert fs.layer_of("/d/new") == img.layers[1].diff_id


def test_hardlinks_kept_as_links_also_across_layers(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [
            [file("bin/a", "payload", mode=0o755), hardlink("bin/b", "bin/a")],
            [hardlink("bin/c", "bin/a")],
        ],
    )
    fs = img.rootfs()
    a, b, c = (fs.lstat(p) for p in ("/bin/a", "/bin/b", "/bin/c"))
    assert a and b and c
    assert a.inode == b.inode == c.inode and a.nlink == 3
    assert a.mode == 0o755
    assert fs.read_bytes("/bin/c") == b"payload"


def test_symlink_chain_resolves_inside_root(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [
            [
                file("usr/bin/python3.11", "py"),
                symlink("usr/bin/python3", "python3.11"),
                symlink("usr/local/bin/python", "/usr/bin/python3"),
                symlink("etc/alternatives/py", "../../usr/local/bin/python"),
                symlink("escape", "../../../../../usr/bin/python3"),
                symlink("loop1", "loop2"),
                symlink("loop2", "loop1"),
            ]
        ],
    )
    fs = img.rootfs()
    assert fs.readlink("/usr/local/bin/python") == "/usr/bin/python3"  # targets kept verbatim
    assert fs.resolve("/etc/alternatives/py") == "/usr/bin/python3.11"
    assert fs.resolve("/escape") == "/usr/bin/python3.11"  # `..` stops at the image root
    assert fs.read_bytes("/etc/alternatives/py") == b"py"
    with pytest.raises(FileNotFoundError):
        fs.open("/loop1")


def test_later_layer_replaces_symlink_without_following_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    img = _open(tmp_path, [[symlink("f", str(outside))], [file("f", "image file")]])
    fs = img.rootfs()
    assert fs.lstat("/f").kind == "file"
    assert fs.read_bytes("/f") == b"image file"
    assert outside.read_text() == "host file"


def test_file_replaced_by_dir_and_dir_by_file(tmp_path: Path) -> None:
    img = _open(tmp_path, [[file("a", "x"), dir("b"), file("b/c", "c")], [dir("a"), file("a/in", "i"), file("b", "f")]])
    fs = img.rootfs()
    assert fs.read_bytes("/a/in") == b"i"
    assert fs.lstat("/b").kind == "file"


@pytest.mark.parametrize("how", ["gzip", "zstd", "none"])
def test_compressions_sniffed(tmp_path: Path, how: str) -> None:
    img = _open(tmp_path, [[file("x", "content " * 1000)]], compression=how)
    assert img.rootfs().read_bytes("/x") == b"content " * 1000


def test_media_type_lies_magic_bytes_win(tmp_path: Path) -> None:
    # A zstd blob labelled gzip, and a plain tar labelled gzip: the bytes decide.
    def relabel(m):  # type: ignore[no-untyped-def]
        for d in m["layers"]:
            d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"

    img = _open(tmp_path, [[file("x", "z")]], compression="zstd", mutate_manifest=relabel)
    assert img.rootfs().read_bytes("/x") == b"z"


def test_multi_member_gzip(tmp_path: Path) -> None:
    tar = layer_tar([file("x", "1" * 5000), file("y", "2")])
    blob = compress(tar[:2048]) + compress(tar[2048:])
    img = _open(tmp_path, [blob])
    assert img.rootfs().read_bytes("/y") == b"2"


def test_metadata_modes_owner_mtime(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [[dir("srv", mode=0o555), file("srv/s", "x", mode=0o4755), file("home/u/f", "x", uid=1000, gid=1000)]],
    )
    fs = img.rootfs()
    s = os.lstat(fs.host_path("/srv/s"))
    assert s.st_mode & 0o7777 == 0o4755
    assert int(s.st_mtime) == 1_700_000_000
    assert fs.lstat("/srv").mode == 0o555
    if os.geteuid() == 0:
        assert os.lstat(fs.host_path("/home/u/f")).st_uid == 1000


def test_devices_skipped_and_recorded_fifo_kept(tmp_path: Path) -> None:
    import json

    img = _open(tmp_path, [[dir("dev"), device("dev/null"), device("dev/sda", "block"), fifo("run/p"), file("ok", "1")]])
    fs = img.rootfs()
    assert not fs.exists("/dev/null") and not fs.exists("/dev/sda")
    assert fs.read_bytes("/ok") == b"1"
    assert fs.lstat("/run/p").kind == "other"
    doc = json.loads((fs.root.parent / "layers.json").read_text())
    assert sorted(s["path"] for s in doc["skipped"]) == ["/dev/null", "/dev/sda"]


def test_rootfs_cached_by_manifest_digest(tmp_path: Path) -> None:
    img = _open(tmp_path, [[file("x", "1")]])
    fs1 = img.rootfs()
    marker = fs1.host_path("/x").stat().st_ino
    fs2 = open_image(img.ref).rootfs()
    assert fs2.root == fs1.root
    assert fs2.host_path("/x").stat().st_ino == marker  # not extracted again
    assert fs2.layer_of("/x") == img.layers[0].diff_id
    assert fs1.root.parent.name == img.manifest_digest.split(":")[1]
    # no temp dirs left behind
    assert [p.name for p in fs1.root.parent.parent.iterdir()] == [fs1.root.parent.name]


def test_extract_fresh_returns_layer_map(tmp_path: Path) -> None:
    img = _open(tmp_path, [[file("a/b", "1")], [file("a/c", "2")]])
    m = extract(img, tmp_path / "out")
    assert m["/a/b"] == img.layers[0].diff_id and m["/a/c"] == img.layers[1].diff_id
    assert (tmp_path / "out/a/c").read_text() == "2"


def test_read_files_follows_symlink_and_whiteouts(tmp_path: Path) -> None:
    img = _open(
        tmp_path,
        [
            [file("usr/lib/os-release", "ID=debian\n"), symlink("etc/os-release", "../usr/lib/os-release"),
             file("etc/gone", "x")],
            [whiteout("etc/gone"), Entry("etc/motd", data=b"hi")],
        ],
    )
    got = img.read_files(("/etc/os-release", "/etc/gone", "/etc/motd", "/nope"))
    assert got == {"/etc/os-release": b"ID=debian\n", "/etc/motd": b"hi"}


def test_symlink_to_host_path_never_reads_the_host(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("host only")
    img = _open(tmp_path, [[symlink("leak", str(secret)), symlink("dirleak", str(tmp_path))]])
    fs = img.rootfs()
    assert fs.readlink("/leak") == str(secret)  # kept verbatim
    assert not fs.exists("/leak") and not fs.exists("/dirleak/host-secret")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes("/leak")
    assert fs.listdir("/dirleak") == []
    assert fs.resolve("/dirleak/host-secret") == str(tmp_path) + "/host-secret"  # an image path, under its root


def test_whiteout_does_not_hide_its_own_layer(tmp_path: Path) -> None:
    # OCI: "files that are present in the same layer as a whiteout file can only be hidden by whiteout files in
    # subsequent layers" — whatever their order in the tar
    img = _open(tmp_path, [[file("a", "lower"), file("b", "lower")], [file("a", "same layer"), whiteout("a"),
                                                                        whiteout("b")]])
    fs = img.rootfs()
    assert fs.read_bytes("/a") == b"same layer"
    assert not fs.exists("/b")
    assert img.read_files(("/a", "/b")) == {"/a": b"same layer"}


def test_stale_temp_dirs_of_killed_runs_are_swept(tmp_path: Path) -> None:
    img = _open(tmp_path, [[file("x", "1")]])
    rootfs_dir = tmp_path / "cache" / "images" / "rootfs"
    rootfs_dir.mkdir(parents=True)
    old = rootfs_dir / ".deadbeef.abc.tmp"
    (old / "root").mkdir(parents=True)
    fresh = rootfs_dir / ".cafe.def.tmp"
    fresh.mkdir()
    os.utime(old, (0, 0))
    img.rootfs()
    assert not old.exists()
    assert fresh.exists()  # may belong to a run still going
