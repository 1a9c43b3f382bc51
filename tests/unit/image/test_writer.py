"""The image writer on synthetic images: reuse, dropping, determinism, hardlinks, squash, atomicity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.fixtures.synth import dir, file, hardlink, opaque, symlink, whiteout, write_oci

from honed.errors import DestinationExistsError
from honed.image import open_image
from honed.image.writer import write_image


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONED_CACHE", str(tmp_path / "cache"))


def _base(tmp_path: Path):  # type: ignore[no-untyped-def]
    layout = write_oci(
        tmp_path / "base",
        [
            [dir("usr/share/doc"), file("usr/share/doc/a/README", "doc" * 100), file("usr/bin/tool", "elf", mode=0o755),
             dir("etc"), file("etc/keep", "k"), symlink("bin", "usr/bin")],
            [file("app/main.py", "print(1)"), file("usr/share/doc/b/README", "more docs")],
            [file("etc/extra", "x")],
        ],
        config={"Labels": {"org.example": "base"}},
    )
    return open_image(f"oci:{layout}:latest")


def test_no_change_same_digest_and_blobs(tmp_path: Path) -> None:
    base = _base(tmp_path)
    ref = write_image(base, f"oci:{tmp_path / 'out'}:latest")
    assert ref.digest == base.manifest_digest
    again = open_image(f"oci:{tmp_path / 'out'}:latest")
    assert again.manifest_digest == base.manifest_digest
    assert [lyr.digest for lyr in again.layers] == [lyr.digest for lyr in base.layers]


def test_drop_rewrites_only_layers_that_have_the_path(tmp_path: Path) -> None:
    base = _base(tmp_path)
    ref = write_image(base, f"oci:{tmp_path / 'out'}:hard", drop_paths=["/usr/share/doc"], history="honed test")
    out = open_image(f"oci:{tmp_path / 'out'}:hard")
    assert out.manifest_digest == ref.digest != base.manifest_digest
    assert out.layers[0].digest != base.layers[0].digest
    assert out.layers[1].digest != base.layers[1].digest
    assert out.layers[2].digest == base.layers[2].digest  # untouched: same blob
    assert out.layers[0].size < base.layers[0].size
    fs = out.rootfs()
    assert not fs.exists("/usr/share/doc")
    tool = fs.lstat("/usr/bin/tool")
    assert fs.read_bytes("/usr/bin/tool") == b"elf" and tool is not None and tool.mode == 0o755
    assert fs.readlink("/bin") == "usr/bin"
    assert fs.read_bytes("/app/main.py") == b"print(1)"
    assert out.config["history"][-1]["created_by"] == "honed test"
    assert out.image_config["Labels"] == {"org.example": "base"}
    # layer metadata survives the re-tar: mtime kept
    assert int(os.lstat(fs.host_path("/etc/keep")).st_mtime) == 1_700_000_000


def test_deterministic_rewrite(tmp_path: Path) -> None:
    base = _base(tmp_path)
    kw = dict(drop_paths=["/usr/share/doc/a"], replace_files={"/etc/motd": b"hi\n"}, labels={"hardened": "yes"})
    a = write_image(base, f"oci:{tmp_path / 'a'}:t", **kw)  # type: ignore[arg-type]
    b = write_image(base, f"oci-archive:{tmp_path / 'b.tar'}:t", **kw)  # type: ignore[arg-type]
    assert a.digest == b.digest
    assert open_image(f"oci-archive:{tmp_path / 'b.tar'}:t").manifest_digest == a.digest
    # the archive itself is byte-for-byte reproducible
    write_image(base, f"oci-archive:{tmp_path / 'c.tar'}:t", **kw)  # type: ignore[arg-type]
    assert (tmp_path / "b.tar").read_bytes() == (tmp_path / "c.tar").read_bytes()


def test_replace_files_and_labels(tmp_path: Path) -> None:
    base = _base(tmp_path)
    write_image(base, f"oci:{tmp_path / 'out'}:x", replace_files={"/etc/keep": b"new", "/var/lib/new/f": b"n"},
                labels={"org.example": None, "hardened": "1"}, annotations={"org.opencontainers.image.title": "t"})
    out = open_image(f"oci:{tmp_path / 'out'}:x")
    assert len(out.layers) == len(base.layers) + 1
    assert [lyr.digest for lyr in out.layers[:3]] == [lyr.digest for lyr in base.layers]
    fs = out.rootfs()
    assert fs.read_bytes("/etc/keep") == b"new"
    assert fs.read_bytes("/var/lib/new/f") == b"n"
    assert fs.layer_of("/etc/keep") == out.layers[-1].diff_id
    assert out.image_config["Labels"] == {"hardened": "1"}
    assert out.manifest["annotations"] == {"org.opencontainers.image.title": "t"}
    assert len(out.config["history"]) == len(base.config["history"]) + 1
    idx = json.loads((tmp_path / "out" / "index.json").read_text())
    assert idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "x"


def test_hardlinks_regrouped_when_target_dropped_or_sorted_after(tmp_path: Path) -> None:
    layout = write_oci(
        tmp_path / "base",
        [[file("z/target", "data", mode=0o750), hardlink("a/link1", "z/target"), hardlink("m/link2", "z/target"),
          file("drop/me", "x"), file("q/t2", "two"), hardlink("b/l2", "q/t2")]],
    )
    base = open_image(f"oci:{layout}")
    write_image(base, f"oci:{tmp_path / 'o1'}:t", drop_paths=["/drop"])
    fs = open_image(f"oci:{tmp_path / 'o1'}:t").rootfs()
    infos = [fs.lstat(p) for p in ("/a/link1", "/m/link2", "/z/target")]
    assert all(i is not None for i in infos)
    assert len({i.inode for i in infos}) == 1 and infos[0].nlink == 3 and infos[0].mode == 0o750  # type: ignore[union-attr]
    assert fs.read_bytes("/m/link2") == b"data"
    assert fs.lstat("/b/l2").inode == fs.lstat("/q/t2").inode  # type: ignore[union-attr]
    # dropping the target keeps the links' data
    write_image(base, f"oci:{tmp_path / 'o2'}:t", drop_paths=["/z"])
    fs2 = open_image(f"oci:{tmp_path / 'o2'}:t").rootfs()
    assert not fs2.exists("/z/target")
    assert fs2.read_bytes("/a/link1") == b"data" and fs2.read_bytes("/m/link2") == b"data"
    assert fs2.lstat("/a/link1").inode == fs2.lstat("/m/link2").inode  # type: ignore[union-attr]


def test_squash_applies_whiteouts(tmp_path: Path) -> None:
    layout = write_oci(
        tmp_path / "base",
        [[file("a/x", "1"), file("a/y", "2"), file("d/old", "o"), file("big", "b" * 1000)],
         [whiteout("a/x"), opaque("d"), file("d/new", "n"), file("c", "3")]],
    )
    base = open_image(f"oci:{layout}")
    write_image(base, f"oci:{tmp_path / 'sq'}:t", squash=True, drop_paths=["/big"])
    out = open_image(f"oci:{tmp_path / 'sq'}:t")
    assert len(out.layers) == 1 and len(out.config["rootfs"]["diff_ids"]) == 1
    fs = out.rootfs()
    assert sorted(i.path for i in fs.walk("/")) == ["/a", "/a/y", "/c", "/d", "/d/new"]


def test_add_tag_to_existing_layout_keeps_other_tags(tmp_path: Path) -> None:
    base = _base(tmp_path)
    dest = tmp_path / "out"
    write_image(base, f"oci:{dest}:one")
    write_image(base, f"oci:{dest}:two", labels={"l": "2"})
    write_image(base, f"oci:{dest}:two", labels={"l": "3"})  # retag replaces the old entry
    tags = sorted(d["annotations"]["org.opencontainers.image.ref.name"]
                  for d in json.loads((dest / "index.json").read_text())["manifests"])
    assert tags == ["one", "two"]
    assert open_image(f"oci:{dest}:two").image_config["Labels"]["l"] == "3"
    assert open_image(f"oci:{dest}:one").manifest_digest == base.manifest_digest


def test_existing_archive_refused_and_failed_write_leaves_nothing(tmp_path: Path) -> None:
    base = _base(tmp_path)
    (tmp_path / "exists.tar").write_bytes(b"x")
    with pytest.raises(DestinationExistsError):
        write_image(base, f"oci-archive:{tmp_path / 'exists.tar'}")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(FileNotFoundError):  # fails midway: after layers were rewritten
        write_image(base, f"oci:{tmp_path / 'new'}:t", drop_paths=["/etc/extra"],
                    replace_files={"/etc/x": tmp_path / "does-not-exist"})
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no half layout, no temp dir


def test_destination_in_an_unwritable_place_is_a_user_error(tmp_path: Path) -> None:
    # `harden -o oci:/proc/nope:x` was an internal error (exit 5, raw FileNotFoundError from mkdtemp)
    from honed.errors import OutputError

    base = _base(tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="cannot write") as e:
        write_image(base, f"oci:{tmp_path / 'afile' / 'sub' / 'layout'}:t", drop_paths=["/etc/extra"])
    assert e.value.exit_code == 3


def test_input_not_modified(tmp_path: Path) -> None:
    from tests.fixtures.synth import snapshot

    base = _base(tmp_path)
    before = snapshot(tmp_path / "base")
    write_image(base, f"oci:{tmp_path / 'o'}:t", drop_paths=["/usr"], replace_files={"/etc/keep": b"z"})
    assert snapshot(tmp_path / "base") == before


def test_returned_ref_opens_to_the_written_image_and_pins_it(tmp_path: Path) -> None:
    import dataclasses

    from honed.errors import ManifestError

    base = _base(tmp_path)
    dest = tmp_path / "out"
    one = write_image(base, f"oci:{dest}:t", labels={"v": "1"})
    other = write_image(base, f"oci:{dest}:u", labels={"v": "2"})
    assert open_image(one).manifest_digest == one.digest
    # without a tag, the digest picks the image out of a layout with several
    untagged = dataclasses.replace(other, tag=None)
    assert open_image(untagged).image_config["Labels"]["v"] == "2"
    write_image(base, f"oci:{dest}:t", labels={"v": "3"})  # the tag moves
    with pytest.raises(ManifestError, match="not the expected"):
        open_image(one)
